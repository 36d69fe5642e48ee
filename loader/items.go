package loader

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/storagebench/storagebench/dataset"
	"github.com/storagebench/storagebench/internal/bufring"
)

// itemSched is the item scheduler (SchedItem). C fetchers shared by the
// whole loader claim the items of its batches in sampler order, laying
// the batches out as they go, so that a slow item holds up one fetcher,
// not a worker's batch slots. A fetcher claims a run of items at a time
// (see runLength): one on a store whose reads take longer than
// runBudget, more on a fast one, where a claim per item would cost more
// than the read. Every item in the loader's hands holds a place in a
// pool of Window buffers: reserved when its read is claimed, its buffer
// taken when the read starts, of the size its body needs among all free
// (hedges take their own), given back when its batch is consumed (or when
// a losing read ends), so the pool is the window and memory is bounded by
// it; and
// once the window holds a batch plus C items, claims also stop while the
// items read and held take WindowBytes. Batches still reach the consumer
// complete and in order.
type itemSched struct {
	run        *run
	recs       []*recorder // shared by the fetchers, fetcher i using recs[i mod len]
	fetchers   int
	minItems   int   // items the window always admits: a batch plus C
	windowByte int64 // the byte budget; 0: none
	maxRun     int   // the longest run a fetcher claims

	bufs    *bufring.Ring // the window: a buffer for each item the loader may hold
	firsts  chan struct{} // items laid out and not consumed: the window less the hedges' reserve
	slots   chan *Batch   // batches not in use
	started chan *Batch   // batches laid out, in order, for the consumer
	hedges  chan itemTask // second reads, taken before first ones
	room    chan struct{} // holds a token when a claim that found no room may find some
	readNs  atomic.Int64  // a moving mean of first reads' durations, in ns (see runLength)
	size    atomic.Int64  // a moving mean of the bytes of items read
	unread  atomic.Int64  // items claimed whose first read has not ended

	mu      sync.Mutex // guards the claims' place: seq, cur, pos, laidOut
	seq     int        // the next batch to lay out
	cur     *Batch     // the batch whose items are being claimed; nil: lay out the next
	pos     int        // cur's next item
	laidOut bool       // a finite run's last item is claimed

	drained chan struct{} // closed when the last item of a finite run is done
	left    atomic.Int64  // items of a finite run not yet done
	hedger  *hedger       // nil: no hedging
	pending *hedgeQueue   // the deadlines of hedges to come; nil: no hedging
	ahead   []*Batch      // the consumer's look at batches started, from its next
	next    int           // the consumer's next batch
}

// maxItemRecorders bounds the item scheduler's recorders, which its
// fetchers share: each holds a histogram per level (a few hundred KiB),
// and C can be in the thousands.
const maxItemRecorders = 8

// itemTask is one read of item i of batch b into buf; hedge marks a
// second read. A first read claimed holds a place of the window reserved
// (reserved), and takes its buffer only once the store has said its
// body's size (see fetchBuf).
type itemTask struct {
	b        *Batch
	i        int
	buf      []byte
	reserved bool
	hedge    bool
	gen      uint64
}

// itemState is one item's reads under the item scheduler, guarded by mu.
// An item is done, and its batch may complete, once a read has settled it
// and no read of it is left, queued or running; so no task outlives its
// item. The hedging goroutine may take an item's deadline from the queue
// just as the item is done: gen changes each time the batch is laid out
// again, so that a hedge never acts on a later item in the same place.
type itemState struct {
	mu          sync.Mutex
	gen         uint64
	start       time.Time             // its first read started
	firstByte   atomic.Bool           // its first read has had its first byte
	trickleAt   time.Time             // when its first read, not ended, counts as trickling; zero before its first byte
	outstanding int                   // reads started or queued, not ended
	hedged      bool                  // a second read was started
	settled     bool                  // a read won, or every read failed
	finished    bool                  // the winner's work (decode, records) is done
	cancels     [2]context.CancelFunc // of the first read and the hedge
	qpos        int                   // 1 + its place in the hedge queue, 0 if not there; guarded by the queue's mu
}

