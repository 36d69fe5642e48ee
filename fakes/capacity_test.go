package fakes

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/storagebench/storagebench/dataset"
	"github.com/storagebench/storagebench/dataset/mem"
)

func TestPrefixOf(t *testing.T) {
	tests := []struct{ key, want string }{
		{"val/ILSVRC2012_val_00000001.JPEG", "val/"},
		{"a/b/c", "a/b/"},
		{"k", ""},
		{"dir/", "dir/"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := prefixOf(tt.key); got != tt.want {
			t.Errorf("prefixOf(%q) = %q, want %q", tt.key, got, tt.want)
		}
	}
}

func TestObjectKey(t *testing.T) {
	tests := []struct{ path, want string }{
		{"/bucket/key", "key"},
		{"/bucket/val/x.JPEG", "val/x.JPEG"},
		{"/bucket/a/b/c", "a/b/c"},
	}
	for _, tt := range tests {
		if got := objectKey(tt.path); got != tt.want {
			t.Errorf("objectKey(%q) = %q, want %q", tt.path, got, tt.want)
		}
	}
}

func TestPrefixBurst(t *testing.T) {
	tests := []struct {
		rate float64
		want int
	}{
		{5500, 550},
		{200_000, 20_000},
		{15, 2},
		{10, 1},
		{0.01, 1},
	}
	for _, tt := range tests {
		if got := prefixBurst(tt.rate); got != tt.want {
			t.Errorf("prefixBurst(%v) = %d, want %d", tt.rate, got, tt.want)
		}
	}
}

// TestPrefixRateFormula offers requests to one prefix at a steady pace on
// an explicit clock and checks that a window T admits
// min(offered, burst + rate·T) of them, within one, and counts the rest
// as throttled.
func TestPrefixRateFormula(t *testing.T) {
	tests := []struct {
		name     string
		rate     float64
		interval time.Duration // between offered requests
		offered  int
	}{
		{"s3 over its rate", 5500, 50 * time.Microsecond, 20_000}, // 20,000/s for 1 s
		{"10/s at 1000/s", 10, time.Millisecond, 2000},            // 2 s
		{"100/s at 1000/s", 100, time.Millisecond, 1000},          // 1 s
		{"under the rate", 100, 20 * time.Millisecond, 50},        // 50/s for 1 s
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c capacity
			c.init(Profile{PrefixRate: tt.rate})
			admitted := 0
			for i := range tt.offered {
				if c.allow("val/k", t0.Add(time.Duration(i)*tt.interval)) == nil {
					admitted++
				}
			}
			window := time.Duration(tt.offered-1) * tt.interval
			want := min(float64(tt.offered), float64(prefixBurst(tt.rate))+tt.rate*window.Seconds())
			if math.Abs(float64(admitted)-want) > 1 {
				t.Errorf("%d requests over %v at %v/s: admitted %d, want min(offered, burst %d + rate·T) = %.1f within 1",
					tt.offered, window, tt.rate, admitted, prefixBurst(tt.rate), want)
			}
			if got, want := c.throttled.Load(), int64(tt.offered-admitted); got != want {
				t.Errorf("throttled = %d, want the %d refused", got, want)
			}
		})
	}
}

// TestPrefixRateRefusalsTakeNothing checks that refused requests leave the
// budget as it was: after any number of refusals, the next token still
// comes 1/rate after the last admission.
func TestPrefixRateRefusalsTakeNothing(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var c capacity
	c.init(Profile{PrefixRate: 10}) // burst 1, a token every 100 ms
	steps := []struct {
		at    time.Duration
		n     int
		admit int
	}{
		{0, 1, 1},
		{0, 100, 0},
		{50 * time.Millisecond, 1000, 0},
		{99 * time.Millisecond, 100, 0},
		{100 * time.Millisecond, 5, 1},
		{150 * time.Millisecond, 5, 0},
		{500 * time.Millisecond, 5, 1}, // the bucket holds one token at most
	}
	for _, s := range steps {
		admitted := 0
		for range s.n {
			if c.allow("a/k", t0.Add(s.at)) == nil {
				admitted++
			}
		}
		if admitted != s.admit {
			t.Errorf("at %v, %d requests: admitted %d, want %d", s.at, s.n, admitted, s.admit)
		}
	}
}

