package fakes

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/storagebench/storagebench/dataset"
	"github.com/storagebench/storagebench/dataset/mem"
)

func absDuration(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

func TestFixed(t *testing.T) {
	for _, d := range []time.Duration{0, time.Microsecond, 10 * time.Millisecond, time.Hour} {
		t.Run(d.String(), func(t *testing.T) {
			f := Fixed(d)
			for _, q := range []float64{1e-9, 0.01, 0.5, 0.99, 1 - 1e-9} {
				if got := f.Quantile(q); got != d {
					t.Errorf("Quantile(%v) = %v, want %v", q, got, d)
				}
			}
			if got := f.Mean(); got != d {
				t.Errorf("Mean() = %v, want %v", got, d)
			}
			if got, want := f.String(), "fixed("+d.String()+")"; got != want {
				t.Errorf("String() = %q, want %q", got, want)
			}
		})
	}
}

func TestLogNormal(t *testing.T) {
	tests := []struct {
		name             string
		min, median, p99 time.Duration
	}{
		{"seed-s3", 99 * time.Millisecond, 148 * time.Millisecond, 408 * time.Millisecond},
		{"s3", 10 * time.Millisecond, 25 * time.Millisecond, 120 * time.Millisecond},
		{"express", 1 * time.Millisecond, 3 * time.Millisecond, 8 * time.Millisecond},
		{"nvme", 40 * time.Microsecond, 80 * time.Microsecond, 300 * time.Microsecond},
		{"zero-min", 0, time.Second, 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := LogNormal(tt.min, tt.median, tt.p99)
			checks := []struct {
				q    float64
				want time.Duration
			}{{0.5, tt.median}, {0.99, tt.p99}}
			for _, c := range checks {
				if got := d.Quantile(c.q); absDuration(got-c.want) > 2 {
					t.Errorf("Quantile(%v) = %v, want %v", c.q, got, c.want)
				}
			}
			for _, q := range []float64{0, -1, math.NaN(), 1e-300, 1e-12} {
				if got := d.Quantile(q); got < tt.min {
					t.Errorf("Quantile(%v) = %v, want at least min %v", q, got, tt.min)
				}
			}
			for _, q := range []float64{1, 2} {
				if got := d.Quantile(q); got < tt.p99 || got == math.MaxInt64 {
					t.Errorf("Quantile(%v) = %v, want finite and above p99 %v", q, got, tt.p99)
				}
			}
			prev := time.Duration(0)
			for i := 1; i < 1000; i++ {
				q := float64(i) / 1000
				got := d.Quantile(q)
				if got < prev {
					t.Fatalf("Quantile(%v) = %v < Quantile(%v) = %v, want non-decreasing", q, got, float64(i-1)/1000, prev)
				}
				prev = got
			}
			// The analytic mean against a numerical one: the midpoint
			// rule over the quantile function.
			const n = 200_000
			var sum float64
			for i := range n {
				sum += float64(d.Quantile((float64(i) + 0.5) / n))
			}
			numeric := time.Duration(sum / n)
			if got := d.Mean(); math.Abs(float64(got-numeric)) > 0.005*float64(numeric) {
				t.Errorf("Mean() = %v, want %v (numerical) within 0.5%%", got, numeric)
			}
			if got, want := d.String(), "lognormal(min="+tt.min.String(); !strings.HasPrefix(got, want) {
				t.Errorf("String() = %q, want prefix %q", got, want)
			}
		})
	}
}

func TestLogNormalPanics(t *testing.T) {
	tests := []struct {
		name             string
		min, median, p99 time.Duration
	}{
		{"median at min", 10 * time.Millisecond, 10 * time.Millisecond, 20 * time.Millisecond},
		{"p99 at median", 1 * time.Millisecond, 10 * time.Millisecond, 10 * time.Millisecond},
		{"negative min", -1, 10 * time.Millisecond, 20 * time.Millisecond},
		{"reversed", 30 * time.Millisecond, 20 * time.Millisecond, 10 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("LogNormal(%v, %v, %v) did not panic, want a panic", tt.min, tt.median, tt.p99)
				}
			}()
			LogNormal(tt.min, tt.median, tt.p99)
		})
	}
}

