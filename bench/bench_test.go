package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/storagebench/storagebench/cases"
	"github.com/storagebench/storagebench/loader"
	"github.com/storagebench/storagebench/results"
)

// fixture holds the sources of this test binary; TestMain removes them.
var fixture *Fixture

// rank is this process's part in a run of many, nil for a process of
// its own; TestMain joins the run and leaves it.
var rank *Rank

// deep makes the benchmarks check every item's bytes, not only its length;
// the tests that run benchmarks set it.
var deep = flag.Bool("deep", false, "check the bytes of every item read, not only its length")

func TestMain(m *testing.M) {
	env, err := FromOS()
	if err != nil {
		// A misconfigured environment fails the whole run at once, loudly.
		fmt.Fprintln(os.Stderr, "storagebench:", err)
		os.Exit(2)
	}
	for _, note := range env.Cluster.Notes {
		// Launches nest (torchrun in an sbatch allocation): the first
		// launcher's rank is used, and the others' disagreement said.
		fmt.Fprintln(os.Stderr, "storagebench:", note)
	}
	flag.Parse()
	env.Smoke = testing.Short()
	if err := checkCount(env); err != nil {
		fmt.Fprintln(os.Stderr, "storagebench:", err)
		os.Exit(2)
	}
	if rank, err = JoinRank(context.Background(), env); err != nil {
		fmt.Fprintln(os.Stderr, "storagebench:", err)
		os.Exit(2)
	}
	fixture = NewFixture(env)
	// Every configured store and index is checked before any line runs,
	// when benchmarks run: a misconfigured one fails within seconds, not
	// after every line before it.
	if f := flag.Lookup("test.bench"); f != nil && f.Value.String() != "" {
		if err := fixture.Prepare(context.Background()); err != nil {
			fmt.Fprintln(os.Stderr, "storagebench:", err)
			fixture.Close()
			rank.Close(context.Background(), err)
			os.Exit(2)
		}
	}
	code := m.Run()
	if err := fixture.Close(); err != nil && code == 0 {
		fmt.Fprintln(os.Stderr, "closing the benchmark fixture:", err)
		code = 1
	}
	var runErr error
	if code != 0 {
		runErr = fmt.Errorf("exited with status %d", code)
	}
	if err := rank.Close(context.Background(), runErr); err != nil {
		fmt.Fprintln(os.Stderr, "storagebench: leaving the run:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// benchtime returns -test.benchtime as a count of iterations (Nx), or 0
// for a duration.
func benchtime() int {
	f := flag.Lookup("test.benchtime")
	if f == nil {
		return 0
	}
	v, ok := strings.CutSuffix(f.Value.String(), "x")
	n, err := strconv.Atoi(v)
	if !ok || err != nil {
		return 0
	}
	return n
}

// checkCount refuses a run of many ranks, or one that keeps a timeline,
// whose -test.benchtime is a duration: every rank must run the same timed
// runs, once each, and a timeline would hold every trial of a duration.
func checkCount(e Env) error {
	f := flag.Lookup("test.benchtime")
	if !e.Cluster.Active() || f == nil || benchtime() > 0 {
		return nil
	}
	switch {
	case e.Cluster.World.Size > 1:
		return fmt.Errorf("a run of %d ranks needs -test.benchtime as a count of iterations, such as -test.benchtime 100x, the same on every rank (got %s): a duration gives every rank its own count",
			e.Cluster.World.Size, f.Value.String())
	case e.Cluster.Timeline != "":
		return fmt.Errorf("%s needs -test.benchtime as a count of iterations, such as -test.benchtime 100x (got %s): a duration would size each rank's runs by its own clock",
			cases.Timeline, f.Value.String())
	}
	return nil
}

// source returns the named source, failing tb if it cannot be built.
func source(tb testing.TB, name string) *Source {
	tb.Helper()
	src, err := fixture.Source(context.Background(), name)
	if err != nil {
		tb.Fatal(err)
	}
	return src
}

var unitsOnce sync.Once

// printConfig prints the benchmark-format lines that describe src: the
// configuration benchstat carries into every result that follows, and,
// once, the units where higher is better. It runs in the top-level
// benchmarks only, which print no result line of their own, so that the
// lines never land inside a result line.
func printConfig(src *Source) {
	unitsOnce.Do(func() {
		for _, u := range results.HigherIsBetter {
			fmt.Printf("Unit %s better=higher\n", u)
		}
	})
	if testing.Short() {
		fmt.Printf("%s: true\n", results.ConfigSmoke)
	}
	for _, kv := range src.Config(fixture.Env().Prefetch, rank.world()) {
		fmt.Printf("%s: %s\n", kv[0], kv[1])
	}
	if wb := fixture.Env().WindowBytes; wb != 0 {
		// Only when set: results of the default budget still pair.
		fmt.Printf("%s: %s\n", results.ConfigWindowBytes, WindowBytesString(wb))
	}
}

// eachCase runs fn in a sub-benchmark for each case of bench, under a
// sub-benchmark of its backend, which builds the backend's source (only
// when a case of it is selected) and prints its configuration lines; and
// before each case, the levels it leaves out (see [EpochTimed]) and, for a
// warm folder that fits in memory, that its reads are memory copies (see
// [PageCacheNote]), each cleared after the cases it concerns.
func eachCase(b *testing.B, bench string, fn func(b *testing.B, src *Source, c cases.Case)) {
	m := fixture.Env().Matrix
	for _, backend := range m.Backends() {
		b.Run(cases.Backend.Key+"="+backend, func(b *testing.B) {
			src := source(b, backend)
			printConfig(src)
			untimed, noted := false, ""
			var layout *Source // the layout the last line read, its lines printed
			for c := range m.Cases(bench) {
				if c.Backend != backend {
					continue
				}
				csrc, err := fixture.Layout(context.Background(), src, c)
				if err != nil {
					b.Fatal(err)
				}
				if csrc != layout && (csrc.Set != nil || layout != nil && layout.Set != nil) {
					// Tar lines say how their samples are sharded; the
					// lines after them clear it.
					for _, kv := range csrc.LayoutConfig() {
						fmt.Printf("%s: %s\n", kv[0], kv[1])
					}
					if csrc.Set == nil {
						fmt.Printf("%s:\n%s:\n", results.ConfigDatasetShards, results.ConfigSamplesPerShard)
					}
				}
				layout = csrc
				note, err := PageCacheNote(context.Background(), csrc, c.Cache)
				if err != nil {
					b.Fatal(err)
				}
				if note != noted {
					// A warm folder that fits in memory: its reads are
					// memory copies, and the lines say so.
					noted = note
					if note != "" {
						note = " " + note
					}
					fmt.Printf("%s:%s\n", results.ConfigPageCache, note)
				}
				epochs := bench != results.Load || EpochTimed(c, rank.shard().Len(len(csrc.Index)))
				if epochs == untimed {
					// The line's levels differ from the last line's.
					untimed = !epochs
					level := ""
					if untimed {
						level = " " + loader.Epoch.String()
					}
					fmt.Printf("%s:%s\n", results.ConfigUntimedLevels, level)
				}
				b.Run(c.SubName(), func(b *testing.B) { fn(b, csrc, c) })
			}
			if layout != nil && layout.Set != nil {
				fmt.Printf("%s:\n%s:\n", results.ConfigDatasetShards, results.ConfigSamplesPerShard)
			}
			if untimed {
				fmt.Printf("%s:\n", results.ConfigUntimedLevels)
			}
			if noted != "" {
				fmt.Printf("%s:\n", results.ConfigPageCache)
			}
		})
	}
}

// skipRanks skips a benchmark of one process's own limits in a run of
// many, which would run them unsynchronised and unsharded.
func skipRanks(b *testing.B) {
	if rank.distributed() {
		b.Skipf("%s measures this process alone; a run of %d ranks runs BenchmarkLoad and BenchmarkTrain", b.Name(), rank.World.Size)
	}
}

func BenchmarkRaw(b *testing.B) {
	skipRanks(b)
	eachCase(b, results.Raw, runRaw)
}

// runRaw benchmarks the case's C goroutines reading src straight from its
// backend behind its profile and faults, holding RawHold items: the raw
// baseline. One op is one item read; MB/s counts the bytes read.
func runRaw(b *testing.B, src *Source, c cases.Case) {
	ctx := context.Background()
	r, err := StartRaw(ctx, src, c)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	b.ReportAllocs()
	b.ResetTimer()
	nbytes, err := r.Read(ctx, b.N)
	if err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.SetBytes(int64(math.Round(float64(nbytes) / float64(b.N))))
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), results.ItemsPerSecond)
	metrics, err := r.Metrics(ctx)
	if err != nil {
		b.Fatal(err)
	}
	report(b, metrics)
}

func BenchmarkLoad(b *testing.B) {
	eachCase(b, results.Load, runLoad)
}

// bind binds b to this rank's run of many: b's context ends when the run
// must, and b's failure ends the run on the other ranks.
func bind(b *testing.B) context.Context {
	ctx, done := rank.Bind(context.Background(), b.Name())
	b.Cleanup(func() {
		var err error
		if b.Failed() {
			err = errors.New("its output says why")
		}
		done(err)
	})
	return ctx
}

// runLoad benchmarks the loader on src: one op is one item delivered to
// the consumer, so ns/op is the time per item and items/s its inverse.
// The run is sized by the harness: with -benchtime a duration, the timed
// run lasts at least that long and is then lengthened to whole rounds
// covering the run's minimums (see [Sizing]); with -benchtime a count,
// a count below the minimums is refused before the timed run, naming one
// that suits this line and how long it takes here.
func runLoad(b *testing.B, src *Source, c cases.Case) {
	ctx := bind(b)
	r, err := StartLoad(ctx, src, c, LoadOptions{Prefetch: fixture.Env().Prefetch, WindowBytes: fixture.Env().WindowBytes, Deep: *deep, Rank: rank, Name: b.Name()})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	size := r.Sizing()
	count := benchtime()
	if count > 0 && count < size.Items {
		need := size.Whole(size.Items)
		b.Fatalf("-benchtime %dx is too short to time every level of this line: it needs %d items (whole rounds of %d, at least %d epochs and enough rounds for 10 batch periods). Run with -benchtime %dx (about %v here, at the %.0f items/s read before the timer), or with a duration: the harness then lengthens each line to its minimums",
			count, size.Items, size.Round, MinEpochs, need, size.Estimate(need).Round(time.Second), size.Rate)
	}
	b.ReportAllocs()
	first := true
	for b.Loop() {
		if first {
			// The loader's clock restarts as the timer starts, on the
			// first pass: b.Loop's own start (it reads the memory
			// statistics) takes a millisecond or two, during which the
			// loader reads on.
			r.Start()
			first = false
		}
		if err := r.Next(); err != nil {
			b.Fatal(err)
		}
	}
	if count == 0 {
		// A duration: lengthen the timed run to whole rounds covering
		// the minimums. The timer restarts at once where b.Loop stopped
		// it, and b.N counts every item timed.
		if n := size.Whole(max(b.N, size.Items)); n > b.N {
			b.StartTimer()
			for range n - b.N {
				if err := r.Next(); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.N = n
		}
	}
	res, err := r.Finish(b.N, b.Elapsed())
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(math.Round(float64(res.Bytes) / float64(b.N))))
	report(b, res.Metrics())
}

// report reports metrics on b's result line.
func report(b *testing.B, metrics []Metric) {
	for _, m := range metrics {
		b.ReportMetric(m.Value, m.Unit)
	}
}

func BenchmarkDecode(b *testing.B) {
	skipRanks(b)
	src := source(b, "mem")
	printConfig(src)
	d, err := NewDecoding(src)
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []int{1, runtime.GOMAXPROCS(0)} {
		b.Run(results.SubName(results.KeyConcurrency, c), func(b *testing.B) {
			b.ReportAllocs()
			b.ResetTimer()
			nbytes, err := d.Decode(b.N, c)
			if err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			b.SetBytes(int64(math.Round(float64(nbytes) / float64(b.N))))
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), results.ItemsPerSecond)
		})
	}
}

