package loader

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/storagebench/storagebench/dataset"
)

// hedgeQueue holds the hedge deadlines of a run's first reads: one for
// each first read that may yet be hedged, in a heap ordered by deadline.
// The run's hedging goroutine (itemSched.hedging), started in the run's
// group and so joined by Close, waits for the earliest and starts the
// hedges due; no timer of the run's outlives it. It is safe for
// concurrent use; an itemState's place in it (qpos) is guarded by its mu,
// which is taken after the item's own.
type hedgeQueue struct {
	mu   sync.Mutex
	heap []hedgeEntry  // a min-heap on at; its capacity, C, is never exceeded
	wake chan struct{} // takes a value when the earliest deadline moved up
}

// hedgeEntry is the deadline at which item i of b, whose first read is of
// generation gen, is to be hedged.
type hedgeEntry struct {
	at  time.Time
	b   *Batch
	i   int
	gen uint64
}

// newHedgeQueue returns an empty queue for c first reads at once.
func newHedgeQueue(c int) *hedgeQueue {
	return &hedgeQueue{heap: make([]hedgeEntry, 0, c), wake: make(chan struct{}, 1)}
}

// push queues the hedge of item i of b, generation gen, for at. The item
// must not be queued already.
func (q *hedgeQueue) push(b *Batch, i int, gen uint64, at time.Time) {
	q.mu.Lock()
	q.heap = append(q.heap, hedgeEntry{at: at, b: b, i: i, gen: gen})
	n := len(q.heap) - 1
	b.states[i].qpos = n + 1
	first := q.up(n) == 0
	q.mu.Unlock()
	if first {
		select {
		case q.wake <- struct{}{}:
		default: // a wake-up is pending already
		}
	}
}

// remove takes st's deadline out of the queue, if it is there.
func (q *hedgeQueue) remove(st *itemState) {
	q.mu.Lock()
	if k := st.qpos - 1; k >= 0 {
		q.delete(k)
	}
	q.mu.Unlock()
}

// due takes out the entries due at now, earliest first, and calls start
// with each, without the queue's lock held; it returns the next deadline,
// or false when the queue is empty.
func (q *hedgeQueue) due(now time.Time, start func(hedgeEntry)) (time.Time, bool) {
	for {
		q.mu.Lock()
		if len(q.heap) == 0 {
			q.mu.Unlock()
			return time.Time{}, false
		}
		e := q.heap[0]
		if e.at.After(now) {
			q.mu.Unlock()
			return e.at, true
		}
		q.delete(0)
		q.mu.Unlock()
		start(e)
	}
}

// delete removes the entry at k. It is called with q.mu held.
func (q *hedgeQueue) delete(k int) {
	h := q.heap
	h[k].b.states[h[k].i].qpos = 0
	last := len(h) - 1
	if k != last {
		q.set(k, h[last])
	}
	h[last] = hedgeEntry{} // no reference to a batch outlives its entry
	q.heap = h[:last]
	if k != last {
		q.down(q.up(k))
	}
}

// set puts e at k and records its place. It is called with q.mu held.
func (q *hedgeQueue) set(k int, e hedgeEntry) {
	q.heap[k] = e
	e.b.states[e.i].qpos = k + 1
}

// up moves the entry at k towards the root while it is earlier than its
// parent, and returns where it ends. It is called with q.mu held.
func (q *hedgeQueue) up(k int) int {
	e := q.heap[k]
	for k > 0 {
		p := (k - 1) / 2
		if !e.at.Before(q.heap[p].at) {
			break
		}
		q.set(k, q.heap[p])
		k = p
	}
	q.set(k, e)
	return k
}

// down moves the entry at k away from the root while a child is earlier.
// It is called with q.mu held.
func (q *hedgeQueue) down(k int) {
	h := q.heap
	e := h[k]
	for {
		c := 2*k + 1
		if c >= len(h) {
			break
		}
		if c+1 < len(h) && h[c+1].at.Before(h[c].at) {
			c++
		}
		if !h[c].at.Before(e.at) {
			break
		}
		q.set(k, h[c])
		k = c
	}
	q.set(k, e)
}

// minHedgeSamples is how many first reads the running percentile of the
// time to first byte needs before hedging on it starts.
const minHedgeSamples = 50

// throttlePause is how long hedging pauses after the store throttles.
const throttlePause = time.Second

// hedger decides when hedges start: their delay, their budget, and a
// pause while the store throttles. It is safe for concurrent use.
type hedger struct {
	fixed  time.Duration // a fixed delay, or 0
	pct    float64       // the percentile of first reads' TTFB, or 0
	budget float64       // hedges per first read, at most

	firsts, hedges atomic.Int64
	pausedUntil    atomic.Int64 // Unix nanoseconds

	mu      sync.Mutex
	h       *hdrhistogram.Histogram // first reads' TTFB
	x       *hdrhistogram.Histogram // first reads' transfer, first byte to last
	n, xn   int64
	current atomic.Int64 // the percentile, recomputed every few samples
	xfer    atomic.Int64 // the transfer's percentile, so recomputed
}