// TestPrefixRateSeparateBudgets checks that each prefix has its own budget.
func TestPrefixRateSeparateBudgets(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var c capacity
	c.init(Profile{PrefixRate: 1}) // burst 1
	tests := []struct {
		key   string
		admit bool
	}{
		{"a/1", true},
		{"a/2", false},
		{"b/1", true},
		{"a/b/1", true},
		{"1", true},
		{"2", false},
		{"b/2", false},
		{"a/b/2", false},
	}
	for _, tt := range tests {
		err := c.allow(tt.key, t0)
		if got := err == nil; got != tt.admit {
			t.Errorf("allow(%q) = %v, want admitted %v", tt.key, err, tt.admit)
		}
	}
}

// s3ErrorBody is the XML error body of an S3 answer.
type s3ErrorBody struct {
	Code string `xml:"Code"`
}

// TestPrefixRateMiddleware checks throttling end to end over loopback:
// GETs and HEADs over a prefix's budget are answered 503 with S3's
// SlowDown code and never reach the handler, other prefixes have their
// own budget, and the backend shares the middleware's budget.
func TestPrefixRateMiddleware(t *testing.T) {
	// One request per prefix per 100 s: the second is refused however
	// slow the machine.
	e := NewEmulator(Profile{Name: "tiny", PrefixRate: 0.01}, 1)
	h := &emuHandler{body: []byte("hello")}
	srv := serveEmulated(t, e.Middleware(h))
	requests := []struct {
		method, path string
		want         int
	}{
		{"GET", "/bucket/a/1", http.StatusOK},
		{"GET", "/bucket/a/2", http.StatusServiceUnavailable},
		{"HEAD", "/bucket/a/1", http.StatusServiceUnavailable},
		{"GET", "/bucket/b/1", http.StatusOK},
		{"GET", "/bucket/k", http.StatusOK},
		{"GET", "/bucket/", http.StatusOK},            // not an object: untouched
		{"PUT", "/bucket/a/3", http.StatusOK},         // not a read: untouched
		{"GET", "/bucket?list-type=2", http.StatusOK}, // a listing: untouched
	}
	for _, r := range requests {
		resp, body := doRequest(t, r.method, srv.URL+r.path)
		if resp.StatusCode != r.want {
			t.Errorf("%s %s: status %d, want %d", r.method, r.path, resp.StatusCode, r.want)
		}
		if r.want != http.StatusServiceUnavailable || r.method == "HEAD" {
			continue
		}
		var e s3ErrorBody
		if err := xml.Unmarshal(body, &e); err != nil || e.Code != "SlowDown" {
			t.Errorf("%s %s: body %q (%v), want an S3 error with code SlowDown", r.method, r.path, body, err)
		}
	}
	if got := e.Throttled(); got != 2 {
		t.Errorf("Throttled() = %d, want 2", got)
	}
	if got := h.calls.Load(); got != 6 {
		t.Errorf("handler called %d times, want 6: refused requests must not reach it", got)
	}
	if got := e.n.Load(); got != 3 {
		t.Errorf("draws = %d, want 3: one per admitted object read", got)
	}

	// The backend shares the budget: prefix a/ is spent, c/ is not.
	b := e.Backend(mem.New(map[string][]byte{"a/x": []byte("x"), "c/x": []byte("x")}))
	if _, _, err := b.Open(t.Context(), "a/x"); dataset.Classify(b, err) != dataset.KindThrottled {
		t.Errorf("backend Open(a/x) after the middleware spent a/: error %v of kind %v, want throttled", err, dataset.Classify(b, err))
	}
	rc, _, err := b.Open(t.Context(), "c/x")
	if err != nil {
		t.Fatalf("backend Open(c/x): %v", err)
	}
	rc.Close()
}

