package loader_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/storagebench/storagebench/dataset"
	"github.com/storagebench/storagebench/dataset/mem"
	"github.com/storagebench/storagebench/loader"
)

// TestItemSchedulerOncePerEpoch checks the item scheduler as
// TestEveryItemOncePerEpoch checks the batch scheduler: every backend,
// both modes, 1 to 32 workers, batch sizes that do and do not divide the
// index, with and without shuffling; without hedging, and with hedges
// started after a microsecond for every item the budget allows, so that
// first reads and hedges race; exactly once, in order, the right bytes,
// and no goroutine left behind.
func TestItemSchedulerOncePerEpoch(t *testing.T) {
	const n, epochs = 100, 2
	objs, idx := objects(n)
	for _, be := range backends {
		ds := dataset.New(dataset.NewStore(be.make(t, objs)), idx)
		for _, hedge := range []loader.Hedge{{}, {Delay: time.Microsecond}} {
			for _, mode := range []loader.Mode{loader.Sync, loader.Async} {
				for _, workers := range []int{1, 3, 8, 32} {
					for _, batch := range []int{1, 7, 25} {
						shuffle := (workers+batch)%2 == 0
						name := fmt.Sprintf("backend=%s/hedge=%s/mode=%s/workers=%d/batch=%d/shuffle=%v", be.name, hedge, mode, workers, batch, shuffle)
						t.Run(name, func(t *testing.T) {
							t.Parallel()
							opts := loader.Options{Mode: mode, Workers: workers, BatchSize: batch, Epochs: epochs, Shuffle: shuffle, Seed: 42, Warmup: -1,
								Scheduler: loader.SchedItem, Hedge: hedge, HedgeBudget: 1}
							st := checkRun(t, ds, objs, opts)
							o, _ := opts.Resolved()
							if st.HeldItemsPeak > int64(o.Window) || st.HeldItemsPeak < 1 {
								t.Errorf("held %d items at the peak, want 1 to the window, %d", st.HeldItemsPeak, o.Window)
							}
							if hedge.IsZero() && st.Hedges != 0 {
								t.Errorf("%d hedges with hedging off", st.Hedges)
							}
							if st.HedgeWins > st.Hedges {
								t.Errorf("%d hedges won of %d", st.HedgeWins, st.Hedges)
							}
						})
					}
				}
			}
		}
	}
}

// slowFirst serves mem's objects, except that the first read of each
// slow key waits until its context is done (or, failing that, ten
// seconds) and then returns wrong bytes, so that only a hedge can deliver
// the item and a loser's bytes would show. It counts the first reads that
// ended cancelled.
type slowFirst struct {
	dataset.Backend
	slow      map[string]bool
	mu        sync.Mutex
	opened    map[string]int
	cancelled int
}

func (s *slowFirst) Open(ctx context.Context, key string) (io.ReadCloser, int64, error) {
	s.mu.Lock()
	s.opened[key]++
	first := s.opened[key] == 1
	s.mu.Unlock()
	if !first || !s.slow[key] {
		return s.Backend.Open(ctx, key)
	}
	select {
	case <-ctx.Done():
		s.mu.Lock()
		s.cancelled++
		s.mu.Unlock()
	case <-time.After(10 * time.Second):
	}
	// A response that would be wrong if it were ever delivered.
	return io.NopCloser(strings.NewReader("the loser's bytes")), 17, nil
}

// TestHedgeLoserCancelled makes the first read of one item in 25 hang:
// each such item must be delivered by its hedge, with the hedge's bytes,
// and its first read cancelled, its buffer returned, nothing left running.
// Hedges share the C fetchers, so the slow items are further apart than
// the window reaches, for a fetcher to be free to run their hedges.
func TestHedgeLoserCancelled(t *testing.T) {
	defer goleak.VerifyNone(t)
	const n = 60
	objs, idx := objects(n)
	be := &slowFirst{Backend: mem.New(objs), slow: map[string]bool{}, opened: map[string]int{}}
	for i := 5; i < n; i += 25 {
		be.slow[idx[i]] = true
	}
	ds := dataset.New(dataset.NewStore(be), idx)
	for _, mode := range []loader.Mode{loader.Sync, loader.Async} {
		t.Run(string(mode), func(t *testing.T) {
			be.mu.Lock()
			clear(be.opened)
			be.cancelled = 0
			be.mu.Unlock()
			opts := loader.Options{Mode: mode, Workers: 4, BatchSize: 10, Epochs: 1, Warmup: -1,
				Scheduler: loader.SchedItem, Hedge: loader.Hedge{Delay: time.Millisecond}, HedgeBudget: 1}
			if mode == loader.Async {
				opts.Workers, opts.FetchConcurrency = 2, 3
			}
			st := checkRun(t, ds, objs, opts)
			slow := int64(len(be.slow))
			if st.Hedges < slow || st.HedgeWins < slow {
				t.Errorf("%d hedges, %d won; want at least %d of each", st.Hedges, st.HedgeWins, slow)
			}
			be.mu.Lock()
			defer be.mu.Unlock()
			if be.cancelled != len(be.slow) {
				t.Errorf("%d slow first reads cancelled, want %d", be.cancelled, len(be.slow))
			}
			for k := range be.slow {
				if c := be.opened[k]; c != 2 {
					t.Errorf("%s opened %d times, want 2: the first read and its hedge", k, c)
				}
			}
		})
	}
}

