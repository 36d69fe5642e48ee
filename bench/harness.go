package bench

import (
	"context"
	"fmt"
	"image"
	"io"
	"math"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/storagebench/storagebench/dataset"
	"github.com/storagebench/storagebench/fakes"
	"github.com/storagebench/storagebench/loader"
	"github.com/storagebench/storagebench/results"
)

// LoadCase is one point of the Load matrix.
type LoadCase struct {
	Profile fakes.Profile
	Faults  fakes.Faults // injected into reads; none when nil
	Options loader.Options
	// Deep checks the content of every item read, not only its length;
	// tests set it, benchmarks check lengths.
	Deep bool
	// Rank, in a run of many processes, is this one's: the run reads the
	// rank's shard of every epoch (Options.Shard is set from it), starts
	// with the other ranks and is recorded on its timeline. Nil for a
	// process of its own.
	Rank *Rank
}

// RunLoad benchmarks the loader on src. One op is one item delivered to
// the consumer, so ns/op is the time per item and items/s its inverse.
//
// The loader's warm-up reads and the filling of its pipeline run before
// the timer starts and are never counted: the consumer first takes whole
// rounds of batches (a round is one batch from each worker, W x B items),
// at least Prefetch rounds and enough epochs for the pipeline to be full
// and the batch slots' buffers to have grown to the items they hold; then
// any whole rounds already complete. The timed run starts in steady state,
// on a round boundary, right after a round was delivered. A run of whole rounds
// (-benchtime Nx with N a multiple of W x B) then ends on the same phase
// of the loader's cycle and its rate is exact; any other length counts up
// to one round of bursty arrivals more or less. Every item is checked
// against src.
//
// A run too short to time every level (fewer than 10 rounds or batch
// periods, or no whole epoch) fails at once, naming the -benchtime that
// would do, except under -short, whose results are a smoke test and say
// so. Otherwise it measures the raw baselines (see [Source.RawRates]) and
// reports items/s, MB/s from the bytes read, each level's statistics, the
// run's length once (run-ns), the raw baseline at the same concurrency,
// the bound and the efficiency (see [Bound]).
//
// With c.Rank, one rank of a run of many, it reads the rank's shard of
// every epoch, waits for the other ranks after filling its pipeline (the
// drain then takes what was read ahead while it waited), ends when
// another rank dies, and records the timed run on the rank's timeline.
func RunLoad(b *testing.B, src *Source, c LoadCase) {
	ctx := c.Rank.bind(context.Background(), b)
	opts := c.Options
	opts.Epochs = -1
	opts.Shard = c.Rank.shard()
	opts, err := opts.Resolved()
	if err != nil {
		b.Fatal(err)
	}
	inFlight, round := opts.InFlight(), opts.Workers*opts.BatchSize
	// The raw readers hold as many items as the loader may: its batch
	// slots, or the item scheduler's window.
	hold := opts.Workers * opts.Prefetch * opts.BatchSize
	slots := opts.Workers * opts.Prefetch
	if opts.Scheduler == loader.SchedItem {
		hold, slots = opts.Window, opts.Window/opts.BatchSize+1
	}
	// The raw rate at C, before the run as well as after it: on a shared
	// machine the storage's best moments come and go, and a bound taken
	// on one side of the run only can miss the stretch the run had.
	_, before, err := src.rawRates(ctx, []int{inFlight}, hold)
	if err != nil {
		b.Fatalf("raw baseline at concurrency %d: %v", inFlight, err)
	}
	tr := c.Rank.tracker(plan(nil, len(src.Index), shards(opts.Shard), []int{opts.Shard.Rank}, dropped(opts)))
	ds, restore, err := src.Dataset(c.Profile, c.Faults, 1)
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
	// Fill the pipeline and grow the batch slots' buffers: take whole
	// rounds, at least Prefetch of them, and enough for every slot to have
	// held every item it will hold (the batches of an epoch come round to
	// the same slots every lcm(batches an epoch, W x P) batches), up to
	// maxFillEpochs epochs. Then collect what growing them left behind.
	con := consumer{it: it, src: src, deep: c.Deep, tr: tr}
	epoch := l.BatchesPerEpoch()
	fill := max(slots, min(slots/gcd(slots, epoch)*epoch, maxFillEpochs*epoch))
	if err := con.fill((fill + opts.Workers - 1) / opts.Workers * opts.Workers); err != nil {
		b.Fatal(cause(ctx, err))
	}
	// In a run of many ranks, every rank waits here for the others; its
	// loader reads ahead meanwhile, which the drain below takes away as it
	// takes away what it read during the collection.
	if err := c.Rank.barrier(ctx, b); err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	// Then start the timer in steady state, right after a round is
	// delivered, with no round complete and waiting. While the collection
	// ran, the consumer took nothing and the loader read ahead as far as it
	// holds items: take whole rounds while the next is already complete,
	// then as many rounds as the loader holds items, waiting for them, so
	// that what it read ahead is consumed and it reads at its steady pace
	// again, and whatever completed with the last of them. Started any
	// sooner, the timer would count reads that ran before it, the items
	// read ahead behind one still in flight: a rate too high by up to the
	// items held over the run's items.
	drain := func() {
		for range maxDrain {
			if !it.Ready(opts.Workers) {
				return
			}
			if err := con.fill(opts.Workers); err != nil {
				b.Fatal(cause(ctx, err))
			}
		}
	}
	drain()
	if err := con.fill((hold/round + 1) * opts.Workers); err != nil {
		b.Fatal(cause(ctx, err))
	}
	drain()
	// The loader's clock restarts as the timer starts, on the first pass
	// of the loop: b.Loop's own start (it reads the memory statistics)
	// takes a millisecond or two, during which the loader reads on.
	b.ReportAllocs()
	first := true
	for b.Loop() {
		if first {
			it.ResetStats()
			tr.start(b)
			first = false
		}
		if _, err := con.next(); err != nil {
			b.Fatal(cause(ctx, err))
		}
	}
	if err := tr.end(b); err != nil {
		b.Fatal(err)
	}
	if err := tr.epochs(); err != nil {
		b.Fatal(err)
	}
	if err := it.Close(); err != nil {
		b.Fatal(cause(ctx, err))
	}
	st := it.Stats()
	start, peak, rssOK := mem.Stop()
	elapsed := b.Elapsed()
	rate := float64(b.N) / elapsed.Seconds()
	if b.N == 0 || elapsed <= 0 || math.IsInf(rate, 0) {
		b.Fatalf("%d items in %v: no rate to report", b.N, elapsed)
	}
	if !testing.Short() {
		if err := coverage(st, b.N, elapsed, round, opts.Shard.Len(len(src.Index)), opts.Decode == loader.DecodeJPEG); err != nil {
			b.Fatal(err)
		}
	}
	restore() // the raw baselines read with no emulated latency
	// The raw baselines, right after the run, on a machine as warm as the
	// loader left it (measured only first, they read up to a fifth slower
	// over their first half second). The raw readers hold as many items as
	// the loader's batch slots do.
	raw, best, err := src.RawRates(ctx, inFlight, hold)
	if err != nil {
		b.Fatalf("raw baseline at concurrency %d: %v", inFlight, err)
	}
	best = max(best, before)
	meanBytes := float64(con.bytes) / float64(b.N)
	b.SetBytes(int64(math.Round(meanBytes)))
	b.ReportMetric(rate, results.ItemsPerSecond)
	reportLevels(b, st, elapsed, opts.Decode == loader.DecodeJPEG)
	bound := Bound(c.Profile, inFlight, meanBytes, best, elapsed)
	b.ReportMetric(raw, results.RawItemsPerSec)
	b.ReportMetric(bound, results.BoundItemsPerSec)
	b.ReportMetric(rate/bound, results.Efficiency)
	b.ReportMetric(meanBytes, results.BytesPerItem)
	b.ReportMetric(float64(st.HeldItemsPeak), results.HeldItemsPeak)
	b.ReportMetric(float64(st.HeldBytesPeak), results.HeldBytesPeak)
	b.ReportMetric(float64(st.ReadTime)/float64(st.Elapsed)/float64(inFlight), results.InFlightFraction)
	reportFailures(b, !c.Faults.IsZero(), st.Items, st.Skipped, st.AttemptErrors, st.Retries, st.RetryTime,
		time.Duration(st.Levels[loader.GetItem].Count)*st.Levels[loader.GetItem].Mean)
	if !opts.Hedge.IsZero() {
		b.ReportMetric(float64(st.Hedges)/float64(st.Items), results.HedgesPerItem)
		b.ReportMetric(float64(st.HedgeWins)/float64(st.Items), results.HedgeWinsPerItem)
	}
	if rssOK {
		b.ReportMetric(float64(start), results.StartRSS)
		b.ReportMetric(float64(peak), results.PeakRSS)
	}
}

