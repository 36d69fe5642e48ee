package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/storagebench/storagebench/bench/benchenv"
	"github.com/storagebench/storagebench/fakes"
	"github.com/storagebench/storagebench/feed"
	"github.com/storagebench/storagebench/results"
	"github.com/storagebench/storagebench/train"
)

// loaderKeys maps the keys of a -loader configuration, as benchmark names
// spell them, to the variables that set them.
var loaderKeys = map[string]string{
	results.KeyMode:    benchenv.Modes,
	results.KeyWorkers: benchenv.Workers,
	results.KeyFetch:   benchenv.Fetch,
	results.KeyBatch:   benchenv.Batch,
	results.KeySched:   benchenv.Sched,
	results.KeyWindow:  benchenv.Window,
	results.KeyHedge:   benchenv.Hedge,
	"prefetch":         benchenv.Prefetch,
}

// loaderConfig is one -loader configuration: its text and the variables it
// sets.
type loaderConfig struct {
	text string
	env  []string
}

// parseLoaderConfig parses "mode=async/workers=8/sched=item/hedge=p90".
func parseLoaderConfig(s string) (loaderConfig, error) {
	c := loaderConfig{text: s}
	seen := map[string]bool{}
	for _, kv := range strings.Split(s, "/") {
		k, v, ok := strings.Cut(kv, "=")
		name, known := loaderKeys[k]
		switch {
		case !ok || v == "":
			return c, fmt.Errorf("-loader %q: %q is not key=value", s, kv)
		case !known:
			return c, fmt.Errorf("-loader %q: unknown key %q, want mode, workers, fetch, batch, sched, window, hedge or prefetch", s, k)
		case seen[k]:
			return c, fmt.Errorf("-loader %q: %s given twice", s, k)
		case strings.Contains(v, ","):
			return c, fmt.Errorf("-loader %q: %s=%s: one value a configuration (give -loader again for another)", s, k, v)
		}
		seen[k] = true
		c.env = append(c.env, name+"="+v)
	}
	return c, nil
}

// loaderFlags collects repeated -loader flags.
type loaderFlags []loaderConfig

func (f *loaderFlags) String() string {
	var s []string
	for _, c := range *f {
		s = append(s, c.text)
	}
	return strings.Join(s, " ")
}