// TestHedgeBudget checks that hedges stay within their budget when every
// first read is slow.
func TestHedgeBudget(t *testing.T) {
	const n = 200
	objs, idx := objects(n)
	ds := dataset.New(dataset.NewStore(delayed{mem.New(objs), 2 * time.Millisecond}), idx)
	opts := loader.Options{Mode: loader.Async, Workers: 2, BatchSize: 10, Epochs: 1, Warmup: -1, FetchConcurrency: 5,
		Scheduler: loader.SchedItem, Hedge: loader.Hedge{Delay: 10 * time.Microsecond}}
	st := checkRun(t, ds, objs, opts)
	if st.Hedges > n/10 || st.Hedges == 0 {
		t.Errorf("%d hedges over %d items, want some and at most 10%%", st.Hedges, n)
	}
	if got := float64(st.ReadTime) / float64(st.Elapsed) / float64(st.InFlight); got > 1.05 || got < 0.3 {
		t.Errorf("reads in flight %.2f of C, want a fraction up to 1", got)
	}
}

// delayed serves a backend's objects after a fixed delay.
type delayed struct {
	dataset.Backend
	d time.Duration
}

func (d delayed) Open(ctx context.Context, key string) (io.ReadCloser, int64, error) {
	select {
	case <-time.After(d.d):
	case <-ctx.Done():
		return nil, 0, ctx.Err()
	}
	return d.Backend.Open(ctx, key)
}

func TestSchedulerOptionErrors(t *testing.T) {
	objs, idx := objects(10)
	ds := dataset.New(dataset.NewStore(mem.New(objs)), idx)
	for _, tc := range []struct {
		name string
		opts loader.Options
		want string
	}{
		{"window with the batch scheduler", loader.Options{Window: 100}, "window 100 given with the batch scheduler"},
		{"hedge with the batch scheduler", loader.Options{Hedge: loader.Hedge{Percentile: 90}}, "hedge p90 given with the batch scheduler"},
		{"window below a batch plus C", loader.Options{Scheduler: loader.SchedItem, Mode: loader.Async, Workers: 2, BatchSize: 10, Window: 29},
			"window 29 is smaller than one batch (10) plus the 20 reads in flight; want at least 30"},
		{"bad scheduler", loader.Options{Scheduler: "fifo"}, `unknown scheduler "fifo"`},
		{"budget above 1", loader.Options{Scheduler: loader.SchedItem, HedgeBudget: 1.5}, "hedge budget 1.5"},
		{"percentile 100", loader.Options{Scheduler: loader.SchedItem, Hedge: loader.Hedge{Percentile: 100}}, "hedge percentile 100"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loader.New(ds, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestParseHedge(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want loader.Hedge
		err  bool
	}{
		{"off", loader.Hedge{}, false},
		{"20ms", loader.Hedge{Delay: 20 * time.Millisecond}, false},
		{"p90", loader.Hedge{Percentile: 90}, false},
		{"p99.9", loader.Hedge{Percentile: 99.9}, false},
		{"p100", loader.Hedge{}, true},
		{"p0", loader.Hedge{}, true},
		{"-1ms", loader.Hedge{}, true},
		{"soon", loader.Hedge{}, true},
	} {
		got, err := loader.ParseHedge(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("ParseHedge(%q) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.err)
		}
		if err == nil && got.String() != tc.in {
			t.Errorf("ParseHedge(%q).String() = %q", tc.in, got.String())
		}
	}
}

// TestItemSchedulerStops checks that an item-scheduled run, hedging,
// stops cleanly when closed early and when a read fails.
func TestItemSchedulerStops(t *testing.T) {
	defer goleak.VerifyNone(t)
	objs, idx := objects(50)
	for _, tc := range []struct {
		name string
		fail string
	}{{"closed early", ""}, {"read error", idx[17]}} {
		t.Run(tc.name, func(t *testing.T) {
			be := faultyBackend{Backend: mem.New(objs), serve: map[string]bool{}, fail: tc.fail}
			for _, k := range idx[:30] {
				be.serve[k] = true
			}
			ds := dataset.New(dataset.NewStore(be), idx)
			l, err := loader.New(ds, loader.Options{Mode: loader.Async, Workers: 2, BatchSize: 5, FetchConcurrency: 3, Warmup: -1,
				Scheduler: loader.SchedItem, Hedge: loader.Hedge{Delay: time.Millisecond}})
			if err != nil {
				t.Fatal(err)
			}
			it, err := l.Start(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			// Closed early: after three batches. A read error: batch 3
			// holds the failing item, so Next must fail by then, however
			// the reads and the consumer interleave.
			batches := 3
			if tc.fail != "" {
				batches = 5
			}
			var nextErr error
			for range batches {
				var b *loader.Batch
				if b, nextErr = it.Next(); nextErr != nil {
					break
				}
				for _, item := range b.Items {
					if !bytes.Equal(item.Data, objs[ds.Key(item.Index)]) {
						t.Errorf("item %d: wrong bytes", item.Index)
					}
				}
			}
			cerr := it.Close()
			if tc.fail == "" {
				if nextErr != nil || cerr != nil {
					t.Errorf("Next = %v, Close = %v; want nil", nextErr, cerr)
				}
				return
			}
			if !errors.Is(nextErr, errBoom) || !errors.Is(cerr, errBoom) {
				t.Errorf("Next = %v, Close = %v; want %v", nextErr, cerr, errBoom)
			}
		})
	}
}
