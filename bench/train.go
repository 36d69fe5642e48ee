package bench

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"time"

	"github.com/storagebench/storagebench/cases"
	"github.com/storagebench/storagebench/internal/proccpu"
	"github.com/storagebench/storagebench/loader"
	"github.com/storagebench/storagebench/results"
	"github.com/storagebench/storagebench/train"
)

// TrainOptions are what a Train run takes besides its case.
type TrainOptions struct {
	// Prefetch is the batches each worker holds; 0 for the loader's
	// default.
	Prefetch int
	// Deep checks the content of every item read, not only its length.
	Deep bool
	// Rank, in a run of many processes, is this one's: its accelerators
	// read their shards of the rank's share (see [train.Config]), wait
	// for the other ranks before the timed steps and are recorded on its
	// timeline. Nil for a process of its own.
	Rank *Rank
	// Name names the run at the ranks' barrier and on the timeline.
	Name string
	// WindowBytes is the item scheduler's byte budget; 0 for the
	// loader's default, negative for none.
	WindowBytes int64
}

// trainSeed seeds the shuffle of a Train run's every epoch, the same on
// every rank, as DistributedSampler's seed is.
const trainSeed = 1

// trainPlan returns the coverage plan of c's accelerators: those of every
// rank read their shards of each epoch's shuffled order in full batches.
func trainPlan(src *Source, c cases.Case, o TrainOptions) func(epoch int) (share, want int64, wantSum uint64) {
	world, rank := 1, 0
	if o.Rank.distributed() {
		world, rank = o.Rank.World.Size, o.Rank.World.Rank
	}
	cfg := train.Config{Accelerators: c.Accel, Rank: rank, World: world}
	all := make([]loader.Shard, world*c.Accel)
	for g := range all {
		all[g] = loader.Shard{Rank: g, World: len(all)}
	}
	var mine []int
	for a := range c.Accel {
		mine = append(mine, cfg.Shard(a).Rank)
	}
	batch := c.Batch
	n := len(src.Index)
	order := func(epoch int) []int { return loader.Shuffled{Seed: trainSeed}.Order(epoch, n) }
	return plan(order, n, all, mine, batch)
}

// MinStepsPerEpoch is the fewest steps an epoch a Train run accepts, so
// that each accelerator's share of the index is several batches, not one
// read over and over. (MLPerf's own rules ask for at least 500.)
const MinStepsPerEpoch = 4

// TrainResult is what a Train run measured.
type TrainResult struct {
	train.Result
	// Warm is the number of warm-up steps run, unmeasured.
	Warm int
	// Wall is the timed steps' duration as the caller's clock saw it,
	// from start to stop.
	Wall time.Duration
	// InFlight is the reads all the accelerators' loaders may have in
	// flight: C, summed.
	InFlight int
	// Bound is the most samples a second the emulated store can give the
	// job (see [Bound]) with no account of this machine's own limits;
	// +Inf when the profile limits nothing.
	Bound float64
	// CPU is the process's CPU time (user and system) over the timed
	// steps, a fraction of Wall x GOMAXPROCS; 0 where unknown.
	CPU float64
	// Elapsed is the timed steps' duration as the result line gives it.
	Elapsed time.Duration
	// Faulty says faults were injected.
	Faulty bool
	// Cache is the share of a folder dataset the page cache held before
	// the timed steps and after them.
	Cache Residency
}

// A TrainRun is a Train run of one case, its job started and warmed up,
// whose timed steps the caller drives: [TrainRun.Start], one
// [TrainRun.Step] a step, then [TrainRun.Finish]. [Train] drives one
// itself; the benchmark drives one from testing.B's loop.
type TrainRun struct {
	c        cases.Case
	o        TrainOptions
	ctx      context.Context
	job      *train.Job
	restore  func()
	tr       *tracker
	inFlight int
	warm     int
	cpu0     time.Duration
	cpuOK    bool
	t0       time.Time
	closed   bool
	src      *Source
	cache    Residency
}

