package controller

import (
	"testing"
	"time"
)

func TestJitter(t *testing.T) {
	for range 1000 {
		if d := Jitter(10*time.Minute, 0.2); d < 8*time.Minute || d >= 12*time.Minute {
			t.Fatalf("Jitter(10m, 0.2) = %v", d)
		}
	}
}
