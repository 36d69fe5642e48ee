package train

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"golang.org/x/sync/errgroup"

	"github.com/storagebench/storagebench/dataset"
	"github.com/storagebench/storagebench/loader"
)

// Config is one emulated training job.
type Config struct {
	// Dataset is what every accelerator's loader reads.
	Dataset *dataset.Dataset
	// Loader configures each accelerator's loader. Its batch size is the
	// workload's (unless the workload's is 0); its Shard, Shuffle, Seed,
	// DropLast and Epochs are set by the job: accelerator a reads shard a
	// of Accelerators of a shuffled index (of the process's share: see
	// Rank), in full batches, for as many epochs as the job runs.
	Loader loader.Options
	// Workload is what each accelerator computes.
	Workload Workload
	// Accelerators is the number of accelerators, each with its loader.
	Accelerators int
	// Rank and World place the job among the processes of a run of many
	// (World 0 or 1: the only one). Each accelerator is then one rank of
	// a DistributedDataParallel job of World x Accelerators ranks, as a
	// launcher that starts one process per accelerator numbers them:
	// accelerator a of process Rank reads shard Rank x Accelerators + a.
	Rank, World int
	// Seed seeds the shuffle, the same on every accelerator as
	// DistributedSampler's, and the draws of step times.
	Seed uint64
	// Check, when set, is called with each accelerator's every item before
	// its step computes; an error ends the job. It is called from the
	// accelerators' goroutines, concurrently.
	Check func(accel int, item *loader.Item) error
	// Observe, when set, is called with each accelerator's every batch,
	// warm-up steps included, once its items are checked and before its
	// step computes; concurrently, like Check.
	Observe func(accel int, b *loader.Batch)
}

// Shard returns accelerator a's shard.
func (c Config) Shard(a int) loader.Shard {
	w := max(c.World, 1)
	return loader.Shard{Rank: c.Rank*c.Accelerators + a, World: w * c.Accelerators}
}

// Job is a running emulated training job: Accelerators loaders feeding
// accelerators that step in lockstep, as DistributedDataParallel's
// all-reduce makes them. A step starts when every accelerator has its
// batch; each then computes (sleeps until a deadline) for the step's time,
// drawn once per step and the same on every accelerator. An accelerator's
// time from the end of its previous step's compute to the start of this
// one's is its stall: waiting for its own batch or for the others'.
//
// Its methods are for one goroutine.
type Job struct {
	cfg      Config
	batch    int
	its      []*loader.Iter
	step     int         // steps run since Start, warm-up included
	prevEnd  []time.Time // when each accelerator's last compute ended
	rec      recording
	closed   bool
	closeErr error
	stats    []loader.Stats
	perEpoch int
	held     int          // batches each loader holds, read ahead or in flight
	mu       sync.Mutex   // guards rec across the accelerators' goroutines
	late     atomic.Int64 // how late compute timers wake, in ns: an exponentially weighted mean
}

// Bounds of the timers' lateness correction: a compute is never asked to
// end more than maxLateness early, and a wake later than maxLateSample
// (the machine was busy, not the timer coarse) does not move the mean.
const (
	maxLateness   = 2 * time.Millisecond
	maxLateSample = 10 * time.Millisecond
	latenessGain  = 16 // the mean moves 1/latenessGain of the way to each sample
)

// observeLate counts a compute timer that woke late after the instant it
// was asked for; updates race and may be lost, which only slows the mean.
func (j *Job) observeLate(late time.Duration) {
	if late < 0 || late > maxLateSample {
		return
	}
	m := j.late.Load()
	j.late.Store(min(int64(maxLateness), m+(int64(late)-m)/latenessGain))
}

// recording is what a job measured since its last Reset.
type recording struct {
	start    time.Time
	steps    int
	samples  int64
	bytes    int64
	compute  []time.Duration // per accelerator
	wall     []time.Duration // per accelerator
	stepSum  time.Duration   // the step times drawn, over every step
	stall    *hdrhistogram.Histogram
	stallSum time.Duration
	stallN   int64
}

