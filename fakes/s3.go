package fakes

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/storagebench/storagebench/dataset/s3blob"
)

// Credentials the fake S3 hands to its clients by default (see
// [S3Options.Credentials]).
const (
	FakeAccessKeyID     = "storagebench"
	FakeSecretAccessKey = "storagebench-fake-secret"
	FakeRegion          = "us-east-1"
)

// S3Options configures a fake S3 server.
type S3Options struct {
	// Addr is the address to listen on; "" means 127.0.0.1:0, a free
	// loopback port.
	Addr string
	// Emulator, when not nil, adds its latency, bandwidth and faults to
	// every object read, and its latency and faults to every HEAD of an
	// object (see [Emulator.Middleware]).
	Emulator *Emulator
	// Faults, when not nil, injects its faults into object reads, in front
	// of the emulator (see [Injector.Middleware]).
	Faults *Injector
	// Buckets are created before StartS3 returns.
	Buckets []string
	// Credentials are the keys the fake's own client signs with and its
	// configuration ([S3.Config]) names; zero for [FakeCredentials].
	Credentials Credentials
	// CheckSignatures makes the fake verify every request's AWS Signature
	// Version 4 against Credentials, in the Authorization header or a
	// presigned URL's query, and answer one it refuses with 403 and S3's
	// code (InvalidAccessKeyId, SignatureDoesNotMatch, AccessDenied for an
	// anonymous request, RequestTimeTooSkewed), before anything else
	// sees it. Off, any request is served, signed or not.
	CheckSignatures bool
	// Observer, when not nil, counts every request the fake answers
	// (refused ones included), and the fake serves its metrics to an
	// unsigned GET /metrics, in Prometheus' text format: a bucket named
	// "metrics" is reached by signed requests only.
	Observer *Observer
}

// S3 is a fake S3 server (github.com/johannesboyne/gofakes3 with its
// in-memory backend) serving plain HTTP, path-style, on loopback. Buckets
// mounted with [S3.Mount] are served from a [dataset.Backend] instead.
type S3 struct {
	// URL is the endpoint, such as http://127.0.0.1:40123.
	URL string
	// Client is a ready client for URL, built by s3blob.NewClient.
	Client *s3.Client

	srv  *http.Server
	done chan error
	base http.Handler                 // the fake itself: its mounts, then its storage
	cur  atomic.Pointer[http.Handler] // base behind the current emulator and injector

	storage        *s3mem.Backend                    // the fake's own storage
	storageHandler http.Handler                      // gofakes3 serving storage
	mounts         atomic.Pointer[map[string]*mount] // mounted buckets by name; replaced, never changed

	closeOnce sync.Once
	closeErr  error

	creds   Credentials
	auth    *verifier    // nil when signatures are not checked
	obs     *Observer    // nil when nothing is counted
	metrics http.Handler // obs's metrics

	mu  sync.Mutex // guards emu and inj, and orders updates of cur and mounts
	emu *Emulator
	inj *Injector
}

// serveHTTP serves the observer's metrics, or the request through the
// current chain.
func (f *S3) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if f.metrics != nil && r.URL.Path == "/metrics" && r.Method == http.MethodGet &&
		r.Header.Get("Authorization") == "" && !r.URL.Query().Has("X-Amz-Algorithm") {
		f.metrics.ServeHTTP(w, r)
		return
	}
	(*f.cur.Load()).ServeHTTP(w, r)
}

// SetEmulator replaces the emulation in front of the fake; nil removes it.
// Requests under way keep the emulation they started with.
func (f *S3) SetEmulator(e *Emulator) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.emu = e
	f.update()
}

// SetFaults replaces the fault injection in front of the fake and its
// emulation; nil removes it. Requests under way keep what they started
// with.
func (f *S3) SetFaults(in *Injector) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.inj = in
	f.update()
}

// update builds the handler chain: the observer, the signature check,
// then faults, then emulation, then the fake (its mounted buckets, then
// its storage).
func (f *S3) update() {
	h := f.base
	if f.emu != nil {
		h = f.emu.Middleware(h)
	}
	if f.inj != nil {
		h = f.inj.Middleware(h)
	}
	if f.auth != nil {
		h = f.auth.Middleware(h)
	}
	if f.obs != nil {
		h = f.obs.Middleware(h)
	}
	f.cur.Store(&h)
}

// StartS3 starts a fake S3 server. The caller must Close it; tests use
// fakestest.NewS3, which does.
func StartS3(ctx context.Context, opts S3Options) (*S3, error) {
	addr := opts.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("fake s3: %w", err)
	}
	f := &S3{
		URL:     "http://" + ln.Addr().String(),
		done:    make(chan error, 1),
		storage: s3mem.New(),
	}
	f.storageHandler = gofakes3.New(f.storage,
		gofakes3.WithLogger(gofakes3.DiscardLog()),
		gofakes3.WithoutVersioning(),
	).Server()
	f.mounts.Store(&map[string]*mount{})
	f.base = http.HandlerFunc(f.serveMounts)
	f.creds = opts.Credentials
	if f.creds == (Credentials{}) {
		f.creds = FakeCredentials
	}
	if f.creds.AccessKeyID == "" || f.creds.SecretAccessKey == "" {
		ln.Close()
		return nil, errors.New("fake s3: credentials need both an access key id and a secret key")
	}
	if opts.CheckSignatures {
		f.auth = newVerifier(f.creds)
	}
	if opts.Observer != nil {
		f.obs, f.metrics = opts.Observer, opts.Observer.Handler()
	}
	f.emu, f.inj = opts.Emulator, opts.Faults
	f.update()
	// The server's own complaints (a client gone mid-response, say) are
	// dropped: a library never prints.
	f.srv = &http.Server{Handler: http.HandlerFunc(f.serveHTTP), ErrorLog: log.New(io.Discard, "", 0)}
	go func() { f.done <- f.srv.Serve(ln) }()
	f.Client, err = s3blob.NewClient(ctx, f.Config(""))
	if err == nil {
		for _, b := range opts.Buckets {
			if err = f.CreateBucket(ctx, b); err != nil {
				break
			}
		}
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// Config returns a seed-format configuration for the fake, reading bucket.
func (f *S3) Config(bucket string) s3blob.Config {
	return s3blob.Config{
		AccessKeyID:     f.creds.AccessKeyID,
		SecretAccessKey: f.creds.SecretAccessKey,
		Bucket:          bucket,
		EndpointURL:     f.URL,
		Region:          FakeRegion,
		UsePathStyle:    true,
	}
}

// CreateBucket creates a bucket on the fake.
func (f *S3) CreateBucket(ctx context.Context, name string) error {
	if _, err := f.Client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		return fmt.Errorf("fake s3: create bucket %q: %w", name, err)
	}
	return nil
}

// Close stops the server at once, closing open connections. Closing it
// again returns what the first Close did.
func (f *S3) Close() error {
	f.closeOnce.Do(func() {
		err := f.srv.Close()
		if serr := <-f.done; !errors.Is(serr, http.ErrServerClosed) && err == nil {
			err = serr
		}
		f.closeErr = err
	})
	return f.closeErr
}