// hedgeReserve returns how many buffers of the window the item scheduler
// keeps for hedges with c reads in flight and a budget of hedges per item:
// twice the budget's share of the reads in flight (a hedge and its loser
// overlap), at least one. Were
// the window full of first reads (items read behind a straggler wait for
// it), a straggler's hedge could never start.
func hedgeReserve(c int, budget float64) int {
	return min(c, max(1, int(math.Ceil(2*budget*float64(c)))))
}

// newItemSched returns the item scheduler of r for the resolved options o,
// whose Item is set.
func newItemSched(r *run, o Options) *itemSched {
	c := o.Workers * o.FetchConcurrency
	iopts := o.Item
	nslots := iopts.Window/o.BatchSize + 2
	reserve := 0
	if !iopts.Hedge.IsZero() {
		reserve = hedgeReserve(c, iopts.HedgeBudget)
	}
	s := &itemSched{
		run:      r,
		fetchers: c,
		firsts:   make(chan struct{}, iopts.Window-reserve),
		slots:    make(chan *Batch, nslots),
		started:  make(chan *Batch, nslots),
		hedges:   make(chan itemTask, c),
		room:     make(chan struct{}, 1),
		drained:  make(chan struct{}),
		minItems: o.BatchSize + c,
		maxRun:   max(1, min(maxRunItems, (iopts.Window-reserve-o.BatchSize)/c)),
	}
	if iopts.WindowBytes > 0 {
		s.windowByte = iopts.WindowBytes
	}
	s.bufs = bufring.New(iopts.Window)
	for range nslots {
		s.slots <- &Batch{owner: s, Items: make([]Item, 0, o.BatchSize), states: make([]itemState, o.BatchSize), done: make(chan struct{}, 1)}
	}
	for range min(c, maxItemRecorders) {
		s.recs = append(s.recs, new(recorder))
	}
	if !iopts.Hedge.IsZero() {
		s.hedger = newHedger(iopts.Hedge, iopts.HedgeBudget)
		s.pending = newHedgeQueue(c)
	}
	if r.total >= 0 {
		items := int64(r.total/r.batches) * int64(r.orders.len)
		if o.DropLast {
			items = int64(r.total) * int64(r.batchSize)
		}
		s.left.Store(items)
		if items == 0 {
			close(s.drained)
		}
		s.laidOut = r.total == 0
	}
	return s
}

// start starts the fetchers and, with hedging, the hedging goroutine in
// the run's group.
func (s *itemSched) start() {
	g := s.run.group
	for i := range s.fetchers {
		rec := s.recs[i%len(s.recs)]
		g.Go(func() error { return s.fetch(rec) })
	}
	if s.pending != nil {
		g.Go(s.hedging)
	}
}

// Runs of items: a fetcher claims as many items at once as take about
// runBudget to read at the moving mean of first reads' durations, from 1
// to maxRunItems (as the raw readers claim 50 at a time), and no more than
// its share of the window beyond one batch. So on a store whose reads
// take longer than runBudget a fetcher claims one item at a time, and a
// slow item holds up no other; on a fast store, where a claim would cost
// a good part of a read, an item waits behind at most runBudget of
// reads of its run.
const (
	runBudget   = 100 * time.Microsecond
	maxRunItems = 50
	readGain    = 16 // the mean moves 1/readGain of the way to each read
)

// runLength returns how many items a fetcher claims at once now.
func (s *itemSched) runLength() int {
	m := s.readNs.Load()
	if m <= 0 {
		return 1 // nothing read yet
	}
	return max(1, min(s.maxRun, int(int64(runBudget)/m)))
}

