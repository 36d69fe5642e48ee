package dataset

import (
	"context"
	"errors"
	"io/fs"
	"strconv"
)

// ErrorKind is the portable class of a failure: what a caller may do about
// it, whatever the store. Backends classify their own errors (see
// [Classifier]), as gocloud.dev/blob's drivers classify theirs; a [Store]
// reads only kinds to decide what to retry, and records each error's kind
// on the errors it returns, so that [KindOf] gives it back to callers.
type ErrorKind int

// The kinds of failure.
const (
	// KindUnknown is a failure no one classified. A Store retries it as
	// it retries a transient one: a store's error that its backend does
	// not know is more often a fault of the path to it than a refusal,
	// and a read's attempts bound what retrying it costs.
	KindUnknown ErrorKind = iota
	// KindNotFound is a key that names no object. Not retried.
	KindNotFound
	// KindThrottled is a store refusing a request over its request rate.
	// Retried after a longer backoff, under the policy's throttled
	// attempts (see [Policy.ThrottleAttempts]).
	KindThrottled
	// KindTransient is a failure that making the request again may
	// overcome: a server error, a dropped connection, a body shorter or
	// longer than announced, an attempt's deadline. Retried.
	KindTransient
	// KindPermanent is a failure that will recur: a refused or malformed
	// key, a range past an object's end, a backend that cannot do the operation, a request the store
	// refuses for what it is. Not retried.
	KindPermanent
	// KindCanceled is the caller's context ending (canceled or past its
	// deadline). Not retried.
	KindCanceled
)

var kindNames = [...]string{
	KindUnknown:   "unknown",
	KindNotFound:  "not found",
	KindThrottled: "throttled",
	KindTransient: "transient",
	KindPermanent: "permanent",
	KindCanceled:  "canceled",
}

// String returns the kind's name, such as "throttled".
func (k ErrorKind) String() string {
	if k >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "ErrorKind(" + strconv.Itoa(int(k)) + ")"
}

// retryable reports whether a failure of kind k may be overcome by making
// the request again.
func (k ErrorKind) retryable() bool {
	return k == KindUnknown || k == KindTransient || k == KindThrottled
}

// Classifier is implemented by backends that classify their own errors,
// as gocloud.dev/blob's drivers classify theirs: only the backend knows
// what its store's codes and statuses mean. ErrorKind is given any error
// the backend returned, from Open, from a Read or Close of what Open
// returned, or from its other methods, and returns KindUnknown for one it
// cannot tell. A backend that wraps another classifies the errors it makes
// itself and passes the others to [Classify] with the wrapped backend.
type Classifier interface {
	// ErrorKind returns the kind of err, an error the backend returned.
	ErrorKind(err error) ErrorKind
}

// Classify returns the kind of err, an error that b returned: the kind
// recorded on err if it has one (see [KindOf]), else b's own
// classification if b is a [Classifier] that knows err, else the kind
// [KindOf] finds from the errors package dataset knows. Wrapping backends
// use it to classify what their wrapped backend returned.
func Classify(b Backend, err error) ErrorKind {
	if err == nil {
		return KindUnknown
	}
	var ke *kindError
	if errors.As(err, &ke) {
		return ke.kind
	}
	if c, ok := b.(Classifier); ok {
		if k := c.ErrorKind(err); k != KindUnknown {
			return k
		}
	}
	return KindOf(err)
}

// KindOf returns the kind of err: the kind recorded on it by the [Store]
// that returned it (every error of Read, Put, Delete and List carries one),
// else the kind of the errors package dataset knows, which are the same
// for every store: [ErrNotFound] and [fs.ErrNotExist] are not found;
// [ErrInvalidKey], [ErrInvalidRange], [errors.ErrUnsupported] and
// [fs.ErrPermission] are permanent; [ErrTimeout] is transient; [context.Canceled] and
// [context.DeadlineExceeded] are canceled. Any other error, and nil, is
// KindUnknown: a store's own codes are its backend's to classify.
func KindOf(err error) ErrorKind {
	if err == nil {
		return KindUnknown
	}
	var ke *kindError
	if errors.As(err, &ke) {
		return ke.kind
	}
	switch {
	case errors.Is(err, ErrNotFound) || errors.Is(err, fs.ErrNotExist):
		return KindNotFound
	case errors.Is(err, ErrInvalidKey) || errors.Is(err, ErrInvalidRange) || errors.Is(err, errors.ErrUnsupported) || errors.Is(err, fs.ErrPermission):
		return KindPermanent
	case errors.Is(err, ErrTimeout):
		return KindTransient
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return KindCanceled
	}
	return KindUnknown
}

// Retryable reports whether a read that failed with err may succeed if
// made again: whether err's kind ([KindOf]) is transient, throttled or
// unknown. It is false for nil.
func Retryable(err error) bool {
	return err != nil && KindOf(err).retryable()
}

// Throttled reports whether err's kind ([KindOf]) is [KindThrottled]: the
// store refused a request over its request rate.
func Throttled(err error) bool {
	return KindOf(err) == KindThrottled
}

// kindError records the kind of the error it wraps; its message is the
// wrapped error's.
type kindError struct {
	kind ErrorKind
	err  error
}

func (e *kindError) Error() string { return e.err.Error() }
func (e *kindError) Unwrap() error { return e.err }

// withKind returns err with kind recorded on it; nil stays nil.
func withKind(err error, kind ErrorKind) error {
	if ke, ok := err.(*kindError); err == nil || ok && ke.kind == kind {
		return err
	}
	return &kindError{kind: kind, err: err}
}
