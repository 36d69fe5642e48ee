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
}

// Transfer is the time from the first byte to the last, in the attempt
// that read the object.
func (t Timing) Transfer() time.Duration { return t.Total - t.Retrying - t.TTFB }

// minGrow is how much a buffer grows at a time when an object's size is not
// known in advance.
const minGrow = 32 << 10

// Store is the portable type in front of a [Backend]: it reads objects
// whole, under a [Policy] of deadlines and retries, and records on every
// error it returns the error's [ErrorKind], as the backend classifies it.
// It is safe for concurrent use.
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
}

// NewStore returns a Store reading through b under the default [Policy],
// with no [RetryBudget] and no [ReadTrace].
func NewStore(b Backend) *Store {
	p, _ := Policy{}.Resolved()
	im, ok := b.(Immediate)
	return &Store{b: b, p: p, immediate: ok && im.Immediate()}
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
	return s.read(ctx, key, buf, nil)
}

// ReadTraced reads as [Store.Read] does, calling the hooks of trace for
// this read in addition to the store's own: trace's first. A nil trace
// adds nothing. It allocates nothing more than Read does.
func (s *Store) ReadTraced(ctx context.Context, key string, buf []byte, trace *ReadTrace) ([]byte, Timing, error) {
	return s.read(ctx, key, buf, trace)
}

// read is Read with the read's own trace, if any.
func (s *Store) read(ctx context.Context, key string, buf []byte, trace *ReadTrace) ([]byte, Timing, error) {
	if key == "" {
		return buf[:0], Timing{}, &KeyError{Op: "read", Key: key, Err: withKind(ErrInvalidKey, KindPermanent)}
	}
	if err := ctx.Err(); err != nil {
		return buf[:0], Timing{}, &KeyError{Op: "read", Key: key, Err: withKind(err, KindCanceled)}
	}
	budget := s.budget
	if budget != nil {
		budget.reads.Add(1)
	}
	start := time.Now()
	h := hooks{read: trace, store: s.trace}
	failures, throttles := 0, 0 // failed attempts, not throttled and throttled
	for k := 0; ; k++ {
		t0 := start
		if k > 0 {
			t0 = time.Now()
		}
		var (
			data  []byte
			first time.Time
			err   error
			kind  ErrorKind
		)
		data, first, kind, err = s.attempt(ctx, key, buf, h)
		end := time.Now()
		if err == nil {
			if first.IsZero() {
				first = end
				h.firstByte() // an empty body: its end is its first byte
			}
			if budget != nil {
				budget.served(end)
			}
			return data, Timing{TTFB: first.Sub(t0), Total: end.Sub(start), Attempts: k + 1, Retrying: t0.Sub(start)}, nil
		}
		buf = data
		failed := Timing{Total: end.Sub(start), Attempts: k + 1, Retrying: t0.Sub(start)}
		if !kind.retryable() {
			if k > 0 {
				err = &AttemptsError{Attempts: k + 1, Err: err}
			}
			return buf[:0], failed, &KeyError{Op: "read", Key: key, Err: err}
		}
		throttled := kind == KindThrottled
		if throttled {
			throttles++
		} else {
			failures++
		}
		// Throttled attempts past Attempts only for a run whose store is
		// serving: a lone read, or a run's past its grace with nothing
		// served, has no sign that backing off will get it through.
		throttleLimit := s.p.Attempts
		if budget != nil && budget.serving(end) {
			throttleLimit = s.p.ThrottleAttempts
		}
		if failures >= s.p.Attempts || throttles >= throttleLimit || s.p.Attempts == 1 {
			return buf[:0], failed, &KeyError{Op: "read", Key: key, Err: &AttemptsError{Attempts: k + 1, Err: err}}
		}
		if budget != nil && !throttled && !budget.take() {
			return buf[:0], failed, &KeyError{Op: "read", Key: key, Err: &AttemptsError{Attempts: k + 1, Err: err, Budget: true}}
		}
		h.retry(k+1, err)
		if serr := sleep(ctx, s.p.backoff(k, throttled)); serr != nil {
			err = withKind(fmt.Errorf("%w (waiting to retry after: %w)", serr, err), KindCanceled)
			return buf[:0], failed, &KeyError{Op: "read", Key: key, Err: err}
		}
		if budget != nil && throttled && !budget.takeThrottled(time.Now()) {
			failed.Total = time.Since(start)
			return buf[:0], failed, &KeyError{Op: "read", Key: key, Err: &AttemptsError{Attempts: k + 1, Err: err, Budget: true}}
		}
	}
}

// attempt makes one attempt at reading key into buf, under the policy's
// deadlines, and returns the filled slice, when its first byte came, and,
// if it failed, the error's kind and the error, with the kind recorded on
// it.
func (s *Store) attempt(ctx context.Context, key string, buf []byte, h hooks) ([]byte, time.Time, ErrorKind, error) {
	var dl *deadline
	actx := ctx
	if !s.immediate {
		if dl = newDeadline(ctx, s.p); dl != nil {
			actx = dl.ctx
			defer dl.stop()
		}
	}
	rc, size, err := s.b.Open(actx, key)
	if err != nil {
		kind, err := s.cause(ctx, dl, err)
		return buf[:0], time.Time{}, kind, err
	}
	buf, first, err := readAll(rc, size, buf[:0], h, dl)
	cerr := rc.Close()
	if err == nil {
		err = cerr
	}
	if err != nil {
		kind, err := s.cause(ctx, dl, err)
		return buf[:0], first, kind, err
	}
	return buf, first, KindUnknown, nil
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
				dl.progress()
			}
			if first.IsZero() {
				first = time.Now()
				h.firstByte()
			}
			buf = buf[:len(buf)+n]
		}
		if size >= 0 && int64(len(buf)) > size {
			return buf, first, withKind(fmt.Errorf("body longer than its reported size of %d bytes", size), KindTransient)
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