// observeRead moves the means of first reads' durations and, when it
// succeeded, of items' bytes towards a read that took d and read n bytes;
// updates race and may be lost, which only slows the means down.
func (s *itemSched) observeRead(d time.Duration, n int, ok bool) {
	ewma(&s.readNs, max(1, int64(d)))
	if ok {
		ewma(&s.size, int64(n))
	}
}

// ewma moves the mean m 1/readGain of the way towards v, or sets it to v
// when m is unset.
func ewma(m *atomic.Int64, v int64) {
	old := m.Load()
	if old <= 0 {
		m.Store(v)
		return
	}
	m.Store(old + (v-old)/readGain)
}

// claim appends to dst up to n items to read next, in sampler order,
// each with a buffer of the window, laying batches out as it goes. It
// never waits: it claims fewer, or none, when the window, the byte
// budget or the batch slots have no room, and when the run's last item
// is claimed. It fails if a batch cannot be laid out.
func (s *itemSched) claim(dst []itemTask, n int) ([]itemTask, error) {
	r := s.run
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(dst) < n && !s.laidOut {
		if s.windowByte > 0 && len(s.firsts) >= s.minItems && r.held.bytes.Load()+s.unread.Load()*s.size.Load() >= s.windowByte {
			break // the items read and held, and those being read, take the budget
		}
		if s.cur == nil {
			var b *Batch
			select {
			case b = <-s.slots:
			default:
				return dst, nil
			}
			if err := r.layout(b, s.seq); err != nil {
				s.slots <- b
				return dst, err
			}
			b.seen = false
			b.firstRead.Store(0)
			for i := range b.Items {
				st := &b.states[i]
				st.mu.Lock()
				st.gen++
				st.start, st.outstanding, st.hedged, st.settled, st.finished = time.Time{}, 1, false, false, false
				st.trickleAt = time.Time{}
				st.cancels = [2]context.CancelFunc{}
				st.firstByte.Store(false)
				st.mu.Unlock()
			}
			s.started <- b // never blocks: there are as many places as slots
			s.cur, s.pos = b, 0
			s.seq++
		}
		if s.pos < len(s.cur.Items) {
			select {
			case s.firsts <- struct{}{}:
			default:
				return dst, nil
			}
			if !s.bufs.Reserve() {
				<-s.firsts
				return dst, nil
			}
			r.held.add(1, 0)
			s.unread.Add(1)
			dst = append(dst, itemTask{b: s.cur, i: s.pos, reserved: true, gen: s.cur.states[s.pos].gen})
			s.pos++
		}
		if s.pos == len(s.cur.Items) {
			s.cur = nil
			s.laidOut = r.total >= 0 && s.seq >= r.total
		}
	}
	return dst, nil
}

// wake lets a fetcher waiting for room try to claim again.
func (s *itemSched) wake() {
	select {
	case s.room <- struct{}{}:
	default:
	}
}

// fetch is one fetcher: it reads second reads first, then claims runs of
// items and reads them, until the run's items are all done or the run
// stops. With no room to claim in, it waits for a hedge, for room, or
// for the end.
func (s *itemSched) fetch(rec *recorder) error {
	r := s.run
	wt := newWaiter()
	fb := &fetchBuf{bufs: s.bufs}
	fb.trace = &dataset.ReadTrace{Buffer: fb.buffer}
	var (
		epoch      = -1
		epochStart time.Time
		lastEnd    time.Time
		tasks      []itemTask
	)
	defer func() {
		if epoch >= 0 && lastEnd.After(epochStart) {
			rec.epochSpan(epoch, lastEnd.Sub(epochStart))
		}
	}()
	for {
		select {
		case t := <-s.hedges:
			if err := s.read(t, rec, wt, fb); err != nil {
				return err
			}
			continue
		default:
		}
		n := s.runLength()
		var err error
		if tasks, err = s.claim(tasks[:0], n); err != nil {
			return err
		}
		if len(tasks) == 0 {
			select {
			case t := <-s.hedges:
				if err := s.read(t, rec, wt, fb); err != nil {
					return err
				}
			case <-s.room:
			case <-s.drained:
				return nil
			case <-r.ctx.Done():
				return r.stopped()
			}
			continue
		}
		if len(tasks) == n {
			s.wake() // there may be room for another fetcher's run
		}
		for k, t := range tasks {
			if t.b.Epoch != epoch {
				now := time.Now()
				if epoch >= 0 && lastEnd.After(epochStart) {
					rec.epochSpan(epoch, lastEnd.Sub(epochStart))
				}
				epoch, epochStart = t.b.Epoch, now
				rec.epochStarted(epoch)
			}
			if err := s.read(t, rec, wt, fb); err != nil {
				for range tasks[k+1:] {
					s.run.held.add(-1, 0)
					s.bufs.Release()
				}
				return err
			}
			lastEnd = time.Now()
		}
	}
}

