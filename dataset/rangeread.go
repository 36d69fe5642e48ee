package dataset

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
)

// ReadRange reads the bytes [off, off+n) of the object named key into buf,
// or [off, end) when n < 0, as [Store.Read] reads a whole object: into
// buf's capacity, under the same deadlines, retries, retry budget and
// hooks, with the same [Timing]. Which ranges exist is the backends'
// common rule ([CheckRange], see [RangeOpener]): a range running past the
// object's end is cut there, so the slice returned may be shorter than n;
// one starting past the end, or at the end and asking for bytes of a
// non-empty object, fails with [ErrInvalidRange] ([KindPermanent], not
// retried), as does a negative off, before any attempt. n == 0 reads
// nothing of an object that exists.
//
// The body must hold exactly the range's bytes: n of them, or what is left
// of the object after off when that is less (the object's size is the one
// the backend reported; when it reports none, n is expected, and a body
// of another length, or any length for n < 0, is taken as it comes). A
// shorter or longer body is a transient failure, retried, never returned.
//
// A backend that implements [RangeOpener] reads the range alone; any
// other is read through Open, its first off bytes read and discarded in
// each attempt (under the idle deadline once they flow): a range late in
// a large object then costs the bytes before it.
//
// Errors are [*KeyError] values of op "read range" naming key, whose Err
// names the range (as in `read range "a.tar": bytes [512, 1024): ...`)
// and whose kind [KindOf] gives.
func (s *Store) ReadRange(ctx context.Context, key string, off, n int64, buf []byte) ([]byte, Timing, error) {
	return s.read(ctx, key, span{ranged: true, off: off, n: n}, buf, nil)
}

// ReadRangeTraced reads as [Store.ReadRange] does, calling the hooks of
// trace for this read in addition to the store's own, as
// [Store.ReadTraced] does.
func (s *Store) ReadRangeTraced(ctx context.Context, key string, off, n int64, buf []byte, trace *ReadTrace) ([]byte, Timing, error) {
	return s.read(ctx, key, span{ranged: true, off: off, n: n}, buf, trace)
}

// ReadRangeInto reads the bytes [off, off+len(dst)) of the object named
// key into dst itself, which it never reallocates and never writes past
// len(dst), as [Store.ReadRange] reads a range otherwise: the same
// deadlines, retries, budget, hooks and [Timing] (whose Size is the
// object's). It is for readers that fill one buffer from many ranged
// reads at once, such as an object read in parts. The object must hold
// the whole range: a range the object's end cuts short fails with
// [ErrInvalidRange], not retried, and a body of any other length than
// len(dst) is a transient failure, retried. An empty dst reads nothing
// of an object that exists. On failure, dst's bytes are undefined.
func (s *Store) ReadRangeInto(ctx context.Context, key string, off int64, dst []byte) (Timing, error) {
	_, tm, err := s.read(ctx, key, span{ranged: true, off: off, n: int64(len(dst)), exact: true}, dst[:0:len(dst)], nil)
	return tm, err
}

// CheckRange returns nil when [off, off+n) (or [off, end) for n < 0) is a
// range of an object of size bytes that a [RangeOpener] reads, and an
// error wrapping [ErrInvalidRange] that names the range and the size when
// it is not: when off is negative, past the end (off > size), or at the
// end (off == size) of a non-empty object with n != 0, which S3 refuses
// with 416. A size below 0 is unknown: only a negative off is refused.
// Backends call it once they know an object's size, so that every backend
// draws the line where S3 does.
func CheckRange(off, n, size int64) error {
	switch {
	case off < 0:
		return fmt.Errorf("%w: %s: negative offset", ErrInvalidRange, rangeString(off, n))
	case size < 0:
		return nil
	case off > size || off == size && size > 0 && n != 0:
		return fmt.Errorf("%w: %s of an object of %d bytes", ErrInvalidRange, rangeString(off, n), size)
	}
	return nil
}

