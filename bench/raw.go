package bench

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/storagebench/storagebench/dataset"
)

// readRaw reads items with c goroutines straight from ds, no loader in
// between, until n items are read (n > 0) or until d has passed; it checks
// each read against src and returns the items read.
func readRaw(ctx context.Context, src *Source, ds *dataset.Dataset, c, n int, d time.Duration) (int64, error) {
	var next, done atomic.Int64
	deadline := time.Now().Add(d)
	g, ctx := errgroup.WithContext(ctx)
	for range c {
		g.Go(func() error {
			var buf []byte
			for {
				i := next.Add(1) - 1
				if n > 0 && i >= int64(n) || n <= 0 && time.Now().After(deadline) {
					return nil
				}
				k := int(i % int64(ds.Len()))
				data, _, err := ds.Read(ctx, k, buf)
				if err != nil {
					return err
				}
				if err := src.Check(k, data, false); err != nil {
					return err
				}
				buf = data
				done.Add(1)
			}
		})
	}
	err := g.Wait()
	return done.Load(), err
}

// calibration is how long a raw calibration reads.
func calibration() time.Duration {
	if testing.Short() {
		return 150 * time.Millisecond
	}
	return 600 * time.Millisecond
}

// RawRate returns the items per second that c goroutines reach reading
// straight from the source with no emulated latency: the cap of a loader's
// bound at that concurrency. It is measured once per concurrency, after a
// short warm-up, and cached.
func (s *Source) RawRate(ctx context.Context, c int) (float64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.raw[c]; ok {
		return r, nil
	}
	ds := dataset.New(dataset.NewStore(s.backend), s.Index)
	if _, err := readRaw(ctx, s, ds, c, 2*c, 0); err != nil { // warm-up: connections, caches
		return 0, err
	}
	d := calibration()
	start := time.Now()
	n, err := readRaw(ctx, s, ds, c, 0, d)
	if err != nil {
		return 0, err
	}
	r := float64(n) / time.Since(start).Seconds()
	s.raw[c] = r
	return r, nil
}
