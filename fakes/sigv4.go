package fakes

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Credentials are the keys a fake S3 accepts: a request must be signed
// with them (AWS Signature Version 4), as S3 requires.
type Credentials struct {
	AccessKeyID     string
	SecretAccessKey string
}

// FakeCredentials are the keys [S3Options] default to.
var FakeCredentials = Credentials{AccessKeyID: FakeAccessKeyID, SecretAccessKey: FakeSecretAccessKey}

// maxSkew is how far a signed request's time may be from the server's, as
// S3 allows.
const maxSkew = 15 * time.Minute

// authError is an S3 error answer to a request whose credentials are
// refused.
type authError struct {
	status  int
	code    string // S3's error code, such as SignatureDoesNotMatch
	message string
}

// verifier checks the SigV4 signature of every request, in the
// Authorization header or in a presigned URL's query, against one pair of
// keys. What it does not check: the body against a signed payload hash
// (the hash itself is signed), and the signatures of a streaming upload's
// chunks.
type verifier struct {
	creds Credentials
	skew  atomic.Int64 // added to the clock, in nanoseconds: tests move it
	keys  sync.Map     // signing keys by scope, "date/region/service"
}

// newVerifier returns a verifier of requests signed with creds.
func newVerifier(creds Credentials) *verifier {
	return &verifier{creds: creds}
}

// now returns the verifier's time.
func (v *verifier) now() time.Time { return time.Now().Add(time.Duration(v.skew.Load())) }

