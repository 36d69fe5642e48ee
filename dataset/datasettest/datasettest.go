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
	"reflect"
	"slices"
	"strings"
	"sync"
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

// RunConformanceTests runs the suite against backends made by harness, one
// named subtest per behaviour. Each subtest makes its own backend, holding
// its own copy of [Objects], so any one of them runs alone under -run.
// Subtests of an optional capability ([dataset.Writer], [dataset.Lister],
// [dataset.Deleter], [dataset.RangeOpener]) skip backends that lack it;
// ranged and streamed reads through a [dataset.Store] run on every backend,
// those without RangeOpener read through Open.
func RunConformanceTests(t *testing.T, harness Harness) {
	t.Helper()
	t.Run("TestRead", func(t *testing.T) { testRead(t, harness) })
	t.Run("TestReadReusesBuffer", func(t *testing.T) { testReadReusesBuffer(t, harness) })
	t.Run("TestReadMissing", func(t *testing.T) { testReadMissing(t, harness) })
	t.Run("TestReadInvalidKey", func(t *testing.T) { testReadInvalidKey(t, harness) })
	t.Run("TestReadConcurrent", func(t *testing.T) { testReadConcurrent(t, harness) })
	t.Run("TestReadCanceled", func(t *testing.T) { testReadCanceled(t, harness) })
	t.Run("TestReadDeadline", func(t *testing.T) { testReadDeadline(t, harness) })
	t.Run("TestOpenCancelMidRead", func(t *testing.T) { testOpenCancelMidRead(t, harness) })
	t.Run("TestReadRange", func(t *testing.T) { testReadRange(t, harness) })
	t.Run("TestReadRangeReusesBuffer", func(t *testing.T) { testReadRangeReusesBuffer(t, harness) })
	t.Run("TestReadRangeInto", func(t *testing.T) { testReadRangeInto(t, harness) })
	t.Run("TestOpenRange", func(t *testing.T) { testOpenRange(t, harness) })
	t.Run("TestOpenStream", func(t *testing.T) { testOpenStream(t, harness) })
	t.Run("TestOpenStreamCancelMidRead", func(t *testing.T) { testOpenStreamCancelMidRead(t, harness) })
	t.Run("TestPut", func(t *testing.T) { testPut(t, harness) })
	t.Run("TestList", func(t *testing.T) { testList(t, harness) })
	t.Run("TestListTrace", func(t *testing.T) { testListTrace(t, harness) })
	t.Run("TestDelete", func(t *testing.T) { testDelete(t, harness) })
	t.Run("TestDeleteNotObject", func(t *testing.T) { testDeleteNotObject(t, harness) })
	t.Run("TestDeleteKeepsOthers", func(t *testing.T) { testDeleteKeepsOthers(t, harness) })
}

// Keys the subtests single out.
const (
	midKey   = "val/ILSVRC2012_val_00000003.JPEG" // 37 KB: fits a 1 MiB buffer
	bigKey   = "big/multi-mib.bin"                // larger than any read's first chunk
	missKey  = "val/missing.JPEG"                 // a key no fixture holds
	emptyKey = "empty/zero-length"
)

// deletedKeys are the objects the Delete subtests remove: a 1-byte object,
// the zero-length one, and the keys with spaces and non-ASCII characters.
var deletedKeys = []string{
	"val/ILSVRC2012_val_00000002.JPEG",
	emptyKey,
	"with space/file name with space.jp",
	"unicodé/ファイル-データ-ä.JPEG",
}

// suiteObjects is Objects made once; the suite only reads it, and hands
// each backend a deep copy.
var suiteObjects = sync.OnceValue(Objects)

// fixture is one subtest's backend and what it should hold.
type fixture struct {
	b     dataset.Backend
	store *dataset.Store
	objs  map[string][]byte // the objects b holds; never modified
	keys  []string          // objs' keys, sorted
}

// newFixture makes a backend through harness holding a copy of Objects
// that the backend may keep or change without touching the expected bytes.
func newFixture(t *testing.T, harness Harness) fixture {
	t.Helper()
	objs := suiteObjects()
	copied := make(map[string][]byte, len(objs))
	for k, v := range objs {
		copied[k] = bytes.Clone(v)
	}
	b := harness(t, copied)
	return fixture{b: b, store: dataset.NewStore(b), objs: objs, keys: slices.Sorted(maps.Keys(objs))}
}

