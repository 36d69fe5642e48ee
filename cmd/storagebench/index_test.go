package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/storagebench/storagebench/dataset"
	"github.com/storagebench/storagebench/dataset/s3blob"
	"github.com/storagebench/storagebench/fakes"
	"github.com/storagebench/storagebench/fakes/fakestest"
)

// TestGenThenIndex checks that indexing what gen wrote gives back the
// keys of the index gen wrote, in order, for a folder and for fake S3.
func TestGenThenIndex(t *testing.T) {
	hermeticAWS(t)
	srv := fakestest.NewS3(t, fakes.S3Options{Buckets: []string{"data"}})
	cfg := writeS3Config(t, srv.Config("data"))
	for _, tc := range []struct {
		name string
		src  func(t *testing.T) string
		// readIndex returns the index.json that gen wrote to src.
		readIndex func(t *testing.T, src string) dataset.Index
	}{
		{
			name: "folder",
			src:  func(t *testing.T) string { return filepath.Join(t.TempDir(), "ds") },
			readIndex: func(t *testing.T, src string) dataset.Index {
				idx, err := dataset.LoadIndex(filepath.Join(src, dataset.IndexKey))
				if err != nil {
					t.Fatal(err)
				}
				return idx
			},
		},
		{
			name: "fake s3",
			src:  func(t *testing.T) string { return "s3://data/" + t.Name() },
			readIndex: func(t *testing.T, src string) dataset.Index {
				idx, err := s3blob.FetchIndex(t.Context(), srv.Client, src+"/"+dataset.IndexKey, "")
				if err != nil {
					t.Fatal(err)
				}
				return idx
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := tc.src(t)
			if _, stderr, err := runArgs(t, t.Context(), "gen", "-n", "20", "-seed", "3", "-s3-config", cfg, src); err != nil {
				t.Fatalf("gen %s: %v\nstderr:\n%s", src, err, stderr)
			}
			want := tc.readIndex(t, src)
			if len(want) != 20 {
				t.Fatalf("gen wrote an index of %d keys, want 20", len(want))
			}
			out := filepath.Join(t.TempDir(), "index.json")
			for _, args := range [][]string{
				{"index", "-s3-config", cfg, "-o", out, src},
				{"index", src, "-suffix", ".JPEG", "-o", out, "-s3-config", cfg},
				{"index", "-s3-config", cfg, src, "-o", out},
			} {
				os.Remove(out)
				stdout, stderr, err := runArgs(t, t.Context(), args...)
				if err != nil {
					t.Fatalf("run(%q): %v\nstderr:\n%s", args, err, stderr)
				}
				if !strings.Contains(stdout, "indexed 20 keys") {
					t.Errorf("run(%q) printed %q, want a summary of 20 keys", args, stdout)
				}
				got, err := dataset.LoadIndex(out)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("run(%q) index mismatch (-gen's +index's):\n%s", args, diff)
				}
			}

			// Without -o, the index goes to stdout and nothing else does.
			args := []string{"index", src, "-s3-config", cfg}
			stdout, stderr, err := runArgs(t, t.Context(), args...)
			if err != nil {
				t.Fatalf("run(%q): %v\nstderr:\n%s", args, err, stderr)
			}
			got, err := dataset.ParseIndex("stdout", []byte(stdout))
			if err != nil {
				t.Fatalf("run(%q) printed no index: %v", args, err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("run(%q) index mismatch (-gen's +index's):\n%s", args, diff)
			}
		})
	}
}

// TestSelectKeys checks which listed keys make it into an index.
func TestSelectKeys(t *testing.T) {
	entries := []dataset.Entry{
		{Key: ""}, {Key: "val/"}, {Key: "val/b.JPEG"}, {Key: "val/a.JPEG"}, {Key: "index.json"},
		{Key: "val/index.json"}, {Key: "val/c.jpg"}, {Key: "notes.txt"}, {Key: "index.json.JPEG"},
	}
	for _, tc := range []struct {
		suffix string
		want   dataset.Index
	}{
		{".JPEG", dataset.Index{"index.json.JPEG", "val/a.JPEG", "val/b.JPEG"}},
		{".jpg", dataset.Index{"val/c.jpg"}},
		{"", dataset.Index{"index.json.JPEG", "notes.txt", "val/a.JPEG", "val/b.JPEG", "val/c.jpg"}},
		{".png", nil},
	} {
		t.Run("suffix="+tc.suffix, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, selectKeys(entries, tc.suffix)); diff != "" {
				t.Errorf("selectKeys(entries, %q) mismatch (-want +got):\n%s", tc.suffix, diff)
			}
		})
	}
}