// Middleware answers 403, with S3's error code, a request whose
// credentials are refused, and passes the others to next.
func (v *verifier) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if e := v.check(r); e != nil {
			writeAuthError(w, e)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// signed is what a request says of its signature, from its header or its
// query.
type signed struct {
	credential    string // AKID/date/region/service/aws4_request
	signedHeaders string // lower-case names joined by ";"
	signature     string // hex
	amzDate       string // 20060102T150405Z
	payload       string // the payload's hash, or UNSIGNED-PAYLOAD
	presigned     bool
	expires       time.Duration // of a presigned URL
}

// check returns the error S3 would answer r with, or nil for a request
// signed with the verifier's keys.
func (v *verifier) check(r *http.Request) *authError {
	s, e := parseSigned(r)
	if e != nil {
		return e
	}
	scope := strings.Split(s.credential, "/")
	if len(scope) != 5 || scope[4] != "aws4_request" {
		return &authError{http.StatusBadRequest, "AuthorizationHeaderMalformed", fmt.Sprintf("the credential %q is malformed: want AKID/date/region/service/aws4_request", s.credential)}
	}
	if scope[0] != v.creds.AccessKeyID {
		return &authError{http.StatusForbidden, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records."}
	}
	t, err := time.Parse("20060102T150405Z", s.amzDate)
	if err != nil {
		return &authError{http.StatusForbidden, "AccessDenied", fmt.Sprintf("X-Amz-Date %q is not a date such as 20060102T150405Z", s.amzDate)}
	}
	now := v.now()
	switch {
	case s.presigned && now.After(t.Add(s.expires)):
		return &authError{http.StatusForbidden, "AccessDenied", "Request has expired"}
	case !s.presigned && (now.Sub(t) > maxSkew || t.Sub(now) > maxSkew):
		return &authError{http.StatusForbidden, "RequestTimeTooSkewed", "The difference between the request time and the current time is too large."}
	}
	if scope[3] != "s3" {
		return &authError{http.StatusBadRequest, "AuthorizationHeaderMalformed", fmt.Sprintf("the credential names service %q; this is s3", scope[3])}
	}
	if scope[1] != s.amzDate[:8] {
		return &authError{http.StatusBadRequest, "AuthorizationHeaderMalformed", fmt.Sprintf("the credential's date %s is not the request's, %s", scope[1], s.amzDate[:8])}
	}
	canonical := canonicalRequest(r, s)
	sum := sha256.Sum256([]byte(canonical))
	toSign := "AWS4-HMAC-SHA256\n" + s.amzDate + "\n" + strings.Join(scope[1:], "/") + "\n" + hex.EncodeToString(sum[:])
	want := hmacSHA256(v.signingKey(scope[1], scope[2], scope[3]), toSign)
	got, err := hex.DecodeString(s.signature)
	if err != nil || !hmac.Equal(got, want) {
		return &authError{http.StatusForbidden, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided. Check your key and signing method."}
	}
	return nil
}

// parseSigned reads r's signature: from its Authorization header, or from
// the query of a presigned URL. A request with neither is anonymous:
// AccessDenied, as S3 answers one for a bucket that is not public.
func parseSigned(r *http.Request) (signed, *authError) {
	if auth := r.Header.Get("Authorization"); auth != "" {
		rest, ok := strings.CutPrefix(auth, "AWS4-HMAC-SHA256 ")
		if !ok {
			return signed{}, &authError{http.StatusBadRequest, "InvalidRequest", "only AWS Signature Version 4 (AWS4-HMAC-SHA256) is supported"}
		}
		s := signed{amzDate: r.Header.Get("X-Amz-Date"), payload: r.Header.Get("X-Amz-Content-Sha256")}
		for _, part := range strings.Split(rest, ",") {
			k, val, _ := strings.Cut(strings.TrimSpace(part), "=")
			switch k {
			case "Credential":
				s.credential = val
			case "SignedHeaders":
				s.signedHeaders = val
			case "Signature":
				s.signature = val
			}
		}
		if s.credential == "" || s.signedHeaders == "" || s.signature == "" {
			return signed{}, &authError{http.StatusBadRequest, "AuthorizationHeaderMalformed", "the Authorization header lacks Credential, SignedHeaders or Signature"}
		}
		if s.payload == "" {
			return signed{}, &authError{http.StatusBadRequest, "InvalidRequest", "Missing required header for this request: x-amz-content-sha256"}
		}
		return s, nil
	}
	q := r.URL.Query()
	if alg := q.Get("X-Amz-Algorithm"); alg != "" {
		if alg != "AWS4-HMAC-SHA256" {
			return signed{}, &authError{http.StatusBadRequest, "InvalidRequest", "only AWS Signature Version 4 (AWS4-HMAC-SHA256) is supported"}
		}
		s := signed{
			credential: q.Get("X-Amz-Credential"), signedHeaders: q.Get("X-Amz-SignedHeaders"), signature: q.Get("X-Amz-Signature"),
			amzDate: q.Get("X-Amz-Date"), payload: "UNSIGNED-PAYLOAD", presigned: true,
		}
		if p := q.Get("X-Amz-Content-Sha256"); p != "" {
			s.payload = p
		}
		secs, err := strconv.Atoi(q.Get("X-Amz-Expires"))
		if err != nil || secs < 1 || secs > 7*24*3600 {
			return signed{}, &authError{http.StatusBadRequest, "AuthorizationQueryParametersError", "X-Amz-Expires must be a number of seconds from 1 to 604800"}
		}
		s.expires = time.Duration(secs) * time.Second
		return s, nil
	}
	return signed{}, &authError{http.StatusForbidden, "AccessDenied", "Access Denied: anonymous requests are refused (storagebench serve -anonymous accepts them)"}
}

// canonicalRequest returns r's canonical request, as SigV4 signs it for
// S3: the path as sent (S3's signers do not escape it again), the query
// sorted and escaped (less a presigned URL's signature), the signed
// headers, and the payload's hash.
func canonicalRequest(r *http.Request, s signed) string {
	var b strings.Builder
	b.WriteString(r.Method + "\n")
	path := r.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	b.WriteString(path + "\n")
	b.WriteString(canonicalQuery(r.URL.RawQuery, s.presigned) + "\n")
	names := strings.Split(s.signedHeaders, ";")
	for _, name := range names {
		b.WriteString(name + ":" + headerValue(r, name) + "\n")
	}
	b.WriteString("\n" + s.signedHeaders + "\n" + s.payload)
	return b.String()
}

// canonicalQuery returns the query raw, its pairs escaped as SigV4 escapes
// them and sorted; a presigned URL's X-Amz-Signature is left out.
func canonicalQuery(raw string, presigned bool) string {
	if raw == "" {
		return ""
	}
	var pairs [][2]string
	for _, kv := range strings.Split(raw, "&") {
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		// Clients escape spaces as %20 and a plus as %2B: a raw "+" is a
		// plus, not a space, so the path unescaper, not the query's.
		if dk, err := url.PathUnescape(k); err == nil {
			k = dk
		}
		if dv, err := url.PathUnescape(v); err == nil {
			v = dv
		}
		if presigned && k == "X-Amz-Signature" {
			continue
		}
		pairs = append(pairs, [2]string{uriEncode(k), uriEncode(v)})
	}
	slices.SortFunc(pairs, func(a, b [2]string) int {
		if c := strings.Compare(a[0], b[0]); c != 0 {
			return c
		}
		return strings.Compare(a[1], b[1])
	})
	parts := make([]string, len(pairs))
	for i, p := range pairs {
		parts[i] = p[0] + "=" + p[1]
	}
	return strings.Join(parts, "&")
}

// uriEncode escapes every byte of s but the unreserved characters of RFC
// 3986, in upper-case hex, as SigV4 does.
func uriEncode(s string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}

// headerValue returns the value of the header name (lower case) as SigV4
// signs it: its values joined by commas, each trimmed, runs of spaces made
// one. Go moves Host out of the header map, and may hold a request's
// length only in ContentLength.
func headerValue(r *http.Request, name string) string {
	var vals []string
	switch name {
	case "host":
		vals = []string{r.Host}
	default:
		vals = r.Header.Values(name)
		if len(vals) == 0 && name == "content-length" && r.ContentLength >= 0 {
			vals = []string{strconv.FormatInt(r.ContentLength, 10)}
		}
	}
	for i, v := range vals {
		vals[i] = collapseSpaces(v)
	}
	return strings.Join(vals, ",")
}

// collapseSpaces trims the spaces around v and makes each run of spaces
// inside it one, as SigV4 does: spaces only, not tabs or other blanks.
func collapseSpaces(v string) string {
	v = strings.Trim(v, " ")
	if !strings.Contains(v, "  ") {
		return v
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] == ' ' && i > 0 && v[i-1] == ' ' {
			continue
		}
		b.WriteByte(v[i])
	}
	return b.String()
}

// signingKey returns the key that signs requests of one day, region and
// service, derived once.
func (v *verifier) signingKey(date, region, service string) []byte {
	scope := date + "/" + region + "/" + service
	if k, ok := v.keys.Load(scope); ok {
		return k.([]byte)
	}
	k := hmacSHA256([]byte("AWS4"+v.creds.SecretAccessKey), date)
	k = hmacSHA256(k, region)
	k = hmacSHA256(k, service)
	k = hmacSHA256(k, "aws4_request")
	v.keys.Store(scope, k)
	return k
}

// hmacSHA256 returns HMAC-SHA256(key, data).
func hmacSHA256(key []byte, data string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(data))
	return h.Sum(nil)
}

// writeAuthError answers with e as S3 does: its status, and an XML error
// document naming its code.
func writeAuthError(w http.ResponseWriter, e *authError) {
	var msg strings.Builder
	xml.EscapeText(&msg, []byte(e.message))
	writeS3Error(w, e.status, e.code, msg.String())
}
