package fakes

import (
	"bufio"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/storagebench/storagebench/internal/proccpu"
	"github.com/storagebench/storagebench/reqlog"
)

// An Observer counts what a fake S3 serves, as the store sees its
// clients: per operation (GetObject, HeadObject, PutObject,
// ListObjectsV2, ...), requests by status, response bytes, throttled and
// failed answers, times to first byte and in all; and requests in flight
// over time. It exposes them to Prometheus ([Observer.Handler]) and as
// summaries of the whole run or of an interval ([Observer.Cut]). It is
// safe for concurrent use.
type Observer struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	bytes    *prometheus.CounterVec
	inflight prometheus.Gauge
	ttfb     *prometheus.HistogramVec
	duration *prometheus.HistogramVec

	// recorded, when set, is called after each request is counted:
	// tests wait on it, as a client may see a broken answer before the
	// server's handler returns.
	recorded atomic.Pointer[func()]
	// log, when set, gets every request (see [Observer.LogTo]).
	log atomic.Pointer[reqlog.Writer]
	// handlers are the requests being answered, counted or not yet.
	handlers sync.WaitGroup

	mu    sync.Mutex
	n     int       // requests in flight now
	last  time.Time // when n last changed
	whole window    // since the observer started
	cur   window    // since the last Cut
}

// window is what the observer saw over a stretch of time.
type window struct {
	start time.Time
	cpu0  time.Duration
	cpuOK bool
	ops   map[string]*opWindow
	// inflight holds the requests in flight over time: value n, counted
	// once per microsecond spent at n.
	inflight *hdrhistogram.Histogram
	maxIn    int
}

// opWindow is one operation's part of a window.
type opWindow struct {
	requests, bytes, throttled, failed int64
	ttfb, total                        *hdrhistogram.Histogram // microseconds
}

// histogram returns a histogram of microseconds up to an hour.
func histogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(1, int64(time.Hour/time.Microsecond), 3)
}

func newWindow(now time.Time) window {
	cpu, ok := proccpu.Time()
	return window{start: now, cpu0: cpu, cpuOK: ok, ops: map[string]*opWindow{}, inflight: hdrhistogram.New(0, 1<<20, 3)}
}

// NewObserver returns an observer with its Prometheus collectors (and the
// process's and Go runtime's) on a registry of its own.
func NewObserver() *Observer {
	o := &Observer{reg: prometheus.NewRegistry()}
	o.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "storagebench_requests_total", Help: "Requests the fake S3 answered, by operation and HTTP status (dropped: the connection broken before an answer; cut: after its headers; canceled: the client went away first).",
	}, []string{"op", "code"})
	o.bytes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "storagebench_response_bytes_total", Help: "Bytes of response bodies the fake S3 sent, by operation.",
	}, []string{"op"})
	o.inflight = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "storagebench_requests_in_flight", Help: "Requests the fake S3 is serving now.",
	})
	buckets := prometheus.ExponentialBucketsRange(50e-6, 30, 24)
	o.ttfb = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "storagebench_request_first_byte_seconds", Help: "Time from a request's arrival to its response's headers, by operation.", Buckets: buckets,
	}, []string{"op"})
	o.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "storagebench_request_duration_seconds", Help: "Time from a request's arrival to the end of its response, by operation.", Buckets: buckets,
	}, []string{"op"})
	o.reg.MustRegister(o.requests, o.bytes, o.inflight, o.ttfb, o.duration,
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), collectors.NewGoCollector())
	now := time.Now()
	o.last, o.whole, o.cur = now, newWindow(now), newWindow(now)
	return o
}

// Handler serves the observer's metrics in Prometheus' text format.
func (o *Observer) Handler() http.Handler {
	return promhttp.HandlerFor(o.reg, promhttp.HandlerOpts{})
}

// Middleware counts every request next serves.
func (o *Observer) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		op := operation(r)
		start := time.Now()
		o.handlers.Add(1)
		defer o.handlers.Done()
		o.change(start, +1)
		ow := &observedWriter{ResponseWriter: w}
		defer func() {
			// Counted before it leaves the requests in flight: a scrape
			// that sees none in flight comes after every count.
			end := time.Now()
			code := o.done(op, ow, start, end, r.Context().Err() != nil)
			if lw := o.log.Load(); lw != nil {
				rec := reqlog.Record{Start: start, Total: end.Sub(start), Bytes: ow.bytes, Op: op,
					Key: strings.TrimPrefix(r.URL.Path, "/"), Status: code, Conn: r.RemoteAddr,
					Attempt: reqlog.SDKAttempt(r.Header.Get("Amz-Sdk-Request"))}
				if !ow.first.IsZero() {
					rec.FirstByte = ow.first.Sub(start)
				}
				lw.Write(rec) // its failure is the Writer's, reported by its Close
			}
			o.change(end, -1)
			if f := o.recorded.Load(); f != nil {
				(*f)()
			}
		}()
		next.ServeHTTP(ow, r)
	})
}

