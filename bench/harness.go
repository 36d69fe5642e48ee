package bench

import (
	"context"
	"fmt"
	"image"
	"io"
	"runtime"
	"sync"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/storagebench/storagebench/fakes"
	"github.com/storagebench/storagebench/loader"
)

// LoadCase is one point of the Load matrix.
type LoadCase struct {
	Profile fakes.Profile
	Options loader.Options
	// Deep checks the content of every item read, not only its length;
	// tests set it, benchmarks check lengths.
	Deep bool
}

// RunLoad benchmarks the loader on src. One op is one item delivered to
// the consumer. The loader's warm-up reads and the filling of its pipeline
// (a batch from each of its batch slots) run before the timer starts and
// are not counted; the run is then measured in steady state. Every item is checked
// against src. After the loop it reports items/s, every level's mean,
// median, min, max and p99, the bound and the efficiency.
func RunLoad(b *testing.B, src *Source, c LoadCase) {
	ctx := context.Background()
	opts := c.Options
	opts.Epochs = -1
	opts, err := opts.Resolved()
	if err != nil {
		b.Fatal(err)
	}
	inFlight := opts.InFlight()
	// The raw readers hold as many items as the loader's batch slots do.
	raw, err := src.RawRate(ctx, inFlight, opts.Workers*opts.Prefetch*opts.BatchSize)
	if err != nil {
		b.Fatalf("raw baseline at concurrency %d: %v", inFlight, err)
	}
	ds, restore, err := src.Dataset(c.Profile, 1)
	if err != nil {
		b.Fatal(err)
	}
	defer restore()
	l, err := loader.New(ds, opts)
	if err != nil {
		b.Fatal(err)
	}
	runtime.GC() // not to pay for what ran before
	mem := startRSS()
	it, err := l.Start(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer it.Close()
	// Fill the pipeline and drain what it held at the start: consume every
	// batch slot once (workers x prefetch batches), so the timed run begins
	// in steady state, with no head start from batches fetched before it.
	con := consumer{it: it, src: src, deep: c.Deep}
	for range opts.Workers * opts.Prefetch * opts.BatchSize {
		if _, err := con.next(); err != nil {
			b.Fatal(err)
		}
	}
	con.pos = len(con.batch.Items) // start the timed run on a batch boundary
	it.ResetStats()
	con.bytes = 0
	b.SetBytes(int64(src.MeanSize()))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := con.next(); err != nil {
			b.Fatal(err)
		}
	}
	if err := it.Close(); err != nil {
		b.Fatal(err)
	}
	st := it.Stats()
	// Items reach the consumer a batch at a time, and batches of several
	// workers in bursts, so over a run of a few batch periods the count of
	// items consumed (and ns/op) depends on where the loop happened to
	// stop. Reads complete one at a time: in steady state their rate is the
	// delivery rate, and it is steady over short runs too.
	rate := st.FetchedPerSecond()
	b.ReportMetric(rate, "items/s")
	if run, fetch := st.Levels[loader.Run].Max, st.Levels[loader.Fetch].Mean; run < 10*fetch {
		b.Logf("the run (%v) spans fewer than 10 batch fetches (%v each): batches arrive in bursts, so ns/op is rough; use a longer -benchtime", run, fetch)
	}
	reportLevels(b, st, opts.Decode == loader.DecodeJPEG)
	// The bound: with inFlight requests in flight and a mean item latency
	// lat (time to first byte plus transfer, decoding excluded), storage
	// serves at most inFlight/lat items a second, and never more than the
	// raw baseline reaches at that concurrency with no added latency.
	lat := st.Levels[loader.TTFB].Mean + st.Levels[loader.Read].Mean
	bound := raw
	if lat > 0 {
		bound = min(float64(inFlight)/lat.Seconds(), raw)
	}
	b.ReportMetric(float64(inFlight), "inflight")
	b.ReportMetric(raw, "raw-items/s")
	b.ReportMetric(bound, "bound-items/s")
	b.ReportMetric(rate/bound, "efficiency")
	b.ReportMetric(float64(con.bytes)/float64(b.N), "B/item")
	if start, peak, ok := mem.Stop(); ok {
		b.ReportMetric(float64(start), "start-rss-B")
		b.ReportMetric(float64(peak), "peak-rss-B")
	}
}