// Histogram range of stalls: 1 µs to 1 hour, 3 significant digits.
const (
	minStall = int64(time.Microsecond)
	maxStall = int64(time.Hour)
)

// Start starts the job's loaders (their warm-up reads run first and are
// not measured) and returns the job. The caller must Close it.
func Start(ctx context.Context, cfg Config) (*Job, error) {
	if cfg.Accelerators < 1 {
		return nil, fmt.Errorf("train: %d accelerators, want at least 1", cfg.Accelerators)
	}
	if cfg.Workload.StepTime < 0 || cfg.Workload.StepStdDev < 0 {
		return nil, fmt.Errorf("train: workload %s: negative step time", cfg.Workload.Name)
	}
	if cfg.Dataset == nil {
		return nil, errors.New("train: no dataset")
	}
	if cfg.Rank < 0 || cfg.Rank >= max(cfg.World, 1) {
		return nil, fmt.Errorf("train: rank %d of %d processes", cfg.Rank, cfg.World)
	}
	opts := cfg.Loader
	if cfg.Workload.Batch > 0 {
		opts.BatchSize = cfg.Workload.Batch
	}
	// Items shuffled each epoch; a stream of shards shuffles its shard
	// order and its samples itself.
	opts.Shuffle, opts.Sampler, opts.Seed = opts.Stream == nil, nil, cfg.Seed
	opts.DropLast = true
	opts.Epochs = -1
	j := &Job{cfg: cfg}
	for a := range cfg.Accelerators {
		o := opts
		o.Shard = cfg.Shard(a)
		l, err := loader.New(cfg.Dataset, o)
		if err != nil {
			j.Close()
			return nil, fmt.Errorf("train: accelerator %d: %w", a, err)
		}
		r, _ := o.Resolved()
		j.batch, j.perEpoch = r.BatchSize, l.BatchesPerEpoch()
		j.held = r.Workers * r.Prefetch
		if r.Item != nil {
			j.held = (r.Item.Window + r.BatchSize - 1) / r.BatchSize
		}
		it, err := l.Start(ctx)
		if err != nil {
			j.Close()
			return nil, fmt.Errorf("train: accelerator %d: %w", a, err)
		}
		j.its = append(j.its, it)
	}
	j.Reset()
	return j, nil
}

// Warm-up steps: at least minWarm, then up to maxDrain more while every
// loader has its next batch read already.
const (
	minWarm  = 2
	maxDrain = 8
)

