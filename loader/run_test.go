package loader_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/storagebench/storagebench/dataset"
	"github.com/storagebench/storagebench/dataset/mem"
	"github.com/storagebench/storagebench/loader"
)

// errBoom is the error faultyBackend's failing item fails with, with
// fs.ErrPermission: a failure retries cannot mend, so it ends the run at
// once.
var errBoom = errors.New("boom")

// faultyBackend serves mem's objects: the keys in serve at once, the key
// fail with an error wrapping errBoom, and any other key once the reader's
// context is done, with its error: those reads stay in flight until the
// run stops.
type faultyBackend struct {
	dataset.Backend
	serve map[string]bool
	fail  string
}

func (f faultyBackend) Open(ctx context.Context, key string) (io.ReadCloser, int64, error) {
	switch {
	case key == f.fail:
		return nil, 0, fmt.Errorf("open %q: %w (%w)", key, errBoom, fs.ErrPermission)
	case f.serve[key]:
		return f.Backend.Open(ctx, key)
	}
	<-ctx.Done()
	return nil, 0, ctx.Err()
}

// TestRunStops checks each way a run ends, in both modes: what Next and
// Close return, that a stop ends the reads in flight (which never end by
// themselves) promptly, and that Close leaves no goroutine of the run
// behind.
func TestRunStops(t *testing.T) {
	const n, batch = 40, 5
	objs, idx := objects(n)
	for _, tc := range []struct {
		name     string
		served   int    // items 0..served-1 are served; the others wait for the run to stop
		fail     int    // the item that fails, -1 for none
		epochs   int    // Options.Epochs
		batches  int    // batches Next delivers before the stop
		stop     string // "close" or "cancel" after them, "" for none
		wantNext error  // from Next after them (and the stop)
		wantErr  error  // from Close
	}{
		{name: "last batch", served: n, fail: -1, epochs: 1, batches: n / batch, wantNext: io.EOF},
		{name: "closed mid-run", served: batch, fail: -1, epochs: -1, batches: 1, stop: "close"},
		{name: "caller cancels", served: batch, fail: -1, epochs: -1, batches: 1, stop: "cancel", wantNext: context.Canceled, wantErr: context.Canceled},
		{name: "read error of a later batch", fail: batch, epochs: -1, wantNext: errBoom, wantErr: errBoom},
		{name: "read error after a batch", served: batch, fail: 2 * batch, epochs: -1, batches: 1, wantNext: errBoom, wantErr: errBoom},
	} {
		for _, mode := range []loader.Mode{loader.Sync, loader.Async} {
			t.Run(fmt.Sprintf("%s/mode=%s", tc.name, mode), func(t *testing.T) {
				defer goleak.VerifyNone(t)
				be := faultyBackend{Backend: mem.New(objs), serve: map[string]bool{}}
				for i := range tc.served {
					be.serve[idx[i]] = true
				}
				if tc.fail >= 0 {
					be.fail = idx[tc.fail]
				}
				ds := dataset.New(dataset.NewStore(be), idx)
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				// One slot a worker: a worker starts its next batch only
				// once the consumer releases the last, so no read fails
				// before the batches the case takes are delivered.
				opts := loader.Options{Mode: mode, Workers: 2, BatchSize: batch, Prefetch: 1, Warmup: -1, Epochs: tc.epochs}
				it := start(t, ctx, ds, opts)
				for i := range tc.batches {
					if _, err := it.Next(); err != nil {
						t.Fatalf("Next %d = %v, want a batch", i, err)
					}
				}
				t0 := time.Now()
				var err error
				switch tc.stop {
				case "close":
					err = it.Close()
				case "cancel":
					cancel()
				}
				if tc.stop != "close" {
					if _, nerr := it.Next(); !errors.Is(nerr, tc.wantNext) {
						t.Errorf("Next = %v, want %v", nerr, tc.wantNext)
					}
					err = it.Close()
				}
				if d := time.Since(t0); d > 5*time.Second {
					t.Errorf("stopping took %v, want it prompt", d)
				}
				if !errors.Is(err, tc.wantErr) {
					t.Errorf("Close = %v, want %v", err, tc.wantErr)
				}
				if g := loaderGoroutines(); len(g) > 0 {
					t.Errorf("%d goroutines of the run outlive Close, first:\n%s", len(g), g[0])
				}
				if _, err := it.Next(); err == nil || err == io.EOF {
					t.Errorf("Next after Close = %v, want an error", err)
				}
				if err := it.Close(); err != nil {
					t.Errorf("second Close = %v, want nil", err)
				}
			})
		}
	}
}
