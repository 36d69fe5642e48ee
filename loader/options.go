package loader

import (
	"fmt"
	"runtime"
	"strings"
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
	// TolerateErrors delivers items that failed to read with Item.Err set
	// and counts them, instead of ending the run at the first error.
	TolerateErrors bool
}

// Resolved returns o with zero fields set to their defaults, or an
// error naming the first invalid field. It leaves a nil Sampler nil: the
// loader resolves it from Shuffle and Seed.
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
	return o, nil
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
