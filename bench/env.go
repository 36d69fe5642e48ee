package bench

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/storagebench/storagebench/bench/benchenv"
	"github.com/storagebench/storagebench/dataset"
	"github.com/storagebench/storagebench/fakes"
	"github.com/storagebench/storagebench/loader"
	"github.com/storagebench/storagebench/train"
)

// Env is the benchmark matrix and the real stores, as the environment sets
// them. Every variable is optional.
type Env struct {
	// S3Config is STORAGEBENCH_S3_CONFIG: a seed-format S3 configuration
	// file; it adds backend=s3, reading the index at its
	// index_file_download_url, cached at S3Index (STORAGEBENCH_S3_INDEX)
	// if set.
	S3Config, S3Index string
	// ScratchRoot is STORAGEBENCH_SCRATCH_ROOT, a folder that adds
	// backend=scratch; ScratchIndex (STORAGEBENCH_SCRATCH_INDEX) is a
	// seed-format index of keys relative to it, or else the folder is
	// listed.
	ScratchRoot, ScratchIndex string

	Backends    []string           // STORAGEBENCH_BACKENDS: mem,local,fakes3, and s3, scratch when configured
	Profiles    []string           // STORAGEBENCH_PROFILES: none, seed-s3, s3, express, nvme, fixed-<d>; by default none, and s3 on fakes3
	Modes       []loader.Mode      // STORAGEBENCH_MODES: sync,async
	Workers     []int              // STORAGEBENCH_WORKERS: 2,4,8,16,32
	Batches     []int              // STORAGEBENCH_BATCH: 50
	Fetch       []int              // STORAGEBENCH_FETCH: per-worker fetch concurrency in async mode; 0 is the batch size
	Decoders    []loader.Decoder   // STORAGEBENCH_DECODE: none,jpeg
	Concurrency []int              // STORAGEBENCH_CONCURRENCY: raw baseline concurrency
	Items       int                // STORAGEBENCH_ITEMS: items (keys) in the synthetic dataset
	Bodies      int                // STORAGEBENCH_BODIES: distinct bodies in the synthetic dataset; 0 means min(Items, DefaultBodies)
	Prefetch    int                // STORAGEBENCH_PREFETCH: batches each worker holds
	Scheds      []loader.Scheduler // STORAGEBENCH_SCHED: batch,item
	Windows     []Window           // STORAGEBENCH_WINDOW: the item scheduler's windows; default the loader's
	Hedges      []loader.Hedge     // STORAGEBENCH_HEDGE: off, a delay, or pNN
	Faults      []fakes.Faults     // STORAGEBENCH_FAULTS: none, or specs such as slowdown:0.05+stall:0.01
	OnErrors    []loader.OnError   // STORAGEBENCH_ONERROR: fail,skip
	Workloads   []train.Workload   // STORAGEBENCH_WORKLOADS: resnet50-h100, resnet50-a100, unet3d-h100, compute-<d>
	Accel       []int              // STORAGEBENCH_ACCEL: emulated accelerators of BenchmarkTrain
	// Policy is how every read is made: STORAGEBENCH_FIRST_BYTE_TIMEOUT,
	// STORAGEBENCH_IDLE_TIMEOUT and STORAGEBENCH_ATTEMPTS, the rest
	// dataset's defaults.
	Policy dataset.Policy
	// Cluster is the run of many processes this one takes part in.
	Cluster      ClusterEnv
	explicitName map[string]bool // dimensions set explicitly, shown in names
}

// A Window is the item scheduler's window as STORAGEBENCH_WINDOW gives
// it: a number of items, or a multiple of C, the reads in flight. The zero
// Window is the loader's default.
type Window struct {
	Items int // items, when PerC is 0
	PerC  int // a multiple of C
}

// ParseWindow parses "400" (items) or "4C" (four times C).
func ParseWindow(s string) (Window, error) {
	if k, ok := strings.CutSuffix(s, "C"); ok {
		n, err := strconv.Atoi(k)
		if err != nil || n < 1 {
			return Window{}, fmt.Errorf("window %q: want items, or a multiple of C such as 4C", s)
		}
		return Window{PerC: n}, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return Window{}, fmt.Errorf("window %q: want items, or a multiple of C such as 4C", s)
	}
	return Window{Items: n}, nil
}

// Resolve returns the window in items for c reads in flight; 0 for the
// loader's default.
func (w Window) Resolve(c int) int {
	if w.PerC > 0 {
		return w.PerC * c
	}
	return w.Items
}

