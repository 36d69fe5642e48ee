package local_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/storagebench/storagebench/dataset"
	"github.com/storagebench/storagebench/dataset/datasettest"
	"github.com/storagebench/storagebench/dataset/local"
)

// withCache returns b in the setting c, skipping the test where the host
// cannot read in it: a platform other than Linux, or, for direct, a file
// system that refuses O_DIRECT (the skip says which).
func withCache(tb testing.TB, b *local.Backend, c local.Cache) *local.Backend {
	tb.Helper()
	if c != local.CacheOS && c != local.CacheWarm && runtime.GOOS != "linux" {
		tb.Skipf("cache=%s needs Linux", c)
	}
	cb, err := b.WithCache(c)
	if err != nil {
		tb.Fatal(err)
	}
	if c == local.CacheDirect {
		probe := filepath.Join(b.Dir(), ".direct-probe")
		if err := os.WriteFile(probe, []byte("probe"), 0o644); err != nil {
			tb.Fatal(err)
		}
		defer os.Remove(probe)
		_, _, err := dataset.NewStore(cb).Read(context.Background(), ".direct-probe", nil)
		if errors.Is(err, errors.ErrUnsupported) {
			tb.Skipf("the file system of %s refuses O_DIRECT: %v", b.Dir(), err)
		}
		if err != nil {
			tb.Fatal(err)
		}
	}
	return cb
}

// TestCacheConformance runs the conformance suite in every cache setting:
// reads are byte-exact whether they go through the page cache, drop it
// after each read or bypass it.
func TestCacheConformance(t *testing.T) {
	for _, c := range local.Caches {
		t.Run(string(c), func(t *testing.T) {
			datasettest.RunConformanceTests(t, func(tb testing.TB, objects map[string][]byte) dataset.Backend {
				return withCache(tb, newBackend(tb, objects), c)
			})
		})
	}
}

// TestCacheExactBytes reads files around the O_DIRECT alignment and chunk
// boundaries, many at once, in every setting, and checks every byte.
func TestCacheExactBytes(t *testing.T) {
	sizes := []int{0, 1, 511, 512, 4095, 4096, 4097, 114660, 1<<20 - 1, 1 << 20, 1<<20 + 1, 3<<20 + 4097}
	objects := map[string][]byte{}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range sizes {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		objects[fmt.Sprintf("sizes/%08d.bin", n)] = b
	}
	for _, c := range append([]local.Cache{local.CacheOS}, local.Caches...) {
		t.Run("cache="+cmpOr(string(c), "unset"), func(t *testing.T) {
			b := withCache(t, newBackend(t, objects), c)
			store := dataset.NewStore(b)
			ctx := context.Background()
			errs := make(chan error, len(objects))
			for k, want := range objects {
				go func() {
					var buf []byte
					for range 3 { // a reused buffer, as the loader's
						got, _, err := store.Read(ctx, k, buf)
						if err != nil {
							errs <- err
							return
						}
						if !bytes.Equal(got, want) {
							errs <- fmt.Errorf("%s: read %d bytes that differ from the %d written", k, len(got), len(want))
							return
						}
						buf = got
					}
					errs <- nil
				}()
			}
			for range objects {
				if err := <-errs; err != nil {
					t.Error(err)
				}
			}
		})
	}
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// writeFiles writes n files of size bytes under dir, and links keys of
// their own to each of them, and returns every key.
func writeFiles(t *testing.T, dir string, n, size, links int) []string {
	t.Helper()
	var keys []string
	for i := range n {
		k := fmt.Sprintf("d/%04d.bin", i)
		if err := os.MkdirAll(filepath.Join(dir, "d"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, k), bytes.Repeat([]byte{byte(i)}, size), 0o644); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
		for j := range links {
			l := fmt.Sprintf("d/%04d-link%d.bin", i, j)
			if err := os.Link(filepath.Join(dir, k), filepath.Join(dir, l)); err != nil {
				t.Fatal(err)
			}
			keys = append(keys, l)
		}
	}
	return keys
}

// TestCacheResidency warms, drops and reads a folder and checks what the
// page cache holds after each, in every setting: warm fills it, drop
// empties it, a cold or direct read leaves nothing behind, a read through
// the cache leaves the file.
func TestCacheResidency(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("residency is measured on Linux only")
	}
	ctx := context.Background()
	type step struct {
		do       string // warm, drop, or read:<setting>
		min, max float64
	}
	for _, tc := range []struct {
		name  string
		links int
		steps []step
	}{
		{"warm then drop", 0, []step{{"warm", 0.99, 1}, {"drop", 0, 0.01}}},
		{"cold reads leave nothing", 0, []step{{"drop", 0, 0.01}, {"read:cold", 0, 0.01}}},
		{"direct reads leave nothing", 0, []step{{"drop", 0, 0.01}, {"read:direct", 0, 0.01}}},
		{"reads through the cache fill it", 0, []step{{"drop", 0, 0.01}, {"read:", 0.99, 1}}},
		{"links count once a key", 3, []step{{"drop", 0, 0.01}, {"warm", 0.99, 1}, {"drop", 0, 0.01}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBackend(t, nil)
			keys := writeFiles(t, b.Dir(), 16, 256<<10+100, tc.links)
			for _, s := range tc.steps {
				var err error
				switch setting, ok := strings.CutPrefix(s.do, "read:"); {
				case s.do == "warm":
					err = b.Warm(ctx, keys)
				case s.do == "drop":
					err = b.Drop(ctx, keys)
				case ok:
					store := dataset.NewStore(withCache(t, b, local.Cache(setting)))
					for _, k := range keys {
						if _, _, err = store.Read(ctx, k, nil); err != nil {
							break
						}
					}
				}
				if err != nil {
					t.Fatalf("%s: %v", s.do, err)
				}
				r, err := b.Resident(ctx, keys)
				if err != nil {
					t.Fatal(err)
				}
				wantPages := int64(len(keys)) * ((256<<10 + 100 + int64(os.Getpagesize()) - 1) / int64(os.Getpagesize()))
				if r.Pages != wantPages || r.Distinct != wantPages/int64(tc.links+1) {
					t.Errorf("after %s: %d pages, %d distinct, want %d (one file's pages a key), %d", s.do, r.Pages, r.Distinct, wantPages, wantPages/int64(tc.links+1))
				}
				if f := r.Fraction(); f < s.min || f > s.max {
					t.Errorf("after %s: resident fraction %.3f (%d of %d pages), want %.2f to %.2f", s.do, f, r.Resident, r.Pages, s.min, s.max)
				}
			}
		})
	}
}

