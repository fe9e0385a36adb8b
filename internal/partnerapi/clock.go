package partnerapi

import (
	"net/http"
	"sync"
	"time"
)

// dateResolution is the resolution of the Date header: whole seconds, cut down.
const dateResolution = time.Second

// serverClock estimates the API's clock from the Date header of its answers
// (RFC 9110, section 6.6.1), so that its created_at times can be compared with the
// operator's own records on the API's clock, within seconds, whatever the two
// machines' clocks say.
type serverClock struct {
	mu     sync.Mutex
	known  bool
	offset time.Duration // API time minus local time
}

// observe learns the offset from a Date header received at local time at. The
// header is cut to the second, so the server's time then lay in [date, date+1s):
// the middle is taken.
func (c *serverClock) observe(date string, at time.Time) {
	if date == "" {
		return
	}
	t, err := http.ParseTime(date)
	if err != nil {
		return
	}
	c.mu.Lock()
	c.offset = t.Add(dateResolution / 2).Sub(at)
	c.known = true
	c.mu.Unlock()
}

// now returns the current time on the API's clock and true, or the local time and
// false while no Date header has been seen.
func (c *serverClock) now() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.known {
		return time.Now(), false
	}
	return time.Now().Add(c.offset), true
}
