package dataset

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// Policy is how a [Store] reads an object: the deadlines of each attempt,
// and which failed attempts it makes again, how often and after how long.
// What it retries it learns from the failure's [ErrorKind] alone, which
// the backend gives (see [Classifier]).
//
// Who retries what: a Store's Read is the one place where reads of objects
// are retried, whatever the backend. Backends make one attempt per Open
// (the S3 backend turns the SDK's own retries off for its GETs, see package
// s3blob), so that retries never multiply, and callers such as the loader
// choose what to do with an item whose read still failed. The zero value of
// each field takes the default documented beside it.
type Policy struct {
	// FirstByteTimeout bounds the time from the start of an attempt to the
	// first byte of the object's body; 0 means DefaultFirstByteTimeout,
	// a negative value none. With DeadlineMultiple it is the ceiling of
	// the deadline that follows the store.
	FirstByteTimeout time.Duration
	// IdleTimeout bounds the time without a byte while the body is read;
	// 0 means DefaultIdleTimeout, a negative value none. With
	// DeadlineMultiple it is the ceiling of the deadline that follows the
	// store.
	IdleTimeout time.Duration
	// DeadlineMultiple makes an attempt's deadlines follow what the store
	// does: each is this multiple of the 99th percentile of what the
	// store's recent successful attempts took (the time to their first
	// byte; the longest wait for a byte of their bodies) or DeadlineFloor,
	// whichever is longer, doubled for each earlier attempt of the same
	// read, and never above FirstByteTimeout and IdleTimeout, which hold
	// until the store has served a few dozen reads (an attempt started
	// before then checks its deadline again every DeadlineFloor). A stalled body is
	// then abandoned and read again within a second or two on a store
	// that answers in milliseconds, where a fixed deadline waits it out
	// for seconds; AWS advises retrying the slowest 1-5% of small
	// requests. The doubling lets a read through a store that became
	// slower than its deadlines. 0 means DefaultDeadlineMultiple, a
	// negative value fixed deadlines (the ceilings).
	DeadlineMultiple float64
	// DeadlineFloor is the least deadline that follows the store; 0 means
	// DefaultDeadlineFloor.
	DeadlineFloor time.Duration
	// Attempts bounds the attempts of one read, the first included; 0
	// means DefaultAttempts, 1 no retries. Attempts the store throttled
	// count towards ThrottleAttempts instead.
	Attempts int
	// ThrottleAttempts bounds the attempts of one read that the store
	// throttled ([KindThrottled]), in a run whose store is serving
	// (see RetryBudget): a store at its request rate answers part of a
	// loader's reads so until the loader's reads, backing off, come
	// within it, which takes more attempts than a fault does. Elsewhere
	// (a lone read, a store serving nothing) throttled attempts count
	// towards Attempts. 0 means ThrottleAttemptsPerAttempt x Attempts.
	// With Attempts 1 no read is retried.
	ThrottleAttempts int
	// Backoff is the base of the jittered exponential wait before a retry
	// ("full jitter": uniform in [0, min(MaxBackoff, Backoff x 2^k)) before
	// retry k+1); 0 means DefaultBackoff.
	Backoff time.Duration
	// ThrottleBackoff is the base of that wait after the store throttled
	// ([KindThrottled]): throttling backs off harder; 0 means
	// DefaultThrottleBackoff.
	ThrottleBackoff time.Duration
	// MaxBackoff caps one wait; 0 means DefaultMaxBackoff.
	MaxBackoff time.Duration
}

