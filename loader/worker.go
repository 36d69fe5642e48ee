package loader

import (
	"context"
	"time"
)

// worker is the per-batch scheduler, as PyTorch's: a run has Workers
// workers, and worker id fetches batches id, id+Workers, id+2*Workers...
// of the run into its own Prefetch batch slots, one item after another in
// Sync mode and through its fetchers in Async mode. It reads the run's
// shared state and records into its own recorder; the consumer takes its
// batches in order with take and ready, and returns each slot by releasing
// the batch.
type worker struct {
	run      *run
	rec      *recorder
	first    int // the worker's first batch of the run
	stride   int // batches between two of the worker's, the number of workers
	fetchers int // concurrent reads in Async mode; 0 in Sync mode

	free    chan *Batch // slots the worker may fill; the consumer returns them
	started chan *Batch // started batches in order, for the consumer
	tasks   chan task   // items for the fetchers, in Async mode
	parts   *partQueue  // parts of items in parts for the fetchers, in Async mode with Options.Part

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

// newWorker returns worker id of r, recording into rec, configured by the
// resolved options o.
func newWorker(r *run, rec *recorder, id int, o Options) *worker {
	w := &worker{
		run:     r,
		rec:     rec,
		first:   id,
		stride:  o.Workers,
		free:    make(chan *Batch, o.Prefetch),
		started: make(chan *Batch, o.Prefetch),
	}
	if o.Mode == Async {
		w.fetchers = o.FetchConcurrency
		if o.Part > 0 {
			w.parts = newPartQueue(w.fetchers)
		}
	}
	for range o.Prefetch {
		w.free <- &Batch{owner: w, Items: make([]Item, 0, o.BatchSize), done: make(chan struct{}, 1)}
	}
	return w
}

// recycle returns a consumed batch to the worker's free slots.
func (w *worker) recycle(b *Batch) {
	w.run.held.release(b)
	w.free <- b
}

// loop fetches the worker's batches until the run's last one, returning
// nil, or until the run stops, returning why. It starts the worker's
// fetchers, which return once loop does.
func (w *worker) loop() error {
	r := w.run
	defer w.rec.finish()
	if w.fetchers > 0 {
		// Buffered, so a fetcher done with an item finds the next one
		// waiting instead of parking until the worker hands it over.
		w.tasks = make(chan task, w.fetchers)
		defer close(w.tasks)
		for range w.fetchers {
			r.group.Go(w.fetch)
		}
	}
	wt := newWaiter()
	for seq := w.first; r.total < 0 || seq < r.total; seq += w.stride {
		var b *Batch
		select {
		case b = <-w.free:
		case <-r.ctx.Done():
			return r.stopped()
		}
		if err := r.layout(b, seq); err != nil {
			return err
		}
		r.held.add(len(b.Items), 0)
		w.rec.batchStarted(b.Epoch, b.start)
		w.started <- b // never blocks: the worker has only Prefetch slots
		if w.tasks == nil {
			for i := range b.Items {
				if err := r.fetch(b, i, w.rec, wt); err != nil {
					return err
				}
			}
			w.complete(b)
			continue
		}
		for i := range b.Items {
			if w.parts != nil {
				w.parts.begun.Add(1) // before the hand-over, which a closed channel follows
			}
			select {
			case w.tasks <- task{b, i}:
			case <-r.ctx.Done():
				return r.stopped()
			}
		}
	}
	return nil
}

// fetch is one of the worker's fetchers in Async mode: it reads the items
// loop hands it, completing each batch with its last item, until loop
// stops handing them out or the run stops.
func (w *worker) fetch() error {
	if w.parts != nil {
		return w.fetchParts()
	}
	wt := newWaiter()
	for t := range w.tasks {
		if err := w.run.fetch(t.b, t.i, w.rec, wt); err != nil {
			return err
		}
		if t.b.pending.Add(-1) == 0 {
			w.complete(t.b)
		}
	}
	return nil
}

// fetchParts is fetch for items read in parts: the fetcher reads the
// queued parts of the items begun, oldest first, before it begins
// another item, whose first part may queue more. Once loop stops handing
// out items, it stays while parts are queued or may be (an item's first
// part is being read), and returns when neither.
func (w *worker) fetchParts() error {
	wt := newWaiter()
	r, q := w.run, w.parts
	tasks := w.tasks
	for {
		if t, ok := q.pop(); ok {
			done, err := r.readPart(t, w.rec, wt)
			if err != nil {
				return err
			}
			if done && t.p.b.pending.Add(-1) == 0 {
				w.complete(t.p.b)
			}
			continue
		}
		if tasks == nil && q.begun.Load() == 0 && q.len() == 0 {
			return nil
		}
		select {
		case t, ok := <-tasks:
			if !ok {
				tasks = nil // wait for the parts of the items begun
				continue
			}
			done, err := r.fetchParts(t.b, t.i, w.rec, wt, q)
			if q.begun.Add(-1) == 0 {
				q.wakeAll() // fetchers past loop's end may leave
			}
			if err != nil {
				return err
			}
			if done && t.b.pending.Add(-1) == 0 {
				w.complete(t.b)
			}
		case <-q.wake:
		case <-r.ctx.Done():
			return r.stopped()
		}
	}
}

// complete records b's fetch, counts its bytes held, and signals the
// consumer. Bytes are counted a batch at a time, off the path of each
// item: a batch's slot holds its items until it is consumed anyway.
func (w *worker) complete(b *Batch) {
	w.rec.batchDone(b.Epoch, b.start, time.Now())
	bytes := 0
	for i := range b.Items {
		bytes += len(b.Items[i].Data)
	}
	w.run.held.add(0, bytes)
	b.done <- struct{}{}
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
