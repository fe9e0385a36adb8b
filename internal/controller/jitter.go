package controller

import (
	"math/rand/v2"
	"time"
)

// Jitter spreads d uniformly over [d-fraction*d, d+fraction*d), so that objects
// created together do not resync together.
func Jitter(d time.Duration, fraction float64) time.Duration {
	return time.Duration(float64(d) * (1 + fraction*(2*rand.Float64()-1)))
}
