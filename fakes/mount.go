package fakes

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/johannesboyne/gofakes3"

	"github.com/storagebench/storagebench/dataset"
	"github.com/storagebench/storagebench/dataset/mem"
)

// PageLister is implemented by backends that list their objects a page at
// a time. A bucket mounted on the fake S3 from such a backend
// ([S3.Mount]) answers each page of a listing with one call, where one
// that is only a [dataset.Lister] is listed whole for every page.
type PageLister interface {
	// ListPage returns, sorted by key, up to limit objects whose keys
	// start with prefix and sort after after (every such object when
	// after is "").
	ListPage(ctx context.Context, prefix, after string, limit int) ([]dataset.Entry, error)
}

var _ PageLister = (*mem.View)(nil)

// mountSeq numbers mounts, so that two mounts never share ETags.
var mountSeq atomic.Uint64

// mount is a bucket served from a backend.
type mount struct {
	bucket  string
	b       dataset.Backend
	modTime time.Time // Last-Modified of every object: the mount's time, to the second
	tag     string    // what makes the mount's ETags its own
}

// Mount serves bucket, read-only, from b, in place of the fake's own
// storage, so that a dataset of a million keys sharing a hundred bodies
// (see [Synth.View]) is served at the memory of its bodies, where the
// fake's storage keeps a copy of every object put. A nil b unmounts
// bucket. Mounting replaces any earlier mount of bucket and hides the
// objects the fake holds in it, if any; the bucket is created in the
// fake's storage so that ListBuckets lists it. Requests under way finish
// with the mount they started with.
//
// A mounted bucket sits behind the fake's emulator and fault injection,
// as the fake's storage does, so that latency, bandwidth, capacity and
// faults apply to its objects. It answers, for path-style requests:
//
//   - GET and HEAD of an object: its body through [http.ServeContent]
//     (ranges and conditional requests included; a range starting at or
//     past the object's end is S3's 416 InvalidRange), with Content-Length,
//     Content-Type from the key's extension (binary/octet-stream when it
//     has none known), Last-Modified (the time of the mount) and an ETag
//     (see below); a key b does not have is S3's 404 NoSuchKey, and
//     another failure of b's Open is S3's answer to its kind (503
//     SlowDown when b throttles, see [dataset.Classifier]).
//   - ListObjectsV2 (GET of the bucket with list-type=2): prefix,
//     delimiter, max-keys (at most 1,000), continuation-token,
//     start-after and encoding-type=url, with b's [dataset.Lister]
//     (faster when b is a [PageLister]).
//   - HEAD of the bucket.
//
// Anything else is refused as S3 refuses it: a write with 403
// AccessDenied (CreateBucket with 409 BucketAlreadyOwnedByYou), another
// request, such as ListObjects version 1 or a subresource such as
// ?tagging, with 501 NotImplemented.
//
// An object's ETag identifies it, and changes with every mount: it is a
// digest of the mount, the key and the size, not of the body, which a
// mounted backend never changes. S3's ETag of a single-part upload is the
// MD5 of the body, but MD5 costs about 1.5 ms a megabyte (150 µs on every
// GET of a 100 KB item), which would add to the emulated latency and take
// processor time from the reader under test, and HEAD and listings would
// have to read every body; S3's own ETags of multipart and KMS-encrypted
// objects are not MD5s either. The ETag of an object is the same in HEAD,
// GET and listings, and If-Match and If-None-Match compare against it.
func (f *S3) Mount(bucket string, b dataset.Backend) error {
	if err := gofakes3.ValidateBucketName(bucket); err != nil {
		return fmt.Errorf("fake s3: mount bucket %q: %w", bucket, err)
	}
	if b != nil {
		if err := f.storage.CreateBucket(bucket); err != nil && !gofakes3.HasErrorCode(err, gofakes3.ErrBucketAlreadyExists) {
			return fmt.Errorf("fake s3: mount bucket %q: %w", bucket, err)
		}
	}
	now := time.Now()
	m := &mount{
		bucket:  bucket,
		b:       b,
		modTime: now.UTC().Truncate(time.Second),
		tag:     fmt.Sprintf("%s\x00%d\x00%d", bucket, now.UnixNano(), mountSeq.Add(1)),
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	next := maps.Clone(*f.mounts.Load())
	if b == nil {
		delete(next, bucket)
	} else {
		next[bucket] = m
	}
	f.mounts.Store(&next)
	return nil
}

// serveMounts answers requests for mounted buckets and passes the others
// to the fake's storage.
func (f *S3) serveMounts(w http.ResponseWriter, r *http.Request) {
	bucket, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	m := (*f.mounts.Load())[bucket]
	if m == nil || bucket == "" {
		f.storageHandler.ServeHTTP(w, r)
		return
	}
	m.serveHTTP(w, r, key)
}

// serveHTTP answers a request for the mounted bucket; key is "" for the
// bucket itself.
func (m *mount) serveHTTP(w http.ResponseWriter, r *http.Request, key string) {
	read := r.Method == http.MethodGet || r.Method == http.MethodHead
	switch {
	case key == "" && r.Method == http.MethodPut:
		m.fail(w, r, http.StatusConflict, "BucketAlreadyOwnedByYou", "", "The bucket is mounted and already exists.")
	case !read:
		m.fail(w, r, http.StatusForbidden, "AccessDenied", key, "The bucket is mounted read-only.")
	case key != "":
		m.serveObject(w, r, key)
	case r.Method == http.MethodHead:
		w.Header().Set("X-Amz-Bucket-Region", FakeRegion)
		w.WriteHeader(http.StatusOK)
	case r.URL.Query().Get("list-type") == "2":
		m.serveList(w, r)
	default:
		m.fail(w, r, http.StatusNotImplemented, "NotImplemented", "", "A mounted bucket answers ListObjectsV2 (list-type=2), GET and HEAD of objects, and HEAD of the bucket.")
	}
}

// responseHeaders are the query parameters of a GET of an object that set
// a header of its response, as S3's do.
var responseHeaders = map[string]string{
	"response-cache-control":       "Cache-Control",
	"response-content-disposition": "Content-Disposition",
	"response-content-encoding":    "Content-Encoding",
	"response-content-language":    "Content-Language",
	"response-content-type":        "Content-Type",
	"response-expires":             "Expires",
}

// serveObject answers a GET or HEAD of the object named key.
func (m *mount) serveObject(w http.ResponseWriter, r *http.Request, key string) {
	q := r.URL.Query()
	for p := range q {
		// x-id names the operation for the AWS SDKs' own use.
		if _, ok := responseHeaders[p]; !ok && p != "x-id" {
			m.fail(w, r, http.StatusNotImplemented, "NotImplemented", key, "A mounted bucket does not answer the query parameter "+p+".")
			return
		}
	}
	rc, size, err := m.b.Open(r.Context(), key)
	switch {
	case r.Context().Err() != nil:
		if err == nil {
			rc.Close()
		}
		return // the client went away
	case err != nil:
		m.openError(w, r, key, err)
		return
	}
	defer rc.Close()
	content, ok := rc.(io.ReadSeeker)
	if !ok || size < 0 {
		// ServeContent seeks to answer ranges; read what cannot seek.
		data, err := io.ReadAll(rc)
		if err != nil {
			m.fail(w, r, http.StatusInternalServerError, "InternalError", key, "The mounted backend failed to read the key.")
			return
		}
		content, size = bytes.NewReader(data), int64(len(data))
	}
	h := w.Header()
	if r.Header.Get("If-Range") == "" && unsatisfiable(r.Header.Get("Range"), size) {
		h.Set("Content-Range", "bytes */"+strconv.FormatInt(size, 10))
		m.fail(w, r, http.StatusRequestedRangeNotSatisfiable, "InvalidRange", key, "The requested range is not satisfiable")
		return
	}
	h.Set("ETag", m.etag(key, size))
	h.Set("Content-Type", contentType(key))
	for p, header := range responseHeaders {
		if v := q.Get(p); v != "" {
			h.Set(header, v)
		}
	}
	http.ServeContent(w, r, "", m.modTime, content)
}

// unsatisfiable reports whether the Range header h asks for one range
// starting at or past the end of an object of size bytes (for an empty
// object, any range from an offset), which S3 answers with 416
// InvalidRange: http.ServeContent would answer it with a code of its own.
func unsatisfiable(h string, size int64) bool {
	spec, ok := strings.CutPrefix(h, "bytes=")
	if !ok || strings.Contains(spec, ",") {
		return false
	}
	first, _, ok := strings.Cut(strings.TrimSpace(spec), "-")
	if !ok || first == "" {
		return false // a suffix range, or none
	}
	off, err := strconv.ParseInt(first, 10, 64)
	return err == nil && off >= size
}

// openError answers a GET or HEAD of key whose Open failed with err with
// the S3 answer to the failure's kind, as the mounted backend classifies
// it ([dataset.Classify]): 404 NoSuchKey for a missing key, 400
// InvalidArgument for a refused one, 503 SlowDown for throttling, 403
// AccessDenied for another permanent failure, 500 InternalError for the
// rest.
func (m *mount) openError(w http.ResponseWriter, r *http.Request, key string, err error) {
	if errors.Is(err, dataset.ErrInvalidKey) {
		m.fail(w, r, http.StatusBadRequest, "InvalidArgument", key, "The key is not valid in the mounted backend.")
		return
	}
	switch dataset.Classify(m.b, err) {
	case dataset.KindNotFound:
		m.fail(w, r, http.StatusNotFound, "NoSuchKey", key, "The specified key does not exist.")
	case dataset.KindThrottled:
		m.fail(w, r, throttleStatus, throttleCode, key, "Please reduce your request rate.")
	case dataset.KindPermanent:
		m.fail(w, r, http.StatusForbidden, "AccessDenied", key, "The mounted backend refused to open the key.")
	default:
		m.fail(w, r, http.StatusInternalServerError, "InternalError", key, "The mounted backend failed to open the key.")
	}
}

// contentType returns the type of an object by its key's extension,
// ignoring case, or S3's type for objects stored without one.
func contentType(key string) string {
	if t := mime.TypeByExtension(strings.ToLower(path.Ext(key))); t != "" {
		return t
	}
	return "binary/octet-stream"
}

// etag returns the ETag of the object named key of size bytes.
func (m *mount) etag(key string, size int64) string {
	sum := sha256.Sum256([]byte(m.tag + "\x00" + key + "\x00" + strconv.FormatInt(size, 10)))
	return `"` + hex.EncodeToString(sum[:16]) + `"`
}

// maxListKeys is the most keys and common prefixes one page of a listing
// holds, S3's limit.
const maxListKeys = 1000

// listResult is the body of S3's answer to ListObjectsV2.
type listResult struct {
	XMLName               xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListBucketResult"`
	Name                  string
	Prefix                string
	Delimiter             string `xml:",omitempty"`
	StartAfter            string `xml:",omitempty"`
	ContinuationToken     string `xml:",omitempty"`
	NextContinuationToken string `xml:",omitempty"`
	EncodingType          string `xml:",omitempty"`
	KeyCount              int
	MaxKeys               int
	IsTruncated           bool
	Contents              []listObject
	CommonPrefixes        []listPrefix
}

type listObject struct {
	Key          string
	LastModified string
	ETag         string
	Size         int64
	StorageClass string
}

type listPrefix struct {
	Prefix string
}

// serveList answers ListObjectsV2. A page ends after max-keys keys and
// common prefixes; its continuation token encodes where the next starts.
func (m *mount) serveList(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	res := listResult{
		Name:              m.bucket,
		Prefix:            q.Get("prefix"),
		Delimiter:         q.Get("delimiter"),
		StartAfter:        q.Get("start-after"),
		ContinuationToken: q.Get("continuation-token"),
		MaxKeys:           maxListKeys,
	}
	if s := q.Get("max-keys"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			m.fail(w, r, http.StatusBadRequest, "InvalidArgument", "", "max-keys must be a non-negative integer.")
			return
		}
		res.MaxKeys = min(n, maxListKeys)
	}
	enc := q.Get("encoding-type")
	switch enc {
	case "":
	case "url":
		res.EncodingType = enc
	default:
		m.fail(w, r, http.StatusBadRequest, "InvalidArgument", "", "encoding-type must be url.")
		return
	}
	after := res.StartAfter
	if res.ContinuationToken != "" {
		t, err := base64.RawURLEncoding.DecodeString(res.ContinuationToken)
		if err != nil {
			m.fail(w, r, http.StatusBadRequest, "InvalidArgument", "", "The continuation token provided is incorrect.")
			return
		}
		after = string(t)
	}
	page, err := m.pager(r.Context(), res.Prefix)
	if err != nil {
		m.listError(w, r, err)
		return
	}
	next, err := m.list(r.Context(), &res, page, after)
	if err != nil {
		m.listError(w, r, err)
		return
	}
	if res.IsTruncated {
		res.NextContinuationToken = base64.RawURLEncoding.EncodeToString([]byte(next))
	}
	if enc == "url" {
		res.Prefix, res.Delimiter, res.StartAfter = urlEncode(res.Prefix), urlEncode(res.Delimiter), urlEncode(res.StartAfter)
		for i := range res.Contents {
			res.Contents[i].Key = urlEncode(res.Contents[i].Key)
		}
		for i := range res.CommonPrefixes {
			res.CommonPrefixes[i].Prefix = urlEncode(res.CommonPrefixes[i].Prefix)
		}
	}
	body, err := xml.Marshal(res)
	if err != nil {
		m.fail(w, r, http.StatusInternalServerError, "InternalError", "", "The listing could not be encoded.")
		return
	}
	writeXML(w, http.StatusOK, body)
}