// Bound returns the most items per second a storage can serve, over a
// run of duration over, to a loader that never has more than c reads in
// flight, reading items of meanBytes bytes on average: under an emulated
// profile, at most p.MaxRate(c, meanBytes, 1, over), the least of c / L(c)
// (L(c) the profile's nominal mean latency for that size with c reads in
// flight, known analytically: a read never takes less than its emulated
// latency, so by Little's law no loader exceeds it), the profile's request
// rate per prefix with the burst its bucket holds at the run's start (the
// synthetic dataset's keys share one prefix) and its link's bandwidth over
// meanBytes; and never more than bestRaw, the best rate raw readers
// reached at any concurrency up to c with no emulated latency (the
// storage's own limit on this machine).
func Bound(p fakes.Profile, c int, meanBytes, bestRaw float64, over time.Duration) float64 {
	return min(p.MaxRate(c, meanBytes, 1, over), bestRaw)
}

// reportFailures reports, for a run with faults injected or any read
// failed, the failed attempts, the retries and the items skipped, each
// over the items due (delivered and skipped), and the time lost to
// retries in percent of getitem time: a throttled or faulty run says so
// on its line.
func reportFailures(b *testing.B, faulty bool, items, skipped, attemptErrors, retries int64, retryTime, getitem time.Duration) {
	if !faulty && attemptErrors == 0 && skipped == 0 {
		return
	}
	due := float64(items + skipped)
	b.ReportMetric(float64(attemptErrors)/due, results.ErrorsPerItem)
	b.ReportMetric(float64(retries)/due, results.RetriesPerItem)
	b.ReportMetric(float64(skipped)/due, results.SkippedPerItem)
	pct := 0.0
	if getitem > 0 {
		pct = 100 * float64(retryTime) / float64(getitem)
	}
	b.ReportMetric(pct, results.RetryTimePercent)
}

