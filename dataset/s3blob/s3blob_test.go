package s3blob_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/storagebench/storagebench/dataset"
	"github.com/storagebench/storagebench/dataset/datasettest"
	"github.com/storagebench/storagebench/dataset/s3blob"
	"github.com/storagebench/storagebench/fakes"
	"github.com/storagebench/storagebench/fakes/fakestest"
	"github.com/storagebench/storagebench/reqlog"
)

// fill stores objects through b.
func fill(tb testing.TB, b *s3blob.Backend, objects map[string][]byte) {
	tb.Helper()
	for k, v := range objects {
		if err := b.Put(context.Background(), k, v); err != nil {
			tb.Fatal(err)
		}
	}
}

func TestConformanceFakeS3(t *testing.T) {
	f := fakestest.NewS3(t, fakes.S3Options{})
	var n atomic.Int32
	for _, prefix := range []string{"", "some/prefix/"} {
		t.Run("prefix="+prefix, func(t *testing.T) {
			datasettest.RunConformanceTests(t, func(tb testing.TB, objects map[string][]byte) dataset.Backend {
				bucket := fmt.Sprintf("conformance-%d", n.Add(1))
				if err := f.CreateBucket(context.Background(), bucket); err != nil {
					tb.Fatal(err)
				}
				b, err := s3blob.Open(f.Client, bucket, prefix)
				if err != nil {
					tb.Fatal(err)
				}
				fill(tb, b, objects)
				return b
			})
		})
	}
}

// TestConformanceMinIO runs the suite against a real S3 server when
// STORAGEBENCH_MINIO_ENDPOINT names one (CI starts MinIO on loopback).
func TestConformanceMinIO(t *testing.T) {
	endpoint := os.Getenv("STORAGEBENCH_MINIO_ENDPOINT")
	if endpoint == "" {
		t.Skip("STORAGEBENCH_MINIO_ENDPOINT is not set; CI sets it to a MinIO server")
	}
	cfg := s3blob.Config{
		AccessKeyID:     os.Getenv("STORAGEBENCH_MINIO_ACCESS_KEY"),
		SecretAccessKey: os.Getenv("STORAGEBENCH_MINIO_SECRET_KEY"),
		EndpointURL:     endpoint,
		Region:          "us-east-1",
	}
	ctx := context.Background()
	client, err := s3blob.NewClient(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int32
	run := time.Now().UnixNano()
	datasettest.RunConformanceTests(t, func(tb testing.TB, objects map[string][]byte) dataset.Backend {
		bucket := fmt.Sprintf("conformance-%d-%d", run, n.Add(1))
		if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
			tb.Fatalf("create bucket %s: %v", bucket, err)
		}
		b, err := s3blob.Open(client, bucket, "p/")
		if err != nil {
			tb.Fatal(err)
		}
		fill(tb, b, objects)
		return b
	})
	t.Run("RefusedCredentials", func(t *testing.T) {
		bad := cfg
		bad.SecretAccessKey = "wrong-secret-for-test"
		c, err := s3blob.NewClient(ctx, bad)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := s3blob.Open(c, "any-bucket", "")
		start := time.Now()
		_, err = dataset.NewStore(b).List(ctx, "")
		if err == nil {
			t.Fatal("List with a wrong secret succeeded, want an error")
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("refused credentials took %v to fail, want seconds", d)
		}
		if strings.Contains(err.Error(), bad.SecretAccessKey) {
			t.Errorf("error %q shows the secret key", err)
		}
	})
}