// TestPrefixRateBackend checks the backend's refusal: an error that the
// backend classifies as throttling, that wraps ErrThrottled and not
// ErrInjected, and that names the key, given at once; the backend passes
// the errors of the backend it wraps to that backend's classification.
func TestPrefixRateBackend(t *testing.T) {
	e := NewEmulator(Profile{Name: "tiny", TTFB: Fixed(10 * time.Second), PrefixRate: 0.01}, 1)
	b := e.Backend(mem.New(map[string][]byte{"val/1": []byte("one"), "val/2": []byte("two")}))
	rc, _, err := b.Open(t.Context(), "val/1")
	if err != nil {
		t.Fatal(err)
	}
	rc.Close()

	start := time.Now()
	_, _, err = b.Open(t.Context(), "val/2")
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("refusal took %v, want it at once, before the 10 s time to first byte", elapsed)
	}
	checks := []struct {
		name string
		got  bool
	}{
		{"classified as throttling", dataset.Classify(b, err) == dataset.KindThrottled},
		{"errors.Is ErrThrottled", errors.Is(err, ErrThrottled)},
		{"not errors.Is ErrInjected", !errors.Is(err, ErrInjected)},
		{"names the key", err != nil && strings.Contains(err.Error(), `"val/2"`)},
	}
	for _, c := range checks {
		if !c.got {
			t.Errorf("Open(val/2) error %v: %s is false", err, c.name)
		}
	}
	if _, _, err := b.Open(t.Context(), "other/missing"); dataset.Classify(b, err) != dataset.KindNotFound {
		t.Errorf("Open(other/missing) error %v of kind %v, want the wrapped backend's not found", err, dataset.Classify(b, err))
	}

	// Through a store, one attempt: the classification survives its
	// wrapping.
	s, err := dataset.NewStore(b).WithPolicy(dataset.Policy{Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Read(t.Context(), "val/2", nil); !dataset.Throttled(err) || !errors.Is(err, ErrThrottled) {
		t.Errorf("Store.Read(val/2) error %v, want throttled, wrapping ErrThrottled", err)
	}
	if got := e.Throttled(); got != 2 {
		t.Errorf("Throttled() = %d, want 2", got)
	}
}

func TestKneeScale(t *testing.T) {
	tests := []struct {
		n    int64
		knee int
		want float64
	}{
		{1, 0, 1},
		{1000, 0, 1},
		{1, 4, 1},
		{4, 4, 1},
		{5, 4, 1.25},
		{16, 4, 4},
		{160, 80, 2},
		{81, 80, 81.0 / 80},
	}
	for _, tt := range tests {
		if got := kneeScale(tt.n, tt.knee); math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("kneeScale(%d, %d) = %v, want max(1, n/knee) = %v", tt.n, tt.knee, got, tt.want)
		}
		d := 20 * time.Millisecond
		if got, want := scaleTTFB(d, tt.n, tt.knee), toDuration(float64(d)*tt.want); got != want {
			t.Errorf("scaleTTFB(%v, %d, %d) = %v, want %v", d, tt.n, tt.knee, got, want)
		}
	}
}

// TestKneeArrivals checks that each request's time to first byte is its
// draw stretched by the requests in flight when it arrives, itself
// included.
func TestKneeArrivals(t *testing.T) {
	const l0 = 20 * time.Millisecond
	e := NewEmulator(Profile{TTFB: Fixed(l0), Knee: 4}, 1)
	for n := int64(1); n <= 12; n++ {
		got, err := e.begin("k")
		if err != nil {
			t.Fatal(err)
		}
		if want := toDuration(float64(l0) * max(1, float64(n)/4)); got != want {
			t.Errorf("request %d arriving with %d in flight: time to first byte %v, want %v", n, n, got, want)
		}
	}
	for range 12 {
		e.end()
	}
	if got := e.capacity.inFlight.Load(); got != 0 {
		t.Errorf("in flight after every end: %d, want 0", got)
	}
}