// maxFillEpochs bounds the epochs a Load run reads before its timer starts
// to grow its buffers.
const maxFillEpochs = 8

// maxDrain bounds the rounds a Load run takes, before its timer starts,
// because they were complete already.
const maxDrain = 100

// Minimums of a timed Load run, so that every level is measured and the
// rate does not depend on where in the loader's bursts the run stopped.
const (
	minRounds  = 10 // rounds of batches, W x B items each
	minPeriods = 10 // batch periods: mean batch fetch times
	minEpochs  = 3  // epochs of items that always hold a whole epoch and each worker's whole share of one
)

// coverage returns an error unless a run of n items over elapsed covers
// enough rounds and batch periods and recorded every level; the error
// names a -benchtime that would.
func coverage(st loader.Stats, n int, elapsed time.Duration, round, epoch int, decoded bool) error {
	var short []string
	rounds := float64(n) / float64(round)
	if rounds < minRounds {
		short = append(short, fmt.Sprintf("%.1f rounds of %d items (%d needed)", rounds, round, minRounds))
	}
	fetch := st.Levels[loader.Fetch].Mean
	periods := 0.0
	if fetch > 0 {
		periods = float64(elapsed) / float64(fetch)
	}
	if periods < minPeriods {
		short = append(short, fmt.Sprintf("%.1f batch periods of %v (%d needed)", periods, fetch.Round(time.Microsecond), minPeriods))
	}
	for l := range loader.NumLevels {
		if l != loader.Run && st.Levels[l].Count == 0 && (l != loader.Decode || decoded) {
			short = append(short, "no "+l.String()+" sample")
		}
	}
	if short == nil {
		return nil
	}
	need := max(minRounds*round, minEpochs*epoch)
	if fetch > 0 {
		need = max(need, int(math.Ceil(minPeriods*1.1*fetch.Seconds()*float64(n)/elapsed.Seconds())))
	}
	need = (need + round - 1) / round * round
	est := time.Duration(float64(elapsed) * float64(need) / float64(n))
	return fmt.Errorf("the timed run of %d items in %v is too short to time every level: %s. Run with -benchtime %dx (whole rounds; about %v here)",
		n, elapsed.Round(time.Millisecond), strings.Join(short, ", "), need, est.Round(time.Second))
}

// consumer takes items one at a time from a run and checks each.
type consumer struct {
	it    *loader.Iter
	src   *Source
	deep  bool
	tr    *tracker // nil: no timeline
	batch *loader.Batch
	pos   int
	bytes int64
}

