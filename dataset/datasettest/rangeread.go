package datasettest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/storagebench/storagebench/dataset"
)

// Keys the range subtests single out, besides those of the suite.
const oneByteKey = "val/ILSVRC2012_val_00000002.JPEG" // a 1-byte object

// rangeCase is a range of an object and what reading it gives: its bytes,
// cut at the object's end, or an error.
type rangeCase struct {
	name    string
	key     string
	off, n  int64
	wantErr error // nil, dataset.ErrInvalidRange or dataset.ErrNotFound
}

// rangeCases returns the ranges the suite reads, of the objects in objs:
// the start, middle and end of objects, ranges cut at the end, empty
// ranges and objects, and the ranges every backend refuses.
func rangeCases(objs map[string][]byte) []rangeCase {
	mid := int64(len(objs[midKey]))
	big := int64(len(objs[bigKey]))
	return []rangeCase{
		{"start", midKey, 0, 100, nil},
		{"middle", midKey, 1000, 2000, nil},
		{"end", midKey, mid - 100, 100, nil},
		{"to the end", midKey, 1000, -1, nil},
		{"whole", midKey, 0, -1, nil},
		{"whole by length", midKey, 0, mid, nil},
		{"past the end cut", midKey, mid - 10, 100, nil},
		{"last byte", midKey, mid - 1, -1, nil},
		{"empty range", midKey, 5, 0, nil},
		{"empty range at the end", midKey, mid, 0, nil},
		{"large object middle", bigKey, 3 << 20, 1<<20 + 3, nil},
		{"large object tail", bigKey, big - 5000, -1, nil},
		{"one-byte object", oneByteKey, 0, 1, nil},
		{"empty object whole", emptyKey, 0, -1, nil},
		{"empty object with length", emptyKey, 0, 10, nil},
		{"empty object empty range", emptyKey, 0, 0, nil},
		{"at the end", midKey, mid, -1, dataset.ErrInvalidRange},
		{"at the end with length", midKey, mid, 1, dataset.ErrInvalidRange},
		{"past the end", midKey, mid + 1, 10, dataset.ErrInvalidRange},
		{"empty range past the end", midKey, mid + 1, 0, dataset.ErrInvalidRange},
		{"past the end of the empty object", emptyKey, 1, -1, dataset.ErrInvalidRange},
		{"negative offset", midKey, -1, 10, dataset.ErrInvalidRange},
		{"missing key", missKey, 0, 10, dataset.ErrNotFound},
		{"missing key far", missKey, 1 << 40, -1, dataset.ErrNotFound},
	}
}

// want returns the bytes tc reads from objs.
func (tc rangeCase) want(objs map[string][]byte) []byte {
	data := objs[tc.key]
	end := int64(len(data))
	if tc.n >= 0 && tc.n < end-tc.off {
		end = tc.off + tc.n
	}
	return data[tc.off:end]
}

// testReadRange reads every range of rangeCases with Store.ReadRange, each
// into the buffer the previous read returned, and checks the bytes, or
// the error: its sentinel, its kind, not retried, in a *KeyError of op
// "read range" naming the key.
func testReadRange(t *testing.T, harness Harness) {
	f := newFixture(t, harness)
	var buf []byte
	for _, tc := range rangeCases(f.objs) {
		t.Run(tc.name, func(t *testing.T) {
			got, tm, err := f.store.ReadRange(context.Background(), tc.key, tc.off, tc.n, buf)
			if tc.wantErr != nil {
				checkRangeError(t, "ReadRange", tc, err)
				if tm.Attempts > 1 {
					t.Errorf("ReadRange(%q, %d, %d) made %d attempts, want it not retried", tc.key, tc.off, tc.n, tm.Attempts)
				}
				return
			}
			if err != nil {
				t.Fatalf("ReadRange(%q, %d, %d): %v", tc.key, tc.off, tc.n, err)
			}
			if want := tc.want(f.objs); !bytes.Equal(got, want) {
				t.Errorf("ReadRange(%q, %d, %d) = %d bytes, want %d %s", tc.key, tc.off, tc.n, len(got), len(want), firstDiff(got, want))
			}
			if tm.Attempts != 1 || tm.TTFB < 0 || tm.Total < tm.TTFB {
				t.Errorf("ReadRange(%q, %d, %d) timing = %+v, want 1 attempt, 0 <= TTFB <= Total", tc.key, tc.off, tc.n, tm)
			}
			// The whole object's size, whatever the range: what a reader
			// of an object in parts learns from its first part.
			if size := int64(len(f.objs[tc.key])); tm.Size != size && tm.Size != -1 {
				t.Errorf("ReadRange(%q, %d, %d) reported an object of %d bytes, want %d (or -1, unknown)", tc.key, tc.off, tc.n, tm.Size, size)
			}
			buf = got
		})
	}
}

