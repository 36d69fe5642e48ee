package loader

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/storagebench/storagebench/dataset"
)

// Loader loads a dataset in batches. It holds the configuration; each call
// to Start makes one run.
type Loader struct {
	ds      *dataset.Dataset
	opts    Options // resolved
	sampler Sampler
	batches int         // batches an epoch
	stream  *streamPlan // with Options.Stream
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
	if o.Stream != nil {
		p, err := newStreamPlan(o.Stream, o)
		if err != nil {
			return nil, err
		}
		ep, _ := p.epoch(0)
		return &Loader{ds: ds, opts: o, sampler: Sequential{}, batches: ep.perWorker * o.Workers, stream: p}, nil
	}
	if o.Part > 0 && ds.Items() != nil {
		return nil, fmt.Errorf("loader: items in parts are whole objects read in ranges; this dataset's items are ranges of its objects, read one request each")
	}
	n := o.Shard.Len(ds.Len())
	if n == 0 {
		return nil, fmt.Errorf("loader: %d items leave rank %d of %d none with drop-last", ds.Len(), o.Shard.Rank, o.Shard.World)
	}
	nb := (n + o.BatchSize - 1) / o.BatchSize
	if o.DropLast {
		nb = n / o.BatchSize
	}
	if nb == 0 {
		return nil, fmt.Errorf("loader: %d items make no full batch of %d, and drop-last is set", n, o.BatchSize)
	}
	return &Loader{ds: ds, opts: o, sampler: o.sampler(), batches: nb}, nil
}

// BatchesPerEpoch returns the number of batches in one epoch: in the
// first, for a stream of shards, whose epochs each take the whole batches
// of their smallest share (they differ by a few batches at most when the
// shards hold about as many samples).
func (l *Loader) BatchesPerEpoch() int { return l.batches }

// Start runs the warm-up, then starts the workers and returns the run's
// iterator. The caller must Close it. The warm-up reads are not timed.
// The run stops early when ctx is done, at its first error, or when the
// iterator is closed; Next and Close report why.
func (l *Loader) Start(ctx context.Context) (*Iter, error) {
	// The warm-up's reads share the run's retry budget: a store that
	// fails or throttles every read ends the run within seconds there
	// too.
	ds := l.ds.WithRetryBudget(dataset.NewRetryBudget(RunRetryBase, RunRetryRatio))
	if err := l.warmup(ctx, ds); err != nil {
		return nil, err
	}
	o := l.opts
	total := -1
	if o.Epochs > 0 {
		total = o.Epochs * l.batches
		if l.stream != nil {
			last, err := l.stream.epoch(o.Epochs - 1)
			if err != nil {
				return nil, err
			}
			total = last.start + last.perWorker*o.Workers
		}
	}
	ctx, stop := context.WithCancelCause(ctx)
	g, ctx := errgroup.WithContext(ctx)
	r := &run{
		ctx:       ctx,
		group:     g,
		ds:        ds,
		orders:    newEpochOrders(l.sampler, o.Shard, l.ds.Len()),
		batchSize: o.BatchSize,
		batches:   l.batches,
		total:     total,
		stream:    l.stream,
		part:      o.Part,
		deliver:   o.OnError == OnErrorDeliver,
		skip:      o.OnError == OnErrorSkip,
	}
	if o.Decode == DecodeJPEG {
		r.decoding = newGate(o.DecodeConcurrency)
	}
	it := &Iter{run: r, stop: stop, inFlight: o.InFlight(), round: o.Workers, atEpochStart: true}
	if o.Item != nil {
		s := newItemSched(r, o)
		it.sched, it.recs, it.window = s, s.recs, o.Item.Window
		it.start = time.Now()
		it.epochStart = it.start
		s.start()
		return it, nil
	}
	var ws workers
	for id := range o.Workers {
		rec := new(recorder)
		it.recs = append(it.recs, rec)
		ws = append(ws, newWorker(r, rec, id, o))
	}
	it.sched = ws
	it.start = time.Now()
	it.epochStart = it.start
	for _, w := range ws {
		if l.stream != nil {
			g.Go(w.streamLoop)
			continue
		}
		g.Go(w.loop)
	}
	return it, nil
}

// warmup reads (and decodes) single items of ds, l's dataset with the
// run's retry budget, untimed, so that one-time costs (connections,
// caches, lazy set-up) stay out of the measurement.
func (l *Loader) warmup(ctx context.Context, ds *dataset.Dataset) error {
	if l.opts.Warmup < 0 {
		return nil
	}
	var buf []byte
	var err error
	if l.stream != nil {
		return l.warmupStream(ctx, ds)
	}
	for i := range l.opts.Warmup {
		if l.opts.Part > 0 {
			// An item in parts: its first part, which sets up what its
			// other parts' requests use alike.
			buf, _, err = ds.Store().ReadRange(ctx, ds.Key(i%ds.Len()), 0, l.opts.Part, buf)
			if err != nil && ctx.Err() == nil && l.opts.OnError != OnErrorFail {
				continue
			}
			if err != nil {
				return fmt.Errorf("loader: warm-up: %w", err)
			}
			continue
		}
		if buf, _, err = ds.Read(ctx, i%ds.Len(), buf); err != nil {
			if ctx.Err() == nil && l.opts.OnError != OnErrorFail {
				continue // an item that may fail in the run may fail here
			}
			return fmt.Errorf("loader: warm-up: %w", err)
		}
		if l.opts.Decode == DecodeJPEG {
			if _, err := DecodeGray(buf, nil); err != nil {
				return fmt.Errorf("loader: warm-up: item %q: %w", ds.Key(i%ds.Len()), err)
			}
		}
	}
	return nil
}

// warmupStream reads single samples of the stream's set, each by one
// ranged read of its span, untimed, as warmup reads items.
func (l *Loader) warmupStream(ctx context.Context, ds *dataset.Dataset) error {
	set := l.stream.set
	var buf []byte
	var err error
	for i := range l.opts.Warmup {
		k := i % set.Len()
		j, _ := set.Locate(k)
		s := set.Sample(k)
		if buf, _, err = ds.Store().ReadRange(ctx, set.Shard(j).Key, s.Off, s.Span(), buf); err != nil {
			return fmt.Errorf("loader: warm-up: sample %q: %w", s.Key, err)
		}
	}
	return nil
}
