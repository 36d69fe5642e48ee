package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/storagebench/storagebench/dataset"
	"github.com/storagebench/storagebench/dataset/datasettest"
	"github.com/storagebench/storagebench/dataset/s3blob"
	"github.com/storagebench/storagebench/fakes"
	"github.com/storagebench/storagebench/fakes/fakestest"
)

// TestRealStoreErrors checks that a real store set up wrong, or not at all,
// fails fast with a message naming its variable.
func TestRealStoreErrors(t *testing.T) {
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	dir := t.TempDir()
	writeConfig := func(name string, c s3blob.Config) string {
		data, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()
	fake := fakestest.NewS3(t, fakes.S3Options{Buckets: []string{"bench"}})
	badJSON := filepath.Join(dir, "bad.json")
	os.WriteFile(badJSON, []byte(`{"bucket_name": `), 0o600)
	const secret = "secret-that-must-not-show"
	for _, tc := range []struct {
		name    string
		env     Env
		backend string
		want    []string // in the error
	}{
		{"s3 unset", Env{}, "s3", []string{"not configured", "set STORAGEBENCH_S3_CONFIG"}},
		{"scratch unset", Env{}, "scratch", []string{"not configured", "set STORAGEBENCH_SCRATCH_ROOT"}},
		{"missing config", Env{S3Config: filepath.Join(dir, "missing.json")}, "s3", []string{"STORAGEBENCH_S3_CONFIG", "missing.json"}},
		{"bad JSON", Env{S3Config: badJSON}, "s3", []string{"STORAGEBENCH_S3_CONFIG", "bad.json"}},
		{"no index URL", Env{S3Config: writeConfig("noindex.json", s3blob.Config{Bucket: "b"})}, "s3", []string{"index_file_download_url is missing"}},
		{"unreachable", Env{S3Config: writeConfig("closed.json", s3blob.Config{
			Bucket: "b", IndexURL: "s3://b/index.json", EndpointURL: closed, AccessKeyID: "id", SecretAccessKey: secret, Region: "us-east-1",
		})}, "s3", []string{"STORAGEBENCH_S3_CONFIG", "connection refused"}},
		{"missing index", Env{S3Config: writeConfig("fake.json", func() s3blob.Config {
			c := fake.Config("bench")
			c.IndexURL = "s3://bench/index.json"
			return c
		}())}, "s3", []string{"STORAGEBENCH_S3_CONFIG", "s3://bench/index.json", "not found"}},
		{"missing scratch root", Env{ScratchRoot: filepath.Join(dir, "nowhere")}, "scratch", []string{"STORAGEBENCH_SCRATCH_ROOT", "nowhere"}},
		{"empty scratch root", Env{ScratchRoot: t.TempDir()}, "scratch", []string{"STORAGEBENCH_SCRATCH_ROOT", "no files"}},
		{"bad scratch index", Env{ScratchRoot: dir, ScratchIndex: badJSON}, "scratch", []string{"STORAGEBENCH_SCRATCH_INDEX", "bad.json"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := NewFixture(tc.env)
			defer f.Close()
			start := time.Now()
			_, err := f.Source(context.Background(), tc.backend)
			if d := time.Since(start); d > 15*time.Second {
				t.Errorf("Source took %v, want seconds", d)
			}
			if err == nil {
				t.Fatalf("Source = %v, want a failure", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Source error %q, want it to contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("Source error %q shows the secret key", err)
			}
		})
	}
}

// TestRealStores reads a scratch folder and an S3 bucket set up as users
// do, and checks every item's size comes from the store's listing.
func TestRealStores(t *testing.T) {
	synth := fakes.Synth{N: 30, Seed: 9}
	fake, b := fakestest.NewS3Backend(t, nil)
	ctx := context.Background()
	idx, err := synth.Write(ctx, dataset.NewStore(b), 4)
	if err != nil {
		t.Fatal(err)
	}
	cfg := fake.Config("storagebench")
	cfg.IndexURL = "s3://storagebench/index.json"
	data, _ := json.Marshal(cfg)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "s3.json")
	os.WriteFile(cfgPath, data, 0o600)
	scratch := datasettest.LocalFolder(t, nil)
	if _, err := synth.Write(ctx, dataset.NewStore(scratch), 4); err != nil {
		t.Fatal(err)
	}
	f := NewFixture(Env{S3Config: cfgPath, S3Index: filepath.Join(dir, "index-cache.json"), ScratchRoot: scratch.Dir()})
	defer f.Close()
	for _, name := range []string{"s3", "scratch"} {
		src, err := f.Source(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if len(src.Index) != len(idx) {
			t.Fatalf("%s: %d items, want %d", name, len(src.Index), len(idx))
		}
		for i, k := range src.Index {
			if want := int64(synth.Size(indexOf(idx, k))); src.Sizes[i] != want {
				t.Errorf("%s: %s has size %d, want %d", name, k, src.Sizes[i], want)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "index-cache.json")); err != nil {
		t.Errorf("the S3 index was not cached: %v", err)
	}
}

func indexOf(idx []string, k string) int {
	for i, v := range idx {
		if v == k {
			return i
		}
	}
	return -1
}

// heapInUse returns the bytes of live heap objects, after a collection.
func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// checkSample reads a sample of src's items through its dataset, as the
// benchmarks do, and checks their bytes: the first and last items, the
// first items to repeat a body, and a stride through the rest.
func checkSample(t *testing.T, src *Source, bodies int) {
	t.Helper()
	ds, restore, err := src.Dataset(fakes.Profile{}, nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer restore()
	n := len(src.Index)
	sample := []int{0, 1, bodies - 1, bodies, bodies + 1, n - 1}
	for i := 0; i < n; i += n/50 + 1 {
		sample = append(sample, i)
	}
	var buf []byte
	for _, i := range sample {
		if i < 0 || i >= n {
			continue
		}
		buf, _, err = ds.Read(t.Context(), i, buf)
		if err != nil {
			t.Fatalf("%s: reading item %d: %v", src.Name, i, err)
		}
		if err := src.Check(i, buf, true); err != nil {
			t.Errorf("%s: %v", src.Name, err)
		}
		if j := i % bodies; !bytes.Equal(buf, src.Content(j)) {
			t.Errorf("%s: item %d differs from item %d, which holds the same body", src.Name, i, j)
		}
	}
}

// TestSyntheticSources builds the synthetic sources of an ImageNet
// training epoch, 1,281,167 keys sharing 100 bodies, and checks that they
// take the memory of the index and the bodies, not of a million items,
// and serve the right bytes. The local folder is checked at 50,000 keys:
// ext4 takes about 15 s to make 1,281,167 hard links and 20 s to remove
// them, beyond a test's budget; the links are made the same way whatever
// their number.
func TestSyntheticSources(t *testing.T) {
	tests := []struct {
		name     string
		env      Env
		backends []string
		// maxHeap bounds the growth of the heap, index included; 0 for
		// no bound.
		maxHeap uint64
	}{
		// The index holds 1,281,167 strings of 32 bytes (about 60 MB
		// with their headers), each source a size for each item (10 MB),
		// and the bodies 12 MB: 94 MB, as measured. A map of the keys
		// to shared bodies would add 96 MB (measured), and a copy of the
		// items 156 GB.
		{"ImageNet train", Env{Items: 1_281_167, Bodies: 100}, []string{"mem", "fakes3"}, 150 << 20},
		{"links", Env{Items: 50_000, Bodies: 100}, []string{"local"}, 0},
		{"every body its own", Env{Items: 300}, []string{"mem", "local", "fakes3"}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := NewFixture(tc.env)
			defer f.Close()
			before := heapInUse()
			start := time.Now()
			var srcs []*Source
			for _, name := range tc.backends {
				src, err := f.Source(t.Context(), name)
				if err != nil {
					t.Fatal(err)
				}
				srcs = append(srcs, src)
			}
			took := time.Since(start)
			grew := int64(heapInUse()) - int64(before)
			t.Logf("%d items, %d bodies on %v: built in %v, heap grew %.1f MB", tc.env.Items, tc.env.SynthBodies(), tc.backends, took.Round(time.Millisecond), float64(grew)/(1<<20))
			if tc.maxHeap > 0 && grew > int64(tc.maxHeap) {
				t.Errorf("the heap grew by %.0f MB, want at most %.0f MB: are items duplicated?", float64(grew)/(1<<20), float64(tc.maxHeap)/(1<<20))
			}
			if took > 60*time.Second {
				t.Errorf("building took %v, want seconds", took)
			}
			for _, src := range srcs {
				if len(src.Index) != tc.env.Items || src.Bodies != tc.env.SynthBodies() {
					t.Errorf("%s: %d items, %d bodies; want %d and %d", src.Name, len(src.Index), src.Bodies, tc.env.Items, tc.env.SynthBodies())
				}
				checkSample(t, src, src.Bodies)
			}
			runtime.KeepAlive(srcs)
		})
	}
}
