package bufring

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// fill returns a ring whose free buffers are of the capacities caps, given
// back in that order, and one more buffer taken.
func fill(caps ...int) *Ring {
	w := &Ring{total: len(caps) + 1} // none free yet
	for _, c := range caps {
		w.Put(make([]byte, 0, c))
	}
	return w
}

// drain takes every free buffer of w and returns their capacities in the
// order Get took them.
func drain(t *testing.T, w *Ring) []int {
	t.Helper()
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

// TestRingSwap checks how a ring's buffers are handed out: by Get, the
// one free longest of the smallest class; by Swap, for a body too large
// for the buffer a read has, the one free longest of the smallest class
// whose every buffer fits, among all free buffers, the small one taking
// its place among the free; and, when none fits, a new one of the body's
// size rounded up to a power of two, the small one dropped, so that the
// ring keeps as many buffers, and counted as made.
func TestRingSwap(t *testing.T) {
	for _, tc := range []struct {
		name     string
		free     []int
		have     int
		n        int
		wantCap  int
		wantFree []int // in the order Get takes them
		wantMade int64
	}{
		{"the smallest class that fits", []int{100, 200, 130, 1000}, 10, 120, 200, []int{10, 100, 130, 1000}, 0},
		{"a class not every buffer of which fits is passed over", []int{127, 1000}, 10, 120, 1000, []int{10, 127}, 0},
		{"found beyond the first few free", append(make([]int, 200), 4096), 8, 3000, 4096, append(make([]int, 200), 8), 0},
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
			if got := drain(t, w); fmt.Sprint(got) != fmt.Sprint(tc.wantFree) {
				t.Errorf("free buffers %v after the swap, want %v", got, tc.wantFree)
			}
			if got := w.Made(); got != tc.wantMade {
				t.Errorf("Made() = %d after the swap, want %d", got, tc.wantMade)
			}
		})
	}
}

// TestRingGet checks the order Get hands buffers out in: a new ring's
// empty ones, then by class, smallest first, and within a class in the
// order they were given back.
func TestRingGet(t *testing.T) {
	if got := drain(t, New(3)); fmt.Sprint(got) != "[0 0 0]" {
		t.Errorf("a new ring of 3 hands out %v, want three empty buffers", got)
	}
	w := fill(300, 20, 5, 400, 260)
	b, _ := w.Get()
	w.Put(b)
	if got := drain(t, w); fmt.Sprint(got) != "[5 20 300 400 260]" {
		t.Errorf("buffers taken by capacity %v, want by class, each in the order given back: [5 20 300 400 260]", got)
	}
}

// TestRingSettles checks that a window of thousands of buffers, holding
// most of them at once as a loader's window does, settles at the sizes
// its bodies need: over 400,000 reads of ImageNet-like sizes (log-normal,
// median 105 KB, a few up to 1 MiB), the last half makes almost no buffer
// (21 here; swapped only for one of the first 64 free, 93),
// and the buffers take about what the bodies held at once need, far from
// a buffer of the largest size each.
func TestRingSettles(t *testing.T) {
	const (
		window = 4800
		free   = 100 // buffers not held at any time
		reads  = 400_000
	)
	rng := rand.New(rand.NewPCG(1, 2))
	size := func() int {
		return int(min(1<<20, max(8<<10, 105_000*math.Exp(0.55*rng.NormFloat64()))))
	}
	w := New(window)
	held := make([][]byte, window-free) // a ring: the oldest at i mod its length
	var madeHalf int64
	for i := range reads {
		if i == reads/2 {
			madeHalf = w.Made()
		}
		b, ok := w.Get()
		if !ok {
			t.Fatalf("read %d: no free buffer with %d held of %d", i, len(held)-1, window)
		}
		if n := size(); cap(b) < n+1 {
			b = w.Swap(n+1, b)
		}
		j := i % len(held)
		if i >= len(held) {
			w.Put(held[j])
		}
		held[j] = b
	}
	late := w.Made() - madeHalf
	if late > reads/2/5_000 {
		t.Errorf("%d buffers made over the last %d reads, want at most one every 5,000", late, reads/2)
	}
	var total int
	for _, b := range held {
		total += cap(b)
	}
	for b, ok := w.Get(); ok; b, ok = w.Get() {
		total += cap(b)
	}
	// The held bodies' buffers, each at most twice its body, are about
	// 2 x 122 KB on average; a buffer of 1 MiB each would be 4,800 MiB.
	if limit := window * 300 << 10; total > limit {
		t.Errorf("the ring's %d buffers take %d MiB, want at most %d MiB", window, total>>20, limit>>20)
	}
	t.Logf("%d buffers made in all, %d over the last %d reads; %d MiB in all", w.Made(), late, reads/2, total>>20)
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
