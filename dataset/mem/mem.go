// Package mem is a [dataset.Backend] that keeps its objects in memory. It
// costs next to nothing to read, so a loader reading from it measures its
// own overhead.
//
// [Backend] holds a map of objects and can be written. [View] serves a
// read-only set of objects described by functions ([Catalog]), so that a
// dataset of a million keys and a hundred distinct bodies takes the memory
// of its bodies, not of a million map entries.
package mem

import (
	"context"
	"errors"
	"io"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"

	"github.com/storagebench/storagebench/dataset"
)

// Backend holds objects in memory. The zero value is an empty backend ready
// for use. It is safe for concurrent use.
type Backend struct {
	mu      sync.RWMutex
	objects map[string][]byte
}

// New returns a backend holding objects. The map and its slices are not
// copied: the caller must not change them afterwards.
func New(objects map[string][]byte) *Backend {
	if objects == nil {
		objects = make(map[string][]byte)
	}
	return &Backend{objects: objects}
}

var readers = sync.Pool{New: func() any { return new(reader) }}

// Open implements [dataset.Backend]. Readers are pooled, so reading
// allocates nothing in steady state.
func (b *Backend) Open(ctx context.Context, key string) (io.ReadCloser, int64, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	b.mu.RLock()
	data, ok := b.objects[key]
	b.mu.RUnlock()
	if !ok {
		return nil, 0, dataset.ErrNotFound
	}
	r := readers.Get().(*reader)
	r.ctx, r.data, r.off = ctx, data, 0
	return r, int64(len(data)), nil
}

// OpenRange implements [dataset.RangeOpener] with a pooled reader of the
// range's bytes alone, as Open's; its Seek positions within the range.
func (b *Backend) OpenRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, int64, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	if err := dataset.CheckRange(off, n, -1); err != nil {
		return nil, 0, err
	}
	b.mu.RLock()
	data, ok := b.objects[key]
	b.mu.RUnlock()
	if !ok {
		return nil, 0, dataset.ErrNotFound
	}
	return openRange(ctx, data, off, n)
}

// openRange returns a pooled reader of the bytes [off, off+n) of data, or
// [off, end) when n < 0, cut at its end, and data's size.
func openRange(ctx context.Context, data []byte, off, n int64) (io.ReadCloser, int64, error) {
	size := int64(len(data))
	if err := dataset.CheckRange(off, n, size); err != nil {
		return nil, 0, err
	}
	end := size
	if n >= 0 && n < size-off {
		end = off + n
	}
	r := readers.Get().(*reader)
	r.ctx, r.data, r.off = ctx, data[off:end:end], 0
	return r, size, nil
}

// Put implements [dataset.Writer]. It copies data.
func (b *Backend) Put(ctx context.Context, key string, data []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.objects == nil {
		b.objects = make(map[string][]byte)
	}
	b.objects[key] = slices.Clone(data)
	return nil
}

// Delete implements [dataset.Deleter].
func (b *Backend) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.objects[key]; !ok {
		return dataset.ErrNotFound
	}
	delete(b.objects, key)
	return nil
}

// List implements [dataset.Lister].
func (b *Backend) List(ctx context.Context, prefix string) ([]dataset.Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	var out []dataset.Entry
	for _, k := range slices.Sorted(maps.Keys(b.objects)) {
		if strings.HasPrefix(k, prefix) {
			out = append(out, dataset.Entry{Key: k, Size: int64(len(b.objects[k]))})
		}
	}
	return out, nil
}

// reader reads one object; it goes back to the pool when closed.
type reader struct {
	ctx  context.Context
	data []byte
	off  int
}

func (r *reader) Read(p []byte) (int, error) {
	if r.off >= len(r.data) {
		return 0, io.EOF
	}
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	n := copy(p, r.data[r.off:])
	r.off += n
	return n, nil
}

// Seek implements [io.Seeker], as a [bytes.Reader] does: an offset past
// the end is allowed (Read then returns io.EOF), a negative one is an
// error. It lets an HTTP server answer ranges of an object it serves.
func (r *reader) Seek(offset int64, whence int) (int64, error) {
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = int64(r.off) + offset
	case io.SeekEnd:
		abs = int64(len(r.data)) + offset
	default:
		return 0, errors.New("mem: seek: invalid whence")
	}
	if abs < 0 {
		return 0, errors.New("mem: seek: negative position")
	}
	r.off = int(min(abs, math.MaxInt))
	return abs, nil
}

func (r *reader) Close() error {
	r.ctx, r.data = nil, nil
	readers.Put(r)
	return nil
}

// Immediate implements [dataset.Immediate]: a read from memory never
// waits, so reads carry no deadline.
func (b *Backend) Immediate() bool { return true }

// ErrorKind implements [dataset.Classifier]: a missing key is
// [dataset.KindNotFound], a range past an object's end
// ([dataset.ErrInvalidRange]) [dataset.KindPermanent] and an operation
// whose context ended [dataset.KindCanceled]. The backend makes no other
// errors; it returns [dataset.KindUnknown] for any other.
func (b *Backend) ErrorKind(err error) dataset.ErrorKind { return errorKind(err) }

// errorKind classifies the errors of the package's backends.
func errorKind(err error) dataset.ErrorKind {
	switch {
	case errors.Is(err, dataset.ErrNotFound):
		return dataset.KindNotFound
	case errors.Is(err, dataset.ErrInvalidRange):
		return dataset.KindPermanent
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return dataset.KindCanceled
	}
	return dataset.KindUnknown
}