// requireCapability skips t unless b implements the optional interface T.
func requireCapability[T any](t *testing.T, b dataset.Backend) {
	t.Helper()
	if _, ok := b.(T); !ok {
		t.Skipf("backend does not implement %v", reflect.TypeFor[T]())
	}
}

// testRead reads every object, each into the buffer the previous read
// returned, and checks the bytes and that 0 <= TTFB <= Total.
func testRead(t *testing.T, harness Harness) {
	f := newFixture(t, harness)
	var buf []byte
	for _, k := range f.keys {
		got, tm, err := f.store.Read(context.Background(), k, buf)
		if err != nil {
			t.Fatalf("Read(%q): %v", k, err)
		}
		if !bytes.Equal(got, f.objs[k]) {
			t.Errorf("Read(%q) = %d bytes, want %d bytes %s", k, len(got), len(f.objs[k]), firstDiff(got, f.objs[k]))
		}
		if tm.TTFB < 0 || tm.Total < tm.TTFB {
			t.Errorf("Read(%q) timing = %+v, want 0 <= TTFB <= Total", k, tm)
		}
		if size := int64(len(f.objs[k])); tm.Size != size && tm.Size != -1 {
			t.Errorf("Read(%q) reported an object of %d bytes, want %d (or -1, unknown)", k, tm.Size, size)
		}
		buf = got
	}
}

// testReadReusesBuffer reads an object into a buffer large enough for it
// and checks that the bytes land in that buffer.
func testReadReusesBuffer(t *testing.T, harness Harness) {
	f := newFixture(t, harness)
	buf := make([]byte, 0, 1<<20)
	got, _, err := f.store.Read(context.Background(), midKey, buf)
	if err != nil {
		t.Fatalf("Read(%q): %v", midKey, err)
	}
	if &got[0] != &buf[:1][0] {
		t.Errorf("Read(%q) into a buffer of 1 MiB reallocated it, want it reused", midKey)
	}
	if !bytes.Equal(got, f.objs[midKey]) {
		t.Errorf("Read(%q) returned wrong bytes %s", midKey, firstDiff(got, f.objs[midKey]))
	}
}

// testReadMissing reads keys that name no object, including one that
// extends an existing key, and wants ErrNotFound in a *KeyError naming it.
func testReadMissing(t *testing.T, harness Harness) {
	f := newFixture(t, harness)
	for _, k := range []string{missKey, "missing", "val/ILSVRC2012_val_00000001.JPEG.nope"} {
		_, _, err := f.store.Read(context.Background(), k, nil)
		checkNotFound(t, "Read", k, err)
	}
}

// testReadInvalidKey wants the empty key refused with ErrInvalidKey.
func testReadInvalidKey(t *testing.T, harness Harness) {
	f := newFixture(t, harness)
	if _, _, err := f.store.Read(context.Background(), "", nil); !errors.Is(err, dataset.ErrInvalidKey) {
		t.Errorf("Read(\"\") error = %v, want ErrInvalidKey", err)
	}
}

