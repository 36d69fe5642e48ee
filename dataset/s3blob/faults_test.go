package s3blob_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/sync/errgroup"

	"github.com/storagebench/storagebench/dataset"
	"github.com/storagebench/storagebench/dataset/s3blob"
	"github.com/storagebench/storagebench/fakes"
	"github.com/storagebench/storagebench/fakes/fakestest"
	"github.com/storagebench/storagebench/loader"
)

// faultPolicy reads with timeouts short enough for a test: a stalled
// read is abandoned after a second.
var faultPolicy = dataset.Policy{
	FirstByteTimeout: time.Second,
	IdleTimeout:      time.Second,
	Backoff:          2 * time.Millisecond,
	ThrottleBackoff:  5 * time.Millisecond,
	MaxBackoff:       50 * time.Millisecond,
}

// TestFaultyPathToMinIO reads objects from MinIO through a faulty network
// path, a reverse proxy injecting each fault into 6% of GETs (and then all
// of them at once), with the loader under both schedulers: every item
// arrives once with its exact bytes, and the run ends within a bound.
func TestFaultyPathToMinIO(t *testing.T) {
	cfg := minioServer(t)
	getClients(t, cfg) // stores the objects
	target, err := url.Parse(cfg.EndpointURL)
	if err != nil {
		t.Fatal(err)
	}
	idx := make(dataset.Index, getObjects)
	for i := range idx {
		idx[i] = getKey(i)
	}
	specs := []string{}
	for _, f := range fakes.AllFaults {
		specs = append(specs, string(f)+":0.06")
	}
	specs = append(specs, "slowdown:0.06+internal:0.06+reset:0.06+short:0.06+stall:0.06+trickle:0.06")
	for _, spec := range specs {
		for _, sched := range []loader.Scheduler{loader.SchedBatch, loader.SchedItem} {
			if sched == loader.SchedBatch && !strings.Contains(spec, "+") {
				continue // one fault at a time under the item scheduler; all at once under both
			}
			t.Run(spec+"/"+string(sched), func(t *testing.T) {
				f, err := fakes.ParseFaults(spec)
				if err != nil {
					t.Fatal(err)
				}
				in := fakes.NewInjector(f, 11)
				// The proxy keeps the client's Host header, which its
				// signature covers.
				proxy := httptest.NewServer(in.Middleware(httputil.NewSingleHostReverseProxy(target)))
				defer proxy.Close()
				pcfg := cfg
				pcfg.EndpointURL = proxy.URL
				client, err := s3blob.NewClient(context.Background(), pcfg)
				if err != nil {
					t.Fatal(err)
				}
				b, err := s3blob.Open(client, getBucket, getPrefix)
				if err != nil {
					t.Fatal(err)
				}
				st, err := dataset.NewStore(b).WithPolicy(faultPolicy)
				if err != nil {
					t.Fatal(err)
				}
				ds := dataset.New(st, idx)
				opts := loader.Options{Mode: loader.Async, Workers: 4, FetchConcurrency: 8, BatchSize: 16, Epochs: 2, Warmup: -1}
				if sched == loader.SchedItem {
					opts.Item = &loader.ItemOptions{}
				}
				l, err := loader.New(ds, opts)
				if err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				start := time.Now()
				it, err := l.Start(ctx)
				if err != nil {
					t.Fatal(err)
				}
				seen := map[int]int{}
				for {
					batch, err := it.Next()
					if err != nil {
						if !errors.Is(err, io.EOF) {
							t.Fatalf("run: %v (injected %v)", err, in.Injected())
						}
						break
					}
					for _, item := range batch.Items {
						seen[item.Index]++
						var i int
						fmt.Sscanf(ds.Key(item.Index), "%06d.bin", &i)
						if !bytes.Equal(item.Data, getObjectData(i)) {
							t.Errorf("%s: %d bytes differ from the %d stored", ds.Key(item.Index), len(item.Data), getObjectSize)
						}
					}
				}
				if err := it.Close(); err != nil {
					t.Fatal(err)
				}
				if d := time.Since(start); d > 30*time.Second {
					t.Errorf("run took %v, want well under a minute", d)
				}
				for i := range idx {
					if seen[i] != 2 {
						t.Errorf("%s delivered %d times over 2 epochs", idx[i], seen[i])
					}
				}
				s := it.Stats()
				if len(in.Injected()) == 0 || (spec != "trickle:0.06" && s.Retries == 0) {
					t.Errorf("injected %v, %d retries: want faults, and retries for all but trickles", in.Injected(), s.Retries)
				}
			})
		}
	}
}