func TestUnreachableEndpointFailsFast(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	cfg := s3blob.Config{AccessKeyID: "id", SecretAccessKey: "secret-that-must-not-leak", EndpointURL: "http://" + addr, Region: "us-east-1"}
	client, err := s3blob.NewClient(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := s3blob.Open(client, "bucket", "")
	start := time.Now()
	_, _, err = dataset.NewStore(b).Read(context.Background(), "val/x.JPEG", nil)
	if err == nil {
		t.Fatal("Read from an unreachable endpoint succeeded")
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Read from an unreachable endpoint took %v, want seconds", d)
	}
	if !strings.Contains(err.Error(), "val/x.JPEG") || strings.Contains(err.Error(), cfg.SecretAccessKey) {
		t.Errorf("error %q should name the key and not the secret", err)
	}
}

func TestFetchIndex(t *testing.T) {
	f := fakestest.NewS3(t, fakes.S3Options{Buckets: []string{"idx"}})
	b, _ := s3blob.Open(f.Client, "idx", "")
	ctx := context.Background()
	fill(t, b, map[string][]byte{
		"scratch/index.json": []byte(`["scratch/a.JPEG", "scratch/b.JPEG"]`),
		"scratch/bad.json":   []byte(`["scratch/a.JPEG", 3]`),
	})
	cache := filepath.Join(t.TempDir(), "index-s3-val.json")
	idx, err := s3blob.FetchIndex(ctx, f.Client, "s3://idx/scratch/index.json", cache)
	if err != nil || len(idx) != 2 || idx[1] != "scratch/b.JPEG" {
		t.Fatalf("FetchIndex = %q, %v; want the two keys", idx, err)
	}
	if _, err := os.Stat(cache); err != nil {
		t.Fatalf("FetchIndex did not cache the index: %v", err)
	}
	// Once cached, the index is read from the cache, not downloaded.
	fill(t, b, map[string][]byte{"scratch/index.json": []byte(`["changed"]`)})
	if idx, err := s3blob.FetchIndex(ctx, f.Client, "s3://idx/scratch/index.json", cache); err != nil || len(idx) != 2 {
		t.Errorf("FetchIndex with a cache = %q, %v; want the cached two keys", idx, err)
	}
	for _, tc := range []struct {
		url  string
		want error
	}{
		{"s3://idx/scratch/missing.json", dataset.ErrNotFound},
		{"s3://idx/scratch/bad.json", dataset.ErrIndexEntryType},
		{"https://idx/scratch/index.json", nil},
	} {
		_, err := s3blob.FetchIndex(ctx, f.Client, tc.url, "")
		if err == nil || tc.want != nil && !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.url) {
			t.Errorf("FetchIndex(%q) error = %v, want %v naming the URL", tc.url, err, tc.want)
		}
	}
}

// TestListTrace checks that a listing reports its count to the trace in
// its context after each page of 1,000 keys, whatever the prefix.
func TestListTrace(t *testing.T) {
	f := fakestest.NewS3(t, fakes.S3Options{Buckets: []string{"many"}})
	const n = 1001
	root, err := s3blob.Open(f.Client, "many", "")
	if err != nil {
		t.Fatal(err)
	}
	objs := make(map[string][]byte, n+1)
	for i := range n {
		objs[fmt.Sprintf("p/%04d", i)] = nil
	}
	objs["other"] = nil
	fill(t, root, objs)
	tests := []struct {
		name   string
		prefix string // of the backend
		want   []int
	}{
		{"no prefix", "", []int{1000, 1002}},
		{"prefix", "p/", []int{1000, 1001}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := s3blob.Open(f.Client, "many", tc.prefix)
			if err != nil {
				t.Fatal(err)
			}
			var found []int
			ctx := dataset.WithListTrace(t.Context(), &dataset.ListTrace{Found: func(n int) { found = append(found, n) }})
			entries, err := dataset.NewStore(b).List(ctx, "")
			if err != nil {
				t.Fatal(err)
			}
			if got, want := len(entries), tc.want[len(tc.want)-1]; got != want {
				t.Errorf("listed %d keys, want %d", got, want)
			}
			if !slices.Equal(found, tc.want) {
				t.Errorf("reported %v found, want %v", found, tc.want)
			}
		})
	}
}

