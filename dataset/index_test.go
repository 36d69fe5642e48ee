package dataset_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

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
		{"bad character in a later key", "[\"a\", \"b\",\n  \"c\td\"]", dataset.ErrIndexSyntax, 2, 2, 5},
		{"newline in a later key", "[\"a\", \"b\",\n  \"c\nd\"]", dataset.ErrIndexSyntax, 2, 2, 5},
		{"bad character after later keys", "[\"a\", \"b\",\n  \"c\", x]", dataset.ErrIndexSyntax, 3, 2, 8},
		{"bad separator", "[\"a\", \"b\",\n  \"c\",,]", dataset.ErrIndexSyntax, 3, 2, 7},
		{"missing separator", "[\"a\", \"b\"\n  \"c\"]", dataset.ErrIndexSyntax, 2, 2, 3},
		{"missing separator, no space", "[\"a\", \"b\"\"c\"]", dataset.ErrIndexSyntax, 2, 1, 10},
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

// TestParseIndexHostileKeys checks that keys S3 or a terminal would
// mishandle are refused with an error that names the problem, the entry
// and its position, and quotes the key safely: escaped, and cut at 64
// bytes or so.
func TestParseIndexHostileKeys(t *testing.T) {
	long := strings.Repeat("a", 2000)
	for _, tc := range []struct {
		name string
		key  string // entry 17, as JSON, on line 19 from column 3
		want error
		msg  string // the error after "file:19:3: entry 17: "
	}{
		{"NUL", `"val/a\u0000b.JPEG"`, dataset.ErrIndexControl,
			`index entry holds a control character '\x00' at byte 5 of "val/a\x00b.JPEG"`},
		{"newline", `"val/a\nb.JPEG"`, dataset.ErrIndexControl,
			`index entry holds a control character '\n' at byte 5 of "val/a\nb.JPEG"`},
		{"carriage return at the end", `"val/a.JPEG\r"`, dataset.ErrIndexControl,
			`index entry holds a control character '\r' at byte 10 of "val/a.JPEG\r"`},
		{"terminal escape", `"\u001b[2Jval/a.JPEG"`, dataset.ErrIndexControl,
			`index entry holds a control character '\x1b' at byte 0 of "\x1b[2Jval/a.JPEG"`},
		{"DEL, unescaped", "\"val/\x7f.JPEG\"", dataset.ErrIndexControl,
			`index entry holds a control character '\x7f' at byte 4 of "val/\x7f.JPEG"`},
		{"C1 next line", `"val/ä\u0085.JPEG"`, dataset.ErrIndexControl,
			`index entry holds a control character '\u0085' at byte 6 of "val/ä\u0085.JPEG"`},
		{"1025 bytes", `"` + strings.Repeat("b", 1025) + `"`, dataset.ErrIndexLongKey,
			`index entry is longer than S3's limit of 1024 bytes: 1025 bytes, "` + strings.Repeat("b", 64) + `"...`},
		{"2000 bytes", `"` + long + `"`, dataset.ErrIndexLongKey,
			`index entry is longer than S3's limit of 1024 bytes: 2000 bytes, "` + long[:64] + `"...`},
		{"2000 bytes, cut before a character", `"` + long[:63] + strings.Repeat("é", 1000) + `"`, dataset.ErrIndexLongKey,
			`index entry is longer than S3's limit of 1024 bytes: 2063 bytes, "` + long[:63] + `"...`},
		{"2000 bytes of NUL", `"` + strings.Repeat(`\u0000`, 2000) + `"`, dataset.ErrIndexLongKey,
			`index entry is longer than S3's limit of 1024 bytes: 2000 bytes, "` + strings.Repeat(`\x00`, 64) + `"...`},
		{"control character past the quoted part", `"` + long[:100] + `\n"`, dataset.ErrIndexControl,
			`index entry holds a control character '\n' at byte 100 of "` + long[:64] + `"...`},
		{"long duplicate", `"` + long[:1000] + `"`, dataset.ErrIndexDuplicate,
			`index entry duplicates an earlier key: "` + long[:64] + `"... is also entry 16`},
		{"long number", strings.Repeat("7", 2000), dataset.ErrIndexEntryType,
			`index entry is not a string: found the number ` + strings.Repeat("7", 64) + `...`},
		{"long string in an array", `["` + long + `"]`, dataset.ErrIndexEntryType,
			`index entry is not a string: found an array`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var in strings.Builder
			in.WriteString("[\n")
			for i := range 16 {
				fmt.Fprintf(&in, "  \"val/n01440764/ILSVRC2012_val_%08d.JPEG\",\n", i+1)
			}
			fmt.Fprintf(&in, "  %q,\n  %s,\n  \"val/last.JPEG\"\n]\n", long[:1000], tc.key)
			_, err := dataset.ParseIndex("dir/index.json", []byte(in.String()))
			if !errors.Is(err, tc.want) {
				t.Fatalf("ParseIndex error = %v, want %v", err, tc.want)
			}
			if want := "dir/index.json:19:3: entry 17: " + tc.msg; err.Error() != want {
				t.Errorf("ParseIndex error\n got %s\nwant %s", err, want)
			}
			if len(err.Error()) > 400 {
				t.Errorf("ParseIndex error is %d bytes long, want at most 400", len(err.Error()))
			}
		})
	}
}

