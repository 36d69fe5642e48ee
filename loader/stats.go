package loader

import (
	"math"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Level is one level of the data path that the loader times, top-down.
type Level int

// The levels. Run, Epoch, Worker, Fetch and GetItem are the seed's five
// levels; TTFB, Read and Decode are the phases of one GetItem; Wait is the
// consumer's wait for each next batch.
const (
	Run       Level = iota // the whole measured run, warm-up excluded
	Epoch                  // one pass over the index, as the consumer sees it
	Worker                 // one worker's loop over its batches of one epoch
	Fetch                  // one batch, from its first read to its last
	GetItem                // one item: read, and decode if asked
	TTFB                   // from the request to the item's first byte
	Read                   // from the first byte to the last
	Decode                 // decoding the item and converting it to grayscale (a GetItem also waits for a decode slot)
	Wait                   // the consumer's wait inside Next for a batch
	NumLevels              // the number of levels
)

var levelNames = [NumLevels]string{"run", "epoch", "worker", "fetch", "getitem", "ttfb", "read", "decode", "wait"}

// String returns the level's name as used in metric names, e.g. "getitem".
func (l Level) String() string {
	if l < 0 || l >= NumLevels {
		return "level?"
	}
	return levelNames[l]
}

// Summary describes the durations recorded at one level. Percentiles come
// from an HDR histogram with 3 significant digits; count, mean, min, max
// and standard deviation are exact.
type Summary struct {
	Count  int64
	Mean   time.Duration
	Median time.Duration
	Min    time.Duration
	Max    time.Duration
	P90    time.Duration
	P99    time.Duration
	P999   time.Duration
	StdDev time.Duration
}

// Stats is what a loader measured over one run.
type Stats struct {
	// Levels holds one summary per level, indexed by [Level].
	Levels [NumLevels]Summary
	// Items and Bytes count the items delivered to the consumer and their
	// bytes; Items over Levels[Run].Max is the rate at which whole batches
	// arrived. Fetched counts items read by workers, which can exceed Items
	// when a run is stopped with batches prefetched; Fetched over Elapsed
	// is the rate of reads, the steadier estimate over a short run, since
	// reads complete one at a time while batches arrive in bursts.
	Items, Bytes, Fetched int64
	// Errors counts items that failed, to read (every attempt the store
	// allowed) or to decode.
	Errors int64
	// Skipped counts items left out of their batches under OnErrorSkip;
	// they are not in Items.
	Skipped int64
	// AttemptErrors counts failed attempts of reads, retried or not;
	// Retries the attempts after a read's first; RetryTime the time items'
	// reads lost to failed attempts and to waits before retries, a part
	// of their getitem time.
	AttemptErrors, Retries int64
	RetryTime              time.Duration
	// InFlight is the number of requests the loader can have in flight:
	// workers in sync mode, workers times fetch concurrency in async mode.
	InFlight int
	// Elapsed is the time from the start of the run (or the last
	// ResetStats) to Close, the span over which Fetched items were read.
	Elapsed time.Duration
	// Window is the item scheduler's window, 0 under the batch scheduler.
	Window int
	// HeldItemsPeak and HeldBytesPeak are the most item buffers the
	// loader held at once (reads in flight, hedges included, items read
	// and not delivered, and the batch lent to the consumer) and the most
	// bytes of items they held, since the start (or the last ResetStats).
	HeldItemsPeak, HeldBytesPeak int64
	// Hedges counts second reads started by hedging; HedgeWins those that
	// delivered their item.
	Hedges, HedgeWins int64
	// ReadTime sums the duration of every read, hedges and abandoned
	// reads included: ReadTime over Elapsed is the mean number of reads
	// in flight, which over InFlight says how busy the fetchers were.
	ReadTime time.Duration
	// Under a stream of shards (Options.Stream): ShardReads counts the
	// requests that opened or resumed a shard's stream, or read a part of
	// a shard read in parts (their failed attempts included, also counted
	// in AttemptErrors and Retries),
	// StreamedBytes the bytes they read, counted as each sample is whole
	// (tar headers and padding included, and what was read of samples
	// no batch took before the epoch's streams were stopped, so that
	// StreamedBytes over Bytes is what a byte delivered cost), and
	// Dropped the samples of the workers' shares that no batch took in
	// the epochs they completed, so that every worker delivers the same
	// whole batches an epoch.
	ShardReads, StreamedBytes, Dropped int64
	// PartReads counts, for items read in parts (Options.Part), the
	// requests beyond each item's first: its other parts, each once
	// (their retries are in Retries), so that the run's requests are
	// Fetched + Errors + Retries + Hedges + PartReads. For shards read
	// in parts, it counts the parts read past each shard's first (all in
	// ShardReads too).
	PartReads int64
}

// Bounds of what a histogram records; values outside are clamped.
const (
	histMin = 1                      // 1 ns
	histMax = int64(time.Hour)       // an hour
	histSig = 3                      // significant digits
	maxDur  = time.Duration(histMax) // as a Duration
)

// hist records durations: exact moments plus an HDR histogram for
// percentiles, so memory stays bounded however long the run. It is not safe
// for concurrent use; each recorder guards its own.
type hist struct {
	n        int64
	mean, m2 float64 // Welford's running mean and sum of squared deviations
	min, max time.Duration
	h        *hdrhistogram.Histogram
}

func (h *hist) record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	if h.h == nil {
		h.h = hdrhistogram.New(histMin, histMax, histSig)
	}
	if h.n == 0 || d < h.min {
		h.min = d
	}
	if d > h.max {
		h.max = d
	}
	h.n++
	x := float64(d)
	delta := x - h.mean
	h.mean += delta / float64(h.n)
	h.m2 += delta * (x - h.mean)
	h.h.RecordValue(int64(min(max(d, histMin), maxDur)))
}

// reset empties h. It drops the histogram rather than clearing it:
// clearing writes all of its few hundred KiB, most of them never touched
// (first writes, each a page fault), and a loader's dozens of histograms
// took tens of milliseconds to clear while their recorders' fetchers
// waited, so that a benchmark timed from the reset found reads piled up
// and counted them as its own. A new histogram is allocated at the next
// record, its pages touched only where values land.
func (h *hist) reset() { *h = hist{} }

// merge adds o's records to h.
func (h *hist) merge(o *hist) {
	if o.n == 0 {
		return
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	n := h.n + o.n
	delta := o.mean - h.mean
	h.mean += delta * float64(o.n) / float64(n)
	h.m2 += o.m2 + delta*delta*float64(h.n)*float64(o.n)/float64(n)
	h.n = n
	if h.h == nil {
		h.h = hdrhistogram.New(histMin, histMax, histSig)
	}
	h.h.Merge(o.h)
}

func (h *hist) summary() Summary {
	if h.n == 0 {
		return Summary{}
	}
	variance := h.m2 / float64(h.n)
	q := func(p float64) time.Duration {
		// Clamp to the exact extremes: a bucket's representative value can
		// lie just outside them.
		return min(max(time.Duration(h.h.ValueAtQuantile(p)), h.min), h.max)
	}
	return Summary{
		Count:  h.n,
		Mean:   time.Duration(math.Round(h.mean)),
		Median: q(50),
		Min:    h.min,
		Max:    h.max,
		P90:    q(90),
		P99:    q(99),
		P999:   q(99.9),
		StdDev: time.Duration(math.Sqrt(variance)),
	}
}
