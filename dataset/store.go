package dataset

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"
)

// Timing is how long one read took, measured from the call to Open.
type Timing struct {
	// TTFB is the time to the first byte of the object's body. For an empty
	// object it is the time to the end of the read.
	TTFB time.Duration
	// Total is the time to the last byte, TTFB included.
	Total time.Duration
}

// Transfer is the time from the first byte to the last.
func (t Timing) Transfer() time.Duration { return t.Total - t.TTFB }

// minGrow is how much a buffer grows at a time when an object's size is not
// known in advance.
const minGrow = 32 << 10

// Store is the portable type in front of a [Backend]. It is safe for
// concurrent use.
type Store struct {
	b Backend
}

// NewStore returns a Store reading through b.
func NewStore(b Backend) *Store { return &Store{b: b} }

// Backend returns the backend the store reads through.
func (s *Store) Backend() Backend { return s.b }

// Read reads the whole object named key into buf, reusing its capacity, and
// returns the filled slice and how long the read took. The caller owns buf
// and the returned slice (which may be a reallocation of buf); Read keeps no
// reference to either. With a buffer large enough, Read allocates nothing
// beyond what the backend does. Errors are [*KeyError] values naming key.
func (s *Store) Read(ctx context.Context, key string, buf []byte) ([]byte, Timing, error) {
	if key == "" {
		return buf[:0], Timing{}, &KeyError{Op: "read", Key: key, Err: ErrInvalidKey}
	}
	if err := ctx.Err(); err != nil {
		return buf[:0], Timing{}, &KeyError{Op: "read", Key: key, Err: err}
	}
	start := time.Now()
	rc, size, err := s.b.Open(ctx, key)
	if err != nil {
		return buf[:0], Timing{}, &KeyError{Op: "read", Key: key, Err: err}
	}
	buf, first, err := readAll(rc, size, buf[:0], firstByteHook(ctx))
	cerr := rc.Close()
	end := time.Now()
	if err == nil {
		err = cerr
	}
	if err != nil {
		if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
			err = fmt.Errorf("%w (%w)", cerr, err)
		}
		return buf[:0], Timing{}, &KeyError{Op: "read", Key: key, Err: err}
	}
	if first.IsZero() {
		first = end
		if hook := firstByteHook(ctx); hook != nil {
			hook() // an empty body: its end is its first byte
		}
	}
	return buf, Timing{TTFB: first.Sub(start), Total: end.Sub(start)}, nil
}

// readAll reads r to its end, appending to buf, and returns the time the
// first non-empty Read returned, calling firstByte (if not nil) then. When size is known the buffer is grown once,
// with one spare byte so that the end of the object is seen without another
// allocation, and a body of any other length is an error.
func readAll(r io.Reader, size int64, buf []byte, firstByte func()) ([]byte, time.Time, error) {
	var first time.Time
	if size >= 0 && int64(cap(buf)) < size+1 {
		buf = make([]byte, 0, size+1)
	}
	for {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, minGrow)
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		if n > 0 {
			if first.IsZero() {
				first = time.Now()
				if firstByte != nil {
					firstByte()
				}
			}
			buf = buf[:len(buf)+n]
		}
		if size >= 0 && int64(len(buf)) > size {
			return buf, first, fmt.Errorf("body longer than its reported size of %d bytes", size)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return buf, first, err
		}
	}
	if size >= 0 && int64(len(buf)) != size {
		return buf, first, fmt.Errorf("short body: got %d bytes, want %d: %w", len(buf), size, io.ErrUnexpectedEOF)
	}
	return buf, first, nil
}

// Put stores data under key. It fails with [ErrInvalidKey] for an empty key
// and with [errors.ErrUnsupported] when the backend cannot write.
func (s *Store) Put(ctx context.Context, key string, data []byte) error {
	if key == "" {
		return &KeyError{Op: "put", Key: key, Err: ErrInvalidKey}
	}
	w, ok := s.b.(Writer)
	if !ok {
		return &KeyError{Op: "put", Key: key, Err: errors.ErrUnsupported}
	}
	if err := w.Put(ctx, key, data); err != nil {
		return &KeyError{Op: "put", Key: key, Err: err}
	}
	return nil
}

// Delete removes the object named key. It fails with [ErrInvalidKey] for an
// empty key, with [ErrNotFound] when key names no object and with
// [errors.ErrUnsupported] when the backend cannot delete.
func (s *Store) Delete(ctx context.Context, key string) error {
	if key == "" {
		return &KeyError{Op: "delete", Key: key, Err: ErrInvalidKey}
	}
	d, ok := s.b.(Deleter)
	if !ok {
		return &KeyError{Op: "delete", Key: key, Err: errors.ErrUnsupported}
	}
	if err := d.Delete(ctx, key); err != nil {
		return &KeyError{Op: "delete", Key: key, Err: err}
	}
	return nil
}

// List returns the objects whose keys start with prefix, sorted by key. It
// fails with [errors.ErrUnsupported] when the backend cannot list.
func (s *Store) List(ctx context.Context, prefix string) ([]Entry, error) {
	l, ok := s.b.(Lister)
	if !ok {
		return nil, &KeyError{Op: "list", Key: prefix, Err: errors.ErrUnsupported}
	}
	entries, err := l.List(ctx, prefix)
	if err != nil {
		return nil, &KeyError{Op: "list", Key: prefix, Err: err}
	}
	return entries, nil
}
