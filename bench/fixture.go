package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/storagebench/storagebench/cases"
	"github.com/storagebench/storagebench/dataset"
	"github.com/storagebench/storagebench/dataset/local"
	"github.com/storagebench/storagebench/dataset/mem"
	"github.com/storagebench/storagebench/dataset/s3blob"
	"github.com/storagebench/storagebench/dataset/wds"
	"github.com/storagebench/storagebench/fakes"
	"github.com/storagebench/storagebench/reqlog"
)

// SynthSeed is the seed of the synthetic dataset the hermetic backends hold.
const SynthSeed = 1

// Fixture builds each benchmark source once per process, on first use,
// and removes what it made on Close. It is safe for concurrent use.
type Fixture struct {
	env Env

	mu      sync.Mutex
	synth   fakes.Synth // the synthetic dataset, once synthesized
	bodies  [][]byte    // its distinct bodies: item i holds bodies[synth.BodyOf(i)]
	index   dataset.Index
	sources map[string]*Source
	layouts map[string]*Source // tar variants of the synthetic sources, by backend and shard size
	errs    map[string]error
	closers []func() error
}

// NewFixture returns a fixture for env.
func NewFixture(env Env) *Fixture {
	return &Fixture{env: env, sources: map[string]*Source{}, errs: map[string]error{}}
}

// Env returns the fixture's environment.
func (f *Fixture) Env() Env { return f.env }

// Source returns the named source, building it the first time. An error
// wrapping errNotConfigured means the environment does not configure it.
func (f *Fixture) Source(ctx context.Context, name string) (*Source, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s, ok := f.sources[name]; ok {
		return s, nil
	}
	if err, ok := f.errs[name]; ok {
		return nil, err
	}
	s, err := f.build(ctx, name)
	if err != nil {
		f.errs[name] = err
		return nil, err
	}
	s.policy, s.smoke = f.env.Policy, f.env.Smoke
	f.sources[name] = s
	if s.real && f.env.Matrix != nil {
		// A real store runs only the profile and faults it serves, in
		// the layout of its index.
		st := cases.Store{Real: true, Profile: s.Served.Name, Faults: s.ServedFaults}
		if s.Set != nil {
			st.Format, st.Shard = cases.FormatTar, largestShard(s.Set)
		}
		f.env.Matrix.SetStore(name, st)
	}
	return s, nil
}

// Prepare builds every real store the environment configures among the
// matrix's backends (s3, scratch), reading its configuration and its
// index, so that a store misconfigured fails before any benchmark runs;
// the hermetic ones are built on first use.
func (f *Fixture) Prepare(ctx context.Context) error {
	if f.env.Matrix == nil {
		return nil
	}
	for _, name := range f.env.Matrix.Backends() {
		if cases.Hermetic(name) {
			continue
		}
		if _, err := f.Source(ctx, name); err != nil {
			return err
		}
	}
	return nil
}

func (f *Fixture) build(ctx context.Context, name string) (*Source, error) {
	switch name {
	case "s3":
		return f.buildS3(ctx)
	case "scratch":
		return f.buildScratch(ctx)
	}
	if err := f.synthesize(ctx); err != nil {
		return nil, err
	}
	return f.buildSynthetic(ctx, name, synthSet{f.synth, f.bodies, f.index})
}

// synthSet is a synthetic dataset a source serves: its description, its
// K distinct bodies and its N keys.
type synthSet struct {
	synth  fakes.Synth
	bodies [][]byte
	index  dataset.Index
}

// buildSynthetic builds a source holding the synthetic dataset set: the N
// keys of Env.Items sharing the K bodies of Env.SynthBodies (or fewer,
// for large items), served at the memory (or disk space) of the K bodies,
// whatever N is, and never listed, as the content is known.
func (f *Fixture) buildSynthetic(ctx context.Context, name string, set synthSet) (*Source, error) {
	s, err := f.buildSyntheticOn(ctx, name, set)
	if s != nil {
		s.Bodies = len(set.bodies)
	}
	return s, err
}

