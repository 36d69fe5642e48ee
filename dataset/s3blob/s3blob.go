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
	"math"
	"net/http"
	"strconv"
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

// OpenRange implements [dataset.RangeOpener] with one request, made once
// as Open's is: a GetObject with the Range "bytes=off-last" (for n > 0) or
// "bytes=off-" (for n < 0), whose answer's Content-Range ("bytes
// first-last/size") gives the object's size. Edge cases, so that the
// backend agrees with [dataset.CheckRange]:
//
//   - (0, -1) is Open: a GetObject of the whole object, with no Range;
//   - n == 0 reads nothing: a HeadObject checks the key and off against
//     the object's size;
//   - S3's 416 InvalidRange is [dataset.ErrInvalidRange], except for a
//     range from offset 0, which S3 refuses only for an empty object:
//     that is the empty read of the empty object;
//   - an answer without Content-Range (a server that ignored Range) is
//     the whole object, its first off bytes discarded and the rest cut
//     at n.
func (b *Backend) OpenRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, int64, error) {
	if err := dataset.CheckRange(off, n, -1); err != nil {
		return nil, 0, err
	}
	switch {
	case off == 0 && n < 0:
		return b.Open(ctx, key)
	case n == 0:
		return b.emptyRange(ctx, key, off)
	}
	out, err := b.get.GetObject(ctx, &s3.GetObjectInput{
		Bucket: aws.String(b.bucket),
		Key:    aws.String(b.prefix + key),
		Range:  aws.String(httpRange(off, n)),
	})
	if err != nil {
		err = mapErr(err)
		if off == 0 && errors.Is(err, dataset.ErrInvalidRange) {
			return http.NoBody, 0, nil // the empty object
		}
		return nil, 0, err
	}
	if out.ContentRange == nil {
		size := int64(-1)
		if out.ContentLength != nil {
			size = *out.ContentLength
		}
		return cut(out.Body, size, off, n)
	}
	first, size, ok := parseContentRange(*out.ContentRange)
	if !ok || first != off {
		out.Body.Close()
		return nil, 0, fmt.Errorf("s3blob: GetObject %q with Range %q answered Content-Range %q", key, httpRange(off, n), *out.ContentRange)
	}
	return out.Body, size, nil
}

// emptyRange opens the empty range at off of key with a HeadObject
// request.
func (b *Backend) emptyRange(ctx context.Context, key string, off int64) (io.ReadCloser, int64, error) {
	out, err := b.get.HeadObject(ctx, &s3.HeadObjectInput{
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
	if err := dataset.CheckRange(off, 0, size); err != nil {
		return nil, 0, err
	}
	return http.NoBody, size, nil
}

// cut returns the bytes [off, off+n) (or [off, end) for n < 0) of body, a
// whole object of size bytes (-1 unknown), discarding those before off.
func cut(body io.ReadCloser, size, off, n int64) (io.ReadCloser, int64, error) {
	if err := dataset.CheckRange(off, n, size); err != nil {
		body.Close()
		return nil, 0, err
	}
	if skipped, err := io.CopyN(io.Discard, body, off); err != nil {
		body.Close()
		if err == io.EOF {
			if size < 0 {
				return nil, 0, dataset.CheckRange(off, n, skipped)
			}
			err = io.ErrUnexpectedEOF
		}
		return nil, 0, fmt.Errorf("s3blob: skipping to byte %d of a whole object: %w", off, err)
	}
	if n < 0 {
		return body, size, nil
	}
	return struct {
		io.Reader
		io.Closer
	}{io.LimitReader(body, n), body}, size, nil
}

// httpRange returns the Range header of the bytes [off, off+n), or [off,
// end) when n < 0.
func httpRange(off, n int64) string {
	if n < 0 || n > math.MaxInt64-off {
		return "bytes=" + strconv.FormatInt(off, 10) + "-"
	}
	return "bytes=" + strconv.FormatInt(off, 10) + "-" + strconv.FormatInt(off+n-1, 10)
}

// parseContentRange parses a Content-Range of a single range, "bytes
// first-last/size", where size may be "*" (returned as -1).
func parseContentRange(s string) (first, size int64, ok bool) {
	rest, ok := strings.CutPrefix(s, "bytes ")
	if !ok {
		return 0, 0, false
	}
	span, total, ok := strings.Cut(rest, "/")
	if !ok {
		return 0, 0, false
	}
	firstStr, lastStr, ok := strings.Cut(span, "-")
	if !ok {
		return 0, 0, false
	}
	first, err1 := strconv.ParseInt(firstStr, 10, 64)
	last, err2 := strconv.ParseInt(lastStr, 10, 64)
	if err1 != nil || err2 != nil || first < 0 || last < first {
		return 0, 0, false
	}
	if total == "*" {
		return first, -1, true
	}
	size, err := strconv.ParseInt(total, 10, 64)
	if err != nil || size <= last {
		return 0, 0, false
	}
	return first, size, true
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

// mapErr maps S3's "no such key" (and a bare 404) to [dataset.ErrNotFound]
// and its refusal of a range (416, InvalidRange) to
// [dataset.ErrInvalidRange], keeping the original error in the chain.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	if invalidRange(err) {
		return fmt.Errorf("%w: %w", dataset.ErrInvalidRange, err)
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

// invalidRange reports whether err is S3's refusal of a range: 416
// Requested Range Not Satisfiable, or the code InvalidRange.
func invalidRange(err error) bool {
	var api smithy.APIError
	if errors.As(err, &api) && api.ErrorCode() == "InvalidRange" {
		return true
	}
	var re *awshttp.ResponseError
	return errors.As(err, &re) && re.HTTPStatusCode() == http.StatusRequestedRangeNotSatisfiable
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
