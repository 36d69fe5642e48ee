package bench

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/storagebench/storagebench/bench/benchenv"
	"github.com/storagebench/storagebench/fakes"
	"github.com/storagebench/storagebench/loader"
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

	Backends     []string         // STORAGEBENCH_BACKENDS: mem,local,fakes3, and s3, scratch when configured
	Profiles     []string         // STORAGEBENCH_PROFILES: none, seed-s3, s3, express, nvme, fixed-<d>; by default none, and s3 on fakes3
	Modes        []loader.Mode    // STORAGEBENCH_MODES: sync,async
	Workers      []int            // STORAGEBENCH_WORKERS: 2,4,8,16,32
	Batches      []int            // STORAGEBENCH_BATCH: 50
	Fetch        []int            // STORAGEBENCH_FETCH: per-worker fetch concurrency in async mode; 0 is the batch size
	Decoders     []loader.Decoder // STORAGEBENCH_DECODE: none,jpeg
	Concurrency  []int            // STORAGEBENCH_CONCURRENCY: raw baseline concurrency
	Items        int              // STORAGEBENCH_ITEMS: items in the synthetic dataset
	Prefetch     int              // STORAGEBENCH_PREFETCH: batches each worker holds
	explicitName map[string]bool  // dimensions set explicitly, shown in names
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
	} {
		ints(v.name, v.dst, v.min)
	}
	for _, v := range []struct {
		name string
		dst  *int
	}{
		{benchenv.Items, &e.Items},
		{benchenv.Prefetch, &e.Prefetch},
	} {
		if s := getenv(v.name); s != "" && err == nil {
			n, perr := strconv.Atoi(s)
			if perr != nil || n < 1 {
				err = fmt.Errorf("%s=%q: want an integer >= 1", v.name, s)
			}
			*v.dst = n
		}
	}
	return e, err
}

// Named reports whether the dimension set by the environment variable
// name was set explicitly, and so appears in benchmark names even when it
// has a single value.
func (e Env) Named(name string) bool { return e.explicitName[name] }
