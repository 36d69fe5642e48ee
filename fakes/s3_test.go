package fakes

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// startS3 starts a fake S3 server for a test of package fakes and closes it
// when the test ends. It is fakestest.NewS3, which the package's own tests
// cannot import: fakestest imports fakes.
func startS3(tb testing.TB, opts S3Options) *S3 {
	tb.Helper()
	f, err := StartS3(context.Background(), opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := f.Close(); err != nil {
			tb.Error(err)
		}
	})
	return f
}

func TestStartS3(t *testing.T) {
	tests := []struct {
		name    string
		buckets []string
	}{
		{"no bucket", nil},
		{"one bucket", []string{"data"}},
		{"two buckets", []string{"data", "other"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			f, err := StartS3(ctx, S3Options{Buckets: tc.buckets})
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(f.URL, "http://127.0.0.1:") {
				t.Errorf("URL = %q, want a loopback http URL", f.URL)
			}
			out, err := f.Client.ListBuckets(ctx, &s3.ListBucketsInput{})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, b := range out.Buckets {
				got = append(got, aws.ToString(b.Name))
			}
			// The in-memory backend lists buckets in map order, where S3
			// lists them by name: compare them as sets.
			slices.Sort(got)
			if !slices.Equal(got, tc.buckets) {
				t.Errorf("buckets = %q, want %q", got, tc.buckets)
			}
			if err := f.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if _, err := f.Client.ListBuckets(ctx, &s3.ListBucketsInput{}); !errors.Is(err, syscall.ECONNREFUSED) {
				t.Errorf("ListBuckets after Close: got %v, want connection refused", err)
			}
		})
	}
}

// TestStartS3Errors checks that a server that cannot listen, or cannot
// create a bucket, returns an error and leaves nothing listening.
func TestStartS3Errors(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	tests := []struct {
		name string
		opts S3Options
		want string
	}{
		{"address in use", S3Options{Addr: busy.Addr().String()}, "address already in use"},
		{"bad bucket name", S3Options{Buckets: []string{"okay", "x"}}, `create bucket "x"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := StartS3(t.Context(), tc.opts)
			if err == nil {
				f.Close()
				t.Fatalf("StartS3 = nil error, want one containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("StartS3 error = %q, want it to contain %q", err, tc.want)
			}
		})
	}
}
