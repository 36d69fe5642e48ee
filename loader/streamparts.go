package loader

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/storagebench/storagebench/dataset"
	"github.com/storagebench/storagebench/dataset/wds"
)

// Shard streams in parts (Options.Part with Options.Stream), as the AWS
// CRT client reads a large object through its read-ahead window: a worker
// reads its epoch's shards one after another, each as ranged reads of
// Part bytes, FetchConcurrency of them in flight at once (one in Sync
// mode), in shard order and across the end of one shard into the next, so
// that the worker's requests in flight stay its share of C however large
// its shards are and however few it has. The worker's scanner reads a
// shard's parts in order, as it reads a single GET's body. A part read
// ahead waits for the scanner in the worker's window of twice as many
// parts as it has in flight: a part whose read is slow holds up the
// scanner, not the reads of the parts after it, until the window is
// full. A part is held (its bytes counted as held) from its read's start
// until the scanner has read it all: a worker holds at most
// 2 x FetchConcurrency parts. A shard's parts cover it up to the block
// after its last sample: the tar trailer after it holds no sample, and
// the scanner ends at a block boundary where its reader does.

// partFeed reads the parts of one worker's shards of one epoch.
type partFeed struct {
	src    *shardSource
	store  *dataset.Store
	part   int64
	ctx    context.Context
	cancel context.CancelFunc
	pool   *partPool // the worker's parts in flight and buffers

	slots    []partSlot // a ring, the window: the parts launched, in order, from head
	head     int        // the slot the scanner reads next
	launched int        // slots launched and not yet read whole

	// The next part to launch: part loff of shard lj (-1: none under
	// way), then the shards of queue, then the epoch's next shards.
	lj    int
	loff  int64
	queue []int
	// taken are the shards whose parts were launched (or are next) that
	// no cursor has opened yet, in order.
	taken []int

	cur partStream // the shard the scanner reads
}

// partSlot is one part read by a goroutine of the run: its fields are
// the goroutine's until done is closed.
type partSlot struct {
	j      int    // the shard
	key    string // its key
	off, n int64  // the part's range
	buf    []byte // the slot's buffer, which it keeps across parts
	data   []byte // the part's bytes, once read
	done   chan struct{}
	tm     dataset.Timing
	err    error
}

// partPool is what a worker that reads shards in parts keeps across its
// epochs: how many parts it has in flight, and its window's buffers, of
// which it makes no more than its window holds: a new epoch's feed waits
// for the buffers of the last epoch's parts, canceled, to come back.
type partPool struct {
	k    int
	bufs chan []byte
	made int // buffers made; the worker's loop alone counts them
	// inflight counts the parts launched, by this epoch's feed or an
	// earlier one stopped, whose end the worker has not seen: never
	// more than k. completed has a token from each part's read as it
	// ends, in any order, each freeing a request for another part.
	inflight  int
	completed chan struct{}
}

// newPartPool returns the pool of a worker with k parts in flight.
func newPartPool(k int) *partPool {
	return &partPool{k: k, bufs: make(chan []byte, 2*k), completed: make(chan struct{}, 2*k)}
}

// drain counts the parts whose reads ended since it last did.
func (p *partPool) drain() {
	for {
		select {
		case <-p.completed:
			p.inflight--
		default:
			return
		}
	}
}

// newPartFeed returns the feed of src's shards, pool.k parts in flight, from
// byte off of shard j when j >= 0 (a shard a cursor resumes, which it
// has opened already), then the shards of queue, then src's next shards;
// the parts it can launch are launched.
func newPartFeed(src *shardSource, pool *partPool, j int, off int64, queue []int) *partFeed {
	r := src.w.run
	ctx, cancel := context.WithCancel(src.ctx)
	f := &partFeed{src: src, store: r.ds.Store(), part: r.part, ctx: ctx, cancel: cancel, pool: pool,
		slots: make([]partSlot, 2*pool.k), lj: j, loff: off, queue: queue}
	f.taken = append(f.taken, queue...)
	f.fill()
	return f
}

// partEnd returns where the parts of shard j end: where its samples do.
func (f *partFeed) partEnd(j int) int64 {
	return f.src.w.run.stream.set.Shard(j).SamplesEnd()
}