// StartTrain starts c (a Train case) on src: each loader's warm-up reads
// first, then the job's warm-up steps (see [train.Job.Warm]); in a run of
// many ranks, a wait for the others and warm-up steps again. Every item
// consumed is checked against src: its length, and its bytes with Deep.
// The caller closes the run.
func StartTrain(ctx context.Context, src *Source, c cases.Case, o TrainOptions) (*TrainRun, error) {
	src, err := startCache(ctx, src, c.Cache)
	if err != nil {
		return nil, err
	}
	r := &TrainRun{c: c, o: o, ctx: ctx, src: src}
	opts := c.Options()
	opts.Prefetch = o.Prefetch
	if opts.Item != nil {
		opts.Item.WindowBytes = o.WindowBytes
	}
	if c.Streams() {
		if src.Set == nil {
			return nil, fmt.Errorf("%s: backend %s holds no tar shards", c.SubName(), src.Name)
		}
		if o.Rank != nil && o.Rank.timeline != nil {
			return nil, fmt.Errorf("%s: %s does not yet follow the samples of tar shards: run format=tar lines without it", c.SubName(), cases.Timeline)
		}
		opts.Stream = &loader.StreamOptions{Set: src.Set, Shuffle: c.Shuffle}
	}
	ropts, err := opts.Resolved()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.SubName(), err)
	}
	world := 1
	if o.Rank.distributed() {
		world = o.Rank.World.Size
	}
	if err := TrainFits(c, len(src.Index), world); err != nil {
		return nil, err
	}
	if err := r.cache.begin(ctx, src); err != nil {
		return nil, err
	}
	ds, restore, err := src.Dataset(c.ProfileOf(), c.Faults, 1)
	if err != nil {
		return nil, err
	}
	r.restore = restore
	cfg := train.Config{
		Dataset: ds, Loader: opts, Workload: c.Workload, Accelerators: c.Accel, Seed: trainSeed,
		Check: func(_ int, it *loader.Item) error { return src.Check(it.Index, it.Data, o.Deep) },
	}
	if o.Rank.distributed() {
		cfg.Rank, cfg.World = o.Rank.World.Rank, o.Rank.World.Size
	}
	if tr := o.Rank.tracker(trainPlan(src, c, o)); tr != nil {
		r.tr = tr
		cfg.Observe = func(_ int, b *loader.Batch) {
			tr.epoch(b.Epoch, b.Items)
			var nbytes int64
			for i := range b.Items {
				nbytes += int64(len(b.Items[i].Data))
			}
			tr.count(int64(len(b.Items)), nbytes)
		}
	}
	if r.job, err = train.Start(ctx, cfg); err != nil {
		restore()
		return nil, err
	}
	r.inFlight = c.Accel * ropts.InFlight()
	if c.Streams() && c.Part == 0 {
		r.inFlight = c.Accel * src.Streams(ropts.Workers, ropts.FetchConcurrency, c.Accel*world)
	}
	if err := r.warmUp(); err != nil {
		r.Close()
		return nil, cause(ctx, err)
	}
	runtime.GC() // not to pay for what ran before
	return r, nil
}

// warmUp runs the job's warm-up steps; in a run of many ranks, every rank
// then waits for the others, its loaders reading ahead meanwhile, and
// warm-up steps again consume what they read.
func (r *TrainRun) warmUp() error {
	n, err := r.job.Warm(r.ctx)
	r.warm += n
	if err != nil || r.o.Rank == nil || r.o.Rank.session == nil {
		return err
	}
	if err := r.o.Rank.barrier(r.ctx, r.o.Name); err != nil {
		return err
	}
	n, err = r.job.Warm(r.ctx)
	r.warm += n
	return err
}

// TrainFits returns an error unless a dataset (each rank's share of one)
// of n items gives each of the world's accelerators at least
// [MinStepsPerEpoch] steps an epoch, naming the items that would.
func TrainFits(c cases.Case, n, world int) error {
	share := loader.Shard{World: c.Accel * world}.Len(n)
	if perEpoch := share / c.Batch; perEpoch < MinStepsPerEpoch {
		need := MinStepsPerEpoch * c.Batch * c.Accel * world
		return fmt.Errorf("%s: %d items give %d accelerators %d steps of %d an epoch, fewer than %d: set %s to at least %d (%s keeps the memory of few bodies)",
			c.SubName(), n, c.Accel*world, perEpoch, c.Batch, MinStepsPerEpoch, cases.Items, need, cases.Bodies)
	}
	return nil
}

// Start starts the timed steps: the job's clock and its loaders'
// statistics restart, and the timeline's run begins.
func (r *TrainRun) Start() {
	r.job.Reset()
	r.cpu0, r.cpuOK = proccpu.Time()
	r.tr.start(r.o.Name)
	r.t0 = time.Now()
}

// Step runs one step of every accelerator.
func (r *TrainRun) Step() error {
	if err := r.job.Steps(r.ctx, 1); err != nil {
		return cause(r.ctx, err)
	}
	return nil
}

// Finish ends the timed steps, n of them over elapsed as the caller timed
// them, closes the job and returns what was measured.
func (r *TrainRun) Finish(n int, elapsed time.Duration) (TrainResult, error) {
	res := TrainResult{Warm: r.warm, Wall: time.Since(r.t0), InFlight: r.inFlight, Elapsed: elapsed, Faulty: !r.c.Faults.IsZero()}
	cpu1, _ := proccpu.Time()
	if err := r.tr.end(n, elapsed); err != nil {
		return res, err
	}
	if err := r.tr.epochs(); err != nil {
		return res, err
	}
	r.closed = true
	err := r.job.Close()
	r.restore()
	if err != nil {
		return res, cause(r.ctx, err)
	}
	if err := r.cache.end(r.ctx, r.src); err != nil {
		return res, err
	}
	res.Cache = r.cache
	if n == 0 || elapsed <= 0 {
		return res, fmt.Errorf("%d steps in %v: no rate to report", n, elapsed)
	}
	res.Result = r.job.Result()
	meanBytes := float64(res.Bytes) / float64(max(res.Samples, 1))
	res.Bound = Bound(r.c.ProfileOf(), res.InFlight, meanBytes, math.Inf(1), res.Wall)
	if r.src.Set != nil || r.c.Part > 0 {
		res.Bound = LayoutBound(r.c.ProfileOf(), res.InFlight, r.src.ItemsPerRequest(r.c), r.src.ReadBytesPerItem(r.c), math.Inf(1), res.Wall)
	}
	if r.cpuOK && res.Wall > 0 {
		res.CPU = float64(cpu1-r.cpu0) / (float64(res.Wall) * float64(runtime.GOMAXPROCS(0)))
	}
	return res, nil
}

