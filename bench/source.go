package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/storagebench/storagebench/cluster"
	"github.com/storagebench/storagebench/dataset"
	"github.com/storagebench/storagebench/dataset/local"
	"github.com/storagebench/storagebench/dataset/wds"
	"github.com/storagebench/storagebench/fakes"
	"github.com/storagebench/storagebench/results"
)

// Source is a dataset on one backend, with what a benchmark needs to check
// every read: the size of each item and, where known, its content.
type Source struct {
	// Name is the backend's name in benchmark names.
	Name string
	// Endpoint says what kind of endpoint the backend reads: memory,
	// local-folder, loopback-fake-s3, loopback-s3 or remote-s3.
	Endpoint string
	// Index is the dataset's index.
	Index dataset.Index
	// Sizes holds the size of item i of the index.
	Sizes []int64
	// Content returns the bytes item i must have; nil for real stores,
	// whose reads are checked by length.
	Content func(i int) []byte
	// Bodies is the number of distinct bodies of a synthetic dataset, K:
	// item i holds body i mod K. It is 0 for real stores.
	Bodies int

	// Served is the profile a real store emulates itself, as the
	// configuration of "storagebench serve" says; zero for a store that
	// emulates nothing.
	Served fakes.Profile
	// ServedFaults are the faults a real store injects itself, as the
	// configuration of "storagebench serve" says; none for a store that
	// injects nothing.
	ServedFaults fakes.Faults
	// Set is the layout of a tar source's shards: its items are their
	// samples, Index their keys, Sizes the sizes of their data. Nil for a
	// loose source, whose items are the objects of Index.
	Set        *wds.Set
	shardIndex dataset.Index // a tar source's shards

	policy  dataset.Policy // how every read is made
	smoke   bool           // short raw calibrations
	backend dataset.Backend
	fake    *fakes.S3 // for fakes3, emulation goes through its middleware
	real    bool      // a real store: no emulated profile applies

	folder        *local.Backend // the backend, for a folder (local, scratch); else nil
	distinctFiles bool           // a synthetic folder of a file a key (STORAGEBENCH_LOCAL_FILES)
	cache         local.Cache    // the folder's cache setting
	variants      *cacheSources  // the source in each cache setting, shared by them
}

// newSource returns a source over backend. Sizes are taken from the
// content when it is known, and else from the backend's listing.
func newSource(ctx context.Context, name, endpoint string, b dataset.Backend, idx dataset.Index, content func(int) []byte) (*Source, error) {
	s := &Source{Name: name, Endpoint: endpoint, Index: idx, Content: content, backend: b}
	if fb, ok := b.(*local.Backend); ok {
		s.folder, s.variants = fb, &cacheSources{m: map[local.Cache]*Source{}}
	}
	s.Sizes = make([]int64, len(idx))
	if content != nil {
		for i := range idx {
			s.Sizes[i] = int64(len(content(i)))
		}
		return s, nil
	}
	prefix := commonPrefix(idx)
	entries, err := dataset.NewStore(b).List(ctx, prefix)
	if err != nil {
		return nil, fmt.Errorf("backend %s: listing %q for item sizes: %w", name, prefix, err)
	}
	sizes := make(map[string]int64, len(entries))
	for _, e := range entries {
		sizes[e.Key] = e.Size
	}
	for i, k := range idx {
		n, ok := sizes[k]
		if !ok {
			return nil, fmt.Errorf("backend %s: index entry %d, %q: %w", name, i, k, dataset.ErrNotFound)
		}
		s.Sizes[i] = n
	}
	return s, nil
}

// commonPrefix returns the longest prefix, ending in a slash, shared by
// every key.
func commonPrefix(idx dataset.Index) string {
	if len(idx) == 0 {
		return ""
	}
	p := idx[0]
	for _, k := range idx[1:] {
		for !strings.HasPrefix(k, p) {
			p = p[:len(p)-1]
		}
	}
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[:i+1]
	}
	return ""
}

// MeanSize returns the mean item size in bytes.
func (s *Source) MeanSize() float64 {
	var t int64
	for _, n := range s.Sizes {
		t += n
	}
	return float64(t) / float64(len(s.Sizes))
}

// MaxSize returns the largest item size in bytes.
func (s *Source) MaxSize() int64 { return slices.Max(s.Sizes) }