func TestSeedS3(t *testing.T) {
	p, err := LookupProfile("seed-s3")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := p.TTFB.Mean(), 166*time.Millisecond; absDuration(got-want) > time.Millisecond {
		t.Errorf("mean = %v, want %v within 1ms", got, want)
	}
	if got, want := p.TTFB.Quantile(0.5), 148*time.Millisecond; absDuration(got-want) > time.Millisecond {
		t.Errorf("median = %v, want %v within 1ms", got, want)
	}
	if got, want := p.TTFB.Quantile(1e-12), 99*time.Millisecond; got < want {
		t.Errorf("Quantile(1e-12) = %v, want at least %v", got, want)
	}
	if got, want := p.MeanLatency(110_000), p.TTFB.Mean(); got != want {
		t.Errorf("MeanLatency(110000) = %v, want the mean TTFB %v (no bandwidth cap)", got, want)
	}
}

func TestProfiles(t *testing.T) {
	var names []string
	for _, p := range Profiles() {
		names = append(names, p.Name)
		if p.Source == "" {
			t.Errorf("profile %q has no Source", p.Name)
		}
	}
	if want := []string{"none", "seed-s3", "s3", "express", "nvme"}; !slices.Equal(names, want) {
		t.Errorf("Profiles() names = %v, want %v", names, want)
	}
	Profiles()[0].Name = "changed"
	if got := Profiles()[0].Name; got != "none" {
		t.Errorf("after changing the returned slice, Profiles()[0].Name = %q, want %q", got, "none")
	}
}

func TestLookupProfile(t *testing.T) {
	tests := []struct {
		name     string
		wantTTFB time.Duration // mean TTFB; checked when wantZero is false
		wantZero bool
	}{
		{name: "none", wantZero: true},
		{name: "seed-s3", wantTTFB: 166 * time.Millisecond},
		{name: "s3", wantTTFB: LogNormal(10*time.Millisecond, 25*time.Millisecond, 120*time.Millisecond).Mean()},
		{name: "express", wantTTFB: LogNormal(1*time.Millisecond, 3*time.Millisecond, 8*time.Millisecond).Mean()},
		{name: "nvme", wantTTFB: LogNormal(40*time.Microsecond, 80*time.Microsecond, 300*time.Microsecond).Mean()},
		{name: "fixed-10ms", wantTTFB: 10 * time.Millisecond},
		{name: "fixed-1.5s", wantTTFB: 1500 * time.Millisecond},
		{name: "fixed-0s", wantZero: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := LookupProfile(tt.name)
			if err != nil {
				t.Fatalf("LookupProfile(%q): %v", tt.name, err)
			}
			if p.Name != tt.name {
				t.Errorf("Name = %q, want %q", p.Name, tt.name)
			}
			if p.Source == "" {
				t.Error("Source is empty")
			}
			if got := p.IsZero(); got != tt.wantZero {
				t.Errorf("IsZero() = %v, want %v", got, tt.wantZero)
			}
			if !tt.wantZero {
				if got := p.TTFB.Mean(); absDuration(got-tt.wantTTFB) > time.Millisecond {
					t.Errorf("TTFB.Mean() = %v, want %v", got, tt.wantTTFB)
				}
			}
		})
	}
}

func TestLookupProfileErrors(t *testing.T) {
	known := []string{"none", "seed-s3", "s3", "express", "nvme", "fixed-<duration>"}
	tests := []struct {
		name      string
		wantKnown bool // whether the message lists the known names
	}{
		{"warp-drive", true},
		{"", true},
		{"S3", true},
		{"fixed-", false},
		{"fixed-ten", false},
		{"fixed--1s", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LookupProfile(tt.name)
			if !errors.Is(err, ErrUnknownProfile) {
				t.Fatalf("LookupProfile(%q) error = %v, want ErrUnknownProfile", tt.name, err)
			}
			msg := err.Error()
			if !strings.Contains(msg, `"`+tt.name+`"`) {
				t.Errorf("error %q does not name %q", msg, tt.name)
			}
			if !tt.wantKnown {
				return
			}
			for _, k := range known {
				if !strings.Contains(msg, k) {
					t.Errorf("error %q does not list %q", msg, k)
				}
			}
		})
	}
}

