package fakes

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/storagebench/storagebench/dataset"
	"github.com/storagebench/storagebench/dataset/datasettest"
	"github.com/storagebench/storagebench/dataset/mem"
	"github.com/storagebench/storagebench/dataset/s3blob"
)

// mountBucket is the bucket the tests mount.
const mountBucket = "mounted"

// mountedBackend starts a fake S3 with b mounted as mountBucket and returns
// the fake and an S3 backend reading the bucket through the real client.
func mountedBackend(tb testing.TB, b dataset.Backend) (*S3, *s3blob.Backend) {
	tb.Helper()
	f := startS3(tb, S3Options{})
	if err := f.Mount(mountBucket, b); err != nil {
		tb.Fatal(err)
	}
	sb, err := s3blob.Open(f.Client, mountBucket, "")
	if err != nil {
		tb.Fatal(err)
	}
	return f, sb
}

// readOnly hides every method of an S3 backend but reading (ranges
// included) and listing,
// as a mounted bucket allows no more.
type readOnly struct{ b *s3blob.Backend }

func (r readOnly) Open(ctx context.Context, key string) (io.ReadCloser, int64, error) {
	return r.b.Open(ctx, key)
}

func (r readOnly) OpenRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, int64, error) {
	return r.b.OpenRange(ctx, key, off, n)
}

func (r readOnly) List(ctx context.Context, prefix string) ([]dataset.Entry, error) {
	return r.b.List(ctx, prefix)
}

func (r readOnly) ErrorKind(err error) dataset.ErrorKind { return r.b.ErrorKind(err) }

// TestMountConformance runs the read side of the backend suite through the
// real S3 client against a mounted bucket: exact bytes of a zero-length
// and a multi-MiB object, keys with spaces and non-ASCII characters,
// missing keys, cancellation and listings.
func TestMountConformance(t *testing.T) {
	datasettest.RunConformanceTests(t, func(tb testing.TB, objects map[string][]byte) dataset.Backend {
		_, sb := mountedBackend(tb, datasettest.MapView(tb, objects))
		return readOnly{sb}
	})
}

// apiCode returns the S3 error code and HTTP status of err.
func apiCode(err error) (code string, status int) {
	var api smithy.APIError
	if errors.As(err, &api) {
		code = api.ErrorCode()
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	return code, status
}

// refusing refuses to open anything, as a folder the process may not read
// does.
type refusing struct{}

func (refusing) Open(ctx context.Context, key string) (io.ReadCloser, int64, error) {
	return nil, 0, &fs.PathError{Op: "open", Path: key, Err: fs.ErrPermission}
}

// TestMountErrorKinds checks that a mounted backend's failures are
// answered with S3's answers to their kinds, which the S3 backend reading
// the bucket classifies back to the same kinds: a kind survives the trip
// over HTTP.
func TestMountErrorKinds(t *testing.T) {
	objs := map[string][]byte{"a/k": []byte("hello")}
	injecting := func(f Fault) dataset.Backend {
		return NewInjector(Faults{{Fault: f, Rate: 1}}, 1).Backend(mem.New(objs))
	}
	// The emulator's backend admits one read of a/ per 100 s: the second
	// is refused.
	limited := NewEmulator(Profile{Name: "tiny", PrefixRate: 0.01}, 1).Backend(mem.New(objs))
	if rc, _, err := limited.Open(t.Context(), "a/k"); err != nil {
		t.Fatal(err)
	} else {
		rc.Close()
	}
	for _, tc := range []struct {
		name       string
		b          dataset.Backend
		key        string
		wantCode   string
		wantStatus int
		want       dataset.ErrorKind
	}{
		{"missing key", mem.New(objs), "a/missing", "NoSuchKey", http.StatusNotFound, dataset.KindNotFound},
		{"injected slowdown", injecting(FaultSlowDown), "a/k", "SlowDown", http.StatusServiceUnavailable, dataset.KindThrottled},
		{"injected internal error", injecting(FaultInternal), "a/k", "InternalError", http.StatusInternalServerError, dataset.KindTransient},
		{"injected reset", injecting(FaultReset), "a/k", "InternalError", http.StatusInternalServerError, dataset.KindTransient},
		{"over the prefix rate", limited, "a/k", "SlowDown", http.StatusServiceUnavailable, dataset.KindThrottled},
		{"refused", refusing{}, "a/k", "AccessDenied", http.StatusForbidden, dataset.KindPermanent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, sb := mountedBackend(t, tc.b)
			_, err := f.Client.GetObject(t.Context(), &s3.GetObjectInput{Bucket: aws.String(mountBucket), Key: aws.String(tc.key)})
			if err == nil {
				t.Fatal("GET succeeded, want an error")
			}
			if code, status := apiCode(err); code != tc.wantCode || status != tc.wantStatus {
				t.Errorf("GET answered %d %s, want %d %s", status, code, tc.wantStatus, tc.wantCode)
			}
			if got := sb.ErrorKind(err); got != tc.want {
				t.Errorf("S3 backend's ErrorKind(%v) = %v, want %v", err, got, tc.want)
			}
		})
	}
}

