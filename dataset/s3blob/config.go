package s3blob

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/storagebench/storagebench/dataset"
	"github.com/storagebench/storagebench/reqlog"
)

// Config is the seed's S3 configuration file:
//
//	{
//	  "aws_access_key_id": "...",
//	  "aws_secret_access_key": "...",
//	  "bucket_name": "iarai-playground",
//	  "index_file_download_url": "s3://iarai-playground/scratch/imagenet/index-s3-val.json",
//	  "endpoint_url": "http://127.0.0.1:9000",
//	  "region": "us-east-1",
//	  "use_path_style": true
//	}
//
// The last three fields are optional, and so are "profile" and "faults",
// which "storagebench serve" adds to name the latency profile it emulates
// and the faults it injects. With no keys, the standard AWS credential
// chain applies; with no endpoint_url, AWS_ENDPOINT_URL_S3 and
// AWS_ENDPOINT_URL are honoured. Config's String and GoString methods
// never show the secret key, so printing a Config is safe.
type Config struct {
	AccessKeyID     string `json:"aws_access_key_id,omitempty"`
	SecretAccessKey string `json:"aws_secret_access_key,omitempty"`
	SessionToken    string `json:"aws_session_token,omitempty"`
	Bucket          string `json:"bucket_name"`
	IndexURL        string `json:"index_file_download_url,omitempty"`
	EndpointURL     string `json:"endpoint_url,omitempty"`
	Region          string `json:"region,omitempty"`
	UsePathStyle    bool   `json:"use_path_style,omitempty"`
	// Profile names the latency profile that the store emulates, as
	// "storagebench serve -profile" writes it (see package fakes); empty
	// for a store that emulates nothing. Benchmarks name their results
	// after it and take their bound from it, so that numbers taken from an
	// emulated store say so. s3blob does not interpret it.
	Profile string `json:"profile,omitempty"`
	// Faults names the faults that the store injects into its reads, as
	// "storagebench serve -faults" writes it (such as
	// "slowdown:0.05+stall:0.01", see package fakes); empty for none.
	// Benchmarks name their results after it. s3blob does not interpret
	// it.
	Faults string `json:"faults,omitempty"`
}

// String describes the configuration with its secrets redacted.
func (c Config) String() string {
	redact := func(s string) string {
		if s == "" {
			return `""`
		}
		return "REDACTED"
	}
	return fmt.Sprintf("s3blob.Config{AccessKeyID: %q, SecretAccessKey: %s, SessionToken: %s, Bucket: %q, IndexURL: %q, EndpointURL: %q, Region: %q, UsePathStyle: %v, Profile: %q, Faults: %q}",
		c.AccessKeyID, redact(c.SecretAccessKey), redact(c.SessionToken), c.Bucket, c.IndexURL, c.EndpointURL, c.Region, c.UsePathStyle, c.Profile, c.Faults)
}

// GoString is String, so that %#v redacts too.
func (c Config) GoString() string { return c.String() }

// LoadConfig reads and checks the configuration file at path. Errors name
// the file and never quote the file's content. A file that is not one JSON
// object of the fields above (bad syntax, a value of the wrong type, an
// unknown field, an early end, data after the object) gives an error that
// also names the line and column, such as
// "s3 config /path/s3.json:3:28: json: cannot unmarshal number into Go
// struct field Config.aws_secret_access_key of type string".
func LoadConfig(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("s3 config: %w", err)
	}
	var c Config
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var off int64
	if err = dec.Decode(&c); err != nil {
		off = errorOffset(data, err)
		if err == io.EOF {
			err = io.ErrUnexpectedEOF // an empty file
		}
	} else if off = skip(data, dec.InputOffset(), jsonSpace); off < int64(len(data)) {
		// Decode stops after the object; json.Unmarshal would refuse
		// what follows, and so do we.
		err = errors.New("data after the configuration object")
	}
	if err != nil {
		line, col := dataset.Position(data, off)
		return Config{}, fmt.Errorf("s3 config %s:%d:%d: %w", path, line, col, unknownFieldSafe(err))
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("s3 config %s: %w", path, err)
	}
	return c, nil
}

