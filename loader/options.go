package loader

import (
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Mode says how a worker fetches the items of a batch.
type Mode string

// The fetch modes.
const (
	Sync  Mode = "sync"  // one item after another
	Async Mode = "async" // concurrently, up to Options.FetchConcurrency
)

// Decoder says what is done to an item after it is read, inside GetItem.
type Decoder string

// The decoders.
const (
	DecodeNone Decoder = "none" // keep the bytes
	DecodeJPEG Decoder = "jpeg" // decode as JPEG, then convert to grayscale (the seed's getitem)
)

// OnError says what a loader does with an item that still failed once
// the store's retries were spent (see dataset.Policy): reads are retried
// by the dataset's Store, never by the loader, so that attempts never
// multiply.
type OnError string

// The error policies.
const (
	// OnErrorFail ends the run with an error naming the item's key and
	// the last attempt's cause.
	OnErrorFail OnError = "fail"
	// OnErrorSkip counts the item (Stats.Skipped) and leaves it out: its
	// batch is delivered short, its other items in sampler order.
	OnErrorSkip OnError = "skip"
	// OnErrorDeliver counts the item (Stats.Errors) and delivers it in its
	// batch, in its place, with Item.Err set.
	OnErrorDeliver OnError = "deliver"
)

// ParseOnError parses "fail", "skip" or "deliver".
func ParseOnError(s string) (OnError, error) {
	switch e := OnError(strings.TrimSpace(s)); e {
	case OnErrorFail, OnErrorSkip, OnErrorDeliver:
		return e, nil
	}
	return "", fmt.Errorf("unknown error policy %q, want %q, %q or %q", s, OnErrorFail, OnErrorSkip, OnErrorDeliver)
}

// A run's retry budget: its reads retry at most RunRetryBase times plus
// RunRetryRatio times per read started, across all reads (see
// dataset.RetryBudget). At a 10% fault rate reads retry about 0.11 times
// each; a store failing half its requests or more spends the budget and
// ends the run within seconds instead of retrying every read in full.
const (
	RunRetryBase  = 100
	RunRetryRatio = 0.5
)

// Scheduler says how a loader hands reads to its fetchers. Options
// choose one with Options.Item; Options.Scheduler reports it.
type Scheduler string

// The schedulers.
const (
	// SchedBatch is PyTorch's: worker w fetches batches w, w+W, ... into
	// its own Prefetch batch slots, a slot freed only when its batch is
	// consumed.
	SchedBatch Scheduler = "batch"
	// SchedItem shares the C fetchers across the loader: each free
	// fetcher takes the next item of the loader's window in sampler
	// order, whatever its batch, and batches are assembled from the items
	// as they land. The window bounds the item buffers the loader holds.
	SchedItem Scheduler = "item"
)

// Hedge says when the item scheduler starts a second read of an item
// whose first read has produced no first byte: after a fixed Delay, or,
// with Percentile set, after the running Percentile-th percentile of the
// time to first byte of first reads (never of hedges). A first read whose
// body trickles is hedged too, within the budget: one not ended 8 times
// the same percentile of first reads' transfer times (their 90th under a
// fixed Delay), and at least 100 ms, after its first byte. The zero Hedge
// is off.
type Hedge struct {
	Delay      time.Duration // a fixed delay, when Percentile is 0
	Percentile float64       // 0 < Percentile < 100, or 0 for a fixed delay
}

// IsZero reports whether h is off.
func (h Hedge) IsZero() bool { return h == Hedge{} }

// String returns h as ParseHedge reads it: "off", "20ms" or "p90".
func (h Hedge) String() string {
	switch {
	case h.IsZero():
		return "off"
	case h.Percentile > 0:
		return "p" + strconv.FormatFloat(h.Percentile, 'f', -1, 64)
	}
	return h.Delay.String()
}

// ParseHedge parses "off", a duration ("20ms") or a percentile of the time
// to first byte ("p90", "p99.9").
func ParseHedge(s string) (Hedge, error) {
	s = strings.TrimSpace(s)
	if s == "off" {
		return Hedge{}, nil
	}
	if p, ok := strings.CutPrefix(s, "p"); ok {
		x, err := strconv.ParseFloat(p, 64)
		if err != nil || !(x > 0 && x < 100) {
			return Hedge{}, fmt.Errorf("hedge %q: want a percentile pNN with 0 < NN < 100", s)
		}
		return Hedge{Percentile: x}, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return Hedge{}, fmt.Errorf("hedge %q: want off, a positive duration such as 20ms, or a percentile such as p90", s)
	}
	return Hedge{Delay: d}, nil
}

// ParseScheduler parses "batch" or "item".
func ParseScheduler(s string) (Scheduler, error) {
	switch sc := Scheduler(strings.TrimSpace(s)); sc {
	case SchedBatch, SchedItem:
		return sc, nil
	}
	return "", fmt.Errorf("unknown scheduler %q, want %q or %q", s, SchedBatch, SchedItem)
}

// Defaults for zero Options fields.
const (
	DefaultBatchSize = 50 // the seed's batch size
	DefaultWorkers   = 2
	DefaultPrefetch  = 2 // PyTorch's prefetch_factor
)

// defaultWarmup is the number of warm-up reads for a zero Options.Warmup.
const defaultWarmup = 10

// Options configures a [Loader]. The zero value of each field takes the
// default documented beside it.
type Options struct {
	BatchSize int  // items a batch; 0 means DefaultBatchSize
	Workers   int  // workers; 0 means DefaultWorkers
	Prefetch  int  // batches each worker holds in flight or ready; 0 means DefaultPrefetch
	Mode      Mode // "" means Sync
	// FetchConcurrency is each worker's number of concurrent reads in
	// Async mode; 0 means the batch size. It must be 0 in Sync mode.
	FetchConcurrency int
	// Sampler orders the items of each epoch. Nil means Shuffled{Seed}
	// with Shuffle, else Sequential. As in PyTorch, a Sampler and Shuffle
	// are exclusive.
	Sampler  Sampler
	Shuffle  bool   // shuffle the items each epoch, with no Sampler set
	Seed     uint64 // the shuffle's seed; epoch e shuffles with (Seed, e)
	DropLast bool   // drop the last batch of an epoch when it is short
	// Shard makes the run read one rank's share of every epoch, as
	// PyTorch's DistributedSampler does; the zero Shard reads the whole
	// index.
	Shard Shard
	// Epochs is the number of passes over the index; 0 means 1, and a
	// negative value means no end: the consumer stops by closing.
	Epochs int
	Decode Decoder // "" means DecodeNone
	// DecodeConcurrency bounds how many items are decoded at once across
	// all workers; 0 means GOMAXPROCS. Decoding is CPU-bound: more decodes
	// at once than processors only add memory and cache misses, while
	// reads, which wait on storage, go on at the full fetch concurrency.
	DecodeConcurrency int
	// Warmup is the number of single-item reads made, and not counted,
	// before measurement; 0 means 10, negative means none.
	Warmup int
	// OnError is what becomes of an item that failed; "" means
	// OnErrorFail.
	OnError OnError

	// Item, when not nil, selects the item scheduler (SchedItem) with these
	// settings; nil selects the batch scheduler (SchedBatch). Workers and
	// fetch concurrency give C, the reads in flight, under either;
	// Prefetch is the batches a worker of SchedBatch holds, and sizes
	// SchedItem's default window.
	Item *ItemOptions

	// Part, when above 0, reads each item in ranged parts of at most Part
	// bytes, as the AWS CRT client reads large objects: a ranged read of
	// its first Part bytes, whose answer gives the object's size (an item
	// no larger is whole with it), then its other parts, straight into
	// the item's buffer, each one request of the worker's: one after
	// another in Sync mode, by the worker's fetchers at once in Async
	// mode, which read the parts of the items they began before starting
	// another. Every part is a request in flight, counted in C as an item
	// is (Stats.PartReads counts them). 0 reads every item whole, with
	// one request. It needs the batch scheduler and items that are whole
	// objects (no dataset.Items).
	//
	// With Stream, Part reads the shards in parts instead: each worker
	// streams one shard at a time, as ranged reads of Part bytes with as
	// many in flight as its fetchers (one in Sync mode), in order and on
	// from one shard into the next, its scanner reading them as it would
	// one GET's body; a part read ahead is held until read (see
	// Stats.HeldBytesPeak), and every part is a request of the shard's
	// (Stats.ShardReads; Stats.PartReads counts those past each shard's
	// first).
	Part int64

	// Stream, when not nil, makes the run stream the tar shards of
	// Stream.Set, as WebDataset reads them, instead of reading the items
	// of the dataset given to New (whose store it reads): each worker
	// streams whole shards, one GET each (as many at once as its fetchers
	// in Async mode, one in Sync mode), its samples pass the worker's
	// shuffle buffer, and it fills its batches from there; shards are
	// split by worker and rank, their order shuffled each epoch with
	// (Seed, epoch), every sample read at most once an epoch. Every worker
	// delivers the same number of whole batches each epoch (see
	// Loader.BatchesPerEpoch), the rest of its share counted in
	// Stats.Dropped. It needs the batch scheduler, no Sampler and no
	// Shuffle (the shard order and the shuffle buffer shuffle), and
	// OnErrorFail.
	Stream *StreamOptions
}

// ItemOptions are the settings of the item scheduler (SchedItem), which
// apply to it alone. Resolved copies them: the loader never writes
// through Options.Item.
type ItemOptions struct {
	// Window is the most item buffers the loader holds: reads in flight
	// (hedges included), items read but not delivered, and the batch lent
	// to the consumer. It must be at least one batch plus C; 0 means
	// DefaultWindow(batch, C, workers, prefetch).
	Window int
	// WindowBytes caps the window by bytes: once it holds a batch plus C
	// items, no more reads start while the items read and not yet
	// consumed take WindowBytes or more (reads in flight may add up to C
	// items more). 0 means DefaultWindowBytes; negative means no cap.
	WindowBytes int64
	// Hedge starts a second read of an item whose first read is slow to
	// produce its first byte; the zero Hedge is off.
	Hedge Hedge
	// HedgeBudget caps hedges at this fraction of the items read; 0 means
	// DefaultHedgeBudget. A first read with no first byte after 8 hedge
	// delays (and at least 100 ms) has stalled: it is hedged past the cap.
	HedgeBudget float64
}

// Scheduler returns SchedItem when o.Item is set, else SchedBatch.
func (o Options) Scheduler() Scheduler {
	if o.Item != nil {
		return SchedItem
	}
	return SchedBatch
}

// DefaultHedgeBudget is the default cap on hedges, a fraction of items.
const DefaultHedgeBudget = 0.1

// DefaultWindow returns the item scheduler's default window for a batch
// size, C reads in flight, and the workers and prefetch factor the batch
// scheduler would have: C plus the whole batches the batch scheduler
// holds (prefetch x workers, as PyTorch's prefetch_factor does), so that
// the item scheduler reads as far ahead of the consumer as PyTorch's
// shape while keeping C reads in flight. DefaultWindowBytes caps it.
func DefaultWindow(batch, c, workers, prefetch int) int { return c + prefetch*workers*batch }

// DefaultWindowBytes is the item scheduler's default byte budget (see
// ItemOptions.WindowBytes): 256 MiB, about 2,000 ImageNet images, so that
// a window of thousands of items at large C does not outgrow the caches
// and memory the loader's consumer needs.
const DefaultWindowBytes = 256 << 20

// Resolved returns o with zero fields set to their defaults, or an
// error naming the first invalid field. It leaves a nil Sampler nil: the
// loader resolves it from Shuffle and Seed. A set Item is resolved into a
// copy: the caller's ItemOptions are never written.
func (o Options) Resolved() (Options, error) {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&o.BatchSize, DefaultBatchSize)
	def(&o.Workers, DefaultWorkers)
	def(&o.Prefetch, DefaultPrefetch)
	def(&o.Epochs, 1)
	def(&o.Warmup, defaultWarmup)
	if o.Mode == "" {
		o.Mode = Sync
	}
	if o.Decode == "" {
		o.Decode = DecodeNone
	}
	if o.OnError == "" {
		o.OnError = OnErrorFail
	}
	if _, err := ParseOnError(string(o.OnError)); err != nil {
		return o, fmt.Errorf("loader: %w", err)
	}
	switch {
	case o.BatchSize < 0:
		return o, fmt.Errorf("loader: batch size %d, want > 0", o.BatchSize)
	case o.Workers < 0:
		return o, fmt.Errorf("loader: %d workers, want > 0", o.Workers)
	case o.Prefetch < 0:
		return o, fmt.Errorf("loader: prefetch %d, want > 0", o.Prefetch)
	case o.FetchConcurrency < 0:
		return o, fmt.Errorf("loader: fetch concurrency %d, want >= 0", o.FetchConcurrency)
	case o.DecodeConcurrency < 0:
		return o, fmt.Errorf("loader: decode concurrency %d, want >= 0", o.DecodeConcurrency)
	case o.Sampler != nil && o.Shuffle:
		return o, fmt.Errorf("loader: shuffle set with sampler %T, want one or the other", o.Sampler)
	}
	if err := o.Shard.check(); err != nil {
		return o, err
	}
	def(&o.DecodeConcurrency, runtime.GOMAXPROCS(0))
	switch o.Mode {
	case Sync:
		if o.FetchConcurrency > 1 {
			return o, fmt.Errorf("loader: fetch concurrency %d given in sync mode, which reads one item at a time", o.FetchConcurrency)
		}
		o.FetchConcurrency = 1
	case Async:
		def(&o.FetchConcurrency, o.BatchSize)
	default:
		return o, fmt.Errorf("loader: unknown mode %q, want %q or %q", o.Mode, Sync, Async)
	}
	if o.Decode != DecodeNone && o.Decode != DecodeJPEG {
		return o, fmt.Errorf("loader: unknown decoder %q, want %q or %q", o.Decode, DecodeNone, DecodeJPEG)
	}
	switch {
	case o.Part < 0:
		return o, fmt.Errorf("loader: part of %d bytes, want > 0, or 0 to read items whole", o.Part)
	case o.Part > 0 && o.Item != nil:
		return o, fmt.Errorf("loader: items in parts are read by the batch scheduler's fetchers; the item scheduler reads items whole")
	}
	if o.Stream != nil {
		switch {
		case o.Stream.Set == nil:
			return o, fmt.Errorf("loader: stream without a set of shards")
		case o.Stream.Shuffle < 0:
			return o, fmt.Errorf("loader: stream shuffle buffer %d, want >= 0 samples", o.Stream.Shuffle)
		case o.Item != nil:
			return o, fmt.Errorf("loader: a stream of shards is read by the batch scheduler, not the item scheduler")
		case o.Sampler != nil || o.Shuffle:
			return o, fmt.Errorf("loader: a stream of shards takes no sampler and no item shuffle: its shard order is shuffled each epoch, and its samples by its shuffle buffer")
		case o.OnError != OnErrorFail:
			return o, fmt.Errorf("loader: a stream of shards fails on a failed sample; on-error %q is not supported", o.OnError)
		}
		st := *o.Stream
		o.Stream = &st
	}
	if o.Item != nil {
		item, err := o.Item.resolved(o.BatchSize, o.Workers*o.FetchConcurrency, o.Workers, o.Prefetch)
		if err != nil {
			return o, err
		}
		o.Item = &item
	}
	return o, nil
}