// TestMountObjects reads objects of a synthetic dataset of 1,000 keys and
// 7 bodies through the real client: GET, HEAD, ranges, conditional GETs
// and missing keys.
func TestMountObjects(t *testing.T) {
	t.Parallel()
	s := Synth{N: 1000, Seed: 1, Bodies: 7, Prefix: "train/"}
	v, err := s.View(synthBodies(t, s))
	if err != nil {
		t.Fatal(err)
	}
	before := time.Now().Add(-time.Second)
	f, sb := mountedBackend(t, v)
	ctx := t.Context()
	store := dataset.NewStore(sb)
	etags := map[string]bool{}
	for _, i := range []int{0, 6, 7, 500, 999} {
		key := s.Key(i)
		got, _, err := store.Read(ctx, key, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, s.Item(i)) {
			t.Errorf("GET %s: %d bytes differ from Item(%d)", key, len(got), i)
		}
		in := &s3.GetObjectInput{Bucket: aws.String(mountBucket), Key: aws.String(key)}
		get, err := f.Client.GetObject(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		get.Body.Close()
		head, err := f.Client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(mountBucket), Key: aws.String(key)})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := aws.ToInt64(head.ContentLength), int64(s.Size(i)); got != want {
			t.Errorf("HEAD %s: Content-Length %d, want %d", key, got, want)
		}
		if got := aws.ToString(head.ContentType); got != "image/jpeg" {
			t.Errorf("HEAD %s: Content-Type %q, want image/jpeg", key, got)
		}
		etag := aws.ToString(head.ETag)
		if len(etag) != 34 || etag[0] != '"' || etag != aws.ToString(get.ETag) {
			t.Errorf("HEAD %s: ETag %s, GET: ETag %s; want the same quoted 32 hex digits", key, etag, aws.ToString(get.ETag))
		}
		if etags[etag] {
			t.Errorf("HEAD %s: ETag %s, the same as another key's", key, etag)
		}
		etags[etag] = true
		lm := aws.ToTime(head.LastModified)
		if lm.Before(before) || lm.After(time.Now()) || !lm.Equal(aws.ToTime(get.LastModified)) {
			t.Errorf("HEAD %s: Last-Modified %v, GET: %v; want the same time of the mount", key, lm, aws.ToTime(get.LastModified))
		}

		// A range, and conditional requests against the ETag.
		in.Range = aws.String("bytes=100-199")
		part, err := f.Client.GetObject(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(part.Body)
		part.Body.Close()
		if err != nil || !bytes.Equal(body, s.Item(i)[100:200]) {
			t.Errorf("GET %s bytes=100-199: got %d bytes, %v; want bytes 100 to 199 of the item", key, len(body), err)
		}
		in.Range, in.IfNoneMatch = nil, aws.String(etag)
		if _, err := f.Client.GetObject(ctx, in); err == nil {
			t.Errorf("GET %s If-None-Match its ETag succeeded, want 304 Not Modified", key)
		} else if _, status := apiCode(err); status != http.StatusNotModified {
			t.Errorf("GET %s If-None-Match its ETag: status %d, want 304", key, status)
		}
		in.IfNoneMatch, in.IfMatch = nil, aws.String(`"0123"`)
		if _, err := f.Client.GetObject(ctx, in); err == nil {
			t.Errorf("GET %s If-Match another ETag succeeded, want 412", key)
		} else if _, status := apiCode(err); status != http.StatusPreconditionFailed {
			t.Errorf("GET %s If-Match another ETag: status %d, want 412", key, status)
		}
	}

	for _, key := range []string{s.Key(999) + "x", "train/ILSVRC2012_val_00001001.JPEG", "val/ILSVRC2012_val_00000001.JPEG", "train/"} {
		if _, _, err := store.Read(ctx, key, nil); !errors.Is(err, dataset.ErrNotFound) {
			t.Errorf("GET %s: error %v, want ErrNotFound", key, err)
		}
		_, err := f.Client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(mountBucket), Key: aws.String(key)})
		var nsk *types.NoSuchKey
		if !errors.As(err, &nsk) {
			t.Errorf("GET %s: error %v, want NoSuchKey", key, err)
		}
		_, err = f.Client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(mountBucket), Key: aws.String(key)})
		if _, status := apiCode(err); status != http.StatusNotFound {
			t.Errorf("HEAD %s: error %v, want 404", key, err)
		}
	}
}

