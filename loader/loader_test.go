package loader_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/storagebench/storagebench/dataset"
	"github.com/storagebench/storagebench/dataset/mem"
	"github.com/storagebench/storagebench/loader"
)

// TestEveryItemOncePerEpoch checks, for every backend, both modes, worker
// counts from 1 to 32 and batch sizes that do and do not divide the index,
// that each item reaches the consumer exactly once per epoch, in sampler
// order, with the right bytes.
func TestEveryItemOncePerEpoch(t *testing.T) {
	const n, epochs = 100, 2
	objs, idx := objects(n)
	for _, be := range backends {
		ds := dataset.New(dataset.NewStore(be.make(t, objs)), idx)
		for _, mode := range []loader.Mode{loader.Sync, loader.Async} {
			for _, workers := range []int{1, 3, 8, 32} {
				for _, batch := range []int{1, 7, 25} {
					shuffle := (workers+batch)%2 == 0
					name := fmt.Sprintf("backend=%s/mode=%s/workers=%d/batch=%d/shuffle=%v", be.name, mode, workers, batch, shuffle)
					t.Run(name, func(t *testing.T) {
						t.Parallel()
						opts := loader.Options{Mode: mode, Workers: workers, BatchSize: batch, Epochs: epochs, Shuffle: shuffle, Seed: 42, Warmup: -1}
						checkRun(t, ds, objs, opts)
					})
				}
			}
		}
	}
}

