package loader_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/storagebench/storagebench/dataset"
	"github.com/storagebench/storagebench/dataset/mem"
	"github.com/storagebench/storagebench/dataset/wds"
	"github.com/storagebench/storagebench/fakes"
	"github.com/storagebench/storagebench/loader"
)

// parts returns the requests an item of size bytes takes in parts of
// part bytes: at least one.
func parts(size, part int) int { return max((size+part-1)/part, 1) }

// TestParts reads every item in parts on every backend, in both modes, at
// part sizes that split the items into up to six parts, or none, and
// checks each item's exact bytes, delivered once, and that the parts
// beyond each item's first are counted as requests.
func TestParts(t *testing.T) {
	const n, batch = 97, 8
	objs, idx := objects(n)
	for _, be := range backends {
		b := be.make(t, objs)
		for _, mode := range []loader.Mode{loader.Sync, loader.Async} {
			for _, workers := range []int{1, 3} {
				for _, part := range []int{700, 4096} {
					name := fmt.Sprintf("%s/mode=%s/workers=%d/part=%d", be.name, mode, workers, part)
					t.Run(name, func(t *testing.T) {
						ds := dataset.New(dataset.NewStore(b), idx)
						opts := loader.Options{Mode: mode, Workers: workers, BatchSize: batch, Part: int64(part)}
						if mode == loader.Async {
							opts.FetchConcurrency = 4
						}
						seen := map[int]int{}
						stats, err := load(context.Background(), ds, opts, func(b *loader.Batch) error {
							for _, item := range b.Items {
								seen[item.Index]++
								if want := objs[ds.Key(item.Index)]; !bytes.Equal(item.Data, want) {
									return fmt.Errorf("item %d (%s): %d bytes differ from the %d stored", item.Index, ds.Key(item.Index), len(item.Data), len(want))
								}
							}
							return nil
						})
						if err != nil {
							t.Fatal(err)
						}
						wantParts := 0
						for _, k := range idx {
							wantParts += parts(len(objs[k]), part) - 1
						}
						if len(seen) != n || stats.Items != n || stats.Fetched != n {
							t.Errorf("%d items seen, Stats.Items %d, Fetched %d; want %d", len(seen), stats.Items, stats.Fetched, n)
						}
						for i, c := range seen {
							if c != 1 {
								t.Errorf("item %d delivered %d times", i, c)
							}
						}
						if stats.PartReads != int64(wantParts) {
							t.Errorf("Stats.PartReads = %d, want %d, the parts beyond each item's first", stats.PartReads, wantParts)
						}
						if part == 700 && wantParts == 0 {
							t.Fatal("no item larger than a part: the test reads nothing in parts")
						}
						if stats.Levels[loader.TTFB].Count != n || stats.Levels[loader.GetItem].Count != n {
							t.Errorf("levels count %d ttfb and %d getitem, want an item's each: %d", stats.Levels[loader.TTFB].Count, stats.Levels[loader.GetItem].Count, n)
						}
					})
				}
			}
		}
	}
}

// TestPartsInFlight checks that an item's parts are read at once by the
// worker's fetchers, and never more than them: one item of 16 parts,
// whose parts after the first are held until as many are in flight as
// there are fetchers (so a loader reading them one by one never ends).
func TestPartsInFlight(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), 1024) // 16 KiB
	for _, fetch := range []int{1, 4, 8} {
		t.Run(fmt.Sprintf("fetch=%d", fetch), func(t *testing.T) {
			want := min(fetch, 15)
			cb := &countingBackend{b: mem.New(map[string][]byte{"big": data}), hold: want, released: make(chan struct{})}
			ds := dataset.New(dataset.NewStore(cb), dataset.Index{"big"})
			opts := loader.Options{Mode: loader.Async, Workers: 1, FetchConcurrency: fetch, BatchSize: 1, Part: 1024, Warmup: -1}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			var got []byte
			stats, err := load(ctx, ds, opts, func(b *loader.Batch) error {
				got = append(got, b.Items[0].Data...)
				return nil
			})
			if err != nil {
				t.Fatalf("%v (%d parts were in flight at most, want %d at once)", err, cb.peak.Load(), want)
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("item read in parts: %d bytes, want the %d stored", len(got), len(data))
			}
			if stats.PartReads != 15 {
				t.Errorf("Stats.PartReads = %d, want 15", stats.PartReads)
			}
			if peak := cb.peak.Load(); peak != int64(want) {
				t.Errorf("at most %d reads in flight, want %d: the fetchers, no more", peak, want)
			}
		})
	}
}