// resolved returns a copy of s with zero fields set to their defaults
// for a batch size, c reads in flight, the workers and the prefetch
// factor, or an error naming the first invalid field.
func (s ItemOptions) resolved(batch, c, workers, prefetch int) (ItemOptions, error) {
	if s.Window == 0 {
		s.Window = DefaultWindow(batch, c, workers, prefetch)
	}
	if s.WindowBytes == 0 {
		s.WindowBytes = DefaultWindowBytes
	}
	switch h := s.Hedge; {
	case s.Window < batch+c:
		return s, fmt.Errorf("loader: window %d is smaller than one batch (%d) plus the %d reads in flight; want at least %d", s.Window, batch, c, batch+c)
	case h.Percentile < 0 || h.Percentile >= 100:
		return s, fmt.Errorf("loader: hedge percentile %v, want 0 < p < 100", h.Percentile)
	case h.Delay < 0:
		return s, fmt.Errorf("loader: hedge delay %v, want > 0", h.Delay)
	case s.HedgeBudget < 0 || s.HedgeBudget > 1:
		return s, fmt.Errorf("loader: hedge budget %v, want a fraction of items from 0 to 1", s.HedgeBudget)
	}
	if s.HedgeBudget == 0 {
		s.HedgeBudget = DefaultHedgeBudget
	}
	return s, nil
}

// InFlight returns the most requests the options allow in flight at once:
// the workers in Sync mode, workers times fetch concurrency in Async mode;
// 0 for invalid options.
func (o Options) InFlight() int {
	o, err := o.Resolved()
	if err != nil {
		return 0
	}
	return o.Workers * o.FetchConcurrency
}

// ParseMode parses "sync" or "async".
func ParseMode(s string) (Mode, error) {
	switch m := Mode(strings.TrimSpace(s)); m {
	case Sync, Async:
		return m, nil
	}
	return "", fmt.Errorf("unknown mode %q, want %q or %q", s, Sync, Async)
}

// ParseDecoder parses "none" or "jpeg".
func ParseDecoder(s string) (Decoder, error) {
	switch d := Decoder(strings.TrimSpace(s)); d {
	case DecodeNone, DecodeJPEG:
		return d, nil
	}
	return "", fmt.Errorf("unknown decoder %q, want %q or %q", s, DecodeNone, DecodeJPEG)
}

// sampler returns the sampler that o chooses.
func (o Options) sampler() Sampler {
	switch {
	case o.Sampler != nil:
		return o.Sampler
	case o.Shuffle:
		return Shuffled{Seed: o.Seed}
	}
	return Sequential{}
}
