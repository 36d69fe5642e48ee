package loader

import (
	"slices"
	"testing"
)

// TestBufPool checks how a worker's pool of sample buffers keeps their
// number bounded and their sizes growing only: the smallest pooled buffer
// that fits is taken; when none fits, a new one of a power of two, which
// in a full pool replaces the smallest pooled one, dropped, and in a pool
// with room leaves the pooled ones be; a buffer given back to a full pool
// replaces the smallest pooled one if it is larger, else is dropped.
func TestBufPool(t *testing.T) {
	for _, tc := range []struct {
		name    string
		pooled  []int // capacities put, in order, into a pool of 3
		get     int64
		wantCap int
		rest    []int // the capacities left in the pool, in order
	}{
		{"smallest that fits", []int{1 << 20, 8 << 10, 64 << 10}, 5000, 8 << 10, []int{64 << 10, 1 << 20}},
		{"exact fit", []int{4 << 10, 8 << 10}, 8 << 10, 8 << 10, []int{4 << 10}},
		{"none fits a full pool: a new one, the smallest pooled one dropped", []int{16 << 10, 4 << 10, 8 << 10}, 100_000, 128 << 10, []int{8 << 10, 16 << 10}},
		{"none fits a pool with room: a new one, the pooled ones kept", []int{16 << 10, 4 << 10}, 100_000, 128 << 10, []int{4 << 10, 16 << 10}},
		{"empty pool: a new one of at least 4 KiB", nil, 10, 4 << 10, nil},
		{"full pool keeps a larger buffer in place of the smallest", []int{4 << 10, 8 << 10, 16 << 10, 1_000_000}, 3000, 8 << 10, []int{16 << 10, 1_000_000}},
		{"full pool drops a buffer no larger than its smallest", []int{8 << 10, 8 << 10, 16 << 10, 4 << 10}, 3000, 8 << 10, []int{8 << 10, 16 << 10}},
		{"empty buffers are not kept", []int{0, 0}, 10, 4 << 10, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newBufPool(3)
			for _, c := range tc.pooled {
				p.put(make([]byte, min(7, c), c))
			}
			b := p.get(tc.get)
			if len(b) != 0 || cap(b) < int(tc.get) {
				t.Fatalf("get(%d) = len %d cap %d, want empty with room", tc.get, len(b), cap(b))
			}
			var rest []int
			for _, x := range p.bufs {
				rest = append(rest, cap(x))
			}
			slices.Sort(rest)
			if cap(b) != tc.wantCap || !slices.Equal(rest, tc.rest) {
				t.Errorf("get(%d): cap %d, %v left pooled; want cap %d, %v left", tc.get, cap(b), rest, tc.wantCap, tc.rest)
			}
		})
	}
}
