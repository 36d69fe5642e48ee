package fakes

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// ErrThrottled is wrapped by the error with which an [Emulator]'s backend
// refuses a read over its profile's PrefixRate. The backend classifies
// that error as dataset.KindThrottled, so that a Store backs off and
// retries it as it does S3's 503 SlowDown, the answer of the emulator's
// middleware; unlike a fault an [Injector] injects, it does not wrap
// [ErrInjected].
var ErrThrottled = errors.New("fakes: throttled: over the profile's request rate")

// The S3 answer of the emulator's middleware to a request over a capacity
// limit.
const (
	throttleStatus = http.StatusServiceUnavailable
	throttleCode   = "SlowDown"
)

// linkBurst is the burst of a profile's Link, in bytes: four of the
// largest chunks a body is released in, so that every chunk fits and
// bodies in flight together never get ahead of the link by more.
const linkBurst = 4 * maxChunk

// prefixBurst returns the burst of a prefix's request rate r: a tenth of a
// second's worth of requests, at least one.
func prefixBurst(r float64) int {
	return int(max(1, math.Ceil(r/10)))
}

// capacity is what a [Profile]'s capacity limits need to know of the
// requests in flight, shared by all the requests of one [Emulator].
type capacity struct {
	rate     float64       // the profile's PrefixRate; 0 (or less) means unlimited
	burst    int           // of each prefix's limiter
	prefixes sync.Map      // prefix (string) -> *rate.Limiter, created on first use
	link     *rate.Limiter // the profile's Link, in bytes; nil: unlimited

	inFlight  atomic.Int64 // requests admitted and not yet over
	throttled atomic.Int64 // requests refused
}

// init sets c up for p.
func (c *capacity) init(p Profile) {
	if p.PrefixRate > 0 {
		c.rate, c.burst = p.PrefixRate, prefixBurst(p.PrefixRate)
	}
	if p.Link > 0 {
		c.link = rate.NewLimiter(rate.Limit(p.Link), linkBurst)
	}
}

// prefixOf returns the prefix of key: key up to and including its last
// '/', or "" if it has none.
func prefixOf(key string) string {
	return key[:strings.LastIndexByte(key, '/')+1]
}

// objectKey returns the key a path-style URL path "/bucket/key" names.
func objectKey(path string) string {
	_, key, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	return key
}

// limiter returns the limiter of prefix, creating it on first use.
func (c *capacity) limiter(prefix string) *rate.Limiter {
	if l, ok := c.prefixes.Load(prefix); ok {
		return l.(*rate.Limiter)
	}
	l, _ := c.prefixes.LoadOrStore(prefix, rate.NewLimiter(rate.Limit(c.rate), c.burst))
	return l.(*rate.Limiter)
}

// allow takes one request of key's prefix from its budget at instant now,
// or counts a refusal and returns a *throttleError if the budget is spent.
// A refused request takes nothing from the budget. The instant is an
// argument so that tests can replay arrivals on a clock of their own.
func (c *capacity) allow(key string, now time.Time) error {
	if c.rate <= 0 {
		return nil
	}
	prefix := prefixOf(key)
	if c.limiter(prefix).AllowN(now, 1) {
		return nil
	}
	c.throttled.Add(1)
	return &throttleError{key: key, prefix: prefix, rate: c.rate}
}

// throttleError is the error of a read refused over a profile's
// PrefixRate.
type throttleError struct {
	key, prefix string
	rate        float64
}

func (e *throttleError) Error() string {
	return fmt.Sprintf("read %q: prefix %q over %g requests/s: %v", e.key, e.prefix, e.rate, ErrThrottled)
}

func (e *throttleError) Unwrap() error { return ErrThrottled }

// Throttled returns how many requests the emulator refused so far, over
// its profile's PrefixRate, through its middleware and its backend alike.
func (e *Emulator) Throttled() int64 { return e.capacity.throttled.Load() }

