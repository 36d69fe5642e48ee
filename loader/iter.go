package loader

import (
	"context"
	"errors"
	"io"
	"time"
)

// Iter is one run of a loader. Its methods are for one consumer goroutine.
type Iter struct {
	run      *run
	stop     context.CancelCauseFunc // stops the run with a cause
	sched    scheduler
	round    int         // batches in a round: one from each worker
	recs     []*recorder // the fetchers' recorders, merged by Close
	inFlight int
	window   int // the item scheduler's window; 0 under the batch scheduler

	// The consumer's state.
	next       int    // sequence number of the next batch
	cur        *Batch // the batch last returned, released by the next call
	start      time.Time
	epochStart time.Time
	end        time.Time // when the last batch was delivered (or the run began)
	levels     [NumLevels]hist
	skipEpoch  bool // the epoch under way began before a reset
	// atEpochStart says the next batch starts an epoch: the last one
	// delivered ended one, or none was.
	atEpochStart bool
	items        int64
	bytes        int64
	skipped      int64 // items left out of batches under OnErrorSkip
	closed       bool
	stats        Stats
}

// Next returns the next batch in sampler order, releasing the previous
// one, whose data the loader then reuses. It returns io.EOF after the last
// batch of the last epoch. Once the run has stopped it returns why: its
// first error, or the cause of the context given to Start; it then returns
// no batch, even one already complete.
func (it *Iter) Next() (*Batch, error) {
	if it.closed {
		return nil, errClosed
	}
	if it.cur != nil {
		it.cur.release()
		it.cur = nil
	}
	r := it.run
	if r.total >= 0 && it.next >= r.total {
		return nil, io.EOF
	}
	if r.ctx.Err() != nil {
		return nil, r.stopped()
	}
	t0 := time.Now()
	b := it.sched.take(r.ctx, it.next)
	if b == nil {
		return nil, r.stopped()
	}
	now := time.Now()
	it.levels[Wait].record(now.Sub(t0))
	if r.skip {
		it.skipped += int64(b.skipFailed())
	}
	for i := range b.Items {
		it.bytes += int64(len(b.Items[i].Data))
	}
	it.items += int64(len(b.Items))
	if b.last {
		if !it.skipEpoch {
			it.levels[Epoch].record(now.Sub(it.epochStart))
		}
		it.skipEpoch = false
		it.epochStart = now
		r.orders.drop(b.Epoch)
	}
	it.end = now
	it.next++
	it.cur = b
	it.atEpochStart = b.last
	return b, nil
}

// A scheduler hands the consumer the run's batches in order.
type scheduler interface {
	// take waits for batch seq, the consumer's next, to be complete and
	// returns it, or nil once ctx is done.
	take(ctx context.Context, seq int) *Batch
	// ready reports, without waiting, whether batch seq is complete;
	// the consumer asks for its next batches in order.
	ready(seq int) bool
}

// workers is the batch scheduler: batch seq is worker seq mod W's.
type workers []*worker

func (ws workers) take(ctx context.Context, seq int) *Batch { return ws[seq%len(ws)].take(ctx) }
func (ws workers) ready(seq int) bool                       { return ws[seq%len(ws)].ready() }

// Ready reports whether the next n batches are complete, so that Next
// would return each of them without waiting; n is at most the number of
// workers (a round: one batch from each). It never waits. A consumer that
// wants to start measuring in steady state takes whole rounds while the
// next one is ready, so that no batch finished before it started counts.
func (it *Iter) Ready(n int) bool {
	if it.closed || n > it.round {
		return false
	}
	for i := range n {
		seq := it.next + i
		if it.run.total >= 0 && seq >= it.run.total {
			return false
		}
		if !it.sched.ready(seq) {
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
	// One instant for every recorder and the run's clock: busy time is
	// counted over the same span as Elapsed. Emptying the histograms
	// comes after, as it takes a while.
	now := time.Now()
	for _, rec := range it.recs {
		rec.restart(now)
	}
	for _, rec := range it.recs {
		rec.reset()
	}
	it.run.held.reset()
	for l := range it.levels {
		it.levels[l].reset()
	}
	it.items, it.bytes, it.skipped = 0, 0, 0
	it.start, it.epochStart, it.end = now, now, now
	it.skipEpoch = !it.atEpochStart
}

// Close stops the run, waits for every goroutine of it to return, and
// computes the run's Stats. It returns the error that stopped the run, if
// any: its first error, or the cause of the context given to Start if that
// stopped it; not the stop Close itself causes. Close after Close returns
// nil.
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
	it.stop(errClosed) // keeps an earlier cause
	closed := time.Now()
	for _, rec := range it.recs {
		rec.close(closed)
	}
	err := it.run.group.Wait()
	if errors.Is(err, errClosed) {
		err = nil
	}
	it.levels[Run].record(end.Sub(it.start))
	s := Stats{
		Items: it.items, Bytes: it.bytes, InFlight: it.inFlight, Window: it.window, Elapsed: closed.Sub(it.start),
		HeldItemsPeak: it.run.held.peakItems.Load(), HeldBytesPeak: it.run.held.peakBytes.Load(),
		Skipped: it.skipped,
	}
	var all [NumLevels]hist
	for l := range all {
		all[l].merge(&it.levels[l])
	}
	for _, rec := range it.recs {
		for l := range all {
			all[l].merge(&rec.levels[l])
		}
		s.Fetched += rec.fetched
		s.Errors += rec.errors
		s.Hedges += rec.hedges
		s.HedgeWins += rec.hedgeWins
		s.ReadTime += rec.busy
		s.AttemptErrors += rec.attemptErrors
		s.Retries += rec.retries
		s.RetryTime += rec.retryTime
		s.ShardReads += rec.shardReads
		s.StreamedBytes += rec.streamedBytes
		s.Dropped += rec.droppedItems
		s.PartReads += rec.partReads
	}
	for l := range all {
		s.Levels[l] = all[l].summary()
	}
	it.stats = s
	return err
}

// BuffersMade returns how many buffers the item scheduler's window has
// made so far, for bodies larger than any free buffer of the window could
// hold: each new one is memory faulted in while the loader reads, so a
// consumer that wants to measure a steady state reads until few are made.
// It is 0 under the batch scheduler, whose batch
// slots grow their buffers to the largest item each holds, a cost a
// consumer pays once it has read each slot's items.
func (it *Iter) BuffersMade() int64 {
	if s, ok := it.sched.(*itemSched); ok {
		return s.bufs.Made()
	}
	return 0
}

// Stats returns what the run measured. It is complete once Close returns.
func (it *Iter) Stats() Stats { return it.stats }