// read makes one read of an item, the first or a hedge, and settles the
// item if it wins: the first successful read wins and cancels the other;
// a failed read settles the item only when no other read of it is left.
// It returns an error that stops the run: the item's own, or why the run
// stopped.
func (s *itemSched) read(t itemTask, rec *recorder, wt *waiter, fb *fetchBuf) error {
	r := s.run
	b, st := t.b, &t.b.states[t.i]
	item := &b.Items[t.i]
	slot := 0
	if t.hedge {
		slot = 1
	}

	// Start: a hedge whose item is already settled ends here.
	st.mu.Lock()
	if st.settled {
		st.outstanding--
		done := st.finished && st.outstanding == 0
		st.mu.Unlock()
		s.giveBack(t.buf)
		if done {
			s.complete(b)
		}
		return nil
	}
	ctx := r.ctx
	var cancel context.CancelFunc
	fb.reserved = t.reserved
	trace := fb.trace
	if s.hedger != nil {
		ctx, cancel = context.WithCancel(ctx)
		st.cancels[slot] = cancel
		// Hedging pauses as soon as the store throttles, retries or not.
		trace = &dataset.ReadTrace{Retry: s.hedger.retried, Buffer: fb.buffer}
		if !t.hedge {
			trace.FirstByte = func() { s.firstByte(b, t.i, t.gen) }
		}
	}
	t0 := time.Now()
	if !t.hedge {
		st.start = t0
		b.firstRead.CompareAndSwap(0, t0.UnixNano())
		if s.hedger != nil {
			s.hedger.started()
			if d, ok := s.hedger.delay(); ok {
				s.pending.push(b, t.i, t.gen, t0.Add(d))
			}
		}
	}
	st.mu.Unlock()

	data, tm, err := r.ds.ReadTraced(ctx, item.Index, t.buf, trace)
	end := time.Now()
	if fb.reserved {
		// The store never said the body's size: data, if any, is memory
		// of its own, and takes the place of the place's buffer.
		fb.reserved = false
		if b := s.bufs.Bind(); data == nil {
			data = b
		}
	}
	readFailed := err != nil && ctx.Err() == nil // not aborted as a loser, nor stopped
	if !t.hedge {
		s.observeRead(end.Sub(t0), len(data), err == nil)
	}
	if cancel != nil {
		cancel()
	}
	if !t.hedge && err == nil && s.hedger != nil {
		s.hedger.ttfb(tm.TTFB)
		s.hedger.transfer(tm.Transfer())
	}
	if err != nil && s.hedger != nil && dataset.Throttled(err) {
		s.hedger.throttled(end)
	}

	// Settle.
	st.mu.Lock()
	if !t.hedge && s.pending != nil {
		s.pending.remove(st)
	}
	st.outstanding--
	won := false
	switch {
	case st.settled:
	case err == nil:
		won, st.settled = true, true
		if other := st.cancels[1-slot]; other != nil {
			other() // the loser's request is aborted; it gives its buffer back
		}
	case st.outstanding == 0 && r.ctx.Err() == nil:
		won, st.settled = true, true // the last read left, and it failed
	}
	start := st.start
	// A read that did not win may be the last to end: then the item is
	// done, if the winner has finished. Decided here, with the count, so
	// that the winner and it never both complete the item.
	lostLast := !won && st.finished && st.outstanding == 0
	st.mu.Unlock()

	if !won {
		if !t.hedge {
			s.unread.Add(-1)
		}
		rec.attempt(tm, readFailed, t0, end, t.hedge)
		s.giveBack(data)
		if lostLast {
			s.complete(b)
		}
		if r.ctx.Err() != nil {
			return r.stopped()
		}
		return nil
	}

	// The winner: its buffer becomes the item's, it decodes and records.
	item.Data, item.Err = data, nil
	var dec time.Duration
	decoded := err == nil && r.decoding != nil
	if decoded {
		var ok bool
		if dec, ok, err = r.decode(b, t.i, wt); !ok {
			return r.stopped()
		}
	}
	if t.hedge {
		rec.attempt(dataset.Timing{}, false, end, end, true)
		rec.hedgeWon()
	}
	// getitem runs from the item's first read; the fetcher was busy for
	// this read alone.
	rec.item(time.Since(start), tm, dec, decoded, readFailed, err != nil, t0, time.Now())
	r.held.add(0, len(data))
	if !t.hedge {
		s.unread.Add(-1) // once its bytes are held: a claim never sees neither
	}
	if err := r.result(b, item, err); err != nil {
		return err
	}
	st.mu.Lock()
	st.finished = true
	done := st.outstanding == 0
	st.mu.Unlock()
	if done {
		s.complete(b)
	}
	return nil
}

