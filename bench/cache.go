package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/storagebench/storagebench/dataset"
	"github.com/storagebench/storagebench/dataset/local"
	"github.com/storagebench/storagebench/results"
)

// cacheSources are the variants of a folder source in each cache
// setting, made once each.
type cacheSources struct {
	mu sync.Mutex
	m  map[local.Cache]*Source
}

// Cached returns the source read in the cache setting c: s itself when c
// is unset or s reads no folder, else a source over s's folder in that
// setting, made on first use. For direct reads it reads the first item
// once, so that a file system that refuses O_DIRECT fails here, before
// any run, naming itself.
func (s *Source) Cached(ctx context.Context, c local.Cache) (*Source, error) {
	if c == local.CacheOS || s.folder == nil || s.cache == c {
		return s, nil
	}
	s.variants.mu.Lock()
	defer s.variants.mu.Unlock()
	if v, ok := s.variants.m[c]; ok {
		return v, nil
	}
	fb, err := s.folder.WithCache(c)
	if err != nil {
		return nil, fmt.Errorf("backend %s: %w", s.Name, err)
	}
	v := *s
	v.backend, v.folder, v.cache = fb, fb, c
	if c == local.CacheDirect {
		data, _, err := v.dataset(dataset.NewStore(fb)).Read(ctx, 0, nil)
		if err == nil {
			err = v.Check(0, data, true)
		}
		if err != nil {
			return nil, fmt.Errorf("backend %s, cache=direct: %w", s.Name, err)
		}
	}
	s.variants.m[c] = &v
	return &v, nil
}

// prepareCache puts the host's page cache in the state a run in the
// source's setting starts from: for warm, every file of the dataset read
// once; for cold and direct, the dataset's pages dropped (direct reads
// never use them, but a page left dirty would be written back during
// the run). Unset, it does nothing.
func (s *Source) prepareCache(ctx context.Context) error {
	var err error
	switch s.cache {
	case local.CacheWarm:
		err = s.folder.Warm(ctx, s.objects())
	case local.CacheCold, local.CacheDirect:
		err = s.folder.Drop(ctx, s.objects())
	}
	if err != nil {
		return fmt.Errorf("backend %s, cache=%s: %w", s.Name, s.cache, err)
	}
	return nil
}

// resident returns the share of the dataset's pages the host's page cache
// holds, and false for a source that reads no folder, or on a host that
// cannot tell (a platform other than Linux).
func (s *Source) resident(ctx context.Context) (float64, bool, error) {
	if s.folder == nil {
		return 0, false, nil
	}
	r, err := s.folder.Resident(ctx, s.objects())
	if errors.Is(err, errors.ErrUnsupported) {
		return 0, false, nil // a host that cannot tell: the lines say nothing
	}
	if err != nil {
		return 0, false, fmt.Errorf("backend %s: page cache residency: %w", s.Name, err)
	}
	return r.Fraction(), true, nil
}

// startCache takes src in the cache setting c and prepares the page
// cache for a run in it (see [Source.prepareCache]).
func startCache(ctx context.Context, src *Source, c local.Cache) (*Source, error) {
	src, err := src.Cached(ctx, c)
	if err != nil {
		return nil, err
	}
	return src, src.prepareCache(ctx)
}

// Residency is the share of a folder dataset's pages that the host's page
// cache held before a timed run and after it.
type Residency struct {
	Before, End float64
	OK          bool // the source reads a folder: the shares were measured
}

// begin measures the share before the run: after the setting's
// preparation (and, for Load, the raw baseline), before the loader or the
// job starts and reads its warm-up.
func (r *Residency) begin(ctx context.Context, src *Source) error {
	f, ok, err := src.resident(ctx)
	r.Before, r.OK = f, ok
	return err
}

// end measures the share after the run.
func (r *Residency) end(ctx context.Context, src *Source) error {
	if !r.OK {
		return nil
	}
	f, _, err := src.resident(ctx)
	r.End = f
	return err
}

// metrics returns the shares as a line's metrics, none for a source that
// reads no folder.
func (r Residency) metrics() []Metric {
	if !r.OK {
		return nil
	}
	return []Metric{{r.Before, results.CacheResident}, {r.End, results.CacheResidentEnd}}
}

// PageCacheNote returns the value of the configuration line that goes
// before a line of src in the cache setting c whose reads the host's page
// cache serves: a warm folder dataset that fits in the memory available
// now. It returns "" for any other line.
func PageCacheNote(ctx context.Context, src *Source, c local.Cache) (string, error) {
	if c != local.CacheWarm || src.folder == nil {
		return "", nil
	}
	r, err := src.folder.Resident(ctx, src.objects())
	if errors.Is(err, errors.ErrUnsupported) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("backend %s: page cache residency: %w", src.Name, err)
	}
	avail, ok := availableMemory()
	need := r.Distinct * int64(os.Getpagesize())
	if !ok || need > avail {
		return "", nil
	}
	return fmt.Sprintf("warm, the dataset's %.0f MB fit in available memory: reads are memory copies", float64(need)/1e6), nil
}

// availableMemory returns the memory available for new work without
// swapping, as Linux estimates it (MemAvailable), and false where it is
// not known.
func availableMemory() (int64, bool) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		v, ok := strings.CutPrefix(sc.Text(), "MemAvailable:")
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		return kb << 10, err == nil
	}
	return 0, false
}