func TestProfileMeanLatencyAndIsZero(t *testing.T) {
	tests := []struct {
		name     string
		p        Profile
		size     int64
		want     time.Duration
		wantZero bool
	}{
		{"zero", Profile{}, 1 << 20, 0, true},
		{"fixed", Profile{TTFB: Fixed(10 * time.Millisecond)}, 1 << 20, 10 * time.Millisecond, false},
		{"bandwidth only", Profile{Bandwidth: 1e6}, 500_000, 500 * time.Millisecond, false},
		{"both", Profile{TTFB: Fixed(10 * time.Millisecond), Bandwidth: 1e6}, 1_000_000, 1010 * time.Millisecond, false},
		{"unknown size", Profile{TTFB: Fixed(10 * time.Millisecond), Bandwidth: 1e6}, -1, 10 * time.Millisecond, false},
		{"zero fixed", Profile{TTFB: Fixed(0)}, 100, 0, true},
		{"prefix rate only", Profile{PrefixRate: 5500}, 100, 0, false},
		{"link only", Profile{Link: 3.125e9}, 100, 0, false},
		{"knee only", Profile{Knee: 80}, 100, 0, false},
		{"negative capacity", Profile{PrefixRate: -1, Link: -1, Knee: -1}, 100, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.p.MeanLatency(tt.size); got != tt.want {
				t.Errorf("MeanLatency(%d) = %v, want %v", tt.size, got, tt.want)
			}
			if got := tt.p.IsZero(); got != tt.wantZero {
				t.Errorf("IsZero() = %v, want %v", got, tt.wantZero)
			}
		})
	}
}

// drawN returns the next n draws of e.
func drawN(tb testing.TB, e *Emulator, n int) []time.Duration {
	tb.Helper()
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = e.draw()
	}
	return out
}

func TestEmulatorDeterminism(t *testing.T) {
	p := Profile{Name: "s3-like", TTFB: LogNormal(10*time.Millisecond, 25*time.Millisecond, 120*time.Millisecond)}
	a := drawN(t, NewEmulator(p, 1), 200)
	b := drawN(t, NewEmulator(p, 1), 200)
	c := drawN(t, NewEmulator(p, 2), 200)
	if !slices.Equal(a, b) {
		t.Errorf("same seed: draws differ:\n%v\n%v", a, b)
	}
	if slices.Equal(a, c) {
		t.Errorf("seeds 1 and 2: draws are the same, want them to differ")
	}
	if got := NewEmulator(p, 1).Profile().Name; got != p.Name {
		t.Errorf("Profile().Name = %q, want %q", got, p.Name)
	}
}

func TestUnitInOpenInterval(t *testing.T) {
	e := NewEmulator(Profile{}, 7)
	for i := range uint64(100_000) {
		if u := e.unit(i); u <= 0 || u >= 1 {
			t.Fatalf("unit(%d) = %v, want in (0, 1)", i, u)
		}
	}
}

func TestDrawAllocs(t *testing.T) {
	e := NewEmulator(profiles[1], 1)
	if got := testing.AllocsPerRun(1000, func() { e.draw() }); got != 0 {
		t.Errorf("draw allocates %v times, want 0", got)
	}
}

// emuHandler serves body for any request and counts the requests.
type emuHandler struct {
	body    []byte
	calls   atomic.Int64
	flusher atomic.Bool // whether the last ResponseWriter was an http.Flusher
}

func (h *emuHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.calls.Add(1)
	_, ok := w.(http.Flusher)
	h.flusher.Store(ok)
	w.Write(h.body)
}

// serveEmulated serves h on loopback until the test ends.
func serveEmulated(tb testing.TB, h http.Handler) *httptest.Server {
	tb.Helper()
	srv := httptest.NewServer(h)
	tb.Cleanup(srv.Close)
	return srv
}

// doRequest sends one request and returns the response with its body read.
func doRequest(tb testing.TB, method, url string) (*http.Response, []byte) {
	tb.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		tb.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return resp, body
}