// Policy defaults. The timeouts never fire on a healthy store: the slowest
// first byte of the seed's S3 measurements, once in a million reads, came
// after about 2 s (see fakes' seed-s3 profile). They fire within seconds on
// a stalled one. Eight attempts at a 10% fault rate lose one read in 10^8.
const (
	DefaultFirstByteTimeout = 10 * time.Second
	DefaultIdleTimeout      = 5 * time.Second
	// DefaultDeadlineMultiple and DefaultDeadlineFloor abandon an attempt
	// past 4 times the store's p99, and never before a second: on the
	// seed's S3 (p99 408 ms) 1.6 s, which about 7 reads in a million
	// reach; on a store whose p99 is under 250 ms, the floor. A floor of
	// a second also spares reads the pauses of a busy client machine.
	DefaultDeadlineMultiple = 4
	DefaultDeadlineFloor    = time.Second
	DefaultAttempts         = 8
	DefaultBackoff          = 25 * time.Millisecond
	DefaultThrottleBackoff  = 250 * time.Millisecond
	DefaultMaxBackoff       = 2 * time.Second
	// ThrottleAttemptsPerAttempt sets the default ThrottleAttempts: 32
	// with the default attempts. At a store asked for twice its request
	// rate, about half of the attempts are throttled while reads back
	// off; 32 of them in a row happen once in 4 x 10^9 reads, and their
	// waits (at most 2 s each) end the read within about a minute.
	ThrottleAttemptsPerAttempt = 4
)

// Resolved returns p with its zero fields set to their defaults, or an
// error naming the first invalid field.
func (p Policy) Resolved() (Policy, error) {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&p.FirstByteTimeout, DefaultFirstByteTimeout)
	def(&p.DeadlineFloor, DefaultDeadlineFloor)
	if p.DeadlineMultiple == 0 {
		p.DeadlineMultiple = DefaultDeadlineMultiple
	}
	def(&p.IdleTimeout, DefaultIdleTimeout)
	def(&p.Backoff, DefaultBackoff)
	def(&p.ThrottleBackoff, DefaultThrottleBackoff)
	def(&p.MaxBackoff, DefaultMaxBackoff)
	if p.Attempts == 0 {
		p.Attempts = DefaultAttempts
	}
	if p.ThrottleAttempts == 0 {
		p.ThrottleAttempts = ThrottleAttemptsPerAttempt * p.Attempts
	}
	switch {
	case p.Attempts < 0:
		return p, fmt.Errorf("read policy: %d attempts, want >= 1", p.Attempts)
	case p.ThrottleAttempts < 0:
		return p, fmt.Errorf("read policy: %d throttled attempts, want >= 1", p.ThrottleAttempts)
	case p.Backoff < 0 || p.ThrottleBackoff < 0 || p.MaxBackoff < 0:
		return p, errors.New("read policy: negative backoff")
	case p.DeadlineFloor < 0:
		return p, fmt.Errorf("read policy: deadline floor %v, want >= 0", p.DeadlineFloor)
	case p.DeadlineMultiple > 0 && p.DeadlineMultiple < 1:
		return p, fmt.Errorf("read policy: deadline multiple %v of the p99, want >= 1 (or negative: fixed deadlines)", p.DeadlineMultiple)
	case math.IsNaN(p.DeadlineMultiple) || math.IsInf(p.DeadlineMultiple, 0):
		return p, fmt.Errorf("read policy: deadline multiple %v, want a number >= 1", p.DeadlineMultiple)
	}
	return p, nil
}

// backoff returns the wait before retry k+1 (k from 0) after a failure,
// throttled or not.
func (p Policy) backoff(k int, throttled bool) time.Duration {
	base := p.Backoff
	if throttled {
		base = p.ThrottleBackoff
	}
	ceil := p.MaxBackoff
	if k < 30 && base<<k < ceil && base<<k > 0 {
		ceil = base << k
	}
	if ceil <= 0 {
		return 0
	}
	return rand.N(ceil)
}

// ErrTimeout is wrapped by the error of an attempt that a deadline of its
// [Policy] ended: no first byte in time, or no byte for too long.
var ErrTimeout = errors.New("read timed out")

// timeoutError is the cause with which a deadline ends an attempt.
type timeoutError struct {
	what string
	d    time.Duration
}

func (e *timeoutError) Error() string {
	return fmt.Sprintf("%s within %v: %v", e.what, e.d, ErrTimeout)
}
func (e *timeoutError) Unwrap() error { return ErrTimeout }

// AttemptsError is the error of a read that failed on every attempt it
// was allowed: Err is the last attempt's.
type AttemptsError struct {
	Attempts int   // attempts made
	Err      error // the last attempt's error
	Budget   bool  // retries stopped because the run's RetryBudget was spent
}

