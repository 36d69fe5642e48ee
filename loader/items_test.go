package loader_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"runtime/metrics"
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
								Item: &loader.ItemOptions{Hedge: hedge, HedgeBudget: 1}}
							st := checkRun(t, ds, objs, opts)
							o, _ := opts.Resolved()
							if st.HeldItemsPeak > int64(o.Item.Window) || st.HeldItemsPeak < 1 {
								t.Errorf("held %d items at the peak, want 1 to the window, %d", st.HeldItemsPeak, o.Item.Window)
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
				Item: &loader.ItemOptions{Hedge: loader.Hedge{Delay: time.Millisecond}, HedgeBudget: 1}}
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
		Item: &loader.ItemOptions{Hedge: loader.Hedge{Delay: 10 * time.Microsecond}}}
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
		{"window below a batch plus C", loader.Options{Mode: loader.Async, Workers: 2, BatchSize: 10, Item: &loader.ItemOptions{Window: 29}},
			"window 29 is smaller than one batch (10) plus the 20 reads in flight; want at least 30"},
		{"budget above 1", loader.Options{Item: &loader.ItemOptions{HedgeBudget: 1.5}}, "hedge budget 1.5"},
		{"percentile 100", loader.Options{Item: &loader.ItemOptions{Hedge: loader.Hedge{Percentile: 100}}}, "hedge percentile 100"},
		{"negative delay", loader.Options{Item: &loader.ItemOptions{Hedge: loader.Hedge{Delay: -time.Millisecond}}}, "hedge delay -1ms"},
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
				Item: &loader.ItemOptions{Hedge: loader.Hedge{Delay: time.Millisecond}}})
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

// hedgeWatch serves a backend's objects after a delay, fast, or slow for
// the first read of each key in slowKeys, and closes hedged once at reads
// have begun while another read of the same key was in flight: hedges.
type hedgeWatch struct {
	dataset.Backend
	fast, slow time.Duration
	slowKeys   map[string]bool
	at         int
	hedged     chan struct{}

	mu     sync.Mutex
	opened map[string]int // reads of each key begun
	open   map[string]int // reads of each key in flight
	hedges int
}

func (w *hedgeWatch) Open(ctx context.Context, key string) (io.ReadCloser, int64, error) {
	w.mu.Lock()
	w.opened[key]++
	d := w.fast
	if w.opened[key] == 1 && w.slowKeys[key] {
		d = w.slow
	}
	w.open[key]++
	if w.open[key] > 1 {
		if w.hedges++; w.hedges == w.at {
			close(w.hedged)
		}
	}
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		w.open[key]--
		w.mu.Unlock()
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return nil, 0, ctx.Err()
	}
	return w.Backend.Open(ctx, key)
}

