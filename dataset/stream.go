package dataset

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"time"
)

// firstRead is how many bytes the first Read of a stream's attempt asks
// for, to learn that the body has begun.
const firstRead = 4 << 10

// Stream reads an object from an offset to its end, as it arrives, for a
// caller that consumes it as it goes (a tar shard's samples, one after
// the other); [Store.OpenStream] opens it. It implements io.ReadCloser.
// The context given to OpenStream bounds the whole stream, its Reads
// included. A Stream is not safe for concurrent use: to stop a Read under
// way, cancel that context.
//
// Each Read runs under the policy's idle deadline: it fails, as a
// [KindTransient] error wrapping [ErrTimeout], when the store sends no byte
// for IdleTimeout while the Read waits. Between Reads no deadline runs:
// the stream then waits on its caller, not on the store. A Read's error is
// a [*KeyError] of op "stream" naming the key and the offset reached (as
// in `stream "a.tar": at byte 1048576: ...`), whose kind [KindOf] gives:
// what the backend classifies, [KindCanceled] once the context ends, and
// [KindTransient] for a body shorter than the object's announced size
// (io.ErrUnexpectedEOF) or longer. io.EOF, at the object's end, is
// returned as is. After an error other than io.EOF, every Read returns
// the same error.
//
// A Stream does not resume after a failure itself: its caller does, by
// calling OpenStream again at [Stream.Offset], which a failed Read leaves
// at the first byte not returned.
type Stream struct {
	s    *Store
	ctx  context.Context // the caller's
	key  string
	h    hooks
	rc   io.ReadCloser
	dl   *deadline // the open attempt's, armed during Reads; nil for none
	size int64     // the object's whole size, -1 unknown
	off  int64     // the offset of the next byte to return

	peek    [firstRead]byte
	pending []byte // what the open read and Read has not returned yet
	eof     bool   // the body has ended

	opened, first time.Time
	attempts      int
	err           error // the error every Read returns, once one failed or Close was called
	closed        bool
}

// OpenStream opens the object named key from byte off to its end, for
// reading as a [Stream]: from off == 0 the whole object. Which offsets
// exist is the backends' common rule ([CheckRange], with n < 0): off
// beyond the end, or at the end of a non-empty object, fails with
// [ErrInvalidRange]; a negative off too, before any attempt.
//
// OpenStream returns once the body's first byte has arrived (or its end,
// for an empty stream): until then each attempt runs under the policy's
// first-byte deadline, and a failed attempt is made again as a
// [Store.Read]'s are, by the same kinds, after the same backoff, within
// the same attempts and [RetryBudget], calling the store's [ReadTrace]
// hooks. A backend without [RangeOpener] is read through Open, the bytes
// before off discarded in each attempt, as [Store.ReadRange] does. Errors
// are [*KeyError] values of op "stream" naming the key and off, whose kind
// [KindOf] gives. The caller closes the stream.
func (s *Store) OpenStream(ctx context.Context, key string, off int64) (*Stream, error) {
	sp := span{ranged: true, off: off, n: -1}
	fail := func(err error) error {
		return &KeyError{Op: "stream", Key: key, Err: fmt.Errorf("from byte %d: %w", off, err)}
	}
	if err := refuse(ctx, key, sp); err != nil {
		return nil, fail(err)
	}
	st := &Stream{s: s, ctx: ctx, key: key, h: hooks{store: s.trace}}
	r := s.newRetrier(ctx, nil)
	for k := 0; ; k++ {
		t0 := r.begin(k)
		kind, err := st.open(sp, k)
		end := time.Now()
		if err == nil {
			if st.dl != nil && !st.first.IsZero() {
				s.obs.record(st.first.Sub(t0), -1)
			}
			st.opened, st.attempts = t0, k+1
			r.served(end)
			return st, nil
		}
		if _, err := r.next(k, kind, err, end); err != nil {
			return nil, fail(err)
		}
	}
}

// open makes attempt k (from 0) at opening sp, up to its first byte, and
// returns, if it failed, the error's kind and the error, with the kind
// recorded on it.
func (st *Stream) open(sp span, k int) (ErrorKind, error) {
	s := st.s
	dl, actx := s.deadline(st.ctx, k)
	rc, size, err := s.open(actx, st.key, sp, dl)
	if err == nil {
		var n int
		n, err = io.ReadAtLeast(rc, st.peek[:], 1)
		st.rc, st.dl, st.size, st.off, st.eof = rc, dl, size, sp.off, false
		st.pending, st.first = st.peek[:n], time.Time{}
		if n > 0 {
			st.first = time.Now()
			st.h.firstByte()
		}
		if err == io.EOF {
			err, st.eof = nil, true
		}
		if err == nil {
			err = st.checkLength(st.off + int64(n))
		}
		if err == nil {
			if dl != nil {
				dl.pause()
			}
			return KindUnknown, nil
		}
		rc.Close()
		st.rc = nil
	}
	kind, err := s.cause(st.ctx, dl, err)
	if dl != nil {
		dl.stop()
	}
	return kind, err
}

