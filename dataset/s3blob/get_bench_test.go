package s3blob_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"golang.org/x/sync/errgroup"

	"github.com/storagebench/storagebench/dataset/s3blob"
	"github.com/storagebench/storagebench/internal/proccpu"
	"github.com/storagebench/storagebench/results"
)

// The objects the S3 clients are compared on: the size of a mean ImageNet
// validation JPEG, enough of them that reads do not hit one object.
const (
	getObjectSize = 122 << 10
	getObjects    = 128
	getBucket     = "storagebench-s3get"
	getPrefix     = "s3get/"
)

// getter reads one whole object into buf and returns its length.
type getter func(ctx context.Context, key string, buf []byte) (int, error)

// minioServer returns the MinIO server STORAGEBENCH_MINIO_* names, or
// skips tb when none does.
func minioServer(tb testing.TB) s3blob.Config {
	tb.Helper()
	endpoint := os.Getenv("STORAGEBENCH_MINIO_ENDPOINT")
	if endpoint == "" {
		tb.Skip("STORAGEBENCH_MINIO_ENDPOINT is not set; .ci/minio.sh start exports it")
	}
	return s3blob.Config{
		AccessKeyID:     os.Getenv("STORAGEBENCH_MINIO_ACCESS_KEY"),
		SecretAccessKey: os.Getenv("STORAGEBENCH_MINIO_SECRET_KEY"),
		EndpointURL:     endpoint,
		Region:          "us-east-1",
		Bucket:          getBucket,
	}
}

// getObjectData returns object i's content: bytes that differ between
// objects and along each one, so a read of the wrong object or range shows.
func getObjectData(i int) []byte {
	b := make([]byte, getObjectSize)
	x := uint32(i)*2654435761 + 1
	for j := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[j] = byte(x)
	}
	return b
}

// getKey names object i.
func getKey(i int) string { return fmt.Sprintf("%06d.bin", i) }