func (f *Fixture) buildSyntheticOn(ctx context.Context, name string, set synthSet) (*Source, error) {
	content := func(i int) []byte { return set.bodies[set.synth.BodyOf(i)] }
	switch name {
	case "mem":
		v, err := set.synth.View(set.bodies)
		if err != nil {
			return nil, fmt.Errorf("backend mem: %w", err)
		}
		return newSource(ctx, name, "memory", v, set.index, content)
	case "local":
		dir, err := os.MkdirTemp("", "storagebench-local-")
		if err != nil {
			return nil, err
		}
		f.closers = append(f.closers, func() error { return os.RemoveAll(dir) })
		// K files and N-K hard links to them, or N files.
		write := set.synth.WriteFolder
		if f.env.DistinctFiles {
			write = set.synth.WriteFiles
		}
		if _, err := write(ctx, dir, set.bodies); err != nil {
			return nil, fmt.Errorf("backend local: %w", err)
		}
		b, err := local.Open(dir)
		if err != nil {
			return nil, err
		}
		f.closers = append(f.closers, b.Close)
		s, err := newSource(ctx, name, "local-folder", b, set.index, content)
		if s != nil {
			s.distinctFiles = f.env.DistinctFiles
		}
		return s, err
	case "fakes3":
		// Each item an object of gofakes3's when every item has its own
		// body, as before datasets could share them; else the bodies
		// mounted read-only in front of it, the same server to the
		// client, at the memory of the K bodies.
		fake, err := fakes.StartS3(ctx, fakes.S3Options{Buckets: []string{synthBucket}})
		if err != nil {
			return nil, err
		}
		f.closers = append(f.closers, fake.Close)
		b, err := s3blob.Open(fake.Client, synthBucket, "")
		if err != nil {
			return nil, err
		}
		if len(set.bodies) == len(set.index) {
			err = set.fill(ctx, b)
		} else {
			var v *mem.View
			if v, err = set.synth.View(set.bodies); err == nil {
				err = fake.Mount(synthBucket, v)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("backend fakes3: %w", err)
		}
		s, err := newSource(ctx, name, "loopback-fake-s3", b, set.index, content)
		if s != nil {
			s.fake = fake
		}
		return s, err
	}
	return nil, fmt.Errorf("unknown backend %q", name)
}

// synthBucket is the bucket of the fake S3 that serves the synthetic
// dataset.
const synthBucket = "storagebench"

// synthesize makes the synthetic dataset once: its index and its distinct
// bodies.
func (f *Fixture) synthesize(ctx context.Context) error {
	if f.bodies != nil {
		return nil
	}
	s := fakes.Synth{N: f.env.Items, Seed: SynthSeed, Bodies: f.env.SynthBodies()}
	bodies, err := s.DistinctBodies(ctx)
	if err != nil {
		return err
	}
	f.synth, f.bodies, f.index = s, bodies, s.Index()
	return nil
}

// fill writes every item of the set through w.
func (set synthSet) fill(ctx context.Context, w dataset.Writer) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for i, k := range set.index {
		g.Go(func() error { return w.Put(ctx, k, set.bodies[set.synth.BodyOf(i)]) })
	}
	return g.Wait()
}

