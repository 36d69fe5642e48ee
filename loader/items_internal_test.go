package loader

import (
	"testing"
	"time"
)

// TestRunLength checks the rule that decides how many items a fetcher of
// the item scheduler claims at once: one until a read is seen and on a
// store whose reads take runBudget or longer, runBudget's worth of reads
// at their mean on a fast one, never more than maxRun.
func TestRunLength(t *testing.T) {
	for _, tc := range []struct {
		name   string
		reads  []time.Duration
		maxRun int
		want   int
	}{
		{"nothing read", nil, 50, 1},
		{"20ms reads", []time.Duration{20 * time.Millisecond}, 50, 1},
		{"reads of the budget", []time.Duration{runBudget}, 50, 1},
		{"10us reads", []time.Duration{10 * time.Microsecond}, 50, 10},
		{"1us reads, capped", []time.Duration{time.Microsecond}, 50, 50},
		{"window share", []time.Duration{time.Microsecond}, 3, 3},
		{"slow store after a fast read", append([]time.Duration{time.Microsecond}, repeat(5*time.Millisecond, 100)...), 50, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &itemSched{maxRun: tc.maxRun}
			for _, d := range tc.reads {
				s.observeRead(d, 1000, true)
			}
			if got := s.runLength(); got != tc.want {
				t.Errorf("run of %d items, want %d", got, tc.want)
			}
		})
	}
}

func repeat(d time.Duration, n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = d
	}
	return out
}