// testReadConcurrent has 64 readers each read every object, starting at
// different keys, and checks every byte.
func testReadConcurrent(t *testing.T, harness Harness) {
	f := newFixture(t, harness)
	var g errgroup.Group
	for r := range 64 {
		g.Go(func() error {
			var buf []byte
			for i := range f.keys {
				k := f.keys[(i+r)%len(f.keys)]
				got, _, err := f.store.Read(context.Background(), k, buf)
				if err != nil {
					return fmt.Errorf("reader %d: %w", r, err)
				}
				if !bytes.Equal(got, f.objs[k]) {
					return fmt.Errorf("reader %d: Read(%q) returned wrong bytes %s", r, k, firstDiff(got, f.objs[k]))
				}
				buf = got
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Error(err)
	}
}

// testReadCanceled reads with a cancelled context.
func testReadCanceled(t *testing.T, harness Harness) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	checkReadDone(t, ctx, newFixture(t, harness), context.Canceled)
}

// testReadDeadline reads with a context whose deadline has passed.
func testReadDeadline(t *testing.T, harness Harness) {
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	checkReadDone(t, ctx, newFixture(t, harness), context.DeadlineExceeded)
}

// checkReadDone reads a large and a missing key with ctx, already done, and
// wants ctx's error, want, within two seconds.
func checkReadDone(t *testing.T, ctx context.Context, f fixture, want error) {
	t.Helper()
	for _, k := range []string{bigKey, missKey} {
		start := time.Now()
		_, _, err := f.store.Read(ctx, k, nil)
		if !errors.Is(err, want) {
			t.Errorf("Read(%q) error = %v, want %v", k, err, want)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("Read(%q) took %v with a done context, want it prompt", k, d)
		}
	}
}

// testOpenCancelMidRead opens the large object, reads its first KiB,
// cancels, and wants the rest of the read to end promptly and never with
// wrong bytes and no error. It also checks the size Open reports.
func testOpenCancelMidRead(t *testing.T, harness Harness) {
	f := newFixture(t, harness)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rc, size, err := f.b.Open(ctx, bigKey)
	if err != nil {
		t.Fatalf("Open(%q): %v", bigKey, err)
	}
	defer rc.Close()
	want := f.objs[bigKey]
	if size != -1 && size != int64(len(want)) {
		t.Errorf("Open(%q) size = %d, want %d or -1", bigKey, size, len(want))
	}
	first := make([]byte, 1024)
	if _, err := io.ReadFull(rc, first); err != nil {
		t.Fatalf("reading the first KiB of %q: %v", bigKey, err)
	}
	cancel()
	start := time.Now()
	rest, err := io.ReadAll(rc)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("reading %q after cancel took %v, want it prompt", bigKey, d)
	}
	// A backend may stop with the context's error or, for data already
	// at hand, finish; it must not return wrong bytes without an error.
	if err == nil && !bytes.Equal(append(first, rest...), want) {
		t.Errorf("reading %q after cancel returned wrong bytes and no error", bigKey)
	}
}

// testPut writes new keys, an empty object, a non-ASCII key, and over an
// existing object, reading each back.
func testPut(t *testing.T, harness Harness) {
	f := newFixture(t, harness)
	requireCapability[dataset.Writer](t, f.b)
	for _, k := range []string{"new/put-object.JPEG", "val/ILSVRC2012_val_00000002.JPEG", "new/empty", "new/ä ö.bin"} {
		data := []byte("written by the conformance suite: " + k)
		if k == "new/empty" {
			data = []byte{}
		}
		if err := f.store.Put(context.Background(), k, data); err != nil {
			t.Fatalf("Put(%q): %v", k, err)
		}
		got, _, err := f.store.Read(context.Background(), k, nil)
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("Read(%q) after Put = %q, %v; want %q, nil", k, got, err, data)
		}
	}
}

// listPrefixes are the prefixes the List subtests list: everything, a
// folder, part of a name, a non-ASCII folder, and a prefix of nothing.
var listPrefixes = []string{"", "val/", "val/ILSVRC2012_val_0000000", "unicodé/", "nothing/"}

// testList lists each prefix and wants exactly the keys under it, sorted,
// with their sizes.
func testList(t *testing.T, harness Harness) {
	f := newFixture(t, harness)
	requireCapability[dataset.Lister](t, f.b)
	for _, prefix := range listPrefixes {
		got := listKeys(t, context.Background(), f, prefix)
		if want := withPrefix(f.keys, prefix); !slices.Equal(got, want) {
			t.Errorf("List(%q) = %q, want %q", prefix, got, want)
		}
	}
}

