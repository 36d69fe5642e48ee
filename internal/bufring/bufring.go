// Package bufring holds a fixed number of reusable read buffers, free
// ones kept by size class in the order they were given back, so that a
// read finds a free buffer its body fits whenever one is free, and memory
// written by one read is not written again until the other buffers of its
// size have been: the loader's item window and the raw baseline that
// bounds it share it, so that both pay the same for their buffers.
package bufring

import (
	"math/bits"
	"sync"
)

// A Ring is a fixed number of places, each holding a buffer while taken,
// and a fixed number of buffers, Spare more than the places. The free
// buffers are kept by size class (capacities from one power of two to the
// next), each class in the order its buffers were given back.
//
// [Ring.Get] takes a place and the buffer free longest of the smallest
// class, an empty one last. Once a read knows its body's size, a buffer
// too small for it is swapped ([Ring.Swap]) for the one free longest of
// the smallest class whose every buffer fits, among all free buffers;
// only when no free buffer fits is a new one made, of the body's size
// rounded up to a power of two, the smallest free one dropped (an empty
// one first). A place can also be reserved ([Ring.Reserve]) for a read to
// come, which takes its buffer once it knows its body's size
// ([Ring.Take]), the same way: so it never holds a buffer far larger than
// its body while a larger body goes without.
//
// So a buffer is only ever replaced by a larger one, and the ring holds
// about as many buffers of each size as the bodies it holds at once need:
// a new buffer is made when more large bodies are held at once than ever
// before, which soon becomes rare. (Handed out in the order they came
// free, whatever their size, and swapped only for one of the first few
// free, a window of thousands went on making buffers, and faulting their
// pages in, for as long as it read, drifting towards buffers all of the
// largest size.) A Ring is safe for concurrent use; it takes no other
// lock while it holds its own.
type Ring struct {
	mu       sync.Mutex
	free     [bits.UintSize + 1]fifo // by class: class k holds capacities in [2^(k-1), 2^k)
	n        int                     // free buffers, reserved places' and spare ones included
	reserved int                     // places reserved whose buffers are not yet taken
	spare    int                     // buffers beyond the places
	total    int                     // buffers, free or taken
	made     int64                   // buffers Swap has made
}

// MinBuffer is the least capacity of a buffer a swap makes.
const MinBuffer = 4 << 10

// New returns a ring of n places, all free, and n + Spare buffers, all
// empty (of no capacity until a swap or a take gives them one).
func New(n int) *Ring {
	r := &Ring{n: n + Spare, spare: Spare, total: n + Spare}
	r.free[0].bufs = make([][]byte, r.n)
	return r
}

// Spare is how many buffers a ring holds beyond its places: however many
// places are taken, a read chooses its buffer among at least Spare free
// ones. With none, a window every place of which is held, given back a
// batch of 50 at a time, went on making buffers, and growing them towards
// the largest body's size: 147 over 200,000 ImageNet-sized reads with
// 4,800 places, and 245 KiB a place; with 64, 6 to 10, and 190 KiB.
const Spare = 64

// open returns how many places are neither taken nor reserved.
func (r *Ring) open() int { return r.n - r.spare - r.reserved }

// class returns the size class of a buffer of capacity c: bits.Len(c),
// so class k holds capacities from 2^(k-1) up to 2^k - 1 and class 0 the
// empty buffers.
func class(c int) int { return bits.Len(uint(c)) }

// fits returns the smallest class whose every buffer has a capacity of
// at least n > 0: the class of n's power of two above or equal.
func fits(n int) int { return bits.Len(uint(n-1)) + 1 }

// Get takes the buffer free longest of the smallest class that has a
// free one, emptied, an empty one (of no capacity) only when no other is
// free; false when every place is taken or reserved.
func (r *Ring) Get() ([]byte, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.open() == 0 {
		return nil, false
	}
	return r.take(), true
}

// Reserve reserves a place for a read to come, which takes its buffer
// with Take or Bind (or gives the place up with Release); false when every place
// is taken or reserved.
func (r *Ring) Reserve() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.open() == 0 {
		return false
	}
	r.reserved++
	return true
}

// Bind takes the buffer of a place reserved, as Get takes one. Binding
// more places than were reserved panics.
func (r *Ring) Bind() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.reserved == 0 {
		panic("bufring: Bind with no place reserved")
	}
	r.reserved--
	return r.take()
}