// getClients stores the objects on the server cfg names, unless they are
// there already, and returns a getter for each client, by client name.
func getClients(tb testing.TB, cfg s3blob.Config) map[string]getter {
	tb.Helper()
	ctx := context.Background()
	client, err := s3blob.NewClient(ctx, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	_, err = client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(getBucket)})
	var owned *s3types.BucketAlreadyOwnedByYou
	if err != nil && !errors.As(err, &owned) {
		tb.Fatalf("create bucket %s: %v", getBucket, err)
	}
	backend, err := s3blob.Open(client, getBucket, getPrefix)
	if err != nil {
		tb.Fatal(err)
	}
	for i := range getObjects {
		if err := backend.Put(ctx, getKey(i), getObjectData(i)); err != nil {
			tb.Fatal(err)
		}
	}

	// minio-go with the pool size the S3 backend uses, so that neither
	// client churns connections at 100 requests in flight.
	u, err := url.Parse(cfg.EndpointURL)
	if err != nil {
		tb.Fatal(err)
	}
	tr, err := minio.DefaultTransport(u.Scheme == "https")
	if err != nil {
		tb.Fatal(err)
	}
	tr.MaxIdleConns = s3blob.MaxIdleConnsPerHost
	tr.MaxIdleConnsPerHost = s3blob.MaxIdleConnsPerHost
	mc, err := minio.New(u.Host, &minio.Options{
		Creds:     credentials.NewStaticV4(cfg.AccessKeyID, cfg.SecretAccessKey, ""),
		Secure:    u.Scheme == "https",
		Region:    cfg.Region,
		Transport: tr,
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(tr.CloseIdleConnections)

	return map[string]getter{
		results.ClientSDK: func(ctx context.Context, key string, buf []byte) (int, error) {
			body, _, err := backend.Open(ctx, key)
			if err != nil {
				return 0, err
			}
			defer body.Close()
			return readAll(body, buf, key)
		},
		results.ClientMinio: func(ctx context.Context, key string, buf []byte) (int, error) {
			obj, err := mc.GetObject(ctx, getBucket, getPrefix+key, minio.GetObjectOptions{})
			if err != nil {
				return 0, fmt.Errorf("get %s: %w", key, err)
			}
			defer obj.Close()
			return readAll(obj, buf, key)
		},
	}
}

// readAll reads r to its end into buf, which must be longer than the
// object, and returns the length read.
func readAll(r io.Reader, buf []byte, key string) (int, error) {
	n, err := io.ReadFull(r, buf)
	switch {
	case err == nil:
		return n, fmt.Errorf("read %s: longer than %d bytes", key, len(buf))
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return n, nil
	default:
		return n, fmt.Errorf("read %s: %w", key, err)
	}
}

// TestS3GetClients checks that both clients the S3Get benchmark compares
// read every object whole and right.
func TestS3GetClients(t *testing.T) {
	cfg := minioServer(t)
	for name, get := range getClients(t, cfg) {
		t.Run(name, func(t *testing.T) {
			buf := make([]byte, getObjectSize+1)
			for i := range getObjects {
				n, err := get(t.Context(), getKey(i), buf)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(buf[:n], getObjectData(i)) {
					t.Fatalf("%s: read %d bytes that differ from the %d stored", getKey(i), n, getObjectSize)
				}
			}
			if _, err := get(t.Context(), "missing", buf); err == nil {
				t.Error("read of a missing object succeeded")
			}
		})
	}
}

// BenchmarkS3Get compares the S3 backend's read path, a GET of a whole
// object through aws-sdk-go-v2, with minio-go's, against the MinIO server
// STORAGEBENCH_MINIO_* names: objects of 122 KiB, at each number of
// requests in flight. One op is one object read whole; the two clients
// run back to back at each concurrency, in alternating order, so that
// their ratio is taken on the same machine state. Each reader's first
// read, which opens its connection, is not timed. Besides items/s it
// reports cpu-ns/item, the client's CPU time per object (this process's;
// the server is another), the cost the client adds to every read.
func BenchmarkS3Get(b *testing.B) {
	cfg := minioServer(b)
	clients := getClients(b, cfg)
	order := []string{results.ClientSDK, results.ClientMinio}
	for ci, c := range []int{1, 8, 32, 100} {
		for k := range order {
			name := order[(k+ci)%len(order)]
			get := clients[name]
			b.Run(fmt.Sprintf("%s=%d/%s=%s", results.KeyConcurrency, c, results.KeyClient, name), func(b *testing.B) {
				benchGet(b, get, c)
			})
		}
	}
}

// benchGet reads b.N objects with c readers, round-robin over the objects.
func benchGet(b *testing.B, get getter, c int) {
	ctx := b.Context()
	var next atomic.Int64
	var warm, start sync.WaitGroup
	warm.Add(c)
	start.Add(1)
	g, ctx := errgroup.WithContext(ctx)
	for r := range c {
		g.Go(func() error {
			buf := make([]byte, getObjectSize+1)
			_, err := get(ctx, getKey(r%getObjects), buf)
			warm.Done()
			if err != nil {
				return err
			}
			start.Wait()
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return nil
				}
				key := getKey(int(i % getObjects))
				n, err := get(ctx, key, buf)
				if err != nil {
					return err
				}
				if n != getObjectSize {
					return fmt.Errorf("read %s: %d bytes, want %d", key, n, getObjectSize)
				}
			}
		})
	}
	warm.Wait()
	b.SetBytes(getObjectSize)
	b.ResetTimer()
	cpu0, cpuOK := proccpu.Time()
	start.Done()
	err := g.Wait()
	cpu1, _ := proccpu.Time()
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), results.ItemsPerSecond)
	if cpuOK {
		b.ReportMetric(float64(cpu1-cpu0)/float64(b.N), results.CPUPerItem)
	}
}
