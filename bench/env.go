package bench

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/storagebench/storagebench/cases"
	"github.com/storagebench/storagebench/dataset"
	"github.com/storagebench/storagebench/dataset/wds"
	"github.com/storagebench/storagebench/loader"
)

// Env is the benchmark matrix and the real stores, as the environment sets
// them. Every variable is optional.
type Env struct {
	// Matrix is the dimensions' values (see package cases).
	Matrix *cases.Matrix
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
	// RequestLog is STORAGEBENCH_REQUEST_LOG: a file where the s3
	// backend's client writes every HTTP request (see package reqlog).
	RequestLog string

	Items    int // STORAGEBENCH_ITEMS: items (keys) in the synthetic dataset
	Bodies   int // STORAGEBENCH_BODIES: distinct bodies in the synthetic dataset; 0 means min(Items, DefaultBodies)
	Prefetch int // STORAGEBENCH_PREFETCH: batches each worker holds
	// WindowBytes is STORAGEBENCH_WINDOW_BYTES, the item scheduler's
	// byte budget (loader.ItemOptions.WindowBytes): 0 for the loader's
	// default, negative for none.
	WindowBytes int64
	// DistinctFiles is STORAGEBENCH_LOCAL_FILES=distinct: the local
	// backend's folder holds a file of its own for every key, not hard
	// links to K files.
	DistinctFiles bool
	// Policy is how every read is made: STORAGEBENCH_FIRST_BYTE_TIMEOUT,
	// STORAGEBENCH_IDLE_TIMEOUT and STORAGEBENCH_ATTEMPTS, the rest
	// dataset's defaults.
	Policy dataset.Policy
	// Cluster is the run of many processes this one takes part in.
	Cluster ClusterEnv
	// Smoke makes raw calibrations short, for a smoke run whose output
	// says so (go test -short).
	Smoke bool
}

// WindowBytesString returns a byte budget as STORAGEBENCH_WINDOW_BYTES
// gives it: bytes, or "none" when negative.
func WindowBytesString(n int64) string {
	if n < 0 {
		return "none"
	}
	return strconv.FormatInt(n, 10)
}

// DefaultItems is the synthetic dataset's items when STORAGEBENCH_ITEMS
// is unset.
const DefaultItems = 2000

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

// FromOS reads the process's environment, as [FromEnv] does.
func FromOS() (Env, error) { return FromEnv(os.Environ()) }

// settings are the variables of Env that are not dimensions, each with
// its parser.
var settings = []struct {
	name  string
	parse func(e *Env, s string) error
}{
	{cases.S3Config, func(e *Env, s string) error { e.S3Config = s; return nil }},
	{cases.S3Index, func(e *Env, s string) error { e.S3Index = s; return nil }},
	{cases.ScratchRoot, func(e *Env, s string) error { e.ScratchRoot = s; return nil }},
	{cases.ScratchIndex, func(e *Env, s string) error { e.ScratchIndex = s; return nil }},
	{cases.RequestLog, func(e *Env, s string) error { e.RequestLog = s; return nil }},
	{cases.Items, positive(func(e *Env) *int { return &e.Items })},
	{cases.Bodies, positive(func(e *Env) *int { return &e.Bodies })},
	{cases.LocalFiles, func(e *Env, s string) error {
		switch s {
		case "linked", "distinct":
			e.DistinctFiles = s == "distinct"
			return nil
		}
		return fmt.Errorf("want linked or distinct")
	}},
	{cases.Prefetch, positive(func(e *Env) *int { return &e.Prefetch })},
	{cases.WindowBytes, func(e *Env, s string) error {
		if s == "none" {
			e.WindowBytes = -1
			return nil
		}
		n, err := wds.ParseSize(s)
		if err != nil {
			return fmt.Errorf("want a byte count such as 256MiB, or none: %w", err)
		}
		e.WindowBytes = n
		return nil
	}},
	{cases.Attempts, positive(func(e *Env) *int { return &e.Policy.Attempts })},
	{cases.FirstByte, duration(func(e *Env) *time.Duration { return &e.Policy.FirstByteTimeout })},
	{cases.Idle, duration(func(e *Env) *time.Duration { return &e.Policy.IdleTimeout })},
}

// positive returns a parser of an integer >= 1 into field.
func positive(field func(e *Env) *int) func(e *Env, s string) error {
	return func(e *Env, s string) error {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return fmt.Errorf("want an integer >= 1")
		}
		*field(e) = n
		return nil
	}
}

// duration returns a parser of a positive duration into field.
func duration(field func(e *Env) *time.Duration) func(e *Env, s string) error {
	return func(e *Env, s string) error {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			return fmt.Errorf("want a positive duration such as 5s")
		}
		*field(e) = d
		return nil
	}
}

// FromEnv reads the benchmark environment from environ, a list of
// "NAME=value" strings as os.Environ returns. Every variable is optional;
// one that is set but malformed is an error naming it, and so is a
// STORAGEBENCH_ variable that [cases.Variables] does not list (a typo
// would otherwise be ignored) and a backend named in STORAGEBENCH_BACKENDS
// whose store is not configured.
func FromEnv(environ []string) (Env, error) {
	e := Env{Items: DefaultItems, Prefetch: loader.DefaultPrefetch}
	if err := cases.Check(environ); err != nil {
		return e, err
	}
	vars := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			vars[k] = v
		}
	}
	getenv := func(k string) string { return vars[k] }
	for _, s := range settings {
		if v := getenv(s.name); v != "" {
			if err := s.parse(&e, v); err != nil {
				return e, fmt.Errorf("%s=%q: %w", s.name, v, err)
			}
		}
	}
	switch {
	case e.ScratchIndex != "" && e.ScratchRoot == "":
		return e, fmt.Errorf("%s is set but %s is not", cases.ScratchIndex, cases.ScratchRoot)
	case e.S3Index != "" && e.S3Config == "":
		return e, fmt.Errorf("%s is set but %s is not", cases.S3Index, cases.S3Config)
	case e.RequestLog != "" && e.S3Config == "":
		return e, fmt.Errorf("%s is set but %s is not: only the s3 backend's requests are logged", cases.RequestLog, cases.S3Config)
	}
	var configured []string
	if e.S3Config != "" {
		configured = append(configured, "s3")
	}
	if e.ScratchRoot != "" {
		configured = append(configured, "scratch")
	}
	var err error
	if e.Matrix, err = cases.NewMatrix(getenv, configured...); err != nil {
		return e, err
	}
	e.Cluster, err = clusterFromEnv(getenv)
	return e, err
}
