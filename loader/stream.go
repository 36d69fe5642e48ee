package loader

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/storagebench/storagebench/dataset"
	"github.com/storagebench/storagebench/dataset/wds"
)

// StreamOptions make a run read tar shards as WebDataset does (see
// Options.Stream).
type StreamOptions struct {
	// Set is the layout of the shards: which samples each holds. Every
	// sample is read from its shard's stream, and checked against it.
	Set *wds.Set
	// Shuffle is the number of samples in each worker's shuffle buffer,
	// as WebDataset's shuffle(N): a sample goes into a batch from a
	// random place in the buffer, the next sample streamed taking its
	// place. 0 passes samples in the order their streams deliver them.
	Shuffle int
}

// streamPlan is how a run's epochs split the shards of a set among the
// world's workers, as WebDataset splits them: by shard, the shard order
// shuffled each epoch with (Seed, epoch), shard k of the order going to
// the k mod G-th of the G = World x Workers workers of the world (this
// rank's are base to base+Workers-1). In each epoch every worker delivers
// the same number of whole batches, the most the epoch's smallest share
// holds, so that every worker of every rank takes the same steps; the
// rest of each share is dropped. An epoch's batches so depend on its
// shard order: epoch e starts at batch start(e) of the run.
type streamPlan struct {
	set     *wds.Set
	shuffle int
	seed    uint64
	slots   int // workers of the world
	base    int // the first of this rank's
	workers int // this rank's
	batch   int

	mu     sync.Mutex
	epochs []*epochPlan // epochs planned so far, from 0
}

// epochPlan is one epoch of a streamPlan.
type epochPlan struct {
	shards    [][]int // the shards of each of this rank's workers
	shares    []int   // and the samples they hold
	perWorker int     // batches each worker delivers
	start     int     // the run's batch the epoch starts at
}

// newStreamPlan returns the plan of o's run over set, or an error when
// the shards leave a worker of the world no shard, or its first epoch
// no whole batch.
func newStreamPlan(s *StreamOptions, o Options) (*streamPlan, error) {
	set := s.Set
	world := max(o.Shard.World, 1)
	p := &streamPlan{set: set, shuffle: s.Shuffle, seed: o.Seed, slots: world * o.Workers, base: o.Shard.Rank * o.Workers, workers: o.Workers, batch: o.BatchSize}
	if set.Shards() < p.slots {
		return nil, fmt.Errorf("loader: %d shards cannot give each of %d workers (%d ranks x %d) a shard: want at least as many shards as workers, or smaller shards", set.Shards(), p.slots, world, o.Workers)
	}
	// Every epoch's smallest share holds at least the floor(shards/G)
	// smallest shards: a set whose worst case holds no whole batch would
	// fail at some epoch after the run began.
	counts := make([]int, set.Shards())
	for j := range counts {
		counts[j] = len(set.Shard(j).Samples)
	}
	slices.Sort(counts)
	least := 0
	for _, c := range counts[:set.Shards()/p.slots] {
		least += c
	}
	if least < o.BatchSize {
		return nil, fmt.Errorf("loader: %d shards among %d workers (%d ranks x %d) can leave a worker %d samples in an epoch (the %d smallest shards), less than a batch of %d: want smaller batches, fewer workers or more samples a shard", set.Shards(), p.slots, world, o.Workers, least, set.Shards()/p.slots, o.BatchSize)
	}
	if _, err := p.epoch(0); err != nil {
		return nil, err
	}
	return p, nil
}

// epoch returns the plan of epoch e, planning the epochs before it first.
func (p *streamPlan) epoch(e int) (*epochPlan, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.epochs) <= e {
		k := len(p.epochs)
		start := 0
		if k > 0 {
			prev := p.epochs[k-1]
			start = prev.start + prev.perWorker*p.workers
		}
		ep, err := p.plan(k, start)
		if err != nil {
			return nil, err
		}
		p.epochs = append(p.epochs, ep)
	}
	return p.epochs[e], nil
}

