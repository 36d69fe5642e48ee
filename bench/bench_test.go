package bench

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/storagebench/storagebench/bench/benchenv"
	"github.com/storagebench/storagebench/fakes"
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
	if rank, err = JoinRank(context.Background(), env); err != nil {
		fmt.Fprintln(os.Stderr, "storagebench:", err)
		os.Exit(2)
	}
	fixture = NewFixture(env)
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
// once, the units where higher is better. It runs in parent benchmarks
// only, which print no result line of their own, so that the lines never
// land inside a result line.
func printConfig(src *Source) {
	unitsOnce.Do(func() {
		for _, u := range results.HigherIsBetter {
			fmt.Printf("Unit %s better=higher\n", u)
		}
	})
	if testing.Short() {
		fmt.Printf("%s: true\n", results.ConfigSmoke)
	}
	fmt.Printf("%s: %d\n%s: %.0f\n%s: %d\n%s: %s\n%s: %d\n",
		results.ConfigDatasetItems, len(src.Index),
		results.ConfigDatasetMeanBytes, src.MeanSize(),
		results.ConfigDatasetMaxBytes, src.MaxSize(),
		results.ConfigEndpoint, src.Endpoint,
		results.ConfigLoaderPrefetch, fixture.Env().Prefetch)
	if src.Bodies > 0 && src.Bodies < len(src.Index) {
		// Only when items share bodies: results of datasets whose items
		// all differ still pair with those from before bodies could be
		// shared.
		fmt.Printf("%s: %d\n", results.ConfigDatasetBodies, src.Bodies)
	}
	if rank != nil && rank.World.Distributed() {
		fmt.Printf("%s: %d\n%s: %d\n", results.ConfigRank, rank.World.Rank, results.ConfigWorldSize, rank.World.Size)
	}
	if src.real {
		served := src.Served.Name
		if served == "" {
			served = "none"
		}
		fmt.Printf("%s: %s\n", results.ConfigStoreProfile, served)
	}
}

// eachSource runs fn in a sub-benchmark backend=B for each backend. A
// source is built only when a benchmark selects it.
func eachSource(b *testing.B, fn func(b *testing.B, src *Source)) {
	for _, name := range fixture.Env().Backends {
		b.Run(results.SubName(results.KeyBackend, name), func(b *testing.B) {
			src := source(b, name)
			printConfig(src)
			fn(b, src)
		})
	}
}

// profiles returns the matrix's profiles that apply to src: on a real
// store only the profile it serves itself (none unless its configuration
// names one), and by default emulated latency only on fakes3, the S3
// stand-in, so that the default matrix shows loading where per-item latency
// dominates without doubling its length.
func profiles(b *testing.B, src *Source) []fakes.Profile {
	if src.real {
		if src.Served.Name != "" {
			return []fakes.Profile{src.Served}
		}
		return []fakes.Profile{{Name: "none"}}
	}
	e := fixture.Env()
	var ps []fakes.Profile
	for _, name := range e.Profiles {
		p, err := fakes.LookupProfile(name)
		if err != nil {
			b.Fatal(err)
		}
		if !p.IsZero() && src.Name != "fakes3" && !e.Named(benchenv.Profiles) {
			continue
		}
		ps = append(ps, p)
	}
	return ps
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
	e := fixture.Env()
	eachSource(b, func(b *testing.B, src *Source) {
		for _, p := range profiles(b, src) {
			for _, f := range faults(src) {
				for _, c := range e.Concurrency {
					b.Run(results.SubName(results.KeyProfile, p.Name)+faultsName(f)+"/"+results.SubName(results.KeyConcurrency, c), func(b *testing.B) {
						RunRaw(b, src, p, f, c)
					})
				}
			}
		}
	})
}

func BenchmarkLoad(b *testing.B) {
	e := fixture.Env()
	eachSource(b, func(b *testing.B, src *Source) {
		for _, p := range profiles(b, src) {
			for _, f := range faults(src) {
				for _, onerr := range e.OnErrors {
					for _, mode := range e.Modes {
						for _, w := range e.Workers {
							for _, batch := range e.Batches {
								for _, fetch := range e.Fetch {
									if mode == loader.Sync && fetch > 1 {
										continue
									}
									for _, dec := range e.Decoders {
										name := results.SubName(results.KeyProfile, p.Name) + faultsName(f) + "/" + results.SubName(results.KeyMode, mode, results.KeyWorkers, w, results.KeyBatch, batch)
										if e.Named(benchenv.Fetch) {
											name += "/" + results.SubName(results.KeyFetch, fetch)
										}
										if e.Named(benchenv.Decode) {
											name += "/" + results.SubName(results.KeyDecode, dec)
										}
										if e.Named(benchenv.OnError) {
											name += "/" + results.SubName(results.KeyOnError, onerr)
										}
										opts := loader.Options{Mode: mode, Workers: w, BatchSize: batch, Prefetch: e.Prefetch, Decode: dec, OnError: onerr}
										if mode == loader.Async {
											opts.FetchConcurrency = fetch
										}
										for _, sc := range schedules(e, opts) {
											b.Run(name+sc.name, func(b *testing.B) {
												RunLoad(b, src, LoadCase{Profile: p, Faults: f, Options: sc.opts, Deep: *deep, Rank: rank})
											})
										}
									}
								}
							}
						}
					}
				}
			}
		}
	})
}