// checkRangeError wants err, from op on tc, to be tc's error: its
// sentinel, of its kind, in a *KeyError naming the key.
func checkRangeError(t *testing.T, op string, tc rangeCase, err error) {
	t.Helper()
	if !errors.Is(err, tc.wantErr) {
		t.Fatalf("%s(%q, %d, %d) error = %v, want %v", op, tc.key, tc.off, tc.n, err, tc.wantErr)
	}
	want := dataset.KindPermanent
	if tc.wantErr == dataset.ErrNotFound {
		want = dataset.KindNotFound
	}
	if got := dataset.KindOf(err); got != want {
		t.Errorf("%s(%q, %d, %d) error %v is of kind %v, want %v", op, tc.key, tc.off, tc.n, err, got, want)
	}
	var ke *dataset.KeyError
	if !errors.As(err, &ke) || ke.Key != tc.key {
		t.Errorf("%s(%q, %d, %d) error = %v, want a *KeyError naming the key", op, tc.key, tc.off, tc.n, err)
	}
}

// testReadRangeReusesBuffer reads a range into a buffer large enough for
// it and checks that the bytes land in that buffer.
func testReadRangeReusesBuffer(t *testing.T, harness Harness) {
	f := newFixture(t, harness)
	buf := make([]byte, 0, 1<<20)
	got, _, err := f.store.ReadRange(context.Background(), bigKey, 1<<20, 100_000, buf)
	if err != nil {
		t.Fatalf("ReadRange(%q): %v", bigKey, err)
	}
	if &got[0] != &buf[:1][0] {
		t.Errorf("ReadRange(%q) of 100 kB into a buffer of 1 MiB reallocated it, want it reused", bigKey)
	}
	if want := f.objs[bigKey][1<<20 : 1<<20+100_000]; !bytes.Equal(got, want) {
		t.Errorf("ReadRange(%q) returned wrong bytes %s", bigKey, firstDiff(got, want))
	}
}

