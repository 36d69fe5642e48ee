package dataset_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/storagebench/storagebench/dataset"
)

func TestParseIndex(t *testing.T) {
	idx, err := dataset.ParseIndex("index.json", []byte(`[
  "scratch/imagenet/val/ILSVRC2012_val_00000001.JPEG",
  "scratch/imagenet/val/ILSVRC2012_val_00000002.JPEG",
  "with space/ä.JPEG"
]
`))
	if err != nil {
		t.Fatal(err)
	}
	want := dataset.Index{
		"scratch/imagenet/val/ILSVRC2012_val_00000001.JPEG",
		"scratch/imagenet/val/ILSVRC2012_val_00000002.JPEG",
		"with space/ä.JPEG",
	}
	if diff := cmp.Diff(want, idx); diff != "" {
		t.Errorf("ParseIndex mismatch (-want +got):\n%s", diff)
	}
}

func TestParseIndexErrors(t *testing.T) {
	for _, tc := range []struct {
		name      string
		in        string
		want      error
		entry     int
		line, col int
	}{
		{"not JSON", `["a", "b"`, dataset.ErrIndexSyntax, 2, 1, 10},
		{"garbage", `hello`, dataset.ErrIndexSyntax, -1, 1, 1},
		{"empty file", ``, dataset.ErrIndexSyntax, -1, 1, 1},
		{"object", `{"keys": ["a"]}`, dataset.ErrIndexNotArray, -1, 1, 1},
		{"string", `  "a"`, dataset.ErrIndexNotArray, -1, 1, 3},
		{"number entry", "[\n  \"a\",\n  42\n]", dataset.ErrIndexEntryType, 1, 3, 3},
		{"null entry", `["a", null]`, dataset.ErrIndexEntryType, 1, 1, 7},
		{"nested array", `["a", ["b"]]`, dataset.ErrIndexEntryType, 1, 1, 7},
		{"empty key", "[\n\"a\",\n\"\"]", dataset.ErrIndexEmptyKey, 1, 3, 1},
		{"duplicate", "[\"a\",\n \"b\",\n \"a\"]", dataset.ErrIndexDuplicate, 2, 3, 2},
		{"empty index", `[ ]`, dataset.ErrIndexEmpty, -1, 1, 1},
		{"trailing data", `["a"] ["b"]`, dataset.ErrIndexSyntax, -1, 1, 7},
		{"trailing comma", `["a",]`, dataset.ErrIndexSyntax, 1, 1, 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			idx, err := dataset.ParseIndex("dir/index.json", []byte(tc.in))
			if !errors.Is(err, tc.want) {
				t.Fatalf("ParseIndex(%q) = %q, %v; want %v", tc.in, idx, err, tc.want)
			}
			var ie *dataset.IndexError
			if !errors.As(err, &ie) {
				t.Fatalf("ParseIndex(%q) error %T, want *IndexError", tc.in, err)
			}
			got := [3]int{ie.Entry, ie.Line, ie.Col}
			if want := [3]int{tc.entry, tc.line, tc.col}; got != want || ie.File != "dir/index.json" {
				t.Errorf("ParseIndex(%q) error at file %q entry,line,col %v; want %q %v (error: %v)", tc.in, ie.File, got, "dir/index.json", want, err)
			}
		})
	}
}

func TestLoadIndex(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "index.json")
	want := dataset.Index{"b/1.JPEG", "a/2.JPEG", "c d/é.JPEG"}
	var buf bytes.Buffer
	if err := dataset.WriteIndex(&buf, want); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := dataset.LoadIndex(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("LoadIndex after WriteIndex mismatch (-want +got):\n%s", diff)
	}
	if _, err := dataset.LoadIndex(filepath.Join(dir, "missing.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("LoadIndex(missing) error = %v, want ErrNotExist", err)
	}
	os.WriteFile(path, []byte(`["x", 1]`), 0o644)
	if _, err := dataset.LoadIndex(path); err == nil || !bytes.Contains([]byte(err.Error()), []byte(path+":1:7: entry 1:")) {
		t.Errorf("LoadIndex(bad) error = %v, want it to name %s:1:7 and entry 1", err, path)
	}
}

func TestPosition(t *testing.T) {
	data := []byte("ab\ncd\n\nä=")
	for _, tc := range []struct {
		off       int64
		line, col int
	}{
		{0, 1, 1},
		{2, 1, 3}, // the newline ends line 1
		{3, 2, 1},
		{6, 3, 1},
		{7, 4, 1},
		{9, 4, 3}, // columns count bytes: ä is two
		{10, 4, 4},
		{99, 4, 4}, // past the end: the end
		{-1, 1, 1},
	} {
		if line, col := dataset.Position(data, tc.off); line != tc.line || col != tc.col {
			t.Errorf("Position(%q, %d) = %d:%d, want %d:%d", data, tc.off, line, col, tc.line, tc.col)
		}
	}
}

func TestJSONErrorOffset(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		off  int64
		ok   bool
	}{
		{"bad character", `{"a": x}`, 6, true},
		{"bad character after a separator", `{"a": 1,}`, 8, true},
		{"wrong type", `{"a": 12345}`, 11, true}, // just past the value
		{"ends early", `{"a": `, 6, true},
		{"empty", ``, 0, true},
		{"no position", `{"b": 1}`, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var v struct{ A string }
			dec := json.NewDecoder(strings.NewReader(tc.in))
			dec.DisallowUnknownFields()
			err := dec.Decode(&v)
			if err == nil {
				t.Fatalf("Decode(%q) = nil, want an error", tc.in)
			}
			off, ok := dataset.JSONErrorOffset([]byte(tc.in), err)
			if off != tc.off || ok != tc.ok {
				t.Errorf("JSONErrorOffset(%q, %v) = %d, %v; want %d, %v", tc.in, err, off, ok, tc.off, tc.ok)
			}
		})
	}
}
