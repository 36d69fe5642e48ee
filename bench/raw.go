package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/storagebench/storagebench/dataset"
	"github.com/storagebench/storagebench/dataset/wds"
	"github.com/storagebench/storagebench/internal/bufring"
	"github.com/storagebench/storagebench/loader"
)

// rawReader reads items with c goroutines straight from a dataset, no
// loader in between: the raw baseline.
//
// Its readers hold max(hold, c) items, as a consumer that keeps what it
// read does, and as the loader's batch slots and item window do: each
// read takes a buffer from a ring of that many and gives it back once
// checked, a buffer too small for a body swapped for a free one that
// fits, as the loader's item window takes and swaps them ([bufring.Ring]),
// so a buffer is filled again only after the other free buffers of its
// size have been. So the buffers settle at the sizes the items need,
// about hold times the mean item in all, and a warmed baseline pays for
// neither allocations nor page faults that a loader in steady state does
// not. A reader that reused one buffer would write to memory that stays
// in cache, which no loader that hands out batches can; buffers each sized
// for the largest item they might hold would take hold times the largest
// item, gigabytes at holds of thousands, and fault their pages in while
// the baseline is timed.
type rawReader struct {
	src    *Source
	ds     *dataset.Dataset
	c      int
	bufs   *bufring.Ring
	nbufs  int
	trace  *dataset.ReadTrace // the ring's Swap as every read's Buffer
	stream bool               // a tar source's shards, each reader streaming whole shards
	pos    int64              // the next read's number: each run goes on where the last stopped
}

func newRawReader(src *Source, ds *dataset.Dataset, c, hold int, stream bool) *rawReader {
	n := max(hold, c)
	bufs := bufring.New(n)
	return &rawReader{
		src: src, ds: ds, c: c, bufs: bufs, nbufs: n,
		trace:  &dataset.ReadTrace{Buffer: bufs.Swap},
		stream: stream && src.Set != nil,
	}
}

// warm reads twice as many items as the reader has buffers, then passes
// of reads until its buffers have settled (a [settling]), so that the
// measurement pays neither for connections nor for buffers still growing
// to the sizes of the items; then it collects the garbage of what ran
// before. Each run goes on where the last stopped, so that a pass reads
// items the last did not. (Two passes of 3,232 left a ring of 3,232
// ImageNet-sized buffers making 80 more over the next 400 ms, and faulting
// 8,000 pages in, and the baseline read at half its settled rate while it
// did.)
func (r *rawReader) warm(ctx context.Context) error {
	if _, _, err := r.read(ctx, 2*r.nbufs, 0); err != nil {
		return err
	}
	for st := newSettling(r.src); ; {
		made := r.bufs.Made()
		n, _, err := r.read(ctx, 0, st.pass)
		if err != nil {
			return err
		}
		if st.settled(r.bufs.Made()-made, n) {
			break
		}
	}
	runtime.GC()
	return nil
}

// A settling tells when a reader's buffers have settled at the sizes of
// the items, the reader reading in passes of a pass's time each: once two
// passes in a row made at most one new buffer every warmSettled reads
// each, or warmCalibrations calibrations after it began, whichever comes
// first. A new buffer is memory the system faults in while the reader
// reads (on a virtual machine, about a millisecond for an ImageNet-sized
// buffer of the larger sizes): a loader's item window of 202 buffers made
// 193 over its first 60,000 items and read at 0.57 of its settled rate
// while it did, none by its 420,000th; one buffer made every thousand
// reads still cost a tenth of the rate on memory. On a slow store, where
// a new buffer costs a few reads, the time bound may end it first.
type settling struct {
	pass  time.Duration // how long a pass reads
	start time.Time
	limit time.Duration
	quiet int // passes in a row that made few
}

// newSettling returns a settling of a reader of src that begins now.
func newSettling(src *Source) *settling {
	c := src.calibration()
	return &settling{pass: c / calibrationSlices, start: time.Now(), limit: warmCalibrations * c}
}

// settled reports, after a pass of reads that made made new buffers,
// whether the reader has settled or has run out of time to.
func (s *settling) settled(made, reads int64) bool {
	s.quiet++
	if made*warmSettled > reads {
		s.quiet = 0
	}
	return s.quiet >= 2 || time.Since(s.start) >= s.limit
}

// A settling's pass is a slice of a calibration; it may make one new
// buffer every warmSettled reads; it waits at most warmCalibrations
// calibrations for the buffers to settle.
const (
	warmSettled      = 8192
	warmCalibrations = 5
)

// read reads until n items are read (n > 0) or until d has passed, checks
// each read against the source, and returns the items and bytes read.
func (r *rawReader) read(ctx context.Context, n int, d time.Duration) (items, bytes int64, err error) {
	var stop atomic.Bool
	if n <= 0 {
		t := time.AfterFunc(d, func() { stop.Store(true) })
		defer t.Stop()
	}
	var done atomic.Int64
	nbytes, err := r.run(ctx, n, &stop, &done)
	return done.Load(), nbytes, err
}