func TestMiddlewareDelay(t *testing.T) {
	const delay = 20 * time.Millisecond
	p, err := LookupProfile("fixed-20ms")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		method, path string
		wantDraws    uint64
	}{
		{"GET", "/bucket/key", 1},
		{"GET", "/bucket/val/ILSVRC2012_val_00000001.JPEG?x-id=GetObject", 1},
		{"GET", "/bucket/", 0},
		{"GET", "/bucket?list-type=2", 0},
		{"GET", "/", 0},
		{"HEAD", "/bucket/key", 1},
		{"HEAD", "/bucket/val/ILSVRC2012_val_00000001.JPEG", 1},
		{"HEAD", "/bucket", 0},
		{"HEAD", "/bucket/", 0},
		{"PUT", "/bucket/key", 0},
		{"DELETE", "/bucket/key", 0},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			e := NewEmulator(p, 1)
			h := &emuHandler{body: []byte("hello")}
			srv := serveEmulated(t, e.Middleware(h))
			start := time.Now()
			resp, body := doRequest(t, tt.method, srv.URL+tt.path)
			elapsed := time.Since(start)
			if resp.StatusCode != http.StatusOK {
				t.Errorf("status = %d, want 200", resp.StatusCode)
			}
			if got := h.calls.Load(); got != 1 {
				t.Errorf("handler called %d times, want 1", got)
			}
			if tt.method == "GET" && string(body) != "hello" {
				t.Errorf("body = %q, want %q", body, "hello")
			}
			if got := e.n.Load(); got != tt.wantDraws {
				t.Errorf("draws = %d, want %d", got, tt.wantDraws)
			}
			if tt.wantDraws > 0 && elapsed < delay {
				t.Errorf("request took %v, want at least %v", elapsed, delay)
			}
		})
	}
}

// TestProfileCapacity checks the named profiles' capacity figures.
func TestProfileCapacity(t *testing.T) {
	tests := []struct {
		name       string
		prefixRate float64
		link       float64
		knee       int
		bandwidth  float64
	}{
		{"none", 0, 0, 0, 0},
		{"seed-s3", 5500, 3.125e9, 0, 0},
		{"s3", 5500, 3.125e9, 0, 90e6},
		{"express", 200_000, 3.125e9, 0, 200e6},
		{"nvme", 0, 0, 80, 2.5e9},
		{"fixed-10ms", 0, 0, 0, 0},
	}
	for _, tt := range tests {
		p, err := LookupProfile(tt.name)
		if err != nil {
			t.Fatal(err)
		}
		if p.PrefixRate != tt.prefixRate || p.Link != tt.link || p.Knee != tt.knee || p.Bandwidth != tt.bandwidth {
			t.Errorf("%s: PrefixRate %v, Link %v, Knee %d, Bandwidth %v; want %v, %v, %d, %v",
				tt.name, p.PrefixRate, p.Link, p.Knee, p.Bandwidth, tt.prefixRate, tt.link, tt.knee, tt.bandwidth)
		}
	}
}

func TestProfileString(t *testing.T) {
	tests := []struct {
		name string
		p    Profile
		want string
	}{
		{"zero", Profile{}, "no emulation"},
		{"none", Profile{Name: "none"}, "none: no emulation"},
		{"fixed", Profile{Name: "fixed-10ms", TTFB: Fixed(10 * time.Millisecond)}, "fixed-10ms: time to first byte fixed(10ms)"},
		{"s3", profiles[2], "s3: time to first byte lognormal(min=10ms, median=25ms, p99=120ms), 90 MB/s per request, 5500 GET/HEAD/s per prefix, link 3.125 GB/s"},
		{"nvme", profiles[4], "nvme: time to first byte lognormal(min=40µs, median=80µs, p99=300µs), 2.5 GB/s per request, latency ×n/80 past 80 in flight"},
		{"small link", Profile{Link: 2e6, PrefixRate: 0.5}, "0.5 GET/HEAD/s per prefix, link 2 MB/s"},
		{"tiny bandwidth", Profile{Bandwidth: 512}, "512 B/s per request"},
	}
	for _, tt := range tests {
		if got := tt.p.String(); got != tt.want {
			t.Errorf("%s: String() = %q, want %q", tt.name, got, tt.want)
		}
	}
}

