package loader

import (
	"context"
	"fmt"
	"time"
)

// worker fetches every Workers-th batch of a run into its own Prefetch
// batch slots, in Sync mode itself and in Async mode through its fetchers.
type worker struct {
	id      int
	it      *Iter
	rec     recorder
	free    chan *Batch // slots the worker may fill; the consumer returns them
	started chan *Batch // started batches in order, for the consumer
	tasks   chan task   // items for the fetchers, in Async mode

	// The consumer's look at the worker's next batch, taken from started
	// by ready or take; peekDone is set once the batch is complete.
	peek     *Batch
	peekDone bool
}

// task is one item of a batch for a fetcher.
type task struct {
	b *Batch
	i int
}

func newWorker(id int, it *Iter) *worker {
	o := it.l.opts
	w := &worker{
		id:      id,
		it:      it,
		free:    make(chan *Batch, o.Prefetch),
		started: make(chan *Batch, o.Prefetch),
	}
	for range o.Prefetch {
		w.free <- &Batch{worker: w, Items: make([]Item, 0, o.BatchSize), done: make(chan struct{}, 1)}
	}
	return w
}

// loop fetches the worker's batches until the run ends or is stopped.
func (w *worker) loop() {
	defer w.rec.finish()
	it, o := w.it, w.it.l.opts
	if o.Mode == Async {
		// Buffered, so a fetcher done with an item finds the next one
		// waiting instead of parking until the worker hands it over.
		w.tasks = make(chan task, o.FetchConcurrency)
		defer close(w.tasks)
		for range o.FetchConcurrency {
			it.wg.Add(1)
			go func() {
				defer it.wg.Done()
				wt := newWaiter()
				for t := range w.tasks {
					if w.fetchOne(t.b, t.i, wt) && t.b.pending.Add(-1) == 0 {
						w.complete(t.b)
					}
				}
			}()
		}
	}
	wt := newWaiter()
	nw := len(it.workers)
	for seq := w.id; it.total < 0 || seq < it.total; seq += nw {
		var b *Batch
		select {
		case b = <-w.free:
		case <-it.ctx.Done():
			return
		}
		w.begin(b, seq)
		if o.Mode == Sync {
			for i := range b.Items {
				if !w.fetchOne(b, i, wt) {
					return
				}
			}
			w.complete(b)
			continue
		}
		for i := range b.Items {
			select {
			case w.tasks <- task{b, i}:
			case <-it.ctx.Done():
				return
			}
		}
	}
}

// ready reports, without waiting, whether the worker's next batch in order
// is complete. It is for the consumer's goroutine.
func (w *worker) ready() bool {
	if w.peek == nil {
		select {
		case w.peek = <-w.started:
		default:
			return false
		}
	}
	if !w.peekDone {
		select {
		case <-w.peek.done:
			w.peekDone = true
		default:
			return false
		}
	}
	return true
}

// take waits for the worker's next batch in order to be complete and
// returns it, or nil once ctx is done. It is for the consumer's goroutine.
func (w *worker) take(ctx context.Context) *Batch {
	if w.peek == nil {
		select {
		case w.peek = <-w.started:
		case <-ctx.Done():
			return nil
		}
	}
	if !w.peekDone {
		select {
		case <-w.peek.done:
		case <-ctx.Done():
			return nil
		}
	}
	b := w.peek
	w.peek, w.peekDone = nil, false
	return b
}

// begin sets up slot b as the batch numbered seq in the run and hands it
// to the consumer's queue, in order.
func (w *worker) begin(b *Batch, seq int) {
	l := w.it.l
	bs, n := l.opts.BatchSize, l.ds.Len()
	b.seq, b.Epoch, b.Index = seq, seq/l.batches, seq%l.batches
	first := b.Index * bs
	size := min(bs, n-first)
	order := w.it.order(b.Epoch)
	b.Items = b.Items[:size]
	for i := range b.Items {
		it := &b.Items[i]
		it.Index, it.Err = first+i, nil
		if order != nil {
			it.Index = order[first+i]
		}
	}
	b.pending.Store(int32(size))
	b.start = time.Now()
	w.rec.batchStarted(b.Epoch, b.start)
	w.started <- b // never blocks: the worker has only Prefetch slots
}

// fetchOne reads (and decodes) item i of b and records its timings; wt is
// the calling goroutine's place in the decode gate's queue. It reports
// false when the read failed and the run must end.
func (w *worker) fetchOne(b *Batch, i int, wt *waiter) bool {
	it, o := w.it, w.it.l.opts
	item := &b.Items[i]
	t0 := time.Now()
	data, tm, err := it.l.ds.Read(it.ctx, item.Index, item.Data)
	item.Data = data
	var dec time.Duration
	decoded := err == nil && o.Decode == DecodeJPEG
	if decoded {
		if it.decoding.enter(it.ctx, wt, int64(b.seq)*int64(o.BatchSize)+int64(i)) != nil {
			return false
		}
		t1 := time.Now()
		item.Image, err = DecodeGray(data, item.Image)
		dec = time.Since(t1)
		it.decoding.leave()
		if err != nil {
			err = fmt.Errorf("item %q: %w", it.l.ds.Key(item.Index), err)
		}
	}
	getitem := time.Since(t0)
	if err != nil && it.ctx.Err() != nil {
		return false // the run is stopping; this is no storage error
	}
	w.rec.item(getitem, tm.TTFB, tm.Transfer(), dec, decoded, err != nil)
	item.Err = err
	if err != nil && !o.TolerateErrors {
		it.fail(fmt.Errorf("loader: epoch %d batch %d: %w", b.Epoch, b.Index, err))
		return false
	}
	return true
}

// complete records b's fetch and signals the consumer.
func (w *worker) complete(b *Batch) {
	w.rec.batchDone(b.Epoch, b.start, time.Now())
	b.done <- struct{}{}
}
