package loader

import (
	"sync"
	"time"

	"github.com/storagebench/storagebench/dataset"
)

// recorder holds one worker's histograms. Its fetchers share it under its
// own lock; no lock is shared between workers.
type recorder struct {
	mu      sync.Mutex
	levels  [NumLevels]hist
	fetched int64
	errors  int64
	// hedges counts second reads started, hedgeWins those that won;
	// busy sums the time the fetchers recording here spent on reads,
	// hedges and abandoned reads included, between since (the last
	// reset) and until (when the run was closed, if it was): over that
	// span, the mean number of reads in flight.
	hedges, hedgeWins int64
	busy              time.Duration
	// attemptErrors counts failed attempts of reads, retries the attempts
	// after a read's first, retryTime the time items' reads lost to failed
	// attempts and waits before retries.
	attemptErrors, retries int64
	retryTime              time.Duration
	// Under a stream of shards: shardReads counts the requests that
	// opened or resumed a shard's stream, streamedBytes the bytes those
	// requests read, headers and padding included, and droppedItems the
	// samples of the worker's shares that no batch took.
	shardReads, streamedBytes, droppedItems int64
	// partReads counts the parts of items read in parts (Options.Part),
	// each item's first part excluded, their retries in retries; or
	// those of shards read in parts past each shard's first.
	partReads    int64
	since, until time.Time
	// epochs tracks, per epoch, the worker's batches not yet complete, to
	// time the worker's loop over that epoch.
	epochs map[int]*workerEpoch
	// latest is the latest epoch the worker started a batch of; after a
	// reset, epochs up to it are partial and not timed.
	latest, firstTimed int
}

// restart zeroes the counts and counts busy time from now on; reset then
// empties the histograms, which takes longer. ResetStats restarts every
// recorder before it resets any, so that busy time is counted from one
// instant.
func (r *recorder) restart(now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fetched, r.errors = 0, 0
	r.hedges, r.hedgeWins, r.busy = 0, 0, 0
	r.attemptErrors, r.retries, r.retryTime = 0, 0, 0
	r.shardReads, r.streamedBytes, r.droppedItems = 0, 0, 0
	r.partReads = 0
	r.since = now
}

// reset discards the histograms and which epochs are under way.
func (r *recorder) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for l := range r.levels {
		r.levels[l].reset()
	}
	clear(r.epochs)
	r.firstTimed = r.latest + 1
}

// workerEpoch is one worker's progress through one epoch.
type workerEpoch struct {
	start      time.Time
	end        time.Time // when its latest batch completed
	remaining  int       // batches started and not complete
	allStarted bool      // the worker has moved past this epoch
}

// item records one item read, timed by tm, its fetcher busy with it from
// from to to; failed says the item failed, readFailed that its read did
// (not its decoding).
func (r *recorder) item(getitem time.Duration, tm dataset.Timing, decode time.Duration, decoded, readFailed, failed bool, from, to time.Time) {
	r.mu.Lock()
	r.levels[GetItem].record(getitem)
	r.addBusy(from, to)
	r.addAttempts(tm, readFailed)
	r.retryTime += tm.Retrying
	if !failed {
		r.levels[TTFB].record(tm.TTFB)
		r.levels[Read].record(tm.Transfer())
		if decoded {
			r.levels[Decode].record(decode)
		}
		r.fetched++
	} else {
		r.errors++
	}
	r.mu.Unlock()
}

// part records one read of a part of an item read in parts, timed by tm,
// its fetcher busy from from to to: its attempts and retry time, and,
// when extra (any part but an item's first, which is the item's own
// request), the part.
func (r *recorder) part(tm dataset.Timing, failed bool, from, to time.Time, extra bool) {
	r.mu.Lock()
	r.addBusy(from, to)
	r.addAttempts(tm, failed)
	r.retryTime += tm.Retrying
	if extra {
		r.partReads++
	}
	r.mu.Unlock()
}

