package loader

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/storagebench/storagebench/dataset"
)

// errClosed is the cause with which Close stops a run. It is no failure:
// Close translates it to nil, and Next reports it only after Close.
var errClosed = errors.New("loader: iterator closed")

// run is the state that the goroutines of one run share: what to read, in
// which order, how to read an item, and how the run stops. Start builds it
// and hands it to each worker; nothing in it points back to the Iter or the
// Loader. It holds what is common to any way of scheduling fetches; how
// batches are assigned to goroutines is the worker's business alone.
//
// Its lifetime is an errgroup's: every goroutine of the run is started with
// group.Go and returns nil when its work is done, or else the reason it
// stopped. The first error cancels ctx with that error as its cause;
// Close cancels it with errClosed, the caller's context with its own cause.
// A goroutine that sees ctx done returns context.Cause(ctx).
type run struct {
	ctx   context.Context // done when the run stops; context.Cause says why
	group *errgroup.Group // the run's goroutines

	ds        *dataset.Dataset
	orders    *epochOrders // the sampler's order of each epoch in use
	batchSize int          // items a batch, the last of an epoch maybe fewer
	batches   int          // batches an epoch
	total     int          // batches in the run, -1 for no end
	decoding  *gate        // admits decodes in sampler order; nil: no decoding
	deliver   bool         // deliver failed items with Item.Err, not stop
	skip      bool         // leave failed items out of their batches, not stop
	held      held         // the items and bytes the loader holds
	stream    *streamPlan  // the plan of a stream of shards, or nil
	part      int64        // items read in parts of this many bytes; 0: whole
}

// held counts the item buffers a run holds and their bytes, with their
// peaks. Schedulers add what they take and release what the consumer
// gives back.
type held struct {
	items, bytes         atomic.Int64
	peakItems, peakBytes atomic.Int64
}

// add counts n more items and b more bytes held.
func (h *held) add(n int, b int) {
	if n != 0 {
		raise(&h.peakItems, h.items.Add(int64(n)))
	}
	if b != 0 {
		raise(&h.peakBytes, h.bytes.Add(int64(b)))
	}
}

// release stops counting batch b's items and their bytes.
func (h *held) release(b *Batch) {
	bytes := 0
	for i := range b.Items {
		bytes += len(b.Items[i].Data)
	}
	h.items.Add(-int64(len(b.Items)))
	h.bytes.Add(-int64(bytes))
}

// reset restarts the peaks from what is held now.
func (h *held) reset() {
	h.peakItems.Store(h.items.Load())
	h.peakBytes.Store(h.bytes.Load())
}

// raise sets peak to v if v is larger.
func raise(peak *atomic.Int64, v int64) {
	for {
		p := peak.Load()
		if v <= p || peak.CompareAndSwap(p, v) {
			return
		}
	}
}

// stopped returns why the run stopped: the cause of its context.
func (r *run) stopped() error { return context.Cause(r.ctx) }

// layout sets slot b up as the run's batch seq, in sampler order, ready
// for its items to be read. It fails if the sampler's order is invalid.
func (r *run) layout(b *Batch, seq int) error {
	epoch, index := seq/r.batches, seq%r.batches
	order, err := r.orders.get(epoch)
	if err != nil {
		return err
	}
	first := index * r.batchSize
	size := min(r.batchSize, r.orders.len-first)
	b.seq, b.Epoch, b.Index = seq, epoch, index
	b.last = index == r.batches-1
	b.Items = b.Items[:size]
	for i := range b.Items {
		item := &b.Items[i]
		item.Index, item.Err = first+i, nil
		if order != nil {
			item.Index = order[first+i]
		}
	}
	b.pending.Store(int32(size))
	b.start = time.Now()
	return nil
}

// fetch reads (and decodes) item i of b and records its timings in rec;
// wt is the calling goroutine's place in the decode gate's queue. It
// returns nil once the item is done, read or, with deliver or skip,
// failed; else the error that stops the run: the item's own, or why the
// run stopped.
func (r *run) fetch(b *Batch, i int, rec *recorder, wt *waiter) error {
	if r.part > 0 {
		_, err := r.fetchParts(b, i, rec, wt, nil)
		return err
	}
	item := &b.Items[i]
	t0 := time.Now()
	data, tm, err := r.ds.Read(r.ctx, item.Index, item.Data)
	item.Data = data
	readFailed := err != nil
	var dec time.Duration
	decoded := err == nil && r.decoding != nil
	if decoded {
		var ok bool
		if dec, ok, err = r.decode(b, i, wt); !ok {
			return r.stopped()
		}
	}
	getitem := time.Since(t0)
	if err != nil && r.ctx.Err() != nil {
		return r.stopped() // the run is stopping; this is no storage error
	}
	rec.item(getitem, tm, dec, decoded, readFailed, err != nil, t0, t0.Add(getitem))
	return r.result(b, item, err)
}

// decode decodes item i of b, read, admitted by the decode gate in sampler
// order; wt is the calling goroutine's place in the gate's queue. It
// returns how long decoding took and its error, naming the item; ok is
// false when the run stopped while the item waited for the gate.
func (r *run) decode(b *Batch, i int, wt *waiter) (dec time.Duration, ok bool, err error) {
	item := &b.Items[i]
	if r.decoding.enter(r.ctx, wt, int64(b.seq)*int64(r.batchSize)+int64(i)) != nil {
		return 0, false, nil
	}
	t1 := time.Now()
	item.Image, err = DecodeGray(item.Data, item.Image)
	dec = time.Since(t1)
	r.decoding.leave()
	if err != nil {
		err = fmt.Errorf("item %q: %w", r.ds.Key(item.Index), err)
	}
	return dec, true, err
}

// result sets item's error and returns the error that stops the run, if
// any: the item's, unless the run delivers or skips failed items.
func (r *run) result(b *Batch, item *Item, err error) error {
	item.Err = err
	if err != nil && !r.deliver && !r.skip {
		return fmt.Errorf("loader: epoch %d batch %d: %w", b.Epoch, b.Index, err)
	}
	return nil
}
