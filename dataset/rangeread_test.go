package dataset_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/storagebench/storagebench/dataset"
	"github.com/storagebench/storagebench/dataset/mem"
)

// testData is the object the range tests read: 10,000 bytes, each byte
// its offset's last digit.
var testData = bytes.Repeat([]byte("0123456789"), 1000)

// ranged serves the ranges of testData under key "k" through a mem
// backend, failing its first n opens with err (classified as flaky
// classifies), and stalling the body of its first stalls opens until the
// attempt's context ends: at its first byte, or after firstBytes bytes
// when that is set.
type ranged struct {
	flaky
	stalls     int64
	firstBytes int
}

func (r *ranged) Open(ctx context.Context, key string) (io.ReadCloser, int64, error) {
	return r.OpenRange(ctx, key, 0, -1)
}

func (r *ranged) OpenRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, int64, error) {
	k := r.opens.Add(1)
	if k <= r.n {
		return nil, 0, r.err
	}
	rc, size, err := mem.New(map[string][]byte{"k": testData}).OpenRange(ctx, key, off, n)
	if err != nil || k > r.n+r.stalls {
		return rc, size, err
	}
	return &stalling{ctx: ctx, rc: rc, left: r.firstBytes}, size, nil
}

// stalling returns left bytes of rc, then blocks until ctx ends.
type stalling struct {
	ctx  context.Context
	rc   io.ReadCloser
	left int
}

func (s *stalling) Read(p []byte) (int, error) {
	if s.left == 0 {
		<-s.ctx.Done()
		return 0, s.ctx.Err()
	}
	n, err := s.rc.Read(p[:min(len(p), s.left)])
	s.left -= n
	return n, err
}

func (s *stalling) Close() error { return s.rc.Close() }

// body serves one body with a declared size for every range.
type body struct {
	data []byte
	size int64
}

func (b body) Open(ctx context.Context, key string) (io.ReadCloser, int64, error) {
	return io.NopCloser(bytes.NewReader(b.data)), b.size, nil
}

func (b body) OpenRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, int64, error) {
	return b.Open(ctx, key)
}

// openOnly hides every method of a backend but Open.
type openOnly struct{ b dataset.Backend }

func (o openOnly) Open(ctx context.Context, key string) (io.ReadCloser, int64, error) {
	return o.b.Open(ctx, key)
}

// fastPolicy retries at once, three attempts, with deadlines of 20 ms.
var fastPolicy = dataset.Policy{
	Attempts: 3, FirstByteTimeout: 20 * time.Millisecond, IdleTimeout: 20 * time.Millisecond,
	Backoff: 1, ThrottleBackoff: 1, MaxBackoff: 1,
}

// TestReadRangeBodies checks that a range's body is held to the range's
// length: n, or what the object has left after off, and n when the size
// is not known.
func TestReadRangeBodies(t *testing.T) {
	for _, tc := range []struct {
		name    string
		b       body
		off, n  int64
		want    int   // bytes read
		wantErr error // nil, or wrapped by the error
	}{
		{"exact", body{testData[:100], 10_000}, 500, 100, 100, nil},
		{"cut at the end", body{testData[:100], 10_000}, 9900, 500, 100, nil},
		{"to the end", body{testData[:100], 10_000}, 9900, -1, 100, nil},
		{"size unknown", body{testData[:100], -1}, 500, 100, 100, nil},
		{"size unknown, to the end", body{testData[:300], -1}, 500, -1, 300, nil},
		{"short", body{testData[:99], 10_000}, 500, 100, 0, io.ErrUnexpectedEOF},
		{"short to the end", body{testData[:99], 10_000}, 9900, -1, 0, io.ErrUnexpectedEOF},
		{"size unknown, short", body{testData[:99], -1}, 500, 100, 0, io.ErrUnexpectedEOF},
		{"long", body{testData[:101], 10_000}, 500, 100, 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := dataset.NewStore(tc.b).WithPolicy(fastPolicy)
			if err != nil {
				t.Fatal(err)
			}
			got, tm, err := st.ReadRange(t.Context(), "k", tc.off, tc.n, nil)
			if tc.want == 0 { // a failure
				if err == nil || tc.wantErr != nil && !errors.Is(err, tc.wantErr) || dataset.KindOf(err) != dataset.KindTransient || tm.Attempts != 3 {
					t.Errorf("ReadRange = %d bytes, %v (kind %v), %d attempts; want a transient error (wrapping %v) after 3 attempts", len(got), err, dataset.KindOf(err), tm.Attempts, tc.wantErr)
				}
				return
			}
			if err != nil || !bytes.Equal(got, tc.b.data[:tc.want]) {
				t.Errorf("ReadRange = %d bytes, %v; want %d bytes", len(got), err, tc.want)
			}
		})
	}
}

