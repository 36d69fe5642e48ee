package main

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestParseInterspersed checks flags before, between and after positional
// arguments.
func TestParseInterspersed(t *testing.T) {
	type flags struct {
		Suffix, Out string
		N           int
		V           bool
	}
	for _, tc := range []struct {
		name      string
		args      []string
		wantPos   []string
		wantFlags flags
		wantErr   bool
	}{
		{name: "none", args: nil, wantFlags: flags{Suffix: ".JPEG"}},
		{name: "flags only", args: []string{"-o", "x.json", "-n", "3"}, wantFlags: flags{Suffix: ".JPEG", Out: "x.json", N: 3}},
		{name: "flags before", args: []string{"-o", "x.json", "/data"}, wantPos: []string{"/data"}, wantFlags: flags{Suffix: ".JPEG", Out: "x.json"}},
		{name: "flags after", args: []string{"/data", "-suffix", ".jpg", "-o", "x.json"}, wantPos: []string{"/data"}, wantFlags: flags{Suffix: ".jpg", Out: "x.json"}},
		{name: "flags around", args: []string{"-n=2", "/data", "-v", "-suffix="}, wantPos: []string{"/data"}, wantFlags: flags{N: 2, V: true}},
		{name: "several positional", args: []string{"a", "-v", "b", "c", "-n", "1"}, wantPos: []string{"a", "b", "c"}, wantFlags: flags{Suffix: ".JPEG", N: 1, V: true}},
		{name: "dash alone is positional", args: []string{"-", "-v"}, wantPos: []string{"-"}, wantFlags: flags{Suffix: ".JPEG", V: true}},
		{name: "double dash", args: []string{"-v", "--", "-odd", "-n", "4"}, wantPos: []string{"-odd"}, wantFlags: flags{Suffix: ".JPEG", N: 4, V: true}},
		{name: "last value wins", args: []string{"-n", "1", "x", "-n", "2"}, wantPos: []string{"x"}, wantFlags: flags{Suffix: ".JPEG", N: 2}},
		{name: "unknown flag after", args: []string{"x", "-bogus"}, wantErr: true},
		{name: "missing value after", args: []string{"x", "-o"}, wantErr: true},
		{name: "bad value before", args: []string{"-n", "many", "x"}, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			var got flags
			fs.StringVar(&got.Suffix, "suffix", ".JPEG", "")
			fs.StringVar(&got.Out, "o", "", "")
			fs.IntVar(&got.N, "n", 0, "")
			fs.BoolVar(&got.V, "v", false, "")
			pos, err := parseInterspersed(fs, tc.args)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("parseInterspersed(%q) = %q, nil; want an error", tc.args, pos)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseInterspersed(%q): %v", tc.args, err)
			}
			if diff := cmp.Diff(tc.wantPos, pos); diff != "" {
				t.Errorf("parseInterspersed(%q) positional mismatch (-want +got):\n%s", tc.args, diff)
			}
			if diff := cmp.Diff(tc.wantFlags, got); diff != "" {
				t.Errorf("parseInterspersed(%q) flags mismatch (-want +got):\n%s", tc.args, diff)
			}
		})
	}
}

// TestWriteFileAtomic checks that writeFileAtomic creates and replaces a
// file with the permissions asked for, leaving no temporary file beside it,
// and fails, naming the folder, when the folder is missing.
func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "out.json")
	for _, data := range []string{"first", "second, longer"} {
		if err := writeFileAtomic(name, []byte(data), 0o600); err != nil {
			t.Fatalf("writeFileAtomic(%q): %v", data, err)
		}
		got, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != data {
			t.Errorf("after writeFileAtomic(%q), the file holds %q", data, got)
		}
	}
	if fi, err := os.Stat(name); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("os.Stat(%s) = %v, %v; want mode %v", name, fi.Mode(), err, os.FileMode(0o600))
	}
	if entries, err := os.ReadDir(dir); err != nil || len(entries) != 1 {
		t.Errorf("the folder holds %v (%v), want only out.json", entries, err)
	}
	missing := filepath.Join(dir, "no", "such", "out.json")
	if err := writeFileAtomic(missing, []byte("x"), 0o600); err == nil || !strings.Contains(err.Error(), filepath.Dir(missing)) {
		t.Errorf("writeFileAtomic into a missing folder = %v, want an error naming %s", err, filepath.Dir(missing))
	}
}
