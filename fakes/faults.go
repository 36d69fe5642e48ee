package fakes

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/storagebench/storagebench/dataset"
)

// Fault is a kind of failure a real object store produces.
type Fault string

// The faults an [Injector] injects.
const (
	// FaultSlowDown answers 503 SlowDown, S3's throttling answer.
	FaultSlowDown Fault = "slowdown"
	// FaultInternal answers 500 InternalError.
	FaultInternal Fault = "internal"
	// FaultReset resets the connection before any response.
	FaultReset Fault = "reset"
	// FaultShort sends the headers, with the object's Content-Length, and
	// half of the body, then closes the connection.
	FaultShort Fault = "short"
	// FaultStall sends the headers, then nothing, until the client goes
	// away (or MaxStall has passed): longer than any client's timeout.
	FaultStall Fault = "stall"
	// FaultTrickle sends the body slowly, TrickleChunk bytes at a time at
	// TrickleRate (or the rate of [Injector.SetTrickleRate]): a store
	// that is slow but never silent for long.
	FaultTrickle Fault = "trickle"
)

// AllFaults lists every fault, in the order specifications are written.
var AllFaults = []Fault{FaultSlowDown, FaultInternal, FaultReset, FaultShort, FaultStall, FaultTrickle}

// How faults behave over time.
const (
	// MaxStall is the longest a stalled response waits for its client to
	// go away.
	MaxStall = 10 * time.Minute
	// TrickleRate is the bandwidth of a trickling body, in bytes per
	// second (8 Mbit/s: a 110 KB image takes a tenth of a second, where a
	// healthy store sends it in a millisecond or two), and TrickleChunk
	// what it sends at a time: a chunk every 4 ms, far within any idle
	// timeout.
	TrickleRate  = 1 << 20
	TrickleChunk = 4 << 10
)

// FaultRate is a fault and the fraction of requests it hits.
type FaultRate struct {
	Fault Fault
	Rate  float64 // 0 < Rate <= 1
}

// Faults is a set of faults and their rates, as a specification such as
// "slowdown:0.05+stall:0.01" writes it. Rates add up to at most 1: a
// request takes at most one fault. The zero Faults injects none.
type Faults []FaultRate

// ParseFaults parses a specification: "none" (or "") for no faults, or
// fault:rate terms joined by "+", each fault at most once, rates from 0
// (excluded) to 1 adding up to at most 1.
func ParseFaults(s string) (Faults, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "none" {
		return nil, nil
	}
	var f Faults
	sum := 0.0
	for _, term := range strings.Split(s, "+") {
		name, rate, ok := strings.Cut(strings.TrimSpace(term), ":")
		if !ok {
			return nil, fmt.Errorf("faults %q: term %q: want fault:rate, such as slowdown:0.05", s, term)
		}
		kind := Fault(name)
		if !slices.Contains(AllFaults, kind) {
			return nil, fmt.Errorf("faults %q: unknown fault %q, want one of %s", s, name, faultNames())
		}
		if slices.ContainsFunc(f, func(r FaultRate) bool { return r.Fault == kind }) {
			return nil, fmt.Errorf("faults %q: fault %q given twice", s, name)
		}
		x, err := strconv.ParseFloat(rate, 64)
		if err != nil || !(x > 0 && x <= 1) {
			return nil, fmt.Errorf("faults %q: rate %q of %s: want a fraction of requests, 0 < rate <= 1", s, rate, name)
		}
		sum += x
		f = append(f, FaultRate{kind, x})
	}
	if sum > 1+1e-9 {
		return nil, fmt.Errorf("faults %q: rates add up to %v, more than every request", s, sum)
	}
	return f, nil
}

// faultNames lists the faults for error messages.
func faultNames() string {
	var names []string
	for _, f := range AllFaults {
		names = append(names, string(f))
	}
	return strings.Join(names, ", ")
}

// String returns the specification ParseFaults reads: "none" for no
// faults, else the terms in their given order, as in
// "slowdown:0.05+stall:0.01". Benchmark names carry it.
func (f Faults) String() string {
	if len(f) == 0 {
		return "none"
	}
	terms := make([]string, len(f))
	for i, r := range f {
		terms[i] = string(r.Fault) + ":" + strconv.FormatFloat(r.Rate, 'g', -1, 64)
	}
	return strings.Join(terms, "+")
}

// IsZero reports whether f injects nothing.
func (f Faults) IsZero() bool { return len(f) == 0 }