// TestReadRangeRetries checks that ranged reads are retried as whole
// reads are, by kind, within the policy's attempts and the run's budget,
// calling the Retry hooks, and that their errors name the key and range.
func TestReadRangeRetries(t *testing.T) {
	for _, tc := range []struct {
		name       string
		b          *ranged
		budget     *dataset.RetryBudget
		opens      int64
		retries    int // Retry hook calls
		wantKind   dataset.ErrorKind
		wantErr    error // wrapped by the error, or nil for success
		wantBudget bool  // the error says the budget ran out
	}{
		{"transient, then served", &ranged{flaky: flaky{n: 2, err: transientErr}}, nil, 3, 2, 0, nil, false},
		{"throttled, then served", &ranged{flaky: flaky{n: 1, err: throttledErr}}, nil, 2, 1, 0, nil, false},
		{"transient past attempts", &ranged{flaky: flaky{n: 5, err: transientErr}}, nil, 3, 2, dataset.KindTransient, transientErr, false},
		{"not found", &ranged{flaky: flaky{n: 5, err: dataset.ErrNotFound}}, nil, 1, 0, dataset.KindNotFound, dataset.ErrNotFound, false},
		{"invalid range", &ranged{flaky: flaky{n: 5, err: dataset.ErrInvalidRange}}, nil, 1, 0, dataset.KindPermanent, dataset.ErrInvalidRange, false},
		{"budget spent", &ranged{flaky: flaky{n: 5, err: transientErr}}, dataset.NewRetryBudget(1, 0), 2, 1, dataset.KindTransient, transientErr, true},
		{"first byte late, then served", &ranged{stalls: 2}, nil, 3, 2, 0, nil, false},
		{"first byte late past attempts", &ranged{stalls: 5}, nil, 3, 2, dataset.KindTransient, dataset.ErrTimeout, false},
		{"body stalls past attempts", &ranged{stalls: 5, firstBytes: 10}, nil, 3, 2, dataset.KindTransient, dataset.ErrTimeout, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			retries := 0
			st, err := dataset.NewStore(tc.b).WithRetryBudget(tc.budget).WithPolicy(fastPolicy)
			if err != nil {
				t.Fatal(err)
			}
			trace := &dataset.ReadTrace{Retry: func(int, error) { retries++ }}
			got, tm, err := st.ReadRangeTraced(t.Context(), "k", 100, 50, nil, trace)
			if opens := tc.b.opens.Load(); opens != tc.opens || retries != tc.retries || tm.Attempts != int(opens) {
				t.Errorf("%d opens, %d attempts timed, %d Retry calls; want %d, %d, %d", opens, tm.Attempts, retries, tc.opens, tc.opens, tc.retries)
			}
			if tc.wantErr == nil {
				if err != nil || !bytes.Equal(got, testData[100:150]) {
					t.Errorf("ReadRange = %q, %v; want %q", got, err, testData[100:150])
				}
				return
			}
			if !errors.Is(err, tc.wantErr) || dataset.KindOf(err) != tc.wantKind {
				t.Errorf("ReadRange error %v of kind %v, want one wrapping %v of kind %v", err, dataset.KindOf(err), tc.wantErr, tc.wantKind)
			}
			var ke *dataset.KeyError
			if !errors.As(err, &ke) || ke.Op != "read range" || ke.Key != "k" || !strings.Contains(err.Error(), "bytes [100, 150)") {
				t.Errorf("ReadRange error %q, want a *KeyError of op read range naming k and bytes [100, 150)", err)
			}
			var ae *dataset.AttemptsError
			if errors.As(err, &ae) != (tc.opens > 1) || ae != nil && ae.Budget != tc.wantBudget {
				t.Errorf("ReadRange error %v, want an *AttemptsError (budget spent: %v) when retried", err, tc.wantBudget)
			}
		})
	}
}

