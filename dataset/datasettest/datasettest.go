// Package datasettest is the conformance suite that every
// [dataset.Backend] passes: a new backend costs one short test file that
// calls [RunConformanceTests] with a harness making the backend.
package datasettest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/storagebench/storagebench/dataset"
)

// Harness returns a fresh backend holding exactly objects. It registers any
// cleanup with tb.
type Harness func(tb testing.TB, objects map[string][]byte) dataset.Backend

// Objects returns the objects the suite stores: ordinary JPEG-like keys,
// a zero-length object, a multi-MiB object, and keys with spaces and
// non-ASCII characters.
func Objects() map[string][]byte {
	r := rand.New(rand.NewPCG(1, 2))
	blob := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	}
	objs := map[string][]byte{
		"val/ILSVRC2012_val_00000001.JPEG":   blob(110 << 10),
		"val/ILSVRC2012_val_00000002.JPEG":   blob(1),
		"val/ILSVRC2012_val_00000003.JPEG":   blob(37_123),
		"empty/zero-length":                  {},
		"big/multi-mib.bin":                  blob(5<<20 + 17),
		"with space/file name with space.jp": blob(2048),
		"unicodé/ファイル-データ-ä.JPEG":            blob(4096),
	}
	return objs
}

// RunConformanceTests runs the suite against backends made by h. Each
// subtest makes its own backend from its own copy of the objects.
func RunConformanceTests(t *testing.T, harness Harness) {
	t.Helper()
	objs := Objects()
	h := func(tb testing.TB, objects map[string][]byte) dataset.Backend {
		tb.Helper()
		return harness(tb, maps.Clone(objects))
	}
	keys := sortedKeys(objs)
	t.Run("ReadExactBytes", func(t *testing.T) {
		store := dataset.NewStore(h(t, objs))
		var buf []byte
		for _, k := range keys {
			got, tm, err := store.Read(context.Background(), k, buf)
			if err != nil {
				t.Fatalf("Read(%q): %v", k, err)
			}
			if !bytes.Equal(got, objs[k]) {
				t.Errorf("Read(%q) = %d bytes, want %d bytes %s", k, len(got), len(objs[k]), firstDiff(got, objs[k]))
			}
			if tm.TTFB < 0 || tm.Total < tm.TTFB {
				t.Errorf("Read(%q) timing = %+v, want 0 <= TTFB <= Total", k, tm)
			}
			buf = got
		}
	})
	t.Run("ReuseBuffer", func(t *testing.T) {
		store := dataset.NewStore(h(t, objs))
		k := "val/ILSVRC2012_val_00000003.JPEG"
		buf := make([]byte, 0, 1<<20)
		got, _, err := store.Read(context.Background(), k, buf)
		if err != nil {
			t.Fatalf("Read(%q): %v", k, err)
		}
		if &got[0] != &buf[:1][0] {
			t.Errorf("Read(%q) into a buffer of 1 MiB reallocated it, want it reused", k)
		}
		if !bytes.Equal(got, objs[k]) {
			t.Errorf("Read(%q) returned wrong bytes %s", k, firstDiff(got, objs[k]))
		}
	})
	t.Run("Missing", func(t *testing.T) {
		store := dataset.NewStore(h(t, objs))
		for _, k := range []string{"val/missing.JPEG", "missing", "val/ILSVRC2012_val_00000001.JPEG.nope"} {
			_, _, err := store.Read(context.Background(), k, nil)
			if !errors.Is(err, dataset.ErrNotFound) {
				t.Errorf("Read(%q) error = %v, want ErrNotFound", k, err)
			}
			var ke *dataset.KeyError
			if !errors.As(err, &ke) || ke.Key != k {
				t.Errorf("Read(%q) error = %v, want a *KeyError naming the key", k, err)
			}
		}
	})
	t.Run("EmptyKey", func(t *testing.T) {
		store := dataset.NewStore(h(t, objs))
		if _, _, err := store.Read(context.Background(), "", nil); !errors.Is(err, dataset.ErrInvalidKey) {
			t.Errorf("Read(\"\") error = %v, want ErrInvalidKey", err)
		}
	})
	t.Run("Concurrent64", func(t *testing.T) {
		store := dataset.NewStore(h(t, objs))
		var g errgroup.Group
		for r := range 64 {
			g.Go(func() error {
				var buf []byte
				for i := range keys {
					k := keys[(i+r)%len(keys)]
					got, _, err := store.Read(context.Background(), k, buf)
					if err != nil {
						return fmt.Errorf("reader %d: %w", r, err)
					}
					if !bytes.Equal(got, objs[k]) {
						return fmt.Errorf("reader %d: Read(%q) returned wrong bytes %s", r, k, firstDiff(got, objs[k]))
					}
					buf = got
				}
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			t.Error(err)
		}
	})
	t.Run("Cancelled", func(t *testing.T) {
		store := dataset.NewStore(h(t, objs))
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		past, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
		defer cancel2()
		for _, tc := range []struct {
			name string
			ctx  context.Context
			want error
		}{
			{"canceled", ctx, context.Canceled},
			{"deadline", past, context.DeadlineExceeded},
		} {
			for _, k := range []string{"big/multi-mib.bin", "val/missing.JPEG"} {
				start := time.Now()
				_, _, err := store.Read(tc.ctx, k, nil)
				if !errors.Is(err, tc.want) {
					t.Errorf("%s: Read(%q) error = %v, want %v", tc.name, k, err, tc.want)
				}
				if d := time.Since(start); d > 2*time.Second {
					t.Errorf("%s: Read(%q) took %v with a done context, want it prompt", tc.name, k, d)
				}
			}
		}
	})
	t.Run("CancelMidRead", func(t *testing.T) {
		b := h(t, objs)
		k := "big/multi-mib.bin"
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		rc, size, err := b.Open(ctx, k)
		if err != nil {
			t.Fatalf("Open(%q): %v", k, err)
		}
		defer rc.Close()
		if size != -1 && size != int64(len(objs[k])) {
			t.Errorf("Open(%q) size = %d, want %d or -1", k, size, len(objs[k]))
		}
		first := make([]byte, 1024)
		if _, err := io.ReadFull(rc, first); err != nil {
			t.Fatalf("reading the first KiB of %q: %v", k, err)
		}
		cancel()
		start := time.Now()
		rest, err := io.ReadAll(rc)
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("reading %q after cancel took %v, want it prompt", k, d)
		}
		// A backend may stop with the context's error or, for data already
		// at hand, finish; it must not return wrong bytes without an error.
		if err == nil && !bytes.Equal(append(first, rest...), objs[k]) {
			t.Errorf("reading %q after cancel returned wrong bytes and no error", k)
		}
	})
	t.Run("Put", func(t *testing.T) {
		b := h(t, objs)
		if _, ok := b.(dataset.Writer); !ok {
			t.Skip("backend does not implement dataset.Writer")
		}
		store := dataset.NewStore(b)
		for _, k := range []string{"new/put-object.JPEG", "val/ILSVRC2012_val_00000002.JPEG", "new/empty", "new/ä ö.bin"} {
			data := []byte("written by the conformance suite: " + k)
			if k == "new/empty" {
				data = []byte{}
			}
			if err := store.Put(context.Background(), k, data); err != nil {
				t.Fatalf("Put(%q): %v", k, err)
			}
			got, _, err := store.Read(context.Background(), k, nil)
			if err != nil || !bytes.Equal(got, data) {
				t.Errorf("Read(%q) after Put = %q, %v; want %q, nil", k, got, err, data)
			}
		}
	})
	t.Run("List", func(t *testing.T) {
		b := h(t, objs)
		if _, ok := b.(dataset.Lister); !ok {
			t.Skip("backend does not implement dataset.Lister")
		}
		store := dataset.NewStore(b)
		for _, tc := range []struct {
			prefix string
			want   []string
		}{
			{"", keys},
			{"val/", filter(keys, "val/")},
			{"val/ILSVRC2012_val_0000000", filter(keys, "val/ILSVRC2012_val_0000000")},
			{"unicodé/", filter(keys, "unicodé/")},
			{"nothing/", nil},
		} {
			var found []int // what the listing reported through its trace
			ctx := dataset.WithListTrace(context.Background(), &dataset.ListTrace{Found: func(n int) { found = append(found, n) }})
			entries, err := store.List(ctx, tc.prefix)
			if err != nil {
				t.Fatalf("List(%q): %v", tc.prefix, err)
			}
			if !slices.IsSorted(found) || len(found) > 0 && found[len(found)-1] > len(entries) {
				t.Errorf("List(%q) of %d objects reported %v found, want nondecreasing counts up to %d", tc.prefix, len(entries), found, len(entries))
			}
			var got []string
			for _, e := range entries {
				got = append(got, e.Key)
				if e.Size != int64(len(objs[e.Key])) {
					t.Errorf("List(%q): %q has size %d, want %d", tc.prefix, e.Key, e.Size, len(objs[e.Key]))
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("List(%q) = %q, want %q", tc.prefix, got, tc.want)
			}
		}
	})
	t.Run("Delete", func(t *testing.T) {
		b := h(t, objs)
		if _, ok := b.(dataset.Deleter); !ok {
			t.Skip("backend does not implement dataset.Deleter")
		}
		store := dataset.NewStore(b)
		ctx := context.Background()
		deleted := []string{
			"val/ILSVRC2012_val_00000002.JPEG",
			"empty/zero-length",
			"with space/file name with space.jp",
			"unicodé/ファイル-データ-ä.JPEG",
		}
		for _, k := range deleted {
			if err := store.Delete(ctx, k); err != nil {
				t.Fatalf("Delete(%q): %v", k, err)
			}
			if _, _, err := store.Read(ctx, k, nil); !errors.Is(err, dataset.ErrNotFound) {
				t.Errorf("Read(%q) after Delete: error = %v, want ErrNotFound", k, err)
			}
		}
		// Deleting what is not an object: a deleted key, a missing key, the
		// folder or prefix of other objects.
		for _, k := range []string{deleted[0], "val/missing.JPEG", "val", "val/", "big"} {
			err := store.Delete(ctx, k)
			if !errors.Is(err, dataset.ErrNotFound) {
				t.Errorf("Delete(%q) error = %v, want ErrNotFound", k, err)
			}
			var ke *dataset.KeyError
			if !errors.As(err, &ke) || ke.Key != k {
				t.Errorf("Delete(%q) error = %v, want a *KeyError naming the key", k, err)
			}
		}
		// Everything else is intact.
		var kept []string
		for _, k := range keys {
			if slices.Contains(deleted, k) {
				continue
			}
			kept = append(kept, k)
			got, _, err := store.Read(ctx, k, nil)
			if err != nil || !bytes.Equal(got, objs[k]) {
				t.Errorf("Read(%q) after deleting others = %d bytes, %v; want its %d bytes", k, len(got), err, len(objs[k]))
			}
		}
		if _, ok := b.(dataset.Lister); !ok {
			return
		}
		entries, err := store.List(ctx, "")
		if err != nil {
			t.Fatalf("List after Delete: %v", err)
		}
		var listed []string
		for _, e := range entries {
			listed = append(listed, e.Key)
		}
		if !slices.Equal(listed, kept) {
			t.Errorf("List after Delete = %q, want %q", listed, kept)
		}
	})
}

func sortedKeys(m map[string][]byte) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func filter(keys []string, prefix string) []string {
	var out []string
	for _, k := range keys {
		if len(k) >= len(prefix) && k[:len(prefix)] == prefix {
			out = append(out, k)
		}
	}
	return out
}

// firstDiff describes where got first differs from want.
func firstDiff(got, want []byte) string {
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			return fmt.Sprintf("(first difference at byte %d)", i)
		}
	}
	if len(got) != len(want) {
		return fmt.Sprintf("(lengths %d and %d)", len(got), len(want))
	}
	return ""
}
