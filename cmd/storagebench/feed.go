package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"text/tabwriter"

	"golang.org/x/perf/benchfmt"

	"github.com/storagebench/storagebench/bench"
	"github.com/storagebench/storagebench/cases"
	"github.com/storagebench/storagebench/cluster"
	"github.com/storagebench/storagebench/fakes"
	"github.com/storagebench/storagebench/feed"
	"github.com/storagebench/storagebench/results"
	"github.com/storagebench/storagebench/train"
)

// loaderFlags collects repeated -loader flags.
type loaderFlags []cases.LoaderConfig

func (f *loaderFlags) String() string {
	var s []string
	for _, c := range *f {
		s = append(s, c.Text)
	}
	return strings.Join(s, " ")
}

func (f *loaderFlags) Set(s string) error {
	c, err := cases.ParseLoader(s)
	if err != nil {
		return err
	}
	*f = append(*f, c)
	return nil
}

// defaultLoaders are the configurations feed compares when -loader is not
// given: PyTorch's shape (workers fetching their own batches, each batch's
// items concurrently), and the item scheduler with hedged reads.
var defaultLoaders = []string{"mode=async/workers=4", "mode=async/workers=4/sched=item/hedge=p90"}

// runFeed implements "storagebench feed": for each loader configuration,
// it searches the most emulated accelerators the store keeps at or above
// the workload's AU threshold, running a Train case (package bench) in
// this process for each number tried, writes each run's result in
// benchmark format, and prints a table.
func runFeed(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	fs := flag.NewFlagSet("feed", flag.ContinueOnError)
	fs.SetOutput(stderr)
	backend := fs.String("backend", "fakes3", "the `backend`: mem, local or fakes3 (emulated), or s3 or scratch as the benchmarks' variables configure them")
	profile := fs.String("profile", "seed-s3", "the emulated store's `profile`")
	workload := fs.String("workload", "resnet50-h100", "the training `workload`")
	items := fs.Int("items", 50000, "`items` in the synthetic dataset (keys)")
	bodies := fs.Int("bodies", 2000, "distinct item `bodies` of the dataset: key i holds body i mod K")
	steps := fs.Int("steps", 20, "timed `steps` a run")
	maxN := fs.Int("max", 64, "the most accelerators to try")
	cache := fs.String("cache", "", "for a folder backend (local, scratch), the page cache `setting`: warm, cold or direct (STORAGEBENCH_CACHE's values); unset, reads through the cache as it stands")
	out := fs.String("o", "feed.txt", "`file` the runs' results are written to in benchmark format, for benchstat, plot and report")
	var loaders loaderFlags
	fs.Var(&loaders, "loader", "a loader `configuration` such as mode=async/workers=8/sched=item/hedge=p90 (keys: "+strings.Join(cases.LoaderKeys(), ", ")+", prefetch); repeat for several (default "+strings.Join(defaultLoaders, " and ")+")")
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintln(w, "usage: storagebench feed [-backend B] [-profile P] [-workload W] [-cache X] [-loader CONFIG]... [flags]")
		fmt.Fprintln(w, "\nFinds, for each loader configuration, the most emulated accelerators the store keeps at or")
		fmt.Fprintln(w, "above the workload's AU threshold (doubling, then bisection), running the Train case for")
		fmt.Fprintln(w, "each number tried, and prints a table: configuration, max N, AU and samples/s at it, and")
		fmt.Fprintln(w, "what held it back one accelerator further.")
		fmt.Fprintln(w, "\nFlags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("feed: unexpected argument %q", fs.Arg(0))
	}
	base := cases.NewCase(results.Train)
	if err := base.Set(cases.Backend, *backend); err != nil {
		return fmt.Errorf("feed: -backend %q: want mem, local, fakes3, s3 or scratch", *backend)
	}
	real := !cases.Hermetic(*backend)
	if real && *profile != "none" {
		// A real store: the benchmarks read it as STORAGEBENCH_S3_CONFIG
		// or STORAGEBENCH_SCRATCH_ROOT say, and emulate nothing on it.
		return fmt.Errorf("feed: -backend %s is a real store: give -profile none (a store emulates its profile itself, with storagebench serve)", *backend)
	}
	p, err := fakes.LookupProfile(*profile)
	if err != nil {
		return fmt.Errorf("feed: -profile: %w", err)
	}
	w, err := train.LookupWorkload(*workload)
	if err != nil {
		return fmt.Errorf("feed: -workload: %w", err)
	}
	if err := errors.Join(base.Set(cases.Profile, p.Name), base.Set(cases.Workload, w.Name)); err != nil {
		return fmt.Errorf("feed: %w", err)
	}
	if *cache != "" {
		if !cases.Folder(*backend) {
			return fmt.Errorf("feed: -cache %s: backend %s reads no folder; the setting applies to local and scratch", *cache, *backend)
		}
		if err := base.Set(cases.Cache, *cache); err != nil {
			return fmt.Errorf("feed: -cache: %w", err)
		}
	}
	switch {
	case *items < 1 || *bodies < 1:
		return fmt.Errorf("feed: -items %d, -bodies %d: want at least 1 each", *items, *bodies)
	case *steps < 1:
		return fmt.Errorf("feed: -steps %d: want at least 1", *steps)
	case *maxN < 1:
		return fmt.Errorf("feed: -max %d: want at least 1", *maxN)
	}
	if len(loaders) == 0 {
		for _, s := range defaultLoaders {
			if err := loaders.Set(s); err != nil {
				return err
			}
		}
	}
	// Every configuration is checked before anything runs.
	cs := make([]cases.Case, len(loaders))
	for i, lc := range loaders {
		cs[i] = base
		if err := lc.Apply(&cs[i]); err != nil {
			return fmt.Errorf("feed: %w", err)
		}
	}
	// The real stores as the benchmarks' variables configure them; the
	// synthetic dataset as the flags size it.
	env, err := bench.FromOS()
	if err != nil {
		return fmt.Errorf("feed: %w", err)
	}
	env.Items, env.Bodies = *items, *bodies
	fixture := bench.NewFixture(env)
	defer fixture.Close()
	src, err := fixture.Source(ctx, *backend)
	if err != nil {
		return fmt.Errorf("feed: %w", err)
	}
	outFile, err := os.Create(*out)
	if err != nil {
		return fmt.Errorf("feed: %w", err)
	}
	defer outFile.Close()
	rw := newResultWriter(outFile)
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "configuration\tmax %s\tAU at max\tsamples/s at max\theld back by (one more)\n", cases.Accel.Key)
	avail, knowMem := bench.AvailableMemory()
	if knowMem && os.Getenv("GOMEMLIMIT") == "" {
		// Runs of many accelerators hold many batches: the collector
		// keeps the heap under what the machine has rather than let it
		// grow to twice what is live.
		debug.SetMemoryLimit(avail * 9 / 10)
	}
	for i, lc := range loaders {
		limit := *maxN
		if knowMem {
			// The most accelerators whose loaders' batches fit in half
			// of the memory the machine has.
			c := cs[i]
			c.Accel = 1
			lsrc, err := fixture.Layout(ctx, src, c)
			if err != nil {
				return fmt.Errorf("feed: %s: %w", lc.Text, err)
			}
			prefetch := env.Prefetch
			if lc.Prefetch > 0 {
				prefetch = lc.Prefetch
			}
			each := bench.TrainHeldBytes(lsrc, c, prefetch)
			if read := float64(*steps) * float64(c.Batch) * lsrc.MeanSize(); each > 0 && read < 10*each {
				// What the loaders hold when the clock starts is read
				// before it: a run must read far more than that.
				fmt.Fprintf(stderr, "feed: %s: %d steps read about %s an accelerator, whose loaders may hold up to %s read before the clock starts: AU is uncertain by up to that share; -steps %d or more makes it a tenth\n",
					lc.Text, *steps, decimalBytes(read), decimalBytes(each), int(math.Ceil(10*each/(float64(c.Batch)*lsrc.MeanSize()))))
			}
			if each > 0 {
				if fit := int(float64(avail) / 2 / each); fit < limit {
					limit = max(fit, 1)
					fmt.Fprintf(stderr, "feed: %s: the loaders of %d accelerators hold about %.1f GiB, half the %.1f GiB this machine has: searching up to %d\n",
						lc.Text, limit, float64(limit)*each/(1<<30), float64(avail)/(1<<30), limit)
				}
			}
		}
		run := func(ctx context.Context, n int) (feed.Trial, error) {
			c := cs[i]
			if err := c.Set(cases.Accel, strconv.Itoa(n)); err != nil {
				return feed.Trial{}, err
			}
			if src.Set != nil && c.Format != cases.FormatTar {
				// A real store of tar shards: its own layout.
				if err := errors.Join(c.Set(cases.Format, cases.FormatTar), c.Set(cases.Shard, src.ShardName())); err != nil {
					return feed.Trial{}, err
				}
			}
			csrc, err := fixture.Layout(ctx, src, c)
			if err != nil {
				return feed.Trial{}, err
			}
			o := bench.TrainOptions{Prefetch: env.Prefetch, WindowBytes: env.WindowBytes, Name: c.Name()}
			if lc.Prefetch > 0 {
				o.Prefetch = lc.Prefetch
			}
			res, err := bench.Train(ctx, csrc, c, o, *steps)
			if err != nil {
				return feed.Trial{}, err
			}
			if err := rw.write(csrc, c, o.Prefetch, res); err != nil {
				return feed.Trial{}, fmt.Errorf("writing %s: %w", *out, err)
			}
			t := trial(c, res, p, csrc)
			fmt.Fprintf(stderr, "feed: %s: %d accelerators: AU %.3f, %.0f samples/s\n", lc.Text, n, t.AU, t.SamplesPerSec)
			return t, nil
		}
		o, err := feed.Search(ctx, limit, w.AUThreshold, run)
		if err != nil {
			return fmt.Errorf("feed: %s: %w", lc.Text, err)
		}
		au, rate := "-", "-"
		if o.Best != nil {
			au = strconv.FormatFloat(o.Best.AU, 'f', 3, 64)
			rate = strconv.FormatFloat(o.Best.SamplesPerSec, 'f', 0, 64)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", lc.Text, o.Max, au, rate, o.Limit(w.AUThreshold))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if err := outFile.Close(); err != nil {
		return fmt.Errorf("feed: %w", err)
	}
	dataset := fmt.Sprintf("profile %s, %d items, %d bodies", p.Name, *items, *bodies)
	if real {
		dataset = "its own dataset"
	}
	fmt.Fprintf(stdout, "%s on %s (%s), AU threshold %.2f; every run in %s\n", w.Name, *backend, dataset, w.AUThreshold, *out)
	return nil
}