// Injector injects faults into the reads of a store: as HTTP middleware in
// front of an S3 server, so that they travel over real TCP and any client
// sees them, or as a [dataset.Backend] wrapper. Only reads of objects take
// faults (GETs of an object; Open), each one draw: the fault of the
// attempt-th read of a key (counted from 0, per key) is a function of the
// seed, the key and attempt alone, so that a run is reproducible whatever
// the order reads arrive in, and a retried read can succeed. An Injector
// is safe for concurrent use.
type Injector struct {
	faults Faults
	seed   uint64

	mu       sync.Mutex
	attempts map[string]uint32

	injected [6]atomic.Int64 // by index in AllFaults
	trickle  float64         // bytes per second of a trickling body; 0: TrickleRate
}

// NewInjector returns an injector of f drawing from seed.
func NewInjector(f Faults, seed uint64) *Injector {
	return &Injector{faults: f, seed: seed, attempts: map[string]uint32{}}
}

// SetTrickleRate sets the bandwidth of the injector's trickling bodies, in
// bytes per second, in place of TrickleRate: a store that trickles at 64
// KiB/s sends a 110 KB image in 1.7 s, each of its chunks 62 ms after the
// last, still far within any idle timeout. Call it before the injector's
// first read; rate must be positive.
func (in *Injector) SetTrickleRate(rate float64) {
	if !(rate > 0) || math.IsInf(rate, 0) {
		panic(fmt.Sprintf("fakes: trickle rate %v bytes/s, want a positive rate", rate))
	}
	in.trickle = rate
}

// trickleRate returns the bandwidth of a trickling body.
func (in *Injector) trickleRate() float64 {
	if in.trickle > 0 {
		return in.trickle
	}
	return TrickleRate
}

// Faults returns the faults the injector injects.
func (in *Injector) Faults() Faults { return in.faults }

// Injected returns how many reads took each fault so far.
func (in *Injector) Injected() map[Fault]int64 {
	m := map[Fault]int64{}
	for i, f := range AllFaults {
		if n := in.injected[i].Load(); n > 0 {
			m[f] = n
		}
	}
	return m
}

// draw returns the fault of the next read of key, or "" for none.
func (in *Injector) draw(key string) Fault {
	in.mu.Lock()
	attempt := in.attempts[key]
	in.attempts[key] = attempt + 1
	in.mu.Unlock()
	return in.fault(key, attempt)
}

// fault returns the fault of the attempt-th read of key, or "" for none.
func (in *Injector) fault(key string, attempt uint32) Fault {
	// FNV-1a of the key, then splitmix64 of the seed, key and attempt.
	h := uint64(14695981039346656037)
	for i := 0; i < len(key); i++ {
		h = (h ^ uint64(key[i])) * 1099511628211
	}
	u := (float64(mix64(in.seed^mix64(h)+(uint64(attempt)+1)*golden)>>11) + 0.5) / (1 << 53)
	for _, r := range in.faults {
		if u < r.Rate {
			in.injected[slices.Index(AllFaults, r.Fault)].Add(1)
			return r.Fault
		}
		u -= r.Rate
	}
	return ""
}

// FaultError is the error an injected fault gives on a backend wrapped by
// [Injector.Backend]: the failure of Open for FaultSlowDown, FaultInternal
// and FaultReset, of a Read for FaultShort and for a FaultStall that
// outlasted MaxStall. It carries its kind ([FaultError.Kind]), which the
// wrapping backend answers for it as a [dataset.Classifier], so that a
// Store retries it as it retries the same fault met over HTTP. It wraps
// [ErrInjected].
type FaultError struct {
	Fault Fault
	err   error // what it wraps besides ErrInjected, or nil
}

// Error names the fault and, for an error answer, the S3 answer it stands
// for.
func (e *FaultError) Error() string {
	switch {
	case e.Fault == FaultSlowDown || e.Fault == FaultInternal:
		status, code := s3Error(e.Fault)
		return fmt.Sprintf("%v: %s (S3's %d %s)", ErrInjected, e.Fault, status, code)
	case e.err != nil:
		return fmt.Sprintf("%v: %s: %v", ErrInjected, e.Fault, e.err)
	}
	return fmt.Sprintf("%v: %s", ErrInjected, e.Fault)
}

// Kind returns the kind of failure the fault is: [dataset.KindThrottled]
// for FaultSlowDown, a store refusing a request over its rate;
// [dataset.KindTransient] for the others, which a new request may
// overcome.
func (e *FaultError) Kind() dataset.ErrorKind {
	if e.Fault == FaultSlowDown {
		return dataset.KindThrottled
	}
	return dataset.KindTransient
}

// Unwrap returns ErrInjected, and the system error a reset is.
func (e *FaultError) Unwrap() []error {
	if e.err != nil {
		return []error{ErrInjected, e.err}
	}
	return []error{ErrInjected}
}

