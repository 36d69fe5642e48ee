// Package loader is a data loader in the shape of PyTorch's DataLoader,
// instrumented at every level of the data path.
//
// A [Sampler] orders the items of a [dataset.Dataset] for each epoch:
// [Sequential] by default, [Shuffled] with Options.Shuffle and a seed, or
// any Options.Sampler; consecutive items form batches of
// Options.BatchSize. Under the batch scheduler ([SchedBatch], the
// default), batches go round-robin to Options.Workers workers, each
// holding at most Options.Prefetch batches in flight or ready. A worker
// fetches a batch in one of two modes:
//
//   - [Sync]: the items of a batch are read one after another;
//   - [Async]: the items are read concurrently by the worker's
//     Options.FetchConcurrency fetchers, the batch assembled as items
//     arrive; a worker starts its next batch while stragglers of the last
//     one finish, within its prefetch budget.
//
// Batches reach the consumer in sampler order, as PyTorch delivers them:
// when the worker holding the next batch is slow, the consumer waits even
// if later batches are ready (head-of-line blocking), and the Wait level
// shows that time.
//
// Options.Item selects the item scheduler ([SchedItem]) instead, with
// its settings ([ItemOptions]), which no other scheduler has: the C reads
// in flight (workers times fetch concurrency) are shared across the
// loader, each free fetcher taking the next item in sampler order
// whatever its batch, within a window of item buffers. With a [Hedge]
// set, a first read with no first byte after the hedge delay gets a
// second read, within a budget of hedges per item, and the first
// successful read wins. The run's hedge deadlines are held by one
// goroutine of the run, in a heap, not by timers of their own.
//
// A run ([Loader.Start]) ends after its last batch, and stops early when
// its context is done, when [Iter.Close] is called, or at its first error
// (a read, a decode, or a sampler's invalid order; a failed item is
// delivered instead with [OnErrorDeliver], or left out with
// [OnErrorSkip]). Next and Close return the error that stopped it. Every
// goroutine of a run, the hedging one included, is started in the run's
// errgroup, and the timers the run arms belong to them and are stopped
// before they return: Close returns only once every one has returned, so
// nothing of the run outlives it.
//
// Every level is timed ([Run], [Epoch], [Worker], [Fetch], [GetItem], and
// inside GetItem its phases [TTFB], [Read] and [Decode]) and returned as
// [Stats]; a warm-up of single-item reads runs first and is never counted.
// Each worker records into its own histograms, so recording takes no
// global lock, and memory stays bounded however long the run. Item buffers
// are reused, so steady-state loading allocates nothing per item (decoding
// aside). The loader never prints.
package loader
