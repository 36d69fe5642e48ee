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
// size rounded up to a power of two, the smallest free one dropped (an
// empty one first, the small one among them), so that the ring keeps as
// many buffers, and counted as made.
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
		{"found beyond the first few free", append(make([]int, 200), 4096), 8, 3000, 4096, append([]int{8}, make([]int, 200)...), 0},
		{"none fits: a power of two, the smallest free dropped", []int{5, 100}, 50, 5000, 8192, []int{50, 100}, 1},
		{"none fits: at least 4 KiB", []int{5, 100}, 50, 120, 4096, []int{50, 100}, 1},
		{"no free buffer: the small one dropped", nil, 50, 8192, 8192, nil, 1},
		{"none fits: an empty one dropped first", []int{0, 5}, 50, 5000, 8192, []int{5, 50}, 1},
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

// TestRingGet checks the order Get hands buffers out in: by class,
// smallest first, within a class in the order they were given back, and
// empty ones last (a new ring's are all empty).
func TestRingGet(t *testing.T) {
	if got := drain(t, New(3)); fmt.Sprint(got) != "[0 0 0]" {
		t.Errorf("a new ring of 3 hands out %v, want three empty buffers", got)
	}
	w := fill(300, 0, 20, 5, 400, 260)
	b, _ := w.Get()
	w.Put(b)
	if got := drain(t, w); fmt.Sprint(got) != "[5 20 300 400 260 0]" {
		t.Errorf("buffers taken by capacity %v, want by class, each in the order given back, the empty one last: [5 20 300 400 260 0]", got)
	}
}

// TestRingSettles checks that a window of thousands of buffers settles
// at the sizes its bodies need, over 400,000 reads of ImageNet-like sizes
// (log-normal, median 105 KB, a few up to 1 MiB), read as the raw readers
// read (Get and Swap, most buffers free) and as the item scheduler reads
// (every buffer held, a batch of 50 given back at a time, its places
// reserved and their buffers taken once each body's size is known): the
// last half makes almost no buffer (swapped only for one of the first 64
// free, 93 in the first case; with no spare buffers, 147 in the second).
func TestRingSettles(t *testing.T) {
	const (
		window = 4800
		reads  = 400_000
	)
	for _, tc := range []struct {
		name string
		free int // buffers not held, given back one at a time; 0: every buffer held, a batch at a time
	}{
		{"get and swap, 100 free", 100},
		{"reserve and take, batches of 50", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			size := func() int {
				return int(min(1<<20, max(8<<10, 105_000*math.Exp(0.55*rng.NormFloat64())))) + 1
			}
			w := New(window)
			var madeHalf int64
			if tc.free > 0 {
				held := make([][]byte, window-tc.free) // a ring: the oldest at i mod its length
				for i := range reads {
					if i == reads/2 {
						madeHalf = w.Made()
					}
					b, ok := w.Get()
					if !ok {
						t.Fatalf("read %d: no free buffer", i)
					}
					if n := size(); cap(b) < n {
						b = w.Swap(n, b)
					}
					j := i % len(held)
					if i >= len(held) {
						w.Put(held[j])
					}
					held[j] = b
				}
			} else {
				const batch = 50
				held := make([][]byte, window)
				for i := 0; i < reads; i += batch {
					if i == reads/2 {
						madeHalf = w.Made()
					}
					j := i % window
					for k := range batch {
						if i >= window {
							w.Put(held[j+k])
						}
						if !w.Reserve() {
							t.Fatalf("read %d: no place free", i+k)
						}
					}
					for k := range batch {
						held[j+k] = w.Take(size())
					}
				}
			}
			late := w.Made() - madeHalf
			if late > reads/2/5_000 {
				t.Errorf("%d buffers made over the last %d reads, want at most one every 5,000", late, reads/2)
			}
			t.Logf("%d buffers made in all, %d over the last %d reads", w.Made(), late, reads/2)
		})
	}
}

