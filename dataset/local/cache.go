package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"

	"golang.org/x/sync/errgroup"
)

// Cache is how a backend's reads meet the host's page cache.
type Cache string

// The cache settings.
const (
	// CacheOS reads through the page cache as it stands: whatever earlier
	// reads left there serves the next ones.
	CacheOS Cache = ""
	// CacheWarm reads as CacheOS does; a run in this setting reads every
	// file once with [Backend.Warm] before its timer, so that the cache
	// holds what it can.
	CacheWarm Cache = "warm"
	// CacheCold drops each file's pages from the page cache after every
	// read (posix_fadvise POSIX_FADV_DONTNEED), so that the next read of
	// the file comes from the device; a run in this setting drops the
	// whole dataset with [Backend.Drop] before its timer. The cache of a
	// network file system's server, and a device's own, are out of its
	// reach.
	CacheCold Cache = "cold"
	// CacheDirect reads with O_DIRECT, bypassing the page cache, into
	// aligned buffers. A file system that refuses O_DIRECT fails the read
	// with an error that names it.
	CacheDirect Cache = "direct"
)

// Caches are the settings a user may name, in the order the README gives
// them.
var Caches = []Cache{CacheWarm, CacheCold, CacheDirect}

// ParseCache parses "warm", "cold" or "direct".
func ParseCache(s string) (Cache, error) {
	if c := Cache(s); slices.Contains(Caches, c) {
		return c, nil
	}
	return "", fmt.Errorf("unknown cache setting %q, want warm, cold or direct", s)
}

// WithCache returns a backend that reads b's folder in the setting c. It
// shares b's folder: closing either closes both. A folder on a file system
// whose page cache is its storage (tmpfs, ramfs) is refused for CacheCold
// and CacheDirect, as is any folder where the host cannot drop pages or
// read around them (a platform other than Linux).
func (b *Backend) WithCache(c Cache) (*Backend, error) {
	if c != CacheOS && !slices.Contains(Caches, c) {
		return nil, fmt.Errorf("local: %s: unknown cache setting %q", b.dir, c)
	}
	if c == CacheCold || c == CacheDirect {
		if err := checkUncached(b.dir, c); err != nil {
			return nil, fmt.Errorf("local: cache=%s in %s: %w", c, b.dir, err)
		}
	}
	return &Backend{dir: b.dir, root: b.root, cache: c}, nil
}

// Cache returns the backend's cache setting.
func (b *Backend) Cache() Cache { return b.cache }

// Residency is how much of a dataset the page cache holds, in pages of the
// host's page size. A key's pages count once for each key: keys that are
// hard links to one file count its pages as often as they name it, as a
// run that reads them all reads its pages.
type Residency struct {
	Pages    int64 // the dataset's pages, a file's once for each key
	Resident int64 // of which the page cache holds these
	// Distinct is the pages of the distinct files, each once: what the
	// cache must hold to hold the whole dataset.
	Distinct int64
}

// Fraction returns the share of the dataset's pages the cache holds: 1 for
// a dataset of no pages.
func (r Residency) Fraction() float64 {
	if r.Pages == 0 {
		return 1
	}
	return float64(r.Resident) / float64(r.Pages)
}

// fileID names a file whatever key reaches it: its device and inode.
type fileID struct{ dev, ino uint64 }

// distinct is a file behind one or more keys.
type distinct struct {
	key  string // the first key that names it
	size int64
	keys int64 // how many keys name it
}

// scanConcurrency is how many files Warm, Drop and Resident work on at a
// time: enough to keep a device's queue busy while warming, few enough
// not to crowd the host.
const scanConcurrency = 8