// trial returns the trial a Train run of c on src measured, with the
// capacity of the store behind profile p for the run's mean sample, or
// for the requests its layout makes (a tar shard's stream reads its
// samples with one request, an item in parts takes a request a part).
func trial(c cases.Case, res bench.TrainResult, p fakes.Profile, src *bench.Source) feed.Trial {
	t := feed.Trial{Name: c.Name(), Accel: c.Accel, AU: res.MeanAU(), AUMin: res.MinAU(), Bound: math.Inf(1)}
	meanBytes := float64(res.Bytes) / float64(max(res.Samples, 1))
	t.Capacity = p.MaxRate(math.MaxInt32, meanBytes, 1, 0)
	if src.Set != nil || c.Part > 0 {
		k := src.ItemsPerRequest(c)
		t.Capacity = k * p.MaxRate(math.MaxInt32, k*src.ReadBytesPerItem(c), 1, 0)
	}
	for _, m := range res.Metrics() {
		switch m.Unit {
		case results.SamplesPerSecond:
			t.SamplesPerSec = m.Value
		case results.BoundSamplesSec:
			t.Bound = m.Value
		case results.InFlightFraction:
			t.InFlight = m.Value
		case results.CPUFraction:
			t.CPU = m.Value
		case results.ErrorsPerItem:
			t.Errors = m.Value
		}
	}
	return t
}

