package loader

import (
	"fmt"
	"math/rand/v2"
	"sync"
)

// A Sampler orders the items of each epoch. Options.Sampler sets a run's;
// by default a run reads [Sequential], or [Shuffled] with Options.Shuffle.
type Sampler interface {
	// Order returns the positions of n items in the order epoch reads
	// them: a permutation of 0..n-1. It may return nil for the identity.
	// It must be safe for concurrent use. The loader calls it once an
	// epoch, and does not modify what it returns.
	Order(epoch, n int) []int
}

// Sequential reads items in index order.
type Sequential struct{}

// Order returns nil, the identity.
func (Sequential) Order(epoch, n int) []int { return nil }

// Shuffled reads each epoch in a random order drawn from (Seed, epoch), so
// a run is reproducible.
type Shuffled struct{ Seed uint64 }

// Order returns a Fisher-Yates shuffle of 0..n-1.
func (s Shuffled) Order(epoch, n int) []int {
	r := rand.New(rand.NewPCG(s.Seed, uint64(epoch)))
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	r.Shuffle(n, func(i, j int) { p[i], p[j] = p[j], p[i] })
	return p
}

// Shard is one rank's share of every epoch, as PyTorch's
// DistributedSampler takes it: every rank orders the whole index the same
// way (the same sampler and seed), the order is padded by repeating its
// first positions until its length is a multiple of World (or, with
// DropLast, cut to the largest multiple), and rank r reads positions
// r, r+World, r+2·World, ... of it. Every rank so reads the same number of
// items an epoch, ceil(n/World) (floor with DropLast), and the union of
// the ranks' shares is the whole index each epoch: with padding, up to
// World-1 items are read twice an epoch; with DropLast, up to World-1 are
// not read that epoch. The zero Shard is the whole index.
type Shard struct {
	Rank, World int
	// DropLast cuts the order to a multiple of World instead of padding
	// it (DistributedSampler's drop_last; Options.DropLast is the
	// DataLoader's, which drops a short last batch).
	DropLast bool
}

// IsZero reports whether s is the whole index.
func (s Shard) IsZero() bool { return s == Shard{} }

// check returns an error unless s is the zero Shard or a rank of a world.
func (s Shard) check() error {
	if s.IsZero() {
		return nil
	}
	if s.World < 1 || s.Rank < 0 || s.Rank >= s.World {
		return fmt.Errorf("loader: shard rank %d of world size %d, want 0 <= rank < world size", s.Rank, s.World)
	}
	return nil
}

// Len returns the items of n that the shard reads an epoch.
func (s Shard) Len(n int) int {
	if s.World <= 1 {
		return n
	}
	if s.DropLast {
		return n / s.World
	}
	return (n + s.World - 1) / s.World
}

// Positions returns the shard's positions of an epoch whose order of n
// items is order (nil for the identity), in the order the shard reads
// them.
func (s Shard) Positions(order []int, n int) []int {
	m := s.Len(n)
	out := make([]int, m)
	for i := range out {
		j := (s.Rank + i*max(s.World, 1)) % n // padding repeats the order from its start
		if order != nil {
			j = order[j]
		}
		out[i] = j
	}
	return out
}

// epochOrders asks a sampler for each epoch's order once, checks it, takes
// the shard's share of it, and keeps that for all the workers of a run
// while the epoch's batches are in use: the consumer drops it once it has
// the epoch's last batch.
type epochOrders struct {
	sampler Sampler // nil for the identity
	shard   Shard
	n       int // items of the index
	len     int // items an epoch: the shard's

	mu     sync.Mutex
	orders map[int][]int
}

func newEpochOrders(s Sampler, shard Shard, n int) *epochOrders {
	if _, ok := s.(Sequential); ok {
		s = nil
	}
	if shard.World == 1 {
		shard = Shard{} // the whole index, which needs no list
	}
	return &epochOrders{sampler: s, shard: shard, n: n, len: shard.Len(n), orders: make(map[int][]int)}
}

// get returns the positions epoch reads, nil for the identity. It fails if
// the sampler's order is not a permutation of the items.
func (o *epochOrders) get(epoch int) ([]int, error) {
	if o.sampler == nil && o.shard.IsZero() {
		return nil, nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	p, ok := o.orders[epoch]
	if !ok {
		if o.sampler != nil {
			p = o.sampler.Order(epoch, o.n)
			if err := checkPermutation(p, o.n); err != nil {
				return nil, fmt.Errorf("loader: sampler %T, epoch %d: %w", o.sampler, epoch, err)
			}
		}
		if !o.shard.IsZero() {
			p = o.shard.Positions(p, o.n)
		}
		o.orders[epoch] = p
	}
	return p, nil
}

// drop forgets the order of epoch.
func (o *epochOrders) drop(epoch int) {
	if o.sampler == nil && o.shard.IsZero() {
		return
	}
	o.mu.Lock()
	delete(o.orders, epoch)
	o.mu.Unlock()
}

// checkPermutation returns an error unless p is nil or a permutation of
// 0..n-1, naming the first position that breaks it.
func checkPermutation(p []int, n int) error {
	if p == nil {
		return nil
	}
	if len(p) != n {
		return fmt.Errorf("order of %d positions for %d items", len(p), n)
	}
	seen := make([]bool, n)
	for i, v := range p {
		switch {
		case v < 0 || v >= n:
			return fmt.Errorf("position %d holds item %d, outside 0..%d", i, v, n-1)
		case seen[v]:
			return fmt.Errorf("position %d repeats item %d", i, v)
		}
		seen[v] = true
	}
	return nil
}
