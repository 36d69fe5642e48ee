package dataset

import "context"

// ListTrace holds hooks that a listing calls while it runs, so that a
// caller can show how far a long listing of a bucket or a folder has got.
// It travels in the context passed to [Store.List] or [Lister.List], as
// net/http/httptrace's ClientTrace travels with a request, so that it
// reaches the backend through any wrapper. A ListTrace never changes what a
// listing returns.
type ListTrace struct {
	// Found, when not nil, is called from time to time while a listing
	// runs, with the number of objects it has found so far. Calls come
	// from the listing's goroutine, one at a time, with counts that never
	// decrease. A backend that lists in one step may not call it at all,
	// and the last call may come before the end of the listing: the
	// listing's result gives the final count.
	Found func(n int)
}

// listTraceKey is the context key of a *ListTrace.
type listTraceKey struct{}

// WithListTrace returns a copy of ctx that carries trace to the listings
// made with it.
func WithListTrace(ctx context.Context, trace *ListTrace) context.Context {
	return context.WithValue(ctx, listTraceKey{}, trace)
}

// ReportFound calls the Found hook of the [ListTrace] that ctx carries, if
// any, with n, the number of objects found so far. Backends that list in
// steps call it after each step, from the listing's goroutine.
func ReportFound(ctx context.Context, n int) {
	if t, _ := ctx.Value(listTraceKey{}).(*ListTrace); t != nil && t.Found != nil {
		t.Found(n)
	}
}

// ReadTrace holds hooks that a [Store] calls while it reads an object. A
// store has the hooks given to [Store.WithReadTrace], and one read may add
// a trace of its own ([Store.ReadTraced], [Dataset.ReadTraced]): a loader
// that hedges a slow read learns from it whether the read has produced its
// first byte. Traces add up, as net/http/httptrace's do: a trace added to
// a store or a read never replaces the hooks already there, every one is
// called (the newest first). A ReadTrace never changes what a read
// returns. Its hooks are called from the reading goroutine, so a trace
// shared by concurrent reads must be safe for concurrent use.
type ReadTrace struct {
	// FirstByte, when not nil, is called once per read when the body's
	// first byte has arrived (for an empty body, when its end has). A
	// read that is retried may call it once per attempt.
	FirstByte func()
	// Retry, when not nil, is called before the read waits to make
	// attempt k+1 (k from 1) after err, the error of attempt k. The
	// store has recorded err's kind on it: a loader learns from
	// [Throttled](err) (or [KindOf]) that the store is throttling before
	// the read ends.
	Retry func(k int, err error)
	// Buffer, when not nil, is called when an attempt is about to read a
	// whole body of a known size, n bytes with the one it reads past the
	// end, into buf, whose capacity is less than n: it takes buf back and
	// returns an empty buffer of at least n bytes' capacity to read into
	// in its place. A read's own Buffer serves; the store's is never
	// called.
	Buffer func(n int, buf []byte) []byte
}

// compose returns a trace calling t's hooks, then old's; either may be
// nil.
func (t *ReadTrace) compose(old *ReadTrace) *ReadTrace {
	switch {
	case t == nil:
		return old
	case old == nil:
		return t
	}
	c := *t
	if old.FirstByte != nil {
		if c.FirstByte == nil {
			c.FirstByte = old.FirstByte
		} else {
			first, then := c.FirstByte, old.FirstByte
			c.FirstByte = func() { first(); then() }
		}
	}
	if old.Retry != nil {
		if c.Retry == nil {
			c.Retry = old.Retry
		} else {
			first, then := c.Retry, old.Retry
			c.Retry = func(k int, err error) { first(k, err); then(k, err) }
		}
	}
	return &c
}

// hooks are the traces of one read: the read's own, then the store's.
// Held by value, they cost a read no allocation.
type hooks struct{ read, store *ReadTrace }

// firstByte calls the FirstByte hooks.
func (h hooks) firstByte() {
	if h.read != nil && h.read.FirstByte != nil {
		h.read.FirstByte()
	}
	if h.store != nil && h.store.FirstByte != nil {
		h.store.FirstByte()
	}
}

// retry calls the Retry hooks.
func (h hooks) retry(k int, err error) {
	if h.read != nil && h.read.Retry != nil {
		h.read.Retry(k, err)
	}
	if h.store != nil && h.store.Retry != nil {
		h.store.Retry(k, err)
	}
}
