package loader

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/storagebench/storagebench/dataset"
)

// Loader loads a dataset in batches. It holds the configuration; each call
// to Start makes one run.
type Loader struct {
	ds      *dataset.Dataset
	opts    Options
	sampler Sampler
	batches int // batches an epoch
}

// New returns a loader of ds. It fails with an error naming the first
// invalid option, or when the options leave no batch to load.
func New(ds *dataset.Dataset, opts Options) (*Loader, error) {
	if ds == nil || ds.Len() == 0 {
		return nil, errors.New("loader: empty dataset")
	}
	o, err := opts.Resolved()
	if err != nil {
		return nil, err
	}
	n := ds.Len()
	nb := (n + o.BatchSize - 1) / o.BatchSize
	if o.DropLast {
		nb = n / o.BatchSize
	}
	if nb == 0 {
		return nil, fmt.Errorf("loader: %d items make no full batch of %d, and drop-last is set", n, o.BatchSize)
	}
	var s Sampler = Sequential{}
	if o.Shuffle {
		s = Shuffled{Seed: o.Seed}
	}
	return &Loader{ds: ds, opts: o, sampler: s, batches: nb}, nil
}

// Options returns the loader's options with defaults filled in.
func (l *Loader) Options() Options { return l.opts }

// BatchesPerEpoch returns the number of batches in one epoch.
func (l *Loader) BatchesPerEpoch() int { return l.batches }

// Start runs the warm-up, then starts the workers and returns the run's
// iterator. The caller must Close it. The warm-up reads are not timed.
func (l *Loader) Start(ctx context.Context) (*Iter, error) {
	if err := l.warmup(ctx); err != nil {
		return nil, err
	}
	it := &Iter{l: l, total: -1, orders: make(map[int][]int)}
	if l.opts.Epochs > 0 {
		it.total = l.opts.Epochs * l.batches
	}
	it.ctx, it.cancel = context.WithCancel(ctx)
	it.decoding = newGate(l.opts.DecodeConcurrency)
	it.workers = make([]*worker, l.opts.Workers)
	for i := range it.workers {
		it.workers[i] = newWorker(i, it)
	}
	it.start = time.Now()
	it.epochStart = it.start
	for _, w := range it.workers {
		it.wg.Add(1)
		go func() {
			defer it.wg.Done()
			w.loop()
		}()
	}
	return it, nil
}

// warmup reads (and decodes) single items, untimed, so that one-time costs
// (connections, caches, lazy set-up) stay out of the measurement.
func (l *Loader) warmup(ctx context.Context) error {
	if l.opts.Warmup < 0 {
		return nil
	}
	var buf []byte
	var err error
	for i := range l.opts.Warmup {
		if buf, _, err = l.ds.Read(ctx, i%l.ds.Len(), buf); err != nil {
			return fmt.Errorf("loader: warm-up: %w", err)
		}
		if l.opts.Decode == DecodeJPEG {
			if _, err := DecodeGray(buf, nil); err != nil {
				return fmt.Errorf("loader: warm-up: item %q: %w", l.ds.Key(i%l.ds.Len()), err)
			}
		}
	}
	return nil
}

// Load loads ds with opts, calling fn with each batch in order, and returns
// what it measured. A batch's data is valid only during fn. The first error
// from fn or from loading ends the run.
func Load(ctx context.Context, ds *dataset.Dataset, opts Options, fn func(*Batch) error) (Stats, error) {
	l, err := New(ds, opts)
	if err != nil {
		return Stats{}, err
	}
	it, err := l.Start(ctx)
	if err != nil {
		return Stats{}, err
	}
	for {
		b, err := it.Next()
		if err == io.EOF {
			break
		}
		if err == nil {
			err = fn(b)
		}
		if err != nil {
			it.Close()
			return it.Stats(), err
		}
	}
	err = it.Close()
	return it.Stats(), err
}

// Iter is one run of a loader. Its methods are for one consumer goroutine.
type Iter struct {
	l       *Loader
	ctx     context.Context
	cancel  context.CancelFunc
	workers []*worker
	wg      sync.WaitGroup
	total   int // batches in the run, -1 for no end

	ordersMu sync.Mutex
	orders   map[int][]int // shuffled epochs in use

	errOnce sync.Once
	err     error

	decoding *gate // admits DecodeConcurrency decodes, in sampler order

	// The consumer's state.
	next       int    // sequence number of the next batch
	cur        *Batch // the batch last returned, released by the next call
	start      time.Time
	epochStart time.Time
	end        time.Time // when the last batch was delivered (or the run began)
	levels     [NumLevels]hist
	skipEpoch  bool // the epoch under way began before a reset
	items      int64
	bytes      int64
	closed     bool
	stats      Stats
}

