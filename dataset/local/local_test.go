package local_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/storagebench/storagebench/dataset"
	"github.com/storagebench/storagebench/dataset/datasettest"
	"github.com/storagebench/storagebench/dataset/local"
)

// newBackend writes objects under a temporary folder and opens it.
func newBackend(tb testing.TB, objects map[string][]byte) *local.Backend {
	tb.Helper()
	return datasettest.LocalFolder(tb, objects)
}

func TestConformance(t *testing.T) {
	datasettest.RunConformanceTests(t, func(tb testing.TB, objects map[string][]byte) dataset.Backend {
		return newBackend(tb, objects)
	})
}

func TestRefusesKeysOutsideRoot(t *testing.T) {
	outside := t.TempDir()
	secret := filepath.Join(outside, "secret.txt")
	if err := os.WriteFile(secret, []byte("outside the root"), 0o644); err != nil {
		t.Fatal(err)
	}
	b := newBackend(t, map[string][]byte{"in/ok.JPEG": []byte("ok")})
	links := map[string]string{
		"in/link-out":     secret,
		"dir-link":        outside,
		"in/dangling-out": filepath.Join(outside, "missing"),
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(b.Dir(), filepath.FromSlash(name))); err != nil {
			t.Fatal(err)
		}
	}
	store := dataset.NewStore(b)
	for _, key := range []string{
		"../secret.txt",
		"in/../../secret.txt",
		"..",
		secret, // absolute
		"/etc/passwd",
		"in/link-out",
		"dir-link/secret.txt",
		"in/dangling-out",
		"in/ok.JPEG\x00",
		"",
	} {
		t.Run(key, func(t *testing.T) {
			got, _, err := store.Read(context.Background(), key, nil)
			if !errors.Is(err, dataset.ErrInvalidKey) {
				t.Fatalf("Read(%q) = %q, %v; want ErrInvalidKey", key, got, err)
			}
			var ke *dataset.KeyError
			if !errors.As(err, &ke) || ke.Key != key {
				t.Errorf("Read(%q) error = %v, want a *KeyError naming the key", key, err)
			}
			// Put either refuses the key or replaces the link itself; it
			// never writes outside the root.
			if err := store.Put(context.Background(), key, []byte("x")); err != nil && !errors.Is(err, dataset.ErrInvalidKey) {
				t.Errorf("Put(%q) error = %v, want ErrInvalidKey or success", key, err)
			}
			if got, err := os.ReadFile(secret); err != nil || string(got) != "outside the root" {
				t.Errorf("after Put(%q), the file outside the root holds %q, %v; want it untouched", key, got, err)
			}
			// Delete either refuses the key, finds nothing, or removes the
			// link itself; it never removes anything outside the root.
			if err := store.Delete(context.Background(), key); err != nil && !errors.Is(err, dataset.ErrInvalidKey) && !errors.Is(err, dataset.ErrNotFound) {
				t.Errorf("Delete(%q) error = %v, want ErrInvalidKey, ErrNotFound or success", key, err)
			}
			if _, err := os.Stat(secret); err != nil {
				t.Errorf("after Delete(%q), the file outside the root: %v; want it in place", key, err)
			}
		})
	}
	// A link that stays inside the root is fine.
	if err := os.Symlink("ok.JPEG", filepath.Join(b.Dir(), "in", "link-in")); err != nil {
		t.Fatal(err)
	}
	if got, _, err := store.Read(context.Background(), "in/link-in", nil); err != nil || string(got) != "ok" {
		t.Errorf(`Read("in/link-in") = %q, %v; want "ok", nil`, got, err)
	}
}

func TestOpenErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o644)
	for _, dir := range []string{filepath.Join(t.TempDir(), "missing"), file} {
		if _, err := local.Open(dir); err == nil {
			t.Errorf("Open(%q) succeeded, want an error", dir)
		}
	}
}

// TestListTrace checks that a listing of a large folder reports its
// progress every 1,000 files to the trace in its context.
func TestListTrace(t *testing.T) {
	tests := []struct {
		name  string
		files int
		want  []int
	}{
		{"fewer than a step", 999, nil},
		{"one step", 1000, []int{1000}},
		{"two steps and more", 2500, []int{1000, 2000}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			objs := make(map[string][]byte, tc.files)
			for i := range tc.files {
				objs[fmt.Sprintf("d%d/%05d", i%7, i)] = nil
			}
			store := dataset.NewStore(newBackend(t, objs))
			var found []int
			ctx := dataset.WithListTrace(t.Context(), &dataset.ListTrace{Found: func(n int) { found = append(found, n) }})
			entries, err := store.List(ctx, "")
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != tc.files {
				t.Errorf("listed %d files, want %d", len(entries), tc.files)
			}
			if !slices.Equal(found, tc.want) {
				t.Errorf("reported %v found, want %v", found, tc.want)
			}
		})
	}
}
