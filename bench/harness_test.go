package bench

import (
	"context"
	"fmt"
	"testing"

	"github.com/storagebench/storagebench/dataset"
	"github.com/storagebench/storagebench/dataset/datasettest"
	"github.com/storagebench/storagebench/dataset/mem"
	"github.com/storagebench/storagebench/fakes"
	"github.com/storagebench/storagebench/loader"
)

// equalSource returns a source of n items of size bytes each on the named
// hermetic backend, with known content.
func equalSource(t *testing.T, name string, n, size int) *Source {
	t.Helper()
	ctx := context.Background()
	idx := make(dataset.Index, n)
	content := make([][]byte, n)
	objs := map[string][]byte{}
	for i := range n {
		idx[i] = fmt.Sprintf("val/item_%04d.bin", i)
		content[i] = make([]byte, size)
		for j := range content[i] {
			content[i][j] = byte(i*7 + j)
		}
		objs[idx[i]] = content[i]
	}
	var b dataset.Backend
	var fake *fakes.S3
	switch name {
	case "mem":
		b = mem.New(objs)
	case "local":
		b = datasettest.LocalFolder(t, objs)
	case "fakes3":
		fake, b = fakes.NewS3Backend(t, objs)
	}
	src, err := newSource(ctx, name, "test", b, idx, func(i int) []byte { return content[i] })
	if err != nil {
		t.Fatal(err)
	}
	src.fake = fake
	return src
}

// TestRunLoad runs the Load harness as a benchmark on each hermetic backend
// with every item's content checked, and checks what it reports.
func TestRunLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("runs benchmarks")
	}
	const n, size = 60, 1000
	for _, name := range []string{"mem", "local", "fakes3"} {
		for _, mode := range []loader.Mode{loader.Sync, loader.Async} {
			t.Run(name+"/"+string(mode), func(t *testing.T) {
				src := equalSource(t, name, n, size)
				var failed string
				res := testing.Benchmark(func(b *testing.B) {
					RunLoad(b, src, LoadCase{Options: loader.Options{Mode: mode, Workers: 3, BatchSize: 7}, Deep: true})
					if b.Failed() {
						failed = "benchmark failed"
					}
				})
				if failed != "" || res.N == 0 {
					t.Fatalf("RunLoad: %s, N = %d", failed, res.N)
				}
				if res.Bytes != size {
					t.Errorf("bytes per op set to %d, want the mean item size %d", res.Bytes, size)
				}
				if got := res.Extra["B/item"]; got != size {
					t.Errorf("B/item = %v, want %d", got, size)
				}
				for _, unit := range []string{"items/s", "bound-items/s", "efficiency", "raw-items/s", "getitem-mean-ns", "getitem-p99-ns", "fetch-median-ns", "ttfb-min-ns", "read-max-ns", "wait-mean-ns", "run-mean-ns"} {
					if v, ok := res.Extra[unit]; !ok || v <= 0 {
						t.Errorf("metric %s = %v, %v; want a positive value", unit, v, ok)
					}
				}
				if _, ok := res.Extra["decode-mean-ns"]; ok {
					t.Error("decode metrics reported without decoding")
				}
				want := 3.0
				if mode == loader.Async {
					want = 21
				}
				if got := res.Extra["inflight"]; got != want {
					t.Errorf("inflight = %v, want %v", got, want)
				}
			})
		}
	}
}

// TestRunLoadDetectsBadReads makes a source whose expected sizes are wrong:
// the harness must fail rather than report bytes it did not read.
func TestRunLoadDetectsBadReads(t *testing.T) {
	src := equalSource(t, "mem", 20, 100)
	src.Sizes[3] = 99
	res := testing.Benchmark(func(b *testing.B) {
		RunLoad(b, src, LoadCase{Options: loader.Options{Workers: 2, BatchSize: 5}})
	})
	if res.N != 0 {
		t.Errorf("RunLoad over a misread item reported %d ops, want a failure", res.N)
	}
	if err := src.Check(3, make([]byte, 100), false); err == nil {
		t.Error("Check accepted an item of the wrong length")
	}
	src.Sizes[3] = 100
	bad := make([]byte, 100)
	if err := src.Check(3, bad, true); err == nil {
		t.Error("Check with deep set accepted wrong content")
	}
}

func TestRunRawAndDecode(t *testing.T) {
	src := equalSource(t, "mem", 10, 500)
	res := testing.Benchmark(func(b *testing.B) { RunRaw(b, src, fakes.Profile{}, 4) })
	if res.N == 0 || res.Extra["items/s"] <= 0 || res.Bytes != 500 {
		t.Errorf("RunRaw = %d ops, %v items/s, %d B/op; want positive figures and 500 B/op", res.N, res.Extra["items/s"], res.Bytes)
	}
	jpegs := fakes.Synth{N: 4, Seed: 3}
	content := make([][]byte, 4)
	for i := range content {
		content[i] = jpegs.Item(i)
	}
	jsrc, err := newSource(context.Background(), "mem", "memory", mem.New(nil), jpegs.Index(), func(i int) []byte { return content[i] })
	if err != nil {
		t.Fatal(err)
	}
	res = testing.Benchmark(func(b *testing.B) { RunDecode(b, jsrc, 2) })
	if res.N == 0 || res.Extra["items/s"] <= 0 {
		t.Errorf("RunDecode = %d ops, %v items/s; want positive figures", res.N, res.Extra["items/s"])
	}
}

func TestCommonPrefix(t *testing.T) {
	for _, tc := range []struct {
		idx  dataset.Index
		want string
	}{
		{dataset.Index{"scratch/imagenet/val/a.JPEG", "scratch/imagenet/val/b.JPEG"}, "scratch/imagenet/val/"},
		{dataset.Index{"scratch/imagenet/val/a.JPEG", "scratch/imagenet/train/b.JPEG"}, "scratch/imagenet/"},
		{dataset.Index{"a.JPEG", "b.JPEG"}, ""},
		{dataset.Index{"val/only.JPEG"}, "val/"},
	} {
		if got := commonPrefix(tc.idx); got != tc.want {
			t.Errorf("commonPrefix(%q) = %q, want %q", tc.idx, got, tc.want)
		}
	}
}
