// Package bufring holds a fixed number of reusable read buffers in the
// order they were given back, so that every buffer serves every size of
// item in turn and memory written by one read is not written again until
// the others have been: the loader's item window and the raw baseline that
// bounds it share it, so that both pay the same for their buffers.
package bufring

import (
	"math/bits"
	"sync"
)

// A Ring is a fixed number of buffers, free or taken. A buffer taken with
// [Ring.Get] is the one free longest. Once a read knows its body's size,
// a buffer too small for it is swapped ([Ring.Swap]) for a free one that
// fits, the smallest of the first few; or else for a new one of the body's
// size rounded up to a power of two, the small one dropped. So a buffer is
// only ever replaced by a larger one and the ring's buffers settle at the
// sizes its items need: a reallocation an item, at first, becomes rare.
// (Handed out largest first instead, small buffers wait at the bottom and
// a read comes to reallocate at every few items.) A Ring is safe for
// concurrent use; it takes no other lock while it holds its own.
type Ring struct {
	mu   sync.Mutex
	ring [][]byte // the free buffers from head, n of them, wrapping
	head int
	n    int
	made int64 // buffers Swap has made
}

// SwapScan bounds the free buffers a swap looks at.
const SwapScan = 64

// MinBuffer is the least capacity of a buffer a swap makes.
const MinBuffer = 4 << 10

// New returns a ring of n buffers, all free and empty (of no capacity
// until a swap gives them one).
func New(n int) *Ring { return &Ring{ring: make([][]byte, n), n: n} }

// Get takes the buffer free longest, emptied; false when none is free.
func (r *Ring) Get() ([]byte, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.n == 0 {
		return nil, false
	}
	b := r.ring[r.head]
	r.ring[r.head] = nil
	r.head = (r.head + 1) % len(r.ring)
	r.n--
	return b[:0], true
}

// Put gives back a buffer taken with Get or returned by Swap. Giving back
// more buffers than were taken panics.
func (r *Ring) Put(b []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.n == len(r.ring) {
		panic("bufring: Put of a buffer the ring never handed out")
	}
	r.ring[(r.head+r.n)%len(r.ring)] = b[:0]
	r.n++
}

// Swap takes have, of less than n bytes' capacity, back and returns an
// empty buffer of at least n bytes' capacity in its place: the smallest
// that fits of the first SwapScan free ones, have taking its place; or
// else a new one, have dropped. It fits a dataset.ReadTrace's Buffer.
func (r *Ring) Swap(n int, have []byte) []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	best := -1
	for k := range min(r.n, SwapScan) {
		i := (r.head + k) % len(r.ring)
		if c := cap(r.ring[i]); c >= n && (best < 0 || c < cap(r.ring[best])) {
			best = i
		}
	}
	if best >= 0 {
		b := r.ring[best]
		r.ring[best] = have[:0]
		return b[:0]
	}
	r.made++
	b := make([]byte, max(MinBuffer, 1<<bits.Len(uint(n-1))))
	// Touch every page now: a new buffer's pages fresh from the system
	// are not mapped until written, and a buffer that later holds larger
	// bodies than its first would fault them in read after read, long
	// after the ring has settled (a ring of 3,232 ImageNet-sized buffers
	// read a fifth slower for a second after it stopped growing).
	for i := 0; i < len(b); i += pageSize {
		b[i] = 0
	}
	return b[:0]
}

// pageSize is the smallest page size of the systems Go runs on: a write
// every pageSize bytes touches every page.
const pageSize = 4 << 10

// Made returns how many buffers Swap has made so far: none once the
// ring's buffers have settled at the sizes its items need.
func (r *Ring) Made() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.made
}