// Error says how many attempts were made and why the last failed.
func (e *AttemptsError) Error() string {
	n := fmt.Sprintf("%d attempts", e.Attempts)
	if e.Attempts == 1 {
		n = "1 attempt"
	}
	if e.Budget {
		return fmt.Sprintf("%s, then the run's retry budget was spent; last: %v", n, e.Err)
	}
	return fmt.Sprintf("%s; last: %v", n, e.Err)
}

// Unwrap returns the last attempt's error.
func (e *AttemptsError) Unwrap() error { return e.Err }

// RetryBudget bounds the retries of a whole run, across its reads: at most
// Base plus Ratio times the reads started. A store failing most requests
// then ends the run within seconds, where retrying every read up to its
// attempts would drag on. The reads of a [Store] given it with
// [Store.WithRetryBudget] share it. It is safe for concurrent use.
//
// A retry after throttling takes nothing from it while the store is
// serving: while some read of the run succeeded within the last
// [ThrottleGrace], or the budget was made within it. A store that
// throttles is up and asks for fewer requests, which the reads' backoff
// gives it, and a run at a store's request rate would otherwise spend its
// budget in its first second (a loader starting 1,600 reads at once
// against S3's burst of 550 has 1,000 of them throttled, before any read
// has had time to succeed). A store that throttles every read serves
// none: past the grace, its throttled retries take from the budget as
// failures do, and the run ends within seconds.
type RetryBudget struct {
	base       float64
	ratio      float64
	reads      atomic.Int64
	retries    atomic.Int64
	lastServed atomic.Int64 // when a read last succeeded (at first, when the budget was made), in Unix nanoseconds
}

// ThrottleGrace is how long after a run's last successful read (or its
// start) its throttled retries still take nothing from its [RetryBudget].
const ThrottleGrace = 2 * time.Second

// NewRetryBudget returns a budget of base retries plus ratio per read.
func NewRetryBudget(base int64, ratio float64) *RetryBudget {
	b := &RetryBudget{base: float64(base), ratio: ratio}
	b.lastServed.Store(time.Now().UnixNano())
	return b
}

// Retries returns the retries taken from the budget so far.
func (b *RetryBudget) Retries() int64 { return b.retries.Load() }

// take takes one retry from the budget, if it has one left.
func (b *RetryBudget) take() bool {
	n := b.retries.Add(1)
	if float64(n) <= b.base+b.ratio*float64(b.reads.Load()) {
		return true
	}
	b.retries.Add(-1)
	return false
}

// serving reports whether the run's store served a read within
// ThrottleGrace of now, or the budget was made within it.
func (b *RetryBudget) serving(now time.Time) bool {
	return now.UnixNano()-b.lastServed.Load() < int64(ThrottleGrace)
}

// takeThrottled allows a retry after throttling at now: free while the
// store is serving, else from the budget.
func (b *RetryBudget) takeThrottled(now time.Time) bool {
	return b.serving(now) || b.take()
}

// servedEvery is how stale lastServed may grow before a read that
// succeeded writes it again: every fetcher of a run succeeds on the same
// cache line, and a write on each read would have them contend for it.
const servedEvery = ThrottleGrace / 16

// served records a read that succeeded at now.
func (b *RetryBudget) served(now time.Time) {
	if t := now.UnixNano(); t-b.lastServed.Load() >= int64(servedEvery) {
		b.lastServed.Store(t)
	}
}

// Immediate is implemented by backends whose reads wait on nothing but
// memory and the processor, such as an in-memory store: no deadline can
// help there, so [Store.Read] arms none, and reads stay free of the
// allocations a deadline costs.
type Immediate interface {
	// Immediate reports whether every read of the backend is immediate.
	Immediate() bool
}

