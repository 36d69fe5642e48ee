package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/storagebench/storagebench/cases"
	"github.com/storagebench/storagebench/dataset"
	"github.com/storagebench/storagebench/dataset/local"
	"github.com/storagebench/storagebench/dataset/s3blob"
	"github.com/storagebench/storagebench/dataset/wds"
	"github.com/storagebench/storagebench/fakes"
	"github.com/storagebench/storagebench/results"
)

// A source's layouts: loose (an object a sample, its Index the objects'
// keys) or tar (WebDataset shards, its Index the samples' keys, its
// shards' keys in shardIndex and their layout in Set).

// objects returns the keys of the objects the source's dataset is read
// from: its shards for a tar source, its items for a loose one.
func (s *Source) objects() dataset.Index {
	if s.Set != nil {
		return s.shardIndex
	}
	return s.Index
}

// dataset returns the dataset of the source's items over store: for a
// tar source, its samples, each read by one ranged read of its shard.
func (s *Source) dataset(st *dataset.Store) *dataset.Dataset {
	if s.Set != nil {
		return dataset.NewItems(st, s.shardIndex, wds.Ranged(s.Set))
	}
	return dataset.New(st, s.Index)
}

// ReadBytesPerItem returns the bytes a read of an item of c fetches on
// average: its size for a loose item (in parts or not); for a sample of
// a tar shard, its span (headers and padding between its members
// included) when read by range, and its shard's size over its samples
// when streamed.
func (s *Source) ReadBytesPerItem(c cases.Case) float64 {
	if s.Set == nil {
		return s.MeanSize()
	}
	stream := c.Streams()
	var bytes int64
	for j := range s.Set.Shards() {
		sh := s.Set.Shard(j)
		if stream {
			bytes += sh.Size
			continue
		}
		for k := range sh.Samples {
			bytes += sh.Samples[k].Span()
		}
	}
	return float64(bytes) / float64(s.Set.Len())
}

// ItemsPerRequest returns the items one request of c reads on average:
// 1; for shards streamed, the samples a shard holds, or in parts
// (c.Part), the samples over the parts the shards' samples take; for
// loose items in parts, one over the parts an item takes (at least one
// each).
func (s *Source) ItemsPerRequest(c cases.Case) float64 {
	switch {
	case s.Set != nil && c.Streams() && c.Part > 0:
		var parts int64
		for j := range s.Set.Shards() {
			parts += (s.Set.Shard(j).SamplesEnd() + c.Part - 1) / c.Part
		}
		return float64(s.Set.Len()) / float64(max(parts, 1))
	case s.Set != nil && c.Streams():
		return float64(s.Set.Len()) / float64(s.Set.Shards())
	case s.Set == nil && c.Part > 0 && len(s.Sizes) > 0:
		var parts int64
		for _, n := range s.Sizes {
			parts += max((n+c.Part-1)/c.Part, 1)
		}
		return float64(len(s.Sizes)) / float64(parts)
	}
	return 1
}

// Streams returns the most shard streams a stream of the source's shards
// has in flight: each of the world's workers (workers x world of them,
// this process's workers of them) streams as many shards at once as its
// fetchers (one in sync mode), and never more than the shards it has
// (the shards over the world's workers, rounded up). Shards read in parts
// are not so bound: each worker has as many parts in flight as its
// fetchers, as loose items do.
func (s *Source) Streams(workers, fetch, world int) int {
	if s.Set == nil {
		return workers * fetch
	}
	g := workers * max(world, 1)
	return workers * min(fetch, (s.Set.Shards()+g-1)/g)
}

// LayoutConfig returns the configuration lines of a tar source, which
// lines of other layouts do not carry: its shards and the samples they
// hold on average; nil for a loose source.
func (s *Source) LayoutConfig() [][2]string {
	if s.Set == nil {
		return nil
	}
	return [][2]string{
		{results.ConfigDatasetShards, strconv.Itoa(s.Set.Shards())},
		{results.ConfigSamplesPerShard, strconv.FormatFloat(float64(s.Set.Len())/float64(s.Set.Shards()), 'f', 1, 64)},
	}
}

