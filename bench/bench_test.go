package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/storagebench/storagebench/fakes"
	"github.com/storagebench/storagebench/loader"
)

// fixture holds the sources of this test binary; TestMain removes them.
var (
	fixture    *Fixture
	fixtureErr error
)

func TestMain(m *testing.M) {
	env, err := FromEnv(nil)
	fixture, fixtureErr = NewFixture(env), err
	code := m.Run()
	if err := fixture.Close(); err != nil && code == 0 {
		fmt.Fprintln(os.Stderr, "closing the benchmark fixture:", err)
		code = 1
	}
	os.Exit(code)
}

// env returns the benchmark environment, failing b if it is malformed.
func env(tb testing.TB) Env {
	tb.Helper()
	if fixtureErr != nil {
		tb.Fatal(fixtureErr)
	}
	return fixture.Env()
}

// source returns the named source; ok is false when it is not configured,
// in which case skip holds the one-line reason.
func source(tb testing.TB, name string) (src *Source, skip string) {
	tb.Helper()
	src, err := fixture.Source(context.Background(), name)
	if errors.Is(err, errSkip) {
		return nil, err.Error()
	}
	if err != nil {
		tb.Fatal(err)
	}
	return src, ""
}

var unitsOnce sync.Once

// printConfig prints the benchmark-format lines that describe src: the
// configuration benchstat carries into every result that follows, and,
// once, the units where higher is better.
func printConfig(src *Source) {
	unitsOnce.Do(func() {
		for _, u := range []string{"items/s", "raw-items/s", "bound-items/s", "efficiency"} {
			fmt.Printf("Unit %s better=higher\n", u)
		}
	})
	fmt.Printf("dataset-items: %d\ndataset-mean-bytes: %.0f\ndataset-max-bytes: %d\nendpoint: %s\nloader-prefetch: %d\n",
		len(src.Index), src.MeanSize(), src.MaxSize(), src.Endpoint, fixture.Env().Prefetch)
}

// eachSource runs fn in a sub-benchmark backend=B for each backend,
// skipping, with their reason, backends that are not configured. A source
// is built only when a benchmark selects it.
func eachSource(b *testing.B, fn func(b *testing.B, src *Source)) {
	for _, name := range env(b).Backends {
		b.Run("backend="+name, func(b *testing.B) {
			src, skip := source(b, name)
			if skip != "" {
				b.Skip(skip)
			}
			printConfig(src)
			fn(b, src)
		})
	}
}

// profiles returns the matrix's profiles that apply to src: no emulation
// on real stores, and by default emulated latency only on fakes3, the S3
// stand-in, so that the default matrix shows loading where per-item latency
// dominates without doubling its length.
func profiles(b *testing.B, src *Source) []fakes.Profile {
	e := env(b)
	var ps []fakes.Profile
	for _, name := range e.Profiles {
		p, err := fakes.LookupProfile(name)
		if err != nil {
			b.Fatal(err)
		}
		if !p.IsZero() && (src.real || src.Name != "fakes3" && !e.Named("STORAGEBENCH_PROFILES")) {
			continue
		}
		ps = append(ps, p)
	}
	return ps
}

func BenchmarkRaw(b *testing.B) {
	e := env(b)
	eachSource(b, func(b *testing.B, src *Source) {
		for _, p := range profiles(b, src) {
			for _, c := range e.Concurrency {
				b.Run(fmt.Sprintf("profile=%s/concurrency=%d", p.Name, c), func(b *testing.B) {
					RunRaw(b, src, p, c)
				})
			}
		}
	})
}

func BenchmarkLoad(b *testing.B) {
	e := env(b)
	eachSource(b, func(b *testing.B, src *Source) {
		for _, p := range profiles(b, src) {
			for _, mode := range e.Modes {
				for _, w := range e.Workers {
					for _, batch := range e.Batches {
						for _, fetch := range e.Fetch {
							if mode == loader.Sync && fetch > 1 {
								continue
							}
							for _, dec := range e.Decoders {
								name := fmt.Sprintf("profile=%s/mode=%s/workers=%d/batch=%d", p.Name, mode, w, batch)
								if e.Named("STORAGEBENCH_FETCH") {
									name += fmt.Sprintf("/fetch=%d", fetch)
								}
								if e.Named("STORAGEBENCH_DECODE") {
									name += "/decode=" + string(dec)
								}
								opts := loader.Options{Mode: mode, Workers: w, BatchSize: batch, Prefetch: e.Prefetch, Decode: dec}
								if mode == loader.Async {
									opts.FetchConcurrency = fetch
								}
								b.Run(name, func(b *testing.B) {
									RunLoad(b, src, LoadCase{Profile: p, Options: opts})
								})
							}
						}
					}
				}
			}
		}
	})
}

func BenchmarkDecode(b *testing.B) {
	src, skip := source(b, "mem")
	if skip != "" {
		b.Skip(skip)
	}
	printConfig(src)
	for _, c := range []int{1, runtime.GOMAXPROCS(0)} {
		b.Run(fmt.Sprintf("concurrency=%d", c), func(b *testing.B) { RunDecode(b, src, c) })
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
		{"bad items", map[string]string{"STORAGEBENCH_ITEMS": "-3"}, "STORAGEBENCH_ITEMS"},
		{"index without root", map[string]string{"STORAGEBENCH_SCRATCH_INDEX": "/x.json"}, "STORAGEBENCH_SCRATCH_ROOT is not"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := FromEnv(func(k string) string { return tc.vars[k] })
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
