package bench

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"testing"
	"time"

	"github.com/storagebench/storagebench/bench/benchenv"
	"github.com/storagebench/storagebench/fakes"
	"github.com/storagebench/storagebench/internal/proccpu"
	"github.com/storagebench/storagebench/loader"
	"github.com/storagebench/storagebench/results"
	"github.com/storagebench/storagebench/train"
)

// TrainCase is one point of the Train matrix: a workload on Accel
// emulated accelerators, each with a loader of Options, reading a source
// behind Profile and Faults.
type TrainCase struct {
	Profile  fakes.Profile
	Faults   fakes.Faults
	Workload train.Workload
	Accel    int
	// Options is each accelerator's loader; its batch size is the
	// workload's, unless the workload has none (compute-<d>).
	Options loader.Options
	// Deep checks the content of every item read, not only its length.
	Deep bool
	// Rank, in a run of many processes, is this one's: its accelerators
	// read their shards of the rank's share (see [train.Config]). Nil for
	// a process of its own.
	Rank *Rank

	tr   *tracker                        // what the timeline records; nil for none
	sync func(ctx context.Context) error // waits for the other ranks; nil for none
}

// trainSeed seeds the shuffle of a Train run's every epoch, the same on
// every rank, as DistributedSampler's seed is.
const trainSeed = 1

// trainPlan returns the coverage plan of c's accelerators: those of every
// rank read their shards of each epoch's shuffled order in full batches.
func trainPlan(src *Source, c TrainCase) func(epoch int) (share, want int64, wantSum uint64) {
	world, rank := 1, 0
	if c.Rank.distributed() {
		world, rank = c.Rank.World.Size, c.Rank.World.Rank
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
	batch := c.Options.BatchSize
	if c.Workload.Batch > 0 {
		batch = c.Workload.Batch
	}
	if r, err := c.Options.Resolved(); batch == 0 && err == nil {
		batch = r.BatchSize
	}
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
}

// Train runs c on src: it starts the job (each loader's warm-up reads
// first), runs its warm-up steps (see [train.Job.Warm]), calls start,
// runs steps timed steps, calls stop, and returns what was measured. Every
// item consumed is checked against src: its length, and its bytes with
// Deep. start and stop may be nil.
func Train(ctx context.Context, src *Source, c TrainCase, steps int, start, stop func()) (TrainResult, error) {
	var res TrainResult
	ds, restore, err := src.Dataset(c.Profile, c.Faults, 1)
	if err != nil {
		return res, err
	}
	defer restore()
	opts := c.Options
	if c.Workload.Batch > 0 {
		opts.BatchSize = c.Workload.Batch
	}
	ropts, err := opts.Resolved()
	if err != nil {
		return res, err
	}
	world := 1
	if c.Rank.distributed() {
		world = c.Rank.World.Size
	}
	share := loader.Shard{World: c.Accel * world}.Len(len(src.Index))
	if perEpoch := share / ropts.BatchSize; perEpoch < MinStepsPerEpoch {
		need := MinStepsPerEpoch * ropts.BatchSize * c.Accel * world
		return res, fmt.Errorf("%d items give %d accelerators %d steps of %d an epoch, fewer than %d: set %s to at least %d (%s keeps the memory of few bodies)",
			len(src.Index), c.Accel*world, perEpoch, ropts.BatchSize, MinStepsPerEpoch, benchenv.Items, need, benchenv.Bodies)
	}
	cfg := train.Config{
		Dataset: ds, Loader: opts, Workload: c.Workload, Accelerators: c.Accel, Seed: trainSeed,
		Check: func(_ int, it *loader.Item) error { return src.Check(it.Index, it.Data, c.Deep) },
	}
	if c.Rank.distributed() {
		cfg.Rank, cfg.World = c.Rank.World.Rank, c.Rank.World.Size
	}
	if c.tr != nil {
		tr := c.tr
		cfg.Observe = func(_ int, b *loader.Batch) {
			tr.epoch(b.Epoch, b.Items)
			var nbytes int64
			for i := range b.Items {
				nbytes += int64(len(b.Items[i].Data))
			}
			tr.count(int64(len(b.Items)), nbytes)
		}
	}
	job, err := train.Start(ctx, cfg)
	if err != nil {
		return res, err
	}
	defer job.Close()
	if res.Warm, err = job.Warm(ctx); err != nil {
		return res, err
	}
	if c.sync != nil {
		// Every rank waits for the others, its loaders reading ahead
		// meanwhile; warm-up steps again consume what they read.
		if err := c.sync(ctx); err != nil {
			return res, err
		}
		n, err := job.Warm(ctx)
		res.Warm += n
		if err != nil {
			return res, err
		}
	}
	runtime.GC() // not to pay for what ran before
	job.Reset()
	cpu0, cpuOK := proccpu.Time()
	t0 := time.Now()
	if start != nil {
		start()
	}
	err = job.Steps(ctx, steps)
	if stop != nil {
		stop()
	}
	res.Wall = time.Since(t0)
	cpu1, _ := proccpu.Time()
	if cerr := job.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return res, err
	}
	res.Result = job.Result()
	res.InFlight = c.Accel * ropts.InFlight()
	meanBytes := float64(res.Bytes) / float64(max(res.Samples, 1))
	res.Bound = Bound(c.Profile, res.InFlight, meanBytes, math.Inf(1), res.Wall)
	if cpuOK && res.Wall > 0 {
		res.CPU = float64(cpu1-cpu0) / (float64(res.Wall) * float64(runtime.GOMAXPROCS(0)))
	}
	return res, nil
}