// TestCapacityOnlyProfileWraps checks that a profile with a capacity and
// nothing else still wraps: its limits need the emulator in the path.
func TestCapacityOnlyProfileWraps(t *testing.T) {
	for _, p := range []Profile{{PrefixRate: 1}, {Link: 1e6}, {Knee: 4}} {
		e := NewEmulator(p, 1)
		h := &emuHandler{}
		if got := e.Middleware(h); got == http.Handler(h) {
			t.Errorf("%+v: Middleware(h) = h itself, want the emulator in front", p)
		}
		m := mem.New(nil)
		if got := e.Backend(m); got == dataset.Backend(m) {
			t.Errorf("%+v: Backend(m) = m itself, want the emulator in front", p)
		}
	}
}

func TestMiddlewareZeroProfile(t *testing.T) {
	h := &emuHandler{}
	for _, name := range []string{"none", "fixed-0s"} {
		p, err := LookupProfile(name)
		if err != nil {
			t.Fatal(err)
		}
		if got := NewEmulator(p, 1).Middleware(h); got != http.Handler(h) {
			t.Errorf("%s: Middleware(h) = %T, want h itself", name, got)
		}
	}
}

func TestMiddlewareHeadObject(t *testing.T) {
	const (
		delay  = 50 * time.Millisecond
		bucket = "emulated"
	)
	p, err := LookupProfile("fixed-50ms")
	if err != nil {
		t.Fatal(err)
	}
	e := NewEmulator(p, 1)
	f := startS3(t, S3Options{Emulator: e, Buckets: []string{bucket}})
	ctx := t.Context()
	if _, err := f.Client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String("val/k.JPEG"), Body: strings.NewReader("hello"),
	}); err != nil {
		t.Fatal(err)
	}
	if got := e.n.Load(); got != 0 {
		t.Fatalf("draws after creating a bucket and putting an object = %d, want 0", got)
	}

	start := time.Now()
	out, err := f.Client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("val/k.JPEG")})
	elapsed := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToInt64(out.ContentLength); got != 5 {
		t.Errorf("HeadObject content length = %d, want 5", got)
	}
	if elapsed < delay {
		t.Errorf("HeadObject took %v, want at least the profile's %v", elapsed, delay)
	}
	if got := e.n.Load(); got != 1 {
		t.Errorf("draws after HeadObject = %d, want 1", got)
	}

	list, err := f.Client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String("val/")})
	if err != nil {
		t.Fatal(err)
	}
	if got := len(list.Contents); got != 1 {
		t.Errorf("listing holds %d objects, want 1", got)
	}
	if got := e.n.Load(); got != 1 {
		t.Errorf("draws after a listing = %d, want still 1: a listing must not wait", got)
	}
}

func TestMiddlewareBandwidth(t *testing.T) {
	const (
		size = 256 << 10
		bw   = 4e6
		want = 60 * time.Millisecond // 256 KiB at 4 MB/s is 65.5 time.Millisecond
	)
	body := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	e := NewEmulator(Profile{Name: "slow", Bandwidth: bw}, 1)
	h := &emuHandler{body: body}
	srv := serveEmulated(t, e.Middleware(h))
	start := time.Now()
	resp, got := doRequest(t, "GET", srv.URL+"/bucket/key")
	elapsed := time.Since(start)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("status = %d, want 200", resp.StatusCode)
	}
	if !bytes.Equal(got, body) {
		t.Errorf("body: got %d bytes, want the %d bytes served", len(got), len(body))
	}
	if elapsed < want {
		t.Errorf("%d bytes at %v B/s took %v, want at least %v", size, bw, elapsed, want)
	}
	if !h.flusher.Load() {
		t.Error("the paced ResponseWriter is not an http.Flusher")
	}
}

