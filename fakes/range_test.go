package fakes_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/storagebench/storagebench/dataset"
	"github.com/storagebench/storagebench/dataset/datasettest"
	"github.com/storagebench/storagebench/dataset/mem"
	"github.com/storagebench/storagebench/dataset/s3blob"
	"github.com/storagebench/storagebench/fakes"
	"github.com/storagebench/storagebench/fakes/fakestest"
)

// openOnly hides every method of a backend but Open: a backend without
// RangeOpener.
type openOnly struct{ b dataset.Backend }

func (o openOnly) Open(ctx context.Context, key string) (io.ReadCloser, int64, error) {
	return o.b.Open(ctx, key)
}

// emulatedPaths are the ways an emulator's latency reaches a ranged read:
// its backend wrapper, over a backend with OpenRange and over one
// without, and its middleware in front of the fake S3's own storage and of
// a mounted bucket, read through the S3 backend's ranged GETs.
var emulatedPaths = []struct {
	name string
	make func(t *testing.T, e *fakes.Emulator, objs map[string][]byte) dataset.Backend
}{
	{"backend over mem", func(t *testing.T, e *fakes.Emulator, objs map[string][]byte) dataset.Backend {
		return e.Backend(mem.New(objs))
	}},
	{"backend over open only", func(t *testing.T, e *fakes.Emulator, objs map[string][]byte) dataset.Backend {
		return e.Backend(openOnly{mem.New(objs)})
	}},
	{"fake s3 storage", func(t *testing.T, e *fakes.Emulator, objs map[string][]byte) dataset.Backend {
		f := fakestest.NewS3(t, fakes.S3Options{Buckets: []string{"paced"}, Emulator: e})
		b, err := s3blob.Open(f.Client, "paced", "")
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range objs {
			if err := b.Put(context.Background(), k, v); err != nil {
				t.Fatal(err)
			}
		}
		return b
	}},
	{"fake s3 mount", func(t *testing.T, e *fakes.Emulator, objs map[string][]byte) dataset.Backend {
		f := fakestest.NewS3(t, fakes.S3Options{Emulator: e})
		if err := f.Mount("paced", datasettest.MapView(t, objs)); err != nil {
			t.Fatal(err)
		}
		b, err := s3blob.Open(f.Client, "paced", "")
		if err != nil {
			t.Fatal(err)
		}
		return b
	}},
}

// TestRangedReadPaced reads a range of a large object, and streams its
// tail, through each path of an emulator with a fixed time to first byte
// and a bandwidth: each read gets the time to first byte and is paced by
// its own bytes, never by the whole object's.
func TestRangedReadPaced(t *testing.T) {
	const (
		ttfb = 20 * time.Millisecond
		bw   = 4e6
		size = 1 << 20
		n    = 64 << 10
		// slack is how early the emulator may end a sleep, correcting for
		// timers that wake late.
		slack = 3 * time.Millisecond
	)
	data := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	data[size/2] = 'x' // a byte no other offset holds at its place
	objs := map[string][]byte{"shards/a.tar": data}
	rangeTime := ttfb + time.Duration(float64(n)/bw*float64(time.Second))
	wholeTime := ttfb + time.Duration(float64(size)/bw*float64(time.Second))
	for _, path := range emulatedPaths {
		for _, read := range []struct {
			name string
			off  int64
			run  func(ctx context.Context, st *dataset.Store, off int64) ([]byte, error)
		}{
			{"ReadRange", size / 2, func(ctx context.Context, st *dataset.Store, off int64) ([]byte, error) {
				got, tm, err := st.ReadRange(ctx, "shards/a.tar", off, n, nil)
				if err == nil && tm.TTFB < ttfb-slack {
					return nil, errors.New("time to first byte " + tm.TTFB.String() + ", want the profile's")
				}
				return got, err
			}},
			{"OpenStream", size - n, func(ctx context.Context, st *dataset.Store, off int64) ([]byte, error) {
				s, err := st.OpenStream(ctx, "shards/a.tar", off)
				if err != nil {
					return nil, err
				}
				defer s.Close()
				if d := s.FirstByte().Sub(s.Opened()); d < ttfb-slack {
					return nil, errors.New("time to first byte " + d.String() + ", want the profile's")
				}
				return io.ReadAll(s)
			}},
		} {
			t.Run(path.name+"/"+read.name, func(t *testing.T) {
				e := fakes.NewEmulator(fakes.Profile{Name: "paced", TTFB: fakes.Fixed(ttfb), Bandwidth: bw}, 1)
				st := dataset.NewStore(path.make(t, e, objs))
				start := time.Now()
				got, err := read.run(t.Context(), st, read.off)
				elapsed := time.Since(start)
				if err != nil {
					t.Fatal(err)
				}
				if want := data[read.off : read.off+n]; !bytes.Equal(got, want) {
					t.Errorf("read %d bytes from %d, want the %d stored there", len(got), read.off, len(want))
				}
				if elapsed < rangeTime-slack || elapsed >= wholeTime {
					t.Errorf("%d bytes of %d took %v, want at least %v (the profile's time to first byte, then the range at %v B/s) and less than the whole object's %v", n, size, elapsed, rangeTime, bw, wholeTime)
				}
			})
		}
	}
}

// TestInjectorRange checks that a ranged read takes faults as a whole
// read does, on both paths: a short body is cut at half the range, of
// kind transient, and a 503 is throttling.
func TestInjectorRange(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), 1024) // 16 KiB
	objs := map[string][]byte{"val/a.bin": data}
	const off, n = 1000, 8000
	once := dataset.Policy{Attempts: 1, FirstByteTimeout: time.Second, IdleTimeout: time.Second}
	for _, be := range faultBackends {
		for _, tc := range []struct {
			fault fakes.Fault
			kind  dataset.ErrorKind
			got   int // bytes of the range read before the fault
		}{
			{fakes.FaultShort, dataset.KindTransient, n / 2},
			{fakes.FaultSlowDown, dataset.KindThrottled, 0},
		} {
			t.Run(be.name+"/"+string(tc.fault), func(t *testing.T) {
				in := fakes.NewInjector(fakes.Faults{{Fault: tc.fault, Rate: 1}}, 1)
				b := be.make(t, in, objs)
				ro, ok := b.(dataset.RangeOpener)
				if !ok {
					t.Fatalf("%T is not a dataset.RangeOpener", b)
				}
				var got []byte
				rc, _, err := ro.OpenRange(t.Context(), "val/a.bin", off, n)
				if err == nil {
					got, err = io.ReadAll(rc)
					rc.Close()
				}
				if err == nil || len(got) != tc.got || !bytes.Equal(got, data[off:off+len(got)]) {
					t.Errorf("OpenRange read %d bytes, %v; want the range's first %d and the %s fault", len(got), err, tc.got, tc.fault)
				}
				st, err := dataset.NewStore(b).WithPolicy(once)
				if err != nil {
					t.Fatal(err)
				}
				_, _, err = st.ReadRange(t.Context(), "val/a.bin", off, n, nil)
				if got := dataset.KindOf(err); err == nil || got != tc.kind {
					t.Errorf("ReadRange error %v of kind %v, want %v", err, got, tc.kind)
				}
			})
		}
	}
}