// RunTrain benchmarks c on src. One op is one training step of every
// accelerator, so ns/op is the mean step's wall time and samples/s is
// accelerators x batch x 1e9 / ns/op (every batch is full). The loaders'
// warm-up reads and the job's warm-up steps run before the timer starts.
// Run it with -benchtime Nx, N steps: at the default 1s a step of
// resnet50-h100 (224 ms) leaves too few to measure.
//
// With c.Rank, one rank of a run of many, its accelerators read their
// shards of the rank's share, it waits for the other ranks after its
// warm-up steps (then warms up again), ends when another rank dies, and
// records the timed steps on the rank's timeline. testing's first run of
// one step, which a -benchtime of more steps follows, is neither
// synchronised nor recorded: its result is discarded.
func RunTrain(b *testing.B, src *Source, c TrainCase) {
	ctx := c.Rank.bind(context.Background(), b)
	if !probe(b) {
		c.tr = c.Rank.tracker(trainPlan(src, c))
		if c.Rank != nil && c.Rank.session != nil {
			c.sync = func(ctx context.Context) error { return c.Rank.barrier(ctx, b) }
		}
	}
	var endErr error
	res, err := Train(ctx, src, c, b.N, func() { b.ResetTimer(); c.tr.start(b) }, func() { b.StopTimer(); endErr = c.tr.end(b) })
	if err != nil {
		b.Fatal(cause(ctx, err))
	}
	if endErr == nil {
		endErr = c.tr.epochs()
	}
	if endErr != nil {
		b.Fatal(endErr)
	}
	elapsed := b.Elapsed()
	if b.N == 0 || elapsed <= 0 {
		b.Fatalf("%d steps in %v: no rate to report", b.N, elapsed)
	}
	b.SetBytes(int64(math.Round(float64(res.Bytes) / float64(b.N))))
	// One op is one step of every accelerator: samples/s is accelerators x
	// batch x 1e9 / ns/op when every batch is full.
	b.ReportMetric(res.MeanAU(), results.AU)
	b.ReportMetric(res.MinAU(), results.AUMin)
	b.ReportMetric(float64(res.Samples)/elapsed.Seconds(), results.SamplesPerSecond)
	b.ReportMetric(float64(res.StallMean.Nanoseconds()), results.StallMeanNs)
	b.ReportMetric(float64(res.StallP99.Nanoseconds()), results.StallP99Ns)
	b.ReportMetric(float64(res.Steps), results.Steps)
	if !math.IsInf(res.Bound, 0) && res.Bound > 0 {
		b.ReportMetric(res.Bound, results.BoundSamplesSec)
	}
	if res.CPU > 0 {
		b.ReportMetric(res.CPU, results.CPUFraction)
	}
	// The loaders' statistics, summed: each loader's busy time over its
	// own elapsed time and its own C, and the failures of all.
	var st loader.Stats
	var getitem time.Duration
	for _, l := range res.Loaders {
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
		b.ReportMetric(float64(st.ReadTime)/float64(st.Elapsed)/float64(res.InFlight/n), results.InFlightFraction)
	}
	reportFailures(b, !c.Faults.IsZero(), st.Items, st.Skipped, st.AttemptErrors, st.Retries, st.RetryTime, getitem)
}