// run reads until n items are read (n > 0) or until stop is set, going
// on from the read the last run stopped before, checks each read against
// the source, counts each read in done as it
// completes, and returns the bytes read.
//
// Each reader claims rawBatch consecutive reads at a time, as a loader's
// worker takes a batch, and hands each run it finished to a collector, a
// channel round trip as a worker's hand-over of a batch is: on Go's
// scheduler, readers that never block but in system calls read local files
// up to a fifth slower than the loader's workers, whose hand-overs let
// other goroutines run, and the baseline would not bound the loader.
func (r *rawReader) run(ctx context.Context, n int, stop *atomic.Bool, done *atomic.Int64) (bytes int64, err error) {
	var next, nbytes atomic.Int64
	start := r.pos
	next.Store(start)
	defer func() { r.pos = next.Load() }()
	// The loader's retry budget: a store failing or throttling every read
	// ends the baseline within seconds, as it ends a loader's run.
	r.ds = r.ds.WithRetryBudget(dataset.NewRetryBudget(loader.RunRetryBase, loader.RunRetryRatio))
	g, ctx := errgroup.WithContext(ctx)
	handoff := make(chan chan struct{})
	collected := make(chan struct{})
	go func() {
		defer close(collected)
		for ack := range handoff {
			ack <- struct{}{}
		}
	}()
	for gi := range r.c {
		g.Go(func() error {
			read := r.readOne
			if r.stream {
				sr := &streamReader{r: r, j: gi % r.src.Set.Shards(), step: r.c}
				for h := gi; h < r.nbufs; h += r.c {
					b, _ := r.bufs.Get()
					sr.own = append(sr.own, b)
				}
				defer sr.end()
				read = sr.next
			}
			ack := make(chan struct{})
			for {
				first := next.Add(rawBatch) - rawBatch
				for i := first; i < first+rawBatch; i++ {
					if n > 0 && i >= start+int64(n) || n <= 0 && stop.Load() {
						return nil
					}
					size, err := read(ctx, i)
					if err != nil {
						return err
					}
					done.Add(1)
					nbytes.Add(size)
				}
				handoff <- ack
				<-ack
			}
		})
	}
	err = g.Wait()
	close(handoff)
	<-collected
	return nbytes.Load(), err
}

// rawBatch is how many consecutive reads a raw reader claims at a time:
// the default batch size.
const rawBatch = loader.DefaultBatchSize

// readOne makes read number i: item i mod n, into a buffer of the ring.
// It returns the item's size.
func (r *rawReader) readOne(ctx context.Context, i int64) (int64, error) {
	k := int(i % int64(r.ds.Len()))
	buf, ok := r.bufs.Get()
	if !ok {
		return 0, fmt.Errorf("raw read %d: none of %d buffers free with %d readers", i, r.nbufs, r.c)
	}
	data, _, err := r.ds.ReadTraced(ctx, k, buf, r.trace)
	r.bufs.Put(data)
	if err != nil {
		return 0, err
	}
	return int64(len(data)), r.src.Check(k, data, false)
}

// streamReader is one raw reader of a tar source whose shards are
// streamed: it streams shards j, j+c, j+2c, ... (mod the shards), each
// with one request, and reads their samples one at a time into its share
// of the raw reader's buffers in turn (a c-th of the ring's, taken from it
// as the reader starts and given back as it ends), as a loader's worker
// holds what it read. A buffer too small for a sample grows, and stays
// grown for the next concurrency the raw reader measures, as a loader's
// buffers grow to the largest sample they held. A stream that fails with
// a retryable error resumes from its last whole member, as the loader's
// do.
type streamReader struct {
	r       *rawReader
	j, step int
	own     [][]byte // the raw reader's buffers this reader fills
	b       int      // the next of them
	st      *dataset.Stream
	sc      *wds.Scanner
	k       int // the next sample's position in shard j
	fails   int
}

// next reads the next sample, whatever i, and returns its size.
func (s *streamReader) next(ctx context.Context, _ int64) (int64, error) {
	set := s.r.src.Set
	store := s.r.ds.Store()
	for {
		sh := set.Shard(s.j)
		if s.sc == nil {
			st, err := store.OpenStream(ctx, sh.Key, 0)
			if err != nil {
				return 0, err
			}
			s.st, s.sc, s.k = st, wds.NewScanner(st, sh.Key, 0, sh.Size), 0
		}
		buf := &s.own[s.b]
		_, data, err := s.sc.Next(*buf)
		switch {
		case err == io.EOF:
			s.close()
			s.j = (s.j + s.step) % set.Shards()
			continue
		case err != nil && ctx.Err() == nil && !errors.Is(err, wds.ErrFormat) && dataset.Retryable(err) && s.fails+1 < store.Policy().Attempts:
			s.fails++
			st, oerr := store.OpenStream(ctx, sh.Key, s.sc.Offset())
			if oerr != nil {
				return 0, oerr
			}
			s.st.Close()
			s.st = st
			s.sc.Resume(st)
			continue
		case err != nil:
			return 0, err
		}
		s.fails = 0
		*buf, s.b = data, (s.b+1)%len(s.own)
		i := set.First(s.j) + s.k
		s.k++
		return int64(len(data)), s.r.src.Check(i, data, false)
	}
}

