package loader

import (
	"sync"
	"time"
)

// recorder holds one worker's histograms. Its fetchers share it under its
// own lock; no lock is shared between workers.
type recorder struct {
	mu      sync.Mutex
	levels  [NumLevels]hist
	fetched int64
	errors  int64
	// epochs tracks, per epoch, the worker's batches not yet complete, to
	// time the worker's loop over that epoch.
	epochs map[int]*workerEpoch
	// latest is the latest epoch the worker started a batch of; after a
	// reset, epochs up to it are partial and not timed.
	latest, firstTimed int
}

// reset discards what was recorded.
func (r *recorder) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for l := range r.levels {
		r.levels[l].reset()
	}
	r.fetched, r.errors = 0, 0
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

// item records one item read.
func (r *recorder) item(getitem, ttfb, read, decode time.Duration, decoded, failed bool) {
	r.mu.Lock()
	r.levels[GetItem].record(getitem)
	if !failed {
		r.levels[TTFB].record(ttfb)
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