// rangeString names the range [off, off+n), or [off, end) when n < 0.
func rangeString(off, n int64) string {
	if n < 0 || n > math.MaxInt64-off {
		return fmt.Sprintf("bytes [%d, end)", off)
	}
	return fmt.Sprintf("bytes [%d, %d)", off, off+n)
}

// OpenRange reads the bytes [off, off+n) of the object named key in b, or
// [off, end) when n < 0, with the sizes, cuts and errors of
// [RangeOpener.OpenRange]: through b's own OpenRange when b implements
// RangeOpener, else through b's Open, reading and discarding the object's
// first off bytes before it returns (a body that ends before them is
// [ErrInvalidRange] when b reported no size, else a transient
// io.ErrUnexpectedEOF) and cutting the reader at n bytes. A backend that
// wraps another implements RangeOpener with it, whatever it wraps.
func OpenRange(ctx context.Context, b Backend, key string, off, n int64) (io.ReadCloser, int64, error) {
	return openRange(ctx, b, key, off, n, nil)
}

// openRange is OpenRange, re-arming dl (if not nil) as the discarded bytes
// arrive.
func openRange(ctx context.Context, b Backend, key string, off, n int64, dl *deadline) (io.ReadCloser, int64, error) {
	if ro, ok := b.(RangeOpener); ok {
		return ro.OpenRange(ctx, key, off, n)
	}
	if err := CheckRange(off, n, -1); err != nil {
		return nil, 0, err
	}
	rc, size, err := b.Open(ctx, key)
	if err != nil {
		return nil, 0, err
	}
	if err := CheckRange(off, n, size); err != nil {
		rc.Close()
		return nil, 0, err
	}
	if skipped, err := io.CopyN(discard{dl}, rc, off); err != nil {
		rc.Close()
		if !errors.Is(err, io.EOF) {
			return nil, 0, err
		}
		if size >= 0 {
			return nil, 0, withKind(fmt.Errorf("short body: %d bytes of an object of %d, before %s: %w", skipped, size, rangeString(off, n), io.ErrUnexpectedEOF), KindTransient)
		}
		return nil, 0, CheckRange(off, n, skipped)
	}
	if n >= 0 {
		rc = rangeReader{io.LimitReader(rc, n), rc}
	}
	return rc, size, nil
}

// discard is a writer that drops what it is given, re-arming dl (if not
// nil) on every write: the bytes before a range are progress of the read.
type discard struct{ dl *deadline }

func (d discard) Write(p []byte) (int, error) {
	if d.dl != nil && len(p) > 0 {
		d.dl.received()
	}
	return len(p), nil
}

// rangeReader reads a range of a body and closes the body.
type rangeReader struct {
	io.Reader
	io.Closer
}

// span is the part of an object a read asks for: the whole object,
// through Open, or a range, through OpenRange.
type span struct {
	ranged bool
	off, n int64 // the range [off, off+n), or [off, end) when n < 0
	exact  bool  // the range must be whole, read into the caller's buffer as it is
}

// whole is the span of a whole object.
var whole = span{n: -1}

// length returns the length of the body of sp of an object of size bytes
// (-1 unknown): size for the whole object; for a range, its length cut at
// size, or n when size is not known; -1 when neither tells.
func (sp span) length(size int64) int64 {
	switch {
	case !sp.ranged:
		return size
	case size >= 0 && (sp.n < 0 || sp.n > size-sp.off):
		return max(size-sp.off, 0)
	}
	return sp.n
}

// fail returns err, the error of a read of sp of key, as the read returns
// it: a *KeyError of op "read" or, naming the range, "read range".
func (sp span) fail(key string, err error) *KeyError {
	if !sp.ranged {
		return &KeyError{Op: "read", Key: key, Err: err}
	}
	return &KeyError{Op: "read range", Key: key, Err: fmt.Errorf("%s: %w", rangeString(sp.off, sp.n), err)}
}