// Defaults: the seed's sweep. The real stores, s3 and scratch, join the
// backends when their variable is set.
var defaultEnv = Env{
	Backends:    []string{"mem", "local", "fakes3"},
	Profiles:    []string{"none", "s3"},
	Modes:       []loader.Mode{loader.Sync, loader.Async},
	Workers:     []int{2, 4, 8, 16, 32},
	Batches:     []int{50},
	Fetch:       []int{0},
	Decoders:    []loader.Decoder{loader.DecodeNone},
	Concurrency: []int{1, 4, 16, 64, 256},
	Items:       2000,
	Prefetch:    loader.DefaultPrefetch,
	Scheds:      []loader.Scheduler{loader.SchedBatch},
	Windows:     []Window{{}},
	Hedges:      []loader.Hedge{{}},
	Faults:      []fakes.Faults{nil},
	OnErrors:    []loader.OnError{loader.OnErrorFail},
	Workloads:   []train.Workload{mustWorkload("resnet50-h100")},
	Accel:       []int{1, 2, 4},
}

// DefaultBodies caps the distinct bodies of the synthetic dataset when
// STORAGEBENCH_BODIES is unset: a dataset of more items repeats them.
const DefaultBodies = 2000

// SynthBodies returns the distinct bodies of the synthetic dataset.
func (e Env) SynthBodies() int {
	if e.Bodies > 0 {
		return min(e.Bodies, e.Items)
	}
	return min(e.Items, DefaultBodies)
}

func mustWorkload(name string) train.Workload {
	w, err := train.LookupWorkload(name)
	if err != nil {
		panic(err)
	}
	return w
}

// FromOS reads the process's environment, as [FromEnv] does.
func FromOS() (Env, error) { return FromEnv(os.Environ()) }

