package mem

import (
	"context"
	"errors"
	"io"
	"sort"
	"strings"

	"github.com/storagebench/storagebench/dataset"
)

// Catalog describes the objects a [View] serves by functions instead of a
// map: N objects numbered 0 to N-1 in ascending key order. The functions
// must be safe for concurrent use and must not change their answers for
// the life of the view.
type Catalog struct {
	// N is the number of objects.
	N int
	// Key returns the key of object i, 0 <= i < N. Keys must be distinct
	// and ascend with i in byte order (the order of [dataset.Lister]):
	// listings rely on it to find a prefix by binary search.
	Key func(i int) string
	// Position returns the number of the object named key, and false when
	// there is none. Open calls it on every read, so it should be quick
	// and allocate nothing.
	Position func(key string) (int, bool)
	// Body returns the bytes of object i. Objects may share a slice; the
	// view never modifies it.
	Body func(i int) []byte
}

// View is a read-only in-memory backend over a [Catalog]: it holds no
// object itself, so it costs the memory of the bodies the catalog returns,
// however many keys share them. Like [Backend] it implements
// [dataset.Immediate], [dataset.Lister], [dataset.RangeOpener] and
// [View.ListPage], and its readers implement [io.Seeker]; unlike it, it has no Put or Delete. It is
// safe for concurrent use.
type View struct {
	c Catalog
}

// NewView returns a view over c, or an error when c lacks a function or
// has a negative N.
func NewView(c Catalog) (*View, error) {
	if c.N < 0 {
		return nil, errors.New("mem: view: negative N")
	}
	if c.Key == nil || c.Position == nil || c.Body == nil {
		return nil, errors.New("mem: view: the catalog needs Key, Position and Body")
	}
	return &View{c: c}, nil
}

// Open implements [dataset.Backend]. Readers are pooled, so reading
// allocates nothing in steady state.
func (v *View) Open(ctx context.Context, key string) (io.ReadCloser, int64, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	i, ok := v.c.Position(key)
	if !ok || i < 0 || i >= v.c.N {
		return nil, 0, dataset.ErrNotFound
	}
	data := v.c.Body(i)
	r := readers.Get().(*reader)
	r.ctx, r.data, r.off = ctx, data, 0
	return r, int64(len(data)), nil
}

// OpenRange implements [dataset.RangeOpener] with a pooled reader of the
// range's bytes alone, as [Backend.OpenRange] does.
func (v *View) OpenRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, int64, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	if err := dataset.CheckRange(off, n, -1); err != nil {
		return nil, 0, err
	}
	i, ok := v.c.Position(key)
	if !ok || i < 0 || i >= v.c.N {
		return nil, 0, dataset.ErrNotFound
	}
	return openRange(ctx, v.c.Body(i), off, n)
}

// listReportEvery is how many objects List finds between two reports to
// the [dataset.ListTrace] of its context, and how often a listing checks
// its context.
const listReportEvery = 1000

// List implements [dataset.Lister]. It finds the first key with prefix by
// binary search and reports its count so far to the [dataset.ListTrace]
// that ctx carries every 1,000 objects.
func (v *View) List(ctx context.Context, prefix string) ([]dataset.Entry, error) {
	var out []dataset.Entry
	for i := v.first(prefix, ""); i < v.c.N; i++ {
		k := v.c.Key(i)
		if !strings.HasPrefix(k, prefix) {
			break
		}
		out = append(out, dataset.Entry{Key: k, Size: int64(len(v.c.Body(i)))})
		if len(out)%listReportEvery == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			dataset.ReportFound(ctx, len(out))
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// ListPage returns, sorted by key, up to limit objects whose keys start
// with prefix and sort after after (all of them when after is ""). A
// listing by pages, such as S3's, costs one binary search a page.
func (v *View) ListPage(ctx context.Context, prefix, after string, limit int) ([]dataset.Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []dataset.Entry
	for i := v.first(prefix, after); i < v.c.N && len(out) < limit; i++ {
		k := v.c.Key(i)
		if !strings.HasPrefix(k, prefix) {
			break
		}
		out = append(out, dataset.Entry{Key: k, Size: int64(len(v.c.Body(i)))})
	}
	return out, nil
}

// first returns the number of the first object whose key is at least
// prefix and, when after is not empty, greater than after.
func (v *View) first(prefix, after string) int {
	i := sort.Search(v.c.N, func(i int) bool { return v.c.Key(i) >= prefix })
	if after != "" {
		i = max(i, sort.Search(v.c.N, func(i int) bool { return v.c.Key(i) > after }))
	}
	return i
}

// Immediate implements [dataset.Immediate]: a read from memory never
// waits, so reads carry no deadline.
func (v *View) Immediate() bool { return true }

// ErrorKind implements [dataset.Classifier] as [Backend.ErrorKind] does: a
// missing key is [dataset.KindNotFound], a range past an object's end
// [dataset.KindPermanent] and an operation whose context ended
// [dataset.KindCanceled].
func (v *View) ErrorKind(err error) dataset.ErrorKind { return errorKind(err) }
