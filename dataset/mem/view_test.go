package mem_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"testing"

	"github.com/storagebench/storagebench/dataset"
	"github.com/storagebench/storagebench/dataset/datasettest"
	"github.com/storagebench/storagebench/dataset/mem"
)

// TestViewConformance runs the read side of the suite: a view has no Put
// or Delete, which the suite skips.
func TestViewConformance(t *testing.T) {
	datasettest.RunConformanceTests(t, func(tb testing.TB, objects map[string][]byte) dataset.Backend {
		return datasettest.MapView(tb, objects)
	})
}

// sharedView is a view of n keys "k/00000".."k/<n-1>" sharing k bodies:
// key i holds body i mod k, which is its length in bytes, repeated.
func sharedView(tb testing.TB, n, k int) *mem.View {
	tb.Helper()
	bodies := make([][]byte, k)
	for j := range bodies {
		bodies[j] = bytes.Repeat([]byte{byte(j)}, j)
	}
	v, err := mem.NewView(mem.Catalog{
		N:   n,
		Key: func(i int) string { return fmt.Sprintf("k/%05d", i) },
		Position: func(key string) (int, bool) {
			var i int
			if _, err := fmt.Sscanf(key, "k/%05d", &i); err != nil || fmt.Sprintf("k/%05d", i) != key || i >= n {
				return 0, false
			}
			return i, true
		},
		Body: func(i int) []byte { return bodies[i%k] },
	})
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

func TestViewListPage(t *testing.T) {
	v := sharedView(t, 250, 7)
	keys := func(es []dataset.Entry) []string {
		var out []string
		for _, e := range es {
			out = append(out, e.Key)
		}
		return out
	}
	tests := []struct {
		name          string
		prefix, after string
		limit         int
		want          []string
	}{
		{"first page", "", "", 3, []string{"k/00000", "k/00001", "k/00002"}},
		{"after a key", "", "k/00001", 2, []string{"k/00002", "k/00003"}},
		{"after a non-key", "", "k/00001x", 2, []string{"k/00002", "k/00003"}},
		{"prefix", "k/0010", "", 100, []string{"k/00100", "k/00101", "k/00102", "k/00103", "k/00104", "k/00105", "k/00106", "k/00107", "k/00108", "k/00109"}},
		{"prefix and after", "k/0010", "k/00107", 100, []string{"k/00108", "k/00109"}},
		{"after before the prefix", "k/0024", "a", 2, []string{"k/00240", "k/00241"}},
		{"after past the prefix", "k/0010", "k/0011", 5, nil},
		{"last", "", "k/00248", 5, []string{"k/00249"}},
		{"no such prefix", "z/", "", 5, nil},
		{"zero limit", "", "", 0, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := v.ListPage(t.Context(), tc.prefix, tc.after, tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(keys(got), tc.want) {
				t.Errorf("ListPage(%q, %q, %d) = %q, want %q", tc.prefix, tc.after, tc.limit, keys(got), tc.want)
			}
			for _, e := range got {
				var i int
				fmt.Sscanf(e.Key, "k/%05d", &i)
				if want := int64(i % 7); e.Size != want {
					t.Errorf("%s: size %d, want %d", e.Key, e.Size, want)
				}
			}
		})
	}
}

// TestViewSharedBodies checks that keys sharing a body read the same bytes,
// and that readers seek as a bytes.Reader does.
func TestViewSharedBodies(t *testing.T) {
	v := sharedView(t, 100, 7)
	store := dataset.NewStore(v)
	for _, i := range []int{0, 6, 7, 13, 99} {
		key := fmt.Sprintf("k/%05d", i)
		got, _, err := store.Read(t.Context(), key, nil)
		if err != nil {
			t.Fatal(err)
		}
		if want := bytes.Repeat([]byte{byte(i % 7)}, i%7); !bytes.Equal(got, want) {
			t.Errorf("Read(%q) = %v, want %v", key, got, want)
		}
	}
	for _, key := range []string{"k/00100", "k/0001", "k/-0001", "k/00001 "} {
		if _, _, err := store.Read(t.Context(), key, nil); !errors.Is(err, dataset.ErrNotFound) {
			t.Errorf("Read(%q) error = %v, want ErrNotFound", key, err)
		}
	}
	rc, _, err := v.Open(t.Context(), "k/00006") // six bytes of 6
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	rs := rc.(io.ReadSeeker)
	for _, tc := range []struct {
		offset int64
		whence int
		pos    int64
		rest   int // bytes left to read
	}{
		{2, io.SeekStart, 2, 4},
		{1, io.SeekCurrent, 3, 3},
		{-1, io.SeekEnd, 5, 1},
		{10, io.SeekStart, 10, 0},
	} {
		pos, err := rs.Seek(tc.offset, tc.whence)
		if err != nil || pos != tc.pos {
			t.Fatalf("Seek(%d, %d) = %d, %v; want %d, nil", tc.offset, tc.whence, pos, err, tc.pos)
		}
		rest, err := io.ReadAll(rs)
		if err != nil || len(rest) != tc.rest {
			t.Errorf("after Seek(%d, %d): read %d bytes, %v; want %d", tc.offset, tc.whence, len(rest), err, tc.rest)
		}
		rs.Seek(pos, io.SeekStart)
	}
	if _, err := rs.Seek(-7, io.SeekEnd); err == nil {
		t.Errorf("Seek to a negative position succeeded, want an error")
	}
}

func TestNewViewErrors(t *testing.T) {
	key := func(int) string { return "" }
	pos := func(string) (int, bool) { return 0, false }
	body := func(int) []byte { return nil }
	for _, tc := range []struct {
		name string
		c    mem.Catalog
	}{
		{"negative N", mem.Catalog{N: -1, Key: key, Position: pos, Body: body}},
		{"no Key", mem.Catalog{N: 1, Position: pos, Body: body}},
		{"no Position", mem.Catalog{N: 1, Key: key, Body: body}},
		{"no Body", mem.Catalog{N: 1, Key: key, Position: pos}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := mem.NewView(tc.c); err == nil {
				t.Errorf("NewView succeeded, want an error")
			}
		})
	}
}
