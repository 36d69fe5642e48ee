package loader

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/storagebench/storagebench/dataset"
)

// Objects in parts (Options.Part), as the AWS CRT client reads large
// objects under s3torchconnector and Mountpoint: an item's first part is
// a ranged GET of its first Part bytes, whose answer gives the object's
// size; an item no larger than a part is then whole, read by that one
// request, and a larger one is sized in place and its other parts are
// read by ranged GETs straight into it. In Sync mode a worker reads them
// one after another; in Async mode they join the worker's part queue,
// which its fetchers serve before any new item, oldest item first, so
// that every part is one of the worker's FetchConcurrency requests in
// flight and the items begun finish first.

// partial is an item being read in parts by a worker's fetchers: its
// first part read, its size known, its other parts queued. The fetcher
// that reads its last part finishes it.
type partial struct {
	b     *Batch
	i     int
	key   string
	size  int64
	start time.Time      // when its first part's read started
	first dataset.Timing // its first part's read
	left  atomic.Int32   // parts not yet read, the first excluded

	mu  sync.Mutex
	err error // the first failed part's error
}

// partTask is part k (from 1) of an item being read in parts.
type partTask struct {
	p *partial
	k int
}

// partQueue holds the parts a worker's fetchers have yet to read, in the
// order their items were begun, and wakes fetchers idle on the worker's
// items when parts arrive. It is unbounded, but never holds more than the
// parts of the items the worker's batch slots hold.
type partQueue struct {
	mu    sync.Mutex
	tasks []partTask
	head  int
	wake  chan struct{} // a token per part pushed, up to the fetchers
	// begun counts the items handed to the fetchers whose first part is
	// not read: they may queue parts yet. The worker's loop counts an
	// item before handing it over, so that a fetcher that sees the hand-
	// overs end sees every item it must wait for.
	begun atomic.Int32
}

// newPartQueue returns the part queue of a worker with fetchers fetchers.
func newPartQueue(fetchers int) *partQueue {
	return &partQueue{wake: make(chan struct{}, fetchers)}
}

// push queues parts 1 to n-1 of p and wakes as many idle fetchers.
func (q *partQueue) push(p *partial, n int) {
	q.mu.Lock()
	if q.head == len(q.tasks) {
		q.tasks, q.head = q.tasks[:0], 0
	}
	for k := 1; k < n; k++ {
		q.tasks = append(q.tasks, partTask{p, k})
	}
	q.mu.Unlock()
	for range n - 1 {
		select {
		case q.wake <- struct{}{}:
		default:
			return // as many tokens wait as there are fetchers
		}
	}
}

// wakeAll wakes every idle fetcher, to look again at the queue and at
// the items begun.
func (q *partQueue) wakeAll() {
	for {
		select {
		case q.wake <- struct{}{}:
		default:
			return
		}
	}
}

// pop takes the oldest queued part, if any.
func (q *partQueue) pop() (partTask, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.head == len(q.tasks) {
		return partTask{}, false
	}
	t := q.tasks[q.head]
	q.tasks[q.head] = partTask{}
	q.head++
	return t, true
}

// len returns the number of parts queued.
func (q *partQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.tasks) - q.head
}

// fetchParts reads item i of b in parts of r.part bytes. It reads the
// first part, which tells the item's size; with q nil (Sync mode) it then
// reads the other parts one after another and finishes the item, with q
// set it queues them for the worker's fetchers and returns done false: the
// fetcher that reads the last one finishes the item (readPart). It returns
// the error that stops the run, as fetch does.
func (r *run) fetchParts(b *Batch, i int, rec *recorder, wt *waiter, q *partQueue) (done bool, err error) {
	item := &b.Items[i]
	key := r.ds.Key(item.Index)
	st := r.ds.Store()
	t0 := time.Now()
	data, tm, err := st.ReadRange(r.ctx, key, 0, r.part, item.Data)
	item.Data = data
	t1 := time.Now()
	if err == nil && tm.Size < 0 && int64(len(data)) == r.part {
		// A backend that tells no size: the rest in one more request.
		var rest []byte
		var tm2 dataset.Timing
		rest, tm2, err = st.ReadRange(r.ctx, key, r.part, -1, nil)
		rec.part(tm2, err != nil, t1, time.Now(), true)
		item.Data = append(item.Data, rest...)
		tm.Size = int64(len(item.Data))
	}
	if err != nil || tm.Size <= r.part {
		if err != nil && r.ctx.Err() != nil {
			return false, r.stopped()
		}
		rec.part(tm, err != nil, t0, t1, false)
		return true, r.finishParts(b, i, rec, wt, t0, tm, t1, err)
	}
	rec.part(tm, false, t0, t1, false)
	if int64(cap(item.Data)) < tm.Size {
		whole := make([]byte, tm.Size)
		copy(whole, item.Data)
		item.Data = whole
	}
	item.Data = item.Data[:tm.Size]
	n := int((tm.Size + r.part - 1) / r.part)
	p := &partial{b: b, i: i, key: key, size: tm.Size, start: t0, first: tm}
	p.left.Store(int32(n - 1))
	if q != nil {
		q.push(p, n)
		return false, nil
	}
	for k := 1; k < n; k++ {
		if done, err := r.readPart(partTask{p, k}, rec, wt); done || err != nil {
			return done, err
		}
	}
	return false, nil // not reached: the last part finishes the item
}

// readPart reads part t.k of its item into the item's buffer, in place.
// The fetcher that reads an item's last part finishes the item and
// returns done true. It returns the error that stops the run, as fetch
// does.
func (r *run) readPart(t partTask, rec *recorder, wt *waiter) (done bool, err error) {
	p := t.p
	item := &p.b.Items[p.i]
	off := int64(t.k) * r.part
	from := time.Now()
	tm, err := r.ds.Store().ReadRangeInto(r.ctx, p.key, off, item.Data[off:min(off+r.part, p.size)])
	to := time.Now()
	if err != nil && r.ctx.Err() != nil {
		return false, r.stopped()
	}
	rec.part(tm, err != nil, from, to, true)
	if err != nil {
		p.mu.Lock()
		if p.err == nil {
			p.err = err
		}
		p.mu.Unlock()
	}
	if p.left.Add(-1) > 0 {
		return false, nil
	}
	p.mu.Lock()
	err = p.err
	p.mu.Unlock()
	return true, r.finishParts(p.b, p.i, rec, wt, p.start, p.first, to, err)
}

// finishParts finishes item i of b, read in parts from start to end, its
// first part timed by first, failed with err if a part failed: it decodes
// it if asked, records it and returns the error that stops the run, as
// fetch does. A failed item's buffer is cut to nothing.
func (r *run) finishParts(b *Batch, i int, rec *recorder, wt *waiter, start time.Time, first dataset.Timing, end time.Time, err error) error {
	item := &b.Items[i]
	readFailed := err != nil
	if readFailed {
		item.Data = item.Data[:0]
	}
	var dec time.Duration
	decoded := err == nil && r.decoding != nil
	if decoded {
		var ok bool
		if dec, ok, err = r.decode(b, i, wt); !ok {
			return r.stopped()
		}
	}
	now := time.Now()
	if err != nil && r.ctx.Err() != nil {
		return r.stopped()
	}
	transfer := end.Sub(start) - first.Retrying - first.TTFB
	rec.partsItem(now.Sub(start), first.TTFB, transfer, dec, decoded, err != nil, end, now)
	return r.result(b, item, err)
}