// goroutinesCreated returns how many goroutines the program has created.
func goroutinesCreated(tb testing.TB) uint64 {
	tb.Helper()
	s := []metrics.Sample{{Name: "/sched/goroutines-created:goroutines"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		tb.Skipf("runtime/metrics has no %s", s[0].Name)
	}
	return s[0].Value.Uint64()
}

// TestHedgingEndsWithRun closes item-scheduled runs while they hedge,
// many times over, and checks that nothing of a run outlives it: no
// goroutine of the run is left once its group has returned (a hedge
// timer's callback that fired, a time.AfterFunc goroutine, would be), nor
// once Close has (goleak), and none starts after Close, as one would when
// a hedge timer left armed fired. Hedge delays are far below the slow
// reads' latency, so that each slow read in flight has a hedge waiting
// for its deadline, under way, or refused for now and waiting to ask
// again; the last case's delay is longer than Close takes, so that a
// deadline left behind would come after Close returned.
func TestHedgingEndsWithRun(t *testing.T) {
	defer goleak.VerifyNone(t)
	const n = 400
	objs, idx := objects(n)
	slowKeys := map[string]bool{}
	for i := 0; i < n; i += 3 {
		slowKeys[idx[i]] = true
	}
	sync8 := loader.Options{Mode: loader.Sync, Workers: 8, BatchSize: 4}
	async16 := loader.Options{Mode: loader.Async, Workers: 2, FetchConcurrency: 8, BatchSize: 8}
	with := func(o loader.Options, item loader.ItemOptions) loader.Options {
		o.Item = &item
		return o
	}
	fixed := loader.Hedge{Delay: 50 * time.Microsecond}
	for _, tc := range []struct {
		name       string
		opts       loader.Options
		fast, slow time.Duration // read latencies
		at         int           // Close once this many hedges have begun
		reps       int           // runs
	}{
		{"sync/budget=1", with(sync8, loader.ItemOptions{Hedge: fixed, HedgeBudget: 1}), time.Millisecond, 20 * time.Millisecond, 1, 10},
		{"async/budget=1", with(async16, loader.ItemOptions{Hedge: fixed, HedgeBudget: 1}), time.Millisecond, 20 * time.Millisecond, 20, 10},
		{"async/budget=0.1", with(async16, loader.ItemOptions{Hedge: fixed, HedgeBudget: 0.1}), time.Millisecond, 20 * time.Millisecond, 5, 10},
		{"async/window=batch+C", with(async16, loader.ItemOptions{Window: 24, Hedge: fixed, HedgeBudget: 1}), time.Millisecond, 20 * time.Millisecond, 5, 10},
		{"async/hedge=p50", with(async16, loader.ItemOptions{Hedge: loader.Hedge{Percentile: 50}, HedgeBudget: 1}), time.Millisecond, 20 * time.Millisecond, 5, 10},
		{"async/hedge=300ms", with(async16, loader.ItemOptions{Hedge: loader.Hedge{Delay: 300 * time.Millisecond}, HedgeBudget: 1}), time.Millisecond, time.Second, 1, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Longer than any deadline the run may have set at Close: a
			// hedge delay (at most the slowest read under a percentile),
			// or the wait of a refused hedge. It bounds what the test can
			// see, not when it may go on.
			observe := 2 * max(tc.opts.Item.Hedge.Delay, 10*time.Millisecond)
			if tc.opts.Item.Hedge.Percentile > 0 {
				observe = 2 * tc.slow
			}
			for rep := range tc.reps {
				ignore := goleak.IgnoreCurrent()
				w := &hedgeWatch{Backend: mem.New(objs), fast: tc.fast, slow: tc.slow, slowKeys: slowKeys, at: tc.at,
					hedged: make(chan struct{}), opened: map[string]int{}, open: map[string]int{}}
				ds := dataset.New(dataset.NewStore(w), idx)
				opts := tc.opts
				opts.Epochs, opts.Warmup = -1, -1
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				it := start(t, ctx, ds, opts)
			consume:
				for {
					select {
					case <-w.hedged:
						break consume
					default:
					}
					if _, err := it.Next(); err != nil {
						t.Fatalf("run %d: Next = %v before %d hedges began", rep, err, tc.at)
					}
				}
				// The instant the run's group has returned, before Close
				// takes its time over the Stats, no goroutine of the run may
				// be left: not even a timer's callback that fired.
				it.StopAndWait()
				if g := loaderGoroutines(); len(g) > 0 {
					t.Fatalf("run %d: %d goroutines of the run outlive its group, first:\n%s", rep, len(g), g[0])
				}
				if err := it.Close(); err != nil {
					t.Fatalf("run %d: Close = %v, want nil", rep, err)
				}
				created := goroutinesCreated(t)
				goleak.VerifyNone(t, ignore)
				<-time.After(observe)
				if d := goroutinesCreated(t) - created; d != 0 {
					t.Fatalf("run %d: %d goroutines started within %v after Close returned, want none", rep, d, observe)
				}
				if st := it.Stats(); st.Hedges == 0 {
					t.Errorf("run %d: no hedge counted, want some", rep)
				}
			}
		})
	}
}

// countingOpens counts the reads a backend has started, and closes
// reached once they reach at.
type countingOpens struct {
	dataset.Backend
	mu      sync.Mutex
	n, at   int
	reached chan struct{}
}

func (c *countingOpens) Open(ctx context.Context, key string) (io.ReadCloser, int64, error) {
	c.mu.Lock()
	c.n++
	if c.n == c.at {
		close(c.reached)
	}
	c.mu.Unlock()
	return c.Backend.Open(ctx, key)
}