// plan plans epoch e, starting at batch start.
func (p *streamPlan) plan(e, start int) (*epochPlan, error) {
	order := rand.New(rand.NewPCG(p.seed, uint64(e))).Perm(p.set.Shards())
	least := -1
	ep := &epochPlan{start: start, shards: make([][]int, p.workers), shares: make([]int, p.workers)}
	for g := range p.slots {
		share := 0
		for k := g; k < len(order); k += p.slots {
			n := len(p.set.Shard(order[k]).Samples)
			share += n
			if w := g - p.base; w >= 0 && w < p.workers {
				ep.shards[w] = append(ep.shards[w], order[k])
				ep.shares[w] += n
			}
		}
		if least < 0 || share < least {
			least = share
		}
	}
	ep.perWorker = least / p.batch
	if ep.perWorker == 0 {
		return nil, fmt.Errorf("loader: epoch %d: the smallest share of %d shards among %d workers holds %d samples, less than a batch of %d: want smaller batches, fewer workers or more samples a shard", e, p.set.Shards(), p.slots, least, p.batch)
	}
	return ep, nil
}

// streamed is one sample read from a shard's stream.
type streamed struct {
	index int           // the sample's number in the set
	data  []byte        // its data member
	read  time.Duration // from asking the stream for it to its being whole
}

// streamLoop is a worker's loop over its batches when the run streams
// shards: each epoch, its shards are streamed by as many goroutines as
// the worker has fetchers (one in Sync mode), their samples pass its
// shuffle buffer, and it fills its batches from the buffer, in turn with
// the other workers as in loop.
func (w *worker) streamLoop() error {
	r := w.run
	p := r.stream
	defer w.rec.finish()
	streams := max(w.fetchers, 1)
	var parts *partPool
	if r.part > 0 {
		// One stream, its fetchers' parts in flight (see partFeed).
		parts, streams = newPartPool(streams), 1
	}
	rng := rand.New(rand.NewPCG(p.seed^0x9e3779b97f4a7c15, uint64(p.base+w.first)))
	// Sample buffers to reuse, beyond those the worker's batches hold:
	// as many as its streams may read ahead (the samples they hand over
	// and the ones they read), two more, and the shuffle buffer's, which
	// it gives back at the end of each epoch.
	free := newBufPool(5*streams + 2 + p.shuffle)
	for epoch := 0; ; epoch++ {
		ep, err := p.epoch(epoch)
		if err != nil {
			return err
		}
		w0 := w.first // the worker's place among its rank's
		seq := ep.start + w0
		if r.total >= 0 && seq >= r.total {
			return nil
		}
		src := w.startStreams(epoch, ep.shards[w0], streams, free, parts)
		whole, err := w.streamEpoch(src, ep, epoch, seq, rng, free)
		src.stop()
		if err != nil {
			return err
		}
		if whole {
			w.rec.dropped(int64(ep.shares[w0] - ep.perWorker*p.batch))
		}
	}
}

