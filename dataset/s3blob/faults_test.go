package s3blob_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

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