// unknownFieldSafe returns err, unless it is encoding/json's "unknown
// field" error naming a field that does not look like one (lower-case
// letters and underscores, as every field of the file is): a secret pasted
// where a field name belongs would be quoted in the error. That error is
// replaced by one that does not show the name.
func unknownFieldSafe(err error) error {
	name, ok := strings.CutPrefix(err.Error(), "json: unknown field ")
	if !ok {
		return err
	}
	if n, qerr := strconv.Unquote(name); qerr == nil && len(n) <= 40 && strings.Trim(n, "abcdefghijklmnopqrstuvwxyz_") == "" && n != "" {
		return err
	}
	return errors.New("unknown field, whose name is not shown: it is no field name and may be a secret")
}

// errorOffset returns the byte offset in data of the problem err, returned
// by Decode into a Config, reports: the start of the offending value for a
// value of the wrong type, the start of the offending key for an unknown
// field, and otherwise what [dataset.JSONErrorOffset] finds.
func errorOffset(data []byte, err error) int64 {
	off, ok := dataset.JSONErrorOffset(data, err)
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &te):
		if te.Field == "" { // the file is not an object
			return skip(data, 0, jsonSpace)
		}
		// te.Offset is just past the value's first token: point at the
		// value's start instead, that of the last occurrence of its key.
		for _, m := range members(data) {
			if m.value < te.Offset && strings.EqualFold(m.name, te.Field) {
				off = m.value
			}
		}
	case !ok:
		// By elimination, an unknown field, which encoding/json reports
		// without a position: point at the first key it does not know.
		for _, m := range members(data) {
			if !knownField(m.name) {
				return m.key
			}
		}
	}
	return off
}

// jsonSpace is the white space of JSON.
const jsonSpace = " \t\r\n"

// skip returns the offset of the first byte of data at or after off that is
// not in set, or len(data).
func skip(data []byte, off int64, set string) int64 {
	return int64(len(data) - len(bytes.TrimLeft(data[off:], set)))
}

// member is one key of a JSON object and where it and its value start.
type member struct {
	name       string
	key, value int64 // offsets in the data
}

// members returns the keys of the JSON object in data, in order, as far as
// the data is a valid object.
func members(data []byte) []member {
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil
	}
	var out []member
	for dec.More() {
		start := skip(data, dec.InputOffset(), jsonSpace+",") // past the '{' or the previous value
		tok, err := dec.Token()
		name, ok := tok.(string)
		if err != nil || !ok {
			return out
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return out
		}
		out = append(out, member{name: name, key: start, value: dec.InputOffset() - int64(len(raw))})
	}
	return out
}

// knownField reports whether encoding/json decodes the key name into a
// field of Config. Like encoding/json, it ignores case.
func knownField(name string) bool {
	t := reflect.TypeFor[Config]()
	for i := range t.NumField() {
		tag, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if strings.EqualFold(tag, name) {
			return true
		}
	}
	return false
}

// Validate reports the first thing wrong with c as a configuration file.
func (c Config) Validate() error {
	if c.Bucket == "" {
		return errors.New("bucket_name is missing")
	}
	if c.IndexURL != "" {
		if _, _, err := ParseURL(c.IndexURL); err != nil {
			return fmt.Errorf("index_file_download_url: %w", err)
		}
	}
	return c.validateClient()
}

// validateClient reports the first thing wrong with c's client settings.
func (c Config) validateClient() error {
	if (c.AccessKeyID == "") != (c.SecretAccessKey == "") {
		return errors.New("aws_access_key_id and aws_secret_access_key must be given together")
	}
	if c.EndpointURL != "" {
		u, err := url.Parse(c.EndpointURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("endpoint_url %q is not an http(s) URL", c.EndpointURL)
		}
	}
	return nil
}

// ParseURL splits an s3://bucket/key URL.
func ParseURL(s string) (bucket, key string, err error) {
	rest, ok := strings.CutPrefix(s, "s3://")
	if !ok {
		return "", "", fmt.Errorf("%q is not an s3://bucket/key URL", s)
	}
	bucket, key, _ = strings.Cut(rest, "/")
	if bucket == "" {
		return "", "", fmt.Errorf("%q names no bucket", s)
	}
	return bucket, key, nil
}