func TestFromEnv(t *testing.T) {
	for _, tc := range []struct {
		name string
		vars map[string]string
		want string // error substring; "" for success
	}{
		{"defaults", nil, ""},
		{"matrix", map[string]string{"STORAGEBENCH_WORKERS": "2, 8", "STORAGEBENCH_MODES": "async", "STORAGEBENCH_PROFILES": "seed-s3,fixed-5ms", "STORAGEBENCH_DECODE": "jpeg"}, ""},
		{"bad workers", map[string]string{"STORAGEBENCH_WORKERS": "2,x"}, `STORAGEBENCH_WORKERS="2,x"`},
		{"zero workers", map[string]string{"STORAGEBENCH_WORKERS": "0"}, "integer >= 1"},
		{"empty element", map[string]string{"STORAGEBENCH_BATCH": "50,"}, "empty element"},
		{"bad mode", map[string]string{"STORAGEBENCH_MODES": "sync,fast"}, `unknown mode "fast"`},
		{"bad decoder", map[string]string{"STORAGEBENCH_DECODE": "png"}, `unknown decoder "png"`},
		{"bad profile", map[string]string{"STORAGEBENCH_PROFILES": "glacier"}, "glacier"},
		{"bad backend", map[string]string{"STORAGEBENCH_BACKENDS": "mem,nfs"}, `unknown backend "nfs"`},
		{"schedulers", map[string]string{"STORAGEBENCH_SCHED": "batch,item", "STORAGEBENCH_WINDOW": "4C,800", "STORAGEBENCH_HEDGE": "off,p90,20ms"}, ""},
		{"bad scheduler", map[string]string{"STORAGEBENCH_SCHED": "fifo"}, `STORAGEBENCH_SCHED="fifo": unknown scheduler "fifo"`},
		{"bad window", map[string]string{"STORAGEBENCH_WINDOW": "4X"}, `STORAGEBENCH_WINDOW="4X": window "4X"`},
		{"bad hedge", map[string]string{"STORAGEBENCH_HEDGE": "p100"}, `STORAGEBENCH_HEDGE="p100": hedge "p100"`},
		{"bad items", map[string]string{"STORAGEBENCH_ITEMS": "-3"}, "STORAGEBENCH_ITEMS"},
		{"cache", map[string]string{"STORAGEBENCH_CACHE": "warm,cold,direct", "STORAGEBENCH_LOCAL_FILES": "distinct"}, ""},
		{"bad cache", map[string]string{"STORAGEBENCH_CACHE": "cold,hot"}, `STORAGEBENCH_CACHE="cold,hot": unknown cache setting "hot"`},
		{"bad local files", map[string]string{"STORAGEBENCH_LOCAL_FILES": "hardlinked"}, `STORAGEBENCH_LOCAL_FILES="hardlinked": want linked or distinct`},
		{"index without root", map[string]string{"STORAGEBENCH_SCRATCH_INDEX": "/x.json"}, "STORAGEBENCH_SCRATCH_ROOT is not"},
		// A backend named but not configured fails instead of printing
		// PASS and no result.
		{"scratch misspelled root", map[string]string{"STORAGEBENCH_BACKENDS": "scratch", "STORAGEBENCH_SCRATCH_RO0T": "/data"}, "unknown variable STORAGEBENCH_SCRATCH_RO0T: did you mean STORAGEBENCH_SCRATCH_ROOT?"},
		{"scratch unconfigured", map[string]string{"STORAGEBENCH_BACKENDS": "scratch"}, "backend scratch is not configured: set STORAGEBENCH_SCRATCH_ROOT"},
		{"s3 unconfigured", map[string]string{"STORAGEBENCH_BACKENDS": "mem,s3"}, "backend s3 is not configured: set STORAGEBENCH_S3_CONFIG"},
		{"scratch configured", map[string]string{"STORAGEBENCH_BACKENDS": "scratch", "STORAGEBENCH_SCRATCH_ROOT": "/data"}, ""},
		// A run of many ranks.
		{"torchrun rank", map[string]string{"RANK": "1", "WORLD_SIZE": "2", "STORAGEBENCH_RENDEZVOUS": "s3://b/rdv"}, ""},
		{"rank past world", map[string]string{"RANK": "2", "WORLD_SIZE": "2"}, "RANK=2 is not below WORLD_SIZE=2"},
		{"world without rank", map[string]string{"STORAGEBENCH_WORLD_SIZE": "4"}, "STORAGEBENCH_WORLD_SIZE=4 is set but no rank is"},
		{"bad start", map[string]string{"STORAGEBENCH_START_AT": "soon"}, `STORAGEBENCH_START_AT="soon"`},
		{"bad heartbeat", map[string]string{"STORAGEBENCH_HEARTBEAT": "0s"}, `STORAGEBENCH_HEARTBEAT="0s": want a positive duration`},
		{"bad rendezvous", map[string]string{"STORAGEBENCH_RENDEZVOUS": "s3://"}, `STORAGEBENCH_RENDEZVOUS="s3://"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var environ []string
			for k, v := range tc.vars {
				environ = append(environ, k+"="+v)
			}
			e, err := FromEnv(environ)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("FromEnv = %v, want success", err)
				}
				if m := e.Matrix; tc.name == "matrix" && (!slices.Equal(m.Values(cases.Workers), []string{"2", "8"}) || !slices.Equal(m.Values(cases.Mode), []string{"async"}) ||
					!slices.Equal(m.Values(cases.Profile), []string{"seed-s3", "fixed-5ms"}) || !m.Set(cases.Decode)) {
					t.Errorf("FromEnv = %+v, want the matrix set by the variables", e)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("FromEnv error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestDefaultBackends checks that a configured real store joins the
// default backends and an unconfigured one is not among them.
func TestDefaultBackends(t *testing.T) {
	for _, tc := range []struct {
		environ []string
		want    []string
	}{
		{nil, []string{"mem", "local", "fakes3"}},
		{[]string{"STORAGEBENCH_SCRATCH_ROOT=/data"}, []string{"mem", "local", "fakes3", "scratch"}},
		{[]string{"STORAGEBENCH_S3_CONFIG=s3.json", "STORAGEBENCH_SCRATCH_ROOT=/data"}, []string{"mem", "local", "fakes3", "s3", "scratch"}},
	} {
		e, err := FromEnv(tc.environ)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tc.want, e.Matrix.Backends()); diff != "" {
			t.Errorf("FromEnv(%q).Backends (-want +got):\n%s", tc.environ, diff)
		}
	}
}

// TestJoinRank checks that a run of many ranks, or one keeping a
// timeline, is refused at once with a duration for -test.benchtime,
// which would give every rank its own iterations, and that a run of one
// joins nothing.
func TestJoinRank(t *testing.T) {
	if r, err := JoinRank(t.Context(), Env{}); r != nil || err != nil {
		t.Errorf("JoinRank(no cluster) = %v, %v; want nil, nil", r, err)
	}
	if benchtime() > 0 {
		t.Skip("-test.benchtime is a count here")
	}
	e, err := FromEnv([]string{"STORAGEBENCH_RANK=0", "STORAGEBENCH_WORLD_SIZE=2", "STORAGEBENCH_RENDEZVOUS=" + t.TempDir(), "STORAGEBENCH_RUN_ID=r"})
	if err != nil {
		t.Fatal(err)
	}
	if want := "a run of 2 ranks needs -test.benchtime as a count of iterations"; !errContains(checkCount(e), want) {
		t.Errorf("checkCount = %v, want an error containing %q", checkCount(e), want)
	}
	// A timeline alone: a duration would size each rank's runs itself.
	if e, err = FromEnv([]string{"STORAGEBENCH_TIMELINE=" + t.TempDir() + "/"}); err != nil {
		t.Fatal(err)
	}
	if want := "STORAGEBENCH_TIMELINE needs -test.benchtime as a count"; !errContains(checkCount(e), want) {
		t.Errorf("checkCount(timeline) = %v, want an error containing %q", checkCount(e), want)
	}
}

// errContains reports whether err is not nil and its text holds want.
func errContains(err error, want string) bool {
	return err != nil && strings.Contains(err.Error(), want)
}
