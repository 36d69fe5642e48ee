package loader_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/storagebench/storagebench/dataset"
	"github.com/storagebench/storagebench/dataset/mem"
	"github.com/storagebench/storagebench/fakes"
	"github.com/storagebench/storagebench/loader"
)

// testPolicy is a read policy with short timeouts and backoffs, so that
// the fault matrix runs in seconds: a stalled read times out after 300 ms.
var testPolicy = dataset.Policy{
	FirstByteTimeout: 300 * time.Millisecond,
	IdleTimeout:      300 * time.Millisecond,
	Backoff:          time.Millisecond,
	ThrottleBackoff:  2 * time.Millisecond,
	MaxBackoff:       10 * time.Millisecond,
}

// faultyDataset returns n items on mem behind an injector of spec, read
// under policy p.
func faultyDataset(tb testing.TB, n int, spec string, p dataset.Policy) (*dataset.Dataset, map[string][]byte, *fakes.Injector) {
	tb.Helper()
	f, err := fakes.ParseFaults(spec)
	if err != nil {
		tb.Fatal(err)
	}
	objs, idx := objects(n)
	in := fakes.NewInjector(f, 3)
	st, err := dataset.NewStore(in.Backend(mem.New(objs))).WithPolicy(p)
	if err != nil {
		tb.Fatal(err)
	}
	return dataset.New(st, idx), objs, in
}

// TestFaultMatrix reads every item of an index through each fault at 10%
// of reads, in both modes, under both schedulers, at several worker
// counts, failing on errors (with retries enough) and skipping them (with
// no retries): every item is delivered exactly once with its bytes, or is
// skipped, never both and never neither; the run ends within a bound, and
// leaves no goroutine behind.
func TestFaultMatrix(t *testing.T) {
	defer goleak.VerifyNone(t)
	const n, batch = 203, 8 // the last batch of an epoch is short
	const bound = 30 * time.Second
	t.Run("group", func(t *testing.T) {
		for _, fault := range fakes.AllFaults {
			for _, onerr := range []loader.OnError{loader.OnErrorFail, loader.OnErrorSkip} {
				for _, sched := range []loader.Scheduler{loader.SchedBatch, loader.SchedItem} {
					for _, mode := range []loader.Mode{loader.Sync, loader.Async} {
						for _, workers := range []int{1, 4} {
							name := fmt.Sprintf("%s/onerror=%s/sched=%s/mode=%s/workers=%d", fault, onerr, sched, mode, workers)
							t.Run(name, func(t *testing.T) {
								t.Parallel()
								p := testPolicy
								if onerr == loader.OnErrorSkip {
									p.Attempts = 1 // every fault fails its item
								}
								ds, objs, in := faultyDataset(t, n, string(fault)+":0.1", p)
								opts := loader.Options{Mode: mode, Workers: workers, BatchSize: batch, Warmup: -1, Item: itemOptions(sched), OnError: onerr}
								if mode == loader.Async {
									opts.FetchConcurrency = 4
								}
								ctx, cancel := context.WithTimeout(context.Background(), bound)
								defer cancel()
								seen := map[int]int{}
								start := time.Now()
								stats, err := load(ctx, ds, opts, func(b *loader.Batch) error {
									for _, item := range b.Items {
										seen[item.Index]++
										if item.Err != nil {
											return fmt.Errorf("item %d delivered with error %v", item.Index, item.Err)
										}
										if !bytes.Equal(item.Data, objs[ds.Key(item.Index)]) {
											return fmt.Errorf("item %d: %d bytes differ from the %d stored", item.Index, len(item.Data), len(objs[ds.Key(item.Index)]))
										}
									}
									return nil
								})
								if err != nil {
									t.Fatalf("run: %v (injected %v)", err, in.Injected())
								}
								if d := time.Since(start); d > bound/2 {
									t.Errorf("run took %v, want well under %v", d, bound)
								}
								for i, c := range seen {
									if c != 1 {
										t.Errorf("item %d delivered %d times", i, c)
									}
								}
								if int64(len(seen))+stats.Skipped != n || stats.Items != int64(len(seen)) {
									t.Errorf("%d items delivered, %d skipped, Stats.Items %d; want them to add up to the %d of the index", len(seen), stats.Skipped, stats.Items, n)
								}
								injected := in.Injected()[fault]
								if injected == 0 {
									t.Fatalf("no %s fault injected over %d reads at 10%%", fault, n)
								}
								failing := fault != fakes.FaultTrickle
								switch {
								case !failing:
									if stats.AttemptErrors != 0 || stats.Skipped != 0 || stats.Retries != 0 {
										t.Errorf("trickle: %d attempt errors, %d retries, %d skipped; want none", stats.AttemptErrors, stats.Retries, stats.Skipped)
									}
								case onerr == loader.OnErrorFail:
									// A healthy read that a loaded machine keeps from
									// its first byte for the whole timeout is retried
									// too: allow one or two.
									if stats.Retries < injected || stats.Retries > injected+2 || stats.AttemptErrors != stats.Retries || stats.RetryTime <= 0 {
										t.Errorf("%d faults injected: %d retries, %d attempt errors, %v retrying; want a retry per fault", injected, stats.Retries, stats.AttemptErrors, stats.RetryTime)
									}
								default:
									if stats.Skipped < injected || stats.Skipped > injected+2 || stats.Errors != stats.Skipped || stats.Retries != 0 {
										t.Errorf("%d faults injected, no retries: %d skipped, %d errors, %d retries; want a skipped item per fault", injected, stats.Skipped, stats.Errors, stats.Retries)
									}
								}
							})
						}
					}
				}
			}
		}
	})
}