// s3Error returns the HTTP status and S3 error code with which the
// injector's middleware answers an error fault.
func s3Error(f Fault) (int, string) {
	if f == FaultSlowDown {
		return http.StatusServiceUnavailable, "SlowDown"
	}
	return http.StatusInternalServerError, "InternalError"
}

// Middleware returns next behind the injector: each GET of an object (a
// path-style "/bucket/key" with a non-empty key) takes one draw. Errors
// are answered at once with S3's XML error body; a reset closes the
// connection with a TCP RST before any response; the other faults let
// next answer and cut, stall or slow its body. Other requests pass through
// untouched. With no faults Middleware returns next itself.
func (in *Injector) Middleware(next http.Handler) http.Handler {
	if in.faults.IsZero() {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || !isObjectPath(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		switch f := in.draw(r.URL.Path); f {
		case "":
			next.ServeHTTP(w, r)
		case FaultSlowDown, FaultInternal:
			status, code := s3Error(f)
			writeS3Error(w, status, code, "injected fault")
		case FaultReset:
			closeConn(w, true)
		default:
			fw := &faultWriter{ResponseWriter: w, ctx: r.Context(), fault: f, rate: in.trickleRate()}
			next.ServeHTTP(fw, r)
			if fw.cut {
				closeConn(w, false) // what was sent arrives, then the end
			}
		}
	})
}