// checkRun runs the loader and checks what reaches the consumer.
func checkRun(t *testing.T, ds *dataset.Dataset, objs map[string][]byte, opts loader.Options) loader.Stats {
	t.Helper()
	n := ds.Len()
	sampler := opts.Sampler
	switch {
	case sampler != nil:
	case opts.Shuffle:
		sampler = loader.Shuffled{Seed: opts.Seed}
	default:
		sampler = loader.Sequential{}
	}
	seen := make([][]int, opts.Epochs)
	for e := range seen {
		seen[e] = make([]int, n)
	}
	wantEpoch, wantBatch, pos := 0, 0, 0
	var order []int
	stats, err := load(context.Background(), ds, opts, func(b *loader.Batch) error {
		if b.Epoch != wantEpoch || b.Index != wantBatch {
			return fmt.Errorf("got batch %d of epoch %d, want batch %d of epoch %d", b.Index, b.Epoch, wantBatch, wantEpoch)
		}
		if pos == 0 {
			order = sampler.Order(b.Epoch, n)
		}
		if want := min(opts.BatchSize, n-pos); len(b.Items) != want {
			return fmt.Errorf("epoch %d batch %d has %d items, want %d", b.Epoch, b.Index, len(b.Items), want)
		}
		for _, it := range b.Items {
			want := pos
			if order != nil {
				want = order[pos]
			}
			if it.Index != want {
				return fmt.Errorf("epoch %d position %d holds item %d, want %d (sampler order)", b.Epoch, pos, it.Index, want)
			}
			key := ds.Key(it.Index)
			if !bytes.Equal(it.Data, objs[key]) {
				return fmt.Errorf("epoch %d item %q: got %d bytes, want %d matching bytes", b.Epoch, key, len(it.Data), len(objs[key]))
			}
			seen[b.Epoch][it.Index]++
			pos++
		}
		wantBatch++
		if pos == n {
			wantEpoch, wantBatch, pos = wantEpoch+1, 0, 0
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if wantEpoch != opts.Epochs {
		t.Fatalf("run ended in epoch %d at position %d, want %d full epochs", wantEpoch, pos, opts.Epochs)
	}
	for e := range seen {
		for i, c := range seen[e] {
			if c != 1 {
				t.Errorf("epoch %d: item %d delivered %d times, want once", e, i, c)
			}
		}
	}
	if want := int64(n * opts.Epochs); stats.Items != want || stats.Fetched != want {
		t.Errorf("stats count %d items delivered and %d fetched, want %d", stats.Items, stats.Fetched, want)
	}
	return stats
}

func TestStats(t *testing.T) {
	const n = 60
	objs, idx := objects(n)
	var total int64
	for _, v := range objs {
		total += int64(len(v))
	}
	ds := dataset.New(dataset.NewStore(mem.New(objs)), idx)
	for _, tc := range []struct {
		name                 string
		opts                 loader.Options
		batches, workerLoops int64
		inFlight             int
	}{
		{"sync", loader.Options{Mode: loader.Sync, Workers: 3, BatchSize: 10, Epochs: 3}, 18, 9, 3},
		{"async", loader.Options{Mode: loader.Async, Workers: 2, BatchSize: 7, Epochs: 2}, 18, 4, 14},
		{"async fetch 3", loader.Options{Mode: loader.Async, Workers: 4, BatchSize: 10, FetchConcurrency: 3, Epochs: 1}, 6, 4, 12},
		{"drop last", loader.Options{Workers: 2, BatchSize: 25, DropLast: true, Epochs: 2}, 4, 4, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stats, err := load(context.Background(), ds, tc.opts, func(*loader.Batch) error { return nil })
			if err != nil {
				t.Fatal(err)
			}
			items := int64(n * tc.opts.Epochs)
			bytes := total * int64(tc.opts.Epochs)
			if tc.opts.DropLast {
				items = tc.batches * int64(tc.opts.BatchSize)
				bytes = stats.Bytes // checked item by item in TestEveryItemOncePerEpoch
			}
			want := map[loader.Level]int64{
				loader.Run: 1, loader.Epoch: int64(tc.opts.Epochs), loader.Worker: tc.workerLoops,
				loader.Fetch: tc.batches, loader.GetItem: items, loader.TTFB: items, loader.Read: items,
				loader.Decode: 0, loader.Wait: tc.batches,
			}
			for l, c := range want {
				s := stats.Levels[l]
				if s.Count != c {
					t.Errorf("level %s count = %d, want %d", l, s.Count, c)
				}
				if c > 0 && !(s.Min <= s.Median && s.Median <= s.P90 && s.P90 <= s.P99 && s.P99 <= s.Max && s.Min <= s.Mean && s.Mean <= s.Max && s.Max > 0) {
					t.Errorf("level %s summary %+v is not ordered min <= median <= p90 <= p99 <= max", l, s)
				}
			}
			if stats.Items != items || stats.Bytes != bytes || stats.Errors != 0 || stats.InFlight != tc.inFlight {
				t.Errorf("stats items, bytes, errors, in flight = %d, %d, %d, %d; want %d, %d, 0, %d",
					stats.Items, stats.Bytes, stats.Errors, stats.InFlight, items, bytes, tc.inFlight)
			}
			run, epoch := stats.Levels[loader.Run], stats.Levels[loader.Epoch]
			if stats.Fetched != items || stats.Elapsed < run.Max {
				t.Errorf("stats fetched %d over %v, want %d over at least the run's %v", stats.Fetched, stats.Elapsed, items, run.Max)
			}
			if sum := time.Duration(epoch.Count) * epoch.Mean; sum > run.Max+time.Millisecond {
				t.Errorf("epochs add up to %v, more than the run's %v", sum, run.Max)
			}
		})
	}
}

func TestOptionErrors(t *testing.T) {
	objs, idx := objects(10)
	ds := dataset.New(dataset.NewStore(mem.New(objs)), idx)
	for _, tc := range []struct {
		name string
		opts loader.Options
		want string
	}{
		{"negative batch", loader.Options{BatchSize: -1}, "batch size -1"},
		{"negative workers", loader.Options{Workers: -2}, "-2 workers"},
		{"negative prefetch", loader.Options{Prefetch: -1}, "prefetch -1"},
		{"bad mode", loader.Options{Mode: "fast"}, `unknown mode "fast"`},
		{"bad decoder", loader.Options{Decode: "png"}, `unknown decoder "png"`},
		{"rank past world", loader.Options{Shard: loader.Shard{Rank: 4, World: 4}}, "shard rank 4 of world size 4"},
		{"negative rank", loader.Options{Shard: loader.Shard{Rank: -1, World: 2}}, "shard rank -1 of world size 2"},
		{"no world", loader.Options{Shard: loader.Shard{Rank: 1}}, "shard rank 1 of world size 0"},
		{"fetch concurrency in sync", loader.Options{Mode: loader.Sync, FetchConcurrency: 4}, "sync mode"},
		{"no full batch", loader.Options{BatchSize: 11, DropLast: true}, "no full batch"},
		{"sampler and shuffle", loader.Options{Sampler: loader.Sequential{}, Shuffle: true}, "shuffle set with sampler loader.Sequential"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loader.New(ds, tc.opts)
			if err == nil || !bytes.Contains([]byte(err.Error()), []byte(tc.want)) {
				t.Errorf("New(%+v) error = %v, want one containing %q", tc.opts, err, tc.want)
			}
		})
	}
	if _, err := loader.New(dataset.New(dataset.NewStore(mem.New(nil)), nil), loader.Options{}); err == nil {
		t.Error("New on an empty dataset succeeded, want an error")
	}
}

func TestReadErrors(t *testing.T) {
	objs, idx := objects(30)
	idx = append(idx[:17:17], append(dataset.Index{"val/missing.bin"}, idx[17:]...)...)
	ds := dataset.New(dataset.NewStore(mem.New(objs)), idx)
	for _, mode := range []loader.Mode{loader.Sync, loader.Async} {
		t.Run(string(mode), func(t *testing.T) {
			defer goleak.VerifyNone(t)
			_, err := load(context.Background(), ds, loader.Options{Mode: mode, Workers: 4, BatchSize: 5, Warmup: -1}, func(*loader.Batch) error { return nil })
			if !errors.Is(err, dataset.ErrNotFound) || !bytes.Contains([]byte(err.Error()), []byte(`"val/missing.bin"`)) {
				t.Errorf("Load error = %v, want ErrNotFound naming val/missing.bin", err)
			}
			var bad int
			stats, err := load(context.Background(), ds, loader.Options{Mode: mode, Workers: 4, BatchSize: 5, OnError: loader.OnErrorDeliver}, func(b *loader.Batch) error {
				for _, it := range b.Items {
					if it.Err != nil {
						bad++
						if !errors.Is(it.Err, dataset.ErrNotFound) || it.Index != 17 {
							return fmt.Errorf("item %d failed with %v, want only item 17 with ErrNotFound", it.Index, it.Err)
						}
					}
				}
				return nil
			})
			if err != nil || bad != 1 || stats.Errors != 1 || stats.Items != 31 {
				t.Errorf("tolerant Load = %v with %d bad items, stats errors %d, items %d; want nil, 1, 1, 31", err, bad, stats.Errors, stats.Items)
			}
		})
	}
	t.Run("consumer error", func(t *testing.T) {
		defer goleak.VerifyNone(t)
		boom := errors.New("boom")
		ds := dataset.New(dataset.NewStore(mem.New(objs)), idx[:17])
		_, err := load(context.Background(), ds, loader.Options{Workers: 2, Epochs: -1}, func(*loader.Batch) error { return boom })
		if !errors.Is(err, boom) {
			t.Errorf("Load error = %v, want the consumer's error", err)
		}
	})
}

// gatedBackend serves mem's objects, each read waiting until its key's
// channel is closed.
type gatedBackend struct {
	dataset.Backend
	gates map[string]chan struct{}
}

func (g gatedBackend) Open(ctx context.Context, key string) (io.ReadCloser, int64, error) {
	select {
	case <-g.gates[key]:
	case <-ctx.Done():
		return nil, 0, ctx.Err()
	}
	return g.Backend.Open(ctx, key)
}

// TestReady checks that Ready says whether the next batches are complete,
// never waits, and leaves Next's order and data intact.
func TestReady(t *testing.T) {
	defer goleak.VerifyNone(t)
	objs, idx := objects(3)
	gates := map[string]chan struct{}{}
	for _, k := range idx {
		gates[k] = make(chan struct{})
	}
	ds := dataset.New(dataset.NewStore(gatedBackend{mem.New(objs), gates}), idx)
	l, err := loader.New(ds, loader.Options{Workers: 1, BatchSize: 1, Prefetch: 2, Warmup: -1})
	if err != nil {
		t.Fatal(err)
	}
	it, err := l.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	next := func(want int) {
		t.Helper()
		b, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		if got := b.Items[0].Index; got != want || !bytes.Equal(b.Items[0].Data, objs[idx[want]]) {
			t.Fatalf("Next = item %d, want item %d with its bytes", got, want)
		}
	}
	if it.Ready(1) {
		t.Error("Ready(1) before any read completed = true")
	}
	close(gates[idx[0]])
	next(0)
	if it.Ready(1) {
		t.Error("Ready(1) with batch 1 held back = true")
	}
	if it.Ready(2) {
		t.Error("Ready(2) with one worker = true, want false: a round is one batch per worker")
	}
	close(gates[idx[1]])
	deadline := time.Now().Add(10 * time.Second)
	for !it.Ready(1) {
		if time.Now().After(deadline) {
			t.Fatal("Ready(1) stayed false after batch 1 was read")
		}
		runtime.Gosched()
	}
	next(1)
	close(gates[idx[2]])
	next(2)
	if it.Ready(1) {
		t.Error("Ready(1) after the last batch = true")
	}
	if _, err := it.Next(); err != io.EOF {
		t.Errorf("Next after the last batch = %v, want io.EOF", err)
	}
}
