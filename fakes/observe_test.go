package fakes

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/storagebench/storagebench/reqlog"
)

// TestObserverCounts serves GETs, a missing HEAD and a throttled GET
// through a fake with an observer, and checks what it counted, in its
// summary and at /metrics: requests and bytes exactly, by operation.
func TestObserverCounts(t *testing.T) {
	obs := NewObserver()
	f := startS3(t, S3Options{Buckets: []string{"obs"}, Observer: obs})
	ctx := context.Background()
	bodies := map[string]string{"a": "alpha", "b": "bravo-bravo", "c": strings.Repeat("c", 70000)}
	for k, v := range bodies {
		if _, err := f.Client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("obs"), Key: aws.String(k), Body: strings.NewReader(v)}); err != nil {
			t.Fatal(err)
		}
	}
	before := obs.Cut() // the bucket and the puts
	if got := before.Op("PutObject").Requests; got != 3 {
		t.Errorf("PutObject requests %d, want 3", got)
	}
	// From here on, each request is waited for until it is counted: a
	// client may have its whole answer before the handler returns.
	recorded := make(chan struct{}, 16)
	hook := func() { recorded <- struct{}{} }
	obs.recorded.Store(&hook)
	var wantBytes int64
	for _, k := range []string{"a", "b", "c", "a", "c"} {
		out, err := f.Client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("obs"), Key: aws.String(k)})
		if err != nil {
			t.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, out.Body)
		out.Body.Close()
		wantBytes += n
		<-recorded
	}
	if _, err := f.Client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("obs"), Key: aws.String("missing")}); err == nil {
		t.Fatal("HEAD of a missing key succeeded")
	}
	<-recorded
	f.SetFaults(NewInjector(Faults{{Fault: FaultSlowDown, Rate: 1}}, 1))
	throttled := &http.Client{}
	req, _ := http.NewRequest(http.MethodGet, f.URL+"/obs/a", nil)
	resp, err := throttled.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	<-recorded
	f.SetFaults(nil)

	s := obs.Cut()
	get := s.Op("GetObject")
	if get.Requests != 6 || get.Throttled != 1 || get.Failed != 0 {
		t.Errorf("GetObject: %d requests, %d throttled, %d failed; want 6, 1, 0", get.Requests, get.Throttled, get.Failed)
	}
	if head := s.Op("HeadObject"); head.Requests != 1 || head.Failed != 0 {
		t.Errorf("HeadObject: %+v, want 1 request, a 404 not failed", head)
	}
	if s.Op("PutObject").Requests != 0 {
		t.Errorf("the interval after Cut counted the puts before it")
	}
	// The throttled answer's body is S3's error document: bytes beyond
	// the objects'.
	if get.Bytes <= wantBytes {
		t.Errorf("GetObject bytes %d, want the %d of the objects and the 503's document", get.Bytes, wantBytes)
	}
	if get.TTFB.P50 <= 0 || get.Total.Max < get.TTFB.P50 {
		t.Errorf("GetObject times %+v", get)
	}
	whole := obs.Whole()
	if whole.Op("GetObject").Requests != 6 || whole.Op("PutObject").Requests != 3 {
		t.Errorf("whole run: %+v", whole.Ops)
	}

	resp, err = http.Get(f.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`storagebench_requests_total{code="200",op="GetObject"} 5`,
		`storagebench_requests_total{code="503",op="GetObject"} 1`,
		`storagebench_requests_total{code="404",op="HeadObject"} 1`,
		fmt.Sprintf(`storagebench_response_bytes_total{op="GetObject"} %d`, get.Bytes),
		"storagebench_requests_in_flight 0",
		"storagebench_request_first_byte_seconds_bucket",
		"process_cpu_seconds_total",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q:\n%s", want, body)
		}
	}
	if after := obs.Whole(); after.Requests() != whole.Requests() {
		t.Errorf("GET /metrics was counted as a request: %d, then %d", whole.Requests(), after.Requests())
	}
}

