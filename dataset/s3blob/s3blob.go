// Package s3blob is a [dataset.Backend] that reads objects from an S3
// bucket through github.com/aws/aws-sdk-go-v2/service/s3.
//
// A backend is built from an injected, already-configured *s3.Client, a
// bucket and an optional key prefix; it reads no environment itself.
//
// Who retries what: a GET of an object is made once, with the SDK's
// retries off (a copy of the client with aws.NopRetryer), because
// dataset.Store retries reads under its own Policy, with deadlines the SDK
// does not have; two retryers would multiply their attempts. Every other
// request (listings, puts, deletes, the index's download) is retried by
// the client's own retryer, which NewClient sets up without the SDK's
// client-wide retry quota, so that errors at thousands of requests in
// flight never fail requests with "retry quota exceeded".
// [Config] and [NewClient] build such a client from the seed's JSON
// configuration file, set up for loading at high concurrency.
//
// S3's codes and statuses stop here: [Backend.ErrorKind] maps them, and the
// failures of the path to S3, to dataset's portable kinds (a 404 to not
// found, 503 SlowDown to throttled, a 500 or a reset connection to
// transient, a 403 to permanent), from which dataset.Store decides what to
// retry.
package s3blob

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/storagebench/storagebench/dataset"
)

// Backend reads the objects of one bucket under an optional key prefix. It
// is safe for concurrent use.
type Backend struct {
	client *s3.Client
	get    *s3.Client // client with the SDK's retries off, for Open
	bucket string
	prefix string
}

// Open returns a backend reading bucket through client. Every key is read
// as prefix+key; prefix may be empty.
func Open(client *s3.Client, bucket, prefix string) (*Backend, error) {
	if client == nil {
		return nil, errors.New("s3blob: nil client")
	}
	if bucket == "" {
		return nil, errors.New("s3blob: empty bucket name")
	}
	get := s3.New(client.Options(), func(o *s3.Options) { o.Retryer = aws.NopRetryer{} })
	return &Backend{client: client, get: get, bucket: bucket, prefix: prefix}, nil
}

// Bucket returns the bucket the backend reads.
func (b *Backend) Bucket() string { return b.bucket }

// Prefix returns the key prefix the backend adds to every key.
func (b *Backend) Prefix() string { return b.prefix }

// Open implements [dataset.Backend] with one GetObject request, made once:
// the SDK does not retry it.
func (b *Backend) Open(ctx context.Context, key string) (io.ReadCloser, int64, error) {
	out, err := b.get.GetObject(ctx, &s3.GetObjectInput{
		Bucket: aws.String(b.bucket),
		Key:    aws.String(b.prefix + key),
	})
	if err != nil {
		return nil, 0, mapErr(err)
	}
	size := int64(-1)
	if out.ContentLength != nil {
		size = *out.ContentLength
	}
	return out.Body, size, nil
}

// Put implements [dataset.Writer] with one PutObject request.
func (b *Backend) Put(ctx context.Context, key string, data []byte) error {
	_, err := b.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        aws.String(b.bucket),
		Key:           aws.String(b.prefix + key),
		Body:          bytes.NewReader(data),
		ContentLength: aws.Int64(int64(len(data))),
	})
	return mapErr(err)
}

// Delete implements [dataset.Deleter] with a HeadObject request and a
// DeleteObject request: S3 deletes a missing key without complaint, and the
// HeadObject request is what reports it as [dataset.ErrNotFound].
func (b *Backend) Delete(ctx context.Context, key string) error {
	bucket, k := aws.String(b.bucket), aws.String(b.prefix+key)
	if _, err := b.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: bucket, Key: k}); err != nil {
		return mapErr(err)
	}
	_, err := b.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: bucket, Key: k})
	return mapErr(err)
}

// List implements [dataset.Lister] with ListObjectsV2. S3 returns keys in
// ascending byte order, which is the order List promises. After each page
// of up to 1,000 keys, List reports the count so far to the
// [dataset.ListTrace] that ctx carries.
func (b *Backend) List(ctx context.Context, prefix string) ([]dataset.Entry, error) {
	var out []dataset.Entry
	p := s3.NewListObjectsV2Paginator(b.client, &s3.ListObjectsV2Input{
		Bucket: aws.String(b.bucket),
		Prefix: aws.String(b.prefix + prefix),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, mapErr(err)
		}
		for _, o := range page.Contents {
			key := strings.TrimPrefix(aws.ToString(o.Key), b.prefix)
			out = append(out, dataset.Entry{Key: key, Size: aws.ToInt64(o.Size)})
		}
		dataset.ReportFound(ctx, len(out))
	}
	return out, nil
}

// mapErr maps S3's "no such key" (and a bare 404) to [dataset.ErrNotFound],
// keeping the original error in the chain.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	var nsk *types.NoSuchKey
	if errors.As(err, &nsk) {
		return fmt.Errorf("%w: %w", dataset.ErrNotFound, err)
	}
	var api smithy.APIError
	if errors.As(err, &api) && (api.ErrorCode() == "NoSuchKey" || api.ErrorCode() == "NotFound") {
		return fmt.Errorf("%w: %w", dataset.ErrNotFound, err)
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotFound && !(errors.As(err, &api) && api.ErrorCode() == "NoSuchBucket") {
		return fmt.Errorf("%w: %w", dataset.ErrNotFound, err)
	}
	return err
}

// CreateBucket creates the backend's bucket. A bucket the caller already
// owns is not an error.
func (b *Backend) CreateBucket(ctx context.Context) error {
	_, err := b.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(b.bucket)})
	var owned *types.BucketAlreadyOwnedByYou
	if errors.As(err, &owned) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create bucket %q: %w", b.bucket, err)
	}
	return nil
}
