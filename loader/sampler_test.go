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

// TestShardPositions checks a shard's positions against PyTorch's
// DistributedSampler: 10 items over 3 ranks, in index order, padded with
// the first items, or cut with drop-last.
func TestShardPositions(t *testing.T) {
	for _, tc := range []struct {
		shard loader.Shard
		n     int
		want  []int
	}{
		{loader.Shard{Rank: 0, World: 3}, 10, []int{0, 3, 6, 9}},
		{loader.Shard{Rank: 1, World: 3}, 10, []int{1, 4, 7, 0}},
		{loader.Shard{Rank: 2, World: 3}, 10, []int{2, 5, 8, 1}},
		{loader.Shard{Rank: 2, World: 3, DropLast: true}, 10, []int{2, 5, 8}},
		{loader.Shard{Rank: 0, World: 1}, 3, []int{0, 1, 2}},
		{loader.Shard{}, 3, []int{0, 1, 2}},
		// More ranks than items: padding repeats the order, as PyTorch's does.
		{loader.Shard{Rank: 4, World: 5}, 2, []int{0}},
		{loader.Shard{Rank: 3, World: 5, DropLast: true}, 2, []int{}},
	} {
		if got := tc.shard.Positions(nil, tc.n); !slices.Equal(got, tc.want) {
			t.Errorf("%+v.Positions(nil, %d) = %v, want %v", tc.shard, tc.n, got, tc.want)
		}
		if got := tc.shard.Len(tc.n); got != len(tc.want) {
			t.Errorf("%+v.Len(%d) = %d, want %d", tc.shard, tc.n, got, len(tc.want))
		}
	}
	order := []int{4, 2, 0, 1, 3}
	if got, want := (loader.Shard{Rank: 1, World: 2}).Positions(order, 5), []int{2, 1, 4}; !slices.Equal(got, want) {
		t.Errorf("Positions(%v) = %v, want %v", order, got, want)
	}
}

// TestShardRun checks that the ranks of a world, each reading its shard of
// a shuffled index with its own loader, read every item of every epoch,
// each rank the same number, and, without padding, each item once.
func TestShardRun(t *testing.T) {
	defer goleak.VerifyNone(t)
	const epochs = 3
	for _, tc := range []struct {
		n, world   int
		dropLast   bool
		sched      loader.Scheduler
		wantTwice  int // items read twice an epoch: the padding
		wantMissed int // items not read an epoch: drop-last's cut
	}{
		{n: 24, world: 4, sched: loader.SchedBatch},
		{n: 23, world: 4, sched: loader.SchedBatch, wantTwice: 1},
		{n: 23, world: 4, sched: loader.SchedItem, wantTwice: 1},
		{n: 23, world: 4, dropLast: true, sched: loader.SchedItem, wantMissed: 3},
	} {
		t.Run(fmt.Sprintf("n=%d/world=%d/droplast=%v/%s", tc.n, tc.world, tc.dropLast, tc.sched), func(t *testing.T) {
			objs, idx := objects(tc.n)
			ds := dataset.New(dataset.NewStore(mem.New(objs)), idx)
			counts := make([][]int, epochs)
			for e := range counts {
				counts[e] = make([]int, tc.n)
			}
			per := -1
			for rank := range tc.world {
				opts := loader.Options{BatchSize: 4, Workers: 2, Mode: loader.Async, Item: itemOptions(tc.sched), Shuffle: true, Seed: 9, Epochs: epochs,
					Shard: loader.Shard{Rank: rank, World: tc.world, DropLast: tc.dropLast}}
				read := 0
				if _, err := load(context.Background(), ds, opts, func(b *loader.Batch) error {
					for _, it := range b.Items {
						if want := objs[idx[it.Index]]; string(it.Data) != string(want) {
							return fmt.Errorf("item %d: wrong bytes", it.Index)
						}
						counts[b.Epoch][it.Index]++
						read++
					}
					return nil
				}); err != nil {
					t.Fatalf("rank %d: %v", rank, err)
				}
				if per >= 0 && read != per {
					t.Errorf("rank %d read %d items, rank 0 %d: ranks must read alike", rank, read, per)
				}
				per = read
			}
			for e, c := range counts {
				twice, missed := 0, 0
				for i, k := range c {
					switch {
					case k == 0:
						missed++
					case k == 2:
						twice++
					case k != 1:
						t.Errorf("epoch %d: item %d read %d times", e, i, k)
					}
				}
				if twice != tc.wantTwice || missed != tc.wantMissed {
					t.Errorf("epoch %d: %d items read twice, %d missed; want %d and %d", e, twice, missed, tc.wantTwice, tc.wantMissed)
				}
			}
		})
	}
}