// TestObserverInFlight holds 8 requests in a handler until all have
// arrived: the most in flight is 8, and the mean over time is between
// none and 8.
func TestObserverInFlight(t *testing.T) {
	const n = 8
	obs := NewObserver()
	recorded := make(chan struct{}, n)
	hook := func() { recorded <- struct{}{} }
	obs.recorded.Store(&hook)
	var arrived sync.WaitGroup
	arrived.Add(n)
	release := make(chan struct{})
	srv := httptest.NewServer(obs.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived.Done()
		<-release
		io.WriteString(w, "ok")
	})))
	defer srv.Close()
	var done sync.WaitGroup
	for range n {
		done.Go(func() {
			resp, err := http.Get(srv.URL + "/bucket/key")
			if err != nil {
				t.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		})
	}
	arrived.Wait()
	close(release)
	done.Wait()
	for range n {
		<-recorded // each counted, which may come after its client is done
	}
	s := obs.Whole()
	if s.InFlightMax != n {
		t.Errorf("most in flight %d, want %d", s.InFlightMax, n)
	}
	if !(s.InFlightMean > 0 && s.InFlightMean <= n) || s.InFlightP99 > n {
		t.Errorf("in flight mean %.2f, p99 %.0f: want a mean in (0, %d] and a p99 at most %d", s.InFlightMean, s.InFlightP99, n, n)
	}
	if got := s.Op("GetObject"); got.Requests != n || got.Bytes != 2*n {
		t.Errorf("GetObject %+v, want %d requests of 2 bytes", got, n)
	}
}

func TestOperation(t *testing.T) {
	for _, tc := range []struct{ method, target, want string }{
		{"GET", "/", "ListBuckets"},
		{"GET", "/b?list-type=2&prefix=x", "ListObjectsV2"},
		{"GET", "/b", "ListObjects"},
		{"HEAD", "/b", "HeadBucket"},
		{"PUT", "/b", "CreateBucket"},
		{"POST", "/b?delete", "DeleteObjects"},
		{"GET", "/b/k/with/slashes.jpg", "GetObject"},
		{"HEAD", "/b/k", "HeadObject"},
		{"PUT", "/b/k", "PutObject"},
		{"DELETE", "/b/k", "DeleteObject"},
		{"PATCH", "/b/k", "Other"},
	} {
		if got := operation(httptest.NewRequest(tc.method, tc.target, nil)); got != tc.want {
			t.Errorf("%s %s: %s, want %s", tc.method, tc.target, got, tc.want)
		}
	}
}

// TestObserverBrokenAnswers checks the codes of answers the faults break:
// a reset before any headers is dropped, a body cut after its headers is
// cut, and both count as failed; a 500 is failed, a 503 throttled.
func TestObserverBrokenAnswers(t *testing.T) {
	for _, tc := range []struct {
		fault             Fault
		code              string
		failed, throttled int64
	}{
		{FaultReset, "dropped", 1, 0},
		{FaultShort, "cut", 1, 0},
		{FaultInternal, "500", 1, 0},
		{FaultSlowDown, "503", 0, 1},
	} {
		t.Run(string(tc.fault), func(t *testing.T) {
			obs := NewObserver()
			f := startS3(t, S3Options{Buckets: []string{"obs"}, Observer: obs})
			if _, err := f.Client.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("obs"), Key: aws.String("k"), Body: strings.NewReader(strings.Repeat("x", 10000))}); err != nil {
				t.Fatal(err)
			}
			obs.Restart()
			recorded := make(chan struct{}, 1)
			hook := func() { recorded <- struct{}{} }
			obs.recorded.Store(&hook)
			f.SetFaults(NewInjector(Faults{{Fault: tc.fault, Rate: 1}}, 1))
			client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
			if resp, err := client.Get(f.URL + "/obs/k"); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			<-recorded // the client may see the break before the handler returns
			get := obs.Whole().Op("GetObject")
			if get.Requests != 1 || get.Failed != tc.failed || get.Throttled != tc.throttled {
				t.Errorf("GetObject %+v, want 1 request, %d failed, %d throttled", get, tc.failed, tc.throttled)
			}
			resp, err := http.Get(f.URL + "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if want := `storagebench_requests_total{code="` + tc.code + `",op="GetObject"} 1`; !strings.Contains(string(body), want) {
				t.Errorf("/metrics lacks %s", want)
			}
		})
	}
}

// BenchmarkObserver measures what counting costs a request: a handler
// answering a GET of 4 KiB, bare and behind the observer, called in the
// benchmark's goroutine (no network), so that the difference is the
// observer's own CPU per request.
func BenchmarkObserver(b *testing.B) {
	body := make([]byte, 4096)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(body) })
	logged := NewObserver()
	lw, err := reqlog.NewWriter(io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	defer lw.Close()
	logged.LogTo(lw)
	for _, tc := range []struct {
		name string
		h    http.Handler
	}{{"observer=off", h}, {"observer=on", NewObserver().Middleware(h)}, {"observer=log", logged.Middleware(h)}} {
		b.Run(tc.name, func(b *testing.B) {
			r := httptest.NewRequest(http.MethodGet, "/bucket/key", nil)
			w := httptest.NewRecorder()
			b.ReportAllocs()
			for b.Loop() {
				w.Body.Reset()
				tc.h.ServeHTTP(w, r)
			}
		})
	}
}