// testListTrace lists each prefix under a [dataset.ListTrace] and wants
// the counts it reports nondecreasing and at most the number listed, and
// the listing itself unchanged by the trace.
func testListTrace(t *testing.T, harness Harness) {
	f := newFixture(t, harness)
	requireCapability[dataset.Lister](t, f.b)
	for _, prefix := range listPrefixes {
		var found []int
		ctx := dataset.WithListTrace(context.Background(), &dataset.ListTrace{Found: func(n int) { found = append(found, n) }})
		got := listKeys(t, ctx, f, prefix)
		if !slices.IsSorted(found) || len(found) > 0 && found[len(found)-1] > len(got) {
			t.Errorf("List(%q) of %d objects reported %v found, want nondecreasing counts up to %d", prefix, len(got), found, len(got))
		}
		if want := withPrefix(f.keys, prefix); !slices.Equal(got, want) {
			t.Errorf("List(%q) with a trace = %q, want %q", prefix, got, want)
		}
	}
}

// listKeys lists prefix, checks each entry's size, and returns the keys.
func listKeys(t *testing.T, ctx context.Context, f fixture, prefix string) []string {
	t.Helper()
	entries, err := f.store.List(ctx, prefix)
	if err != nil {
		t.Fatalf("List(%q): %v", prefix, err)
	}
	var keys []string
	for _, e := range entries {
		keys = append(keys, e.Key)
		if e.Size != int64(len(f.objs[e.Key])) {
			t.Errorf("List(%q): %q has size %d, want %d", prefix, e.Key, e.Size, len(f.objs[e.Key]))
		}
	}
	return keys
}

// testDelete deletes objects and wants each then read as ErrNotFound.
func testDelete(t *testing.T, harness Harness) {
	f := newFixture(t, harness)
	requireCapability[dataset.Deleter](t, f.b)
	for _, k := range deletedKeys {
		deleteKeys(t, f, k)
		if _, _, err := f.store.Read(context.Background(), k, nil); !errors.Is(err, dataset.ErrNotFound) {
			t.Errorf("Read(%q) after Delete: error = %v, want ErrNotFound", k, err)
		}
	}
}

// testDeleteNotObject deletes what is not an object (a deleted key, a
// missing key, the folder or prefix of other objects) and wants
// ErrNotFound in a *KeyError naming the key.
func testDeleteNotObject(t *testing.T, harness Harness) {
	f := newFixture(t, harness)
	requireCapability[dataset.Deleter](t, f.b)
	deleteKeys(t, f, deletedKeys...)
	for _, k := range []string{deletedKeys[0], missKey, "val", "val/", "big"} {
		checkNotFound(t, "Delete", k, f.store.Delete(context.Background(), k))
	}
}

// testDeleteKeepsOthers deletes some objects and wants every other one
// still read in full and, if the backend lists, listed alone.
func testDeleteKeepsOthers(t *testing.T, harness Harness) {
	f := newFixture(t, harness)
	requireCapability[dataset.Deleter](t, f.b)
	deleteKeys(t, f, deletedKeys...)
	var kept []string
	for _, k := range f.keys {
		if slices.Contains(deletedKeys, k) {
			continue
		}
		kept = append(kept, k)
		got, _, err := f.store.Read(context.Background(), k, nil)
		if err != nil || !bytes.Equal(got, f.objs[k]) {
			t.Errorf("Read(%q) after deleting others = %d bytes, %v; want its %d bytes", k, len(got), err, len(f.objs[k]))
		}
	}
	if _, ok := f.b.(dataset.Lister); !ok {
		return
	}
	entries, err := f.store.List(context.Background(), "")
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
}

// deleteKeys deletes keys, stopping t at the first failure.
func deleteKeys(t *testing.T, f fixture, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if err := f.store.Delete(context.Background(), k); err != nil {
			t.Fatalf("Delete(%q): %v", k, err)
		}
	}
}

// checkNotFound wants err, from op on key, to be ErrNotFound in a
// *KeyError naming key.
func checkNotFound(t *testing.T, op, key string, err error) {
	t.Helper()
	if !errors.Is(err, dataset.ErrNotFound) {
		t.Errorf("%s(%q) error = %v, want ErrNotFound", op, key, err)
	}
	var ke *dataset.KeyError
	if !errors.As(err, &ke) || ke.Key != key {
		t.Errorf("%s(%q) error = %v, want a *KeyError naming the key", op, key, err)
	}
}

// withPrefix returns the keys that start with prefix.
func withPrefix(keys []string, prefix string) []string {
	var out []string
	for _, k := range keys {
		if strings.HasPrefix(k, prefix) {
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