// TestPartsFaults reads items in parts through every fault at 10% of
// requests, failing on errors with retries enough, and skipping them with
// none: every item is delivered once with its bytes, or skipped.
func TestPartsFaults(t *testing.T) {
	defer goleak.VerifyNone(t)
	const n = 120
	for _, fault := range fakes.AllFaults {
		for _, onerr := range []loader.OnError{loader.OnErrorFail, loader.OnErrorSkip} {
			t.Run(fmt.Sprintf("%s/onerror=%s", fault, onerr), func(t *testing.T) {
				t.Parallel()
				p := testPolicy
				if onerr == loader.OnErrorSkip {
					p.Attempts = 1
				}
				ds, objs, in := faultyDataset(t, n, string(fault)+":0.1", p)
				opts := loader.Options{Mode: loader.Async, Workers: 2, FetchConcurrency: 4, BatchSize: 8, Warmup: -1, OnError: onerr, Part: 1000}
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				seen := map[int]int{}
				stats, err := load(ctx, ds, opts, func(b *loader.Batch) error {
					for _, item := range b.Items {
						seen[item.Index]++
						if want := objs[ds.Key(item.Index)]; item.Err != nil || !bytes.Equal(item.Data, want) {
							return fmt.Errorf("item %d: %d bytes, error %v; want the %d stored", item.Index, len(item.Data), item.Err, len(want))
						}
					}
					return nil
				})
				if err != nil {
					t.Fatalf("run: %v (injected %v)", err, in.Injected())
				}
				if in.Injected()[fault] == 0 {
					t.Fatalf("no %s fault injected", fault)
				}
				if int64(len(seen))+stats.Skipped != n {
					t.Errorf("%d items delivered, %d skipped; want them to add up to %d", len(seen), stats.Skipped, n)
				}
				for i, c := range seen {
					if c != 1 {
						t.Errorf("item %d delivered %d times", i, c)
					}
				}
				if onerr == loader.OnErrorSkip && fault != fakes.FaultTrickle && stats.Skipped == 0 {
					t.Errorf("no item skipped with %d faults and no retries", in.Injected()[fault])
				}
			})
		}
	}
}

// TestPartsRefused checks the options and datasets a run in parts
// refuses, each with an error saying why.
func TestPartsRefused(t *testing.T) {
	objs, idx := objects(10)
	ds := dataset.New(dataset.NewStore(mem.New(objs)), idx)
	set, err := wds.NewSet([]wds.Shard{{Key: "a.tar", Size: 1024, Samples: []wds.Sample{{Key: "x", Off: 0, End: 522, Members: []wds.Member{{Ext: "jpg", Off: 512, Size: 10}}}}}})
	if err != nil {
		t.Fatal(err)
	}
	samples := dataset.NewItems(ds.Store(), dataset.Index{"a.tar"}, wds.Ranged(set))
	for _, tc := range []struct {
		name string
		ds   *dataset.Dataset
		opts loader.Options
		want string
	}{
		{"negative", ds, loader.Options{Part: -1}, "part of -1 bytes"},
		{"item scheduler", ds, loader.Options{Part: 1 << 20, Item: &loader.ItemOptions{}}, "batch scheduler"},
		{"samples of shards", samples, loader.Options{Part: 1 << 20}, "ranges of its objects"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loader.New(tc.ds, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New with %s: %v, want an error saying %q", tc.name, err, tc.want)
			}
		})
	}
}

// countingBackend counts the reads of b in flight, from OpenRange to
// Close, and their peak. With hold set, a read of a range past an
// object's start waits until hold reads are in flight at once, or its
// context ends.
type countingBackend struct {
	b              dataset.Backend
	inFlight, peak atomic.Int64
	hold           int
	released       chan struct{}
	once           sync.Once
}

func (c *countingBackend) Open(ctx context.Context, key string) (io.ReadCloser, int64, error) {
	return c.OpenRange(ctx, key, 0, -1)
}

func (c *countingBackend) OpenRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, int64, error) {
	rc, size, err := dataset.OpenRange(ctx, c.b, key, off, n)
	if err != nil {
		return nil, 0, err
	}
	now := c.inFlight.Add(1)
	for p := c.peak.Load(); now > p && !c.peak.CompareAndSwap(p, now); p = c.peak.Load() {
	}
	r := &countedReader{ReadCloser: rc, c: c}
	if c.hold > 0 && off > 0 {
		if now >= int64(c.hold) {
			c.once.Do(func() { close(c.released) })
		}
		select {
		case <-c.released:
		case <-ctx.Done():
			r.Close()
			return nil, 0, ctx.Err()
		}
	}
	return r, size, nil
}

type countedReader struct {
	io.ReadCloser
	c    *countingBackend
	once sync.Once
}

func (r *countedReader) Close() error {
	r.once.Do(func() { r.c.inFlight.Add(-1) })
	return r.ReadCloser.Close()
}