func TestMiddlewareCancel(t *testing.T) {
	e := NewEmulator(Profile{Name: "stuck", TTFB: Fixed(10 * time.Second)}, 1)
	inner := &emuHandler{body: []byte("late")}
	mw := e.Middleware(inner)
	arrived := make(chan struct{})
	returned := make(chan struct{})
	srv := serveEmulated(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		mw.ServeHTTP(w, r)
		close(returned)
	}))

	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", srv.URL+"/bucket/key", nil)
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	<-arrived
	start := time.Now()
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("client error = %v, want context.Canceled", err)
	}
	<-returned
	if elapsed, limit := time.Since(start), 5*time.Second; elapsed > limit {
		t.Errorf("middleware returned %v after the client went away, want under %v", elapsed, limit)
	}
	if got := inner.calls.Load(); got != 0 {
		t.Errorf("handler called %d times, want 0", got)
	}
}

// openOnlyBackend is a backend with neither List, Put nor Delete.
type openOnlyBackend struct{ dataset.Backend }

func TestBackendDelay(t *testing.T) {
	const delay = 20 * time.Millisecond
	data := []byte("an object")
	p, err := LookupProfile("fixed-20ms")
	if err != nil {
		t.Fatal(err)
	}
	e := NewEmulator(p, 1)
	store := dataset.NewStore(e.Backend(mem.New(map[string][]byte{"k": data})))
	start := time.Now()
	got, timing, err := store.Read(context.Background(), "k", nil)
	elapsed := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Errorf("read %q, want %q", got, data)
	}
	if elapsed < delay || timing.TTFB < delay {
		t.Errorf("read took %v (TTFB %v), want at least %v", elapsed, timing.TTFB, delay)
	}
	if got := e.n.Load(); got != 1 {
		t.Errorf("draws = %d, want 1", got)
	}
}

func TestBackendBandwidth(t *testing.T) {
	const (
		size = 256 << 10
		bw   = 4e6
		want = 60 * time.Millisecond // 256 KiB at 4 MB/s is 65.5 time.Millisecond
	)
	data := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	e := NewEmulator(Profile{Name: "slow", Bandwidth: bw}, 1)
	store := dataset.NewStore(e.Backend(mem.New(map[string][]byte{"k": data})))
	start := time.Now()
	got, _, err := store.Read(context.Background(), "k", nil)
	elapsed := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Errorf("read %d bytes, want the %d stored", len(got), len(data))
	}
	if elapsed < want {
		t.Errorf("%d bytes at %v B/s took %v, want at least %v", size, bw, elapsed, want)
	}
}

func TestBackendErrors(t *testing.T) {
	tests := []struct {
		name    string
		p       Profile
		key     string
		want    error
		wantNot error
	}{
		{"not found", Profile{TTFB: Fixed(time.Millisecond)}, "missing", dataset.ErrNotFound, ErrInjected},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := NewEmulator(tt.p, 1).Backend(mem.New(map[string][]byte{"k": []byte("x")}))
			rc, _, err := b.Open(context.Background(), tt.key)
			if err == nil {
				rc.Close()
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("Open(%q) error = %v, want %v", tt.key, err, tt.want)
			}
			if errors.Is(err, tt.wantNot) {
				t.Errorf("Open(%q) error = %v, want not %v", tt.key, err, tt.wantNot)
			}
			_, _, err = dataset.NewStore(b).Read(context.Background(), tt.key, nil)
			if !errors.Is(err, tt.want) {
				t.Errorf("Store.Read(%q) error = %v, want %v", tt.key, err, tt.want)
			}
		})
	}
}

func TestBackendCancel(t *testing.T) {
	const limit = 5 * time.Second // well under the 10 s profile
	tests := []struct {
		name        string
		cancelAfter time.Duration // after Open; 0 cancels before the first Read
	}{
		{"cancelled before the first read", 0},
		{"cancelled during the wait", 10 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := NewEmulator(Profile{TTFB: Fixed(10 * time.Second)}, 1).Backend(mem.New(map[string][]byte{"k": []byte("x")}))
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			rc, size, err := b.Open(ctx, "k")
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			if size != 1 {
				t.Errorf("size = %d, want 1", size)
			}
			start := time.Now()
			if tt.cancelAfter == 0 {
				cancel()
			} else {
				// Cancelling before or during the wait are both right.
				time.AfterFunc(tt.cancelAfter, cancel)
			}
			n, err := rc.Read(make([]byte, 8))
			if elapsed := time.Since(start); elapsed > limit {
				t.Errorf("Read returned after %v, want under %v", elapsed, limit)
			}
			if n != 0 || !errors.Is(err, context.Canceled) {
				t.Errorf("Read = %d, %v; want 0, context.Canceled", n, err)
			}
		})
	}
}