// TestOpenRangeAnswers checks OpenRange against answers a server may give
// to a ranged GET besides S3's usual 206: the whole object (a server that
// ignores Range), a Content-Range of unknown size, and one that does not
// start where the range does.
func TestOpenRangeAnswers(t *testing.T) {
	data := []byte("0123456789")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		bucket, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
		switch bucket {
		case "ignores":
			w.Header().Set("Content-Length", strconv.Itoa(len(data)))
			w.Write(data)
		case "unknown-size":
			w.Header().Set("Content-Range", "bytes 3-6/*")
			w.Header().Set("Content-Length", "4")
			w.WriteHeader(http.StatusPartialContent)
			w.Write(data[3:7])
		case "elsewhere":
			w.Header().Set("Content-Range", "bytes 0-3/10")
			w.Header().Set("Content-Length", "4")
			w.WriteHeader(http.StatusPartialContent)
			w.Write(data[:4])
		}
	}))
	defer srv.Close()
	client, err := s3blob.NewClient(context.Background(), s3blob.Config{AccessKeyID: "id", SecretAccessKey: "secret", EndpointURL: srv.URL, Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		bucket   string
		off, n   int64
		want     string
		wantSize int64
		wantErr  error // nil, or wrapped by the error; any error when want is "!"
	}{
		{"ignored", "ignores", 3, 4, "3456", 10, nil},
		{"ignored, to the end", "ignores", 7, -1, "789", 10, nil},
		{"ignored, cut at the end", "ignores", 7, 100, "789", 10, nil},
		{"ignored, past the end", "ignores", 11, 1, "", 0, dataset.ErrInvalidRange},
		{"unknown size", "unknown-size", 3, 4, "3456", -1, nil},
		{"elsewhere", "elsewhere", 3, 4, "!", 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := s3blob.Open(client, tc.bucket, "")
			if err != nil {
				t.Fatal(err)
			}
			rc, size, err := b.OpenRange(t.Context(), "k", tc.off, tc.n)
			switch {
			case tc.want == "!" || tc.wantErr != nil:
				if err == nil || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
					t.Errorf("OpenRange(%d, %d) error = %v, want one (wrapping %v)", tc.off, tc.n, err, tc.wantErr)
				}
				return
			case err != nil:
				t.Fatalf("OpenRange(%d, %d): %v", tc.off, tc.n, err)
			}
			defer rc.Close()
			got, err := io.ReadAll(rc)
			if err != nil || string(got) != tc.want || size != tc.wantSize {
				t.Errorf("OpenRange(%d, %d) = %q, size %d, %v; want %q, size %d", tc.off, tc.n, got, size, err, tc.want, tc.wantSize)
			}
		})
	}
}

// TestOpenRangeLogged checks that the request log of a client made with
// WithRequestLog sees ranged reads, as it sees whole ones: each as a
// GetObject of the range's bytes with status 206, or a HeadObject for an
// empty range.
func TestOpenRangeLogged(t *testing.T) {
	f := fakestest.NewS3(t, fakes.S3Options{Buckets: []string{"logged"}})
	var out bytes.Buffer
	w, err := reqlog.NewWriter(&out)
	if err != nil {
		t.Fatal(err)
	}
	client, err := s3blob.NewClient(t.Context(), f.Config("logged"), s3blob.WithRequestLog(w))
	if err != nil {
		t.Fatal(err)
	}
	b, err := s3blob.Open(client, "logged", "")
	if err != nil {
		t.Fatal(err)
	}
	fill(t, b, map[string][]byte{"k": bytes.Repeat([]byte("x"), 1000)})
	st := dataset.NewStore(b)
	if _, _, err := st.ReadRange(t.Context(), "k", 100, 300, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.ReadRange(t.Context(), "k", 1000, 0, nil); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	recs, err := reqlog.Read(&out, "log")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range recs {
		if r.Op != "PutObject" {
			got = append(got, fmt.Sprintf("%s %s %s %d", r.Op, r.Key, r.Status, r.Bytes))
		}
	}
	if want := []string{"GetObject logged/k 206 300", "HeadObject logged/k 200 0"}; !slices.Equal(got, want) {
		t.Errorf("request log = %q, want %q", got, want)
	}
}