// fill launches parts until k are in flight, or the window is full, or
// none is left.
func (f *partFeed) fill() {
	f.pool.drain()
	for f.pool.inflight < f.pool.k && f.launched < len(f.slots) && f.advance() {
		f.launch()
	}
}

// advance moves the next part to launch to a shard that has one, taking
// the next shard when the one under way has none left; false when no
// shard is left.
func (f *partFeed) advance() bool {
	for f.lj < 0 || f.loff >= f.partEnd(f.lj) {
		switch {
		case len(f.queue) > 0:
			f.lj, f.queue = f.queue[0], f.queue[1:]
		default:
			j, ok := f.src.takeShard()
			if !ok {
				f.lj = -1
				return false
			}
			f.lj = j
			f.taken = append(f.taken, j)
		}
		f.loff = 0
	}
	return true
}

// launch starts reading the next part, into the slot after the last
// launched.
func (f *partFeed) launch() {
	r := f.src.w.run
	s := &f.slots[(f.head+f.launched)%len(f.slots)]
	f.launched++
	f.pool.inflight++
	n := min(f.part, f.partEnd(f.lj)-f.loff)
	if int64(cap(s.buf)) < n {
		s.buf = f.buffer()
	}
	key := r.stream.set.Shard(f.lj).Key
	s.j, s.key, s.off, s.n, s.data, s.err = f.lj, key, f.loff, n, nil, nil
	s.done = make(chan struct{})
	f.loff += n
	r.held.add(0, int(n))
	buf, off, ctx, store, done, completed, rec := s.buf[:n], s.off, f.ctx, f.store, s.done, f.pool.completed, f.src.w.rec
	r.group.Go(func() error {
		start := time.Now()
		tm, err := store.ReadRangeInto(ctx, key, off, buf)
		end := time.Now()
		// Every part read is recorded, read ahead and dropped at an
		// epoch's end or a resume included; not a read that its feed's
		// stop cut short.
		if err == nil || ctx.Err() == nil {
			rec.shardPart(tm, err != nil, off > 0, start, end)
		}
		s.tm, s.err, s.data = tm, err, buf
		// The token first: a reader that sees the part done finds its
		// request free. It never blocks: a token a part in flight.
		completed <- struct{}{}
		close(done)
		return nil
	})
}

// buffer returns a part buffer: one of the worker's, or a new one while
// it has made fewer than its window holds; else it waits for one to come
// back from a feed stopped (its reads canceled), or, if the feed is
// stopped first, makes one more.
func (f *partFeed) buffer() []byte {
	p := f.pool
	select {
	case b := <-p.bufs:
		return b
	default:
	}
	if p.made < cap(p.bufs) {
		p.made++
		return make([]byte, f.part)
	}
	select {
	case b := <-p.bufs:
		return b
	case <-f.ctx.Done():
		return make([]byte, f.part)
	}
}

// nextShard returns the next shard the scanner reads, false when none is
// left, and a stream of its parts, valid until the next call.
func (f *partFeed) nextShard() (int, *partStream, bool) {
	if len(f.taken) == 0 {
		f.advance() // takes the next shard, whatever is in flight
		f.fill()
		if len(f.taken) == 0 {
			return 0, nil, false
		}
	}
	j := f.taken[0]
	f.taken = f.taken[1:]
	return j, f.open(j, 0), true
}

// open returns the stream of shard j's parts from off.
func (f *partFeed) open(j int, off int64) *partStream {
	f.cur = partStream{f: f, j: j, key: f.src.w.run.stream.set.Shard(j).Key, off: off, end: f.partEnd(j)}
	return &f.cur
}

// resume stops the feed, whose shard j failed at off, and returns a new
// one reading j from off, then the shards this one had taken, with the
// stream of j's parts from off.
func (f *partFeed) resume(j int, off int64) (*partFeed, *partStream) {
	f.stop()
	g := newPartFeed(f.src, f.pool, j, off, f.taken)
	return g, g.open(j, off)
}