// files returns the distinct files behind keys, in the order of their
// first key, and the error of the first key that names no regular file in
// the folder.
func (b *Backend) files(ctx context.Context, keys []string) ([]distinct, error) {
	ids := make([]fileID, len(keys))
	sizes := make([]int64, len(keys))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(scanConcurrency)
	const run = 256
	for lo := 0; lo < len(keys); lo += run {
		g.Go(func() error {
			for i := lo; i < min(lo+run, len(keys)); i++ {
				if err := gctx.Err(); err != nil {
					return err
				}
				if err := checkKey(keys[i]); err != nil {
					return err
				}
				fi, err := b.root.Stat(keys[i])
				if err != nil {
					return fmt.Errorf("local: %s: %w", keys[i], b.mapErr(keys[i], err))
				}
				if !fi.Mode().IsRegular() {
					return fmt.Errorf("local: %s: not a regular file", keys[i])
				}
				id, ok := idOf(fi)
				if !ok {
					id = fileID{ino: uint64(i) + 1, dev: ^uint64(0)} // no inode: every key its own file
				}
				ids[i], sizes[i] = id, fi.Size()
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	at := make(map[fileID]int, len(keys))
	var out []distinct
	for i, id := range ids {
		if j, ok := at[id]; ok {
			out[j].keys++
			continue
		}
		at[id] = len(out)
		out = append(out, distinct{key: keys[i], size: sizes[i], keys: 1})
	}
	return out, nil
}

// each calls fn on every file of fs, scanConcurrency at a time, and
// returns the first error.
func each(ctx context.Context, fs []distinct, fn func(d distinct) error) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(scanConcurrency)
	for _, d := range fs {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error {
			if err := gctx.Err(); err != nil {
				return err
			}
			return fn(d)
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return ctx.Err()
}

// Warm reads every distinct file behind keys once, through the page cache,
// so that the cache holds what it can of the dataset; a file reached by
// several keys (hard links) is read once. It reads whatever the backend's
// setting, and fails naming the first key it could not read.
func (b *Backend) Warm(ctx context.Context, keys []string) error {
	fs, err := b.files(ctx, keys)
	if err != nil {
		return err
	}
	return each(ctx, fs, func(d distinct) error {
		f, err := b.root.Open(d.key)
		if err != nil {
			return fmt.Errorf("local: warm %s: %w", d.key, b.mapErr(d.key, err))
		}
		defer f.Close()
		bp := warmBufs.Get().(*[]byte)
		defer warmBufs.Put(bp)
		for {
			_, err := f.Read(*bp)
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return fmt.Errorf("local: warm %s: %w", d.key, err)
			}
		}
	})
}

// warmBufs are Warm's read buffers.
var warmBufs = sync.Pool{New: func() any { b := make([]byte, 1<<20); return &b }}

// Drop writes back any dirty pages of every distinct file behind keys and
// drops its pages from the page cache (POSIX_FADV_DONTNEED), so that the
// next read of each comes from the device. A page some process keeps
// mapped and locked stays; [Backend.Resident] tells what did. It fails
// with [errors.ErrUnsupported] where the host cannot drop pages.
func (b *Backend) Drop(ctx context.Context, keys []string) error {
	fs, err := b.files(ctx, keys)
	if err != nil {
		return err
	}
	return each(ctx, fs, func(d distinct) error {
		f, err := b.root.Open(d.key)
		if err != nil {
			return fmt.Errorf("local: drop %s: %w", d.key, b.mapErr(d.key, err))
		}
		defer f.Close()
		if err := dropPages(f, true); err != nil {
			return fmt.Errorf("local: drop %s: %w", d.key, err)
		}
		return nil
	})
}

// Resident returns how much of the files behind keys the page cache holds
// (cachestat where the kernel has it, Linux 6.5 and later, else mincore on
// a mapping of each file). Each distinct file is measured once. It fails
// with [errors.ErrUnsupported] where the host cannot tell.
//
// Where the kernel has no cachestat, mincore reports the page cache of a
// file only to a process that may write it (its owner, or one with write
// permission); for others it reports the pages the process itself maps,
// none, and the fraction reads 0.
func (b *Backend) Resident(ctx context.Context, keys []string) (Residency, error) {
	fs, err := b.files(ctx, keys)
	if err != nil {
		return Residency{}, err
	}
	var (
		mu  sync.Mutex
		res Residency
	)
	err = each(ctx, fs, func(d distinct) error {
		f, err := b.root.Open(d.key)
		if err != nil {
			return fmt.Errorf("local: resident %s: %w", d.key, b.mapErr(d.key, err))
		}
		defer f.Close()
		pages, resident, err := residentPages(f, d.size)
		if err != nil {
			return fmt.Errorf("local: resident %s: %w", d.key, err)
		}
		mu.Lock()
		res.Pages += pages * d.keys
		res.Resident += resident * d.keys
		res.Distinct += pages
		mu.Unlock()
		return nil
	})
	return res, err
}

// pageSize is the host's page size.
var pageSize = int64(os.Getpagesize())

// pagesOf returns the pages a file of size bytes spans.
func pagesOf(size int64) int64 { return (size + pageSize - 1) / pageSize }

// errUncachedUnsupported is returned where the host cannot read around its
// page cache.
var errUncachedUnsupported = fmt.Errorf("dropping or bypassing the page cache is supported on Linux only: %w", errors.ErrUnsupported)
