package prune_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/storagebench/storagebench/dataset"
	"github.com/storagebench/storagebench/dataset/mem"
	"github.com/storagebench/storagebench/dataset/prune"
)

// newStore returns a store in memory holding an object under each of
// keys.
func newStore(tb testing.TB, keys ...string) *dataset.Store {
	tb.Helper()
	objects := make(map[string][]byte, len(keys))
	for _, k := range keys {
		objects[k] = []byte(k)
	}
	return dataset.NewStore(mem.New(objects))
}

// keysOf returns the keys store holds, sorted.
func keysOf(tb testing.TB, store *dataset.Store) []string {
	tb.Helper()
	entries, err := store.List(tb.Context(), "")
	if err != nil {
		tb.Fatal(err)
	}
	var keys []string
	for _, e := range entries {
		keys = append(keys, e.Key)
	}
	return keys
}

// readOnly is a backend that can read and nothing else.
type readOnly struct{ dataset.Backend }

func TestCheckEmpty(t *testing.T) {
	for _, tc := range []struct {
		name    string
		store   *dataset.Store
		want    *prune.NotEmptyError // nil: no error
		wantMsg string
		is      error // when not nil, the error must wrap it
	}{
		{name: "empty", store: newStore(t)},
		{
			name:    "holds objects",
			store:   newStore(t, "b/2", "a/1", "c"),
			want:    &prune.NotEmptyError{Objects: 3, Key: "a/1"},
			wantMsg: `already holds 3 objects, such as "a/1"`,
		},
		{name: "cannot list", store: dataset.NewStore(readOnly{mem.New(nil)}), is: errors.ErrUnsupported},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := prune.CheckEmpty(t.Context(), tc.store)
			if tc.is != nil {
				if !errors.Is(err, tc.is) {
					t.Errorf("CheckEmpty = %v, want an error wrapping %v", err, tc.is)
				}
				return
			}
			if tc.want == nil {
				if err != nil {
					t.Errorf("CheckEmpty = %v, want nil", err)
				}
				return
			}
			var ne *prune.NotEmptyError
			if !errors.As(err, &ne) {
				t.Fatalf("CheckEmpty = %v, want a *NotEmptyError", err)
			}
			if *ne != *tc.want {
				t.Errorf("CheckEmpty = %+v, want %+v", *ne, *tc.want)
			}
			if err.Error() != tc.wantMsg {
				t.Errorf("CheckEmpty error reads %q, want %q", err, tc.wantMsg)
			}
		})
	}
}

func TestOthers(t *testing.T) {
	store := newStore(t, "index.json", "a/1", "a/2", "b/1", "stray.txt")
	got, err := prune.Others(t.Context(), store, map[string]bool{"index.json": true, "a/1": true, "b/1": true, "never/written": true})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a/2", "stray.txt"}; !slices.Equal(got, want) {
		t.Errorf("Others = %q, want %q", got, want)
	}
}

func TestDelete(t *testing.T) {
	for _, tc := range []struct {
		name        string
		held        []string // what the store holds
		keys        []string // what to delete
		concurrency int
		want        []string // what the store holds after
	}{
		{name: "some", held: []string{"a", "b", "c", "d"}, keys: []string{"b", "d"}, concurrency: 2, want: []string{"a", "c"}},
		{name: "all, one at a time", held: []string{"a", "b"}, keys: []string{"a", "b"}, concurrency: 1},
		{name: "already gone", held: []string{"a"}, keys: []string{"a", "gone"}, want: nil},
		{name: "none", held: []string{"a"}, want: []string{"a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := newStore(t, tc.held...)
			var counts []int
			err := prune.Delete(t.Context(), store, tc.keys, tc.concurrency, func(n int) { counts = append(counts, n) })
			if err != nil {
				t.Fatalf("Delete(%q) = %v", tc.keys, err)
			}
			if diff := cmp.Diff(tc.want, keysOf(t, store)); diff != "" {
				t.Errorf("after Delete(%q), the store holds (-want +got):\n%s", tc.keys, diff)
			}
			var want []int
			for n := range len(tc.keys) {
				want = append(want, n+1)
			}
			if !slices.Equal(counts, want) {
				t.Errorf("Delete(%q) reported counts %v, want %v", tc.keys, counts, want)
			}
		})
	}
}

// TestDeleteErrors checks that Delete returns the first error, naming its
// key, and ctx's error when ctx is done, and leaves what it did not reach.
func TestDeleteErrors(t *testing.T) {
	t.Run("cannot delete", func(t *testing.T) {
		store := dataset.NewStore(readOnly{mem.New(map[string][]byte{"a": nil})})
		err := prune.Delete(t.Context(), store, []string{"a"}, 1, nil)
		var ke *dataset.KeyError
		if !errors.Is(err, errors.ErrUnsupported) || !errors.As(err, &ke) || ke.Key != "a" {
			t.Errorf("Delete from a read-only store = %v, want an error about key a wrapping %v", err, errors.ErrUnsupported)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		store := newStore(t, "a", "b")
		if err := prune.Delete(ctx, store, []string{"a", "b"}, 1, nil); !errors.Is(err, context.Canceled) {
			t.Errorf("Delete with a cancelled context = %v, want %v", err, context.Canceled)
		}
		if got := keysOf(t, store); len(got) != 2 {
			t.Errorf("Delete with a cancelled context left %q, want both objects", got)
		}
	})
}
