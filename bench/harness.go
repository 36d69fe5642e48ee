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
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/storagebench/storagebench/cases"
	"github.com/storagebench/storagebench/dataset"
	"github.com/storagebench/storagebench/fakes"
	"github.com/storagebench/storagebench/internal/proccpu"
	"github.com/storagebench/storagebench/loader"
	"github.com/storagebench/storagebench/results"
)

// LoadOptions are what a Load run takes besides its case.
type LoadOptions struct {
	// Prefetch is the batches each worker holds; 0 for the loader's
	// default.
	Prefetch int
	// Deep checks the content of every item read, not only its length;
	// tests set it, benchmarks check lengths.
	Deep bool
	// Rank, in a run of many processes, is this one's: the run reads the
	// rank's shard of every epoch, waits for the other ranks before its
	// timed run and is recorded on its timeline. Nil for a process of its
	// own.
	Rank *Rank
	// Name names the run at the ranks' barrier and on the timeline: the
	// benchmark's name.
	Name string
	// WindowBytes is the item scheduler's byte budget; 0 for the
	// loader's default, negative for none.
	WindowBytes int64
}

// A LoadRun is a Load run of one case, started and filled, whose timed
// run the caller drives: [LoadRun.Start], then one [LoadRun.Next] an
// item, then [LoadRun.Finish]. [Load] drives one itself; the benchmark
// drives one from testing.B's loop.
//
// Its loader's warm-up reads and the filling of its pipeline run before
// the timed run and are never counted: [StartLoad] first takes whole
// rounds of batches (a round is one batch from each worker, W x B items),
// at least Prefetch rounds and enough epochs for the pipeline to be full
// and the batch slots' buffers to have grown to the items they hold; then
// any whole rounds already complete. The timed run starts in steady state,
// on a round boundary, right after a round was delivered. A run of whole
// rounds ends on the same phase of the loader's cycle and its rate is
// exact; any other length counts up to one round of bursty arrivals more
// or less. Every item is checked against the source.
type LoadRun struct {
	src      *Source
	c        cases.Case
	o        LoadOptions
	opts     loader.Options // resolved
	ctx      context.Context
	inFlight int
	round    int // W x B items
	hold     int // items the loader holds, which the raw readers hold too
	before   float64
	ds       *dataset.Dataset
	restore  func()
	it       *loader.Iter
	con      consumer
	tr       *tracker
	mem      *rssSampler
	calib    calibration
	cache    Residency
	stream   bool          // the case streams tar shards
	epoch    int           // items an epoch (this rank's share) delivers
	first    time.Duration // from the loader's start, after its warm-up, to its first batch
	cpu0     time.Duration // the process's CPU time at Start
	cpuOK    bool
	started  bool
	finished bool
}

// calibration is what the reads before the timed run showed: how many
// items were taken, waiting for them, over how long.
type calibration struct {
	items   int
	elapsed time.Duration
}

// rate returns the calibrated items a second, 0 when nothing was timed.
func (c calibration) rate() float64 {
	if c.items == 0 || c.elapsed <= 0 {
		return 0
	}
	return float64(c.items) / c.elapsed.Seconds()
}