// consumer takes items one at a time from a run and checks each.
type consumer struct {
	it    *loader.Iter
	src   *Source
	deep  bool
	batch *loader.Batch
	pos   int
	bytes int64
}

// next returns the next item, fetching the next batch when needed.
func (c *consumer) next() (*loader.Item, error) {
	if c.batch == nil || c.pos == len(c.batch.Items) {
		b, err := c.it.Next()
		if err == io.EOF {
			return nil, fmt.Errorf("run ended early")
		}
		if err != nil {
			return nil, err
		}
		c.batch, c.pos = b, 0
	}
	item := &c.batch.Items[c.pos]
	c.pos++
	if err := c.src.Check(item.Index, item.Data, c.deep); err != nil {
		return nil, err
	}
	c.bytes += int64(len(item.Data))
	return item, nil
}

// statNames are the statistics reported for each level.
var statNames = []string{"mean", "median", "min", "max", "p99"}

// reportLevels reports, for each level that recorded anything, its mean,
// median, min, max and p99 in nanoseconds as "<level>-<stat>-ns", a unit
// benchstat scales to seconds.
func reportLevels(b *testing.B, st loader.Stats, decoded bool) {
	for l := range loader.NumLevels {
		s := st.Levels[l]
		if s.Count == 0 || l == loader.Decode && !decoded {
			continue
		}
		for i, v := range []time.Duration{s.Mean, s.Median, s.Min, s.Max, s.P99} {
			b.ReportMetric(float64(v.Nanoseconds()), fmt.Sprintf("%s-%s-ns", l, statNames[i]))
		}
	}
}

// RawHold is how many items the readers of BenchmarkRaw hold in all: as
// many as the default loader's batch slots.
const RawHold = loader.DefaultWorkers * loader.DefaultPrefetch * loader.DefaultBatchSize

// RunRaw benchmarks c goroutines reading src straight from its backend
// behind profile p, holding RawHold items: the raw baseline. One op is one
// item read.
func RunRaw(b *testing.B, src *Source, p fakes.Profile, c int) {
	ctx := context.Background()
	ds, restore, err := src.Dataset(p, 1)
	if err != nil {
		b.Fatal(err)
	}
	defer restore()
	r := newRawReader(src, ds, c, RawHold)
	if err := r.warm(ctx); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(src.MeanSize()))
	b.ReportAllocs()
	b.ResetTimer()
	n, err := r.read(ctx, b.N, 0)
	if err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if n != int64(b.N) {
		b.Fatalf("read %d items, want %d", n, b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "items/s")
}

// RunDecode benchmarks c goroutines decoding the source's items from
// memory, as the loader's DecodeJPEG does: what decoding alone reaches on
// this machine. One op is one item decoded.
func RunDecode(b *testing.B, src *Source, c int) {
	if src.Content == nil {
		b.Fatalf("backend %s: decoding needs items in memory", src.Name)
	}
	items := make([][]byte, len(src.Index))
	for i := range items {
		items[i] = src.Content(i)
	}
	var mu sync.Mutex
	next := 0
	b.SetBytes(int64(src.MeanSize()))
	b.ReportAllocs()
	b.ResetTimer()
	var g errgroup.Group
	for range c {
		g.Go(func() error {
			var dst *image.Gray
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= b.N {
					return nil
				}
				var err error
				if dst, err = loader.DecodeGray(items[i%len(items)], dst); err != nil {
					return fmt.Errorf("item %q: %w", src.Index[i%len(items)], err)
				}
			}
		})
	}
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "items/s")
}
