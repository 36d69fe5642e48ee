package dataset_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/storagebench/storagebench/dataset"
)

// kindedError is an error that the test backends classify as its kind.
type kindedError struct{ kind dataset.ErrorKind }

func (e kindedError) Error() string { return "injected " + e.kind.String() + " failure" }

var (
	throttledErr = kindedError{dataset.KindThrottled}
	transientErr = kindedError{dataset.KindTransient}
)

// flaky fails the first n opens with err, then serves "hello". It
// classifies a kindedError as its kind, as a backend classifies its own
// errors.
type flaky struct {
	n     int64
	err   error
	opens atomic.Int64
}

func (f *flaky) Open(ctx context.Context, key string) (io.ReadCloser, int64, error) {
	if f.opens.Add(1) <= f.n {
		return nil, 0, f.err
	}
	return io.NopCloser(strings.NewReader("hello")), 5, nil
}

func (f *flaky) ErrorKind(err error) dataset.ErrorKind {
	var ke kindedError
	if errors.As(err, &ke) {
		return ke.kind
	}
	return dataset.KindUnknown
}

// serving returns a budget of no retries whose store has just served a
// read.
func serving() *dataset.RetryBudget {
	b := dataset.NewRetryBudget(0, 0)
	st := dataset.NewStore(&flaky{}).WithRetryBudget(b)
	if _, _, err := st.Read(context.Background(), "k", nil); err != nil {
		panic(err)
	}
	return b
}

// TestThrottledAttempts checks that throttled attempts count towards
// ThrottleAttempts, other failures towards Attempts, and that throttled
// retries take from a run's retry budget only when its store has served
// nothing lately.
func TestThrottledAttempts(t *testing.T) {
	for _, tc := range []struct {
		name     string
		policy   dataset.Policy
		failures int64
		err      error
		budget   *dataset.RetryBudget
		wantOK   bool
		opens    int64
	}{
		{"throttled past attempts", dataset.Policy{Attempts: 3}, 10, throttledErr, serving(), true, 11},
		{"throttled past throttle attempts", dataset.Policy{Attempts: 3}, 12, throttledErr, serving(), false, 12},
		{"default throttle attempts", dataset.Policy{Attempts: 2}, 7, throttledErr, serving(), true, 8},
		{"explicit throttle attempts", dataset.Policy{Attempts: 3, ThrottleAttempts: 2}, 2, throttledErr, serving(), false, 2},
		{"a lone read's throttled attempts are attempts", dataset.Policy{Attempts: 3}, 3, throttledErr, nil, false, 3},
		{"faults within attempts", dataset.Policy{Attempts: 3}, 2, transientErr, nil, true, 3},
		{"faults past attempts", dataset.Policy{Attempts: 3}, 3, transientErr, nil, false, 3},
		{"no retries", dataset.Policy{Attempts: 1}, 1, throttledErr, nil, false, 1},
		{"throttling takes no budget from a serving store", dataset.Policy{Attempts: 3}, 5, throttledErr, serving(), true, 6},
		{"throttling takes no budget at a run's start", dataset.Policy{Attempts: 3}, 5, throttledErr, dataset.NewRetryBudget(0, 0), true, 6},
		{"faults take budget", dataset.Policy{Attempts: 3}, 1, transientErr, dataset.NewRetryBudget(0, 0), false, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.policy.Backoff, tc.policy.ThrottleBackoff, tc.policy.MaxBackoff = 1, 1, 1 // 1 ns waits
			b := &flaky{n: tc.failures, err: tc.err}
			st, err := dataset.NewStore(b).WithRetryBudget(tc.budget).WithPolicy(tc.policy)
			if err != nil {
				t.Fatal(err)
			}
			data, tm, err := st.Read(context.Background(), "k", nil)
			if ok := err == nil; ok != tc.wantOK {
				t.Fatalf("Read = %q, %v; want success %v", data, err, tc.wantOK)
			}
			if err != nil && !errors.Is(err, tc.err) {
				t.Errorf("Read error %v, want one wrapping %v", err, tc.err)
			}
			if got := b.opens.Load(); got != tc.opens || (err == nil && tm.Attempts != int(tc.opens)) {
				t.Errorf("%d opens, %d attempts timed; want %d", got, tm.Attempts, tc.opens)
			}
		})
	}
}

// TestDatasetRetryBudget checks that a budget given to a dataset is
// shared by its reads, and leaves the dataset it came from without one.
func TestDatasetRetryBudget(t *testing.T) {
	st, err := dataset.NewStore(&flaky{n: 2, err: transientErr}).WithPolicy(dataset.Policy{Backoff: 1, MaxBackoff: 1})
	if err != nil {
		t.Fatal(err)
	}
	ds := dataset.New(st, dataset.Index{"k"})
	b := dataset.NewRetryBudget(10, 0)
	budgeted := ds.WithRetryBudget(b)
	if _, _, err := budgeted.Read(context.Background(), 0, nil); err != nil {
		t.Fatal(err)
	}
	if got := b.Retries(); got != 2 {
		t.Errorf("budget has %d retries taken, want 2", got)
	}
	if ds.Store().RetryBudget() != nil || budgeted.Store().RetryBudget() != b || budgeted.Len() != ds.Len() {
		t.Errorf("budgets: original %p, budgeted %p (want nil and %p); lengths %d and %d", ds.Store().RetryBudget(), budgeted.Store().RetryBudget(), b, ds.Len(), budgeted.Len())
	}
}