// writeS3Error answers with an S3 error whose message is msg, which must
// need no XML escaping.
func writeS3Error(w http.ResponseWriter, status int, code, msg string) {
	body := `<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
		`<Error><Code>` + code + `</Code><Message>` + msg + `</Message></Error>`
	h := w.Header()
	h.Set("Content-Type", "application/xml")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	io.WriteString(w, body) // the client sees a short body if this fails
}

// closeConn takes the connection over and closes it: with a TCP RST (no
// lingering) when reset is set, as a store's load balancer dropping a
// connection does, else with a FIN after what was sent.
func closeConn(w http.ResponseWriter, reset bool) {
	conn, bufrw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler) // the server closes the connection
	}
	if bufrw != nil {
		bufrw.Flush()
	}
	if tc, ok := conn.(*net.TCPConn); ok && reset {
		tc.SetLinger(0)
	}
	conn.Close()
}

// errFault stops the handler's writes once a fault has cut its body.
var errFault = errors.New("injected fault: body cut")

// faultWriter cuts, stalls or slows the body of a response.
type faultWriter struct {
	http.ResponseWriter
	ctx     context.Context
	fault   Fault
	limit   int64 // FaultShort: bytes of the body left to send
	started bool  // the headers are out
	cut     bool  // the body was cut: the connection must close
	pacer         // FaultTrickle: the body at rate
	rate    float64
}

// WriteHeader sends the headers; a short body sends half of the
// Content-Length they announce.
func (w *faultWriter) WriteHeader(status int) {
	if !w.started {
		w.started = true
		if n, err := strconv.ParseInt(w.Header().Get("Content-Length"), 10, 64); err == nil {
			w.limit = n / 2
		}
	}
	w.ResponseWriter.WriteHeader(status)
}

// Write sends p as the fault allows.
func (w *faultWriter) Write(p []byte) (int, error) {
	if !w.started {
		w.WriteHeader(http.StatusOK)
	}
	if w.cut {
		return 0, errFault
	}
	switch w.fault {
	case FaultShort:
		n := int(min(int64(len(p)), w.limit))
		m, err := w.ResponseWriter.Write(p[:n])
		w.limit -= int64(m)
		if err != nil {
			return m, err
		}
		if n < len(p) {
			w.cut = true
			http.NewResponseController(w.ResponseWriter).Flush()
			return m, errFault
		}
		return m, nil
	case FaultStall:
		http.NewResponseController(w.ResponseWriter).Flush()
		t := time.NewTimer(MaxStall)
		defer t.Stop()
		select {
		case <-w.ctx.Done():
		case <-t.C:
		}
		w.cut = true
		return 0, errFault
	}
	if w.start.IsZero() {
		w.bw, w.start = w.rate, time.Now()
	}
	written := 0
	for len(p) > 0 {
		n := min(len(p), TrickleChunk)
		if err := w.wait(w.ctx, n); err != nil {
			return written, err
		}
		m, err := w.ResponseWriter.Write(p[:n])
		written += m
		if err != nil {
			return written, err
		}
		http.NewResponseController(w.ResponseWriter).Flush()
		p = p[n:]
	}
	return written, nil
}

// Flush flushes the wrapped writer.
func (w *faultWriter) Flush() { http.NewResponseController(w.ResponseWriter).Flush() }

// Unwrap returns the wrapped writer, for http.ResponseController.
func (w *faultWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Backend returns b behind the injector: each Open takes one draw. An
// error fault fails Open with a *FaultError (for FaultSlowDown,
// FaultInternal, and FaultReset, which wraps syscall.ECONNRESET); a short
// body returns the object's whole size and half its bytes, then a
// *FaultError wrapping io.ErrUnexpectedEOF; a stall blocks the first Read
// until ctx is done (or MaxStall has passed, then fails with a
// *FaultError); a trickle returns the body TrickleChunk bytes at a time at
// the injector's trickle rate (see SetTrickleRate). The result is a [dataset.Classifier]: it answers the kind of
// its *FaultError values ([FaultError.Kind]) and passes any other error to
// b's classification ([dataset.Classify]). It reads ranges
// ([dataset.RangeOpener]) as it reads whole objects, one draw each, the
// short body cut at half the range, through b's OpenRange if b has one
// (else b's Open, the bytes before the range discarded). It lists, writes
// and deletes through b, failing with errors.ErrUnsupported when b
// cannot. With no faults Backend returns b itself.
func (in *Injector) Backend(b dataset.Backend) dataset.Backend {
	if in.faults.IsZero() {
		return b
	}
	return &faultBackend{delegate: delegate{b}, in: in}
}

type faultBackend struct {
	delegate
	in *Injector
}

func (fb *faultBackend) Open(ctx context.Context, key string) (io.ReadCloser, int64, error) {
	return fb.open(ctx, key, wholeObject)
}

// OpenRange implements [dataset.RangeOpener] as Open reads a whole object:
// one draw, and the range's body cut (at half the range), stalled or
// slowed as a whole object's is. The range is read through b's OpenRange,
// or b's Open with the bytes before it discarded ([dataset.OpenRange]).
func (fb *faultBackend) OpenRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, int64, error) {
	return fb.open(ctx, key, byteRange{ranged: true, off: off, n: n})
}

// open opens r of key as Open and OpenRange do.
func (fb *faultBackend) open(ctx context.Context, key string, r byteRange) (io.ReadCloser, int64, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	f := fb.in.draw(key)
	switch f {
	case FaultSlowDown, FaultInternal:
		return nil, 0, &FaultError{Fault: f}
	case FaultReset:
		return nil, 0, &FaultError{Fault: f, err: syscall.ECONNRESET}
	}
	rc, size, err := fb.delegate.open(ctx, key, r)
	if err != nil || f == "" {
		return rc, size, err
	}
	return &faultReader{ctx: ctx, rc: rc, fault: f, left: r.length(size) / 2, rate: fb.in.trickleRate()}, size, nil
}

// ErrorKind implements [dataset.Classifier]: an injected fault is of its
// kind, any other error of the kind the wrapped backend gives it.
func (fb *faultBackend) ErrorKind(err error) dataset.ErrorKind {
	var fe *FaultError
	if errors.As(err, &fe) {
		return fe.Kind()
	}
	return fb.delegate.ErrorKind(err)
}

// faultReader cuts, stalls or slows the object it wraps.
type faultReader struct {
	ctx   context.Context
	rc    io.ReadCloser
	fault Fault
	left  int64 // FaultShort: bytes left before the cut
	pacer       // FaultTrickle: the body at rate
	rate  float64
}

func (r *faultReader) Read(p []byte) (int, error) {
	switch r.fault {
	case FaultShort:
		if r.left <= 0 {
			return 0, &FaultError{Fault: FaultShort, err: io.ErrUnexpectedEOF}
		}
		n, err := r.rc.Read(p[:min(int64(len(p)), r.left)])
		r.left -= int64(n)
		if err == io.EOF {
			err = nil // the cut comes first
		}
		return n, err
	case FaultStall:
		t := time.NewTimer(MaxStall)
		defer t.Stop()
		select {
		case <-r.ctx.Done():
			return 0, r.ctx.Err()
		case <-t.C:
			return 0, &FaultError{Fault: FaultStall, err: fmt.Errorf("no byte for %v", MaxStall)}
		}
	}
	if r.start.IsZero() {
		r.bw, r.start = r.rate, time.Now()
	}
	n, err := r.rc.Read(p[:min(len(p), TrickleChunk)])
	if n > 0 {
		if werr := r.wait(r.ctx, n); werr != nil {
			return 0, werr
		}
	}
	return n, err
}

func (r *faultReader) Close() error { return r.rc.Close() }
