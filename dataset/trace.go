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
