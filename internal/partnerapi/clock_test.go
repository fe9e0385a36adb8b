package partnerapi

import (
	"errors"
	"net/http"
	"testing"
	"time"
)

// TestNowFollowsTheAPIsDateHeader checks that the client reads the API's clock
// from the Date header, within its one-second resolution, and says when it has
// none.
func TestNowFollowsTheAPIsDateHeader(t *testing.T) {
	srv := newScripted(t)
	c := newTestClient(t, srv.apiURL())
	if _, fromAPI := c.Now(); fromAPI {
		t.Fatal("a new client claims to know the API's clock")
	}
	const skew = -3 * time.Minute
	srv.set(func(w http.ResponseWriter, r *http.Request, rec recorded) {
		w.Header().Set("Date", time.Now().Add(skew).UTC().Format(http.TimeFormat))
		answer(http.StatusNotFound, []byte(`{"status":404,"message":"Not found.","code":"not_found"}`))(w, r, rec)
	})
	if _, err := c.Get(testCtx(t), "acct-1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v (%s)", err, kindOf(err))
	}
	now, fromAPI := c.Now()
	if !fromAPI {
		t.Fatal("the Date header was not read")
	}
	if d := now.Sub(time.Now().Add(skew)); d < -time.Second || d > time.Second {
		t.Errorf("API clock = local %v, want local %v within a second", time.Until(now), skew)
	}
	if c.Timeout() != DefaultTimeout {
		t.Errorf("Timeout = %v, want %v", c.Timeout(), DefaultTimeout)
	}
}

func TestServerClockIgnoresBadDates(t *testing.T) {
	var c serverClock
	c.observe("", time.Now())
	c.observe("yesterday", time.Now())
	if _, known := c.now(); known {
		t.Error("an empty or unparsable Date header set the clock")
	}
	at := time.Date(2050, 1, 1, 0, 0, 0, 0, time.UTC)
	c.observe("Sat, 01 Jan 2050 00:01:00 GMT", at)
	if c.offset != time.Minute+dateResolution/2 {
		t.Errorf("offset = %v, want 1m0.5s", c.offset)
	}
}
