package fakes

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// linkLimit returns a link function that refuses, with EMLINK, a link to
// a file that already has max links besides itself, as ext4 does at
// 65,000.
func linkLimit(max int) func(*os.Root, string, string) error {
	var mu sync.Mutex
	links := map[string]int{}
	return func(r *os.Root, oldname, newname string) error {
		mu.Lock()
		defer mu.Unlock()
		if links[oldname] == max {
			return &os.LinkError{Op: "link", Old: oldname, New: newname, Err: syscall.EMLINK}
		}
		links[oldname]++
		return r.Link(oldname, newname)
	}
}

// failLink returns a link function that fails with err.
func failLink(err syscall.Errno) func(*os.Root, string, string) error {
	return func(_ *os.Root, oldname, newname string) error {
		return &os.LinkError{Op: "link", Old: oldname, New: newname, Err: err}
	}
}

func TestSynthWriteFolder(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		s         Synth
		link      func(*os.Root, string, string) error
		wantFiles int    // files holding a body
		wantErr   string // in the error, "" for none
	}{
		{"links", Synth{N: 100, Seed: 1, Bodies: 7}, (*os.Root).Link, 7, ""},
		{"every body its own", Synth{N: 10, Seed: 1}, (*os.Root).Link, 10, ""},
		{"nested prefix", Synth{N: 30, Seed: 1, Bodies: 4, Prefix: "a/b/x-"}, (*os.Root).Link, 4, ""},
		{"no folder", Synth{N: 30, Seed: 1, Bodies: 4, Prefix: "flat-"}, (*os.Root).Link, 4, ""},
		// Items 7 to 34 link to bodies 0 to 6 (four links each, the
		// limit); items 35 to 41 are copies of them, and item 42 links
		// to item 35.
		{"too many links", Synth{N: 43, Seed: 1, Bodies: 7}, linkLimit(4), 14, ""},
		{"links unsupported", Synth{N: 20, Seed: 1, Bodies: 7}, failLink(syscall.EPERM), 20, ""},
		{"links not supported", Synth{N: 20, Seed: 1, Bodies: 7}, failLink(syscall.EOPNOTSUPP), 20, ""},
		{"link fails", Synth{N: 20, Seed: 1, Bodies: 7}, failLink(syscall.EIO), 7, "link val/ILSVRC2012_val_00000008.JPEG to val/ILSVRC2012_val_00000001.JPEG"},
		// WriteFiles: every item a copy of its body, a file of its own.
		{"distinct files", Synth{N: 50, Seed: 1, Bodies: 7}, nil, 50, ""},
		{"escapes the folder", Synth{N: 3, Seed: 1, Prefix: "../"}, (*os.Root).Link, 0, "write folder"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			files, err := tc.s.writeFolder(t.Context(), dir, synthBodies(t, tc.s), tc.link)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("WriteFolder error = %v, want one containing %q", err, tc.wantErr)
				}
				if files != tc.wantFiles {
					t.Errorf("WriteFolder wrote %d files before failing, want %d", files, tc.wantFiles)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if files != tc.wantFiles {
				t.Errorf("WriteFolder wrote %d files, want %d", files, tc.wantFiles)
			}
			checkFolder(t, dir, tc.s, files)
		})
	}
}

// checkFolder checks that dir holds the items of s, in exactly files
// distinct files, each item's file sharing the one of its body's first
// item when it is not a file of its own.
func checkFolder(t *testing.T, dir string, s Synth, files int) {
	t.Helper()
	var stats []os.FileInfo // distinct files
	k := s.numBodies()
	for i := range s.N {
		p := filepath.Join(dir, filepath.FromSlash(s.Key(i)))
		got, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, s.Item(i)) {
			t.Fatalf("%s holds %d bytes, want the %d of Item(%d)", p, len(got), s.Size(i), i)
		}
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		seen := false
		for _, o := range stats {
			seen = seen || os.SameFile(fi, o)
		}
		if !seen {
			stats = append(stats, fi)
		}
		if i >= k && files == k {
			first, err := os.Stat(filepath.Join(dir, filepath.FromSlash(s.Key(i%k))))
			if err != nil {
				t.Fatal(err)
			}
			if !os.SameFile(fi, first) {
				t.Errorf("%s is not a link to the file of %s", s.Key(i), s.Key(i%k))
			}
		}
	}
	if len(stats) != files {
		t.Errorf("%d distinct files hold the items, want %d", len(stats), files)
	}
}

func TestSynthWriteFolderErrors(t *testing.T) {
	t.Parallel()
	s := Synth{N: 20, Seed: 1, Bodies: 3}
	bodies := synthBodies(t, s)
	taken := t.TempDir() // a folder that already holds an item's file
	if err := os.MkdirAll(filepath.Join(taken, "val"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(taken, "val", "ILSVRC2012_val_00000012.JPEG"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	tests := []struct {
		name    string
		call    func() error
		wantErr string
	}{
		{"missing folder", func() error {
			_, err := s.WriteFolder(t.Context(), filepath.Join(t.TempDir(), "missing"), bodies)
			return err
		}, "missing"},
		{"wrong bodies", func() error { _, err := s.WriteFolder(t.Context(), t.TempDir(), bodies[:1]); return err }, "bodies"},
		{"file already there", func() error { _, err := s.WriteFolder(t.Context(), taken, bodies); return err }, "ILSVRC2012_val_00000012.JPEG"},
		{"canceled", func() error { _, err := s.WriteFolder(canceled, t.TempDir(), bodies); return err }, "context canceled"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("WriteFolder error = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
	if _, err := s.WriteFolder(t.Context(), taken, bodies); !errors.Is(err, os.ErrExist) {
		t.Errorf("WriteFolder over an item's file: error = %v, want one wrapping os.ErrExist", err)
	}
}
