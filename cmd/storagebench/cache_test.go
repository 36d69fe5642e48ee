package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestCache warms and drops a folder of files, one of them hard-linked,
// and checks the fraction the command prints after each.
func TestCache(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("page cache residency is measured on Linux only")
	}
	dir := t.TempDir()
	for _, name := range []string{"a.bin", "sub/b.bin"} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, bytes.Repeat([]byte("x"), 200000), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Link(filepath.Join(dir, "a.bin"), filepath.Join(dir, "link.bin")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		flag, want string
	}{
		{"-warm", "cache-resident-fraction 1.0000"},
		{"-drop", "cache-resident-fraction 0.0000"},
		{"-warm", "3 files, 0.6 MB in pages; the page cache holds 0.6 MB"},
	} {
		var stdout, stderr bytes.Buffer
		if err := run(context.Background(), &stdout, &stderr, []string{"cache", tc.flag, dir}); err != nil {
			t.Fatalf("cache %s: %v\n%s", tc.flag, err, stderr.String())
		}
		if !strings.Contains(stdout.String(), tc.want) {
			t.Errorf("cache %s printed %q, want %q in it", tc.flag, stdout.String(), tc.want)
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"cache", "-drop", "-warm", dir}, "-drop and -warm: give one"},
		{[]string{"cache", filepath.Join(dir, "missing")}, "missing"},
		{[]string{"cache"}, "missing DIR argument"},
	} {
		var stdout, stderr bytes.Buffer
		if err := run(context.Background(), &stdout, &stderr, tc.args); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want an error containing %q", tc.args, err, tc.want)
		}
	}
}