// buildS3 opens the real S3 store of STORAGEBENCH_S3_CONFIG.
func (f *Fixture) buildS3(ctx context.Context) (*Source, error) {
	if f.env.S3Config == "" {
		return nil, fmt.Errorf("backend s3 is %w: set STORAGEBENCH_S3_CONFIG to a seed-format S3 configuration file", errNotConfigured)
	}
	cfg, err := s3blob.LoadConfig(f.env.S3Config)
	if err != nil {
		return nil, fmt.Errorf("STORAGEBENCH_S3_CONFIG: %w", err)
	}
	if cfg.IndexURL == "" {
		return nil, fmt.Errorf("STORAGEBENCH_S3_CONFIG %s: index_file_download_url is missing", f.env.S3Config)
	}
	var opts []s3blob.ClientOption
	if f.env.RequestLog != "" {
		// Closed with the fixture, after every benchmark.
		file, err := os.Create(f.env.RequestLog)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", cases.RequestLog, err)
		}
		log, err := reqlog.NewWriter(file)
		if err != nil {
			file.Close()
			return nil, fmt.Errorf("%s %s: %w", cases.RequestLog, f.env.RequestLog, err)
		}
		f.closers = append(f.closers, func() error {
			if err := log.Close(); err != nil {
				return fmt.Errorf("%s %s: %w", cases.RequestLog, f.env.RequestLog, err)
			}
			return nil
		})
		opts = append(opts, s3blob.WithRequestLog(log))
	}
	client, err := s3blob.NewClient(ctx, cfg, opts...)
	if err != nil {
		return nil, fmt.Errorf("STORAGEBENCH_S3_CONFIG %s: %w", f.env.S3Config, err)
	}
	idx, err := s3blob.FetchIndex(ctx, client, cfg.IndexURL, f.env.S3Index)
	if err != nil {
		return nil, fmt.Errorf("STORAGEBENCH_S3_CONFIG %s: %w", f.env.S3Config, err)
	}
	b, err := s3blob.Open(client, cfg.Bucket, "")
	if err != nil {
		return nil, err
	}
	endpoint := cfg.EndpointURL
	if endpoint == "" {
		endpoint = os.Getenv("AWS_ENDPOINT_URL_S3")
	}
	if endpoint == "" {
		endpoint = os.Getenv("AWS_ENDPOINT_URL")
	}
	var served fakes.Profile
	if cfg.Profile != "" {
		if served, err = fakes.LookupProfile(cfg.Profile); err != nil {
			return nil, fmt.Errorf("STORAGEBENCH_S3_CONFIG %s: profile: %w", f.env.S3Config, err)
		}
	}
	s, err := newSource(ctx, "s3", endpointKind(endpoint), b, idx, nil)
	if err != nil {
		return nil, fmt.Errorf("STORAGEBENCH_S3_CONFIG %s: %w", f.env.S3Config, err)
	}
	var faults fakes.Faults
	if faults, err = fakes.ParseFaults(cfg.Faults); err != nil {
		return nil, fmt.Errorf("STORAGEBENCH_S3_CONFIG %s: faults: %w", f.env.S3Config, err)
	}
	s.real, s.Served, s.ServedFaults = true, served, faults
	if wds.IsShardIndex(idx) {
		return scanShards(ctx, s)
	}
	return s, nil
}

// buildScratch opens the folder of STORAGEBENCH_SCRATCH_ROOT.
func (f *Fixture) buildScratch(ctx context.Context) (*Source, error) {
	if f.env.ScratchRoot == "" {
		return nil, fmt.Errorf("backend scratch is %w: set STORAGEBENCH_SCRATCH_ROOT to a folder holding a dataset", errNotConfigured)
	}
	b, err := local.Open(f.env.ScratchRoot)
	if err != nil {
		return nil, fmt.Errorf("STORAGEBENCH_SCRATCH_ROOT: %w", err)
	}
	f.closers = append(f.closers, b.Close)
	var idx dataset.Index
	if f.env.ScratchIndex != "" {
		if idx, err = dataset.LoadIndex(f.env.ScratchIndex); err != nil {
			return nil, fmt.Errorf("STORAGEBENCH_SCRATCH_INDEX: %w", err)
		}
	} else {
		entries, err := dataset.NewStore(b).List(ctx, "")
		if err != nil {
			return nil, fmt.Errorf("STORAGEBENCH_SCRATCH_ROOT %s: %w", f.env.ScratchRoot, err)
		}
		for _, e := range entries {
			if filepath.Base(e.Key) != dataset.IndexKey {
				idx = append(idx, e.Key)
			}
		}
		if len(idx) == 0 {
			return nil, fmt.Errorf("STORAGEBENCH_SCRATCH_ROOT %s: no files to read", f.env.ScratchRoot)
		}
	}
	s, err := newSource(ctx, "scratch", "local-folder", b, idx, nil)
	if err != nil {
		return nil, fmt.Errorf("STORAGEBENCH_SCRATCH_ROOT %s: %w", f.env.ScratchRoot, err)
	}
	s.real = true
	if wds.IsShardIndex(idx) {
		return scanShards(ctx, s)
	}
	return s, nil
}

// Close removes what the fixture made.
func (f *Fixture) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	var first error
	for i := len(f.closers) - 1; i >= 0; i-- {
		if err := f.closers[i](); err != nil && first == nil {
			first = err
		}
	}
	f.closers = nil
	return first
}