// StartLoad starts a Load run of c (a Load case) on src: it measures the
// raw rate at the loader's concurrency, starts the loader, fills its
// pipeline, waits for the other ranks of a run of many, and takes what the
// loader read ahead meanwhile, so that the caller's timed run starts in
// steady state. The caller closes the run.
func StartLoad(ctx context.Context, src *Source, c cases.Case, o LoadOptions) (*LoadRun, error) {
	src, err := startCache(ctx, src, c.Cache)
	if err != nil {
		return nil, err
	}
	r := &LoadRun{src: src, c: c, o: o, ctx: ctx, stream: c.Streams()}
	opts := c.Options()
	opts.Prefetch, opts.Epochs, opts.Shard = o.Prefetch, -1, o.Rank.shard()
	if opts.Item != nil {
		opts.Item.WindowBytes = o.WindowBytes
	}
	if r.stream {
		if src.Set == nil {
			return nil, fmt.Errorf("%s: backend %s holds no tar shards", c.SubName(), src.Name)
		}
		opts.Stream = &loader.StreamOptions{Set: src.Set, Shuffle: c.Shuffle}
	}
	opts, err = opts.Resolved()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.SubName(), err)
	}
	r.opts = opts
	r.inFlight, r.round = opts.InFlight(), opts.Workers*opts.BatchSize
	if r.stream && opts.Part == 0 {
		// A stream's requests in flight are its shards' streams.
		r.inFlight = src.Streams(opts.Workers, opts.FetchConcurrency, opts.Shard.World)
	}
	// The raw readers hold as many items as the loader may: its batch
	// slots, or the item scheduler's window.
	r.hold = opts.Workers * opts.Prefetch * opts.BatchSize
	slots := opts.Workers * opts.Prefetch
	if opts.Item != nil {
		r.hold, slots = opts.Item.Window, opts.Item.Window/opts.BatchSize+1
	}
	if r.stream {
		// And each worker's shuffle buffer.
		r.hold += opts.Workers * c.Shuffle
	}
	// The raw rate at C, before the run as well as after it: on a shared
	// machine the storage's best moments come and go, and a bound taken
	// on one side of the run only can miss the stretch the run had.
	if _, r.before, err = src.rawRates(ctx, []int{r.inFlight}, r.hold, r.stream); err != nil {
		return nil, fmt.Errorf("raw baseline at concurrency %d: %w", r.inFlight, err)
	}
	if src.Set != nil && o.Rank != nil && o.Rank.timeline != nil {
		return nil, fmt.Errorf("%s: %s does not yet follow the samples of tar shards: run format=tar lines without it", c.SubName(), cases.Timeline)
	}
	r.tr = o.Rank.tracker(plan(nil, len(src.Index), shards(opts.Shard), []int{opts.Shard.Rank}, dropped(opts)))
	if err := r.cache.begin(ctx, src); err != nil {
		return nil, err
	}
	if r.ds, r.restore, err = src.Dataset(c.ProfileOf(), c.Faults, 1); err != nil {
		return nil, err
	}
	l, err := loader.New(r.ds, opts)
	if err != nil {
		r.restore()
		return nil, err
	}
	r.epoch = opts.Shard.Len(len(src.Index))
	if r.stream {
		r.epoch = l.BatchesPerEpoch() * opts.BatchSize
	}
	runtime.GC() // not to pay for what ran before
	r.mem = startRSS()
	if r.it, err = l.Start(ctx); err != nil {
		r.restore()
		r.mem.Stop()
		return nil, err
	}
	r.con = consumer{it: r.it, src: src, deep: o.Deep, tr: r.tr}
	started := time.Now()
	if err := r.con.nextBatch(); err != nil {
		r.Close()
		return nil, cause(ctx, err)
	}
	r.first = time.Since(started)
	for i := range r.con.batch.Items {
		if err := r.con.check(&r.con.batch.Items[i]); err != nil {
			r.Close()
			return nil, err
		}
	}
	r.con.pos = len(r.con.batch.Items)
	if err := r.fill(l.BatchesPerEpoch(), slots, 1); err != nil {
		r.Close()
		return nil, cause(ctx, err)
	}
	return r, nil
}