// partsItem records an item read in parts, its parts recorded by part:
// getitem from its first request to its end, the first part's time to
// first byte, its transfer from that first byte to its last part's end,
// its decoding, and the fetcher that finished it busy from from to to
// (decoding it).
func (r *recorder) partsItem(getitem, ttfb, transfer, decode time.Duration, decoded, failed bool, from, to time.Time) {
	r.mu.Lock()
	r.levels[GetItem].record(getitem)
	r.addBusy(from, to)
	if !failed {
		r.levels[TTFB].record(ttfb)
		r.levels[Read].record(transfer)
		if decoded {
			r.levels[Decode].record(decode)
		}
		r.fetched++
	} else {
		r.errors++
	}
	r.mu.Unlock()
}

// batchStarted notes that the worker started a batch of epoch at t, and
// closes the worker's earlier epochs.
func (r *recorder) batchStarted(epoch int, t time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.epochs == nil {
		r.epochs = make(map[int]*workerEpoch)
	}
	r.latest = max(r.latest, epoch)
	if epoch < r.firstTimed {
		return
	}
	e := r.epochs[epoch]
	if e == nil {
		r.closeEpochsBefore(epoch)
		e = &workerEpoch{start: t}
		r.epochs[epoch] = e
	}
	e.remaining++
}

// closeEpochsBefore marks the epochs before epoch as fully started; those
// whose batches are all complete are recorded. r.mu is held.
func (r *recorder) closeEpochsBefore(epoch int) {
	for n, e := range r.epochs {
		if n < epoch && !e.allStarted {
			e.allStarted = true
			if e.remaining == 0 {
				r.levels[Worker].record(e.end.Sub(e.start))
				delete(r.epochs, n)
			}
		}
	}
}

// batchDone records a complete batch of epoch, fetched from start to end,
// and the worker's loop over epoch if it was its last batch there.
func (r *recorder) batchDone(epoch int, start, end time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.levels[Fetch].record(end.Sub(start))
	e := r.epochs[epoch]
	if e == nil {
		return // an epoch that began before a reset
	}
	e.remaining--
	if end.After(e.end) {
		e.end = end
	}
	if e.remaining == 0 && e.allStarted {
		r.levels[Worker].record(e.end.Sub(e.start))
		delete(r.epochs, epoch)
	}
}

// finish marks every epoch fully started: the worker has no more batches.
// Epochs whose batches never complete (a run stopped early) are not
// recorded.
func (r *recorder) finish() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closeEpochsBefore(int(^uint(0) >> 1))
}

// addBusy counts a fetcher busy from from to to, within since and until.
// r.mu is held.
func (r *recorder) addBusy(from, to time.Time) {
	if from.Before(r.since) {
		from = r.since
	}
	if !r.until.IsZero() && to.After(r.until) {
		to = r.until
	}
	if to.After(from) {
		r.busy += to.Sub(from)
	}
}

// close stops counting busy time at t, when the run was closed: the reads
// it cancels end after.
func (r *recorder) close(t time.Time) {
	r.mu.Lock()
	r.until = t
	r.mu.Unlock()
}

// addAttempts counts the attempts of a read timed by tm, failed or not.
func (r *recorder) addAttempts(tm dataset.Timing, failed bool) {
	if tm.Attempts > 1 {
		r.retries += int64(tm.Attempts - 1)
		r.attemptErrors += int64(tm.Attempts - 1)
	}
	if failed && tm.Attempts > 0 {
		r.attemptErrors++
	}
}

// attempt records one read of an item that is not the item's own result,
// timed by tm, from from to to: a hedge, or a read that lost or was
// abandoned (failed).
func (r *recorder) attempt(tm dataset.Timing, failed bool, from, to time.Time, hedge bool) {
	r.mu.Lock()
	r.addBusy(from, to)
	r.addAttempts(tm, failed)
	if hedge {
		r.hedges++
	}
	r.mu.Unlock()
}

