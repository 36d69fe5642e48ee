package dataset

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"
)

// Timing is how long one read took, measured from the call to
// [Store.Read], and what retries it took.
type Timing struct {
	// TTFB is the time to the first byte of the object's body, from the
	// start of the attempt that read it. For an empty object it is the
	// time to the end of the read.
	TTFB time.Duration
	// Total is the time to the last byte from the call, retries included:
	// Retrying + TTFB + Transfer(). For a failed read, the time to the
	// failure.
	Total time.Duration
	// Attempts is how many attempts the read made, the first included: 1
	// without retries, 0 for a read refused before any attempt.
	Attempts int
	// Retrying is the time lost to retries: from the call to the start of
	// the attempt that read the object (or failed last), failed attempts
	// and waits between attempts included.
	Retrying time.Duration
	// Size is the whole object's size in bytes as the backend reported it
	// when the read succeeded, whatever range was read (S3's
	// Content-Range total): how a reader of an object in parts learns its
	// size from its first part. It is -1 when the backend reported none,
	// and 0 for a failed read.
	Size int64
}

// Transfer is the time from the first byte to the last, in the attempt
// that read the object.
func (t Timing) Transfer() time.Duration { return t.Total - t.Retrying - t.TTFB }

// minGrow is how much a buffer grows at a time when an object's size is not
// known in advance.
const minGrow = 32 << 10

// Store is the portable type in front of a [Backend]: it reads objects
// whole ([Store.Read]), ranges of them ([Store.ReadRange]) or streams them
// from an offset ([Store.OpenStream]), under a [Policy] of deadlines and
// retries, and records on every error it returns the error's [ErrorKind],
// as the backend classifies it. It is safe for concurrent use.
//
// A Store's settings are options of the Store itself, never values of the
// context given to its reads: [Store.WithPolicy], [Store.WithRetryBudget]
// and [Store.WithReadTrace] each return a Store that differs from s in one
// setting and reads through the same backend.
type Store struct {
	b         Backend
	p         Policy       // resolved
	immediate bool         // the backend's reads never wait: no deadlines
	budget    *RetryBudget // shared by the store's reads, or nil
	trace     *ReadTrace   // the store's hooks, composed, or nil
	obs       *observed    // what the store's reads took, shared by its copies; nil on an Immediate backend
}

// NewStore returns a Store reading through b under the default [Policy],
// with no [RetryBudget] and no [ReadTrace].
func NewStore(b Backend) *Store {
	p, _ := Policy{}.Resolved()
	s := &Store{b: b, p: p}
	if im, ok := b.(Immediate); ok && im.Immediate() {
		s.immediate = true
	} else {
		s.obs = newObserved()
	}
	return s
}

// WithPolicy returns a Store reading as s does under p, or an error naming
// p's first invalid field.
func (s *Store) WithPolicy(p Policy) (*Store, error) {
	p, err := p.Resolved()
	if err != nil {
		return nil, err
	}
	c := *s
	c.p = p
	return &c, nil
}

// WithRetryBudget returns a Store reading as s does, whose reads share
// budget (in place of any budget s has; nil for none). A loader's run
// gives its reads one budget this way.
func (s *Store) WithRetryBudget(budget *RetryBudget) *Store {
	c := *s
	c.budget = budget
	return &c
}

// WithReadTrace returns a Store reading as s does, whose reads call the
// hooks of trace in addition to those s already calls: trace's first, then
// s's. A nil trace adds nothing.
func (s *Store) WithReadTrace(trace *ReadTrace) *Store {
	c := *s
	c.trace = trace.compose(s.trace)
	return &c
}

// Policy returns the store's policy, its defaults resolved.
func (s *Store) Policy() Policy { return s.p }