// hedging is the run's hedging goroutine: it starts each hedge when its
// deadline in the queue comes, until the run's items are done or the run
// stops. It is never why a run stops.
func (s *itemSched) hedging() error {
	r := s.run
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		if next, ok := s.pending.due(time.Now(), s.hedge); ok {
			t.Reset(time.Until(next))
		} else {
			t.Stop()
		}
		select {
		case <-t.C:
		case <-s.pending.wake:
		case <-s.drained:
			return nil
		case <-r.ctx.Done():
			return nil
		}
	}
}

// firstByte is the FirstByte hook of the first read of item i of b, of
// generation gen: from now on the read can only trickle. Its hedge, if
// queued, is put off until the read has taken trickleDelay since this
// first byte, when it is hedged if still not ended (see hedge).
func (s *itemSched) firstByte(b *Batch, i int, gen uint64) {
	st := &b.states[i]
	st.firstByte.Store(true)
	d, ok := s.hedger.trickleDelay()
	st.mu.Lock()
	defer st.mu.Unlock()
	s.pending.remove(st)
	if !ok || st.gen != gen || st.settled || st.hedged {
		return
	}
	st.trickleAt = time.Now().Add(d)
	s.pending.push(b, i, gen, st.trickleAt)
}

// hedge starts a second read of item e.i of e.b if its first read, of
// generation e.gen, is late, the item is not settled, and the budget and
// the store allow: it takes a buffer of the window without waiting, and
// hands the read to the fetchers ahead of first reads. A first read is
// late without a first byte (past the budget once overdue), or trickling
// after it (within the budget alone). When the budget, the window or a
// throttling store refuses for now, it queues the item again hedgeRetry
// later, for as long as the first read is late: the slowest reads are the
// ones a hedge helps most.
func (s *itemSched) hedge(e hedgeEntry) {
	b, i, gen := e.b, e.i, e.gen
	st := &b.states[i]
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.gen != gen || st.settled || st.hedged || s.run.ctx.Err() != nil {
		return
	}
	now := time.Now()
	trickling := st.firstByte.Load()
	if trickling && (st.trickleAt.IsZero() || now.Before(st.trickleAt)) {
		return // the deadline of a first byte that came: the trickle's is queued
	}
	retry := func() { s.pending.push(b, i, gen, now.Add(hedgeRetry)) }
	if trickling && !s.hedger.allowTrickle(now) || !trickling && !s.hedger.allow(now, now.Sub(st.start)) {
		retry()
		return
	}
	buf, ok := s.bufs.Get()
	if !ok {
		retry() // the window is full: a hedge would exceed it
		return
	}
	select {
	case s.hedges <- itemTask{b: b, i: i, buf: buf, hedge: true, gen: gen}:
		s.run.held.add(1, 0)
		st.outstanding++
		st.hedged = true
		s.hedger.issued()
	default:
		s.bufs.Put(buf)
		retry()
	}
}

