package local_test

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/storagebench/storagebench/dataset"
)

// TestErrorKind checks that the backend's failures map to their kinds,
// from real operations on a folder and from errors of the file system
// that a test cannot provoke.
func TestErrorKind(t *testing.T) {
	b := newBackend(t, map[string][]byte{"in/ok.JPEG": []byte("ok"), "locked/file": []byte("x")})
	outside := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(outside, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(b.Dir(), "in", "link-out")); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(b.Dir(), "locked", "file"), 0); err != nil {
		t.Fatal(err)
	}
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	open := func(ctx context.Context, key string) func() error {
		return func() error {
			rc, _, err := b.Open(ctx, key)
			if err == nil {
				rc.Close()
			}
			return err
		}
	}
	given := func(err error) func() error { return func() error { return err } }
	openRange := func(key string, off int64) func() error {
		return func() error {
			rc, _, err := b.OpenRange(context.Background(), key, off, -1)
			if err == nil {
				rc.Close()
			}
			return err
		}
	}
	for _, tc := range []struct {
		name   string
		err    func() error
		want   dataset.ErrorKind
		noRoot bool // root reads any file: skip
	}{
		{"missing file", open(context.Background(), "in/missing.JPEG"), dataset.KindNotFound, false},
		{"missing folder", open(context.Background(), "nowhere/x"), dataset.KindNotFound, false},
		{"key through a file", open(context.Background(), "in/ok.JPEG/x"), dataset.KindNotFound, false},
		{"folder", open(context.Background(), "in"), dataset.KindNotFound, false},
		{"invalid key", open(context.Background(), "../secret"), dataset.KindPermanent, false},
		{"range past the end", openRange("in/ok.JPEG", 3), dataset.KindPermanent, false},
		{"range of a missing file", openRange("in/missing.JPEG", 0), dataset.KindNotFound, false},
		{"link out of the folder", open(context.Background(), "in/link-out"), dataset.KindPermanent, false},
		{"name too long", open(context.Background(), "in/"+strings.Repeat("n", 300)), dataset.KindPermanent, false},
		{"unreadable file", open(context.Background(), "locked/file"), dataset.KindPermanent, true},
		{"context ended", open(canceled, "in/ok.JPEG"), dataset.KindCanceled, false},
		{"permission", given(&fs.PathError{Op: "open", Path: "k", Err: fs.ErrPermission}), dataset.KindPermanent, false},
		{"read-only file system", given(&fs.PathError{Op: "open", Path: "k", Err: syscall.EROFS}), dataset.KindPermanent, false},
		{"I/O error", given(&fs.PathError{Op: "read", Path: "k", Err: syscall.EIO}), dataset.KindTransient, false},
		{"out of files", given(&fs.PathError{Op: "open", Path: "k", Err: syscall.EMFILE}), dataset.KindTransient, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.noRoot && os.Geteuid() == 0 {
				t.Skip("root may read any file")
			}
			err := tc.err()
			if err == nil {
				t.Fatal("no error")
			}
			if got := b.ErrorKind(err); got != tc.want {
				t.Errorf("ErrorKind(%v) = %v, want %v", err, got, tc.want)
			}
		})
	}
	// Through a store: a missing file is not retried, and its kind stays on
	// the error.
	_, tm, err := dataset.NewStore(b).Read(context.Background(), "in/missing.JPEG", nil)
	if got := dataset.KindOf(err); got != dataset.KindNotFound || tm.Attempts != 1 {
		t.Errorf("Store.Read(missing) = %v after %d attempts: kind %v, want %v after 1", err, tm.Attempts, got, dataset.KindNotFound)
	}
}