// TestItemWindowBytes checks the item scheduler's byte budget: with items
// of 16 KiB, a window of 400 items and a budget of 40 items' bytes, the
// items held never take more than the budget or a batch plus C items,
// whichever is more, plus one item; with no budget the same run reads
// ahead past that, so that the bound is what the budget keeps. The
// consumer takes its first batch only once the loader has read
// ahead as far as it may.
func TestItemWindowBytes(t *testing.T) {
	const (
		n, size       = 600, 16 << 10
		batch, window = 10, 400
		budget        = 40 * size
	)
	objs := make(map[string][]byte, n)
	idx := make(dataset.Index, n)
	for i := range n {
		key := fmt.Sprintf("val/item_%05d.bin", i)
		objs[key], idx[i] = bytes.Repeat([]byte{byte(i)}, size), key
	}
	for _, tc := range []struct {
		name        string
		mode        loader.Mode
		workers     int
		windowBytes int64
	}{
		{"sync/budget", loader.Sync, 2, budget},
		{"async/budget", loader.Async, 4, budget},
		{"sync/none", loader.Sync, 2, -1},
		{"async/none", loader.Async, 4, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
			opts := loader.Options{Mode: tc.mode, Workers: tc.workers, BatchSize: batch, Warmup: -1,
				Item: &loader.ItemOptions{Window: window, WindowBytes: tc.windowBytes}}
			c := opts.InFlight()
			bound := int64(max(budget, (batch+c)*size) + size)
			be := &countingOpens{Backend: mem.New(objs), reached: make(chan struct{})}
			if tc.windowBytes < 0 {
				// Without a budget, the loader reads ahead as far as
				// the window: past the bound, by the time it has opened
				// C more items than that (at most C are still open).
				be.at = int(bound/size) + 1 + c
			} else {
				close(be.reached)
			}
			ds := dataset.New(dataset.NewStore(be), idx)
			first := true
			st, err := load(t.Context(), ds, opts, func(b *loader.Batch) error {
				if first {
					first = false
					<-be.reached
				}
				for _, it := range b.Items {
					if want := objs[idx[it.Index]]; !bytes.Equal(it.Data, want) {
						return fmt.Errorf("item %d: %d bytes, want its %d", it.Index, len(it.Data), len(want))
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if st.Items != n {
				t.Errorf("%d items delivered, want %d", st.Items, n)
			}
			capped := st.HeldBytesPeak <= bound
			if want := tc.windowBytes > 0; capped != want {
				t.Errorf("held %d bytes at the peak (%d items); a budget of %d bytes with a batch of %d and C = %d bounds it at %d, want within it: %v",
					st.HeldBytesPeak, st.HeldItemsPeak, tc.windowBytes, batch, c, bound, want)
			}
		})
	}
}

// TestBuffersMade checks what a consumer that waits for a steady state
// reads: the item window counts the buffers it makes, one for each of its
// buffers that held a body (at least a batch's), at most the window when
// every body fits the smallest buffer, and at most one more an epoch for
// a body larger than any free buffer; the batch scheduler counts none.
func TestBuffersMade(t *testing.T) {
	defer goleak.VerifyNone(t)
	small, idx := objects(40) // all under bufring.MinBuffer
	large := maps.Clone(small)
	large[idx[7]] = bytes.Repeat([]byte{7}, 1<<20)
	const window = 16
	for _, tc := range []struct {
		name     string
		objs     map[string][]byte
		item     *loader.ItemOptions
		min, max int64
	}{
		{"batch scheduler", small, nil, 0, 0},
		{"item window, small bodies", small, &loader.ItemOptions{Window: window}, 4, window},
		{"item window, one large body", large, &loader.ItemOptions{Window: window}, 4, window + 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ds := dataset.New(dataset.NewStore(mem.New(tc.objs)), idx)
			l, err := loader.New(ds, loader.Options{Workers: 2, BatchSize: 4, Prefetch: 2, Item: tc.item, Epochs: 4, Warmup: -1})
			if err != nil {
				t.Fatal(err)
			}
			it, err := l.Start(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			defer it.Close()
			for {
				b, err := it.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				for _, item := range b.Items {
					if !bytes.Equal(item.Data, tc.objs[idx[item.Index]]) {
						t.Fatalf("item %d: %d bytes, not its own %d", item.Index, len(item.Data), len(tc.objs[idx[item.Index]]))
					}
				}
			}
			if got := it.BuffersMade(); got < tc.min || got > tc.max {
				t.Errorf("BuffersMade() = %d after 4 epochs of 40 items, want %d to %d", got, tc.min, tc.max)
			}
		})
	}
}