// listAll lists the mounted bucket with ListObjectsV2 pages of maxKeys,
// following the continuation tokens, and returns the keys and common
// prefixes, checking every page on the way.
func listAll(t *testing.T, client *s3.Client, in s3.ListObjectsV2Input) (keys, prefixes []string, sizes map[string]int64) {
	t.Helper()
	in.Bucket = aws.String(mountBucket)
	sizes = map[string]int64{}
	for page := 0; ; page++ {
		out, err := client.ListObjectsV2(t.Context(), &in)
		if err != nil {
			t.Fatalf("ListObjectsV2 page %d: %v", page, err)
		}
		n := len(out.Contents) + len(out.CommonPrefixes)
		if got := aws.ToInt32(out.KeyCount); int(got) != n {
			t.Errorf("page %d: KeyCount %d, want %d", page, got, n)
		}
		if max := aws.ToInt32(in.MaxKeys); max > 0 && n > int(max) {
			t.Errorf("page %d: %d keys and prefixes, want at most max-keys %d", page, n, max)
		}
		for _, o := range out.Contents {
			k := aws.ToString(o.Key)
			keys = append(keys, k)
			sizes[k] = aws.ToInt64(o.Size)
			if aws.ToString(o.ETag) == "" || o.LastModified == nil {
				t.Errorf("page %d: %s has no ETag or Last-Modified", page, k)
			}
		}
		for _, p := range out.CommonPrefixes {
			prefixes = append(prefixes, aws.ToString(p.Prefix))
		}
		if !aws.ToBool(out.IsTruncated) {
			return keys, prefixes, sizes
		}
		if n == 0 || aws.ToString(out.NextContinuationToken) == "" {
			t.Fatalf("page %d: truncated with %d keys and token %q", page, n, aws.ToString(out.NextContinuationToken))
		}
		in.ContinuationToken = out.NextContinuationToken
		in.StartAfter = nil
	}
}

// wantList lists keys as S3 does: those with prefix after startAfter,
// those holding delimiter after the prefix rolled up into common prefixes.
func wantList(keys []string, prefix, delimiter, startAfter string) (contents, prefixes []string) {
	for _, k := range slices.Sorted(slices.Values(keys)) {
		if !strings.HasPrefix(k, prefix) || k <= startAfter {
			continue
		}
		if i := strings.Index(k[len(prefix):], delimiter); delimiter != "" && i >= 0 {
			p := k[:len(prefix)+i+len(delimiter)]
			if len(prefixes) == 0 || prefixes[len(prefixes)-1] != p {
				prefixes = append(prefixes, p)
			}
			continue
		}
		contents = append(contents, k)
	}
	return contents, prefixes
}