func (f *loaderFlags) Set(s string) error {
	c, err := parseLoaderConfig(s)
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
// the workload's AU threshold, running BenchmarkTrain (a test binary of
// package bench, built once) for each number tried and reading its
// results through package results, and prints a table.
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
	out := fs.String("o", "feed.txt", "`file` the runs' benchmark output is written to, for benchstat, plot and report")
	pkg := fs.String("pkg", "./bench", "the benchmark `package`, as go test names it; run feed from the module's folder")
	var loaders loaderFlags
	fs.Var(&loaders, "loader", "a loader `configuration` such as mode=async/workers=8/sched=item/hedge=p90 (keys: mode, workers, fetch, batch, sched, window, hedge, prefetch); repeat for several (default "+strings.Join(defaultLoaders, " and ")+")")
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintln(w, "usage: storagebench feed [-backend B] [-profile P] [-workload W] [-loader CONFIG]... [flags]")
		fmt.Fprintln(w, "\nFinds, for each loader configuration, the most emulated accelerators the store keeps at or")
		fmt.Fprintln(w, "above the workload's AU threshold (doubling, then bisection), running BenchmarkTrain for")
		fmt.Fprintln(w, "each number tried, and prints a table: configuration, max N, AU and samples/s at it, and")
		fmt.Fprintln(w, "what held it back one accelerator further. Needs the go command; run it from the module's folder.")
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
	real := false
	switch *backend {
	case "mem", "local", "fakes3":
	case "s3", "scratch":
		// A real store: the benchmarks read it as STORAGEBENCH_S3_CONFIG
		// or STORAGEBENCH_SCRATCH_ROOT say, and emulate nothing on it.
		real = true
		if *profile != "none" {
			return fmt.Errorf("feed: -backend %s is a real store: give -profile none (a store emulates its profile itself, with storagebench serve)", *backend)
		}
	default:
		return fmt.Errorf("feed: -backend %q: want mem, local, fakes3, s3 or scratch", *backend)
	}
	p, err := fakes.LookupProfile(*profile)
	if err != nil {
		return fmt.Errorf("feed: -profile: %w", err)
	}
	w, err := train.LookupWorkload(*workload)
	if err != nil {
		return fmt.Errorf("feed: -workload: %w", err)
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
	goCmd, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("feed: runs BenchmarkTrain with the go command, which is not on PATH: %w", err)
	}
	tmp, err := os.MkdirTemp("", "storagebench-feed-")
	if err != nil {
		return fmt.Errorf("feed: %w", err)
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "bench.test")
	build := exec.CommandContext(ctx, goCmd, "test", "-c", "-o", bin, *pkg)
	if msg, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("feed: building the benchmarks of %s: %w\n%s", *pkg, err, msg)
	}
	outFile, err := os.Create(*out)
	if err != nil {
		return fmt.Errorf("feed: %w", err)
	}
	defer outFile.Close()

	base := []string{
		benchenv.Backends + "=" + *backend,
		benchenv.Workloads + "=" + w.Name,
	}
	if !real {
		base = append(base, benchenv.Profiles+"="+p.Name, benchenv.Items+"="+strconv.Itoa(*items), benchenv.Bodies+"="+strconv.Itoa(*bodies))
	}
	// The store's own limit in samples/s, from the mean item size the
	// runs report.
	capacity := func(meanBytes float64) float64 {
		return p.MaxRate(math.MaxInt32, meanBytes, 1, 0)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "configuration\tmax %s\tAU at max\tsamples/s at max\theld back by (one more)\n", "accel")
	for i, lc := range loaders {
		trialN := 0
		run := func(ctx context.Context, n int) (feed.Trial, error) {
			trialN++
			env := append(append(append(os.Environ(), base...), lc.env...), benchenv.Accel+"="+strconv.Itoa(n))
			var buf bytes.Buffer
			cmd := exec.CommandContext(ctx, bin, "-test.run", "^$", "-test.bench", "^BenchmarkTrain$",
				"-test.benchtime", strconv.Itoa(*steps)+"x", "-test.timeout", "60m")
			cmd.Env, cmd.Stdout, cmd.Stderr = env, &buf, &buf
			err := cmd.Run()
			if _, werr := outFile.Write(buf.Bytes()); werr != nil {
				return feed.Trial{}, werr
			}
			if err != nil {
				return feed.Trial{}, fmt.Errorf("BenchmarkTrain: %w\n%s", err, tail(buf.String(), 20))
			}
			file := filepath.Join(tmp, fmt.Sprintf("config%d-run%d.txt", i, trialN))
			if err := os.WriteFile(file, buf.Bytes(), 0o666); err != nil {
				return feed.Trial{}, err
			}
			set, err := results.Read(file)
			if err != nil {
				return feed.Trial{}, err
			}
			g, err := set.Group()
			if err != nil {
				return feed.Trial{}, err
			}
			pts := g.Points
			if len(pts) != 1 {
				return feed.Trial{}, fmt.Errorf("BenchmarkTrain printed %d results, want 1:\n%s", len(pts), tail(buf.String(), 20))
			}
			mean, _ := strconv.ParseFloat(pts[0].Config(results.ConfigDatasetMeanBytes), 64)
			t, err := feed.FromPoint(pts[0], capacity(mean))
			if err == nil {
				fmt.Fprintf(stderr, "feed: %s: %d accelerators: AU %.3f, %.0f samples/s\n", lc.text, n, t.AU, t.SamplesPerSec)
			}
			return t, err
		}
		o, err := feed.Search(ctx, *maxN, w.AUThreshold, run)
		if err != nil {
			return fmt.Errorf("feed: %s: %w", lc.text, err)
		}
		au, rate := "-", "-"
		if o.Best != nil {
			au = strconv.FormatFloat(o.Best.AU, 'f', 3, 64)
			rate = strconv.FormatFloat(o.Best.SamplesPerSec, 'f', 0, 64)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", lc.text, o.Max, au, rate, o.Limit(w.AUThreshold))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	dataset := fmt.Sprintf("profile %s, %d items, %d bodies", p.Name, *items, *bodies)
	if real {
		dataset = "its own dataset"
	}
	fmt.Fprintf(stdout, "%s on %s (%s), AU threshold %.2f; every run in %s\n", w.Name, *backend, dataset, w.AUThreshold, *out)
	return nil
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