// end closes the reader's stream and gives its buffers back.
func (s *streamReader) end() {
	s.close()
	for _, b := range s.own {
		s.r.bufs.Put(b)
	}
	s.own = nil
}

// close ends the reader's stream, if one is open.
func (s *streamReader) close() {
	if s.st != nil {
		s.st.Close()
	}
	s.st, s.sc = nil, nil
}

// calibration is how long a raw calibration reads at each concurrency, in
// calibrationSlices slices: shorter in a smoke run.
func (s *Source) calibration() time.Duration {
	if s.smoke {
		return 60 * time.Millisecond
	}
	return 400 * time.Millisecond
}

const calibrationSlices = 12

// sample reads for d without a pause, counting the reads completed in each
// of slices equal slices of it, and returns the best slice's rate and the
// rate over all of them. Reads still in flight at the end are finished
// but not counted, and none is cut short at a slice's end: on a store with
// latency, a slice that waited for its last reads would count their
// latency and not the reads that overlap it, and the baseline would fall
// below a loader that keeps its reads in flight.
func (r *rawReader) sample(ctx context.Context, d time.Duration, slices int) (best, all float64, err error) {
	var stop atomic.Bool
	var done atomic.Int64
	errc := make(chan error, 1)
	start := time.Now()
	go func() {
		_, err := r.run(ctx, 0, &stop, &done)
		errc <- err
	}()
	t := time.NewTicker(d / time.Duration(slices))
	defer t.Stop()
	last, prev := start, int64(0)
	for range slices {
		select {
		case <-t.C:
			// The time the count is read, not the tick's: a sampler
			// scheduled late would count a longer slice's reads over
			// the tick's shorter one.
			now, cur := time.Now(), done.Load()
			best = max(best, float64(cur-prev)/now.Sub(last).Seconds())
			last, prev = now, cur
		case err := <-errc: // a reader failed before the end
			stop.Store(true)
			return 0, 0, err
		}
	}
	stop.Store(true)
	if err := <-errc; err != nil {
		return 0, 0, err
	}
	return best, float64(prev) / last.Sub(start).Seconds(), nil
}

// ladder returns the concurrencies a bound at concurrency c is taken
// over: c, then the powers of 4 below it down to 4, then 2 (one reader per
// processor of a 2-core machine), and 1 when c is 2. These hold the rates'
// peaks on this kind of machine: one or two readers per processor for
// memory and local files, tens for an S3 server on loopback.
func ladder(c int) []int {
	cs := []int{c}
	n := 4
	for n*4 < c {
		n *= 4
	}
	for ; n >= 4; n /= 4 {
		if n < c {
			cs = append(cs, n)
		}
	}
	switch {
	case c > 2:
		cs = append(cs, 2)
	case c == 2:
		cs = append(cs, 1)
	}
	return cs
}

// RawRates measures the items per second that goroutines holding hold
// items in all reach reading straight from the source, with no emulated
// latency: at concurrency c (atC), and the best over c and a ladder of
// lower concurrencies (best). Each reads for a [calibration] in
// [calibrationSlices] slices. atC is the rate over all of them, sustained
// as a loader's rate over its run is, so that the two compare like with
// like; best is the best slice's, which a loader that reaches it in a lucky
// stretch of its run must not appear to exceed. A loader that never has
// more than c reads in flight cannot read faster than best, so best caps
// its bound;
// on a store that slows down under many requests in flight, the rate at c
// alone would not. Each call measures anew, after a warm-up, so that a
// benchmark compares its loader with baselines taken moments before, not
// minutes: on a shared machine the two drift apart.
func (s *Source) RawRates(ctx context.Context, c, hold int) (atC, best float64, err error) {
	return s.rawRates(ctx, ladder(c), hold, false)
}

// RawStreamRates is [Source.RawRates] for a tar source whose shards are
// streamed: c readers each stream whole shards, one request each, and
// read their samples, as a loader's workers would with nothing else to
// do.
func (s *Source) RawStreamRates(ctx context.Context, c, hold int) (atC, best float64, err error) {
	return s.rawRates(ctx, ladder(c), hold, true)
}

// rawRates measures the raw rate at each concurrency of cs, with one
// reader warmed once at cs[0]: its connections and buffers serve them all.
// It returns the rate at cs[0] over all its slices, and the best slice's
// rate at any concurrency.
func (s *Source) rawRates(ctx context.Context, cs []int, hold int, stream bool) (first, best float64, err error) {
	r := newRawReader(s, s.dataset(dataset.NewStore(s.backend)), cs[0], hold, stream)
	if err := r.warm(ctx); err != nil {
		return 0, 0, err
	}
	for i, n := range cs {
		r.c = n
		rate, atN, err := r.sample(ctx, s.calibration(), calibrationSlices)
		if err != nil {
			return 0, 0, fmt.Errorf("raw reads at concurrency %d: %w", n, err)
		}
		if i == 0 {
			first = atN
		}
		best = max(best, rate)
	}
	return first, best, nil
}
