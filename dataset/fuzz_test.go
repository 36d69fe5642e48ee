package dataset_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/storagebench/storagebench/dataset"
)

// FuzzParseIndex checks, for any input, that ParseIndex either returns
// what encoding/json decodes from it, made of keys that follow the rules
// of [dataset.Index] and that survive WriteIndex and ParseIndex unchanged;
// or fails with an *IndexError that wraps one of the index problems, names
// the input and a line and column within it, names an entry exactly when
// it says "entry N", and is short and free of control characters whatever
// the input holds.
func FuzzParseIndex(f *testing.F) {
	for _, in := range []string{
		"[\n  \"scratch/imagenet/val/ILSVRC2012_val_00000001.JPEG\",\n  \"scratch/imagenet/val/ILSVRC2012_val_00000002.JPEG\",\n  \"with space/ä.JPEG\"\n]\n",
		`["a"]`,
		`["a\u00e4\/b", "\ud83d\ude00", "\ud800", "\"quoted\" \\ \u2028"]`,
		`["tab\there"]`,
		"[\"bad UTF-8 \xff\xfe\", \"DEL \x7f\"]",
		`["a", "b"`,
		`hello`,
		``,
		`{"keys": ["a"]}`,
		`  "a"`,
		"[\n  \"a\",\n  42\n]",
		`["a", null]`,
		`["a", ["b"]]`,
		"[\n\"a\",\n\"\"]",
		"[\"a\",\n \"b\",\n \"a\"]",
		`[ ]`,
		`["a"] ["b"]`,
		`["a",]`,
		`["val/a\u0000b.JPEG"]`,
		`["val/a\nb.JPEG"]`,
		"[\"val/a\nb.JPEG\"]",
		`["\u001b[31mred"]`,
		`["next line \u0085"]`,
		`["` + strings.Repeat("a", 1024) + `"]`,
		`["` + strings.Repeat("a", 1025) + `"]`,
		`["` + strings.Repeat("é", 600) + `"]`,
		`["` + strings.Repeat(`\u0000`, 300) + `"]`,
		`"` + strings.Repeat("x", 2000) + `"`,
		`["a", ` + strings.Repeat("9", 2000) + `]`,
	} {
		f.Add([]byte(in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		const name = "fuzz/index.json"
		idx, err := dataset.ParseIndex(name, data)
		if err != nil {
			checkIndexError(t, name, data, err)
			return
		}
		var want []string
		if err := json.Unmarshal(data, &want); err != nil || !slices.Equal(idx, want) {
			t.Fatalf("ParseIndex(%q) = %q, but json.Unmarshal gives %q, %v", data, idx, want, err)
		}
		if len(idx) == 0 {
			t.Fatalf("ParseIndex(%q) = an empty index", data)
		}
		seen := make(map[string]int, len(idx))
		for i, key := range idx {
			if problem := keyProblem(key); problem != "" {
				t.Fatalf("ParseIndex(%q) entry %d = %q, a key %s", data, i, key, problem)
			}
			if first, dup := seen[key]; dup {
				t.Fatalf("ParseIndex(%q) entries %d and %d are both %q", data, first, i, key)
			}
			seen[key] = i
		}
		var buf bytes.Buffer
		if err := dataset.WriteIndex(&buf, idx); err != nil {
			t.Fatalf("WriteIndex(%q) = %v", idx, err)
		}
		if again, err := dataset.ParseIndex(name, buf.Bytes()); err != nil || !slices.Equal(again, idx) {
			t.Fatalf("ParseIndex(WriteIndex(%q)) = %q, %v; want it unchanged", idx, again, err)
		}
	})
}

// keyProblem states what breaks the rules of [dataset.Index] in key, a
// valid UTF-8 string, or returns "".
func keyProblem(key string) string {
	switch {
	case key == "":
		return "that is empty"
	case len(key) > 1024:
		return fmt.Sprintf("of %d bytes, longer than S3's limit", len(key))
	case strings.ContainsFunc(key, unicode.IsControl):
		return "with a control character"
	}
	return ""
}

// indexProblems are the problems an *IndexError wraps.
var indexProblems = []error{
	dataset.ErrIndexSyntax, dataset.ErrIndexNotArray, dataset.ErrIndexEntryType,
	dataset.ErrIndexEmptyKey, dataset.ErrIndexDuplicate, dataset.ErrIndexEmpty,
	dataset.ErrIndexLongKey, dataset.ErrIndexControl,
}

// maxIndexError bounds the length of an index error past the name of the
// input: the prefix, the problem, and a key quoted on at most 64 bytes,
// which %q may make four times as long.
const maxIndexError = 512

// checkIndexError checks err, the error ParseIndex returned for data,
// which it parsed under name.
func checkIndexError(t *testing.T, name string, data []byte, err error) {
	t.Helper()
	var ie *dataset.IndexError
	if !errors.As(err, &ie) {
		t.Fatalf("ParseIndex(%q) error %T %v, want *IndexError", data, err, err)
	}
	if !slices.ContainsFunc(indexProblems, func(p error) bool { return errors.Is(err, p) }) {
		t.Fatalf("ParseIndex(%q) error %v wraps none of the index problems", data, err)
	}
	msg := err.Error()
	prefix := fmt.Sprintf("%s:%d:%d: ", name, ie.Line, ie.Col)
	if ie.File != name || !strings.HasPrefix(msg, prefix) {
		t.Fatalf("ParseIndex(%q) error %q in file %q, want it to start with %q", data, msg, ie.File, name+":line:col: ")
	}
	lines := bytes.Split(data, []byte("\n"))
	if ie.Line < 1 || ie.Line > len(lines) || ie.Col < 1 || ie.Col > len(lines[ie.Line-1])+1 {
		t.Fatalf("ParseIndex(%q) error %q names %d:%d, outside the input", data, msg, ie.Line, ie.Col)
	}
	entry := fmt.Sprintf("entry %d: ", ie.Entry)
	if hasEntry := strings.HasPrefix(msg[len(prefix):], "entry "); hasEntry != (ie.Entry >= 0) || hasEntry && !strings.HasPrefix(msg[len(prefix):], entry) {
		t.Fatalf("ParseIndex(%q) error %q for entry %d: want %q after the position exactly when the entry is not -1", data, msg, ie.Entry, entry)
	}
	if len(msg)-len(name) > maxIndexError {
		t.Fatalf("ParseIndex(%q) error is %d bytes long past the name, want at most %d: %q", data, len(msg)-len(name), maxIndexError, msg)
	}
	if !utf8.ValidString(msg) || strings.ContainsFunc(msg, unicode.IsControl) {
		t.Fatalf("ParseIndex(%q) error %q holds invalid UTF-8 or a control character", data, msg)
	}
}