// tarSource returns a source of the samples of set, read from the shards
// of backend b, named shardIndex, each sample's data of the sizes the
// layout gives and, when content is not nil, of that content.
func tarSource(base *Source, b dataset.Backend, shardIndex dataset.Index, set *wds.Set, content func(int) []byte) *Source {
	s := &Source{
		Name: base.Name, Endpoint: base.Endpoint, Content: content, Bodies: base.Bodies,
		Served: base.Served, ServedFaults: base.ServedFaults,
		policy: base.policy, smoke: base.smoke, backend: b, fake: base.fake, real: base.real,
		distinctFiles: base.distinctFiles,
		Set:           set, shardIndex: shardIndex,
	}
	s.Index = make(dataset.Index, set.Len())
	s.Sizes = make([]int64, set.Len())
	for i := range s.Index {
		smp := set.Sample(i)
		s.Index[i], s.Sizes[i] = smp.Key, smp.DataMember().Size
	}
	if fb, ok := b.(*local.Backend); ok {
		s.folder, s.variants = fb, &cacheSources{m: map[local.Cache]*Source{}}
	}
	return s
}

// Layout returns the source c reads: src itself for a loose case, or for
// a real store (whose layout is its index's); for a tar case on a
// hermetic backend, the synthetic dataset in tar shards of c's size,
// made once per size and backend: served from its distinct bodies on mem
// and on the fake S3 (a bucket of its own), written as tar files on
// local.
func (f *Fixture) Layout(ctx context.Context, src *Source, c cases.Case) (*Source, error) {
	if size := SampleSize(c); size > 0 && !src.real {
		if c.Format != cases.FormatLoose {
			return nil, fmt.Errorf("workload %s: its samples of %d bytes are read loose (format=loose); the synthetic tar shards hold samples of the ImageNet-like sizes", c.Workload.Name, size)
		}
		return f.sized(ctx, src, size)
	}
	if c.Format != cases.FormatTar || src.real {
		if (c.Format == cases.FormatTar) != (src.Set != nil) {
			return nil, fmt.Errorf("backend %s holds a %s dataset; format=%s cannot be read from it", src.Name, layoutName(src), c.Format)
		}
		return src, nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	key := fmt.Sprintf("%s/%d", src.Name, c.Shard)
	if s, ok := f.layouts[key]; ok {
		return s, nil
	}
	s, err := f.buildLayout(ctx, src, c.Shard)
	if err != nil {
		return nil, fmt.Errorf("backend %s, format=tar/shard=%s: %w", src.Name, wds.FormatSize(c.Shard), err)
	}
	if f.layouts == nil {
		f.layouts = map[string]*Source{}
	}
	f.layouts[key] = s
	return s, nil
}

// largeBodies is the memory the distinct bodies of a synthetic dataset of
// large items may take: its K is cut to fit, and is never below 2.
const largeBodies = 2 << 30

// SampleSize returns the size of the synthetic items a case reads: for a
// Train case whose workload's samples are larger than the ImageNet-like
// sizes the synthetic dataset draws (UNet3D's records of 146,600,628
// bytes), the workload's sample size; else 0, the sizes drawn.
func SampleSize(c cases.Case) int64 {
	if c.Bench == results.Train && c.Workload.SampleBytes > fakes.MaxSize {
		return c.Workload.SampleBytes
	}
	return 0
}

// sized returns the synthetic dataset of src's backend with every item
// size bytes, made once per size and backend: the N keys of Env.Items
// over K bodies, K cut so that the bodies take at most largeBodies.
func (f *Fixture) sized(ctx context.Context, src *Source, size int64) (*Source, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	key := fmt.Sprintf("%s/items=%d", src.Name, size)
	if s, ok := f.layouts[key]; ok {
		return s, nil
	}
	k := min(f.env.SynthBodies(), max(2, int(largeBodies/size)))
	synth := fakes.Synth{N: f.env.Items, Seed: SynthSeed, Bodies: k, ItemSize: int(size)}
	bodies, err := synth.DistinctBodies(ctx)
	if err != nil {
		return nil, fmt.Errorf("backend %s, items of %d bytes: %w", src.Name, size, err)
	}
	s, err := f.buildSynthetic(ctx, src.Name, synthSet{synth, bodies, synth.Index()})
	if err != nil {
		return nil, fmt.Errorf("backend %s, items of %d bytes: %w", src.Name, size, err)
	}
	s.policy, s.smoke = src.policy, src.smoke
	if f.layouts == nil {
		f.layouts = map[string]*Source{}
	}
	f.layouts[key] = s
	return s, nil
}

// layoutName names a source's layout.
func layoutName(s *Source) string {
	if s.Set != nil {
		return cases.FormatTar
	}
	return cases.FormatLoose
}

// buildLayout makes the synthetic dataset's shards of size bytes on
// src's backend.
func (f *Fixture) buildLayout(ctx context.Context, src *Source, size int64) (*Source, error) {
	set, err := f.synth.Shards(size)
	if err != nil {
		return nil, err
	}
	view, err := f.synth.ShardView(set, f.bodies)
	if err != nil {
		return nil, err
	}
	keys := make(dataset.Index, set.Shards())
	for j := range keys {
		keys[j] = set.Shard(j).Key
	}
	content := func(i int) []byte { return f.bodies[f.synth.BodyOf(i)] }
	switch src.Name {
	case "mem":
		return tarSource(src, view, keys, set, content), nil
	case "fakes3":
		bucket := fmt.Sprintf("%s-tar-%d", synthBucket, size)
		if err := src.fake.Mount(bucket, view); err != nil {
			return nil, err
		}
		b, err := s3blob.Open(src.fake.Client, bucket, "")
		if err != nil {
			return nil, err
		}
		return tarSource(src, b, keys, set, content), nil
	case "local":
		dir, err := os.MkdirTemp("", "storagebench-tar-")
		if err != nil {
			return nil, err
		}
		f.closers = append(f.closers, func() error { return os.RemoveAll(dir) })
		for _, k := range keys {
			if err := copyShard(ctx, view, k, filepath.Join(dir, k)); err != nil {
				return nil, err
			}
		}
		b, err := local.Open(dir)
		if err != nil {
			return nil, err
		}
		f.closers = append(f.closers, b.Close)
		return tarSource(src, b, keys, set, content), nil
	}
	return nil, fmt.Errorf("no synthetic shards for backend %s", src.Name)
}

// copyShard writes shard key of view to the file path.
func copyShard(ctx context.Context, view *fakes.ShardView, key, path string) error {
	r, _, err := view.Open(ctx, key)
	if err != nil {
		return err
	}
	defer r.Close()
	file, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(file, r); err != nil {
		file.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	return file.Close()
}

// scanShards returns src, a real store whose index names ".tar" shards,
// as a tar source: its shards' layout read in one pass over them, untimed,
// with every member's offset and size.
func scanShards(ctx context.Context, src *Source) (*Source, error) {
	set, err := wds.ScanStore(ctx, dataset.NewStore(src.backend), src.Index, 16)
	if err != nil {
		return nil, fmt.Errorf("backend %s: reading the layout of its %d shards: %w", src.Name, len(src.Index), err)
	}
	return tarSource(src, src.backend, src.Index, set, nil), nil
}

// ShardName returns the shard size a tar source's lines name (the
// largest of its shards'), "" for a loose source.
func (s *Source) ShardName() string {
	if s.Set == nil {
		return ""
	}
	return largestShard(s.Set)
}

// largestShard returns the size of the largest shard of set, as names
// give it.
func largestShard(set *wds.Set) string {
	sizes := make([]int64, set.Shards())
	for j := range sizes {
		sizes[j] = set.Shard(j).Size
	}
	return wds.FormatSize(slices.Max(sizes))
}