// hedgeWon counts a hedge that delivered its item.
func (r *recorder) hedgeWon() {
	r.mu.Lock()
	r.hedgeWins++
	r.mu.Unlock()
}

// record records d at level l.
func (r *recorder) record(l Level, d time.Duration) {
	r.mu.Lock()
	r.levels[l].record(d)
	r.mu.Unlock()
}

// epochSpan records, at the worker level, a fetcher's share of epoch,
// lasting d, unless the epoch began before a reset.
func (r *recorder) epochSpan(epoch int, d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if epoch >= r.firstTimed {
		r.levels[Worker].record(d)
	}
}

// epochStarted notes that a fetcher started reading epoch, so that a
// reset knows which epochs are partial.
func (r *recorder) epochStarted(epoch int) {
	r.mu.Lock()
	r.latest = max(r.latest, epoch)
	r.mu.Unlock()
}

// shardOpened counts the requests that opened a shard's stream: its
// attempts, those before the last failed and retried.
func (r *recorder) shardOpened(attempts int) {
	r.mu.Lock()
	r.shardReads += int64(attempts)
	r.retries += int64(attempts - 1)
	r.attemptErrors += int64(attempts - 1)
	r.mu.Unlock()
}

// shardPart records a part of a shard read in parts, timed by tm, from
// from to to: its requests are the shard's (every attempt, as a stream's
// opening counts its attempts), and a part past the shard's first
// (extra) is a part read; the reads in flight are the parts'.
func (r *recorder) shardPart(tm dataset.Timing, failed, extra bool, from, to time.Time) {
	r.mu.Lock()
	r.addBusy(from, to)
	r.addAttempts(tm, failed)
	r.retryTime += tm.Retrying
	r.shardReads += int64(tm.Attempts)
	if extra && !failed {
		r.partReads++
	}
	r.mu.Unlock()
}

// partsResumed counts a shard read in parts that failed mid-shard and
// resumed with new parts: a retry, and, when the failure was not a
// part's (whose attempts are counted), a failed attempt.
func (r *recorder) partsResumed(failed bool) {
	r.mu.Lock()
	r.retries++
	if failed {
		r.attemptErrors++
	}
	r.mu.Unlock()
}

// streamResumed counts a stream that failed mid-shard and the requests
// that resumed it: a failed attempt and its retries.
func (r *recorder) streamResumed(attempts int) {
	r.mu.Lock()
	r.shardReads += int64(attempts)
	r.retries += int64(attempts)
	r.attemptErrors += int64(attempts)
	r.mu.Unlock()
}

// streamed counts n bytes read by a shard's stream.
func (r *recorder) streamed(n int64) {
	r.mu.Lock()
	r.streamedBytes += n
	r.mu.Unlock()
}

// dropped counts n samples of a worker's share that no batch took.
func (r *recorder) dropped(n int64) {
	r.mu.Lock()
	r.droppedItems += n
	r.mu.Unlock()
}

// streamItem records one sample of a shard's stream, delivered after
// getitem (its wait for the stream, then its decoding), read in read from
// the stream. The time to first byte is a shard's, recorded once a
// stream; it is not an item's; the stream's busy time is its reads'
// (streamRead).
func (r *recorder) streamItem(getitem, read, decode time.Duration, decoded, failed bool) {
	r.mu.Lock()
	r.levels[GetItem].record(getitem)
	if !failed {
		r.levels[Read].record(read)
		if decoded {
			r.levels[Decode].record(decode)
		}
		r.fetched++
	} else {
		r.errors++
	}
	r.mu.Unlock()
}

// streamRead counts a shard's stream busy reading a sample from from to
// to: the reads in flight of a stream of shards are its streams.
func (r *recorder) streamRead(from, to time.Time) {
	r.mu.Lock()
	r.addBusy(from, to)
	r.mu.Unlock()
}