// TestMountList lists a mounted view (a PageLister) and a mounted mem
// backend (a Lister only) with every combination of the listing's
// parameters, in pages.
func TestMountList(t *testing.T) {
	t.Parallel()
	objects := map[string][]byte{}
	for _, k := range []string{
		"a", "a/1", "a/2", "a/b/1", "a/b/2", "a/c/1", "ab", "b/1", "b/x y+z.jpg", "b/ü/1", "c",
	} {
		objects[k] = []byte(k)
	}
	for i := range 30 {
		k := "d/" + strings.Repeat("x", i%5) + "/" + string(rune('a'+i))
		objects[k] = []byte(k)
	}
	keys := slices.Sorted(maps.Keys(objects))
	tests := []struct {
		name                          string
		prefix, delimiter, startAfter string
		maxKeys                       int32
	}{
		{"all", "", "", "", 0},
		{"pages of 1", "", "", "", 1},
		{"pages of 4", "", "", "", 4},
		{"prefix", "a", "", "", 2},
		{"prefix folder", "a/", "", "", 3},
		{"delimiter", "", "/", "", 0},
		{"delimiter pages of 1", "", "/", "", 1},
		{"delimiter pages of 2 in a prefix", "a/", "/", "", 2},
		{"delimiter not a slash", "d/", "x", "", 2},
		{"start after", "", "", "a/b/1", 3},
		{"start after with delimiter", "", "/", "a/2", 2},
		{"nothing", "z", "/", "", 2},
	}
	backends := []struct {
		name string
		b    dataset.Backend
	}{
		{"view", datasettest.MapView(t, objects)},
		{"mem", mem.New(objects)},
	}
	for _, bk := range backends {
		f, _ := mountedBackend(t, bk.b)
		for _, tc := range tests {
			t.Run(bk.name+"/"+tc.name, func(t *testing.T) {
				in := s3.ListObjectsV2Input{Prefix: aws.String(tc.prefix)}
				if tc.delimiter != "" {
					in.Delimiter = aws.String(tc.delimiter)
				}
				if tc.startAfter != "" {
					in.StartAfter = aws.String(tc.startAfter)
				}
				if tc.maxKeys > 0 {
					in.MaxKeys = aws.Int32(tc.maxKeys)
				}
				gotKeys, gotPrefixes, sizes := listAll(t, f.Client, in)
				wantKeys, wantPrefixes := wantList(keys, tc.prefix, tc.delimiter, tc.startAfter)
				if !slices.Equal(gotKeys, wantKeys) {
					t.Errorf("keys %q, want %q", gotKeys, wantKeys)
				}
				if !slices.Equal(gotPrefixes, wantPrefixes) {
					t.Errorf("common prefixes %q, want %q", gotPrefixes, wantPrefixes)
				}
				for k, n := range sizes {
					if n != int64(len(objects[k])) {
						t.Errorf("%s: size %d, want %d", k, n, len(objects[k]))
					}
				}
			})
		}
	}

	// Keys encoded for encoding-type=url decode to the keys, as a path and
	// as a form value alike.
	f, _ := mountedBackend(t, datasettest.MapView(t, objects))
	out, err := f.Client.ListObjectsV2(t.Context(), &s3.ListObjectsV2Input{
		Bucket: aws.String(mountBucket), Prefix: aws.String("b/"), EncodingType: types.EncodingTypeUrl,
	})
	if err != nil {
		t.Fatal(err)
	}
	var decoded []string
	for _, o := range out.Contents {
		k := aws.ToString(o.Key)
		p, err1 := url.PathUnescape(k)
		q, err2 := url.QueryUnescape(k)
		if err1 != nil || err2 != nil || p != q {
			t.Errorf("encoded key %q decodes to %q as a path and %q as a form value", k, p, q)
		}
		decoded = append(decoded, p)
	}
	if want, _ := wantList(keys, "b/", "", ""); !slices.Equal(decoded, want) {
		t.Errorf("encoding-type=url: keys decode to %q, want %q", decoded, want)
	}
}

// TestMountS3Backend lists and reads a mounted synthetic dataset through
// the S3 backend, as the benchmarks do.
func TestMountS3Backend(t *testing.T) {
	t.Parallel()
	s := Synth{N: 2345, Seed: 1, Bodies: 5}
	v, err := s.View(synthBodies(t, s))
	if err != nil {
		t.Fatal(err)
	}
	_, sb := mountedBackend(t, v)
	entries, err := dataset.NewStore(sb).List(t.Context(), "val/")
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != s.N {
		t.Fatalf("listed %d keys, want %d", len(entries), s.N)
	}
	for i, e := range entries {
		if e.Key != s.Key(i) || e.Size != int64(s.Size(i)) {
			t.Fatalf("entry %d: %s of %d bytes, want %s of %d", i, e.Key, e.Size, s.Key(i), s.Size(i))
		}
	}
}

