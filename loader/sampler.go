package loader

import "math/rand/v2"

// A Sampler orders the items of each epoch.
type Sampler interface {
	// Order returns the positions of n items in the order epoch reads
	// them: a permutation of 0..n-1. It may return nil for the identity.
	// It must be safe for concurrent use.
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