// newHedger returns the hedger of hedges h within budget, a fraction of
// first reads.
func newHedger(h Hedge, budget float64) *hedger {
	return &hedger{fixed: h.Delay, pct: h.Percentile, budget: budget,
		h: hdrhistogram.New(histMin, histMax, histSig), x: hdrhistogram.New(histMin, histMax, histSig)}
}

// started counts a first read.
func (h *hedger) started() { h.firsts.Add(1) }

// issued counts a hedge.
func (h *hedger) issued() { h.hedges.Add(1) }

// delay returns the hedge delay for a first read starting now, and
// whether to hedge it at all: not until the percentile has its samples.
func (h *hedger) delay() (time.Duration, bool) {
	if h.pct == 0 {
		return h.fixed, true
	}
	d := time.Duration(h.current.Load())
	return d, d > 0
}

// ttfb records the time to first byte of a successful first read.
func (h *hedger) ttfb(d time.Duration) {
	if h.pct == 0 {
		return
	}
	h.mu.Lock()
	h.h.RecordValue(int64(min(max(d, histMin), maxDur)))
	h.n++
	if h.n >= minHedgeSamples && (h.n < 1000 || h.n%64 == 0) {
		h.current.Store(h.h.ValueAtQuantile(h.pct))
	}
	h.mu.Unlock()
}

// transferPercentile is the percentile of first reads' transfer times that
// a trickle is measured against when hedges start after a fixed delay.
const transferPercentile = 90

// transfer records the time from the first byte to the last of a
// successful first read.
func (h *hedger) transfer(d time.Duration) {
	pct := h.pct
	if pct == 0 {
		pct = transferPercentile
	}
	h.mu.Lock()
	h.x.RecordValue(int64(min(max(d, histMin), maxDur)))
	h.xn++
	if h.xn >= minHedgeSamples && (h.xn < 1000 || h.xn%64 == 0) {
		h.xfer.Store(h.x.ValueAtQuantile(pct))
	}
	h.mu.Unlock()
}

// trickleDelay returns how long after its first byte a first read that
// has not ended is trickling, and whether that is known yet: overdue times
// the percentile of first reads' transfer times (the hedge's percentile,
// or transferPercentile under a fixed delay), and at least minOverdue. A
// body that keeps arriving, far slower than the store's bodies do, is
// within any idle deadline; its item waits for it unless a hedge races it.
func (h *hedger) trickleDelay() (time.Duration, bool) {
	x := time.Duration(h.xfer.Load())
	return max(overdue*x, minOverdue), x > 0
}

// overdue is how many hedge delays, and minOverdue how long at least, a
// first read may go without a first byte before its hedge starts whatever
// the budget: far past any tail of a healthy store (8 x p90 is beyond the
// s3 profile's p99.9), such a read has stalled. Were it to wait for the
// budget, which the tail's ordinary hedges keep spent, it would hold its
// batch, and the loader, until its timeout: a stall at 1% of reads under
// s3 cut the loader to 0.12 of the bound.
const (
	overdue    = 8
	minOverdue = 100 * time.Millisecond
)

// allow reports whether a hedge of a first read started age ago may start
// at now: not while the store throttles; else within the budget, or past
// it for a read overdue hedge delays old.
func (h *hedger) allow(now time.Time, age time.Duration) bool {
	if now.UnixNano() < h.pausedUntil.Load() {
		return false
	}
	if float64(h.hedges.Load()+1) <= h.budget*float64(h.firsts.Load()) {
		return true
	}
	d, ok := h.delay()
	return ok && age >= max(overdue*d, minOverdue)
}

// allowTrickle reports whether the hedge of a trickling read may start at
// now: not while the store throttles, and only within the budget (a
// trickle is slow, not stalled: it ends).
func (h *hedger) allowTrickle(now time.Time) bool {
	return now.UnixNano() >= h.pausedUntil.Load() && float64(h.hedges.Load()+1) <= h.budget*float64(h.firsts.Load())
}

// retried is a read's Retry hook: it pauses hedging if err is the store
// throttling.
func (h *hedger) retried(_ int, err error) {
	if dataset.Throttled(err) {
		h.throttled(time.Now())
	}
}

// throttled pauses hedging from now: the store answered SlowDown.
func (h *hedger) throttled(now time.Time) {
	h.pausedUntil.Store(now.Add(throttlePause).UnixNano())
}