// pageFunc returns a page of a listing, as [PageLister.ListPage] does.
type pageFunc func(ctx context.Context, after string, limit int) ([]dataset.Entry, error)

// pager returns the pages of the listing of prefix: from b's ListPage, or
// else from one call of its List.
func (m *mount) pager(ctx context.Context, prefix string) (pageFunc, error) {
	if pl, ok := m.b.(PageLister); ok {
		return func(ctx context.Context, after string, limit int) ([]dataset.Entry, error) {
			return pl.ListPage(ctx, prefix, after, limit)
		}, nil
	}
	l, ok := m.b.(dataset.Lister)
	if !ok {
		return nil, errors.ErrUnsupported
	}
	all, err := l.List(ctx, prefix)
	if err != nil {
		return nil, err
	}
	return func(_ context.Context, after string, limit int) ([]dataset.Entry, error) {
		i := sort.Search(len(all), func(i int) bool { return all[i].Key > after })
		return all[i:min(len(all), i+limit)], nil
	}, nil
}

// list fills res with the keys and common prefixes that follow after, up
// to res.MaxKeys of them, and returns where the next page starts.
func (m *mount) list(ctx context.Context, res *listResult, page pageFunc, after string) (next string, err error) {
	const pageSize = maxListKeys + 1 // one more than a full page, to see whether it is the last
	lastModified := m.modTime.Format("2006-01-02T15:04:05.000Z")
	for {
		entries, err := page(ctx, after, pageSize)
		if err != nil {
			return "", err
		}
		if len(entries) > 0 && entries[len(entries)-1].Key <= after {
			// A backend that ignores after would have this loop forever.
			return "", fmt.Errorf("listing %q after %q: the backend listed %q again", res.Prefix, after, entries[len(entries)-1].Key)
		}
		skip := "" // a common prefix already listed, whose keys are skipped
		for _, e := range entries {
			if e.Key <= after || !strings.HasPrefix(e.Key, res.Prefix) || skip != "" && strings.HasPrefix(e.Key, skip) {
				continue
			}
			if res.KeyCount == res.MaxKeys {
				res.IsTruncated = true
				return after, nil
			}
			res.KeyCount++
			if i := strings.Index(e.Key[len(res.Prefix):], res.Delimiter); res.Delimiter != "" && i >= 0 {
				skip = e.Key[:len(res.Prefix)+i+len(res.Delimiter)]
				res.CommonPrefixes = append(res.CommonPrefixes, listPrefix{skip})
				// Every key with the prefix sorts before it followed by
				// 0xFF, a byte that UTF-8 never holds.
				after = skip + "\xff"
				continue
			}
			res.Contents = append(res.Contents, listObject{
				Key:          e.Key,
				LastModified: lastModified,
				ETag:         m.etag(e.Key, e.Size),
				Size:         e.Size,
				StorageClass: "STANDARD",
			})
			after = e.Key
		}
		if len(entries) < pageSize {
			return "", nil
		}
	}
}

