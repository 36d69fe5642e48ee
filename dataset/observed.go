package dataset

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// observed is what a store's recent successful attempts took: the time to
// their first byte and the longest wait for a byte of their bodies, whose
// 99th percentiles set the deadlines of the store's next attempts (see
// [Policy.DeadlineMultiple]). The percentiles are taken over a window of
// reads: after the first observedMin reads, then each time the count
// doubles, and from observedWindow reads on over each window of that many
// alone, so that the deadlines follow a store that slows down or speeds
// up. Until the first observedMin reads the policy's ceilings hold. It is
// safe for concurrent use; the Store and its copies share one.
type observed struct {
	mu    sync.Mutex
	first *hdrhistogram.Histogram // microseconds to the first byte
	gap   *hdrhistogram.Histogram // microseconds of the longest wait within a body
	n     int64                   // reads recorded in the window
	at    int64                   // n at which the percentiles are next taken

	firstP99, gapP99 atomic.Int64 // nanoseconds; 0 until observedMin reads
}

// The window of [observed]: percentiles from observedMin reads on, taken
// again as the count doubles up to observedWindow, then over each window.
const (
	observedMin    = 64
	observedWindow = 1024
)

// The range the histograms hold, in microseconds (1 µs to 10 min, two
// significant digits): a longer wait than the largest is recorded as it.
const (
	observedLow  = 1
	observedHigh = int64(10 * time.Minute / time.Microsecond)
)

func newObserved() *observed {
	return &observed{
		first: hdrhistogram.New(observedLow, observedHigh, 2),
		gap:   hdrhistogram.New(observedLow, observedHigh, 2),
		at:    observedMin,
	}
}

// record adds a successful attempt whose first byte came first after its
// start, and whose body's longest wait for a byte, after the first, was
// gap (0 for a body that came in one piece; negative when not measured,
// as for a stream, whose waits include its reader's).
func (o *observed) record(first, gap time.Duration) {
	us := func(d time.Duration) int64 { return min(max(int64(d/time.Microsecond), observedLow), observedHigh) }
	o.mu.Lock()
	defer o.mu.Unlock()
	o.first.RecordValue(us(first))
	if gap >= 0 {
		o.gap.RecordValue(us(gap))
	}
	o.n++
	if o.n < o.at {
		return
	}
	o.firstP99.Store(o.first.ValueAtQuantile(99) * int64(time.Microsecond))
	o.gapP99.Store(o.gap.ValueAtQuantile(99) * int64(time.Microsecond))
	if o.n < observedWindow {
		o.at *= 2
		return
	}
	o.first.Reset()
	o.gap.Reset()
	o.n, o.at = 0, observedWindow
}

// deadlines returns the first-byte and idle deadlines of attempt k (from
// 0) of a read under p: p's ceilings until the store has been observed
// (or with DeadlineMultiple negative), else DeadlineMultiple times the
// observed 99th percentiles or DeadlineFloor, whichever is longer,
// doubled for each attempt before k, never above the ceilings. A negative ceiling (no
// deadline) stays negative.
func (o *observed) deadlines(p Policy, k int) (first, idle time.Duration) {
	first, idle = p.FirstByteTimeout, p.IdleTimeout
	if o == nil || p.DeadlineMultiple < 0 {
		return first, idle
	}
	follow := func(ceil time.Duration, p99 int64) time.Duration {
		if ceil < 0 || p99 == 0 {
			return ceil
		}
		d := max(p.DeadlineMultiple*float64(p99), float64(p.DeadlineFloor))
		for i := 0; i < k && d < float64(ceil); i++ {
			d *= 2
		}
		return min(time.Duration(min(d, float64(ceil))), ceil)
	}
	return follow(first, o.firstP99.Load()), follow(idle, o.gapP99.Load())
}

// settled reports whether the deadlines under p follow the store already,
// for the first byte and within the body alike, or never will (nil, or
// fixed deadlines): else an attempt's deadline is checked again as the
// store is observed.
func (o *observed) settled(p Policy) bool {
	return o == nil || p.DeadlineMultiple < 0 || (o.firstP99.Load() > 0 && o.gapP99.Load() > 0)
}