// Deadlines returns the deadlines a read's first attempt has now: its
// policy's, followed to what the store's reads took (see
// [Policy.DeadlineMultiple]); negative for none, as on an [Immediate]
// backend.
func (s *Store) Deadlines() (firstByte, idle time.Duration) {
	if s.immediate {
		return -1, -1
	}
	return s.obs.deadlines(s.p, 0)
}

// RetryBudget returns the budget the store's reads share, or nil.
func (s *Store) RetryBudget() *RetryBudget { return s.budget }

// Backend returns the backend the store reads through.
func (s *Store) Backend() Backend { return s.b }

// Read reads the whole object named key into buf, reusing its capacity, and
// returns the filled slice and how long the read took. The caller owns buf
// and the returned slice (which may be a reallocation of buf); Read keeps no
// reference to either. With a buffer large enough, Read allocates nothing
// beyond what the backend does.
//
// Each attempt has the deadlines of the store's [Policy] (none on an
// [Immediate] backend). An attempt's error is classified: the deadline's
// end is [KindTransient], the end of ctx [KindCanceled], anything else
// what [Classify] says with the store's backend. An attempt that fails with
// a retryable kind (transient, throttled or unknown) is made again, after
// a jittered backoff, up to the policy's attempts (its throttled attempts
// for those the store throttled, in a run whose store is serving, see
// [RetryBudget]) and within the store's [RetryBudget], if it has one. A
// body shorter or longer than its announced size is a transient failure:
// it is never returned. Errors are [*KeyError] values naming key, whose
// kind [KindOf] gives; one that retries could not overcome wraps an
// [*AttemptsError] with the last attempt's error.
func (s *Store) Read(ctx context.Context, key string, buf []byte) ([]byte, Timing, error) {
	return s.read(ctx, key, whole, buf, nil)
}

// ReadTraced reads as [Store.Read] does, calling the hooks of trace for
// this read in addition to the store's own: trace's first. A nil trace
// adds nothing. It allocates nothing more than Read does.
func (s *Store) ReadTraced(ctx context.Context, key string, buf []byte, trace *ReadTrace) ([]byte, Timing, error) {
	return s.read(ctx, key, whole, buf, trace)
}

// read reads sp of key, whole or a range, with the read's own trace, if
// any: Read and ReadRange.
func (s *Store) read(ctx context.Context, key string, sp span, buf []byte, trace *ReadTrace) ([]byte, Timing, error) {
	if err := refuse(ctx, key, sp); err != nil {
		return buf[:0], Timing{}, sp.fail(key, err)
	}
	r := s.newRetrier(ctx, trace)
	for k := 0; ; k++ {
		t0 := r.begin(k)
		data, first, size, kind, err := s.attempt(ctx, key, sp, buf, r.h, t0, k)
		end := time.Now()
		if err == nil {
			if first.IsZero() {
				first = end
				r.h.firstByte() // an empty body: its end is its first byte
			}
			r.served(end)
			return data, Timing{TTFB: first.Sub(t0), Total: end.Sub(r.start), Attempts: k + 1, Retrying: t0.Sub(r.start), Size: size}, nil
		}
		buf = data
		if failed, err := r.next(k, kind, err, end); err != nil {
			return buf[:0], Timing{Total: failed.Sub(r.start), Attempts: k + 1, Retrying: t0.Sub(r.start)}, sp.fail(key, err)
		}
	}
}

// refuse returns the error, its kind recorded, of a read of sp of key that
// makes no attempt: an empty key, a range at a negative offset, or ctx
// already done. It returns nil for a read that may start.
func refuse(ctx context.Context, key string, sp span) error {
	switch {
	case key == "":
		return withKind(ErrInvalidKey, KindPermanent)
	case sp.ranged && sp.off < 0:
		return withKind(CheckRange(sp.off, sp.n, -1), KindPermanent)
	}
	if err := ctx.Err(); err != nil {
		return withKind(err, KindCanceled)
	}
	return nil
}