// streamEpoch fills the worker's batches of epoch ep from src, the first
// of them the run's batch seq, and reports whether it filled them all (a
// run that ends stops within an epoch).
func (w *worker) streamEpoch(src *shardSource, ep *epochPlan, epoch, seq int, rng *rand.Rand, free *bufPool) (bool, error) {
	r := w.run
	p := r.stream
	var buffer []streamed // the shuffle buffer
	// Samples held in the shuffle buffer are counted as held; without
	// one, a sample streamed goes straight into its batch, whose bytes
	// complete counts, as a loose item's.
	track := p.shuffle > 0
	wt := newWaiter() // the worker's place in the decode gate's queue
	k := 0
	for ; k < ep.perWorker && (r.total < 0 || seq < r.total); k++ {
		var b *Batch
		select {
		case b = <-w.free:
		case <-r.ctx.Done():
			return false, r.stopped()
		}
		index := seq - ep.start
		b.seq, b.Epoch, b.Index = seq, epoch, index
		b.last = index == ep.perWorker*p.workers-1
		b.Items = b.Items[:p.batch]
		b.start = time.Now()
		r.held.add(len(b.Items), 0)
		w.rec.batchStarted(b.Epoch, b.start)
		w.started <- b // never blocks: the worker has only Prefetch slots
		for i := range b.Items {
			item := &b.Items[i]
			t0 := time.Now()
			for len(buffer) <= p.shuffle && !src.exhausted {
				s, ok, err := src.next(r.ctx)
				if err != nil {
					return false, err
				}
				if !ok {
					break
				}
				if track {
					r.held.add(1, len(s.data))
				}
				buffer = append(buffer, s)
			}
			if len(buffer) == 0 {
				return false, fmt.Errorf("loader: epoch %d: worker %d's shards ran out of samples after %d of %d batches", epoch, w.first, k, ep.perWorker)
			}
			pick := 0
			if p.shuffle > 0 {
				pick = rng.IntN(len(buffer))
			}
			s := buffer[pick]
			buffer[pick] = buffer[len(buffer)-1]
			buffer = buffer[:len(buffer)-1]
			if track {
				r.held.add(-1, -len(s.data))
			}
			free.put(item.Data)
			item.Index, item.Data, item.Err = s.index, s.data, nil
			var dec time.Duration
			decoded := r.decoding != nil
			var err error
			if decoded {
				var ok bool
				if dec, ok, err = r.decode(b, i, wt); !ok {
					return false, r.stopped()
				}
			}
			getitem := time.Since(t0)
			w.rec.streamItem(getitem, s.read, dec, decoded, err != nil)
			if err := r.result(b, item, err); err != nil {
				return false, err
			}
		}
		w.complete(b)
		seq += w.stride
	}
	for _, s := range buffer {
		if track {
			r.held.add(-1, -len(s.data))
		}
		free.put(s.data)
	}
	return k == ep.perWorker, nil
}

// shardSource is one worker's streams of one epoch. With one stream (a
// worker in Sync mode) the worker reads it itself, as a WebDataset
// worker process reads its tar inline; with more, each is a goroutine of
// the run sending its samples to the worker.
type shardSource struct {
	w         *worker
	epoch     int
	shards    []int
	free      *bufPool
	nextShard atomic.Int64
	ctx       context.Context
	cancel    context.CancelFunc
	exhausted bool // no sample will come

	cur  *shardCursor // inline: the shard being read, or nil
	feed *partFeed    // inline, reading shards in parts: their parts

	out     chan streamed // from the streams' goroutines
	wg      sync.WaitGroup
	done    chan struct{} // closed once every stream's goroutine has returned
	errOnce sync.Once
	err     error // the first error a stream's goroutine returned, set before done is closed
}

// startStreams starts reading shards for the worker's epoch with streams
// streams: inline for one, else in goroutines of the run's group. With
// parts, the worker reads in parts (Options.Part): one stream, inline,
// whose parts, as many at once as the worker's fetchers, start now.
func (w *worker) startStreams(epoch int, shards []int, streams int, free *bufPool, parts *partPool) *shardSource {
	ctx, cancel := context.WithCancel(w.run.ctx)
	src := &shardSource{w: w, epoch: epoch, shards: shards, free: free, ctx: ctx, cancel: cancel}
	if parts != nil {
		src.feed = newPartFeed(src, parts, -1, 0, nil)
		return src
	}
	n := min(streams, len(shards))
	if n <= 1 {
		return src
	}
	src.out, src.done = make(chan streamed, 4*n), make(chan struct{})
	src.wg.Add(n)
	for range n {
		w.run.group.Go(func() error {
			err := src.stream()
			if err != nil {
				// Before done is closed: the worker that finds the
				// streams ended returns why, not "out of samples".
				src.errOnce.Do(func() { src.err = err })
			}
			src.wg.Done()
			return err
		})
	}
	w.run.group.Go(func() error {
		src.wg.Wait()
		close(src.done)
		return nil
	})
	return src
}

// stop ends the epoch's streams, which return without error, and, once
// they have (without waiting for them), gives the buffers of the samples
// they sent that the worker did not take back to the pool.
func (src *shardSource) stop() {
	src.cancel()
	if src.cur != nil {
		src.cur.close()
		src.cur = nil
	}
	if src.feed != nil {
		src.feed.stop()
		src.feed = nil
	}
	if src.out == nil {
		return
	}
	src.w.run.group.Go(func() error {
		<-src.done
		for {
			select {
			case s := <-src.out:
				src.free.put(s.data)
			default:
				return nil
			}
		}
	})
}