// fill takes n whole batches, checking each item, and leaves the consumer
// holding the last, as a consumer in steady state holds the batch it
// works on; what it read is not counted.
func (c *consumer) fill(n int) error {
	for range n {
		if err := c.nextBatch(); err != nil {
			return err
		}
		for i := range c.batch.Items {
			if err := c.check(&c.batch.Items[i]); err != nil {
				return err
			}
		}
		c.pos = len(c.batch.Items)
	}
	c.bytes = 0
	return nil
}

// nextBatch takes the next batch from the run.
func (c *consumer) nextBatch() error {
	b, err := c.it.Next()
	if err == io.EOF {
		return fmt.Errorf("run ended early")
	}
	if err != nil {
		return err
	}
	c.batch, c.pos = b, 0
	c.tr.epoch(b.Epoch, b.Items)
	return nil
}

// next returns the next item, fetching the next batch when needed.
func (c *consumer) next() (*loader.Item, error) {
	for c.batch == nil || c.pos == len(c.batch.Items) { // a batch may be empty: its items skipped
		if err := c.nextBatch(); err != nil {
			return nil, err
		}
	}
	item := &c.batch.Items[c.pos]
	c.pos++
	c.tr.count(1, int64(len(item.Data)))
	return item, c.check(item)
}

// check checks item against the source and counts its bytes.
func (c *consumer) check(item *loader.Item) error {
	if err := c.src.Check(item.Index, item.Data, c.deep); err != nil {
		return err
	}
	c.bytes += int64(len(item.Data))
	return nil
}

// reportLevels reports, for each level that recorded anything, its mean,
// median, min, max and p99 in nanoseconds as "<level>-<stat>-ns", a unit
// benchstat scales to seconds. The run level, one sample, is reported once,
// as run-ns: the timed run, elapsed.
func reportLevels(b *testing.B, st loader.Stats, elapsed time.Duration, decoded bool) {
	b.ReportMetric(float64(elapsed.Nanoseconds()), results.RunNs)
	for l := range loader.NumLevels {
		s := st.Levels[l]
		if l == loader.Run || s.Count == 0 || l == loader.Decode && !decoded {
			continue
		}
		for i, v := range []time.Duration{s.Mean, s.Median, s.Min, s.Max, s.P99} {
			b.ReportMetric(float64(v.Nanoseconds()), results.LevelUnit(l.String(), results.Stats[i]))
		}
		if l == loader.GetItem {
			b.ReportMetric(float64(s.P999.Nanoseconds()), results.LevelUnit(l.String(), results.P999))
		}
	}
}

// RawHold is how many items the readers of BenchmarkRaw hold in all: as
// many as the default loader's batch slots.
const RawHold = loader.DefaultWorkers * loader.DefaultPrefetch * loader.DefaultBatchSize

// RunRaw benchmarks c goroutines reading src straight from its backend
// behind profile p and faults f, holding RawHold items: the raw baseline.
// One op is one item read; MB/s counts the bytes read.
func RunRaw(b *testing.B, src *Source, p fakes.Profile, f fakes.Faults, c int) {
	ctx := context.Background()
	// Warm connections and buffers without the emulated latency, which
	// would make warming as slow as the run.
	r := newRawReader(src, dataset.New(dataset.NewStore(src.backend), src.Index), c, RawHold)
	if err := r.warm(ctx); err != nil {
		b.Fatal(err)
	}
	ds, restore, err := src.Dataset(p, f, 1)
	if err != nil {
		b.Fatal(err)
	}
	defer restore()
	r.ds = ds
	b.ReportAllocs()
	b.ResetTimer()
	n, nbytes, err := r.read(ctx, b.N, 0)
	if err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if n != int64(b.N) {
		b.Fatalf("read %d items, want %d", n, b.N)
	}
	b.SetBytes(int64(math.Round(float64(nbytes) / float64(n))))
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), results.ItemsPerSecond)
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
	// The bytes decoded: item i mod n for i < N.
	var total, nbytes int64
	for i, it := range items {
		total += int64(len(it))
		if i < b.N%len(items) {
			nbytes += int64(len(it))
		}
	}
	nbytes += int64(b.N/len(items)) * total
	b.SetBytes(int64(math.Round(float64(nbytes) / float64(b.N))))
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), results.ItemsPerSecond)
}
