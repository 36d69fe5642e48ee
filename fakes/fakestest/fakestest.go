// Package fakestest holds the test helpers built on package fakes: they
// take a [testing.TB], start a fake S3 server for one test or benchmark and
// register its shutdown with tb.Cleanup, as net/http/httptest does for
// HTTP servers.
//
// The helpers live apart from package fakes so that the product code that
// ships in the storagebench command (the fake S3 server, the emulator, the
// synthetic dataset) never links package testing. Tests import fakestest;
// commands import fakes.
package fakestest

import (
	"context"
	"testing"

	"github.com/storagebench/storagebench/dataset/s3blob"
	"github.com/storagebench/storagebench/fakes"
)

// bucket is the bucket NewS3Backend creates and fills.
const bucket = "storagebench"

// NewS3 starts a fake S3 server with [fakes.StartS3] and closes it when the
// test ends, reporting an error from Close as a test error. A server that
// does not start fails the test at once.
func NewS3(tb testing.TB, opts fakes.S3Options) *fakes.S3 {
	tb.Helper()
	f, err := fakes.StartS3(context.Background(), opts)
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

// NewS3Backend starts a fake S3 server as [NewS3] does, stores objects in
// a bucket of it named "storagebench", and returns the server and a backend
// reading that bucket with no prefix. Any failure fails the test at once.
func NewS3Backend(tb testing.TB, objects map[string][]byte) (*fakes.S3, *s3blob.Backend) {
	tb.Helper()
	f := NewS3(tb, fakes.S3Options{Buckets: []string{bucket}})
	b, err := s3blob.Open(f.Client, bucket, "")
	if err != nil {
		tb.Fatal(err)
	}
	for k, v := range objects {
		if err := b.Put(context.Background(), k, v); err != nil {
			tb.Fatal(err)
		}
	}
	return f, b
}