// Dataset returns the source's dataset behind the emulated profile p and
// the faults f, read under the source's read policy, and a function that
// removes the emulation and the faults. Real stores take only the profile
// and faults they serve themselves ([Source.Served] and
// [Source.ServedFaults], or none), which add nothing. Faults come before
// the emulation, as a store's front end answers before its disks: an error
// comes at once, a cut, stalled or trickling body after its time to first
// byte.
func (s *Source) Dataset(p fakes.Profile, f fakes.Faults, seed uint64) (*dataset.Dataset, func(), error) {
	if s.real {
		if !p.IsZero() && p.Name != s.Served.Name {
			return nil, nil, fmt.Errorf("backend %s is a real store: profile %q cannot be emulated on it", s.Name, p.Name)
		}
		if f.String() != s.ServedFaults.String() {
			return nil, nil, fmt.Errorf("backend %s is a real store: faults %q cannot be injected into it (storagebench serve -faults injects them)", s.Name, f)
		}
		p, f = fakes.Profile{}, nil
	}
	b, restore := s.backend, func() {}
	var e *fakes.Emulator
	if !p.IsZero() {
		e = fakes.NewEmulator(p, seed)
	}
	in := fakes.NewInjector(f, seed)
	switch {
	case s.fake != nil && (e != nil || !f.IsZero()):
		s.fake.SetEmulator(e)
		s.fake.SetFaults(in)
		restore = func() { s.fake.SetEmulator(nil); s.fake.SetFaults(nil) }
	case s.fake == nil:
		if e != nil {
			b = e.Backend(b)
		}
		b = in.Backend(b)
	}
	st, err := dataset.NewStore(b).WithPolicy(s.policy)
	if err != nil {
		restore()
		return nil, nil, err
	}
	return s.dataset(st), restore, nil
}

// Check returns an error unless data is what item i holds: its length
// always, and its content when deep is set and the content is known.
func (s *Source) Check(i int, data []byte, deep bool) error {
	if int64(len(data)) != s.Sizes[i] {
		return fmt.Errorf("item %d (%q): read %d bytes, want %d", i, s.Index[i], len(data), s.Sizes[i])
	}
	if deep && s.Content != nil && !bytes.Equal(data, s.Content(i)) {
		return fmt.Errorf("item %d (%q): bytes differ from the dataset's", i, s.Index[i])
	}
	return nil
}

// endpointKind names an S3 endpoint's kind for configuration lines.
func endpointKind(endpoint string) string {
	u, err := url.Parse(endpoint)
	if endpoint == "" || err != nil {
		return "remote-s3"
	}
	switch h := u.Hostname(); {
	case h == "localhost", strings.HasPrefix(h, "127."), h == "::1":
		return "loopback-s3"
	}
	return "remote-s3"
}

// errNotConfigured marks a real store that the environment does not
// configure.
var errNotConfigured = errors.New("not configured")

// Config returns the configuration lines that describe the source, as
// "key: value" lines before results give them: the dataset's items, mean
// and largest size, the endpoint, the loader's prefetch; the distinct
// bodies when items share them; the rank and world size in a run of
// many; and the profile a real store serves.
func (s *Source) Config(prefetch int, world cluster.World) [][2]string {
	kv := [][2]string{
		{results.ConfigDatasetItems, strconv.Itoa(len(s.Index))},
		{results.ConfigDatasetMeanBytes, strconv.FormatFloat(s.MeanSize(), 'f', 0, 64)},
		{results.ConfigDatasetMaxBytes, strconv.FormatInt(s.MaxSize(), 10)},
		{results.ConfigEndpoint, s.Endpoint},
		{results.ConfigLoaderPrefetch, strconv.Itoa(prefetch)},
	}
	if s.Bodies > 0 && s.Bodies < len(s.Index) {
		// Only when items share bodies: results of datasets whose items
		// all differ still pair with those from before bodies could be
		// shared.
		kv = append(kv, [2]string{results.ConfigDatasetBodies, strconv.Itoa(s.Bodies)})
	}
	if s.distinctFiles {
		// Only when set: older results, of linked folders, still pair.
		kv = append(kv, [2]string{results.ConfigDatasetFiles, "distinct"})
	}
	if world.Distributed() {
		kv = append(kv, [2]string{results.ConfigRank, strconv.Itoa(world.Rank)}, [2]string{results.ConfigWorldSize, strconv.Itoa(world.Size)})
	}
	if s.real {
		kv = append(kv, [2]string{results.ConfigStoreProfile, cmpOr(s.Served.Name, "none")})
	}
	return kv
}

// cmpOr returns v, or def when v is empty.
func cmpOr(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