// deadline ends an attempt, by cancelling its context with a
// *timeoutError cause, once it has waited FirstByteTimeout for its first
// byte or IdleTimeout for its next one.
//
// A deadline armed before its store was observed (see [observed]) holds
// its policy's ceilings then, but checks again every step (the policy's
// DeadlineFloor) what its deadlines have become: so a read stalled among
// a run's first reads is abandoned once the reads beside it have shown
// what the store takes, not after the ceiling.
type deadline struct {
	ctx         context.Context
	cancel      context.CancelCauseFunc
	mu          sync.Mutex  // guards timer, which fire re-arms from the timer's goroutine
	timer       *time.Timer // nil until armed
	first, idle time.Duration
	body        atomic.Bool // a byte of the body has arrived

	recheck func() (first, idle time.Duration) // the deadlines now; nil: first and idle hold
	step    time.Duration                      // how often recheck is asked
	phase   atomic.Int64                       // when the wait now timed began (the attempt, or the last bytes), Unix ns

	// Kept by received, for the store's observed latency: when bytes
	// last arrived and the longest wait between two arrivals.
	last time.Time
	gap  time.Duration
}

// newDeadline returns the deadline of an attempt with the given first-byte
// and idle deadlines (negative: none), or nil when both are none. With
// recheck, the deadlines are asked of it again every step.
func newDeadline(parent context.Context, first, idle time.Duration, recheck func() (time.Duration, time.Duration), step time.Duration) *deadline {
	if first < 0 && idle < 0 {
		return nil
	}
	d := &deadline{first: first, idle: idle}
	if recheck != nil && step > 0 {
		d.recheck, d.step = recheck, step
	}
	d.phase.Store(time.Now().UnixNano())
	d.ctx, d.cancel = context.WithCancelCause(parent)
	if d.first >= 0 {
		d.mu.Lock()
		d.timer = time.AfterFunc(d.wait(d.first), d.fire)
		d.mu.Unlock()
	}
	return d
}

// wait returns how long the timer waits for a deadline of limit: limit,
// or at most a step when the deadline is checked again.
func (d *deadline) wait(limit time.Duration) time.Duration {
	if d.recheck != nil {
		return min(limit, d.step)
	}
	return limit
}

// fire ends the attempt with the cause of the phase it is in; a deadline
// checked again first asks what its deadline is now, and waits on if the
// phase has not lasted that long.
func (d *deadline) fire() {
	body := d.body.Load()
	first, idle := d.first, d.idle
	if d.recheck != nil {
		if d.ctx.Err() != nil {
			return // stopped, or fired: no more checks
		}
		first, idle = d.recheck()
		limit := first
		if body {
			limit = idle
		}
		if limit < 0 {
			return // none now
		}
		if rest := limit - time.Since(time.Unix(0, d.phase.Load())); rest > 0 {
			d.mu.Lock()
			d.timer.Reset(min(rest, d.step))
			d.mu.Unlock()
			return
		}
	}
	if body {
		d.cancel(&timeoutError{"no byte of the body", idle})
		return
	}
	d.cancel(&timeoutError{"no first byte", first})
}

// progress re-arms the deadline after bytes arrived: the next must come
// within the idle timeout. A deadline that has fired stays fired.
func (d *deadline) progress() {
	d.body.Store(true)
	d.phase.Store(time.Now().UnixNano())
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case d.idle < 0:
		if d.timer != nil {
			d.timer.Stop()
		}
	case d.timer == nil:
		d.timer = time.AfterFunc(d.wait(d.idle), d.fire)
	case d.ctx.Err() == nil:
		d.timer.Reset(d.wait(d.idle))
	}
}

// received re-arms the deadline as progress does, after bytes of a body
// read in one go arrived, and keeps the longest wait between arrivals.
func (d *deadline) received() {
	now := time.Now()
	if !d.last.IsZero() {
		d.gap = max(d.gap, now.Sub(d.last))
	}
	d.last = now
	d.progress()
}

// pause disarms the deadline until the next progress: a [Stream] between
// two Reads waits on its caller, not on the store. A deadline that has
// fired stays fired.
func (d *deadline) pause() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil {
		d.timer.Stop()
	}
}

// stop disarms the deadline and releases its context.
func (d *deadline) stop() {
	d.mu.Lock()
	if d.timer != nil {
		d.timer.Stop()
	}
	d.mu.Unlock()
	d.cancel(nil)
}

// expired returns the cause with which the deadline ended the attempt, or
// nil.
func (d *deadline) expired() error {
	var te *timeoutError
	if cause := context.Cause(d.ctx); errors.As(cause, &te) {
		return te
	}
	return nil
}
