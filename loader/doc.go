// Package loader is a data loader in the shape of PyTorch's DataLoader,
// instrumented at every level of the data path.
//
// A [Sampler] orders the items of a [dataset.Dataset] for each epoch:
// [Sequential] by default, [Shuffled] with Options.Shuffle and a seed, or
// any Options.Sampler; consecutive items form batches of
// Options.BatchSize. Batches go round-robin to Options.Workers workers,
// each holding at most Options.Prefetch batches in flight or ready. A
// worker fetches a batch in one of two modes:
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
// A run ([Loader.Start]) ends after its last batch, and stops early when
// its context is done, when [Iter.Close] is called, or at its first error
// (a read, a decode, or a sampler's invalid order; a failed item is
// delivered instead with Options.TolerateErrors). Next and Close return
// the error that stopped it, and Close returns only once every goroutine
// of the run has.
//
// Every level is timed ([Run], [Epoch], [Worker], [Fetch], [GetItem], and
// inside GetItem its phases [TTFB], [Read] and [Decode]) and returned as
// [Stats]; a warm-up of single-item reads runs first and is never counted.
// Each worker records into its own histograms, so recording takes no
// global lock, and memory stays bounded however long the run. Item buffers
// are reused, so steady-state loading allocates nothing per item (decoding
// aside). The loader never prints.
package loader