// retrier decides, attempt by attempt, whether a read makes another, and
// waits before it: the part of the retry loop that [Store.Read] and
// [Store.OpenStream] share. Held by value, it costs a read no allocation.
type retrier struct {
	s         *Store
	ctx       context.Context
	start     time.Time // when the read was called
	h         hooks
	failures  int // failed attempts, not throttled
	throttles int // throttled attempts
}

// newRetrier returns the retrier of a read with ctx and the read's own
// trace, counting the read in the store's budget.
func (s *Store) newRetrier(ctx context.Context, trace *ReadTrace) retrier {
	if s.budget != nil {
		s.budget.reads.Add(1)
	}
	return retrier{s: s, ctx: ctx, start: time.Now(), h: hooks{read: trace, store: s.trace}}
}

// begin returns the start of attempt k (from 0).
func (r *retrier) begin(k int) time.Time {
	if k == 0 {
		return r.start
	}
	return time.Now()
}

// served records a read that succeeded at end.
func (r *retrier) served(end time.Time) {
	if r.s.budget != nil {
		r.s.budget.served(end)
	}
}

// next takes attempt k (from 0), which failed at end with err of kind
// kind. When the read makes another attempt, next waits its backoff and
// returns a nil error; else it returns the read's error and when the
// read failed.
func (r *retrier) next(k int, kind ErrorKind, err error, end time.Time) (time.Time, error) {
	if !kind.retryable() {
		if k > 0 {
			err = &AttemptsError{Attempts: k + 1, Err: err}
		}
		return end, err
	}
	p, budget := r.s.p, r.s.budget
	throttled := kind == KindThrottled
	if throttled {
		r.throttles++
	} else {
		r.failures++
	}
	// Throttled attempts past Attempts only for a run whose store is
	// serving: a lone read, or a run's past its grace with nothing
	// served, has no sign that backing off will get it through.
	throttleLimit := p.Attempts
	if budget != nil && budget.serving(end) {
		throttleLimit = p.ThrottleAttempts
	}
	if r.failures >= p.Attempts || r.throttles >= throttleLimit || p.Attempts == 1 {
		return end, &AttemptsError{Attempts: k + 1, Err: err}
	}
	if budget != nil && !throttled && !budget.take() {
		return end, &AttemptsError{Attempts: k + 1, Err: err, Budget: true}
	}
	r.h.retry(k+1, err)
	if serr := sleep(r.ctx, p.backoff(k, throttled)); serr != nil {
		return end, withKind(fmt.Errorf("%w (waiting to retry after: %w)", serr, err), KindCanceled)
	}
	if budget != nil && throttled && !budget.takeThrottled(time.Now()) {
		return time.Now(), &AttemptsError{Attempts: k + 1, Err: err, Budget: true}
	}
	return end, nil
}

// attempt makes attempt k (from 0), started at t0, at reading sp of key
// into buf, under its deadlines, and returns the filled slice, when its
// first byte came, the object's whole size as the backend reported it
// (-1: none) and, if it failed, the error's kind and the error, with the
// kind recorded on it. An attempt that succeeded under a deadline adds
// what it took to the store's observed latency.
func (s *Store) attempt(ctx context.Context, key string, sp span, buf []byte, h hooks, t0 time.Time, k int) ([]byte, time.Time, int64, ErrorKind, error) {
	dl, actx := s.deadline(ctx, k)
	if dl != nil {
		defer dl.stop()
	}
	rc, size, err := s.open(actx, key, sp, dl)
	if err != nil {
		kind, err := s.cause(ctx, dl, err)
		return buf[:0], time.Time{}, 0, kind, err
	}
	if sp.exact && size >= 0 && sp.length(size) != sp.n {
		rc.Close()
		err := fmt.Errorf("%w: %s of an object of %d bytes runs past its end", ErrInvalidRange, rangeString(sp.off, sp.n), size)
		return buf[:0], time.Time{}, 0, KindPermanent, withKind(err, KindPermanent)
	}
	var first time.Time
	if sp.exact {
		buf, first, err = readInto(rc, buf[:0], h, dl)
	} else {
		n := sp.length(size)
		if n >= 0 && int64(cap(buf)) < n+1 && h.read != nil && h.read.Buffer != nil {
			buf = h.read.Buffer(int(n+1), buf)
		}
		buf, first, err = readAll(rc, n, buf[:0], h, dl)
	}
	cerr := rc.Close()
	if err == nil {
		err = cerr
	}
	if err != nil {
		kind, err := s.cause(ctx, dl, err)
		return buf[:0], first, 0, kind, err
	}
	if dl != nil && !first.IsZero() {
		s.obs.record(first.Sub(t0), dl.gap)
	}
	return buf, first, size, KindUnknown, nil
}