// TestKneeClosedLoop runs 16 closed-loop readers against a fixed 20 ms
// time to first byte with a knee at 4: past the first round, each read
// finds 16 in flight and takes 20 ms·16/4 = 80 ms, and the store serves
// Knee/L0 = 4/20 ms = 200 reads/s (Little's law), not the 800/s 16
// readers would get with no knee. The store cannot be faster than that
// (a read arriving while another is between reads finds 15 in flight, so
// 10% is allowed); a shared machine can make it slower, so 25% is.
func TestKneeClosedLoop(t *testing.T) {
	const (
		l0      = 20 * time.Millisecond
		knee    = 4
		readers = 16
		rounds  = 8 // measured reads per reader, after one to warm up
		fast    = 0.10
		slow    = 0.25
	)
	e := NewEmulator(Profile{Name: "knee", TTFB: Fixed(l0), Knee: knee}, 1)
	b := e.Backend(mem.New(map[string][]byte{"k": []byte("x")}))
	// Each reader's measured reads: their total latency and their span,
	// from the start of the first to the end of the last.
	latency := make([]time.Duration, readers)
	span := make([]time.Duration, readers)
	errs := make([]error, readers)
	var wg sync.WaitGroup
	for i := range readers {
		wg.Go(func() {
			var first time.Time
			for j := range rounds + 1 {
				start := time.Now()
				if err := readAll(t.Context(), b, "k"); err != nil {
					errs[i] = err
					return
				}
				if j == 0 {
					continue // the first round ramps up from 1 to 16 in flight
				}
				if j == 1 {
					first = start
				}
				latency[i] += time.Since(start)
			}
			span[i] = time.Since(first)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	// The mean latency, and the throughput: the sum of the readers' rates,
	// each reader's rate its reads over its span, so that the readers'
	// staggered starts do not count as idle time.
	var sum time.Duration
	rate := 0.0
	for i := range readers {
		sum += latency[i]
		rate += rounds / span[i].Seconds()
	}
	mean := sum / (readers * rounds)
	wantMean := l0 * readers / knee
	wantRate := knee / l0.Seconds()
	t.Logf("%d readers: mean latency %v (want %v), %.1f reads/s (want %.1f)", readers, mean, wantMean, rate, wantRate)
	if d := float64(mean-wantMean) / float64(wantMean); d < -fast || d > slow {
		t.Errorf("mean latency %v with %d in flight, want L0·n/Knee = %v, at most %.0f%% less or %.0f%% more",
			mean, readers, wantMean, 100*fast, 100*slow)
	}
	if d := (rate - wantRate) / wantRate; d > fast || d < -slow {
		t.Errorf("throughput %.1f reads/s, want Knee/L0 = %.1f, at most %.0f%% more or %.0f%% less",
			rate, wantRate, 100*fast, 100*slow)
	}
	if got := e.capacity.inFlight.Load(); got != 0 {
		t.Errorf("in flight after the run: %d, want 0", got)
	}
}

// readAll opens key in b, reads it to the end and closes it.
func readAll(ctx context.Context, b dataset.Backend, key string) error {
	rc, _, err := b.Open(ctx, key)
	if err != nil {
		return fmt.Errorf("open %q: %w", key, err)
	}
	defer rc.Close()
	if _, err := io.Copy(io.Discard, rc); err != nil {
		return fmt.Errorf("read %q: %w", key, err)
	}
	return nil
}

// TestLink checks that bodies read at once share the link: readers that
// the link alone limits move burst + link·T bytes in a window T, never
// more, through the backend and through the middleware; a per-request
// bandwidth below the link still binds.
func TestLink(t *testing.T) {
	const (
		link = 2e6 // bytes/s: small, so that the test is short and not CPU-bound
		size = 256 << 10
		tol  = 0.4 // how much slower than the link the machine may be
	)
	body := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	tests := []struct {
		name      string
		p         Profile
		readers   int
		http      bool
		wantRate  float64 // the aggregate rate past the burst
		wantBurst int     // bytes sent before the rate binds
	}{
		{"backend, 4 readers", Profile{Link: link}, 4, false, link, linkBurst},
		{"middleware, 4 readers", Profile{Link: link}, 4, true, link, linkBurst},
		{"backend, 1 reader, per-request bandwidth binds", Profile{Bandwidth: link / 2, Link: link}, 1, false, link / 2, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := NewEmulator(tt.p, 1)
			read := func(ctx context.Context, i int) error {
				return readAll(ctx, e.Backend(mem.New(map[string][]byte{"k": body})), "k")
			}
			if tt.http {
				srv := serveEmulated(t, e.Middleware(&emuHandler{body: body}))
				read = func(ctx context.Context, i int) error {
					return httpGetAll(ctx, fmt.Sprintf("%s/bucket/obj/%d", srv.URL, i), size)
				}
			}
			errs := make([]error, tt.readers)
			var wg sync.WaitGroup
			start := time.Now()
			for i := range tt.readers {
				wg.Go(func() { errs[i] = read(t.Context(), i) })
			}
			wg.Wait()
			elapsed := time.Since(start)
			if err := errors.Join(errs...); err != nil {
				t.Fatal(err)
			}
			total := tt.readers * size
			rate := float64(total-tt.wantBurst) / elapsed.Seconds()
			t.Logf("%d bytes in %v: %.0f B/s past the burst, want %.0f", total, elapsed, rate, tt.wantRate)
			// Faster than the limit is a bug; slower, up to tol, is a
			// busy machine. A 2 ms margin above allows the emulator's
			// correction for late timers.
			if rate > tt.wantRate*1.02 || rate < tt.wantRate*(1-tol) {
				t.Errorf("%d bytes in %v: %.0f B/s past the %d-byte burst, want %.0f B/s (at most +2%%, at least -%.0f%%)",
					total, elapsed, rate, tt.wantBurst, tt.wantRate, 100*tol)
			}
		})
	}
}

// httpGetAll GETs url and checks that its body has size bytes.
func httpGetAll(ctx context.Context, url string, size int) error {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK || n != int64(size) {
		return fmt.Errorf("GET %s: status %d, %d bytes, want 200 and %d bytes", url, resp.StatusCode, n, size)
	}
	return nil
}

// TestLinkCancel checks that a body waiting for the link gives up as soon
// as its context is done, gives back the bytes it reserved, and ends its
// read.
func TestLinkCancel(t *testing.T) {
	// 100 B/s: past the burst, the next chunk is due in tens of seconds.
	e := NewEmulator(Profile{Link: 100}, 1)
	b := e.Backend(mem.New(map[string][]byte{"k": make([]byte, 1<<20)}))
	ctx, cancel := context.WithCancel(t.Context())
	rc, _, err := b.Open(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	// A first chunk and three whole ones fit in the burst; the next does
	// not.
	buf := make([]byte, 64<<10)
	sent := 0
	for range 4 {
		n, err := rc.Read(buf)
		if err != nil {
			t.Fatalf("read within the burst: %v", err)
		}
		sent += n
	}
	if want := firstChunk + 3*maxChunk; sent != want || sent+maxChunk <= linkBurst {
		t.Fatalf("read %d bytes within the %d-byte burst, want %d, leaving less than a chunk", sent, linkBurst, want)
	}
	cancel()
	start := time.Now()
	if _, err := rc.Read(buf); !errors.Is(err, context.Canceled) {
		t.Errorf("read past the burst after cancel: %v, want context.Canceled", err)
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("cancelled read returned after %v, want at once", elapsed)
	}
	if got, want := e.capacity.link.Tokens(), float64(linkBurst-sent); got < want {
		t.Errorf("link tokens after the cancelled wait: %.0f, want at least the %.0f left before it", got, want)
	}
	if got := e.capacity.inFlight.Load(); got != 0 {
		t.Errorf("in flight after the cancelled read: %d, want 0", got)
	}
}

// TestInFlightBackend checks that every way a backend read ends counts it
// out of the requests in flight exactly once.
func TestInFlightBackend(t *testing.T) {
	tests := []struct {
		name    string
		key     string
		ttfb    time.Duration
		cancel  bool // cancel before the first read
		read    bool // read to the end
		refused bool // the prefix's budget is spent first
		wantErr error
	}{
		{name: "read to the end", key: "a/k", ttfb: time.Millisecond, read: true},
		{name: "closed unread", key: "a/k", ttfb: 10 * time.Second},
		{name: "cancelled", key: "a/k", ttfb: 10 * time.Second, cancel: true, read: true, wantErr: context.Canceled},
		{name: "missing key", key: "a/missing", ttfb: 10 * time.Second, wantErr: dataset.ErrNotFound},
		{name: "refused", key: "a/k", ttfb: 10 * time.Second, refused: true, wantErr: ErrThrottled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := NewEmulator(Profile{TTFB: Fixed(tt.ttfb), Bandwidth: 1e9, PrefixRate: 0.01, Knee: 2}, 1)
			b := e.Backend(mem.New(map[string][]byte{"a/k": []byte("an object")}))
			if tt.refused {
				if err := e.capacity.allow("a/spent", time.Now()); err != nil {
					t.Fatal(err)
				}
			}
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			rc, _, err := b.Open(ctx, tt.key)
			if err == nil {
				if got := e.capacity.inFlight.Load(); got != 1 {
					t.Errorf("in flight after Open: %d, want 1", got)
				}
				if tt.cancel {
					cancel()
				}
				if tt.read {
					_, err = io.ReadAll(rc)
					if got := e.capacity.inFlight.Load(); got != 0 {
						t.Errorf("in flight after the read ended (%v): %d, want 0", err, got)
					}
				}
				for range 2 {
					rc.Close()
				}
			}
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("error %v, want %v", err, tt.wantErr)
			}
			if got := e.capacity.inFlight.Load(); got != 0 {
				t.Errorf("in flight at the end: %d, want 0", got)
			}
		})
	}
}

// TestInFlightMiddleware checks that every way a request through the
// middleware ends counts it out of the requests in flight exactly once,
// and that it is counted while the handler runs.
func TestInFlightMiddleware(t *testing.T) {
	tests := []struct {
		name       string
		method     string
		ttfb       time.Duration
		refused    bool // the prefix's budget is spent first
		cancel     bool // the client goes away during the time to first byte
		wantStatus int
		wantCalls  int64
	}{
		{name: "GET", method: "GET", ttfb: time.Millisecond, wantStatus: http.StatusOK, wantCalls: 1},
		{name: "HEAD", method: "HEAD", ttfb: time.Millisecond, wantStatus: http.StatusOK, wantCalls: 1},
		{name: "refused", method: "GET", ttfb: time.Millisecond, refused: true, wantStatus: http.StatusServiceUnavailable},
		{name: "client gone", method: "GET", ttfb: 10 * time.Second, cancel: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := NewEmulator(Profile{TTFB: Fixed(tt.ttfb), Bandwidth: 1e9, Link: 1e9, PrefixRate: 0.01, Knee: 2}, 1)
			if tt.refused {
				if err := e.capacity.allow("a/spent", time.Now()); err != nil {
					t.Fatal(err)
				}
			}
			var during []int64
			var mu sync.Mutex
			inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				during = append(during, e.capacity.inFlight.Load())
				mu.Unlock()
				w.Write([]byte("hello"))
			})
			mw := e.Middleware(inner)
			arrived := make(chan struct{})
			returned := make(chan struct{})
			srv := serveEmulated(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				close(arrived)
				mw.ServeHTTP(w, r)
				close(returned)
			}))
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, tt.method, srv.URL+"/bucket/a/k", nil)
			if err != nil {
				t.Fatal(err)
			}
			if tt.cancel {
				go func() {
					<-arrived
					cancel()
				}()
			}
			resp, err := http.DefaultClient.Do(req)
			switch {
			case tt.cancel && !errors.Is(err, context.Canceled):
				t.Errorf("client error %v, want context.Canceled", err)
			case !tt.cancel && err != nil:
				t.Fatal(err)
			case !tt.cancel:
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != tt.wantStatus {
					t.Errorf("status %d, want %d", resp.StatusCode, tt.wantStatus)
				}
			}
			<-returned
			mu.Lock()
			defer mu.Unlock()
			if int64(len(during)) != tt.wantCalls {
				t.Errorf("handler called %d times, want %d", len(during), tt.wantCalls)
			}
			for _, n := range during {
				if n != 1 {
					t.Errorf("in flight while the handler ran: %d, want 1", n)
				}
			}
			if got := e.capacity.inFlight.Load(); got != 0 {
				t.Errorf("in flight after the request: %d, want 0", got)
			}
		})
	}
}

