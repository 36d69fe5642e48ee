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

// codedError is an error with an S3 error code and an HTTP status, as the
// SDK's are.
type codedError struct {
	code   string
	status int
}

func (e codedError) Error() string       { return e.code }
func (e codedError) ErrorCode() string   { return e.code }
func (e codedError) HTTPStatusCode() int { return e.status }

var (
	slowDown = codedError{"SlowDown", 503}
	internal = codedError{"InternalError", 500}
)

// flaky fails the first n opens with err, then serves "hello".
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

// serving returns a budget of no retries whose store has just served a
// read.
func serving() *dataset.RetryBudget {
	b := dataset.NewRetryBudget(0, 0)
	st := dataset.NewStore(&flaky{})
	if _, _, err := st.Read(dataset.WithRetryBudget(context.Background(), b), "k", nil); err != nil {
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
		{"throttled past attempts", dataset.Policy{Attempts: 3}, 10, slowDown, serving(), true, 11},
		{"throttled past throttle attempts", dataset.Policy{Attempts: 3}, 12, slowDown, serving(), false, 12},
		{"default throttle attempts", dataset.Policy{Attempts: 2}, 7, slowDown, serving(), true, 8},
		{"explicit throttle attempts", dataset.Policy{Attempts: 3, ThrottleAttempts: 2}, 2, slowDown, serving(), false, 2},
		{"a lone read's throttled attempts are attempts", dataset.Policy{Attempts: 3}, 3, slowDown, nil, false, 3},
		{"faults within attempts", dataset.Policy{Attempts: 3}, 2, internal, nil, true, 3},
		{"faults past attempts", dataset.Policy{Attempts: 3}, 3, internal, nil, false, 3},
		{"no retries", dataset.Policy{Attempts: 1}, 1, slowDown, nil, false, 1},
		{"throttling takes no budget from a serving store", dataset.Policy{Attempts: 3}, 5, slowDown, serving(), true, 6},
		{"throttling takes no budget at a run's start", dataset.Policy{Attempts: 3}, 5, slowDown, dataset.NewRetryBudget(0, 0), true, 6},
		{"faults take budget", dataset.Policy{Attempts: 3}, 1, internal, dataset.NewRetryBudget(0, 0), false, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.policy.Backoff, tc.policy.ThrottleBackoff, tc.policy.MaxBackoff = 1, 1, 1 // 1 ns waits
			b := &flaky{n: tc.failures, err: tc.err}
			st, err := dataset.NewStore(b).WithPolicy(tc.policy)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			if tc.budget != nil {
				ctx = dataset.WithRetryBudget(ctx, tc.budget)
			}
			data, tm, err := st.Read(ctx, "k", nil)
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
