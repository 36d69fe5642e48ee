package dataset_test

import (
	"bytes"
	"context"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/storagebench/storagebench/dataset"
)

// paced serves body for every key, its first byte after ttfb, and
// stalls, after half of it, the bodies of the opens whose numbers (from
// 1) are in stall, until the attempt's context ends.
type paced struct {
	body  []byte
	ttfb  atomic.Int64 // nanoseconds
	stall map[int64]bool
	opens atomic.Int64
}

func (p *paced) Open(ctx context.Context, key string) (io.ReadCloser, int64, error) {
	n := p.opens.Add(1)
	r := &pacedBody{ctx: ctx, r: bytes.NewReader(p.body), wait: time.Duration(p.ttfb.Load()), left: -1}
	if p.stall[n] {
		r.left = len(p.body) / 2
	}
	return r, int64(len(p.body)), nil
}

func (p *paced) ErrorKind(err error) dataset.ErrorKind { return dataset.KindUnknown }

type pacedBody struct {
	ctx  context.Context
	r    *bytes.Reader
	wait time.Duration // before the first byte
	left int           // bytes before the body stalls; negative: none
}

func (b *pacedBody) Read(p []byte) (int, error) {
	if b.wait > 0 {
		t := time.NewTimer(b.wait)
		defer t.Stop()
		select {
		case <-t.C:
		case <-b.ctx.Done():
			return 0, b.ctx.Err()
		}
		b.wait = 0
	}
	if b.left == 0 {
		<-b.ctx.Done()
		return 0, b.ctx.Err()
	}
	if b.left > 0 {
		p = p[:min(len(p), b.left)]
	}
	n, err := b.r.Read(p[:min(len(p), 256)])
	if b.left > 0 {
		b.left -= n
	}
	return n, err
}

func (b *pacedBody) Close() error { return nil }

// TestDeadlinesFollowStore reads from a store that answers within
// microseconds and then stalls a body after its first half: with the
// deadlines following the store, the stalled attempt is abandoned at
// the floor and the read made again, well before the idle timeout; with
// fixed deadlines it waits the timeout out. A store that then becomes
// slower than its deadlines is still read, each read's attempts doubling
// their deadlines, and the deadlines follow it up.
func TestDeadlinesFollowStore(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789abcdef"), 256)
	const healthy = 100
	for _, tc := range []struct {
		name      string
		p         dataset.Policy
		attempts  int
		atLeast   time.Duration // the stalled read's time
		atMost    time.Duration
		wantFirst time.Duration // the first-byte deadline after the healthy reads
	}{
		{"following", dataset.Policy{DeadlineFloor: 50 * time.Millisecond, IdleTimeout: 3 * time.Second},
			2, 50 * time.Millisecond, time.Second, 50 * time.Millisecond},
		{"fixed", dataset.Policy{DeadlineMultiple: -1, IdleTimeout: 300 * time.Millisecond},
			2, 300 * time.Millisecond, 3 * time.Second, dataset.DefaultFirstByteTimeout},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := &paced{body: body, stall: map[int64]bool{healthy + 1: true}}
			st, err := dataset.NewStore(b).WithPolicy(tc.p)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			var buf []byte
			for range healthy {
				if buf, _, err = st.Read(ctx, "k", buf); err != nil {
					t.Fatal(err)
				}
			}
			if first, _ := st.Deadlines(); first != tc.wantFirst {
				t.Errorf("first-byte deadline after %d reads of microseconds: %v, want %v", healthy, first, tc.wantFirst)
			}
			data, tm, err := st.Read(ctx, "k", buf)
			if err != nil || !bytes.Equal(data, body) {
				t.Fatalf("stalled read: %d bytes, %v; want the %d stored", len(data), err, len(body))
			}
			if tm.Attempts != tc.attempts || tm.Total < tc.atLeast || tm.Total > tc.atMost {
				t.Errorf("stalled read: %d attempts in %v; want %d, in %v to %v", tm.Attempts, tm.Total, tc.attempts, tc.atLeast, tc.atMost)
			}
		})
	}

	t.Run("stalled before observed", func(t *testing.T) {
		// The first read stalls while the store has not been observed:
		// its deadline is the ceiling, checked again every floor.
		b := &paced{body: body, stall: map[int64]bool{1: true}}
		st, err := dataset.NewStore(b).WithPolicy(dataset.Policy{DeadlineFloor: 50 * time.Millisecond, IdleTimeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		type result struct {
			data []byte
			tm   dataset.Timing
			err  error
		}
		stalled := make(chan result, 1)
		go func() {
			data, tm, err := st.Read(ctx, "k", nil)
			stalled <- result{data, tm, err}
		}()
		for b.opens.Load() == 0 {
			runtime.Gosched() // the stalled read opens first
		}
		for range healthy {
			if _, _, err := st.Read(ctx, "k", nil); err != nil {
				t.Fatal(err)
			}
		}
		r := <-stalled
		if r.err != nil || !bytes.Equal(r.data, body) || r.tm.Attempts != 2 || r.tm.Total > 2*time.Second {
			t.Errorf("read stalled before the store was observed: %d bytes in %v, %d attempts, %v; want the %d stored, made again well within the 5s ceiling",
				len(r.data), r.tm.Total, r.tm.Attempts, r.err, len(body))
		}
	})

	t.Run("slower", func(t *testing.T) {
		const ttfb, floor = 120 * time.Millisecond, 20 * time.Millisecond
		b := &paced{body: body}
		st, err := dataset.NewStore(b).WithPolicy(dataset.Policy{DeadlineFloor: floor, Backoff: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		for range healthy {
			if _, _, err := st.Read(ctx, "k", nil); err != nil {
				t.Fatal(err)
			}
		}
		b.ttfb.Store(int64(ttfb))
		// floor, 2x, 4x and 8x the floor: the fourth attempt gets through.
		var wg sync.WaitGroup
		var retried atomic.Int64
		for range 64 {
			wg.Go(func() {
				data, tm, err := st.Read(ctx, "k", nil)
				if err != nil || !bytes.Equal(data, body) {
					t.Errorf("read of a slower store: %d bytes, %v; want the %d stored", len(data), err, len(body))
				}
				if tm.Attempts > 1 {
					retried.Add(1)
				}
			})
		}
		wg.Wait()
		if retried.Load() == 0 {
			t.Errorf("no read of a store %v to its first byte under a deadline of %v was made again", ttfb, floor)
		}
		if first, _ := st.Deadlines(); first < 4*ttfb {
			t.Errorf("first-byte deadline %v after 64 reads of %v, want at least %v", first, ttfb, 4*ttfb)
		}
	})
}