// TestMountReadOnly checks that a mounted bucket refuses writes as S3
// refuses them, and what it does not serve.
func TestMountReadOnly(t *testing.T) {
	t.Parallel()
	objects := map[string][]byte{"k": []byte("v")}
	f, sb := mountedBackend(t, datasettest.MapView(t, objects))
	ctx := t.Context()
	bucket, key := aws.String(mountBucket), aws.String("k")
	tests := []struct {
		name       string
		call       func() error
		code       string
		wantStatus int
	}{
		{"put", func() error {
			_, err := f.Client.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: key, Body: strings.NewReader("w")})
			return err
		}, "AccessDenied", http.StatusForbidden},
		{"delete", func() error {
			_, err := f.Client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: bucket, Key: key})
			return err
		}, "AccessDenied", http.StatusForbidden},
		{"create bucket", func() error {
			_, err := f.Client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: bucket})
			return err
		}, "BucketAlreadyOwnedByYou", http.StatusConflict},
		{"list version 1", func() error {
			_, err := f.Client.ListObjects(ctx, &s3.ListObjectsInput{Bucket: bucket})
			return err
		}, "NotImplemented", http.StatusNotImplemented},
		{"tagging", func() error {
			_, err := f.Client.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: bucket, Key: key})
			return err
		}, "NotImplemented", http.StatusNotImplemented},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, status := apiCode(tc.call())
			if code != tc.code || status != tc.wantStatus {
				t.Errorf("got %s (%d), want %s (%d)", code, status, tc.code, tc.wantStatus)
			}
		})
	}
	if err := sb.CreateBucket(ctx); err != nil {
		t.Errorf("s3blob's CreateBucket of a mounted bucket: %v, want nil (already owned)", err)
	}
	if _, err := f.Client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: bucket}); err != nil {
		t.Errorf("HeadBucket: %v", err)
	}
	out, err := f.Client.ListBuckets(ctx, &s3.ListBucketsInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Buckets) != 1 || aws.ToString(out.Buckets[0].Name) != mountBucket {
		t.Errorf("ListBuckets lists %d buckets, want the mounted one", len(out.Buckets))
	}
	if got, _, err := dataset.NewStore(sb).Read(ctx, "k", nil); err != nil || string(got) != "v" {
		t.Errorf("Read(k) = %q, %v; want %q", got, err, "v")
	}

	// Unmounted, the bucket is the fake's own again, and empty.
	if err := f.Mount(mountBucket, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := dataset.NewStore(sb).Read(ctx, "k", nil); !errors.Is(err, dataset.ErrNotFound) {
		t.Errorf("Read(k) after unmounting: %v, want ErrNotFound", err)
	}
	if err := f.Mount("x", mem.New(nil)); err == nil {
		t.Errorf("Mount of the invalid bucket name x succeeded, want an error")
	}
}

// TestMountBehindMiddleware checks that faults and emulated latency apply
// to a mounted bucket as they do to the fake's storage.
func TestMountBehindMiddleware(t *testing.T) {
	t.Parallel()
	objects := map[string][]byte{"k": bytes.Repeat([]byte("x"), 1000)}
	f, sb := mountedBackend(t, datasettest.MapView(t, objects))
	ctx := t.Context()
	store, err := dataset.NewStore(sb).WithPolicy(dataset.Policy{Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}

	faults, err := ParseFaults("internal:1")
	if err != nil {
		t.Fatal(err)
	}
	in := NewInjector(faults, 1)
	f.SetFaults(in)
	_, _, err = store.Read(ctx, "k", nil)
	if code, status := apiCode(err); code != "InternalError" || status != http.StatusInternalServerError {
		t.Errorf("Read with internal:1 faults: %v, want an injected 500 InternalError", err)
	}
	if n := in.Injected()[FaultInternal]; n != 1 {
		t.Errorf("injector counted %d faults, want 1", n)
	}
	f.SetFaults(nil)

	const ttfb = 40 * time.Millisecond
	p, err := LookupProfile("fixed-" + ttfb.String())
	if err != nil {
		t.Fatal(err)
	}
	f.SetEmulator(NewEmulator(p, 1))
	for _, op := range []string{"GET", "HEAD"} {
		start := time.Now()
		if op == "GET" {
			_, _, err = store.Read(ctx, "k", nil)
		} else {
			_, err = f.Client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(mountBucket), Key: aws.String("k")})
		}
		if err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d < ttfb {
			t.Errorf("%s with a fixed time to first byte of %v took %v, want at least that", op, ttfb, d)
		}
	}
}