// fill fills the pipeline and grows the batch slots' buffers, taken
// batches already taken (the first, timed to its arrival): it takes
// whole rounds, at least Prefetch of them, and enough for every slot to
// have held every item it will hold (the batches of an epoch come round
// to the same slots every lcm(batches an epoch, W x P) batches), up to
// maxFillEpochs epochs, then more until the item scheduler's window has
// settled (settle); then it collects what growing them left behind,
// waits at the ranks' barrier, and drains what was read ahead.
func (r *LoadRun) fill(epoch, slots, taken int) error {
	w := r.opts.Workers
	fill := max(slots, min(slots/gcd(slots, epoch)*epoch, maxFillEpochs*epoch))
	if err := r.con.fill((fill+w-1)/w*w - taken); err != nil {
		return err
	}
	if err := r.settle(); err != nil {
		return err
	}
	// In a run of many ranks, every rank waits here for the others; its
	// loader reads ahead meanwhile, which the drain below takes away as it
	// takes away what it read during the collection.
	if err := r.o.Rank.barrier(r.ctx, r.o.Name); err != nil {
		return err
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
	// items held over the run's items. The rounds waited for are the
	// calibration of the run's length.
	if err := r.drain(); err != nil {
		return err
	}
	rounds := r.hold/r.round + 1
	t0 := time.Now()
	if err := r.con.fill(rounds * w); err != nil {
		return err
	}
	r.calib = calibration{items: rounds * r.round, elapsed: time.Since(t0)}
	if err := r.drain(); err != nil {
		return err
	}
	// The timer starts at the completion of the round it follows, not at
	// some later instant the consumer took it: the drain took the rounds
	// that were already complete, the last of them while the loader went
	// on with the next, so take that next round too, waiting for it. Its
	// last batch is taken as it completes. (Started once the drain ended,
	// the timer left out the loader's work since the last round's
	// completion: up to 0.7% fast on short runs.) A loader so far ahead
	// that the drain stopped at its limit has the round at hand, and the
	// consumer, not the loader, sets the pace.
	return r.con.fill(w)
}

// settle takes whole rounds, in passes of a [settling], until the item
// scheduler's window's buffers have settled at the sizes of the items:
// they are handed out in the order they come free, not to the same items
// each epoch as the batch scheduler's slots are, so a buffer meets a body
// larger than it, and is swapped for a new one, long after the window has
// gone round an epoch. It does nothing under the batch scheduler.
func (r *LoadRun) settle() error {
	if r.opts.Item == nil {
		return nil
	}
	for st := newSettling(r.src); ; {
		made, items, p0 := r.it.BuffersMade(), 0, time.Now()
		for items == 0 || time.Since(p0) < st.pass {
			if err := r.con.fill(r.opts.Workers); err != nil {
				return err
			}
			items += r.round
		}
		if st.settled(r.it.BuffersMade()-made, int64(items)) {
			return nil
		}
	}
}

// drain takes whole rounds while the next is already complete.
func (r *LoadRun) drain() error {
	for range maxDrain {
		if !r.it.Ready(r.opts.Workers) {
			return nil
		}
		if err := r.con.fill(r.opts.Workers); err != nil {
			return err
		}
	}
	return nil
}

// A Sizing is how many items a timed run must take so that every level is
// measured and the rate does not depend on where in the loader's bursts
// it stopped, and how long that takes here.
type Sizing struct {
	// Items is the least a timed run takes: whole rounds, at least
	// [MinRounds] of them in sync mode and [MinRoundsPerPrefetch] per
	// batch a worker holds in async mode (a batch's fetch spans about
	// that many rounds, and the run needs 10 batch periods), and at least
	// [MinEpochs] epochs (the worker's share of one included).
	Items int
	// Round is W x B items.
	Round int
	// Rate is the items a second the run's reads before its timer
	// reached, waiting for them; 0 when they were too quick to time.
	Rate float64
}

// Estimate returns how long a timed run of n items takes at the
// calibrated rate; 0 when unknown.
func (s Sizing) Estimate(n int) time.Duration {
	if s.Rate <= 0 {
		return 0
	}
	return time.Duration(float64(n) / s.Rate * float64(time.Second))
}

// Whole returns n rounded up to whole rounds.
func (s Sizing) Whole(n int) int { return (n + s.Round - 1) / s.Round * s.Round }

// Minimums of a timed Load run.
const (
	MinRounds            = 12 // rounds of batches in sync mode, W x B items each
	MinRoundsPerPrefetch = 12 // rounds in async mode, per batch a worker holds, plus one
	MinPeriods           = 10 // batch periods: mean batch fetch times
	MinEpochs            = 3  // epochs of items: a whole epoch, and each worker's whole share of one, always inside
)

// LoadSizing returns the sizing of a Load case over a dataset (a rank's
// share of it) of epochItems items, with prefetch batches a worker (0 for
// the default); its Rate is unknown. It is what [LoadRun.Sizing] gives
// before calibration, and what make compare asks for, to give a commit
// that does not size its runs a count.
func LoadSizing(c cases.Case, prefetch, epochItems int) (Sizing, error) {
	opts := c.Options()
	opts.Prefetch = prefetch
	opts, err := opts.Resolved()
	if err != nil {
		return Sizing{}, fmt.Errorf("%s: %w", c.SubName(), err)
	}
	round := opts.Workers * opts.BatchSize
	rounds := MinRounds
	if opts.Mode == loader.Async {
		rounds = MinRoundsPerPrefetch*opts.Prefetch + 1
	}
	s := Sizing{Round: round}
	s.Items = s.Whole(max(rounds*round, MinEpochs*epochItems))
	return s, nil
}

// Sizing returns the run's sizing, its rate calibrated by the rounds it
// waited for before its timer.
func (r *LoadRun) Sizing() Sizing {
	s, _ := LoadSizing(r.c, r.opts.Prefetch, r.epoch)
	s.Rate = r.calib.rate()
	return s
}

// EpochTimed reports whether the epoch level means anything for this run:
// not when a round (one batch from each worker) is larger than an epoch
// of its share, where an epoch ends within a round and its time is a
// fraction of one batch's.
func (r *LoadRun) EpochTimed() bool { return r.round <= r.epoch }

// EpochTimed reports whether a Load case's epoch level means anything
// over an epoch (a rank's share) of epochItems items: see
// [LoadRun.EpochTimed].
func EpochTimed(c cases.Case, epochItems int) bool { return c.Workers*c.Batch <= epochItems }

// Start starts the timed run: the loader's clock restarts, and the
// timeline's run begins.
func (r *LoadRun) Start() {
	r.it.ResetStats()
	r.tr.start(r.o.Name)
	r.con.bytes, r.con.spans = 0, 0
	r.started = true
	r.cpu0, r.cpuOK = proccpu.Time()
}

// Next takes the next item, checking it.
func (r *LoadRun) Next() error {
	if _, err := r.con.next(); err != nil {
		return cause(r.ctx, err)
	}
	return nil
}

// LoadResult is what a Load run measured over its timed run.
type LoadResult struct {
	Items   int           // items taken in the timed run
	Elapsed time.Duration // its duration, as the caller timed it
	Bytes   int64         // bytes of the items taken
	// InFlight is C, the most reads the loader has in flight.
	InFlight int
	// Rate is Items over Elapsed; Raw the raw readers' rate at C just
	// after the run; Bound the most the storage can serve (see [Bound]).
	Rate, Raw, Bound float64
	// Stats are the loader's own.
	Stats loader.Stats
	// StartRSS and PeakRSS are the resident memory when the loader
	// started and its peak; 0 where unknown.
	StartRSS, PeakRSS int64
	// Decoded says the items were decoded; Faulty that faults were
	// injected; Hedged that the item scheduler hedged; EpochTimed that
	// the epoch level means anything (see [LoadRun.EpochTimed]).
	Decoded, Faulty, Hedged, EpochTimed bool
	// Cache is the share of a folder dataset the page cache held before
	// the timed run and after it.
	Cache Residency
	// CPU is the CPU time (user and system) this process spent over the
	// timed run, its loader, its consumer and, on the in-process stores,
	// the store; 0 where the system does not say.
	CPU time.Duration
	// FirstBatch is the time from the loader's start, after its warm-up,
	// to its first batch.
	FirstBatch time.Duration
	// Tar says the items were samples of tar shards; Stream that they
	// were streamed. ReadBytes is then the bytes the timed run read from
	// the store (the spans of the samples delivered, read by range; what
	// the shards' streams read, of samples no batch took too), and
	// Requests the requests that read items.
	Tar, Stream bool
	ReadBytes   int64
	Requests    int64
	// Parts says the items were read in ranged parts (a case's part):
	// Requests then counts every part.
	Parts bool
}

// Finish ends the timed run after n items over elapsed (as the caller
// timed it): it closes the loader, checks that the run covered every
// level, measures the raw baselines just after it, and returns what was
// measured.
func (r *LoadRun) Finish(n int, elapsed time.Duration) (LoadResult, error) {
	res := LoadResult{Items: n, Elapsed: elapsed, InFlight: r.inFlight, Bytes: r.con.bytes,
		Decoded: r.opts.Decode == loader.DecodeJPEG, Faulty: !r.c.Faults.IsZero(), EpochTimed: r.EpochTimed(),
		FirstBatch: r.first, Tar: r.src.Set != nil, Stream: r.stream, Parts: r.c.Part > 0}
	r.finished = true
	if cpu, ok := proccpu.Time(); ok && r.cpuOK {
		res.CPU = cpu - r.cpu0
	}
	if err := r.tr.end(n, elapsed); err != nil {
		return res, err
	}
	if err := r.tr.epochs(); err != nil {
		return res, err
	}
	if err := r.it.Close(); err != nil {
		return res, cause(r.ctx, err)
	}
	res.Stats = r.it.Stats()
	start, peak, ok := r.mem.Stop()
	if err := r.cache.end(r.ctx, r.src); err != nil {
		return res, err
	}
	res.Cache = r.cache
	if ok {
		res.StartRSS, res.PeakRSS = start, peak
	}
	res.Rate = float64(n) / elapsed.Seconds()
	if n == 0 || elapsed <= 0 || math.IsInf(res.Rate, 0) {
		return res, fmt.Errorf("%d items in %v: no rate to report", n, elapsed)
	}
	if err := coverage(res.Stats, n, elapsed, r.Sizing(), res.EpochTimed, res.Decoded); err != nil {
		return res, err
	}
	r.restore() // the raw baselines read with no emulated latency
	// The raw baselines, right after the run, on a machine as warm as the
	// loader left it (measured only first, they read up to a fifth slower
	// over their first half second). The raw readers hold as many items as
	// the loader's batch slots do.
	raw, best, err := r.src.rawRates(r.ctx, ladder(r.inFlight), r.hold, r.stream)
	if err != nil {
		return res, fmt.Errorf("raw baseline at concurrency %d: %w", r.inFlight, err)
	}
	res.Raw = raw
	if res.Tar || res.Parts {
		st := res.Stats
		res.ReadBytes = r.con.spans
		res.Requests = st.Fetched + st.Errors + st.Retries + st.Hedges + st.PartReads
		if r.stream {
			res.ReadBytes, res.Requests = st.StreamedBytes, st.ShardReads
		}
		res.Bound = LayoutBound(r.c.ProfileOf(), r.inFlight, r.src.ItemsPerRequest(r.c), r.src.ReadBytesPerItem(r.c), max(best, r.before), elapsed)
	} else {
		res.Bound = Bound(r.c.ProfileOf(), r.inFlight, float64(res.Bytes)/float64(n), max(best, r.before), elapsed)
	}
	res.Hedged = r.opts.Item != nil && !r.opts.Item.Hedge.IsZero()
	return res, nil
}

// Close stops the run, if Finish has not, and removes the emulation.
func (r *LoadRun) Close() error {
	var err error
	if !r.finished {
		r.tr.abandon()
		err = r.it.Close()
		r.mem.Stop()
	}
	r.restore()
	return err
}

// Load runs c on src: [StartLoad], a timed run of n items (at least the
// run's [Sizing], in whole rounds, when n is 0), timed with the run's own
// clock, then [LoadRun.Finish].
func Load(ctx context.Context, src *Source, c cases.Case, o LoadOptions, n int) (LoadResult, error) {
	r, err := StartLoad(ctx, src, c, o)
	if err != nil {
		return LoadResult{}, err
	}
	defer r.Close()
	if n == 0 {
		n = r.Sizing().Items
	}
	r.Start()
	t0 := time.Now()
	for range n {
		if err := r.Next(); err != nil {
			return LoadResult{}, err
		}
	}
	return r.Finish(n, time.Since(t0))
}

// A Metric is one figure of a result line: a value and its unit.
type Metric struct {
	Value float64
	Unit  string
}

// Metrics returns the figures of a Load line, besides testing's own
// (ns/op, MB/s, B/op, allocs/op): items/s, each level's statistics, the
// run's length, the raw baseline and the bound, the efficiency, memory,
// the reads in flight, failures and hedges.
func (res LoadResult) Metrics() []Metric {
	st := res.Stats
	meanBytes := float64(res.Bytes) / float64(res.Items)
	m := []Metric{{res.Rate, results.ItemsPerSecond}}
	m = append(m, levelMetrics(st, res.Elapsed, res.Decoded, res.EpochTimed)...)
	m = append(m,
		Metric{res.Raw, results.RawItemsPerSec},
		Metric{res.Bound, results.BoundItemsPerSec},
		Metric{res.Rate / res.Bound, results.Efficiency},
		Metric{meanBytes, results.BytesPerItem},
		Metric{float64(st.HeldItemsPeak), results.HeldItemsPeak},
		Metric{float64(st.HeldBytesPeak), results.HeldBytesPeak},
		Metric{float64(st.ReadTime) / float64(st.Elapsed) / float64(res.InFlight), results.InFlightFraction},
	)
	m = append(m, failureMetrics(res.Faulty, st.Items, st.Skipped, st.AttemptErrors, st.Retries, st.RetryTime,
		time.Duration(st.Levels[loader.GetItem].Count)*st.Levels[loader.GetItem].Mean)...)
	if res.Hedged {
		m = append(m, Metric{float64(st.Hedges) / float64(st.Items), results.HedgesPerItem},
			Metric{float64(st.HedgeWins) / float64(st.Items), results.HedgeWinsPerItem})
	}
	if res.PeakRSS > 0 {
		m = append(m, Metric{float64(res.StartRSS), results.StartRSS}, Metric{float64(res.PeakRSS), results.PeakRSS})
	}
	if res.CPU > 0 {
		m = append(m, Metric{float64(res.CPU) / float64(res.Items), results.CPUPerItem})
	}
	m = append(m, Metric{float64(res.FirstBatch.Nanoseconds()), results.FirstBatchNs})
	if res.Parts && !res.Tar {
		m = append(m, Metric{float64(res.Requests) / float64(max(st.Fetched, 1)), results.RequestsPerItem})
	}
	if res.Tar {
		m = append(m,
			Metric{float64(res.Requests) / float64(max(st.Fetched, 1)), results.RequestsPerItem},
			Metric{float64(res.ReadBytes) / float64(res.Bytes), results.ReadBytesPerByte})
		if res.Stream {
			m = append(m, Metric{float64(st.Dropped) / float64(max(st.Items, 1)), results.DroppedPerItem})
		}
	}
	return append(m, res.Cache.metrics()...)
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

// LayoutBound is [Bound] for items read k to a request, each request
// reading k x readBytes bytes (a tar shard's samples streamed, k its
// samples; k = 1 for a sample read by range or a loose item, readBytes
// then what one read fetches): at most k times the requests a second
// the profile serves to c requests in flight (by Little's law over each
// request's latency, by the request rate of the prefix, by the link over
// its bytes), and never more than bestRaw.
func LayoutBound(p fakes.Profile, c int, k, readBytes, bestRaw float64, over time.Duration) float64 {
	return min(k*p.MaxRate(c, k*readBytes, 1, over), bestRaw)
}

// failureMetrics returns, for a run with faults injected or any read
// failed, the failed attempts, the retries and the items skipped, each
// over the items due (delivered and skipped), and the time lost to
// retries in percent of getitem time: a throttled or faulty run says so
// on its line.
func failureMetrics(faulty bool, items, skipped, attemptErrors, retries int64, retryTime, getitem time.Duration) []Metric {
	if !faulty && attemptErrors == 0 && skipped == 0 {
		return nil
	}
	due := float64(items + skipped)
	pct := 0.0
	if getitem > 0 {
		pct = 100 * float64(retryTime) / float64(getitem)
	}
	return []Metric{
		{float64(attemptErrors) / due, results.ErrorsPerItem},
		{float64(retries) / due, results.RetriesPerItem},
		{float64(skipped) / due, results.SkippedPerItem},
		{pct, results.RetryTimePercent},
	}
}

// maxFillEpochs bounds the epochs a Load run reads before its timer starts
// to grow its buffers.
const maxFillEpochs = 8

// maxDrain bounds the rounds a Load run takes, before its timer starts,
// because they were complete already.
const maxDrain = 100

// coverage returns an error unless a run of n items over elapsed covers
// enough rounds and batch periods and recorded every level it times; the
// error names a count that would, and how long it would take here.
func coverage(st loader.Stats, n int, elapsed time.Duration, s Sizing, epochTimed, decoded bool) error {
	var short []string
	rounds := float64(n) / float64(s.Round)
	if n < s.Items {
		short = append(short, fmt.Sprintf("%.1f rounds of %d items (%d needed, and %d epochs)", rounds, s.Round, s.Items/s.Round, MinEpochs))
	}
	fetch := st.Levels[loader.Fetch].Mean
	periods := 0.0
	if fetch > 0 {
		periods = float64(elapsed) / float64(fetch)
	}
	if periods < MinPeriods {
		short = append(short, fmt.Sprintf("%.1f batch periods of %v (%d needed)", periods, fetch.Round(time.Microsecond), MinPeriods))
	}
	for l := range loader.NumLevels {
		if l != loader.Run && st.Levels[l].Count == 0 && (l != loader.Decode || decoded) && (l != loader.Epoch || epochTimed) {
			short = append(short, "no "+l.String()+" sample")
		}
	}
	if short == nil {
		return nil
	}
	need := s.Items
	if fetch > 0 {
		need = max(need, int(math.Ceil(MinPeriods*1.1*fetch.Seconds()*float64(n)/elapsed.Seconds())))
	}
	need = s.Whole(need)
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
	spans int64 // the spans of the tar samples taken: what their ranged reads read
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
	c.bytes, c.spans = 0, 0
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
	if c.src.Set != nil {
		c.spans += c.src.Set.Sample(item.Index).Span()
	}
	return nil
}

// levelMetrics returns, for each level that recorded anything and means
// something for the run, its mean, median, min, max and p99 in
// nanoseconds as "<level>-<stat>-ns", a unit benchstat scales to seconds.
// The run level, one sample, is reported once, as run-ns: the timed run,
// elapsed.
func levelMetrics(st loader.Stats, elapsed time.Duration, decoded, epochTimed bool) []Metric {
	m := []Metric{{float64(elapsed.Nanoseconds()), results.RunNs}}
	for l := range loader.NumLevels {
		s := st.Levels[l]
		if l == loader.Run || s.Count == 0 || l == loader.Decode && !decoded || l == loader.Epoch && !epochTimed {
			continue
		}
		for i, v := range []time.Duration{s.Mean, s.Median, s.Min, s.Max, s.P99} {
			m = append(m, Metric{float64(v.Nanoseconds()), results.LevelUnit(l.String(), results.Stats[i])})
		}
		if l == loader.GetItem {
			m = append(m, Metric{float64(s.P999.Nanoseconds()), results.LevelUnit(l.String(), results.P999)})
		}
	}
	return m
}

// RawHold is how many items the readers of BenchmarkRaw hold in all: as
// many as the default loader's batch slots.
const RawHold = loader.DefaultWorkers * loader.DefaultPrefetch * loader.DefaultBatchSize

// A RawRun is the raw baseline of one Raw case, warmed, reading n items
// when its caller times it.
type RawRun struct {
	r       *rawReader
	restore func()
	src     *Source
	cache   Residency
}

// StartRaw warms c goroutines reading src straight from its backend,
// holding RawHold items, and puts the case's profile and faults in front
// of them.
func StartRaw(ctx context.Context, src *Source, c cases.Case) (*RawRun, error) {
	src, err := startCache(ctx, src, c.Cache)
	if err != nil {
		return nil, err
	}
	// Warm connections and buffers without the emulated latency, which
	// would make warming as slow as the run.
	r := newRawReader(src, dataset.New(dataset.NewStore(src.backend), src.Index), c.Concurrency, RawHold, false)
	if err := r.warm(ctx); err != nil {
		return nil, err
	}
	ds, restore, err := src.Dataset(c.ProfileOf(), c.Faults, 1)
	if err != nil {
		return nil, err
	}
	run := &RawRun{r: r, restore: restore, src: src}
	if err := run.cache.begin(ctx, src); err != nil {
		restore()
		return nil, err
	}
	r.ds = ds
	return run, nil
}

// Read reads n items, returning their bytes.
func (r *RawRun) Read(ctx context.Context, n int) (int64, error) {
	items, nbytes, err := r.r.read(ctx, n, 0)
	if err == nil && items != int64(n) {
		err = fmt.Errorf("read %d items, want %d", items, n)
	}
	return nbytes, err
}

// Metrics returns the figures of a Raw line besides testing's own and
// items/s, measured after the timed reads: the share of a folder dataset
// the page cache held before them and after them.
func (r *RawRun) Metrics(ctx context.Context) ([]Metric, error) {
	if err := r.cache.end(ctx, r.src); err != nil {
		return nil, err
	}
	return r.cache.metrics(), nil
}

// Close removes the emulation.
func (r *RawRun) Close() { r.restore() }

// Decoding is the items of a source in memory, decoded by c goroutines
// as the loader's DecodeJPEG does: what decoding alone reaches on this
// machine.
type Decoding struct {
	src   *Source
	items [][]byte
}

// NewDecoding loads the source's items into memory.
func NewDecoding(src *Source) (*Decoding, error) {
	if src.Content == nil {
		return nil, fmt.Errorf("backend %s: decoding needs items in memory", src.Name)
	}
	d := &Decoding{src: src, items: make([][]byte, len(src.Index))}
	for i := range d.items {
		d.items[i] = src.Content(i)
	}
	return d, nil
}

// Decode decodes items 0 to n-1 (item i mod the dataset's), with c
// goroutines, returning the bytes decoded.
func (d *Decoding) Decode(n, c int) (int64, error) {
	var mu sync.Mutex
	next := 0
	var g errgroup.Group
	for range c {
		g.Go(func() error {
			var dst *image.Gray
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= n {
					return nil
				}
				var err error
				if dst, err = loader.DecodeGray(d.items[i%len(d.items)], dst); err != nil {
					return fmt.Errorf("item %q: %w", d.src.Index[i%len(d.items)], err)
				}
			}
		})
	}
	if err := g.Wait(); err != nil {
		return 0, err
	}
	// The bytes decoded: item i mod len for i < n.
	var total, nbytes int64
	for i, it := range d.items {
		total += int64(len(it))
		if i < n%len(d.items) {
			nbytes += int64(len(it))
		}
	}
	return nbytes + int64(n/len(d.items))*total, nil
}

// gcd returns the greatest common divisor of a and b.
func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