// deadline returns the deadline of attempt k (from 0) of a read with ctx,
// under the store's policy and what it observed, and the context the
// attempt reads with: none and ctx itself on an [Immediate] backend or
// under a policy that sets no deadline.
func (s *Store) deadline(ctx context.Context, k int) (*deadline, context.Context) {
	if s.immediate {
		return nil, ctx
	}
	first, idle := s.obs.deadlines(s.p, k)
	var recheck func() (time.Duration, time.Duration)
	if !s.obs.settled(s.p) {
		recheck = func() (time.Duration, time.Duration) { return s.obs.deadlines(s.p, k) }
	}
	dl := newDeadline(ctx, first, idle, recheck, s.p.DeadlineFloor)
	if dl == nil {
		return nil, ctx
	}
	return dl, dl.ctx
}

// open starts reading sp of key: the whole object through the backend's
// Open, a range through its OpenRange or, for a backend without one,
// through Open and discarding the bytes before the range, re-arming dl
// (if not nil) as they arrive.
func (s *Store) open(ctx context.Context, key string, sp span, dl *deadline) (io.ReadCloser, int64, error) {
	if !sp.ranged {
		return s.b.Open(ctx, key)
	}
	return openRange(ctx, s.b, key, sp.off, sp.n, dl)
}

// cause returns the kind of err, the error of an attempt, and err with the
// kind recorded on it: canceled, with ctx's cause, when ctx is done;
// transient, with the deadline's timeout, when the deadline ended the
// attempt; else as the backend classifies it.
func (s *Store) cause(ctx context.Context, dl *deadline, err error) (ErrorKind, error) {
	if cerr := context.Cause(ctx); cerr != nil {
		if !errors.Is(err, cerr) {
			err = fmt.Errorf("%w (%w)", cerr, err)
		}
		return KindCanceled, withKind(err, KindCanceled)
	}
	if dl != nil {
		if te := dl.expired(); te != nil {
			return KindTransient, withKind(fmt.Errorf("%w (%w)", te, err), KindTransient)
		}
	}
	kind := Classify(s.b, err)
	return kind, withKind(err, kind)
}

// classified returns err, an error of s's backend, with its kind recorded
// on it.
func (s *Store) classified(err error) error {
	return withKind(err, Classify(s.b, err))
}

// sleep waits for d, or returns ctx's cause as soon as ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// readAll reads r to its end, appending to buf, and returns the time the
// first non-empty Read returned, calling h's FirstByte hooks then, and
// re-arming dl (if not nil) after every Read that brings bytes. When size
// is known the buffer is grown once, with one spare byte so that the end of
// the object is seen without another allocation, and a body of any other
// length is a transient error.
func readAll(r io.Reader, size int64, buf []byte, h hooks, dl *deadline) ([]byte, time.Time, error) {
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
			if dl != nil {
				dl.received()
			}
			if first.IsZero() {
				first = time.Now()
				h.firstByte()
			}
			buf = buf[:len(buf)+n]
		}
		if size >= 0 && int64(len(buf)) > size {
			return buf, first, withKind(fmt.Errorf("body longer than the %d bytes announced", size), KindTransient)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return buf, first, err
		}
	}
	if size >= 0 && int64(len(buf)) != size {
		return buf, first, withKind(fmt.Errorf("short body: got %d bytes, want %d: %w", len(buf), size, io.ErrUnexpectedEOF), KindTransient)
	}
	return buf, first, nil
}