// resultWriter writes Train results in the benchmark format, as go test
// prints BenchmarkTrain's: the units where higher is better, the machine's
// and the source's configuration lines, then one result line a run.
type resultWriter struct {
	out    io.Writer
	w      *benchfmt.Writer
	header bool
	tar    bool // the last result written was of tar shards
}

// newResultWriter returns a writer of results to w.
func newResultWriter(w io.Writer) *resultWriter {
	return &resultWriter{out: w, w: benchfmt.NewWriter(w)}
}

// write writes the result line of a Train run of c on src, the writer's
// source or its layout of c's format.
func (rw *resultWriter) write(src *bench.Source, c cases.Case, prefetch int, res bench.TrainResult) error {
	if !rw.header {
		rw.header = true
		for _, u := range results.HigherIsBetter {
			if err := rw.w.Write(&benchfmt.UnitMetadata{UnitMetadataKey: benchfmt.UnitMetadataKey{Unit: u, Key: "better"}, OrigUnit: u, Value: "higher"}); err != nil {
				return err
			}
		}
	}
	// Configuration lines, which benchstat carries to the results after
	// them (benchfmt's writer writes only those it read from a file).
	kvs := append([][2]string{{results.ConfigGOOS, runtime.GOOS}, {results.ConfigGOARCH, runtime.GOARCH}}, src.Config(prefetch, cluster.World{Size: 1})...)
	layout := src.LayoutConfig()
	if layout == nil && rw.tar {
		// Clears the last tar result's lines.
		layout = [][2]string{{results.ConfigDatasetShards, ""}, {results.ConfigSamplesPerShard, ""}}
	}
	rw.tar = src.Set != nil
	for _, kv := range append(kvs, layout...) {
		line := kv[0] + ": " + kv[1]
		if kv[1] == "" {
			line = kv[0] + ":"
		}
		if _, err := fmt.Fprintln(rw.out, line); err != nil {
			return err
		}
	}
	r := &benchfmt.Result{Name: benchfmt.Name(fmt.Sprintf("%s-%d", strings.TrimPrefix(c.Name(), "Benchmark"), runtime.GOMAXPROCS(0))), Iters: res.Steps}
	r.Values = append(r.Values,
		benchfmt.Value{Value: float64(res.Elapsed.Nanoseconds()) / float64(res.Steps), Unit: results.NsPerOp},
		benchfmt.Value{Value: float64(res.Bytes) / 1e6 / res.Elapsed.Seconds(), Unit: results.MBPerSecond})
	for _, m := range res.Metrics() {
		r.Values = append(r.Values, benchfmt.Value{Value: m.Value, Unit: m.Unit})
	}
	return rw.w.Write(r)
}

// decimalBytes formats n bytes in MB, or in GB from 1 GB.
func decimalBytes(n float64) string {
	if n >= 1e9 {
		return strconv.FormatFloat(n/1e9, 'f', 1, 64) + " GB"
	}
	return strconv.FormatFloat(n/1e6, 'f', 1, 64) + " MB"
}