// TestRingReserve checks places reserved: a place reserved is not given
// to Get or another Reserve, while its buffer stays free for a swap to
// choose; Bind takes a buffer for it, Release gives it up; and binding,
// taking or releasing a place never reserved panics.
func TestRingReserve(t *testing.T) {
	w := fill(100, 5000) // and one place taken
	if !w.Reserve() || !w.Reserve() {
		t.Fatal("Reserve refused with two places free")
	}
	if _, ok := w.Get(); ok {
		t.Error("Get took a place reserved")
	}
	if w.Reserve() {
		t.Error("Reserve took a place reserved")
	}
	if b := w.Swap(4000, make([]byte, 0, 10)); cap(b) != 5000 {
		t.Errorf("swap(4000) took a buffer of %d, want the one of 5000 a place reserved still leaves free", cap(b))
	}
	if b := w.Bind(); cap(b) != 10 {
		t.Errorf("Bind took a buffer of %d, want the smallest free, of 10", cap(b))
	}
	w.Release()
	if b, ok := w.Get(); !ok || cap(b) != 100 {
		t.Errorf("Get after Release = a buffer of %d, %v; want the one of 100", cap(b), ok)
	}
	for name, f := range map[string]func(){"Bind": func() { w.Bind() }, "Take": func() { w.Take(10) }, "Release": w.Release} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s with no place reserved did not panic", name)
				}
			}()
			f()
		}()
	}
}

// TestRingSpare checks that a new ring gives out as many places as it
// was made with, while a read chooses among its spare buffers too.
func TestRingSpare(t *testing.T) {
	w := New(2)
	for range 2 {
		if !w.Reserve() {
			t.Fatal("Reserve refused with places free")
		}
	}
	if w.Reserve() {
		t.Fatal("Reserve took a third place of 2")
	}
	a := w.Take(5000)
	w.Put(a)
	if !w.Reserve() {
		t.Fatal("Reserve refused after a Put")
	}
	if b := w.Take(5000); cap(b) != cap(a) {
		t.Errorf("Take(5000) took a buffer of %d, want the free one of %d", cap(b), cap(a))
	}
	if c := w.Take(5000); cap(c) != 8192 || w.Made() != 2 {
		t.Errorf("Take(5000) with none free that fits = a buffer of %d, %d made; want a new one of 8192, 2 made", cap(c), w.Made())
	}
}

// TestRingTake checks the buffer a place reserved takes once its body's
// size is known: the one free longest of the smallest class whose every
// buffer fits, among all free buffers; or else a new one, of the size
// rounded up to a power of two, the smallest free buffer dropped, so that
// the ring keeps as many buffers.
func TestRingTake(t *testing.T) {
	for _, tc := range []struct {
		name     string
		free     []int
		n        int
		wantCap  int
		wantFree []int // in the order Get takes them
		wantMade int64
	}{
		{"the smallest class that fits", []int{1000, 200, 100, 130}, 120, 200, []int{100, 130, 1000}, 0},
		{"none fits: the smallest free dropped", []int{300, 5, 100}, 5000, 8192, []int{100, 300}, 1},
		{"none fits: an empty one dropped first", []int{300, 0, 5}, 5000, 8192, []int{5, 300}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := fill(tc.free...)
			if !w.Reserve() {
				t.Fatal("Reserve refused")
			}
			b := w.Take(tc.n)
			if cap(b) != tc.wantCap || len(b) != 0 {
				t.Errorf("Take(%d) = a buffer of len %d, cap %d, want empty of cap %d", tc.n, len(b), cap(b), tc.wantCap)
			}
			if got := drain(t, w); fmt.Sprint(got) != fmt.Sprint(tc.wantFree) {
				t.Errorf("free buffers %v after Take, want %v", got, tc.wantFree)
			}
			if got := w.Made(); got != tc.wantMade {
				t.Errorf("Made() = %d after Take, want %d", got, tc.wantMade)
			}
		})
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