func TestBackendOptionalInterfaces(t *testing.T) {
	ctx := context.Background()
	e := NewEmulator(Profile{TTFB: Fixed(time.Millisecond)}, 1)

	b := e.Backend(mem.New(map[string][]byte{"a/1": []byte("one")}))
	w, ok := b.(dataset.Writer)
	if !ok {
		t.Fatal("wrapped mem backend is not a dataset.Writer")
	}
	if err := w.Put(ctx, "a/2", []byte("two")); err != nil {
		t.Fatalf("Put: %v", err)
	}
	l, ok := b.(dataset.Lister)
	if !ok {
		t.Fatal("wrapped mem backend is not a dataset.Lister")
	}
	entries, err := l.List(ctx, "a/")
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	want := []dataset.Entry{{Key: "a/1", Size: 3}, {Key: "a/2", Size: 3}}
	if !slices.Equal(entries, want) {
		t.Errorf("List = %v, want %v", entries, want)
	}
	got, _, err := dataset.NewStore(b).Read(ctx, "a/2", nil)
	if err != nil || string(got) != "two" {
		t.Errorf("Read(a/2) = %q, %v; want %q, nil", got, err, "two")
	}
	d, ok := b.(dataset.Deleter)
	if !ok {
		t.Fatal("wrapped mem backend is not a dataset.Deleter")
	}
	if err := d.Delete(ctx, "a/1"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if err := d.Delete(ctx, "a/1"); !errors.Is(err, dataset.ErrNotFound) {
		t.Errorf("Delete of a deleted key: error = %v, want ErrNotFound", err)
	}

	bare := e.Backend(openOnlyBackend{mem.New(nil)})
	if _, err := bare.(dataset.Lister).List(ctx, ""); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("List on a backend without List: error = %v, want errors.ErrUnsupported", err)
	}
	if err := bare.(dataset.Writer).Put(ctx, "k", nil); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("Put on a backend without Put: error = %v, want errors.ErrUnsupported", err)
	}
	if err := bare.(dataset.Deleter).Delete(ctx, "k"); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("Delete on a backend without Delete: error = %v, want errors.ErrUnsupported", err)
	}
}

func TestBackendZeroProfile(t *testing.T) {
	m := mem.New(nil)
	if got := NewEmulator(Profile{}, 1).Backend(m); got != dataset.Backend(m) {
		t.Errorf("Backend(m) = %T, want m itself", got)
	}
}

func BenchmarkDraw(b *testing.B) {
	e := NewEmulator(profiles[1], 1)
	b.ReportAllocs()
	for b.Loop() {
		e.draw()
	}
}

// TestLateness checks the emulator's correction for late timers: it
// follows the wakes it is shown, ignores the impossible and the
// outlandish, and never asks a sleep to end more than maxLateness early.
func TestLateness(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name    string
		samples []time.Duration
		want    time.Duration // after the samples, within a microsecond
	}{
		{"none", nil, 0},
		{"one", []time.Duration{ms}, ms / latenessGain},
		{"negative ignored", []time.Duration{-ms, -5 * ms}, 0},
		{"beyond the sample bound ignored", []time.Duration{maxLateSample + 1}, 0},
		{"converges", slices.Repeat([]time.Duration{700 * time.Microsecond}, 400), 700 * time.Microsecond},
		{"capped", slices.Repeat([]time.Duration{maxLateSample}, 400), maxLateness},
		{"follows down", append(slices.Repeat([]time.Duration{ms}, 400), slices.Repeat([]time.Duration{0}, 400)...), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var l lateness
			for _, s := range tt.samples {
				l.observe(s)
			}
			if got := l.get(); got < tt.want-time.Microsecond || got > tt.want+time.Microsecond {
				t.Errorf("after %d samples: %v, want %v", len(tt.samples), got, tt.want)
			}
		})
	}
	var none *lateness
	none.observe(ms)
	if got := none.get(); got != 0 {
		t.Errorf("nil lateness: %v, want 0", got)
	}
}