// takeShard returns the next shard of the epoch to read, false when none
// is left.
func (src *shardSource) takeShard() (int, bool) {
	k := int(src.nextShard.Add(1) - 1)
	if k >= len(src.shards) {
		return 0, false
	}
	return src.shards[k], true
}

// next returns the next sample, and false once every stream has ended
// (and sets exhausted), or the error a stream ended with.
func (src *shardSource) next(ctx context.Context) (streamed, bool, error) {
	if src.out == nil {
		return src.nextInline()
	}
	select {
	case s := <-src.out:
		return s, true, nil
	default:
	}
	select {
	case s := <-src.out:
		return s, true, nil
	case <-src.done:
		// A stream may have sent its last sample just before ending.
		select {
		case s := <-src.out:
			return s, true, nil
		default:
		}
		if err := src.err; err != nil {
			return streamed{}, false, err
		}
		src.exhausted = true
		return streamed{}, false, nil
	case <-ctx.Done():
		return streamed{}, false, context.Cause(ctx)
	}
}

// nextInline reads the next sample of the worker's one stream.
func (src *shardSource) nextInline() (streamed, bool, error) {
	for {
		if src.cur == nil && src.feed != nil {
			j, body, ok := src.feed.nextShard()
			if !ok {
				src.exhausted = true
				return streamed{}, false, nil
			}
			src.cur = src.cursor(j, body)
		}
		if src.cur == nil {
			j, ok := src.takeShard()
			if !ok {
				src.exhausted = true
				return streamed{}, false, nil
			}
			cur, err := src.open(j)
			if err != nil {
				return streamed{}, false, src.failed(err)
			}
			src.cur = cur
		}
		s, ok, err := src.cur.next()
		if err != nil {
			return streamed{}, false, src.failed(err)
		}
		if ok {
			return s, true, nil
		}
		src.cur.close()
		src.cur = nil
	}
}

// failed returns the error that ends the run for err, a stream's.
func (src *shardSource) failed(err error) error {
	if src.w.run.ctx.Err() != nil {
		return src.w.run.stopped()
	}
	return fmt.Errorf("loader: epoch %d: %w", src.epoch, err)
}

// stream reads shards of the epoch, one after another, sending their
// samples to the worker, until none is left, returning nil; or until the
// epoch's context ends, returning nil if only the epoch ended; or until a
// shard fails, returning its error.
func (src *shardSource) stream() error {
	for {
		j, ok := src.takeShard()
		if !ok {
			return nil
		}
		if err := src.sendShard(j); err != nil {
			if src.ctx.Err() != nil && src.w.run.ctx.Err() == nil {
				return nil // the epoch ended, the run goes on
			}
			return src.failed(err)
		}
	}
}

// sendShard streams shard j to the worker.
func (src *shardSource) sendShard(j int) error {
	cur, err := src.open(j)
	if err != nil {
		return err
	}
	defer cur.close()
	for {
		s, ok, err := cur.next()
		if err != nil || !ok {
			return err
		}
		select {
		case src.out <- s:
		case <-src.ctx.Done():
			src.free.put(s.data)
			return src.ctx.Err()
		}
	}
}

// shardBody is what a shard cursor reads a shard from: its body, from
// one GET (wholeBody), or its parts (partStream).
type shardBody interface {
	io.Reader
	// Offset returns the offset in the shard of the next byte Read
	// returns.
	Offset() int64
	// TTFB returns the shard's time to first byte, once known.
	TTFB() (time.Duration, bool)
	Close() error
}

// wholeBody is the body of a shard read with one GET.
type wholeBody struct{ *dataset.Stream }

// TTFB returns the time from the attempt that opened the stream to its
// first byte.
func (b wholeBody) TTFB() (time.Duration, bool) {
	f := b.FirstByte()
	return f.Sub(b.Opened()), !f.IsZero()
}

// shardCursor reads one shard's stream sample by sample, checking each
// against the set's layout. A stream that fails with a retryable error
// resumes, with a ranged read from the end of its last whole member (in
// parts, a new feed of parts from there), up to the store's policy's
// attempts in a row without a new sample.
type shardCursor struct {
	src      *shardSource
	j        int // the shard
	sh       *wds.Shard
	first    int // the set's number of the shard's first sample
	st       shardBody
	from     int64 // st's offset when its bytes were last counted
	sc       *wds.Scanner
	k        int // the next sample's position in the shard
	failures int
	ttfb     bool // the shard's time to first byte is recorded
}