// TestFaultFails checks that an item whose reads keep failing ends the
// run with an error naming its key, its attempts and the last cause, that
// a store failing every read spends the run's retry budget and ends the
// run within seconds, and that one throttling every read ends it after
// each read's throttled attempts.
func TestFaultFails(t *testing.T) {
	defer goleak.VerifyNone(t)
	for _, tc := range []struct {
		name     string
		spec     string
		attempts int
		want     []string
	}{
		{"attempts spent", "internal:1", 3, []string{`read "val/item_`, "3 attempts; last:", "500 InternalError"}},
		{"stalled", "stall:1", 2, []string{`read "val/item_`, "2 attempts; last:", "no first byte within 300ms"}},
		{"budget spent", "internal:1", 1000, []string{"retry budget was spent", "500 InternalError"}},
		// Throttling takes nothing from the budget in a run's first
		// seconds: each read gives up after its throttled attempts, 4 x
		// its attempts.
		{"throttled attempts spent", "slowdown:1", 2, []string{`read "val/item_`, "8 attempts; last:", "503 SlowDown"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := testPolicy
			p.Attempts = tc.attempts
			ds, _, _ := faultyDataset(t, 400, tc.spec, p)
			start := time.Now()
			_, err := load(context.Background(), ds, loader.Options{Mode: loader.Async, Workers: 2, BatchSize: 8, Warmup: -1}, func(*loader.Batch) error { return nil })
			if err == nil {
				t.Fatal("run succeeded, want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("failing run took %v, want seconds at most", d)
			}
		})
	}
}

// TestCancelStalled checks that cancelling a run whose reads stall stops
// it within a second, and that what was measured before is reported.
func TestCancelStalled(t *testing.T) {
	defer goleak.VerifyNone(t)
	for _, sched := range []loader.Scheduler{loader.SchedBatch, loader.SchedItem} {
		t.Run(string(sched), func(t *testing.T) {
			p := testPolicy
			p.FirstByteTimeout, p.IdleTimeout = time.Hour, time.Hour // only the cancel can end a stall
			ds, _, _ := faultyDataset(t, 400, "stall:0.2", p)
			ctx, cancel := context.WithCancel(context.Background())
			l, err := loader.New(ds, loader.Options{Mode: loader.Async, Workers: 2, BatchSize: 8, FetchConcurrency: 4, Warmup: -1, Item: itemOptions(sched), Epochs: -1})
			if err != nil {
				t.Fatal(err)
			}
			it, err := l.Start(ctx)
			if err != nil {
				t.Fatal(err)
			}
			delivered := 0
			for {
				ready := make(chan error, 1)
				go func() { _, err := it.Next(); ready <- err }()
				select {
				case err := <-ready:
					if err != nil {
						t.Fatalf("Next before the stall: %v", err)
					}
					delivered++
					continue
				case <-time.After(200 * time.Millisecond):
				}
				// The run is stalled: cancel it.
				t0 := time.Now()
				cancel()
				if err := <-ready; !errors.Is(err, context.Canceled) {
					t.Errorf("Next after cancel = %v, want context.Canceled", err)
				}
				err := it.Close()
				if d := time.Since(t0); d > time.Second {
					t.Errorf("the run stopped %v after the cancel, want within a second", d)
				}
				if !errors.Is(err, context.Canceled) {
					t.Errorf("Close = %v, want context.Canceled", err)
				}
				break
			}
			if s := it.Stats(); s.Items != int64(delivered*8) {
				t.Errorf("Stats.Items = %d, want the %d delivered before the cancel", s.Items, delivered*8)
			}
		})
	}
}

// TestTrickleHedged reads 400 items of 64 KiB on mem, 5% of whose bodies
// trickle at 64 KiB/s (their first byte after 62 ms, their last after a
// second), under the item scheduler hedging after a fixed 200 ms: no
// first byte is that late, so only a trickle's own hedge, 100 ms after its
// first byte (the least a read is overdue: healthy transfers take
// microseconds), races it. The hedges win, within the budget, and every
// item arrives once with its bytes.
func TestTrickleHedged(t *testing.T) {
	const n, size = 400, 64 << 10
	objs := make(map[string][]byte, n)
	idx := make(dataset.Index, n)
	for i := range idx {
		idx[i] = fmt.Sprintf("val/%04d.bin", i)
		objs[idx[i]] = bytes.Repeat([]byte{byte(i), byte(i >> 8), 0xa5, 0x5a}, size/4)
	}
	f, err := fakes.ParseFaults("trickle:0.05")
	if err != nil {
		t.Fatal(err)
	}
	in := fakes.NewInjector(f, 5)
	in.SetTrickleRate(64 << 10)
	st, err := dataset.NewStore(in.Backend(mem.New(objs))).WithPolicy(testPolicy)
	if err != nil {
		t.Fatal(err)
	}
	ds := dataset.New(st, idx)
	opts := loader.Options{Mode: loader.Async, Workers: 1, FetchConcurrency: 16, BatchSize: 16, Warmup: -1,
		Item: &loader.ItemOptions{Hedge: loader.Hedge{Delay: 200 * time.Millisecond}, HedgeBudget: 0.2}}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	seen := make([]int, n)
	stats, err := load(ctx, ds, opts, func(b *loader.Batch) error {
		for _, item := range b.Items {
			seen[item.Index]++
			if !bytes.Equal(item.Data, objs[idx[item.Index]]) {
				t.Errorf("%s: %d bytes differ from the %d stored", idx[item.Index], len(item.Data), size)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, k := range seen {
		if k != 1 {
			t.Errorf("%s delivered %d times, want once", idx[i], k)
		}
	}
	trickles := in.Injected()[fakes.FaultTrickle]
	if trickles < 5 || stats.HedgeWins < trickles/2 || float64(stats.Hedges) > 0.2*n {
		t.Errorf("%d trickles injected, %d hedges, %d won; want most trickles hedged and their hedges winning, within the budget of %v",
			trickles, stats.Hedges, stats.HedgeWins, 0.2*n)
	}
}