// faults returns the matrix's faults that apply to src: on a real store
// only the faults it injects itself (none unless its configuration names
// some).
func faults(src *Source) []fakes.Faults {
	if src.real {
		return []fakes.Faults{src.ServedFaults}
	}
	return fixture.Env().Faults
}

// faultsName returns the "/faults=..." part of a name, or "" for none.
func faultsName(f fakes.Faults) string {
	if f.IsZero() {
		return ""
	}
	return "/" + results.SubName(results.KeyFaults, f)
}

// A schedule is one scheduler setting of a Load line: its options and the
// keys it adds to the name.
type schedule struct {
	name string
	opts loader.Options
}

// schedules returns the scheduler settings of the matrix for opts: the
// batch scheduler as it is (no key, so results from before the item
// scheduler still pair), and the item scheduler with each window and hedge
// ("/sched=item/window=N[/hedge=H]", the window resolved in items).
func schedules(e Env, opts loader.Options) []schedule {
	var out []schedule
	for _, sc := range e.Scheds {
		if sc == loader.SchedBatch {
			out = append(out, schedule{opts: opts})
			continue
		}
		for _, w := range e.Windows {
			for _, h := range e.Hedges {
				o := opts
				o.Scheduler, o.Window, o.Hedge = loader.SchedItem, w.Resolve(opts.InFlight()), h
				window := o.Window
				if r, err := o.Resolved(); err == nil {
					window = r.Window
				}
				name := "/" + results.SubName(results.KeySched, loader.SchedItem, results.KeyWindow, window)
				if !h.IsZero() {
					name += "/" + results.SubName(results.KeyHedge, h)
				}
				out = append(out, schedule{name: name, opts: o})
			}
		}
	}
	return out
}

func TestSchedules(t *testing.T) {
	e, err := FromEnv([]string{"STORAGEBENCH_SCHED=batch,item", "STORAGEBENCH_WINDOW=4C,800", "STORAGEBENCH_HEDGE=off,p90"})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range schedules(e, loader.Options{Mode: loader.Async, Workers: 2, BatchSize: 50}) {
		names = append(names, s.name)
	}
	want := []string{"", "/sched=item/window=400", "/sched=item/window=400/hedge=p90", "/sched=item/window=800", "/sched=item/window=800/hedge=p90"}
	if !slices.Equal(names, want) {
		t.Errorf("schedules %q, want %q", names, want)
	}
}

func BenchmarkDecode(b *testing.B) {
	skipRanks(b)
	src := source(b, "mem")
	printConfig(src)
	for _, c := range []int{1, runtime.GOMAXPROCS(0)} {
		b.Run(results.SubName(results.KeyConcurrency, c), func(b *testing.B) { RunDecode(b, src, c) })
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
				if tc.name == "matrix" && (len(e.Workers) != 2 || e.Workers[1] != 8 || len(e.Modes) != 1 || e.Profiles[1] != "fixed-5ms" || !e.Named("STORAGEBENCH_DECODE")) {
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
		if diff := cmp.Diff(tc.want, e.Backends); diff != "" {
			t.Errorf("FromEnv(%q).Backends (-want +got):\n%s", tc.environ, diff)
		}
	}
}

// TestJoinRank checks that a run of many ranks is refused at once with a
// duration for -test.benchtime, which would give every rank its own
// iterations, and that a run of one joins nothing.
func TestJoinRank(t *testing.T) {
	if r, err := JoinRank(t.Context(), Env{}); r != nil || err != nil {
		t.Errorf("JoinRank(no cluster) = %v, %v; want nil, nil", r, err)
	}
	if f := flag.Lookup("test.benchtime"); f == nil || strings.HasSuffix(f.Value.String(), "x") {
		t.Skip("-test.benchtime is a count here")
	}
	e, err := FromEnv([]string{"STORAGEBENCH_RANK=0", "STORAGEBENCH_WORLD_SIZE=2", "STORAGEBENCH_RENDEZVOUS=" + t.TempDir(), "STORAGEBENCH_RUN_ID=r"})
	if err != nil {
		t.Fatal(err)
	}
	r, err := JoinRank(t.Context(), e)
	if err == nil {
		r.Close(t.Context(), nil)
	}
	if want := "a run of 2 ranks needs -test.benchtime as a count of iterations"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("JoinRank = %v, want an error containing %q", err, want)
	}
	// A timeline alone: a duration would record testing's every trial.
	if e, err = FromEnv([]string{"STORAGEBENCH_TIMELINE=" + t.TempDir() + "/"}); err != nil {
		t.Fatal(err)
	}
	r, err = JoinRank(t.Context(), e)
	if err == nil {
		r.Close(t.Context(), nil)
	}
	if want := "STORAGEBENCH_TIMELINE needs -test.benchtime as a count"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("JoinRank(timeline) = %v, want an error containing %q", err, want)
	}
}