// stop cancels the parts under way and, once each has returned (without
// waiting for them), gives the slots' buffers back to the worker; the
// bytes of the parts not read whole are no longer held.
func (f *partFeed) stop() {
	f.cancel()
	r := f.src.w.run
	var pending []chan struct{}
	for i := range f.launched {
		s := &f.slots[(f.head+i)%len(f.slots)]
		r.held.add(0, -int(s.n))
		pending = append(pending, s.done)
	}
	slots := f.slots
	f.slots, f.launched = nil, 0
	r.group.Go(func() error {
		for _, d := range pending {
			<-d
		}
		for i := range slots {
			if b := slots[i].buf; cap(b) > 0 {
				select {
				case f.pool.bufs <- b:
				default:
				}
			}
		}
		return nil
	})
}

// errFeed is wrapped by the errors of a feed out of step with its reader:
// a defect, not a failure of the store, never retried.
var errFeed = errors.New("parts out of step")

// partStream reads one shard's parts in order, as the scanner's reader.
type partStream struct {
	f        *partFeed
	j        int
	key      string
	off, end int64  // the next byte to return, and where the parts end
	cur      []byte // what is left of the part being read
	ttfb     time.Duration
	first    bool // ttfb is the shard's
}

// Read reads the shard's next bytes into p; io.EOF where its parts end.
func (ps *partStream) Read(p []byte) (int, error) {
	f := ps.f
	if len(ps.cur) == 0 {
		if ps.off >= ps.end {
			return 0, io.EOF
		}
		if err := ps.take(); err != nil {
			return 0, err
		}
	}
	n := copy(p, ps.cur)
	ps.cur = ps.cur[n:]
	ps.off += int64(n)
	if len(ps.cur) == 0 {
		// The part is read whole: its slot reads the next.
		s := &f.slots[f.head]
		f.src.w.run.held.add(0, -int(s.n))
		f.head = (f.head + 1) % len(f.slots)
		f.launched--
		f.fill()
	}
	return n, nil
}

// take waits for the part at the stream's offset, records its read, and
// makes it the part being read; or returns why it failed.
func (ps *partStream) take() error {
	f := ps.f
	for f.fill(); f.launched == 0; f.fill() {
		// The requests are all taken by the parts of a feed stopped
		// (an epoch ended, or a shard resumed), which end once
		// canceled.
		if f.pool.inflight == 0 {
			return fmt.Errorf("loader: shard %q: no part under way at byte %d, its parts ending at %d: %w", ps.key, ps.off, ps.end, errFeed)
		}
		select {
		case <-f.pool.completed:
			f.pool.inflight--
		case <-f.ctx.Done():
			return context.Cause(f.ctx)
		}
	}
	s := &f.slots[f.head]
	if s.j != ps.j || s.off != ps.off {
		return fmt.Errorf("loader: shard %q: the part under way at byte %d is of shard %q at byte %d: %w", ps.key, ps.off, s.key, s.off, errFeed)
	}
	for wait := true; wait; {
		select {
		case <-s.done:
			wait = false
		case <-f.pool.completed:
			// Another part's read ended: its request is free for
			// the next part, if the window has room.
			f.pool.inflight--
			f.fill()
		case <-f.ctx.Done():
			return context.Cause(f.ctx)
		}
	}
	// The part's own request is free: the next part starts while the
	// scanner reads this one.
	f.fill()
	if s.err != nil {
		return s.err
	}
	if size := f.src.w.run.stream.set.Shard(ps.j).Size; s.tm.Size >= 0 && s.tm.Size != size {
		return fmt.Errorf("part [%d, %d): the store's object is %d bytes, its layout says %d: %w", s.off, s.off+s.n, s.tm.Size, size, wds.ErrFormat)
	}
	if s.off == 0 {
		ps.ttfb, ps.first = s.tm.TTFB, true
	}
	ps.cur = s.data
	return nil
}

// Offset returns the offset in the shard of the next byte Read returns.
func (ps *partStream) Offset() int64 { return ps.off }

// TTFB returns the time to first byte of the shard's first part, once
// read; a stream resumed past it has none.
func (ps *partStream) TTFB() (time.Duration, bool) { return ps.ttfb, ps.first }

// Close does nothing: the feed reads on into the next shard.
func (ps *partStream) Close() error { return nil }
