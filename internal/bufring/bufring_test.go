package bufring

import (
	"fmt"
	"testing"
)

// TestRingSwap checks how a ring's buffers are handed out: the one
// free longest first; a buffer too small for a body swapped for the
// smallest free one that fits, which it replaces; and, when none fits, a
// new one of the body's size rounded up to a power of two, the small one
// dropped, so that the ring keeps as many buffers, and counted as made.
func TestRingSwap(t *testing.T) {
	fill := func(caps ...int) *Ring {
		w := &Ring{ring: make([][]byte, len(caps)+1)} // none free yet
		for _, c := range caps {
			w.Put(make([]byte, 0, c))
		}
		return w
	}
	drain := func(w *Ring) []int {
		var out []int
		for {
			b, ok := w.Get()
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
		wantMade int64
	}{
		{"the smallest that fits", []int{100, 200, 130, 1000}, 10, 120, 130, []int{100, 200, 10, 1000}, 0},
		{"none fits: a power of two", []int{5, 100}, 50, 5000, 8192, []int{5, 100}, 1},
		{"none fits: at least 4 KiB", []int{5, 100}, 50, 120, 4096, []int{5, 100}, 1},
		{"no free buffer", nil, 50, 8192, 8192, nil, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := fill(tc.free...)
			b := w.Swap(tc.n, make([]byte, 7, tc.have))
			if cap(b) != tc.wantCap || len(b) != 0 {
				t.Errorf("swap(%d) = a buffer of len %d, cap %d, want empty of cap %d", tc.n, len(b), cap(b), tc.wantCap)
			}
			if got := drain(w); fmt.Sprint(got) != fmt.Sprint(tc.wantFree) {
				t.Errorf("free buffers %v after the swap, want %v", got, tc.wantFree)
			}
			if got := w.Made(); got != tc.wantMade {
				t.Errorf("Made() = %d after the swap, want %d", got, tc.wantMade)
			}
		})
	}
	w := fill(5, 300, 20)
	b, _ := w.Get()
	w.Put(b)
	if got := drain(w); fmt.Sprint(got) != "[300 20 5]" {
		t.Errorf("buffers taken by capacity %v, want in the order given back, [300 20 5]", got)
	}
}

// TestRingPutTooMany checks that a buffer given back to a ring with every
// buffer free panics, rather than overwrite a free one.
func TestRingPutTooMany(t *testing.T) {
	r := New(2)
	b, _ := r.Get()
	r.Put(b)
	defer func() {
		if recover() == nil {
			t.Error("Put to a full ring did not panic")
		}
	}()
	r.Put(make([]byte, 0, 8))
}
