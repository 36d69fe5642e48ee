package dataset_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/storagebench/storagebench/dataset"
	"github.com/storagebench/storagebench/dataset/mem"
)

// TestOpenStreamRetries checks that opening a stream is retried as a read
// is, by kind, within the policy's attempts and the run's budget, up to
// the body's first byte, and that the stream then reads the rest.
func TestOpenStreamRetries(t *testing.T) {
	for _, tc := range []struct {
		name     string
		b        *ranged
		budget   *dataset.RetryBudget
		opens    int64
		retries  int // Retry hook calls
		wantKind dataset.ErrorKind
		wantErr  error // wrapped by the error, or nil for success
	}{
		{"at once", &ranged{}, nil, 1, 0, 0, nil},
		{"transient, then opened", &ranged{flaky: flaky{n: 2, err: transientErr}}, nil, 3, 2, 0, nil},
		{"throttled, then opened", &ranged{flaky: flaky{n: 1, err: throttledErr}}, nil, 2, 1, 0, nil},
		{"first byte late, then opened", &ranged{stalls: 2}, nil, 3, 2, 0, nil},
		{"transient past attempts", &ranged{flaky: flaky{n: 5, err: transientErr}}, nil, 3, 2, dataset.KindTransient, transientErr},
		{"first byte late past attempts", &ranged{stalls: 5}, nil, 3, 2, dataset.KindTransient, dataset.ErrTimeout},
		{"not found", &ranged{flaky: flaky{n: 5, err: dataset.ErrNotFound}}, nil, 1, 0, dataset.KindNotFound, dataset.ErrNotFound},
		{"invalid range", &ranged{flaky: flaky{n: 5, err: dataset.ErrInvalidRange}}, nil, 1, 0, dataset.KindPermanent, dataset.ErrInvalidRange},
		{"budget spent", &ranged{flaky: flaky{n: 5, err: transientErr}}, dataset.NewRetryBudget(1, 0), 2, 1, dataset.KindTransient, transientErr},
	} {
		t.Run(tc.name, func(t *testing.T) {
			retries := 0
			st, err := dataset.NewStore(tc.b).WithRetryBudget(tc.budget).WithPolicy(fastPolicy)
			if err != nil {
				t.Fatal(err)
			}
			st = st.WithReadTrace(&dataset.ReadTrace{Retry: func(int, error) { retries++ }})
			s, err := st.OpenStream(t.Context(), "k", 9000)
			if opens := tc.b.opens.Load(); opens != tc.opens || retries != tc.retries {
				t.Errorf("%d opens, %d Retry calls; want %d, %d", opens, retries, tc.opens, tc.retries)
			}
			if tc.wantErr != nil {
				if s != nil || !errors.Is(err, tc.wantErr) || dataset.KindOf(err) != tc.wantKind {
					t.Errorf("OpenStream = %v, error %v of kind %v; want one wrapping %v of kind %v", s, err, dataset.KindOf(err), tc.wantErr, tc.wantKind)
				}
				var ke *dataset.KeyError
				if !errors.As(err, &ke) || ke.Op != "stream" || ke.Key != "k" || !strings.Contains(err.Error(), "from byte 9000") {
					t.Errorf("OpenStream error %q, want a *KeyError of op stream naming k and byte 9000", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			got, err := io.ReadAll(s)
			if err != nil || !bytes.Equal(got, testData[9000:]) {
				t.Errorf("stream read %d bytes, %v; want the object's last 1000", len(got), err)
			}
			if s.Attempts() != int(tc.opens) || s.Size() != 10_000 || s.Offset() != 10_000 || s.FirstByte().Before(s.Opened()) {
				t.Errorf("Attempts, Size, Offset = %d, %d, %d, FirstByte - Opened = %v; want %d, 10000, 10000, >= 0", s.Attempts(), s.Size(), s.Offset(), s.FirstByte().Sub(s.Opened()), tc.opens)
			}
		})
	}
}

// TestStreamReadErrors checks the errors of a stream's Reads: a body that
// stalls past the idle timeout, ends short of the object's size or runs
// past it, or fails with the backend's error, each of its kind, naming the
// key and the offset reached, returned again by every later Read; and a
// body of unknown size, which ends where it ends.
func TestStreamReadErrors(t *testing.T) {
	for _, tc := range []struct {
		name     string
		b        dataset.Backend
		want     int // bytes read before the error
		wantKind dataset.ErrorKind
		wantErr  error // wrapped by the error; nil for io.EOF after want bytes
	}{
		{"stalls mid-body", &ranged{stalls: 1, firstBytes: 600}, 600, dataset.KindTransient, dataset.ErrTimeout},
		{"short", body{testData[:700], 1000}, 700, dataset.KindTransient, io.ErrUnexpectedEOF},
		{"long", body{testData[:6000], 5000}, 5000, dataset.KindTransient, nil},
		{"unknown size", body{testData[:1200], -1}, 1200, 0, nil},
		{"backend's error", failingBody{testData[:800], throttledErr}, 800, dataset.KindThrottled, throttledErr},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := dataset.NewStore(tc.b).WithPolicy(fastPolicy)
			if err != nil {
				t.Fatal(err)
			}
			s, err := st.OpenStream(t.Context(), "k", 0)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			got, err := io.ReadAll(s)
			if !bytes.Equal(got, testData[:tc.want]) {
				t.Errorf("stream read %d bytes, want %d", len(got), tc.want)
			}
			if tc.wantKind == 0 {
				if err != nil {
					t.Errorf("stream error %v, want io.EOF", err)
				}
				return
			}
			if err == nil || tc.wantErr != nil && !errors.Is(err, tc.wantErr) || dataset.KindOf(err) != tc.wantKind {
				t.Errorf("stream error %v of kind %v, want one (wrapping %v) of kind %v", err, dataset.KindOf(err), tc.wantErr, tc.wantKind)
			}
			var ke *dataset.KeyError
			if !errors.As(err, &ke) || ke.Op != "stream" || ke.Key != "k" {
				t.Errorf("stream error %v, want a *KeyError of op stream naming k", err)
			}
			if s.Offset() != int64(tc.want) {
				t.Errorf("Offset() = %d after the error, want %d", s.Offset(), tc.want)
			}
			if n, again := s.Read(make([]byte, 10)); n != 0 || again != err {
				t.Errorf("Read after the error = %d, %v; want 0 and the same error", n, again)
			}
		})
	}
}

// failingBody serves data, then fails with err.
type failingBody struct {
	data []byte
	err  error
}

func (f failingBody) Open(ctx context.Context, key string) (io.ReadCloser, int64, error) {
	return io.NopCloser(io.MultiReader(bytes.NewReader(f.data), errReader{f.err})), -1, nil
}

func (f failingBody) ErrorKind(err error) dataset.ErrorKind { return (&flaky{}).ErrorKind(err) }

// errReader fails every Read with err.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// TestStreamEmpty checks streams with no bytes: the empty object, and the
// end of an object, which S3 refuses unless the object is empty.
func TestStreamEmpty(t *testing.T) {
	st := dataset.NewStore(mem.New(map[string][]byte{"empty": {}, "k": testData}))
	for _, tc := range []struct {
		name    string
		key     string
		off     int64
		wantErr error
	}{
		{"empty object", "empty", 0, nil},
		{"past the empty object", "empty", 1, dataset.ErrInvalidRange},
		{"end of an object", "k", 10_000, dataset.ErrInvalidRange},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := st.OpenStream(t.Context(), tc.key, tc.off)
			if !errors.Is(err, tc.wantErr) || tc.wantErr != nil && dataset.KindOf(err) != dataset.KindPermanent {
				t.Fatalf("OpenStream(%q, %d) error %v (kind %v), want %v", tc.key, tc.off, err, dataset.KindOf(err), tc.wantErr)
			}
			if err != nil {
				return
			}
			defer s.Close()
			if n, err := s.Read(make([]byte, 10)); n != 0 || err != io.EOF || !s.FirstByte().IsZero() {
				t.Errorf("Read = %d, %v, FirstByte %v; want 0, io.EOF, zero", n, err, s.FirstByte())
			}
		})
	}
}
