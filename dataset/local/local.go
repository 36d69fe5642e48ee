// Package local is a [dataset.Backend] that reads a folder on a local or
// scratch drive: a key is a slash-separated path relative to the folder.
//
// A key that would leave the folder (a ".." element, an absolute path, a
// symbolic link pointing outside) is refused with [dataset.ErrInvalidKey]
// and never read; the folder is opened with [os.OpenRoot], which enforces
// this for every path element.
package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/storagebench/storagebench/dataset"
)

// Backend reads objects from a folder. It is safe for concurrent use.
type Backend struct {
	dir   string
	root  *os.Root
	cache Cache
}

// Open returns a backend over the folder dir, which must exist.
func Open(dir string) (*Backend, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("local: open root: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("local: open root %s: not a folder", dir)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("local: open root: %w", err)
	}
	return &Backend{dir: dir, root: root}, nil
}

// Dir returns the folder the backend reads.
func (b *Backend) Dir() string { return b.dir }

// Close releases the folder.
func (b *Backend) Close() error { return b.root.Close() }

// checkKey refuses keys that are not local, slash-separated paths.
func checkKey(key string) error {
	if key == "" || strings.ContainsRune(key, 0) || !filepath.IsLocal(filepath.FromSlash(key)) {
		return fmt.Errorf("%w: %q is not a path inside the root", dataset.ErrInvalidKey, key)
	}
	return nil
}

// Open implements [dataset.Backend]. In the setting [CacheCold], the file's
// pages are dropped from the page cache when the reader is closed; in
// [CacheDirect], the file is read with O_DIRECT.
func (b *Backend) Open(ctx context.Context, key string) (io.ReadCloser, int64, error) {
	if err := checkKey(key); err != nil {
		return nil, 0, err
	}
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	if b.cache == CacheDirect {
		return b.openDirect(key)
	}
	f, err := b.root.Open(key)
	if err != nil {
		return nil, 0, b.mapErr(key, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, 0, fmt.Errorf("%w: %q is not a regular file", dataset.ErrNotFound, key)
	}
	if b.cache == CacheCold {
		return coldFile{f}, fi.Size(), nil
	}
	return f, fi.Size(), nil
}

// OpenRange implements [dataset.RangeOpener] in the backend's cache
// setting: it opens the file as Open does, checks the range against the
// file's size ([dataset.CheckRange]) and reads from off, through the page
// cache or, in [CacheDirect], in aligned chunks from the chunk holding
// off.
func (b *Backend) OpenRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, int64, error) {
	if err := checkKey(key); err != nil {
		return nil, 0, err
	}
	if err := dataset.CheckRange(off, n, -1); err != nil {
		return nil, 0, err
	}
	rc, size, err := b.Open(ctx, key)
	if err != nil {
		return nil, 0, err
	}
	if err := dataset.CheckRange(off, n, size); err != nil {
		rc.Close()
		return nil, 0, err
	}
	end := size
	if n >= 0 && n < size-off {
		end = off + n
	}
	var f *os.File
	switch r := rc.(type) {
	case rangeSeeker:
		r.seekRange(off, end)
		return rc, size, nil
	case coldFile:
		f = r.f
	case *os.File:
		f = r
	default:
		rc.Close()
		return nil, 0, fmt.Errorf("local: range of %q: unexpected reader %T", key, rc)
	}
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		rc.Close()
		return nil, 0, err
	}
	if end == size {
		return rc, size, nil // to the end: a body past the size shows as one
	}
	return rangeFile{io.LimitReader(f, end-off), rc}, size, nil
}

// rangeSeeker is a reader, not yet read, that can be set to read a range
// of its file: the O_DIRECT reader.
type rangeSeeker interface {
	seekRange(off, end int64)
}

// rangeFile reads a range of a file and closes the file's reader.
type rangeFile struct {
	io.Reader
	io.Closer
}

// mapErr maps an error from the root to the portable errors: a missing
// file to ErrNotFound, an escape through a symbolic link to ErrInvalidKey.
func (b *Backend) mapErr(key string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %w", dataset.ErrNotFound, err)
	}
	if b.escapes(key) {
		return fmt.Errorf("%w: %q leads outside the root through a symbolic link", dataset.ErrInvalidKey, key)
	}
	return err
}