// Close stops the job, if Finish has not, and removes the emulation.
func (r *TrainRun) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	r.tr.abandon()
	err := r.job.Close()
	r.restore()
	return err
}

// Train runs c on src: [StartTrain], steps timed steps, timed with the
// run's own clock, then [TrainRun.Finish].
func Train(ctx context.Context, src *Source, c cases.Case, o TrainOptions, steps int) (TrainResult, error) {
	r, err := StartTrain(ctx, src, c, o)
	if err != nil {
		return TrainResult{}, err
	}
	defer r.Close()
	r.Start()
	t0 := time.Now()
	if err := r.job.Steps(ctx, steps); err != nil {
		return TrainResult{}, cause(ctx, err)
	}
	return r.Finish(steps, time.Since(t0))
}

// Metrics returns the figures of a Train line, besides testing's own:
// AU, samples/s, stalls, steps, the bound, CPU, the loaders' reads in
// flight and their failures.
func (res TrainResult) Metrics() []Metric {
	m := []Metric{
		{res.MeanAU(), results.AU},
		{res.MinAU(), results.AUMin},
		{float64(res.Samples) / res.Elapsed.Seconds(), results.SamplesPerSecond},
		{float64(res.StallMean.Nanoseconds()), results.StallMeanNs},
		{float64(res.StallP99.Nanoseconds()), results.StallP99Ns},
		{float64(res.Steps), results.Steps},
	}
	if !math.IsInf(res.Bound, 0) && res.Bound > 0 {
		m = append(m, Metric{res.Bound, results.BoundSamplesSec})
	}
	if res.CPU > 0 {
		m = append(m, Metric{res.CPU, results.CPUFraction})
	}
	// The loaders' statistics, summed: each loader's busy time over its
	// own elapsed time and its own C, and the failures of all.
	var st loader.Stats
	var getitem time.Duration
	var held, requests, fetched, parts int64
	for _, l := range res.Loaders {
		held += l.HeldBytesPeak
		if l.ShardReads > 0 {
			requests += l.ShardReads // a stream's: every shard's opening or part
		} else {
			requests += l.Fetched + l.Errors + l.Retries + l.PartReads
		}
		fetched += l.Fetched
		parts += l.PartReads
		st.ReadTime += l.ReadTime
		st.Elapsed += l.Elapsed
		st.Items += l.Items
		st.Skipped += l.Skipped
		st.AttemptErrors += l.AttemptErrors
		st.Retries += l.Retries
		st.RetryTime += l.RetryTime
		getitem += time.Duration(l.Levels[loader.GetItem].Count) * l.Levels[loader.GetItem].Mean
	}
	if n := len(res.Loaders); n > 0 && st.Elapsed > 0 {
		m = append(m, Metric{float64(st.ReadTime) / float64(st.Elapsed) / float64(res.InFlight/n), results.InFlightFraction})
	}
	m = append(m, failureMetrics(res.Faulty, st.Items, st.Skipped, st.AttemptErrors, st.Retries, st.RetryTime, getitem)...)
	if len(res.Loaders) > 0 {
		// Each loader's own peak, summed: what the accelerators' loaders
		// held at most, a bound on what they held at once.
		m = append(m, Metric{float64(held), results.HeldBytesPeak})
	}
	if parts > 0 {
		// Items or shards in parts: the requests an item took.
		m = append(m, Metric{float64(requests) / float64(max(fetched, 1)), results.RequestsPerItem})
	}
	return append(m, res.Cache.metrics()...)
}

// TrainHeldBytes returns about how many bytes the loaders of a Train case
// on src hold at once, prefetch batches a worker (0 for the default):
// every accelerator's workers' batch slots, and under a stream their
// shuffle buffers, at the mean sample's size; a stream's buffers, reused
// by size class, up to twice their samples; and a stream's parts in
// flight, a worker's fetchers' worth. A search for the most accelerators
// a store feeds stops where that outgrows the memory the machine has.
func TrainHeldBytes(src *Source, c cases.Case, prefetch int) float64 {
	if prefetch <= 0 {
		prefetch = loader.DefaultPrefetch
	}
	per := float64(c.Workers*(prefetch*c.Batch+c.Shuffle)) * src.MeanSize()
	if c.Streams() {
		per *= 2
		if c.Part > 0 {
			per += float64(c.Workers) * float64(c.Options().InFlight()/max(c.Workers, 1)) * float64(c.Part)
		}
	}
	return float64(c.Accel) * per
}

// AvailableMemory returns the memory the machine has for new work
// (Linux's MemAvailable), and false where it cannot tell.
func AvailableMemory() (int64, bool) { return availableMemory() }
