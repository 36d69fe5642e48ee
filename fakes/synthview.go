package fakes

import (
	"fmt"

	"github.com/storagebench/storagebench/dataset/mem"
)

// maxSortedItems is the largest N whose keys sort in position order: the
// 100,000,000th key has nine digits and sorts before the eight-digit ones.
const maxSortedItems = 99_999_999

// checkBodies returns an error unless bodies is what
// [Synth.DistinctBodies] returns for s: K slices of the sizes drawn for
// them. It does not compare their bytes.
func (s Synth) checkBodies(bodies [][]byte) error {
	if err := s.checkN(); err != nil {
		return err
	}
	if k := s.numBodies(); len(bodies) != k {
		return fmt.Errorf("synth: got %d bodies, want K = %d", len(bodies), k)
	}
	for j, b := range bodies {
		if want := s.bodySize(j); len(b) != want {
			return fmt.Errorf("synth: body %d (%s) has %d bytes, want %d", j, s.Key(j), len(b), want)
		}
	}
	return nil
}

// View returns a read-only in-memory backend serving the N items of s from
// bodies, which must be what [Synth.DistinctBodies] returned for s: key i
// holds bodies[s.BodyOf(i)]. It takes the memory of the K bodies and
// nothing a key: Open finds an item by [Synth.Position], and a listing
// finds a prefix by binary search, as keys sort in position order. The
// backend implements [dataset.Immediate], so reads carry no deadline.
//
// View returns an error when bodies do not have the sizes of s's bodies,
// or when N is above 99,999,999, whose keys would not sort in position
// order.
func (s Synth) View(bodies [][]byte) (*mem.View, error) {
	if err := s.checkBodies(bodies); err != nil {
		return nil, err
	}
	if s.N > maxSortedItems {
		return nil, fmt.Errorf("synth: view of %d items: keys sort in position order up to %d items", s.N, maxSortedItems)
	}
	k := len(bodies)
	return mem.NewView(mem.Catalog{
		N:        s.N,
		Key:      s.Key,
		Position: s.Position,
		Body:     func(i int) []byte { return bodies[i%k] },
	})
}