// TestParseIndexLimits checks that keys at the limits are accepted.
func TestParseIndexLimits(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     dataset.Index
	}{
		{"1024 bytes", `["` + strings.Repeat("a", 1024) + `"]`, dataset.Index{strings.Repeat("a", 1024)}},
		{"1024 bytes with an escape", `["` + strings.Repeat("a", 1023) + `\/"]`, dataset.Index{strings.Repeat("a", 1023) + "/"}},
		{"non-ASCII", `["ä/日本/😀", "\u00e4\ud83d\ude00"]`, dataset.Index{"ä/日本/😀", "ä😀"}},
		{"space and line separator", `["a b", "a\u2028b"]`, dataset.Index{"a b", "a\u2028b"}},
		{"invalid UTF-8, as encoding/json reads it", "[\"a\xffb\", \"\\ud800\"]", dataset.Index{"a\uFFFDb", "\uFFFD"}},
		{"white space everywhere", " \t\r\n[ \"a\" ,\r\n\"b\"\t] \n", dataset.Index{"a", "b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := dataset.ParseIndex("index.json", []byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ParseIndex mismatch (-want +got):\n%s", diff)
			}
			var viaJSON dataset.Index
			if err := json.Unmarshal([]byte(tc.in), &viaJSON); err != nil || !slices.Equal(got, viaJSON) {
				t.Errorf("ParseIndex = %q; json.Unmarshal = %q, %v", got, viaJSON, err)
			}
		})
	}
}

// TestLoadIndexMillion loads an index of 1,000,000 ImageNet-like keys, 48
// MB in the seed's format, in bounded time and memory. On 2 cores it takes
// about a second, three under the race detector, and grows the heap by 61
// MiB: the keys and the slice that holds them.
func TestLoadIndexMillion(t *testing.T) {
	const n = 1_000_000
	path := filepath.Join(t.TempDir(), "index.json")
	writeMillion(t, path, n)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	idx, err := dataset.LoadIndex(path)
	elapsed := time.Since(start)
	runtime.GC()
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	heap := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("%d keys, %d bytes: loaded in %v, heap grown by %.1f MiB", len(idx), st.Size(), elapsed, float64(heap)/(1<<20))
	if len(idx) != n {
		t.Fatalf("LoadIndex: %d keys, want %d", len(idx), n)
	}
	var key []byte
	for i, got := range idx {
		if key = millionKey(key[:0], i); got != string(key) {
			t.Fatalf("LoadIndex: entry %d = %q, want %q", i, got, key)
		}
	}
	if limit := 4*st.Size() + 32<<20; heap > limit {
		t.Errorf("LoadIndex grew the heap by %d bytes, want at most %d (4 times the file, plus 32 MiB)", heap, limit)
	}
	runtime.KeepAlive(idx)
	// A second try when the first is slow, so that a slow spell of a
	// shared machine does not fail the test; the race detector makes
	// loading about three times slower.
	const limit = 10 * time.Second
	if elapsed > limit {
		start := time.Now()
		_, err := dataset.LoadIndex(path)
		again := time.Since(start)
		t.Logf("loaded again in %v", again)
		if err != nil || again > limit {
			t.Errorf("LoadIndex took %v, then %v, %v; want under %v", elapsed, again, err, limit)
		}
	}
}

// writeMillion writes an index of the first n keys of [millionKey] to path,
// as WriteIndex would, but without holding n strings.
func writeMillion(tb testing.TB, path string, n int) {
	tb.Helper()
	var want bytes.Buffer
	if err := dataset.WriteIndex(&want, dataset.Index{string(millionKey(nil, 0)), string(millionKey(nil, 1))}); err != nil {
		tb.Fatal(err)
	}
	if got := appendMillion(nil, 2); !bytes.Equal(got, want.Bytes()) {
		tb.Fatalf("index written as %q, want it as WriteIndex writes it: %q", got, want.Bytes())
	}
	if err := os.WriteFile(path, appendMillion(make([]byte, 0, n*48+4), n), 0o644); err != nil {
		tb.Fatal(err)
	}
}

// appendMillion appends an index of the first n keys of [millionKey] to b,
// in WriteIndex's layout. The keys need no escaping.
func appendMillion(b []byte, n int) []byte {
	b = append(b, '[')
	for i := range n {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, "\n  \""...)
		b = append(millionKey(b, i), '"')
	}
	return append(b, "\n]\n"...)
}

// millionKey appends the key of image i of an ImageNet-like validation set
// of 1,000 classes to b, such as "val/n01440764/ILSVRC2012_val_00000001.JPEG".
func millionKey(b []byte, i int) []byte {
	b = append(b, "val/n"...)
	b = appendDigits(b, 1440764+i%1000, 8)
	b = append(b, "/ILSVRC2012_val_"...)
	b = appendDigits(b, i+1, 8)
	return append(b, ".JPEG"...)
}

// appendDigits appends v in decimal to b, zero-padded to width digits.
func appendDigits(b []byte, v, width int) []byte {
	s := strconv.Itoa(v)
	for range width - len(s) {
		b = append(b, '0')
	}
	return append(b, s...)
}
