package s3blob_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/storagebench/storagebench/dataset"
	"github.com/storagebench/storagebench/dataset/mem"
	"github.com/storagebench/storagebench/dataset/s3blob"
	"github.com/storagebench/storagebench/fakes"
	"github.com/storagebench/storagebench/fakes/fakestest"
)

// answer returns the error the SDK returns for an S3 answer with status
// and an error body of code, as an operation error wrapping the API error
// in a response error.
func answer(status int, apiErr error) error {
	return &smithy.OperationError{ServiceID: "S3", OperationName: "GetObject", Err: &awshttp.ResponseError{
		ResponseError: &smithyhttp.ResponseError{
			Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}},
			Err:      apiErr,
		},
		RequestID: "test",
	}}
}

// coded returns an S3 answer with status and a generic error code.
func coded(status int, code string) error {
	return answer(status, &smithy.GenericAPIError{Code: code, Message: "test"})
}

// sent returns the error the SDK returns when a request could not be sent
// or its answer not received.
func sent(err error) error {
	return &smithy.OperationError{ServiceID: "S3", OperationName: "GetObject", Err: &smithyhttp.RequestSendError{Err: err}}
}

// TestErrorKindOfAnswers checks the mapping of S3's answers and of the
// failures of the path to S3, as the SDK reports them, to kinds.
func TestErrorKindOfAnswers(t *testing.T) {
	var b s3blob.Backend
	for _, tc := range []struct {
		name string
		err  error
		want dataset.ErrorKind
	}{
		{"404 NoSuchKey", answer(404, &types.NoSuchKey{}), dataset.KindNotFound},
		{"404 NoSuchKey code", coded(404, "NoSuchKey"), dataset.KindNotFound},
		{"404 of a HEAD", answer(404, &types.NotFound{}), dataset.KindNotFound},
		{"404 with no code", coded(404, ""), dataset.KindNotFound},
		{"not found, mapped", fmt.Errorf("%w: %w", dataset.ErrNotFound, coded(404, "NoSuchKey")), dataset.KindNotFound},
		{"404 NoSuchBucket", coded(404, "NoSuchBucket"), dataset.KindPermanent},
		{"503 SlowDown", coded(503, "SlowDown"), dataset.KindThrottled},
		{"503 ServiceUnavailable", coded(503, "ServiceUnavailable"), dataset.KindThrottled},
		{"429", coded(429, "TooManyRequests"), dataset.KindThrottled},
		{"400 ThrottlingException", coded(400, "ThrottlingException"), dataset.KindThrottled},
		{"400 RequestLimitExceeded", coded(400, "RequestLimitExceeded"), dataset.KindThrottled},
		{"500 InternalError", coded(500, "InternalError"), dataset.KindTransient},
		{"502", coded(502, ""), dataset.KindTransient},
		{"504", coded(504, "GatewayTimeout"), dataset.KindTransient},
		{"408", coded(408, ""), dataset.KindTransient},
		{"400 RequestTimeout", coded(400, "RequestTimeout"), dataset.KindTransient},
		{"403 AccessDenied", coded(403, "AccessDenied"), dataset.KindPermanent},
		{"403 SignatureDoesNotMatch", coded(403, "SignatureDoesNotMatch"), dataset.KindPermanent},
		{"400 InvalidArgument", coded(400, "InvalidArgument"), dataset.KindPermanent},
		{"412 PreconditionFailed", coded(412, "PreconditionFailed"), dataset.KindPermanent},
		{"416 InvalidRange", coded(416, "InvalidRange"), dataset.KindPermanent},
		{"416 with another code", coded(416, "RequestedRangeNotSatisfiable"), dataset.KindPermanent},
		{"invalid range, mapped", fmt.Errorf("%w: %w", dataset.ErrInvalidRange, coded(416, "InvalidRange")), dataset.KindPermanent},
		{"invalid range, refused before a request", fmt.Errorf("bytes [-1, end): %w", dataset.ErrInvalidRange), dataset.KindPermanent},
		{"connection reset", sent(&net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}), dataset.KindTransient},
		{"connection refused", sent(&net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}), dataset.KindTransient},
		{"body cut short", fmt.Errorf("read body: %w", io.ErrUnexpectedEOF), dataset.KindTransient},
		{"reset while reading the body", &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}, dataset.KindTransient},
		// A dial that timed out under load: Go's net errors match
		// context.DeadlineExceeded, yet it is the connection's failure.
		{"dial timeout", sent(dialTimeout(t)), dataset.KindTransient},
		{"canceled", sent(&aws.RequestCanceledError{Err: context.Canceled}), dataset.KindCanceled},
		{"past its deadline", fmt.Errorf("get: %w", context.DeadlineExceeded), dataset.KindCanceled},
		{"something else", errors.New("no one knows"), dataset.KindUnknown},
		{"nil", nil, dataset.KindUnknown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := b.ErrorKind(tc.err); got != tc.want {
				t.Errorf("ErrorKind(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

// TestErrorKindFakeS3 checks the kinds of real answers over loopback, from
// the fake S3 and its fault injection, through the SDK: a missing key and
// bucket, 503 SlowDown, 500 InternalError, a reset connection, a body cut
// short, a refused write (403) and a cancelled request; and that a Store
// records the same kind on its error.
func TestErrorKindFakeS3(t *testing.T) {
	f := fakestest.NewS3(t, fakes.S3Options{Buckets: []string{"kinds"}})
	b, err := s3blob.Open(f.Client, "kinds", "")
	if err != nil {
		t.Fatal(err)
	}
	fill(t, b, map[string][]byte{"k": []byte("0123456789")})
	if err := f.Mount("read-only", mem.New(nil)); err != nil {
		t.Fatal(err)
	}
	readOnly, err := s3blob.Open(f.Client, "read-only", "")
	if err != nil {
		t.Fatal(err)
	}
	noBucket, err := s3blob.Open(f.Client, "no-such-bucket", "")
	if err != nil {
		t.Fatal(err)
	}
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	// read opens key in b and reads it whole.
	read := func(ctx context.Context, b *s3blob.Backend, key string) func() error {
		return func() error {
			rc, _, err := b.Open(ctx, key)
			if err != nil {
				return err
			}
			defer rc.Close()
			_, err = io.ReadAll(rc)
			return err
		}
	}
	for _, tc := range []struct {
		name   string
		faults string
		b      *s3blob.Backend
		op     func() error
		store  func(*dataset.Store) error // the same through a Store
		want   dataset.ErrorKind
	}{
		{"404 NoSuchKey", "", b, read(t.Context(), b, "missing"), readKey("missing"), dataset.KindNotFound},
		{"404 NoSuchBucket", "", noBucket, read(t.Context(), noBucket, "k"), readKey("k"), dataset.KindPermanent},
		{"503 SlowDown", "slowdown:1", b, read(t.Context(), b, "k"), readKey("k"), dataset.KindThrottled},
		{"500 InternalError", "internal:1", b, read(t.Context(), b, "k"), readKey("k"), dataset.KindTransient},
		{"connection reset", "reset:1", b, read(t.Context(), b, "k"), readKey("k"), dataset.KindTransient},
		{"body cut short", "short:1", b, read(t.Context(), b, "k"), readKey("k"), dataset.KindTransient},
		{"403 AccessDenied", "", readOnly, func() error { return readOnly.Put(t.Context(), "k", nil) }, func(s *dataset.Store) error { return s.Put(t.Context(), "k", nil) }, dataset.KindPermanent},
		{"canceled", "", b, read(canceled, b, "k"), func(s *dataset.Store) error { _, _, err := s.Read(canceled, "k", nil); return err }, dataset.KindCanceled},
		{"416 InvalidRange", "", b, readRange(b, "k", 10), readRangeKey("k", 10), dataset.KindPermanent},
		{"404 NoSuchKey of a range", "", b, readRange(b, "missing", 1), readRangeKey("missing", 1), dataset.KindNotFound},
		{"503 SlowDown of a range", "slowdown:1", b, readRange(b, "k", 1), readRangeKey("k", 1), dataset.KindThrottled},
		{"range cut short", "short:1", b, readRange(b, "k", 1), readRangeKey("k", 1), dataset.KindTransient},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var in *fakes.Injector
			if tc.faults != "" {
				spec, err := fakes.ParseFaults(tc.faults)
				if err != nil {
					t.Fatal(err)
				}
				in = fakes.NewInjector(spec, 1)
			}
			f.SetFaults(in)
			defer f.SetFaults(nil)
			err := tc.op()
			if err == nil {
				t.Fatal("no error")
			}
			if got := tc.b.ErrorKind(err); got != tc.want {
				t.Errorf("ErrorKind(%v) = %v, want %v", err, got, tc.want)
			}
			st, serr := dataset.NewStore(tc.b).WithPolicy(dataset.Policy{Attempts: 1})
			if serr != nil {
				t.Fatal(serr)
			}
			err = tc.store(st)
			if got := dataset.KindOf(err); got != tc.want {
				t.Errorf("through a Store: KindOf(%v) = %v, want %v", err, got, tc.want)
			}
		})
	}
}

// readRange returns a function that reads key in b from off to its end
// with OpenRange.
func readRange(b *s3blob.Backend, key string, off int64) func() error {
	return func() error {
		rc, _, err := b.OpenRange(context.Background(), key, off, -1)
		if err != nil {
			return err
		}
		defer rc.Close()
		_, err = io.ReadAll(rc)
		return err
	}
}

// readRangeKey reads key from off to its end through a Store.
func readRangeKey(key string, off int64) func(*dataset.Store) error {
	return func(s *dataset.Store) error {
		_, _, err := s.ReadRange(context.Background(), key, off, -1, nil)
		return err
	}
}

// readKey reads key through a Store.
func readKey(key string) func(*dataset.Store) error {
	return func(s *dataset.Store) error {
		_, _, err := s.Read(context.Background(), key, nil)
		return err
	}
}

// dialTimeout returns the error of a dial that timed out, as one to a
// loaded server on loopback fails.
func dialTimeout(t *testing.T) error {
	t.Helper()
	_, err := (&net.Dialer{Deadline: time.Now().Add(-time.Second)}).Dial("tcp", "127.0.0.1:1")
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("dial past its deadline: %v, want a net timeout that matches context.DeadlineExceeded", err)
	}
	return err
}
