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

// epochOrders asks a sampler for each epoch's order once, checks it, and
// keeps it for all the workers of a run while the epoch's batches are in
// use: the consumer drops it once it has the epoch's last batch.
type epochOrders struct {
	sampler Sampler // nil for the identity, which needs no lock
	n       int     // items an epoch

	mu     sync.Mutex
	orders map[int][]int
}

func newEpochOrders(s Sampler, n int) *epochOrders {
	if _, ok := s.(Sequential); ok {
		s = nil
	}
	return &epochOrders{sampler: s, n: n, orders: make(map[int][]int)}
}

// get returns the order of epoch, nil for the identity. It fails if the
// sampler's order is not a permutation of the items.
func (o *epochOrders) get(epoch int) ([]int, error) {
	if o.sampler == nil {
		return nil, nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	p, ok := o.orders[epoch]
	if !ok {
		p = o.sampler.Order(epoch, o.n)
		if err := checkPermutation(p, o.n); err != nil {
			return nil, fmt.Errorf("loader: sampler %T, epoch %d: %w", o.sampler, epoch, err)
		}
		o.orders[epoch] = p
	}
	return p, nil
}

// drop forgets the order of epoch.
func (o *epochOrders) drop(epoch int) {
	if o.sampler == nil {
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
