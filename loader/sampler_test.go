package loader_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/storagebench/storagebench/dataset"
	"github.com/storagebench/storagebench/dataset/mem"
	"github.com/storagebench/storagebench/loader"
)

// reversed reads epoch e's items from the last to the first, rotated by e,
// an order no built-in sampler gives.
type reversed struct{}

func (reversed) Order(epoch, n int) []int {
	p := make([]int, n)
	for i := range p {
		p[i] = (n - 1 - i + epoch) % n
	}
	return p
}

// fixed returns the same order for every epoch, whatever it is.
type fixed []int

func (f fixed) Order(epoch, n int) []int { return f }

// TestSampler checks that the items of each epoch reach the consumer in the
// order that Options.Sampler, or by default Shuffle and Seed, choose.
func TestSampler(t *testing.T) {
	const n, epochs = 23, 3
	objs, idx := objects(n)
	ds := dataset.New(dataset.NewStore(mem.New(objs)), idx)
	identity := func(int) []int {
		p := make([]int, n)
		for i := range p {
			p[i] = i
		}
		return p
	}
	for _, tc := range []struct {
		name string
		opts loader.Options
		want func(epoch int) []int
	}{
		{"default", loader.Options{}, identity},
		{"sequential", loader.Options{Sampler: loader.Sequential{}}, identity},
		{"shuffle", loader.Options{Shuffle: true, Seed: 3}, func(e int) []int { return loader.Shuffled{Seed: 3}.Order(e, n) }},
		{"shuffled sampler", loader.Options{Sampler: loader.Shuffled{Seed: 3}}, func(e int) []int { return loader.Shuffled{Seed: 3}.Order(e, n) }},
		{"custom", loader.Options{Sampler: reversed{}}, func(e int) []int {
			p := make([]int, n)
			for i := range p {
				p[i] = (n - 1 - i + e) % n
			}
			return p
		}},
		{"custom with nil for the identity", loader.Options{Sampler: fixed(nil)}, identity},
	} {
		for _, mode := range []loader.Mode{loader.Sync, loader.Async} {
			t.Run(fmt.Sprintf("%s/mode=%s", tc.name, mode), func(t *testing.T) {
				opts := tc.opts
				opts.Mode, opts.Workers, opts.BatchSize, opts.Epochs, opts.Warmup = mode, 3, 4, epochs, -1
				got := make([][]int, epochs)
				_, err := load(context.Background(), ds, opts, func(b *loader.Batch) error {
					for _, it := range b.Items {
						got[b.Epoch] = append(got[b.Epoch], it.Index)
					}
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				for e := range epochs {
					if want := tc.want(e); !slices.Equal(got[e], want) {
						t.Errorf("epoch %d delivered items %v, want %v", e, got[e], want)
					}
				}
			})
		}
	}
}

// TestSamplerErrors checks that a sampler whose order is no permutation of
// the items ends the run with an error saying why. (A sampler set with
// Shuffle is refused by New: see TestOptionErrors.)
func TestSamplerErrors(t *testing.T) {
	const n = 4
	objs, idx := objects(n)
	ds := dataset.New(dataset.NewStore(mem.New(objs)), idx)
	for _, tc := range []struct {
		name  string
		order fixed
		want  string
	}{
		{"short", fixed{0, 1, 2}, "order of 3 positions for 4 items"},
		{"out of range", fixed{0, 1, 4, 2}, "position 2 holds item 4, outside 0..3"},
		{"negative", fixed{0, -1, 2, 3}, "position 1 holds item -1"},
		{"repeated", fixed{3, 1, 3, 0}, "position 2 repeats item 3"},
	} {
		for _, mode := range []loader.Mode{loader.Sync, loader.Async} {
			t.Run(fmt.Sprintf("%s/mode=%s", tc.name, mode), func(t *testing.T) {
				defer goleak.VerifyNone(t)
				opts := loader.Options{Mode: mode, Workers: 2, BatchSize: 2, Warmup: -1, Sampler: tc.order}
				_, err := load(context.Background(), ds, opts, func(*loader.Batch) error { return nil })
				if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "epoch 0") {
					t.Errorf("Load with order %v = %v, want an error for epoch 0 containing %q", tc.order, err, tc.want)
				}
			})
		}
	}
}