// hedgeRetry is how long a refused hedge waits before it asks again.
const hedgeRetry = 2 * time.Millisecond

// A fetchBuf is the buffers of one fetcher's reads: a first read, which
// holds a place of the window reserved, takes its buffer once the store
// has said its body's size ([bufring.Ring.Take]), the smallest free one
// that fits among all the window's free buffers; a read that has a buffer
// swaps it if it is too small. Taken at claim time, or when the read
// started, a buffer would be whichever was free, far larger than its body
// or too small for it: the last reads of a run, with few buffers left
// free, would make new ones, and the window would go on growing its
// buffers towards the largest body's size. A fetcher's reads run one at a
// time, so it needs one.
type fetchBuf struct {
	bufs     *bufring.Ring
	trace    *dataset.ReadTrace // for reads with no hedging: buffer as its Buffer
	reserved bool               // the read under way holds a place, not yet a buffer
}

// buffer is a read's dataset.ReadTrace Buffer.
func (f *fetchBuf) buffer(n int, have []byte) []byte {
	if f.reserved {
		f.reserved = false
		return f.bufs.Take(n)
	}
	return f.bufs.Swap(n, have)
}

// giveBack returns a buffer a losing or stale read held to the window.
func (s *itemSched) giveBack(buf []byte) {
	s.run.held.add(-1, 0)
	s.bufs.Put(buf)
	s.wake()
}

// complete counts one item of b done, and signals the consumer when it
// was the batch's last.
func (s *itemSched) complete(b *Batch) {
	if b.pending.Add(-1) == 0 {
		end := time.Now()
		rec := s.recs[b.seq%len(s.recs)]
		rec.record(Fetch, end.Sub(time.Unix(0, b.firstRead.Load())))
		b.done <- struct{}{}
	}
	if s.left.Add(-1) == 0 {
		close(s.drained)
	}
}

// recycle takes back a consumed batch: its buffers return to the window
// and its slot to the feeder.
func (s *itemSched) recycle(b *Batch) {
	s.run.held.release(b)
	for i := range b.Items {
		s.bufs.Put(b.Items[i].Data)
		b.Items[i].Data = nil
		<-s.firsts
	}
	s.slots <- b
	s.wake()
}

// take waits for batch seq, the consumer's next, to be complete.
func (s *itemSched) take(ctx context.Context, seq int) *Batch {
	if len(s.ahead) == 0 {
		select {
		case b := <-s.started:
			s.ahead = append(s.ahead, b)
		case <-ctx.Done():
			return nil
		}
	}
	b := s.ahead[0]
	if !b.seen {
		select {
		case <-b.done:
			b.seen = true
		case <-ctx.Done():
			return nil
		}
	}
	s.ahead = s.ahead[1:]
	s.next = seq + 1
	return b
}

// ready reports, without waiting, whether batch seq is complete.
func (s *itemSched) ready(seq int) bool {
	k := seq - s.next
	for len(s.ahead) <= k {
		select {
		case b := <-s.started:
			s.ahead = append(s.ahead, b)
		default:
			return false
		}
	}
	b := s.ahead[k]
	if !b.seen {
		select {
		case <-b.done:
			b.seen = true
		default:
			return false
		}
	}
	return true
}