// Take takes, for a place reserved, an empty buffer of at least n bytes'
// capacity: the one free longest of the smallest class whose every buffer
// fits n; or else a new one, the smallest free buffer dropped in its
// place. A read that takes its buffer once it knows its body's size,
// rather than binding one first, never holds a buffer far larger than its
// body while a larger body goes without. Taking more places than were
// reserved panics.
func (r *Ring) Take(n int) []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.reserved == 0 {
		panic("bufring: Take with no place reserved")
	}
	r.reserved--
	for k := fits(n); k < len(r.free); k++ {
		if r.free[k].len() > 0 {
			r.n--
			return r.free[k].pop()[:0]
		}
	}
	r.drop() // the place's buffer is the new one
	return r.make(n)
}

// Release gives up a place reserved and not bound. Releasing more places
// than were reserved panics.
func (r *Ring) Release() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.reserved == 0 {
		panic("bufring: Release with no place reserved")
	}
	r.reserved--
}

// take takes the buffer free longest of the smallest class, emptied, an
// empty one (of no capacity) only when no other is free; r holds one
// free. So the spare buffers a ring never needed are not handed out in
// place of buffers grown to the items' sizes: a raw reader that reads
// into the buffers it got, growing them, and gives them back, gets them
// back grown, not empty ones to grow again.
func (r *Ring) take() []byte {
	for k := 1; k < len(r.free); k++ {
		if r.free[k].len() > 0 {
			r.n--
			return r.free[k].pop()[:0]
		}
	}
	if r.free[0].len() > 0 {
		r.n--
		return r.free[0].pop()
	}
	panic("bufring: free buffers counted but none found")
}

// drop drops the smallest free buffer, an empty one first; r holds one
// free.
func (r *Ring) drop() {
	for k := range r.free {
		if r.free[k].len() > 0 {
			r.n--
			r.free[k].pop()
			return
		}
	}
	panic("bufring: free buffers counted but none found")
}

// Put gives back a buffer taken with Get or returned by Swap. Giving back
// more buffers than were taken panics.
func (r *Ring) Put(b []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.n == r.total {
		panic("bufring: Put of a buffer the ring never handed out")
	}
	r.free[class(cap(b))].push(b[:0])
	r.n++
}

// Swap takes have, of less than n bytes' capacity, back and returns an
// empty buffer of at least n bytes' capacity in its place: the one free
// longest of the smallest class whose every buffer fits n, have given
// back; or else a new one, have given back and the smallest free buffer
// dropped, an empty one first. It fits a dataset.ReadTrace's Buffer.
func (r *Ring) Swap(n int, have []byte) []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k := fits(n); k < len(r.free); k++ {
		if r.free[k].len() > 0 {
			b := r.free[k].pop()
			r.free[class(cap(have))].push(have[:0])
			return b[:0]
		}
	}
	// have joins the free ones, and the smallest of them is dropped: an
	// empty one while the ring has some, so that its buffers of some
	// capacity grow in number until none is empty.
	r.free[class(cap(have))].push(have[:0])
	r.n++
	r.drop()
	return r.make(n)
}

// make makes a new buffer for a body of n bytes, counted as made.
func (r *Ring) make(n int) []byte {
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

// A fifo is the free buffers of one class, oldest first from head. Its
// slice keeps its capacity, so a ring in steady state allocates nothing.
type fifo struct {
	bufs [][]byte
	head int
}

func (q *fifo) len() int { return len(q.bufs) - q.head }

func (q *fifo) push(b []byte) {
	if len(q.bufs) == cap(q.bufs) && q.head >= q.len() {
		// At least half the slice is popped: move the rest down, rather
		// than grow it, each element moved paid for by a pop.
		n := copy(q.bufs, q.bufs[q.head:])
		clear(q.bufs[n:])
		q.bufs, q.head = q.bufs[:n], 0
	}
	q.bufs = append(q.bufs, b)
}

func (q *fifo) pop() []byte {
	b := q.bufs[q.head]
	q.bufs[q.head] = nil
	q.head++
	if q.head == len(q.bufs) {
		q.bufs, q.head = q.bufs[:0], 0
	}
	return b
}