// readInto reads r to its end into buf's capacity, exactly, as readAll
// reads a body of a known size: never growing buf, and reading one more
// byte into a scratch byte of its own, not buf's spare capacity, to see
// the end, so that the memory around buf (another reader's) is never
// touched. A body of any length other than cap(buf) is a transient error.
func readInto(r io.Reader, buf []byte, h hooks, dl *deadline) ([]byte, time.Time, error) {
	var first time.Time
	size := cap(buf)
	var extra [1]byte
	for {
		p := buf[len(buf):cap(buf)]
		if len(p) == 0 {
			p = extra[:]
		}
		n, err := r.Read(p)
		if n > 0 {
			if dl != nil {
				dl.received()
			}
			if first.IsZero() {
				first = time.Now()
				h.firstByte()
			}
			if len(buf) == size {
				return buf, first, withKind(fmt.Errorf("body longer than the %d bytes announced", size), KindTransient)
			}
			buf = buf[:len(buf)+n]
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return buf, first, err
		}
	}
	if len(buf) != size {
		return buf, first, withKind(fmt.Errorf("short body: got %d bytes, want %d: %w", len(buf), size, io.ErrUnexpectedEOF), KindTransient)
	}
	return buf, first, nil
}

// Put stores data under key. It fails with [ErrInvalidKey] for an empty key
// and with [errors.ErrUnsupported] when the backend cannot write. Its
// errors are [*KeyError] values naming key, whose kind [KindOf] gives; Put
// is not retried.
func (s *Store) Put(ctx context.Context, key string, data []byte) error {
	if key == "" {
		return &KeyError{Op: "put", Key: key, Err: withKind(ErrInvalidKey, KindPermanent)}
	}
	w, ok := s.b.(Writer)
	if !ok {
		return &KeyError{Op: "put", Key: key, Err: withKind(errors.ErrUnsupported, KindPermanent)}
	}
	if err := w.Put(ctx, key, data); err != nil {
		return &KeyError{Op: "put", Key: key, Err: s.classified(err)}
	}
	return nil
}

// Delete removes the object named key. It fails with [ErrInvalidKey] for an
// empty key, with [ErrNotFound] when key names no object and with
// [errors.ErrUnsupported] when the backend cannot delete. Its errors are
// [*KeyError] values naming key, whose kind [KindOf] gives.
func (s *Store) Delete(ctx context.Context, key string) error {
	if key == "" {
		return &KeyError{Op: "delete", Key: key, Err: withKind(ErrInvalidKey, KindPermanent)}
	}
	d, ok := s.b.(Deleter)
	if !ok {
		return &KeyError{Op: "delete", Key: key, Err: withKind(errors.ErrUnsupported, KindPermanent)}
	}
	if err := d.Delete(ctx, key); err != nil {
		return &KeyError{Op: "delete", Key: key, Err: s.classified(err)}
	}
	return nil
}

// List returns the objects whose keys start with prefix, sorted by key. It
// fails with [errors.ErrUnsupported] when the backend cannot list. Its
// errors are [*KeyError] values naming the prefix, whose kind [KindOf]
// gives.
func (s *Store) List(ctx context.Context, prefix string) ([]Entry, error) {
	l, ok := s.b.(Lister)
	if !ok {
		return nil, &KeyError{Op: "list", Key: prefix, Err: withKind(errors.ErrUnsupported, KindPermanent)}
	}
	entries, err := l.List(ctx, prefix)
	if err != nil {
		return nil, &KeyError{Op: "list", Key: prefix, Err: s.classified(err)}
	}
	return entries, nil
}