// Next returns the next batch in sampler order, releasing the previous
// one, whose data the loader then reuses. It returns io.EOF after the last
// batch of the last epoch, and the run's first error if it failed.
func (it *Iter) Next() (*Batch, error) {
	if it.closed {
		return nil, errors.New("loader: Next after Close")
	}
	if it.cur != nil {
		it.cur.worker.free <- it.cur
		it.cur = nil
	}
	if it.total >= 0 && it.next >= it.total {
		return nil, io.EOF
	}
	if it.ctx.Err() != nil { // stopped: no batch, even one already complete
		return nil, it.failure()
	}
	w := it.workers[it.next%len(it.workers)]
	t0 := time.Now()
	b := w.take(it.ctx)
	if b == nil {
		return nil, it.failure()
	}
	now := time.Now()
	it.levels[Wait].record(now.Sub(t0))
	for i := range b.Items {
		it.bytes += int64(len(b.Items[i].Data))
	}
	it.items += int64(len(b.Items))
	if b.Index == it.l.batches-1 {
		if !it.skipEpoch {
			it.levels[Epoch].record(now.Sub(it.epochStart))
		}
		it.skipEpoch = false
		it.epochStart = now
		it.dropOrder(b.Epoch)
	}
	it.end = now
	it.next++
	it.cur = b
	return b, nil
}

// Ready reports whether the next n batches are complete, so that Next
// would return each of them without waiting; n is at most the number of
// workers (a round: one batch from each). It never waits. A consumer that
// wants to start measuring in steady state takes whole rounds while the
// next one is ready, so that no batch finished before it started counts.
func (it *Iter) Ready(n int) bool {
	if it.closed || n > len(it.workers) {
		return false
	}
	for i := range n {
		if it.total >= 0 && it.next+i >= it.total {
			return false
		}
		if !it.workers[(it.next+i)%len(it.workers)].ready() {
			return false
		}
	}
	return true
}

// ResetStats discards what the run has measured so far and restarts its
// clock, so that a caller can measure a steady state: a benchmark consumes
// a few batches to fill the pipeline, then resets. Epochs and worker loops
// under way at the reset are partial and not recorded; reads under way are.
func (it *Iter) ResetStats() {
	for _, w := range it.workers {
		w.rec.reset()
	}
	now := time.Now()
	for l := range it.levels {
		it.levels[l].reset()
	}
	it.items, it.bytes = 0, 0
	it.start, it.epochStart, it.end = now, now, now
	it.skipEpoch = it.next%it.l.batches != 0
}

// failure returns why the run stopped early.
func (it *Iter) failure() error {
	it.errOnce.Do(func() { it.err = it.ctx.Err() })
	return it.err
}

// fail ends the run with err, if it is the first error.
func (it *Iter) fail(err error) {
	it.errOnce.Do(func() { it.err = err })
	it.cancel()
}

// Close stops the run, waits for every worker and fetcher to return, and
// computes the run's Stats. It returns the error that ended the run, if
// any (not the cancellation Close itself causes).
func (it *Iter) Close() error {
	if it.closed {
		return nil
	}
	it.closed = true
	// The run ends with the last batch delivered, also when the consumer
	// stops early: time spent waiting for a batch never delivered is not
	// part of the run, so Items over the run's duration is the rate at
	// which whole batches arrived.
	end := it.end
	it.errOnce.Do(func() {}) // from here on, cancellation is not an error
	it.cancel()
	closed := time.Now()
	it.wg.Wait()
	it.levels[Run].record(end.Sub(it.start))
	s := Stats{Items: it.items, Bytes: it.bytes, InFlight: it.l.opts.InFlight(), Elapsed: closed.Sub(it.start)}
	var all [NumLevels]hist
	for l := range all {
		all[l].merge(&it.levels[l])
	}
	for _, w := range it.workers {
		for l := range all {
			all[l].merge(&w.rec.levels[l])
		}
		s.Fetched += w.rec.fetched
		s.Errors += w.rec.errors
	}
	for l := range all {
		s.Levels[l] = all[l].summary()
	}
	it.stats = s
	return it.err
}

// Stats returns what the run measured. It is complete once Close returns.
func (it *Iter) Stats() Stats { return it.stats }

// order returns the item order of epoch, nil for the identity.
func (it *Iter) order(epoch int) []int {
	if _, ok := it.l.sampler.(Sequential); ok {
		return nil
	}
	it.ordersMu.Lock()
	defer it.ordersMu.Unlock()
	o, ok := it.orders[epoch]
	if !ok {
		o = it.l.sampler.Order(epoch, it.l.ds.Len())
		it.orders[epoch] = o
	}
	return o
}

// dropOrder forgets epoch's order once all its batches are delivered.
func (it *Iter) dropOrder(epoch int) {
	it.ordersMu.Lock()
	delete(it.orders, epoch)
	it.ordersMu.Unlock()
}