// checkLength returns the error, of kind transient, of a body that reaches
// end, the offset past its last byte so far, when that passes the
// object's size, or when the body has ended short of it; else nil.
func (st *Stream) checkLength(end int64) error {
	switch {
	case st.size < 0:
		return nil
	case end > st.size:
		return withKind(fmt.Errorf("body longer than the object's size of %d bytes", st.size), KindTransient)
	case st.eof && end < st.size:
		return withKind(fmt.Errorf("short body: ended at byte %d of %d: %w", end, st.size, io.ErrUnexpectedEOF), KindTransient)
	}
	return nil
}

// Read reads the next bytes of the object into p, under the policy's idle
// deadline. It returns io.EOF at the object's end.
func (st *Stream) Read(p []byte) (int, error) {
	switch {
	case st.err != nil:
		return 0, st.err
	case st.ctx.Err() != nil:
		// A backend whose reads ignore the context (a local file's)
		// stops here too.
		return 0, st.fail(withKind(context.Cause(st.ctx), KindCanceled))
	case len(st.pending) > 0:
		n := copy(p, st.pending)
		st.pending = st.pending[n:]
		st.off += int64(n)
		return n, nil
	case st.eof:
		return 0, io.EOF
	case len(p) == 0:
		return 0, nil
	}
	if st.dl != nil {
		st.dl.progress() // the next byte is due within the idle timeout
	}
	n, err := st.rc.Read(p)
	if st.dl != nil {
		st.dl.pause()
	}
	if n > 0 && st.first.IsZero() {
		st.first = time.Now()
		st.h.firstByte()
	}
	if err == io.EOF {
		st.eof = true
	} else if err != nil {
		_, err = st.s.cause(st.ctx, st.dl, err)
	}
	if lerr := st.checkLength(st.off + int64(n)); lerr != nil {
		n, err = int(min(int64(n), max(st.size-st.off, 0))), lerr
	}
	st.off += int64(n)
	if err != nil && err != io.EOF {
		return n, st.fail(err)
	}
	return n, err
}

// fail records err, the error of a Read at the stream's offset, as the
// error of every Read from now on, and returns it.
func (st *Stream) fail(err error) error {
	st.err = &KeyError{Op: "stream", Key: st.key, Err: fmt.Errorf("at byte %d: %w", st.off, err)}
	return st.err
}

// Close stops the stream's deadline and closes the body. Closing it again
// does nothing and returns nil; a Read after Close fails.
func (st *Stream) Close() error {
	if st.closed {
		return nil
	}
	st.closed = true
	if st.dl != nil {
		st.dl.stop()
	}
	if st.err == nil {
		st.err = &KeyError{Op: "stream", Key: st.key, Err: withKind(fmt.Errorf("at byte %d: read after Close: %w", st.off, fs.ErrClosed), KindPermanent)}
	}
	if err := st.rc.Close(); err != nil {
		return &KeyError{Op: "stream", Key: st.key, Err: fmt.Errorf("close at byte %d: %w", st.off, st.s.classified(err))}
	}
	return nil
}

// Size returns the object's whole size in bytes, as the backend reported
// it, or -1 when it is not known.
func (st *Stream) Size() int64 { return st.size }

// Offset returns the offset in the object of the next byte Read returns:
// the offset the stream was opened at plus the bytes read so far. After a
// failed Read it is where a new stream resumes.
func (st *Stream) Offset() int64 { return st.off }

// FirstByte returns when the body's first byte arrived: by the time
// OpenStream returns, unless the stream is empty, when it stays zero.
func (st *Stream) FirstByte() time.Time { return st.first }

// Opened returns when the attempt that opened the stream started: its
// first byte came [Stream.FirstByte] minus Opened after it.
func (st *Stream) Opened() time.Time { return st.opened }

// Attempts returns how many attempts OpenStream made, the one that
// opened the stream included.
func (st *Stream) Attempts() int { return st.attempts }