// Warm runs the steps to run before measuring and returns how many it ran:
// two, then more while every loader has its next batch read already, up
// to as many as a loader holds (at most 8). Loaders start one after
// another, and the first read ahead while the others start: a
// storage-bound job consumes what they read ahead in its first steps,
// faster than its storage gives, and a job measured from its start would
// count that. A job whose loaders keep ahead of its accelerators stays
// ahead, and its utilization is the same either way.
func (j *Job) Warm(ctx context.Context) (int, error) {
	if err := j.Steps(ctx, minWarm); err != nil {
		return minWarm, err
	}
	n := minWarm
	for range min(j.held, maxDrain) {
		if !j.ready() {
			break
		}
		if err := j.Steps(ctx, 1); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// ready reports whether every loader has its next batch read.
func (j *Job) ready() bool {
	for _, it := range j.its {
		if !it.Ready(1) {
			return false
		}
	}
	return true
}

// BatchSize returns the samples of each accelerator's batch.
func (j *Job) BatchSize() int { return j.batch }

// StepsPerEpoch returns the steps of one epoch: each accelerator's batches
// an epoch.
func (j *Job) StepsPerEpoch() int { return j.perEpoch }

// Reset discards what the job measured so far and restarts its clock and
// its loaders' statistics: a caller runs a few steps to fill the
// pipelines, then resets and measures.
func (j *Job) Reset() {
	n := j.cfg.Accelerators
	now := time.Now()
	for _, it := range j.its {
		it.ResetStats()
	}
	j.prevEnd = make([]time.Time, n)
	for a := range j.prevEnd {
		j.prevEnd[a] = now
	}
	j.rec = recording{
		start:   now,
		compute: make([]time.Duration, n), wall: make([]time.Duration, n),
		stall: hdrhistogram.New(minStall, maxStall, 3),
	}
}

// stepTime returns step k's compute time: the workload's, or a draw from a
// normal distribution of its mean and standard deviation (never below
// zero), from a stream of its own for each step, so that every
// accelerator, and every run of one seed, draws the same.
func (j *Job) stepTime(k int) time.Duration {
	w := j.cfg.Workload
	if w.StepStdDev <= 0 {
		return w.StepTime
	}
	z := rand.New(rand.NewPCG(j.cfg.Seed^0x5eed57e9, uint64(k))).NormFloat64()
	return max(0, time.Duration(math.Round(float64(w.StepTime)+z*float64(w.StepStdDev))))
}

// Steps runs n steps in lockstep and records them. It returns the first
// error of any accelerator: its loader's, or Check's, or ctx's.
func (j *Job) Steps(ctx context.Context, n int) error {
	if j.closed {
		return errors.New("train: job closed")
	}
	if n <= 0 {
		return nil
	}
	g, gctx := errgroup.WithContext(ctx)
	bar := newBarrier(j.cfg.Accelerators)
	first := j.step
	for a := range j.cfg.Accelerators {
		g.Go(func() error { return j.accelerator(gctx, a, first, n, bar) })
	}
	err := g.Wait()
	j.step += n
	j.rec.steps += n
	return err
}

// accelerator runs accelerator a's n steps from step first.
func (j *Job) accelerator(ctx context.Context, a, first, n int, bar *barrier) error {
	it := j.its[a]
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var samples, bytes int64
	defer func() {
		j.mu.Lock()
		j.rec.samples += samples
		j.rec.bytes += bytes
		j.mu.Unlock()
	}()
	for k := first; k < first+n; k++ {
		b, err := it.Next()
		if err != nil {
			return fmt.Errorf("train: accelerator %d, step %d: %w", a, k, err)
		}
		if j.cfg.Check != nil {
			for i := range b.Items {
				if err := j.cfg.Check(a, &b.Items[i]); err != nil {
					return fmt.Errorf("train: accelerator %d, step %d: %w", a, k, err)
				}
			}
		}
		for i := range b.Items {
			bytes += int64(len(b.Items[i].Data))
		}
		samples += int64(len(b.Items))
		if j.cfg.Observe != nil {
			j.cfg.Observe(a, b)
		}
		if err := bar.wait(ctx); err != nil {
			return err
		}
		start := time.Now()
		d := j.stepTime(k)
		if d > 0 {
			// Ask the timer to fire as early as timers have been waking
			// late, so that compute lasts the step time on average, not
			// the step time plus the timer's lateness (up to a
			// millisecond: 5% of a 20 ms step).
			due := start.Add(d)
			asked := due.Add(-time.Duration(j.late.Load()))
			timer.Reset(time.Until(asked))
			select {
			case <-timer.C:
				j.observeLate(time.Since(asked))
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		// The accelerator is busy for the step time, from the measured
		// start of its compute; a timer that wakes later than that
		// delays its next step, and counts as that step's stall, as the
		// host's, not the accelerator's, doing.
		end := start.Add(d)
		stall, compute, wall := start.Sub(j.prevEnd[a]), end.Sub(start), end.Sub(j.prevEnd[a])
		j.prevEnd[a] = end
		j.mu.Lock()
		j.rec.compute[a] += compute
		j.rec.wall[a] += wall
		if a == 0 {
			j.rec.stepSum += d
		}
		j.rec.stallSum += stall
		j.rec.stallN++
		_ = j.rec.stall.RecordValue(min(max(int64(stall), minStall), maxStall))
		j.mu.Unlock()
	}
	return nil
}

// Result is what a job measured over the steps since its last Reset.
type Result struct {
	Accelerators int
	BatchSize    int
	// Steps counts the steps run.
	Steps int
	// Samples and Bytes count the items every accelerator consumed, and
	// their bytes, over every step.
	Samples, Bytes int64
	// Elapsed is the time from the reset to the end of the last step.
	Elapsed time.Duration
	// MeanStepTime is the mean of the compute times the steps asked for:
	// the workload's, or the mean of its draws.
	MeanStepTime time.Duration
	// AU is each accelerator's utilization, measured compute time over
	// measured wall time (from the end of its previous step's compute to
	// the end of this one's), over every step since the reset.
	AU []float64
	// StallMean and StallP99 summarise each accelerator's stall of each
	// step.
	StallMean, StallP99 time.Duration
	// Loaders holds each accelerator's loader statistics, complete once
	// the job is closed.
	Loaders []loader.Stats
}

// MeanAU returns the mean of the accelerators' utilizations.
func (r Result) MeanAU() float64 {
	var s float64
	for _, u := range r.AU {
		s += u
	}
	return s / float64(len(r.AU))
}

// MinAU returns the least utilization of one accelerator.
func (r Result) MinAU() float64 { return slices.Min(r.AU) }

// SamplesPerSecond returns the samples all accelerators consumed a second.
func (r Result) SamplesPerSecond() float64 {
	return float64(r.Samples) / r.Elapsed.Seconds()
}

// Result returns what the job measured since its last Reset. Loaders is
// filled once the job is closed.
func (j *Job) Result() Result {
	rec := &j.rec
	end := rec.start
	for _, t := range j.prevEnd {
		if t.After(end) {
			end = t
		}
	}
	r := Result{
		Accelerators: j.cfg.Accelerators, BatchSize: j.batch,
		Steps:   rec.steps,
		Samples: rec.samples, Bytes: rec.bytes,
		Elapsed: end.Sub(rec.start),
		Loaders: j.stats,
	}
	if rec.steps > 0 {
		r.MeanStepTime = rec.stepSum / time.Duration(rec.steps)
	}
	for a := range rec.compute {
		u := 0.0
		if rec.wall[a] > 0 {
			u = float64(rec.compute[a]) / float64(rec.wall[a])
		}
		r.AU = append(r.AU, u)
	}
	if rec.stallN > 0 {
		r.StallMean = rec.stallSum / time.Duration(rec.stallN)
		r.StallP99 = time.Duration(rec.stall.ValueAtQuantile(99))
	}
	return r
}

// Close stops every loader and waits for them. It returns the first error
// that stopped a loader, if any. Close after Close returns the same.
func (j *Job) Close() error {
	if j.closed {
		return j.closeErr
	}
	j.closed = true
	var errs []error
	for a, it := range j.its {
		if err := it.Close(); err != nil {
			errs = append(errs, fmt.Errorf("train: accelerator %d: %w", a, err))
		}
		j.stats = append(j.stats, it.Stats())
	}
	j.closeErr = errors.Join(errs...)
	return j.closeErr
}

// barrier is a reusable barrier for n goroutines that gives up when a
// context is done.
type barrier struct {
	mu      sync.Mutex
	n       int
	arrived int
	gen     chan struct{} // closed when the current generation is complete
}

func newBarrier(n int) *barrier { return &barrier{n: n, gen: make(chan struct{})} }

// wait returns once all n goroutines have called wait for the current
// generation, or with ctx's error once ctx is done.
func (b *barrier) wait(ctx context.Context) error {
	b.mu.Lock()
	ch := b.gen
	b.arrived++
	if b.arrived == b.n {
		b.arrived = 0
		b.gen = make(chan struct{})
		b.mu.Unlock()
		close(ch)
		return nil
	}
	b.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