// TestStoreDisappears stops the S3 server in the middle of a run: the run
// ends, within seconds, with an error naming a key and why.
func TestStoreDisappears(t *testing.T) {
	// Other tests' clients keep idle connections to MinIO, which stays up.
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	fake := fakestest.NewS3(t, fakes.S3Options{Buckets: []string{"gone"}})
	b, err := s3blob.Open(fake.Client, "gone", "")
	if err != nil {
		t.Fatal(err)
	}
	st := dataset.NewStore(b)
	idx := make(dataset.Index, 64)
	for i := range idx {
		idx[i] = fmt.Sprintf("val/%03d.bin", i)
		if err := st.Put(context.Background(), idx[i], bytes.Repeat([]byte{byte(i)}, 1000)); err != nil {
			t.Fatal(err)
		}
	}
	l, err := loader.New(dataset.New(st, idx), loader.Options{Mode: loader.Async, Workers: 2, BatchSize: 8, Epochs: -1, Warmup: -1})
	if err != nil {
		t.Fatal(err)
	}
	it, err := l.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for range 4 {
		if _, err := it.Next(); err != nil {
			t.Fatal(err)
		}
	}
	fake.Close()
	stopped := time.Now()
	for {
		if _, err = it.Next(); err != nil {
			break
		}
	}
	it.Close()
	if d := time.Since(stopped); d > 10*time.Second {
		t.Errorf("the run ended %v after the store went away, want within seconds", d)
	}
	if msg := err.Error(); !strings.Contains(msg, `read "val/`) || !strings.Contains(msg, "attempts; last:") || !strings.Contains(msg, "connect") {
		t.Errorf("error %q: want it to name the key, the attempts and the refused connection", msg)
	}
	if errors.Is(err, context.Canceled) {
		t.Errorf("error %v is a cancellation, want the store's", err)
	}
}