// change moves the requests in flight by d at now, counting the time
// spent at the old number.
func (o *Observer) change(now time.Time, d int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.account(now)
	o.n += d
	o.whole.maxIn, o.cur.maxIn = max(o.whole.maxIn, o.n), max(o.cur.maxIn, o.n)
	o.inflight.Set(float64(o.n))
}

// done records a request of op answered through ow; gone says the client
// went away before the answer ended.
//
// Its code is the HTTP status; "200" for a handler that wrote nothing (net/http
// answers 200); "dropped" when the connection was broken before any
// headers, "cut" after them; "canceled" when the client went away with no
// answer. Failed are the dropped and cut answers and 5xx other than 503;
// throttled are 503 and 429.
func (o *Observer) done(op string, ow *observedWriter, start, end time.Time, gone bool) (code string) {
	status := ow.status
	code = strconv.Itoa(status)
	switch {
	case ow.hijacked && status == 0:
		code = "dropped"
	case ow.hijacked:
		code = "cut"
	case status == 0 && gone:
		code = "canceled"
	case status == 0:
		status, code = http.StatusOK, "200"
	}
	first := ow.first
	if first.IsZero() {
		first = end
	}
	throttled := status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests
	failed := ow.hijacked || status >= 500 && !throttled
	o.requests.WithLabelValues(op, code).Inc()
	o.bytes.WithLabelValues(op).Add(float64(ow.bytes))
	o.ttfb.WithLabelValues(op).Observe(first.Sub(start).Seconds())
	o.duration.WithLabelValues(op).Observe(end.Sub(start).Seconds())
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, w := range []*window{&o.whole, &o.cur} {
		s := w.ops[op]
		if s == nil {
			s = &opWindow{ttfb: histogram(), total: histogram()}
			w.ops[op] = s
		}
		s.requests++
		s.bytes += ow.bytes
		if throttled {
			s.throttled++
		}
		if failed {
			s.failed++
		}
		s.ttfb.RecordValue(max(first.Sub(start).Microseconds(), 1))
		s.total.RecordValue(max(end.Sub(start).Microseconds(), 1))
	}
	return code
}

// Wait waits until every request the observer has seen start is counted
// (and logged): after its server's Close, which does not wait for the
// handlers it interrupts, and before [Observer.Whole] and closing a log.
func (o *Observer) Wait() { o.handlers.Wait() }

// LogTo makes the observer write every request it sees from now on to w
// (nil: none), as package reqlog's clients do: its connection is the
// client's address, its first byte the response's headers. The caller
// closes w once the server has stopped.
func (o *Observer) LogTo(w *reqlog.Writer) { o.log.Store(w) }

// operation names r's S3 operation, as the SDK names it, from its method,
// path (path-style: /bucket/key) and query.
func operation(r *http.Request) string {
	bucket, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	q := r.URL.Query()
	switch {
	case bucket == "":
		return "ListBuckets"
	case key == "" && r.Method == http.MethodGet && q.Get("list-type") == "2":
		return "ListObjectsV2"
	case key == "" && r.Method == http.MethodGet:
		return "ListObjects"
	case key == "" && r.Method == http.MethodHead:
		return "HeadBucket"
	case key == "" && r.Method == http.MethodPut:
		return "CreateBucket"
	case key == "" && r.Method == http.MethodPost && q.Has("delete"):
		return "DeleteObjects"
	case key != "" && r.Method == http.MethodGet:
		return "GetObject"
	case key != "" && r.Method == http.MethodHead:
		return "HeadObject"
	case key != "" && r.Method == http.MethodPut:
		return "PutObject"
	case key != "" && r.Method == http.MethodDelete:
		return "DeleteObject"
	}
	return "Other"
}

// observedWriter records a response's status, the time of its headers and
// its body's bytes.
type observedWriter struct {
	http.ResponseWriter
	status   int
	first    time.Time
	bytes    int64
	hijacked bool // the handler took the connection over, to break it
}

