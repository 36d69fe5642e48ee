package dataset_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/storagebench/storagebench/dataset"
	"github.com/storagebench/storagebench/dataset/mem"
)

func TestErrorKindString(t *testing.T) {
	for _, tc := range []struct {
		kind dataset.ErrorKind
		want string
	}{
		{dataset.KindUnknown, "unknown"},
		{dataset.KindNotFound, "not found"},
		{dataset.KindThrottled, "throttled"},
		{dataset.KindTransient, "transient"},
		{dataset.KindPermanent, "permanent"},
		{dataset.KindCanceled, "canceled"},
		{dataset.ErrorKind(42), "ErrorKind(42)"},
		{dataset.ErrorKind(-1), "ErrorKind(-1)"},
	} {
		if got := tc.kind.String(); got != tc.want {
			t.Errorf("ErrorKind(%d).String() = %q, want %q", int(tc.kind), got, tc.want)
		}
	}
}

// TestKindOf checks the kinds of the errors package dataset knows, which
// need no backend to classify them.
func TestKindOf(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want dataset.ErrorKind
	}{
		{"nil", nil, dataset.KindUnknown},
		{"not found", fmt.Errorf("open %q: %w", "k", dataset.ErrNotFound), dataset.KindNotFound},
		{"fs not exist", fs.ErrNotExist, dataset.KindNotFound},
		{"invalid key", dataset.ErrInvalidKey, dataset.KindPermanent},
		{"invalid range", fmt.Errorf("bytes [5, end): %w", dataset.ErrInvalidRange), dataset.KindPermanent},
		{"unsupported", errors.ErrUnsupported, dataset.KindPermanent},
		{"permission", &fs.PathError{Op: "open", Path: "k", Err: fs.ErrPermission}, dataset.KindPermanent},
		{"timeout", fmt.Errorf("no first byte: %w", dataset.ErrTimeout), dataset.KindTransient},
		{"canceled", context.Canceled, dataset.KindCanceled},
		{"deadline", context.DeadlineExceeded, dataset.KindCanceled},
		{"a store's own error", errors.New("an error only its store knows"), dataset.KindUnknown},
		{"a store's own throttling, unclassified", throttledErr, dataset.KindUnknown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := dataset.KindOf(tc.err); got != tc.want {
				t.Errorf("KindOf(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

// TestClassify checks that a backend's classification comes before the
// kinds package dataset knows, and that those stand in for a backend that
// classifies nothing.
func TestClassify(t *testing.T) {
	classifier := &flaky{}
	plain := fakeBackend{}
	for _, tc := range []struct {
		name string
		b    dataset.Backend
		err  error
		want dataset.ErrorKind
	}{
		{"nil", classifier, nil, dataset.KindUnknown},
		{"classified throttled", classifier, throttledErr, dataset.KindThrottled},
		{"classified, wrapped", classifier, fmt.Errorf("get: %w", transientErr), dataset.KindTransient},
		{"unknown to the backend: dataset's kinds", classifier, dataset.ErrNotFound, dataset.KindNotFound},
		{"no classifier", plain, throttledErr, dataset.KindUnknown},
		{"no classifier, dataset's kinds", plain, fs.ErrPermission, dataset.KindPermanent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := dataset.Classify(tc.b, tc.err); got != tc.want {
				t.Errorf("Classify(%T, %v) = %v, want %v", tc.b, tc.err, got, tc.want)
			}
		})
	}
}

// blocking blocks every Open until its context ends, and returns the
// context's error.
type blocking struct{}

func (blocking) Open(ctx context.Context, key string) (io.ReadCloser, int64, error) {
	<-ctx.Done()
	return nil, 0, ctx.Err()
}

// alwaysCanceled says every error is a cancellation, ctx or not.
type alwaysCanceled struct{ flaky }

func (*alwaysCanceled) ErrorKind(error) dataset.ErrorKind { return dataset.KindCanceled }

// TestStoreReadKinds checks that a Store retries by kind alone, and that
// the error it returns carries the kind of its last attempt: the
// backend's for the backend's errors, the store's own for what it made.
func TestStoreReadKinds(t *testing.T) {
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	const attempts = 3
	for _, tc := range []struct {
		name  string
		b     dataset.Backend
		ctx   context.Context
		key   string
		opens int64 // -1: not counted
		want  dataset.ErrorKind
	}{
		{"not found", &flaky{n: 100, err: dataset.ErrNotFound}, nil, "k", 1, dataset.KindNotFound},
		{"permanent", &flaky{n: 100, err: kindedError{dataset.KindPermanent}}, nil, "k", 1, dataset.KindPermanent},
		{"transient", &flaky{n: 100, err: transientErr}, nil, "k", attempts, dataset.KindTransient},
		{"throttled", &flaky{n: 100, err: throttledErr}, nil, "k", attempts, dataset.KindThrottled},
		{"unknown is retried", &flaky{n: 100, err: errors.New("boom")}, nil, "k", attempts, dataset.KindUnknown},
		{"permission", &flaky{n: 100, err: fs.ErrPermission}, nil, "k", 1, dataset.KindPermanent},
		{"backend says canceled", &alwaysCanceled{flaky{n: 100, err: errors.New("boom")}}, nil, "k", 1, dataset.KindCanceled},
		{"caller's context ended", &flaky{}, canceled, "k", 0, dataset.KindCanceled},
		{"empty key", &flaky{}, nil, "", 0, dataset.KindPermanent},
		{"attempt's deadline", blocking{}, nil, "k", -1, dataset.KindTransient},
		{"short body", fakeBackend{strings.NewReader("abc"), 10}, nil, "k", -1, dataset.KindTransient},
		{"long body", fakeBackend{strings.NewReader("abcdef"), 3}, nil, "k", -1, dataset.KindTransient},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// A deadline only the blocking backend reaches: a short one
			// for every case let a slow attempt on a busy machine time out
			// and be retried (2 opens of a key not found, under -race).
			first := time.Minute
			if _, ok := tc.b.(blocking); ok {
				first = time.Millisecond
			}
			st, err := dataset.NewStore(tc.b).WithPolicy(dataset.Policy{
				Attempts: attempts, FirstByteTimeout: first,
				Backoff: 1, ThrottleBackoff: 1, MaxBackoff: 1,
			})
			if err != nil {
				t.Fatal(err)
			}
			ctx := tc.ctx
			if ctx == nil {
				ctx = context.Background()
			}
			_, _, err = st.Read(ctx, tc.key, nil)
			if err == nil {
				t.Fatal("Read succeeded, want an error")
			}
			if got := dataset.KindOf(err); got != tc.want {
				t.Errorf("KindOf(%v) = %v, want %v", err, got, tc.want)
			}
			if got, want := dataset.Retryable(err), tc.want != dataset.KindNotFound && tc.want != dataset.KindPermanent && tc.want != dataset.KindCanceled; got != want {
				t.Errorf("Retryable(%v) = %v, want %v", err, got, want)
			}
			if got, want := dataset.Throttled(err), tc.want == dataset.KindThrottled; got != want {
				t.Errorf("Throttled(%v) = %v, want %v", err, got, want)
			}
			var f *flaky
			switch b := tc.b.(type) {
			case *flaky:
				f = b
			case *alwaysCanceled:
				f = &b.flaky
			}
			if f != nil && tc.opens >= 0 {
				if got := f.opens.Load(); got != tc.opens {
					t.Errorf("%d opens, want %d", got, tc.opens)
				}
			}
		})
	}
}

// TestStoreWriteKinds checks that the errors of Put, Delete and List carry
// their kinds too.
func TestStoreWriteKinds(t *testing.T) {
	ctx := context.Background()
	readOnly := dataset.NewStore(fakeBackend{strings.NewReader(""), 0})
	store := dataset.NewStore(mem.New(nil))
	for _, tc := range []struct {
		name string
		err  error
		want dataset.ErrorKind
	}{
		{"put unsupported", readOnly.Put(ctx, "k", nil), dataset.KindPermanent},
		{"delete unsupported", readOnly.Delete(ctx, "k"), dataset.KindPermanent},
		{"list unsupported", func() error { _, err := readOnly.List(ctx, ""); return err }(), dataset.KindPermanent},
		{"put empty key", store.Put(ctx, "", nil), dataset.KindPermanent},
		{"delete missing", store.Delete(ctx, "missing"), dataset.KindNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := dataset.KindOf(tc.err); got != tc.want {
				t.Errorf("KindOf(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}