// open opens shard j's stream.
func (src *shardSource) open(j int) (*shardCursor, error) {
	set := src.w.run.stream.set
	sh := set.Shard(j)
	st, err := src.w.run.ds.Store().OpenStream(src.ctx, sh.Key, 0)
	if err != nil {
		return nil, err
	}
	src.w.rec.shardOpened(st.Attempts())
	return src.cursor(j, wholeBody{st}), nil
}

// cursor returns the cursor of shard j reading body from the shard's
// start.
func (src *shardSource) cursor(j int, body shardBody) *shardCursor {
	set := src.w.run.stream.set
	sh := set.Shard(j)
	var sc *wds.Scanner
	select {
	case sc = <-src.free.scanners:
		sc.Reset(body, sh.Key, 0, sh.Size)
	default:
		sc = wds.NewScanner(body, sh.Key, 0, sh.Size)
		sc.Alloc, sc.Free = src.free.get, src.free.put
	}
	c := &shardCursor{src: src, j: j, sh: sh, first: set.First(j), st: body, sc: sc}
	sc.Key = c.key
	return c
}

// key returns the key of the sample the cursor reads next, b, as the
// layout's string when it is the one the layout expects there (next
// checks that it is): a sample's key costs no allocation.
func (c *shardCursor) key(b []byte) string {
	if c.k < len(c.sh.Samples) && string(b) == c.sh.Samples[c.k].Key {
		return c.sh.Samples[c.k].Key
	}
	return string(b)
}

// count counts the bytes the cursor's stream read since it last did.
func (c *shardCursor) count() {
	off := c.st.Offset()
	c.src.w.rec.streamed(off - c.from)
	c.from = off
}

// close closes the cursor's stream, counting the bytes it read, and
// gives its scanner back for another shard's.
func (c *shardCursor) close() {
	c.count()
	c.st.Close()
	select {
	case c.src.free.scanners <- c.sc:
	default:
	}
	c.sc = nil
}

// next reads the shard's next sample; ok is false after its last, once
// the shard has been checked whole.
func (c *shardCursor) next() (s streamed, ok bool, err error) {
	store := c.src.w.run.ds.Store()
	rec := c.src.w.rec
	for {
		t0 := time.Now()
		smp, data, err := c.sc.Next(nil)
		t1 := time.Now()
		read := t1.Sub(t0)
		if c.src.feed == nil {
			rec.streamRead(t0, t1) // in parts, the parts' reads are in flight
		}
		if !c.ttfb {
			if d, ok := c.st.TTFB(); ok {
				rec.record(TTFB, d)
				c.ttfb = true
			}
		}
		if err == io.EOF {
			if c.k != len(c.sh.Samples) {
				return streamed{}, false, fmt.Errorf("shard %q: the stream ended at offset %d after %d samples, its layout has %d", c.sh.Key, c.sc.Offset(), c.k, len(c.sh.Samples))
			}
			return streamed{}, false, nil
		}
		if err != nil {
			if c.src.ctx.Err() != nil || errors.Is(err, wds.ErrFormat) || errors.Is(err, errFeed) || !dataset.Retryable(err) {
				return streamed{}, false, err
			}
			if c.failures++; c.failures >= store.Policy().Attempts {
				return streamed{}, false, fmt.Errorf("%w (after %d attempts without a new sample)", err, c.failures)
			}
			var body shardBody
			if c.src.feed != nil {
				// A part that failed counted its attempts; a body that
				// failed otherwise (cut short) is one more.
				var ke *dataset.KeyError
				rec.partsResumed(!errors.As(err, &ke))
				c.src.feed, body = c.src.feed.resume(c.j, c.sc.Offset())
			} else {
				st, oerr := store.OpenStream(c.src.ctx, c.sh.Key, c.sc.Offset())
				if oerr != nil {
					return streamed{}, false, fmt.Errorf("%w (resuming after: %w)", oerr, err)
				}
				rec.streamResumed(st.Attempts())
				body = wholeBody{st}
			}
			c.count()
			c.st.Close()
			c.st, c.from = body, c.sc.Offset()
			c.sc.Resume(body)
			continue
		}
		c.failures = 0
		if c.k >= len(c.sh.Samples) {
			return streamed{}, false, fmt.Errorf("shard %q: sample %q at offset %d is past the %d samples of its layout", c.sh.Key, smp.Key, smp.Off, len(c.sh.Samples))
		}
		want := &c.sh.Samples[c.k]
		if smp.Key != want.Key || int64(len(data)) != want.DataMember().Size || smp.Off != want.Off {
			return streamed{}, false, fmt.Errorf("shard %q: sample %d is %q at offset %d with %d bytes of data, its layout says %q at offset %d with %d", c.sh.Key, c.k, smp.Key, smp.Off, len(data), want.Key, want.Off, want.DataMember().Size)
		}
		c.k++
		c.count()
		return streamed{index: c.first + c.k - 1, data: data, read: read}, true, nil
	}
}

