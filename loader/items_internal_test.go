package loader

import (
	"fmt"
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

// TestWindowSwap checks how the window's buffers are handed out: the one
// free longest first; a buffer too small for a body swapped for the
// smallest free one that fits, which it replaces; and, when none fits, a
// new one of the body's size rounded up to a power of two, the small one
// dropped, so that the window keeps as many buffers.
func TestWindowSwap(t *testing.T) {
	fill := func(caps ...int) *window {
		w := &window{ring: make([][]byte, len(caps)+1)} // none free yet
		for _, c := range caps {
			w.put(make([]byte, 0, c))
		}
		return w
	}
	drain := func(w *window) []int {
		var out []int
		for {
			b, ok := w.get()
			if !ok {
				return out
			}
			if len(b) != 0 {
				t.Errorf("a buffer of length %d, want emptied", len(b))
			}
			out = append(out, cap(b))
		}
	}
	for _, tc := range []struct {
		name     string
		free     []int
		have     int
		n        int
		wantCap  int
		wantFree []int // in the order get takes them
	}{
		{"the smallest that fits", []int{100, 200, 130, 1000}, 10, 120, 130, []int{100, 200, 10, 1000}},
		{"none fits: a power of two", []int{5, 100}, 50, 5000, 8192, []int{5, 100}},
		{"none fits: at least 4 KiB", []int{5, 100}, 50, 120, 4096, []int{5, 100}},
		{"no free buffer", nil, 50, 8192, 8192, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := fill(tc.free...)
			b := w.swap(tc.n, make([]byte, 7, tc.have))
			if cap(b) != tc.wantCap || len(b) != 0 {
				t.Errorf("swap(%d) = a buffer of len %d, cap %d, want empty of cap %d", tc.n, len(b), cap(b), tc.wantCap)
			}
			if got := drain(w); fmt.Sprint(got) != fmt.Sprint(tc.wantFree) {
				t.Errorf("free buffers %v after the swap, want %v", got, tc.wantFree)
			}
		})
	}
	w := fill(5, 300, 20)
	b, _ := w.get()
	w.put(b)
	if got := drain(w); fmt.Sprint(got) != "[300 20 5]" {
		t.Errorf("buffers taken by capacity %v, want in the order given back, [300 20 5]", got)
	}
}