// TestGetsNotRetriedBySDK checks who retries what: the S3 backend makes
// each GET once, so that a read the Store makes once reaches the server
// once, and the Store's attempts are the server's.
func TestGetsNotRetriedBySDK(t *testing.T) {
	in := fakes.NewInjector(fakes.Faults{{Fault: fakes.FaultInternal, Rate: 1}}, 1)
	fake := fakestest.NewS3(t, fakes.S3Options{Buckets: []string{"once"}})
	b, err := s3blob.Open(fake.Client, "once", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := dataset.NewStore(b).Put(context.Background(), "k", []byte("x")); err != nil {
		t.Fatal(err)
	}
	fake.SetFaults(in)
	for _, attempts := range []int{1, 3} {
		p := faultPolicy
		p.Attempts = attempts
		st, err := dataset.NewStore(b).WithPolicy(p)
		if err != nil {
			t.Fatal(err)
		}
		before := in.Injected()[fakes.FaultInternal]
		if _, _, err := st.Read(context.Background(), "k", nil); err == nil {
			t.Fatal("read succeeded through a store failing every GET")
		}
		if got := in.Injected()[fakes.FaultInternal] - before; got != int64(attempts) {
			t.Errorf("%d attempts reached the server %d times, want %d", attempts, got, attempts)
		}
	}
}

// TestNoRetryQuota reads with 1,600 requests in flight from a store
// failing 12% of GETs: no read fails (the Store retries), and none says
// "retry quota exceeded", which the SDK's client-wide quota would.
func TestNoRetryQuota(t *testing.T) {
	in := fakes.NewInjector(fakes.Faults{{Fault: fakes.FaultSlowDown, Rate: 0.06}, {Fault: fakes.FaultInternal, Rate: 0.06}}, 2)
	fake := fakestest.NewS3(t, fakes.S3Options{Buckets: []string{"quota"}})
	b, err := s3blob.Open(fake.Client, "quota", "")
	if err != nil {
		t.Fatal(err)
	}
	// The default backoffs: 1,600 requests at once overload a server on
	// loopback (connections refused and reset), as they would a store.
	st := dataset.NewStore(b)
	const objects, readers = 64, 1600
	for i := range objects {
		if err := st.Put(context.Background(), fmt.Sprintf("%02d", i), bytes.Repeat([]byte{byte(i)}, 2000)); err != nil {
			t.Fatal(err)
		}
	}
	fake.SetFaults(in)
	errs := make(chan error, readers)
	for r := range readers {
		go func() {
			key := fmt.Sprintf("%02d", r%objects)
			data, _, err := st.Read(context.Background(), key, nil)
			if err == nil && !bytes.Equal(data, bytes.Repeat([]byte{byte(r % objects)}, 2000)) {
				err = fmt.Errorf("%s: wrong bytes", key)
			}
			errs <- err
		}()
	}
	for range readers {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if n := in.Injected(); n[fakes.FaultSlowDown] == 0 || n[fakes.FaultInternal] == 0 {
		t.Errorf("injected %v, want both faults", n)
	}
}

// The objects TestStallsAndTricklesFromMinIO reads: 2,500 of about the
// size of an ImageNet JPEG.
const (
	slowObjects    = 2500
	slowObjectSize = 110_000
	slowPrefix     = "slow/"
)

// slowObjectData returns object i of slowPrefix: bytes that differ
// between objects and along each one.
func slowObjectData(i int) []byte {
	b := make([]byte, slowObjectSize)
	x := uint64(i)*0x9e3779b97f4a7c15 + 1
	for j := range b {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[j] = byte(x >> 24)
	}
	return b
}

// TestStallsAndTricklesFromMinIO reads 2,500 objects from MinIO at 100
// reads in flight through a reverse proxy that stalls 6% of bodies after
// their headers, and separately trickles 6% of them at 64 KiB/s (a 110
// KB object in 1.7 s), under the default read policy: raw readers and the
// loader's batch scheduler (the baselines), and its item scheduler with
// p90 hedging. Each run ends within a minute with every item's
// exact bytes, once: a stalled body is abandoned when the deadline that
// follows MinIO's latency ends it, not after the fixed idle timeout.
func TestStallsAndTricklesFromMinIO(t *testing.T) {
	switch {
	case testing.Short():
		t.Skip("-short: reads 2,500 objects from MinIO six times, about 2 minutes")
	case raceEnabled:
		t.Skip("-race: runs timed against a minute are run without the race detector (.ci/run and make perf run this test so)")
	}
	cfg := minioServer(t)
	getClients(t, cfg) // makes the bucket
	ctx := context.Background()
	client, err := s3blob.NewClient(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s3blob.Open(client, getBucket, slowPrefix)
	if err != nil {
		t.Fatal(err)
	}
	idx := make(dataset.Index, slowObjects)
	var g errgroup.Group
	g.SetLimit(16)
	for i := range idx {
		idx[i] = getKey(i)
		g.Go(func() error { return b.Put(ctx, idx[i], slowObjectData(i)) })
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	want := make([][]byte, slowObjects)
	for i := range want {
		want[i] = slowObjectData(i)
	}
	target, err := url.Parse(cfg.EndpointURL)
	if err != nil {
		t.Fatal(err)
	}

	const c, limit = 100, time.Minute
	p90, err := loader.ParseHedge("p90")
	if err != nil {
		t.Fatal(err)
	}
	opts := loader.Options{Mode: loader.Async, Workers: 2, FetchConcurrency: c / 2, BatchSize: c / 2, Warmup: -1}
	withItem := func(o loader.Options, item loader.ItemOptions) *loader.Options {
		o.Item = &item
		return &o
	}
	runs := []struct {
		name string
		opts *loader.Options // nil: raw readers
	}{
		{"raw", nil},
		{"batch", &opts},
		{"item-hedge-p90", withItem(opts, loader.ItemOptions{Hedge: p90})},
	}
	for _, spec := range []string{"stall:0.06", "trickle:0.06"} {
		for _, run := range runs {
			t.Run(spec+"/"+run.name, func(t *testing.T) {
				f, err := fakes.ParseFaults(spec)
				if err != nil {
					t.Fatal(err)
				}
				in := fakes.NewInjector(f, 7)
				in.SetTrickleRate(64 << 10)
				rp := httputil.NewSingleHostReverseProxy(target)
				rp.ErrorLog = log.New(io.Discard, "", 0) // the abandoned stalls' "context canceled"
				proxy := httptest.NewServer(in.Middleware(rp))
				defer proxy.Close()
				pcfg := cfg
				pcfg.EndpointURL = proxy.URL
				client, err := s3blob.NewClient(ctx, pcfg)
				if err != nil {
					t.Fatal(err)
				}
				b, err := s3blob.Open(client, getBucket, slowPrefix)
				if err != nil {
					t.Fatal(err)
				}
				st := dataset.NewStore(b) // the default policy
				ctx, cancel := context.WithTimeout(ctx, 2*limit)
				defer cancel()
				seen := make([]atomic.Int32, slowObjects)
				check := func(i int, data []byte) {
					seen[i].Add(1)
					if !bytes.Equal(data, want[i]) {
						t.Errorf("%s: %d bytes differ from the %d stored", idx[i], len(data), slowObjectSize)
					}
				}
				start := time.Now()
				var retries int64
				if run.opts == nil {
					retries = readRaw(t, ctx, st, idx, c, check)
				} else {
					retries = readLoader(t, ctx, dataset.New(st, idx), *run.opts, check)
				}
				d := time.Since(start)
				first, idle := st.Deadlines()
				t.Logf("%s %s: %d items in %v (%.0f items/s), %d retries, injected %v; deadlines now %v to the first byte, %v idle",
					spec, run.name, slowObjects, d.Round(time.Millisecond), slowObjects/d.Seconds(), retries, in.Injected(), first, idle)
				if d > limit {
					t.Errorf("run took %v, want under %v", d, limit)
				}
				for i := range seen {
					if n := seen[i].Load(); n != 1 {
						t.Errorf("%s delivered %d times, want once", idx[i], n)
					}
				}
				if len(in.Injected()) == 0 {
					t.Errorf("no fault injected, want %s", spec)
				}
			})
		}
	}
}

// readRaw reads every item of idx from st with c readers, each taking the
// next item as it finishes one, passes each to check, and returns the
// retries the reads made.
func readRaw(t *testing.T, ctx context.Context, st *dataset.Store, idx dataset.Index, c int, check func(int, []byte)) int64 {
	var next, retries atomic.Int64
	g, ctx := errgroup.WithContext(ctx)
	for range c {
		g.Go(func() error {
			var buf []byte
			for {
				i := int(next.Add(1) - 1)
				if i >= len(idx) {
					return nil
				}
				data, tm, err := st.Read(ctx, idx[i], buf)
				if err != nil {
					return err
				}
				check(i, data)
				retries.Add(int64(tm.Attempts - 1))
				buf = data
			}
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	return retries.Load()
}

// readLoader reads one epoch of ds with a loader of opts, passes each item
// to check, and returns the retries the run made.
func readLoader(t *testing.T, ctx context.Context, ds *dataset.Dataset, opts loader.Options, check func(int, []byte)) int64 {
	l, err := loader.New(ds, opts)
	if err != nil {
		t.Fatal(err)
	}
	it, err := l.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for {
		batch, err := it.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, item := range batch.Items {
			check(item.Index, item.Data)
		}
	}
	if err := it.Close(); err != nil {
		t.Fatal(err)
	}
	return it.Stats().Retries
}