// bufPool holds the sample buffers a worker's streams reuse: a buffer a
// batch gives back, when it takes a new sample, waits here for a stream
// to read a sample into. Like a loose item's buffer, which stays with its
// batch slot and grows to the largest item it has held, a buffer grows
// when a sample does not fit it and is never cut down, so that the
// buffers a worker has are as many as it holds samples, each at most the
// largest's size rounded up to a power of two, however long the run.
// (Pooled by size class instead, buffers of rare sizes piled up over a
// long run: peak RSS grew 1.8x from 100,000 samples to 1,000,000.)
type bufPool struct {
	mu   sync.Mutex
	n    int // the most buffers kept
	bufs [][]byte

	// scanners are the scanners of shards closed, kept for the next
	// shards (a scanner's own buffers and names, made once a stream, not
	// once a shard).
	scanners chan *wds.Scanner
}

// newBufPool returns a pool keeping up to n buffers, and n scanners.
func newBufPool(n int) *bufPool {
	return &bufPool{n: n, bufs: make([][]byte, 0, n), scanners: make(chan *wds.Scanner, n)}
}

// get returns an empty buffer of at least n bytes' capacity: the smallest
// pooled one that holds n bytes; else a new one of n bytes rounded up to
// a power of two (at least 4 KiB): with the pool full, in place of the
// smallest pooled one, which is dropped, so that the buffers the worker
// has stay as many and only grow; with room in the pool, beside them, so
// that a worker that gives a buffer back for each it takes (a stream read
// inline, with no sample read ahead) comes to have the pool's choice of
// sizes, not only the one buffer it gave back last.
func (p *bufPool) get(n int64) []byte {
	p.mu.Lock()
	fit, small := -1, -1
	for i, b := range p.bufs {
		if int64(cap(b)) >= n && (fit < 0 || cap(b) < cap(p.bufs[fit])) {
			fit = i
		}
		if small < 0 || cap(b) < cap(p.bufs[small]) {
			small = i
		}
	}
	if fit < 0 && len(p.bufs) == p.n {
		fit = small // dropped below
	}
	var b []byte
	if fit >= 0 {
		last := len(p.bufs) - 1
		b = p.bufs[fit]
		p.bufs[fit] = p.bufs[last]
		p.bufs[last] = nil
		p.bufs = p.bufs[:last]
	}
	p.mu.Unlock()
	if int64(cap(b)) >= n {
		return b
	}
	c := int64(4 << 10)
	for c < n {
		c <<= 1
	}
	return make([]byte, 0, c)
}

// put keeps b for reuse; when the pool is full, in place of the smallest
// pooled buffer if b is larger (large buffers, for the few large samples,
// are the costly ones to make again), else not at all.
func (p *bufPool) put(b []byte) {
	if cap(b) == 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.bufs) < p.n {
		p.bufs = append(p.bufs, b[:0])
		return
	}
	small := -1
	for i, x := range p.bufs {
		if small < 0 || cap(x) < cap(p.bufs[small]) {
			small = i
		}
	}
	if small >= 0 && cap(p.bufs[small]) < cap(b) {
		p.bufs[small] = b[:0]
	}
}