// testReadRangeInto reads the large object in parts into one buffer, the
// parts at once, as a reader of an object in parts does, and wants its
// exact bytes in that buffer, its neighbours' bytes untouched; then every
// case of rangeCases that is whole inside its object into an exact
// buffer, and a range the object's end cuts short, refused.
func testReadRangeInto(t *testing.T, harness Harness) {
	f := newFixture(t, harness)
	ctx := context.Background()
	want := f.objs[bigKey]
	const part = 1<<20 + 7 // parts that do not divide the object
	// A guard byte on each side of the object's place, which no part's
	// read may write.
	buf := make([]byte, len(want)+2)
	buf[0], buf[len(buf)-1] = 0xA5, 0x5A
	dst := buf[1 : len(buf)-1]
	errs := make(chan error, len(want)/part+1)
	n := 0
	for off := 0; off < len(want); off += part {
		n++
		go func() {
			tm, err := f.store.ReadRangeInto(ctx, bigKey, int64(off), dst[off:min(off+part, len(want))])
			if err == nil && tm.Size != int64(len(want)) && tm.Size != -1 {
				err = fmt.Errorf("part at %d reported an object of %d bytes, want %d (or -1)", off, tm.Size, len(want))
			}
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatalf("ReadRangeInto(%q) in parts of %d bytes: %v", bigKey, part, err)
		}
	}
	if !bytes.Equal(dst, want) {
		t.Errorf("ReadRangeInto(%q) in %d parts: wrong bytes %s", bigKey, n, firstDiff(dst, want))
	}
	if buf[0] != 0xA5 || buf[len(buf)-1] != 0x5A {
		t.Errorf("ReadRangeInto(%q) in %d parts wrote outside its buffer", bigKey, n)
	}
	for _, tc := range rangeCases(f.objs) {
		if tc.wantErr != nil || tc.n < 0 || int64(len(tc.want(f.objs))) != tc.n {
			continue
		}
		dst := make([]byte, tc.n)
		if _, err := f.store.ReadRangeInto(ctx, tc.key, tc.off, dst); err != nil || !bytes.Equal(dst, tc.want(f.objs)) {
			t.Errorf("ReadRangeInto(%q, %d, %d bytes): %v, bytes equal %v", tc.key, tc.off, tc.n, err, bytes.Equal(dst, tc.want(f.objs)))
		}
	}
	mid := int64(len(f.objs[midKey]))
	tm, err := f.store.ReadRangeInto(ctx, midKey, mid-10, make([]byte, 100))
	if !errors.Is(err, dataset.ErrInvalidRange) || dataset.KindOf(err) != dataset.KindPermanent || tm.Attempts > 1 {
		t.Errorf("ReadRangeInto(%q, %d, 100 bytes) past the object's end: %v (kind %v, %d attempts), want ErrInvalidRange, permanent, not retried",
			midKey, mid-10, err, dataset.KindOf(err), tm.Attempts)
	}
}

// testOpenRange calls the backend's own OpenRange with every range of
// rangeCases but the negative offset, and wants the range's bytes alone,
// the object's whole size (or -1), or the case's error.
func testOpenRange(t *testing.T, harness Harness) {
	f := newFixture(t, harness)
	requireCapability[dataset.RangeOpener](t, f.b)
	ro := f.b.(dataset.RangeOpener)
	for _, tc := range rangeCases(f.objs) {
		t.Run(tc.name, func(t *testing.T) {
			rc, size, err := ro.OpenRange(context.Background(), tc.key, tc.off, tc.n)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("OpenRange(%q, %d, %d) error = %v, want %v", tc.key, tc.off, tc.n, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("OpenRange(%q, %d, %d): %v", tc.key, tc.off, tc.n, err)
			}
			defer rc.Close()
			if whole := int64(len(f.objs[tc.key])); size != whole && size != -1 {
				t.Errorf("OpenRange(%q, %d, %d) size = %d, want the object's %d or -1", tc.key, tc.off, tc.n, size, whole)
			}
			got, err := io.ReadAll(rc)
			if want := tc.want(f.objs); err != nil || !bytes.Equal(got, want) {
				t.Errorf("OpenRange(%q, %d, %d) read %d bytes, %v; want %d bytes %s", tc.key, tc.off, tc.n, len(got), err, len(want), firstDiff(got, want))
			}
		})
	}
}

// testOpenStream streams objects from several offsets with
// Store.OpenStream, and checks the bytes,
// Offset, Size, FirstByte, Opened and Attempts, io.EOF at the end, that
// Close is safe twice and a Read after it fails; and the refused offsets
// and the missing key.
func testOpenStream(t *testing.T, harness Harness) {
	f := newFixture(t, harness)
	for _, tc := range rangeCases(f.objs) {
		if tc.n >= 0 && tc.wantErr == nil || tc.n == 0 {
			continue // a stream runs to the object's end
		}
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			st, err := f.store.OpenStream(ctx, tc.key, tc.off)
			if tc.wantErr != nil {
				checkRangeError(t, "OpenStream", tc, err)
				return
			}
			if err != nil {
				t.Fatalf("OpenStream(%q, %d): %v", tc.key, tc.off, err)
			}
			checkStream(t, st, tc, tc.want(f.objs), int64(len(f.objs[tc.key])))
		})
	}
}

