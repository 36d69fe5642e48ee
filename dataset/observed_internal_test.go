package dataset

import (
	"testing"
	"time"
)

// TestObservedDeadlines checks the deadlines that follow a store: the
// ceilings until observedMin reads, then the multiple of the p99 within
// the floor and the ceilings, doubled for each earlier attempt, and the
// ceilings alone with a negative multiple or none.
func TestObservedDeadlines(t *testing.T) {
	def, err := Policy{}.Resolved()
	if err != nil {
		t.Fatal(err)
	}
	low := def
	low.DeadlineFloor = time.Millisecond
	fixed := def
	fixed.DeadlineMultiple = -1
	none := low
	none.FirstByteTimeout, none.IdleTimeout = -1, -1
	ms := time.Millisecond
	for _, tc := range []struct {
		name                string
		p                   Policy
		reads               int
		first, gap          time.Duration // what each read took
		k                   int
		wantFirst, wantIdle time.Duration
	}{
		{"unobserved", low, observedMin - 1, 10 * ms, 2 * ms, 0, 10 * time.Second, 5 * time.Second},
		{"observed", low, observedMin, 10 * ms, 2 * ms, 0, 40 * ms, 8 * ms},
		{"second attempt", low, observedMin, 10 * ms, 2 * ms, 1, 80 * ms, 16 * ms},
		{"fourth attempt", low, observedMin, 10 * ms, 2 * ms, 3, 320 * ms, 64 * ms},
		{"floor", def, observedMin, 10 * ms, 2 * ms, 0, time.Second, time.Second},
		{"ceiling", low, observedMin, 4 * time.Second, 2 * time.Second, 0, 10 * time.Second, 5 * time.Second},
		{"doubled to the ceiling", low, observedMin, 10 * ms, 2 * ms, 20, 10 * time.Second, 5 * time.Second},
		{"no gaps", low, observedMin, 10 * ms, 0, 0, 40 * ms, time.Millisecond},
		{"gaps not measured", low, observedMin, 10 * ms, -1, 0, 40 * ms, 5 * time.Second},
		{"fixed", fixed, observedMin, 10 * ms, 2 * ms, 0, 10 * time.Second, 5 * time.Second},
		{"none", none, observedMin, 10 * ms, 2 * ms, 0, -1, -1},
		{"after a window", low, observedWindow + observedMin, 10 * ms, 2 * ms, 0, 40 * ms, 8 * ms},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := newObserved()
			for range tc.reads {
				o.record(tc.first, tc.gap)
			}
			first, idle := o.deadlines(tc.p, tc.k)
			if !near(first, tc.wantFirst) || !near(idle, tc.wantIdle) {
				t.Errorf("after %d reads of %v, %v: deadlines of attempt %d %v, %v; want %v, %v", tc.reads, tc.first, tc.gap, tc.k, first, idle, tc.wantFirst, tc.wantIdle)
			}
		})
	}
}

// TestObservedFollows checks that the deadlines follow a store that slows
// down and one that speeds up, within a window of reads.
func TestObservedFollows(t *testing.T) {
	p, err := Policy{DeadlineFloor: time.Millisecond}.Resolved()
	if err != nil {
		t.Fatal(err)
	}
	o := newObserved()
	for _, phase := range []struct {
		first time.Duration
		want  time.Duration
	}{
		{10 * time.Millisecond, 40 * time.Millisecond},
		{100 * time.Millisecond, 400 * time.Millisecond},
		{5 * time.Millisecond, 20 * time.Millisecond},
	} {
		for range 2 * observedWindow {
			o.record(phase.first, 0)
		}
		if got, _ := o.deadlines(p, 0); !near(got, phase.want) {
			t.Errorf("after %d reads of %v: first-byte deadline %v, want %v", 2*observedWindow, phase.first, got, phase.want)
		}
	}
}

// near reports whether got is want, or up to 1% above it: the histogram
// keeps two significant digits, and gives a bucket's highest value.
func near(got, want time.Duration) bool {
	return got == want || got > want && float64(got) <= 1.01*float64(want)
}