// TestCacheRefusesTmpfs checks that cold and direct reads are refused on
// tmpfs, whose page cache is its storage, with an error naming it.
func TestCacheRefusesTmpfs(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("tmpfs is Linux's")
	}
	dir, err := os.MkdirTemp("/dev/shm", "storagebench-tmpfs-")
	if err != nil {
		t.Skipf("no tmpfs at /dev/shm to try: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	b, err := local.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for _, c := range []local.Cache{local.CacheCold, local.CacheDirect} {
		_, err := b.WithCache(c)
		if err == nil || !strings.Contains(err.Error(), "tmpfs") || !strings.Contains(err.Error(), "cache="+string(c)) {
			t.Errorf("cache=%s on tmpfs: got %v, want an error naming tmpfs and the setting", c, err)
		}
	}
	if _, err := b.WithCache(local.CacheWarm); err != nil {
		t.Errorf("cache=warm on tmpfs: %v", err)
	}
}

// TestCacheMissingKey checks that the dataset-wide functions name the key
// that is missing, and that an unknown setting is refused.
func TestCacheMissingKey(t *testing.T) {
	b := newBackend(t, map[string][]byte{"a/1": []byte("one")})
	ctx := context.Background()
	for name, fn := range map[string]func() error{
		"warm":     func() error { return b.Warm(ctx, []string{"a/1", "a/missing"}) },
		"drop":     func() error { return b.Drop(ctx, []string{"a/1", "a/missing"}) },
		"resident": func() error { _, err := b.Resident(ctx, []string{"a/1", "a/missing"}); return err },
	} {
		if err := fn(); err == nil || !strings.Contains(err.Error(), "a/missing") || !errors.Is(err, dataset.ErrNotFound) {
			t.Errorf("%s: got %v, want ErrNotFound naming a/missing", name, err)
		}
	}
	if _, err := b.WithCache("lukewarm"); err == nil || !strings.Contains(err.Error(), "lukewarm") {
		t.Errorf("cache=lukewarm: got %v, want an error naming it", err)
	}
	if _, err := local.ParseCache("hot"); err == nil {
		t.Error(`ParseCache("hot") succeeded`)
	}
}