// listError answers a listing that failed.
func (m *mount) listError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case r.Context().Err() != nil:
		// The client went away.
	case errors.Is(err, errors.ErrUnsupported):
		m.fail(w, r, http.StatusNotImplemented, "NotImplemented", "", "The mounted backend cannot list its objects.")
	default:
		m.fail(w, r, http.StatusInternalServerError, "InternalError", "", "The mounted backend failed to list its objects.")
	}
}

// urlEncode percent-encodes s for encoding-type=url, leaving only the
// unreserved characters of RFC 3986 and the slash, so that both a URL
// path decoder and a form decoder read it back.
func urlEncode(s string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := range len(s) {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', strings.IndexByte("-_.~/", c) >= 0:
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&15])
		}
	}
	return b.String()
}

// mountError is the body of an S3 error answer.
type mountError struct {
	XMLName    xml.Name `xml:"Error"`
	Code       string
	Message    string
	Key        string `xml:",omitempty"`
	BucketName string
	Resource   string
}

// fail answers with an S3 error; a HEAD has the status and no body.
func (m *mount) fail(w http.ResponseWriter, r *http.Request, status int, code, key, msg string) {
	if r.Method == http.MethodHead {
		w.WriteHeader(status)
		return
	}
	body, err := xml.Marshal(mountError{Code: code, Message: msg, Key: key, BucketName: m.bucket, Resource: r.URL.Path})
	if err != nil {
		body = nil // cannot happen: every field is a string
	}
	writeXML(w, status, body)
}

// writeXML answers with an XML document.
func writeXML(w http.ResponseWriter, status int, body []byte) {
	const header = `<?xml version="1.0" encoding="UTF-8"?>` + "\n"
	h := w.Header()
	h.Set("Content-Type", "application/xml")
	h.Set("Content-Length", strconv.Itoa(len(header)+len(body)))
	w.WriteHeader(status)
	io.WriteString(w, header)
	w.Write(body) // the client sees a short body if this fails
}