func (w *observedWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status, w.first = status, time.Now()
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *observedWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status, w.first = http.StatusOK, time.Now()
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach what the connection offers.
func (w *observedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush sends what was written, as the emulator's paced bodies ask: the
// writer stays an http.Flusher.
func (w *observedWriter) Flush() {
	if w.status == 0 {
		w.status, w.first = http.StatusOK, time.Now()
	}
	http.NewResponseController(w.ResponseWriter).Flush()
}

// Hijack takes the connection over, as the faults that break it do, and
// notes it: the answer is dropped (no headers) or cut (headers sent).
func (w *observedWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	w.hijacked = true
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

// Served is what an observer saw over a stretch of time.
type Served struct {
	Start, End time.Time
	Ops        []OpServed // by operation's name
	// InFlightMean, InFlightP50 and InFlightP99 are the requests in flight
	// over time (each instant weighs the same); InFlightMax the most at
	// once.
	InFlightMean, InFlightP50, InFlightP99 float64
	InFlightMax                            int
	// CPU is the process's CPU time (user and system) over the stretch;
	// CPUKnown is false where it cannot be read.
	CPU      time.Duration
	CPUKnown bool
}

// OpServed is one operation's part of [Served].
type OpServed struct {
	Op                                 string
	Requests, Bytes, Throttled, Failed int64
	// TTFB and Total are the times to the response's headers and to its
	// end, at the 50th and 99th percentiles and at most.
	TTFB, Total Percentiles
}

// Percentiles are a time's 50th and 99th percentiles and its maximum.
type Percentiles struct{ P50, P99, Max time.Duration }

// Requests returns the requests of every operation.
func (s Served) Requests() (n int64) {
	for _, op := range s.Ops {
		n += op.Requests
	}
	return n
}

// Bytes returns the response bytes of every operation.
func (s Served) Bytes() (n int64) {
	for _, op := range s.Ops {
		n += op.Bytes
	}
	return n
}

// Op returns the part of operation op, zero if none was served.
func (s Served) Op(op string) OpServed {
	for _, o := range s.Ops {
		if o.Op == op {
			return o
		}
	}
	return OpServed{Op: op}
}

// Restart starts the observer's whole run and its interval now: what it
// saw before (a bucket's filling, say) is left out of [Observer.Whole]
// and [Observer.Cut], not out of its Prometheus counters.
func (o *Observer) Restart() {
	now := time.Now()
	o.mu.Lock()
	defer o.mu.Unlock()
	o.account(now)
	o.whole, o.cur = newWindow(now), newWindow(now)
	o.whole.maxIn, o.cur.maxIn = o.n, o.n
}

// Whole returns what the observer saw since it started (or restarted).
func (o *Observer) Whole() Served {
	now := time.Now()
	o.mu.Lock()
	defer o.mu.Unlock()
	o.account(now)
	return o.whole.served(now)
}

// Cut returns what the observer saw since the last Cut (or its start),
// and starts a new interval.
func (o *Observer) Cut() Served {
	now := time.Now()
	o.mu.Lock()
	defer o.mu.Unlock()
	o.account(now)
	s := o.cur.served(now)
	o.cur = newWindow(now)
	o.cur.maxIn = o.n
	return s
}

// account counts the time since the last change at the requests in flight
// now.
// The time is counted in whole microseconds, the rest carried to the
// next change, so that none is lost however often requests come and go.
func (o *Observer) account(now time.Time) {
	if us := now.Sub(o.last).Microseconds(); us > 0 {
		o.whole.inflight.RecordValues(int64(o.n), us)
		o.cur.inflight.RecordValues(int64(o.n), us)
		o.last = o.last.Add(time.Duration(us) * time.Microsecond)
	}
}

// served summarizes w up to end.
func (w *window) served(end time.Time) Served {
	s := Served{Start: w.start, End: end, InFlightMax: w.maxIn}
	if w.inflight.TotalCount() > 0 {
		s.InFlightMean = w.inflight.Mean()
		s.InFlightP50 = float64(w.inflight.ValueAtQuantile(50))
		s.InFlightP99 = float64(w.inflight.ValueAtQuantile(99))
	}
	if cpu, ok := proccpu.Time(); ok && w.cpuOK {
		s.CPU, s.CPUKnown = cpu-w.cpu0, true
	}
	for op, ow := range w.ops {
		s.Ops = append(s.Ops, OpServed{
			Op: op, Requests: ow.requests, Bytes: ow.bytes, Throttled: ow.throttled, Failed: ow.failed,
			TTFB: percentiles(ow.ttfb), Total: percentiles(ow.total),
		})
	}
	slices.SortFunc(s.Ops, func(a, b OpServed) int { return strings.Compare(a.Op, b.Op) })
	return s
}

// percentiles reads h, in microseconds.
func percentiles(h *hdrhistogram.Histogram) Percentiles {
	us := func(v int64) time.Duration { return time.Duration(v) * time.Microsecond }
	return Percentiles{P50: us(h.ValueAtQuantile(50)), P99: us(h.ValueAtQuantile(99)), Max: us(h.Max())}
}
