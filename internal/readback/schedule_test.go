package readback

import (
	"testing"
	"time"
)

func TestInterval(t *testing.T) {
	const day = 24 * time.Hour
	tests := []struct {
		name               string
		state              string
		age, sinceChange   time.Duration
		longest, wantEvery time.Duration
		wantHot            bool
	}{
		{"entitled, just made", "entitled", time.Minute, time.Minute, day, 20 * time.Second, true},
		{"entitled, half an hour old", "entitled", 30 * time.Minute, 30 * time.Minute, day, time.Minute, true},
		{"entitled, three hours old", "entitled", 3 * time.Hour, time.Hour, day, 5 * time.Minute, true},
		{"entitled, twelve hours old", "entitled", 12 * time.Hour, time.Hour, day, 20 * time.Minute, true},
		{"entitled, three days old", "entitled", 3 * day, day, day, 4 * time.Hour, false},
		{"entitled, two weeks old", "entitled", 14 * day, day, day, 12 * time.Hour, false},
		{"entitled, two months old", "entitled", 60 * day, day, day, day, false},
		{"provisioned a minute ago", "provisioned", 10 * time.Minute, time.Minute, day, day, false},
		{"provisioned this morning", "provisioned", 10 * time.Hour, 5 * time.Hour, day, day, false},
		{"provisioned long ago", "provisioned", 90 * day, 80 * day, day, day, false},
		{"suspended long ago", "suspended", 90 * day, 10 * day, day, day, false},
		{"no account read yet", "", 0, 0, day, day, false},
		{"--resync-period caps the schedule", "provisioned", 90 * day, 80 * day, time.Hour, time.Hour, false},
		{"--resync-period caps even a young account", "entitled", time.Minute, time.Minute, 5 * time.Second, 5 * time.Second, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			every, hot := Interval(tt.state, tt.age, tt.sinceChange, tt.longest)
			if every != tt.wantEvery || hot != tt.wantHot {
				t.Errorf("Interval = %v, hot %v; want %v, hot %v", every, hot, tt.wantEvery, tt.wantHot)
			}
		})
	}
	// Younger is never read less often.
	last := time.Duration(0)
	for age := time.Duration(0); age < 40*day; age += 7 * time.Minute {
		every, _ := Interval("entitled", age, age, day)
		if every < last {
			t.Fatalf("at age %v the interval %v is shorter than at a younger age (%v)", age, every, last)
		}
		last = every
	}
}