// ErrorKind implements [dataset.Classifier] for the errors of the
// backend's file system:
//
//   - a missing file or folder, or a key through a file, is
//     [dataset.KindNotFound];
//   - a refused key, a range past a file's end, a file or folder the
//     process may not read or write, a read-only file system or a name
//     too long is [dataset.KindPermanent];
//   - an operation whose context ended is [dataset.KindCanceled];
//   - any other error (an I/O error, a file system out of space, files or
//     memory) is [dataset.KindTransient].
func (b *Backend) ErrorKind(err error) dataset.ErrorKind {
	switch {
	case err == nil:
		return dataset.KindUnknown
	case errors.Is(err, dataset.ErrNotFound) || errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR):
		return dataset.KindNotFound
	case errors.Is(err, dataset.ErrInvalidKey) || errors.Is(err, dataset.ErrInvalidRange) || errors.Is(err, fs.ErrPermission) || errors.Is(err, errors.ErrUnsupported) ||
		errors.Is(err, syscall.EROFS) || errors.Is(err, syscall.ENAMETOOLONG) || errors.Is(err, syscall.EISDIR):
		return dataset.KindPermanent
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return dataset.KindCanceled
	}
	return dataset.KindTransient
}

// escapes reports whether key, with symbolic links resolved, lies outside
// the folder. It runs only on the error path, to name the error; os.Root has
// already refused to follow the key.
func (b *Backend) escapes(key string) bool {
	root, err := filepath.EvalSymlinks(b.dir)
	if err != nil {
		return false
	}
	full := filepath.Join(b.dir, filepath.FromSlash(key))
	target, err := filepath.EvalSymlinks(full)
	if err != nil {
		// A dangling link: resolve its folder, then the link itself.
		parent, perr := filepath.EvalSymlinks(filepath.Dir(full))
		if perr != nil {
			return false
		}
		link, lerr := os.Readlink(full)
		if lerr != nil {
			target = parent
		} else if filepath.IsAbs(link) {
			target = filepath.Clean(link)
		} else {
			target = filepath.Join(parent, link)
		}
	}
	rel, err := filepath.Rel(root, target)
	return err != nil || !filepath.IsLocal(rel)
}

// Put implements [dataset.Writer], creating parent folders as needed. The
// object is written to a temporary file and renamed into place, so readers
// never see a partial object.
func (b *Backend) Put(ctx context.Context, key string, data []byte) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if dir := path.Dir(key); dir != "." {
		if err := b.root.MkdirAll(dir, 0o755); err != nil {
			return b.mapErr(key, err)
		}
	}
	tmp := key + ".tmp-storagebench"
	if err := b.root.WriteFile(tmp, data, 0o644); err != nil {
		return b.mapErr(key, err)
	}
	if err := b.root.Rename(tmp, key); err != nil {
		b.root.Remove(tmp)
		return b.mapErr(key, err)
	}
	return nil
}

// Delete implements [dataset.Deleter]. It removes the file named key, or,
// when key names a symbolic link, the link and never its target. A folder
// is not an object: deleting one fails with [dataset.ErrNotFound], as does
// deleting anything else that is not a regular file. Folders that the
// deletion leaves empty stay in place.
func (b *Backend) Delete(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	fi, err := b.root.Lstat(key)
	if err != nil {
		return b.mapErr(key, err)
	}
	if t := fi.Mode().Type(); t != 0 && t != fs.ModeSymlink {
		return fmt.Errorf("%w: %q is not a regular file", dataset.ErrNotFound, key)
	}
	if err := b.root.Remove(key); err != nil {
		return b.mapErr(key, err)
	}
	return nil
}

// listReportEvery is how many files List finds between two reports to the
// [dataset.ListTrace] of its context.
const listReportEvery = 1000

// List implements [dataset.Lister]: it walks the folder and returns the
// regular files whose slash-separated relative paths start with prefix.
// Every 1,000 files, it reports the count so far to the
// [dataset.ListTrace] that ctx carries.
func (b *Backend) List(ctx context.Context, prefix string) ([]dataset.Entry, error) {
	var out []dataset.Entry
	err := fs.WalkDir(b.root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.IsDir() {
			if p != "." && !strings.HasPrefix(p+"/", prefix) && !strings.HasPrefix(prefix, p+"/") {
				return fs.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || !strings.HasPrefix(p, prefix) {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		out = append(out, dataset.Entry{Key: p, Size: fi.Size()})
		if len(out)%listReportEvery == 0 {
			dataset.ReportFound(ctx, len(out))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b dataset.Entry) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}