// TestReadRangeRefused checks the reads that make no attempt: an empty
// key, a negative offset, a context already done.
func TestReadRangeRefused(t *testing.T) {
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name    string
		ctx     context.Context
		key     string
		off     int64
		wantErr error
		kind    dataset.ErrorKind
	}{
		{"empty key", context.Background(), "", 0, dataset.ErrInvalidKey, dataset.KindPermanent},
		{"negative offset", context.Background(), "k", -1, dataset.ErrInvalidRange, dataset.KindPermanent},
		{"context done", canceled, "k", 0, context.Canceled, dataset.KindCanceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := &ranged{}
			st := dataset.NewStore(b)
			_, tm, err := st.ReadRange(tc.ctx, tc.key, tc.off, 10, nil)
			if !errors.Is(err, tc.wantErr) || dataset.KindOf(err) != tc.kind {
				t.Errorf("ReadRange error %v of kind %v, want %v of kind %v", err, dataset.KindOf(err), tc.wantErr, tc.kind)
			}
			s, err := st.OpenStream(tc.ctx, tc.key, tc.off)
			if s != nil || !errors.Is(err, tc.wantErr) || dataset.KindOf(err) != tc.kind {
				t.Errorf("OpenStream = %v, %v of kind %v; want %v of kind %v", s, err, dataset.KindOf(err), tc.wantErr, tc.kind)
			}
			if b.opens.Load() != 0 || tm.Attempts != 0 {
				t.Errorf("%d opens, %d attempts timed; want none", b.opens.Load(), tm.Attempts)
			}
		})
	}
}

// TestReadRangeFallback checks ranged reads of a backend without
// RangeOpener: read through Open, its first bytes discarded, with the same
// results and refusals as a backend with it.
func TestReadRangeFallback(t *testing.T) {
	objs := map[string][]byte{"k": testData, "empty": {}}
	for _, tc := range []struct {
		name    string
		key     string
		off, n  int64
		wantErr error
	}{
		{"start", "k", 0, 10, nil},
		{"middle", "k", 4321, 1000, nil},
		{"to the end", "k", 9000, -1, nil},
		{"cut at the end", "k", 9990, 100, nil},
		{"empty range at the end", "k", 10_000, 0, nil},
		{"empty object", "empty", 0, -1, nil},
		{"at the end", "k", 10_000, 1, dataset.ErrInvalidRange},
		{"past the end", "k", 10_001, -1, dataset.ErrInvalidRange},
		{"missing", "missing", 0, 1, dataset.ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			direct := dataset.NewStore(mem.New(objs))
			fallback := dataset.NewStore(openOnly{mem.New(objs)})
			want, _, wantErr := direct.ReadRange(t.Context(), tc.key, tc.off, tc.n, nil)
			got, _, err := fallback.ReadRange(t.Context(), tc.key, tc.off, tc.n, nil)
			if !errors.Is(err, tc.wantErr) || !errors.Is(wantErr, tc.wantErr) || dataset.KindOf(err) != dataset.KindOf(wantErr) {
				t.Fatalf("ReadRange through Open: %v (kind %v); with OpenRange: %v (kind %v); want %v", err, dataset.KindOf(err), wantErr, dataset.KindOf(wantErr), tc.wantErr)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("ReadRange through Open = %d bytes, want the %d read with OpenRange", len(got), len(want))
			}
		})
	}
}

// TestReadRangeDoesNotAllocate checks that a ranged read into a large
// enough buffer costs no allocation, as a whole read does.
func TestReadRangeDoesNotAllocate(t *testing.T) {
	store := dataset.NewStore(mem.New(map[string][]byte{"k": testData}))
	buf := make([]byte, 0, 10_000)
	ctx := context.Background()
	allocs := testing.AllocsPerRun(100, func() {
		var err error
		if buf, _, err = store.ReadRange(ctx, "k", 1000, 5000, buf); err != nil || len(buf) != 5000 {
			t.Fatalf("ReadRange = %d bytes, %v", len(buf), err)
		}
	})
	if allocs > 0 {
		t.Errorf("ReadRange into a large enough buffer allocates %v times, want 0", allocs)
	}
}

// TestCheckRange checks the rule every backend follows.
func TestCheckRange(t *testing.T) {
	for _, tc := range []struct {
		off, n, size int64
		ok           bool
	}{
		{0, -1, 10, true}, {0, 100, 10, true}, {9, -1, 10, true}, {9, 0, 10, true},
		{10, 0, 10, true}, {10, -1, 10, false}, {10, 1, 10, false}, {11, 0, 10, false},
		{0, -1, 0, true}, {0, 5, 0, true}, {0, 0, 0, true}, {1, -1, 0, false},
		{-1, 5, 10, false}, {-1, 5, -1, false}, {1 << 40, 5, -1, true},
	} {
		err := dataset.CheckRange(tc.off, tc.n, tc.size)
		if (err == nil) != tc.ok || err != nil && (!errors.Is(err, dataset.ErrInvalidRange) || dataset.KindOf(err) != dataset.KindPermanent) {
			t.Errorf("CheckRange(%d, %d, %d) = %v, want ok %v (else ErrInvalidRange, permanent)", tc.off, tc.n, tc.size, err, tc.ok)
		}
	}
}