// TestMaxRate checks the capacity bound against values worked by hand.
// Mean times to first byte, from the log-normal mean
// min + (median-min)·exp(σ²/2): seed-s3 166.02932 ms, s3 31.645863 ms,
// express 3.312072 ms, nvme 95.289 µs.
func TestMaxRate(t *testing.T) {
	const item = 110e3 // bytes: an ImageNet val JPEG
	tests := []struct {
		profile   string
		c         int
		meanBytes float64
		prefixes  int
		want      float64
	}{
		// s3: L = 31.645863 ms + 110e3/90e6 s = 32.868085 ms.
		{"s3", 64, item, 1, 64 / 0.032868085},   // 1947.2/s: latency binds
		{"s3", 256, item, 1, 5500},              // 7788.7/s by latency: the prefix binds
		{"s3", 256, item, 4, 256 / 0.032868085}, // 4 prefixes admit 22,000/s: latency binds again
		{"s3", 1 << 20, 1e6, 8, 3125},           // 1 MB items: the link's 3.125e9/1e6 binds
		// seed-s3: no per-request bandwidth, L = 166.02932 ms.
		{"seed-s3", 32, item, 1, 32 / 0.16602932}, // 192.7/s
		{"seed-s3", 1024, item, 1, 5500},          // 6167.6/s by latency
		// express: L = 3.312072 ms + 110e3/200e6 s = 3.862072 ms.
		{"express", 64, item, 1, 64 / 0.003862072}, // 16571.4/s
		{"express", 1 << 20, 1000, 1, 200_000},     // the bucket's reads/s bind
		{"express", 1 << 20, item, 1, 3.125e9 / item},
		// nvme: knee 80; L(c) = 95.289 µs·max(1, c/80) + 110e3/2.5e9 s (44 µs).
		{"nvme", 8, item, 1, 8 / 139.289e-6},                    // 57434.4/s
		{"nvme", 80, item, 1, 80 / 139.289e-6},                  // 574344/s
		{"nvme", 160, item, 1, 160 / (2*95.289e-6 + 44e-6)},     // 682009/s: past the knee
		{"nvme", 8000, item, 1, 8000 / (100*95.289e-6 + 44e-6)}, // 835.7k/s, nearly Knee/L0 = 839.5k/s
		// fixed-10ms: L = 10 ms, nothing else.
		{"fixed-10ms", 10, item, 1, 1000},
		{"fixed-10ms", 1000, item, 1, 100_000},
		{"fixed-10ms", 0, item, 1, 0},
		// none: nothing limits.
		{"none", 64, item, 1, math.Inf(1)},
		{"none", 0, 0, 0, math.Inf(1)},
	}
	for _, tt := range tests {
		p, err := LookupProfile(tt.profile)
		if err != nil {
			t.Fatal(err)
		}
		got := p.MaxRate(tt.c, tt.meanBytes, tt.prefixes, 0)
		ok := got == tt.want || math.Abs(got/tt.want-1) < 1e-6
		if !ok {
			t.Errorf("%s: MaxRate(%d, %v, %d) = %v, want %v", tt.profile, tt.c, tt.meanBytes, tt.prefixes, got, tt.want)
		}
	}
	// Knee/L0 with no bandwidth: a knee alone caps the rate whatever c.
	p := Profile{TTFB: Fixed(20 * time.Millisecond), Knee: 4}
	for _, c := range []int{4, 16, 1000} {
		if got := p.MaxRate(c, item, 1, 0); math.Abs(got/200-1) > 1e-9 {
			t.Errorf("fixed 20 ms, knee 4: MaxRate(%d) = %v, want Knee/L0 = 200", c, got)
		}
	}
}