// TestIndexSuffix checks -suffix on a folder through the command.
func TestIndexSuffix(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{
		"b.JPEG", "a.JPEG", "x.jpg", "notes.txt", "index.json",
		"sub/c.JPEG", "sub/index.json", "sub/deeper/d.jpg", "JPEG",
	} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(name), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name string
		args []string
		want dataset.Index
	}{
		{name: "default", args: []string{"index", dir}, want: dataset.Index{"a.JPEG", "b.JPEG", "sub/c.JPEG"}},
		{name: "jpg", args: []string{"index", "-suffix", ".jpg", dir}, want: dataset.Index{"sub/deeper/d.jpg", "x.jpg"}},
		{name: "all", args: []string{"index", dir, "-suffix", ""}, want: dataset.Index{"JPEG", "a.JPEG", "b.JPEG", "notes.txt", "sub/c.JPEG", "sub/deeper/d.jpg", "x.jpg"}},
		{name: "json", args: []string{"index", dir, "-suffix=.json"}, want: nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, _, err := runArgs(t, t.Context(), tc.args...)
			if tc.want == nil {
				if err == nil {
					t.Fatalf("run(%q) = nil, want an error for an empty index; stdout:\n%s", tc.args, stdout)
				}
				return
			}
			if err != nil {
				t.Fatalf("run(%q): %v", tc.args, err)
			}
			got, err := dataset.ParseIndex("stdout", []byte(stdout))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("run(%q) mismatch (-want +got):\n%s", tc.args, diff)
			}
		})
	}
}

// TestIndexErrors checks that index fails fast, naming what is wrong.
func TestIndexErrors(t *testing.T) {
	hermeticAWS(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.MkdirAll(filepath.Join(empty, "val"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(empty, "val", "x.png"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := fakestest.NewS3(t, fakes.S3Options{Buckets: []string{"data"}})
	vars := map[string]string{
		"DIR":         dir,
		"FILE":        file,
		"EMPTY":       empty,
		"FAKE":        writeS3Config(t, srv.Config("data")),
		"UNREACHABLE": writeS3Config(t, s3blob.Config{Bucket: "data", EndpointURL: closedEndpoint(t)}),
		"REFUSED":     writeS3Config(t, s3blob.Config{Bucket: "data", EndpointURL: refusingS3(t)}),
		"NOCONFIG":    filepath.Join(dir, "missing.json"),
	}
	runErrorCases(t, vars, []errorCase{
		{name: "no SRC", args: []string{"index", "-o", "$DIR/x.json"}, inErr: []string{"missing SRC"}},
		{name: "two SRCs", args: []string{"index", "$EMPTY", "-o", "$DIR/x.json", "$DIR"}, inErr: []string{"want one SRC"}},
		{name: "unknown flag", args: []string{"index", "$EMPTY", "-bogus"}, inErr: []string{"-bogus"}},
		{name: "missing folder", args: []string{"index", "$DIR/nope"}, inErr: []string{"$DIR/nope", "no such folder"}},
		{name: "SRC is a file", args: []string{"index", "$FILE"}, inErr: []string{"$FILE", "is a file, not a folder"}},
		{name: "nothing to index", args: []string{"index", "$EMPTY"}, inErr: []string{"no keys ending in .JPEG under $EMPTY"}},
		{name: "nothing with suffix", args: []string{"index", "-suffix", ".jpg", "$EMPTY"}, inErr: []string{"no keys ending in .jpg under $EMPTY"}},
		{name: "-o in a missing folder", args: []string{"index", "-suffix", "", "$EMPTY", "-o", "$DIR/nope/x.json"}, inErr: []string{"$DIR/nope/x.json"}},
		{name: "bad s3 URL", args: []string{"index", "s3://"}, inErr: []string{`"s3://"`, "bad S3 URL"}},
		{name: "missing config", args: []string{"index", "-s3-config", "$NOCONFIG", "s3://data/x"}, inErr: []string{"$NOCONFIG"}},
		{name: "empty bucket", args: []string{"index", "-s3-config", "$FAKE", "s3://data/x"}, inErr: []string{"no keys ending in .JPEG under s3://data/x"}},
		{name: "no such bucket", args: []string{"index", "-s3-config", "$FAKE", "s3://nosuchbucket"}, inErr: []string{"s3://nosuchbucket", "NoSuchBucket"}},
		{name: "unreachable endpoint", args: []string{"index", "-s3-config", "$UNREACHABLE", "s3://data/x"}, inErr: []string{"s3://data/x", "connection refused"}},
		{name: "refused credentials", args: []string{"index", "-s3-config", "$REFUSED", "s3://data/x"}, inErr: []string{"s3://data/x", "InvalidAccessKeyId"}},
	})
}