// FromEnv reads the benchmark environment from environ, a list of
// "NAME=value" strings as os.Environ returns. Every variable is optional;
// one that is set but malformed is an error naming it, and so is a
// STORAGEBENCH_ variable that [benchenv.Variables] does not list (a typo
// would otherwise be ignored) and a backend named in STORAGEBENCH_BACKENDS
// whose store is not configured.
func FromEnv(environ []string) (Env, error) {
	e := defaultEnv
	e.explicitName = map[string]bool{}
	if err := benchenv.Check(environ); err != nil {
		return e, err
	}
	vars := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			vars[k] = v
		}
	}
	getenv := func(k string) string { return vars[k] }
	e.S3Config = getenv(benchenv.S3Config)
	e.S3Index = getenv(benchenv.S3Index)
	e.ScratchRoot = getenv(benchenv.ScratchRoot)
	e.ScratchIndex = getenv(benchenv.ScratchIndex)
	if e.ScratchIndex != "" && e.ScratchRoot == "" {
		return e, fmt.Errorf("%s is set but %s is not", benchenv.ScratchIndex, benchenv.ScratchRoot)
	}
	if e.S3Index != "" && e.S3Config == "" {
		return e, fmt.Errorf("%s is set but %s is not", benchenv.S3Index, benchenv.S3Config)
	}
	e.Backends = slices.Clone(e.Backends)
	if e.S3Config != "" {
		e.Backends = append(e.Backends, "s3")
	}
	if e.ScratchRoot != "" {
		e.Backends = append(e.Backends, "scratch")
	}
	var err error
	// list parses the comma-separated variable name, when it is set, after
	// reset clears the default it replaces.
	list := func(name string, reset func(), parse func(string) error) {
		v := getenv(name)
		if err != nil || v == "" {
			return
		}
		reset()
		for _, f := range strings.Split(v, ",") {
			f = strings.TrimSpace(f)
			if f == "" {
				err = fmt.Errorf("%s=%q: empty element", name, v)
				return
			}
			if perr := parse(f); perr != nil {
				err = fmt.Errorf("%s=%q: %w", name, v, perr)
				return
			}
		}
		e.explicitName[name] = true
	}
	ints := func(name string, dst *[]int, min int) {
		list(name, func() { *dst = nil }, func(s string) error {
			n, perr := strconv.Atoi(s)
			if perr != nil || n < min {
				return fmt.Errorf("%q is not an integer >= %d", s, min)
			}
			*dst = append(*dst, n)
			return nil
		})
	}
	known := map[string]bool{"mem": true, "local": true, "fakes3": true, "s3": true, "scratch": true}
	list(benchenv.Backends, func() { e.Backends = nil }, func(s string) error {
		switch {
		case !known[s]:
			return fmt.Errorf("unknown backend %q, want mem, local, fakes3, s3 or scratch", s)
		case s == "s3" && e.S3Config == "":
			return fmt.Errorf("backend s3 is not configured: set %s to a seed-format S3 configuration file", benchenv.S3Config)
		case s == "scratch" && e.ScratchRoot == "":
			return fmt.Errorf("backend scratch is not configured: set %s to a folder holding a dataset", benchenv.ScratchRoot)
		}
		e.Backends = append(e.Backends, s)
		return nil
	})
	list(benchenv.Profiles, func() { e.Profiles = nil }, func(s string) error {
		if _, perr := fakes.LookupProfile(s); perr != nil {
			return perr
		}
		e.Profiles = append(e.Profiles, s)
		return nil
	})
	list(benchenv.Modes, func() { e.Modes = nil }, func(s string) error {
		m, perr := loader.ParseMode(s)
		e.Modes = append(e.Modes, m)
		return perr
	})
	list(benchenv.Sched, func() { e.Scheds = nil }, func(s string) error {
		sc, perr := loader.ParseScheduler(s)
		e.Scheds = append(e.Scheds, sc)
		return perr
	})
	list(benchenv.Window, func() { e.Windows = nil }, func(s string) error {
		w, perr := ParseWindow(s)
		e.Windows = append(e.Windows, w)
		return perr
	})
	list(benchenv.Hedge, func() { e.Hedges = nil }, func(s string) error {
		h, perr := loader.ParseHedge(s)
		e.Hedges = append(e.Hedges, h)
		return perr
	})
	list(benchenv.Faults, func() { e.Faults = nil }, func(s string) error {
		f, perr := fakes.ParseFaults(s)
		e.Faults = append(e.Faults, f)
		return perr
	})
	list(benchenv.OnError, func() { e.OnErrors = nil }, func(s string) error {
		o, perr := loader.ParseOnError(s)
		e.OnErrors = append(e.OnErrors, o)
		return perr
	})
	for _, v := range []struct {
		name string
		dst  *time.Duration
	}{{benchenv.FirstByte, &e.Policy.FirstByteTimeout}, {benchenv.Idle, &e.Policy.IdleTimeout}} {
		if s := getenv(v.name); s != "" && err == nil {
			d, perr := time.ParseDuration(s)
			if perr != nil || d <= 0 {
				err = fmt.Errorf("%s=%q: want a positive duration such as 5s", v.name, s)
			}
			*v.dst = d
		}
	}
	list(benchenv.Workloads, func() { e.Workloads = nil }, func(s string) error {
		w, perr := train.LookupWorkload(s)
		e.Workloads = append(e.Workloads, w)
		return perr
	})
	list(benchenv.Decode, func() { e.Decoders = nil }, func(s string) error {
		d, perr := loader.ParseDecoder(s)
		e.Decoders = append(e.Decoders, d)
		return perr
	})
	for _, v := range []struct {
		name string
		dst  *[]int
		min  int
	}{
		{benchenv.Workers, &e.Workers, 1},
		{benchenv.Batch, &e.Batches, 1},
		{benchenv.Fetch, &e.Fetch, 0},
		{benchenv.Concurrency, &e.Concurrency, 1},
		{benchenv.Accel, &e.Accel, 1},
	} {
		ints(v.name, v.dst, v.min)
	}
	for _, v := range []struct {
		name string
		dst  *int
	}{
		{benchenv.Items, &e.Items},
		{benchenv.Bodies, &e.Bodies},
		{benchenv.Prefetch, &e.Prefetch},
		{benchenv.Attempts, &e.Policy.Attempts},
	} {
		if s := getenv(v.name); s != "" && err == nil {
			n, perr := strconv.Atoi(s)
			if perr != nil || n < 1 {
				err = fmt.Errorf("%s=%q: want an integer >= 1", v.name, s)
			}
			*v.dst = n
		}
	}
	if err == nil {
		e.Cluster, err = clusterFromEnv(getenv)
	}
	return e, err
}

// Named reports whether the dimension set by the environment variable
// name was set explicitly, and so appears in benchmark names even when it
// has a single value.
func (e Env) Named(name string) bool { return e.explicitName[name] }