// TestSleepUntilCorrected checks that a sleep never ends before its due
// instant, however large the correction, and that one that woke early
// counts how it waited out the rest; and that it ends at once when its
// context is done.
func TestSleepUntilCorrected(t *testing.T) {
	for _, tc := range []struct {
		name  string
		late  time.Duration
		sleep time.Duration
	}{
		{"the largest correction", maxLateness, 5 * time.Millisecond},
		{"a correction past the sleep", maxLateness, time.Millisecond},
		{"a correction to spin out", maxSpin / 2, 3 * time.Millisecond},
		{"no correction", 0, time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var l lateness
			l.ns.Store(int64(tc.late))
			p := &pacer{late: &l}
			for range 5 {
				due := time.Now().Add(tc.sleep)
				if err := p.sleepUntil(t.Context(), due); err != nil {
					t.Fatal(err)
				}
				if now := time.Now(); now.Before(due) {
					t.Errorf("woke %v before the due instant", due.Sub(now))
				}
				l.ns.Store(int64(tc.late)) // as the wake moved it
			}
			early := l.spins.Load() + l.resleeps.Load()
			if tc.late == 0 && early != 0 {
				t.Errorf("%d early wakes with no correction", early)
			}
			if tc.late > tc.sleep && early == 0 {
				// Asked to end before it began, every sleep wakes early.
				t.Errorf("no early wake counted, corrected by %v for sleeps of %v", tc.late, tc.sleep)
			}
		})
	}
	var l lateness
	p := &pacer{late: &l}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := p.sleepUntil(ctx, time.Now().Add(time.Hour)); !errors.Is(err, context.Canceled) {
		t.Errorf("sleep with a cancelled context: %v, want context.Canceled", err)
	}
}

// TestStratified checks the stratified draws: each block of requests takes
// one quantile from each stratum, in an order that differs between blocks
// and is not the strata's own, so that no run of requests is all slow.
func TestStratified(t *testing.T) {
	for _, seed := range []uint64{1, 42, 1 << 40} {
		e := NewEmulator(Profile{}, seed)
		var orders [][]uint64
		for block := range uint64(4) {
			seen := make([]bool, strata)
			var order []uint64
			for i := range uint64(strata) {
				u := e.stratified(block*strata + i)
				if u <= 0 || u >= 1 {
					t.Fatalf("seed %d, request %d: quantile %v outside (0, 1)", seed, block*strata+i, u)
				}
				s := uint64(u * strata)
				if seen[s] {
					t.Fatalf("seed %d, block %d: stratum %d drawn twice", seed, block, s)
				}
				seen[s] = true
				order = append(order, s)
			}
			// Half the block in order would be a run of slow requests.
			ascending := 0
			for i := 1; i < len(order); i++ {
				if order[i] > order[i-1] {
					ascending++
				}
			}
			if ascending < strata/4 || ascending > 3*strata/4 {
				t.Errorf("seed %d, block %d: %d of %d steps ascending, want a shuffled order", seed, block, ascending, strata-1)
			}
			orders = append(orders, order)
		}
		if slices.Equal(orders[0], orders[1]) {
			t.Errorf("seed %d: blocks 0 and 1 share their order", seed)
		}
	}
	// The mean of the draws of a short run is the profile's.
	p, err := LookupProfile("s3")
	if err != nil {
		t.Fatal(err)
	}
	e := NewEmulator(p, 7)
	var sum time.Duration
	const n = 4 * strata
	for range n {
		d := e.draw()
		sum += d
	}
	mean, want := sum/n, p.TTFB.Mean()
	if diff := math.Abs(float64(mean-want)) / float64(want); diff > 0.01 {
		t.Errorf("s3, %d draws: mean %v, want within 1%% of the profile's %v", n, mean, want)
	}
}
