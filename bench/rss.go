package bench

import (
	"runtime/debug"
	"sync"
	"time"
)

// rssSampler follows the process's resident set size while a run goes on,
// so that the peak of the run is told apart from the peaks of set-up and
// calibration before it.
type rssSampler struct {
	start, peak int64
	ok          bool
	stop        chan struct{}
	wg          sync.WaitGroup
}

// sampleEvery is how often the sampler reads the resident set size.
const sampleEvery = 10 * time.Millisecond

// startRSS returns memory freed by set-up to the system, then samples the
// resident set size until Stop.
func startRSS() *rssSampler {
	debug.FreeOSMemory()
	s := &rssSampler{stop: make(chan struct{})}
	s.start, s.ok = rss()
	if !s.ok {
		return s
	}
	s.peak = s.start
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(sampleEvery)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
				if now, ok := rss(); ok && now > s.peak {
					s.peak = now
				}
			}
		}
	}()
	return s
}

// Stop ends sampling and returns the resident set size at the start and
// its peak since; ok is false where it cannot be measured.
func (s *rssSampler) Stop() (start, peak int64, ok bool) {
	if s.ok {
		close(s.stop)
		s.wg.Wait()
		if now, ok := rss(); ok && now > s.peak {
			s.peak = now
		}
	}
	return s.start, s.peak, s.ok
}
