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

// ReadTrace holds hooks that [Store.Read] calls while it reads an object,
// carried in the context passed to it like a [ListTrace]. A loader that
// hedges a slow read learns from it whether the read has produced its
// first byte. A ReadTrace never changes what a read returns.
type ReadTrace struct {
	// FirstByte, when not nil, is called once per read, from the reading
	// goroutine, when the body's first byte has arrived (for an empty
	// body, when its end has). A read that is retried may call it once
	// per attempt.
	FirstByte func()
	// Retry, when not nil, is called from the reading goroutine before
	// the read waits to make attempt k+1 (k from 1) after err, the
	// error of attempt k. A loader learns from it that the store is
	// throttling (see [Throttled]) before the read ends.
	Retry func(k int, err error)
}

// readTraceKey is the context key of a *ReadTrace.
type readTraceKey struct{}

// WithReadTrace returns a copy of ctx that carries trace to the reads made
// with it.
func WithReadTrace(ctx context.Context, trace *ReadTrace) context.Context {
	return context.WithValue(ctx, readTraceKey{}, trace)
}

// readTrace returns the ReadTrace ctx carries, or nil.
func readTrace(ctx context.Context) *ReadTrace {
	t, _ := ctx.Value(readTraceKey{}).(*ReadTrace)
	return t
}
