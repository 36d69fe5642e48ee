package bench

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/storagebench/storagebench/dataset"
)

// rawReader reads items with c goroutines straight from a dataset, no
// loader in between: the raw baseline.
//
// Its readers hold max(hold, c) items, as a consumer that keeps what it
// read does, and as the loader's batch slots do: read i goes to buffer
// i mod hold, so a buffer is filled again only after hold other reads, and
// always with the same few items, whose size it has grown to. A reader that
// reused one buffer would write to memory that stays in cache, which no
// loader that hands out batches can.
type rawReader struct {
	src  *Source
	ds   *dataset.Dataset
	c    int
	bufs []rawBuf
}

// rawBuf is one buffer of a rawReader and the lock that keeps two readers
// from filling it at once.
type rawBuf struct {
	mu   sync.Mutex
	data []byte
}

func newRawReader(src *Source, ds *dataset.Dataset, c, hold int) *rawReader {
	return &rawReader{src: src, ds: ds, c: c, bufs: make([]rawBuf, max(hold, c))}
}

// warm fills every buffer twice, so that the measurement pays neither for
// connections nor for the first touch and growth of its buffers, then
// collects the garbage of what ran before.
func (r *rawReader) warm(ctx context.Context) error {
	_, err := r.read(ctx, 2*len(r.bufs), 0)
	runtime.GC()
	return err
}

// read reads until n items are read (n > 0) or until d has passed, checks
// each read against the source, and returns the items read.
func (r *rawReader) read(ctx context.Context, n int, d time.Duration) (int64, error) {
	var next, done atomic.Int64
	deadline := time.Now().Add(d)
	g, ctx := errgroup.WithContext(ctx)
	for range r.c {
		g.Go(func() error {
			for {
				i := next.Add(1) - 1
				if n > 0 && i >= int64(n) || n <= 0 && time.Now().After(deadline) {
					return nil
				}
				if err := r.readOne(ctx, i); err != nil {
					return err
				}
				done.Add(1)
			}
		})
	}
	err := g.Wait()
	return done.Load(), err
}

// readOne makes read number i: item i mod n into buffer i mod hold.
func (r *rawReader) readOne(ctx context.Context, i int64) error {
	k := int(i % int64(r.ds.Len()))
	b := &r.bufs[i%int64(len(r.bufs))]
	b.mu.Lock()
	defer b.mu.Unlock()
	data, _, err := r.ds.Read(ctx, k, b.data)
	b.data = data
	if err != nil {
		return err
	}
	return r.src.Check(k, data, false)
}

// calibration is how long a raw calibration reads.
func calibration() time.Duration {
	if testing.Short() {
		return 200 * time.Millisecond
	}
	return time.Second
}

// RawRate returns the items per second that c goroutines holding hold
// items reach reading straight from the source with no emulated latency:
// the cap of a loader's bound at that concurrency and footprint. It is
// measured anew at each call, after a warm-up, so that a benchmark
// compares its loader with a baseline taken moments before, not minutes:
// on a shared machine the two drift apart.
func (s *Source) RawRate(ctx context.Context, c, hold int) (float64, error) {
	r := newRawReader(s, dataset.New(dataset.NewStore(s.backend), s.Index), c, hold)
	if err := r.warm(ctx); err != nil {
		return 0, err
	}
	start := time.Now()
	n, err := r.read(ctx, 0, calibration())
	if err != nil {
		return 0, err
	}
	return float64(n) / time.Since(start).Seconds(), nil
}