// begin starts a GET or HEAD of key. It refuses the request, with a
// *throttleError, if key's prefix is over the profile's PrefixRate;
// else it counts the request in flight and returns its time to first
// byte: a draw, stretched by the knee (see kneeScale) for the requests in
// flight, the new one included. Unless begin refused the request, the
// caller must call end exactly once when the request is over: its body
// sent or abandoned. A refused request takes no draw.
func (e *Emulator) begin(key string) (time.Duration, error) {
	if err := e.capacity.allow(key, time.Now()); err != nil {
		return 0, err
	}
	n := e.capacity.inFlight.Add(1)
	return scaleTTFB(e.draw(), n, e.p.Knee), nil
}

// end counts a request begun by begin as over.
func (e *Emulator) end() { e.capacity.inFlight.Add(-1) }

// kneeScale returns the factor by which the time to first byte of a
// request that arrives when n requests are in flight (itself included)
// stretches, at a store whose latency rises past knee requests in flight:
//
//	scale(n) = max(1, n/knee)    (1 when knee <= 0)
//
// The model is processor sharing past the knee: the store does knee
// requests' worth of work at a time, so each of n > knee requests gets
// knee/n of a server and takes n/knee times as long. The emulator fixes
// the stretch when a request arrives, from the count then, rather than
// re-sharing as requests come and go; under a steady closed loop of n
// readers, where each arrival finds the other n-1 in flight, the two
// agree: the mean latency is L0·n/knee and, by Little's law, the
// throughput n/(L0·n/knee) = knee/L0 whatever n, L0 being the mean time
// to first byte below the knee.
func kneeScale(n int64, knee int) float64 {
	if knee <= 0 || n <= int64(knee) {
		return 1
	}
	return float64(n) / float64(knee)
}

// scaleTTFB stretches a drawn time to first byte d by kneeScale(n, knee).
func scaleTTFB(d time.Duration, n int64, knee int) time.Duration {
	s := kneeScale(n, knee)
	if s == 1 {
		return d
	}
	return toDuration(float64(d) * s)
}

// latencyAt returns the mean time, in seconds, to read an object of size
// bytes with c requests in flight: the mean time to first byte, stretched
// by kneeScale(c, Knee), plus size/Bandwidth.
func (p Profile) latencyAt(c int, size float64) float64 {
	var l float64
	if p.hasTTFB() {
		l = p.TTFB.Mean().Seconds() * kneeScale(int64(c), p.Knee)
	}
	if p.Bandwidth > 0 && size > 0 {
		l += size / p.Bandwidth
	}
	return l
}

// MaxRate returns the most items per second p's store can serve to a
// loader that never has more than c reads in flight, reading items of
// meanBytes bytes on average spread over the given number of key prefixes
// (fewer than 1 count as 1). It is the least of:
//
//   - c/L(c), by Little's law, L(c) being the mean latency with c reads in
//     flight: the mean time to first byte times max(1, c/Knee), plus
//     meanBytes/Bandwidth. Past the knee, with no Bandwidth, that is
//     Knee over the mean time to first byte, whatever c. c/L(c) grows
//     with c, so fewer reads in flight never serve more.
//   - PrefixRate·prefixes, the requests the prefixes admit per second
//     (and their burst, over a run of duration over).
//   - Link/meanBytes, the items the link carries per second.
//
// Over a run of duration over, a prefix's token bucket can also admit the
// burst it holds at the run's start: PrefixRate becomes PrefixRate +
// burst/over (over <= 0: the long-run rate, no burst).
//
// A term whose parameter is unset (no latency, no PrefixRate, no Link or
// no bytes) limits nothing; with none set MaxRate returns +Inf. With
// latency and c < 1 it returns 0.
func (p Profile) MaxRate(c int, meanBytes float64, prefixes int, over time.Duration) float64 {
	r := math.Inf(1)
	if l := p.latencyAt(c, meanBytes); l > 0 {
		r = float64(max(c, 0)) / l
	}
	if p.PrefixRate > 0 {
		perPrefix := p.PrefixRate
		if over > 0 {
			perPrefix += float64(prefixBurst(p.PrefixRate)) / over.Seconds()
		}
		r = min(r, perPrefix*float64(max(prefixes, 1)))
	}
	if p.Link > 0 && meanBytes > 0 {
		r = min(r, p.Link/meanBytes)
	}
	return r
}