// checkStream reads st, opened at tc.off, to its end, wants the bytes want
// of an object of size bytes, and checks the stream's accessors and Close.
func checkStream(t *testing.T, st *dataset.Stream, tc rangeCase, want []byte, size int64) {
	t.Helper()
	if st.Offset() != tc.off {
		t.Errorf("OpenStream(%q, %d): Offset() = %d before reading, want %d", tc.key, tc.off, st.Offset(), tc.off)
	}
	if st.Size() != size && st.Size() != -1 {
		t.Errorf("OpenStream(%q, %d): Size() = %d, want %d or -1", tc.key, tc.off, st.Size(), size)
	}
	if st.Attempts() != 1 || st.Opened().IsZero() {
		t.Errorf("OpenStream(%q, %d): Attempts() = %d, Opened() = %v; want 1 attempt, opened", tc.key, tc.off, st.Attempts(), st.Opened())
	}
	if first := st.FirstByte(); len(want) > 0 && (first.IsZero() || first.Before(st.Opened())) {
		t.Errorf("OpenStream(%q, %d): FirstByte() = %v, Opened() = %v; want a first byte after the opening", tc.key, tc.off, first, st.Opened())
	}
	got, err := io.ReadAll(st)
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("stream of %q from %d read %d bytes, %v; want %d bytes %s", tc.key, tc.off, len(got), err, len(want), firstDiff(got, want))
	}
	if n, err := st.Read(make([]byte, 10)); n != 0 || err != io.EOF {
		t.Errorf("stream of %q from %d: Read at the end = %d, %v; want 0, io.EOF", tc.key, tc.off, n, err)
	}
	if st.Offset() != tc.off+int64(len(want)) {
		t.Errorf("stream of %q from %d: Offset() = %d at the end, want %d", tc.key, tc.off, st.Offset(), tc.off+int64(len(want)))
	}
	if err := st.Close(); err != nil {
		t.Errorf("stream of %q: Close: %v", tc.key, err)
	}
	if err := st.Close(); err != nil {
		t.Errorf("stream of %q: second Close: %v, want nil", tc.key, err)
	}
	if _, err := st.Read(make([]byte, 10)); err == nil || err == io.EOF {
		t.Errorf("stream of %q: Read after Close = %v, want an error", tc.key, err)
	}
}

// testOpenStreamCancelMidRead streams the large object from 1 MiB, reads a
// KiB, cancels, and wants the next Read to fail promptly with the
// context's error, of kind canceled, naming the key, the stream's offset
// left at the bytes returned.
func testOpenStreamCancelMidRead(t *testing.T, harness Harness) {
	f := newFixture(t, harness)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const off = 1 << 20
	st, err := f.store.OpenStream(ctx, bigKey, off)
	if err != nil {
		t.Fatalf("OpenStream(%q, %d): %v", bigKey, off, err)
	}
	defer st.Close()
	first := make([]byte, 1024)
	if _, err := io.ReadFull(st, first); err != nil {
		t.Fatalf("reading the first KiB of %q from %d: %v", bigKey, off, err)
	}
	if want := f.objs[bigKey][off : off+1024]; !bytes.Equal(first, want) {
		t.Errorf("first KiB of %q from %d: wrong bytes %s", bigKey, off, firstDiff(first, want))
	}
	cancel()
	start := time.Now()
	rest, err := io.ReadAll(st)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("reading the stream of %q after cancel took %v, want it prompt", bigKey, d)
	}
	if !errors.Is(err, context.Canceled) || dataset.KindOf(err) != dataset.KindCanceled {
		t.Errorf("reading the stream of %q after cancel: %v (kind %v), want context.Canceled of kind canceled", bigKey, err, dataset.KindOf(err))
	}
	var ke *dataset.KeyError
	if !errors.As(err, &ke) || ke.Key != bigKey {
		t.Errorf("reading the stream of %q after cancel: %v, want a *KeyError naming the key", bigKey, err)
	}
	if got, want := st.Offset(), int64(off+1024+len(rest)); got != want {
		t.Errorf("stream of %q: Offset() = %d after cancel, want %d", bigKey, got, want)
	}
}