// Client settings for loading at high concurrency.
const (
	// MaxIdleConnsPerHost keeps this many connections per host for reuse,
	// so that hundreds of requests in flight do not churn connections (the
	// SDK's default keeps 10).
	MaxIdleConnsPerHost = 1024
	// MaxAttempts bounds the attempts of one request, retries included.
	MaxAttempts = 3
	// MaxBackoff bounds the wait between two attempts.
	MaxBackoff = time.Second
	// DialTimeout bounds the time to open a connection, so an unreachable
	// endpoint fails within seconds.
	DialTimeout = 3 * time.Second
	// ResponseHeaderTimeout bounds the wait for a response's headers.
	ResponseHeaderTimeout = 30 * time.Second
)

// NewClient returns an S3 client configured from c: static credentials
// when c has keys, the standard credential chain otherwise; c's endpoint
// (or AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL); a connection pool sized for
// hundreds of requests in flight; checksums computed and validated only
// when the operation requires them, so third-party stores work without
// warnings; and at most [MaxAttempts] attempts per request, with no
// client-wide retry quota. GETs of objects through [Backend.Open] are not
// retried by the client at all: see the package documentation.
//
// Path-style addressing is used when c asks for it, or when the endpoint's
// host is an IP address or localhost, where virtual-hosted buckets cannot
// resolve. An endpoint so addressed is resolved for each request without
// the SDK's endpoint rules, to what they give there (the endpoint, the
// bucket as the first segment of its path, SigV4 for "s3"): they cost a
// GET 5% of its client CPU.
//
// NewClient ignores c's bucket and index URL.
func NewClient(ctx context.Context, c Config, opts ...ClientOption) (*s3.Client, error) {
	if err := c.validateClient(); err != nil {
		return nil, err
	}
	var opt clientOptions
	for _, set := range opts {
		set(&opt)
	}
	httpClient := awshttp.NewBuildableClient().
		WithDialerOptions(func(d *net.Dialer) { d.Timeout = DialTimeout }).
		WithTransportOptions(func(t *http.Transport) {
			t.MaxIdleConns = MaxIdleConnsPerHost
			t.MaxIdleConnsPerHost = MaxIdleConnsPerHost
			t.ResponseHeaderTimeout = ResponseHeaderTimeout
		})
	loadOpts := []func(*config.LoadOptions) error{
		config.WithHTTPClient(httpClient),
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = MaxAttempts
				o.MaxBackoff = MaxBackoff
				// No client-wide retry quota: at high concurrency a burst of
				// errors would spend it and fail requests outright.
				o.RateLimiter = ratelimit.None
			})
		}),
		config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired),
	}
	if c.Region != "" {
		loadOpts = append(loadOpts, config.WithRegion(c.Region))
	}
	if c.AccessKeyID != "" {
		loadOpts = append(loadOpts, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(c.AccessKeyID, c.SecretAccessKey, c.SessionToken)))
	}
	cfg, err := config.LoadDefaultConfig(ctx, loadOpts...)
	if err != nil {
		return nil, fmt.Errorf("s3 client: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		if c.EndpointURL != "" {
			o.BaseEndpoint = aws.String(c.EndpointURL)
		}
		o.UsePathStyle = c.UsePathStyle || pathStyleHost(aws.ToString(o.BaseEndpoint))
		if o.UsePathStyle && o.BaseEndpoint != nil {
			if r, ok := newPathResolver(*o.BaseEndpoint); ok {
				o.EndpointResolverV2 = r
			}
		}
		if log := opt.log; log != nil {
			// Wrapped here, once the configuration has built its client
			// (a CA bundle from the environment, say).
			o.HTTPClient = reqlog.Client(o.HTTPClient, log, func(r *http.Request) string {
				return awsmiddleware.GetOperationName(r.Context())
			})
		}
	})
	return client, nil
}

// A ClientOption changes what [NewClient] builds.
type ClientOption func(*clientOptions)

type clientOptions struct {
	log *reqlog.Writer
}

// WithRequestLog makes the client write every HTTP request it makes
// (each attempt, listings and the index included) to w, named by the
// SDK's operation; see package reqlog. Without it the client pays nothing
// for logging.
func WithRequestLog(w *reqlog.Writer) ClientOption {
	return func(o *clientOptions) { o.log = w }
}

// pathStyleHost reports whether endpoint's host is an IP address or
// localhost.
func pathStyleHost(endpoint string) bool {
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" {
		return false
	}
	h := u.Hostname()
	return h == "localhost" || net.ParseIP(h) != nil
}
