package dataset

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"unicode"
	"unicode/utf8"
)

// IndexKey is the name of the object that holds a dataset's index, in
// [WriteIndex] format, at the root of the folder or key prefix it indexes:
// "storagebench gen" and the fake S3 of "storagebench serve" write it there,
// and listings that build an index leave it out.
const IndexKey = "index.json"

// Index is the ordered list of keys that makes a dataset, in the seed's
// format: a JSON array of strings such as
//
//	["scratch/imagenet/val/ILSVRC2012_val_00000001.JPEG", ...]
//
// Keys are relative to a store: to a bucket (and optional prefix) for S3,
// to a root folder for a local store. A valid index is non-empty and holds
// no duplicate key and no key that is empty, longer than S3's limit of
// 1,024 bytes, or holding a control character (such as NUL, a newline or
// DEL; see [unicode.IsControl]).
type Index []string

// IndexError reports what is wrong with an index and where.
type IndexError struct {
	File  string // the file (or URL) the index came from
	Line  int    // 1-based line of the offending input, 0 if unknown
	Col   int    // 1-based column, 0 if unknown
	Entry int    // 0-based position of the offending entry, -1 if none
	Err   error  // what is wrong
}

// Error returns the position and the problem, in the form
// "file:line:col: entry N: problem".
func (e *IndexError) Error() string {
	var b bytes.Buffer
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d:%d", e.Line, e.Col)
	}
	b.WriteString(": ")
	if e.Entry >= 0 {
		fmt.Fprintf(&b, "entry %d: ", e.Entry)
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

// Unwrap returns the underlying problem.
func (e *IndexError) Unwrap() error { return e.Err }

// Problems an [IndexError] wraps, for errors.Is.
var (
	ErrIndexSyntax    = errors.New("index is not valid JSON")
	ErrIndexNotArray  = errors.New("index is not a JSON array")
	ErrIndexEntryType = errors.New("index entry is not a string")
	ErrIndexEmptyKey  = errors.New("index entry is an empty key")
	ErrIndexDuplicate = errors.New("index entry duplicates an earlier key")
	ErrIndexEmpty     = errors.New("index holds no keys")
	ErrIndexLongKey   = errors.New("index entry is longer than S3's limit of 1024 bytes")
	ErrIndexControl   = errors.New("index entry holds a control character")
)

// maxKeyLen is the length limit of a key in bytes, S3's.
const maxKeyLen = 1024

// checkKey reports what is wrong with key as an index entry, if anything,
// quoting the key with [quoteKey]. It does not look for duplicates.
func checkKey(key string) error {
	switch {
	case key == "":
		return ErrIndexEmptyKey
	case len(key) > maxKeyLen:
		return fmt.Errorf("%w: %d bytes, %s", ErrIndexLongKey, len(key), quoteKey(key))
	}
	for i, r := range key {
		if unicode.IsControl(r) {
			return fmt.Errorf("%w %q at byte %d of %s", ErrIndexControl, r, i, quoteKey(key))
		}
	}
	return nil
}

// quotedMax is the number of bytes of a key or token that errors quote.
const quotedMax = 64

// quoteKey quotes s for an error message, as %q does (so that control
// characters show as escapes), but only its first [quotedMax] bytes or so,
// cut at a character boundary and followed by "..." when s is longer.
func quoteKey(s string) string {
	if len(s) <= quotedMax {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprintf("%q...", truncate(s))
}

// truncate returns s, or the longest prefix of at most [quotedMax] bytes
// that ends at a character boundary.
func truncate(s string) string {
	if len(s) <= quotedMax {
		return s
	}
	n := quotedMax
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// LoadIndex reads and validates the index file at path.
func LoadIndex(path string) (Index, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load index: %w", err)
	}
	return ParseIndex(path, data)
}

// ParseIndex parses and validates an index. name (a file or URL) is used in
// errors only. Errors are *[IndexError] values, which quote at most the
// first 64 bytes or so of a key or token, so that a hostile index cannot
// flood a log. ParseIndex keeps no reference to data.
func ParseIndex(name string, data []byte) (Index, error) {
	if idx, ok := parseIndexFast(data); ok {
		return idx, nil
	}
	return parseIndex(name, data)
}

// parseIndexFast parses data when it is a valid index, the common case,
// several times faster than [parseIndex] and with one allocation a key. It
// reports false for anything else (bad syntax, a key that [checkKey]
// refuses, a duplicate, an empty index), leaving parseIndex to find the
// problem and report it. Strings are unquoted as encoding/json does:
// escapes by encoding/json itself, invalid UTF-8 replaced by U+FFFD.
func parseIndexFast(data []byte) (Index, bool) {
	end := int64(len(data))
	i := skipSpace(data, 0)
	if i == end || data[i] != '[' {
		return nil, false
	}
	// Room for as many keys as there are pairs of quotes, but for no more
	// than one every 16 bytes, so that a file of quotes cannot make us
	// reserve several times its size.
	n := min(bytes.Count(data, []byte{'"'})/2, len(data)/16)
	idx := make(Index, 0, n)
	seen := make(map[string]struct{}, n)
	for i = skipSpace(data, i+1); ; i = skipSpace(data, i+1) { // past '[' or ','
		key, next, ok := scanString(data, i)
		if !ok || checkKey(key) != nil {
			return nil, false
		}
		if _, dup := seen[key]; dup {
			return nil, false
		}
		seen[key] = struct{}{}
		idx = append(idx, key)
		if i = skipSpace(data, next); i == end || data[i] != ',' {
			break
		}
	}
	if i == end || data[i] != ']' || skipSpace(data, i+1) != end {
		return nil, false
	}
	return idx, true
}

// scanString returns the JSON string that starts at data[i] and the offset
// just past it, or false if data holds no valid JSON string there.
func scanString(data []byte, i int64) (s string, next int64, ok bool) {
	if i >= int64(len(data)) || data[i] != '"' {
		return "", 0, false
	}
	escaped, ascii := false, true
	j := i + 1
	for ; j < int64(len(data)); j++ {
		switch c := data[j]; {
		case c == '"':
			raw := data[i+1 : j]
			if !escaped && (ascii || utf8.Valid(raw)) {
				return string(raw), j + 1, true
			}
			var u string
			if err := json.Unmarshal(data[i:j+1], &u); err != nil {
				return "", 0, false
			}
			return u, j + 1, true
		case c == '\\':
			escaped = true
			j++ // the escaped byte cannot end the string
		case c < 0x20:
			return "", 0, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return "", 0, false
}

// parseIndex is ParseIndex by encoding/json's tokenizer, whose errors it
// reports with their position.
func parseIndex(name string, data []byte) (Index, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber() // a number token is never an error, however long
	fail := func(entry int, off int64, err error) error {
		line, col := Position(data, off)
		return &IndexError{File: name, Line: line, Col: col, Entry: entry, Err: err}
	}
	syntax := func(entry int, err error) error {
		off, ok := JSONErrorOffset(data, err)
		if !ok {
			off = dec.InputOffset()
		}
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return fail(entry, off, fmt.Errorf("%w: %v", ErrIndexSyntax, err))
	}
	start := skipSpace(data, 0)
	tok, err := dec.Token()
	if err != nil {
		return nil, syntax(-1, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return nil, fail(-1, start, fmt.Errorf("%w: it starts with %s", ErrIndexNotArray, describe(tok)))
	}
	var idx Index
	seen := make(map[string]int)
	for dec.More() {
		n := len(idx)
		off := skipSpace(data, dec.InputOffset())
		if off < int64(len(data)) && data[off] == ',' {
			off = skipSpace(data, off+1)
		}
		tok, err := dec.Token()
		if err != nil {
			return nil, syntax(n, err)
		}
		key, ok := tok.(string)
		if !ok {
			return nil, fail(n, off, fmt.Errorf("%w: found %s", ErrIndexEntryType, describe(tok)))
		}
		if err := checkKey(key); err != nil {
			return nil, fail(n, off, err)
		}
		if first, dup := seen[key]; dup {
			return nil, fail(n, off, fmt.Errorf("%w: %s is also entry %d", ErrIndexDuplicate, quoteKey(key), first))
		}
		seen[key] = n
		idx = append(idx, key)
	}
	if _, err := dec.Token(); err != nil { // the closing bracket
		return nil, syntax(len(idx), err)
	}
	if off := skipSpace(data, dec.InputOffset()); off < int64(len(data)) {
		return nil, fail(-1, off, fmt.Errorf("%w: data after the closing bracket", ErrIndexSyntax))
	}
	if len(idx) == 0 {
		return nil, fail(-1, 0, ErrIndexEmpty)
	}
	return idx, nil
}

// WriteIndex writes idx in the seed's format, one key a line.
func WriteIndex(w io.Writer, idx Index) error {
	bw := bufio.NewWriter(w)
	bw.WriteString("[")
	for i, k := range idx {
		if i > 0 {
			bw.WriteString(",")
		}
		q, err := json.Marshal(k)
		if err != nil {
			return err
		}
		bw.WriteString("\n  ")
		bw.Write(q)
	}
	bw.WriteString("\n]\n")
	return bw.Flush()
}

// describe names the kind of a JSON token for error messages.
func describe(tok json.Token) string {
	switch t := tok.(type) {
	case json.Delim:
		if t == '{' {
			return "an object"
		}
		return "an array"
	case string:
		return "the string " + quoteKey(t)
	case json.Number:
		if n := truncate(string(t)); len(n) < len(t) {
			return "the number " + n + "..."
		}
		return "the number " + string(t)
	case bool:
		return fmt.Sprintf("the boolean %v", t)
	case nil:
		return "null"
	}
	return fmt.Sprintf("%v", tok)
}

func skipSpace(data []byte, off int64) int64 {
	for off < int64(len(data)) {
		switch data[off] {
		case ' ', '\t', '\n', '\r':
			off++
		default:
			return off
		}
	}
	return off
}

// JSONErrorOffset returns the byte offset in data of the problem that err,
// returned by encoding/json while decoding data, reports: the offending
// byte of a *json.SyntaxError (for data that holds one JSON value, the
// first byte that makes it not JSON, whatever the error's Offset), the
// Offset of a *json.UnmarshalTypeError (just past the first token of the
// value of the wrong type), and the end of data for an input that ends too
// soon (io.EOF or io.ErrUnexpectedEOF). For any other error ok is false.
// [Position] turns the offset into a line and column.
func JSONErrorOffset(data []byte, err error) (off int64, ok bool) {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		// A Decoder's Offset leaves out the bytes that Token consumed
		// itself, so it falls short after the first few tokens: find the
		// first byte of data that is not JSON, as json.Unmarshal does, and
		// take it when the problem there is the one err reports. Offset
		// counts the bad byte; the space added makes an early end an error
		// one byte past the end.
		var raw json.RawMessage
		var first *json.SyntaxError
		if errors.As(json.Unmarshal(append(data[:len(data):len(data)], ' '), &raw), &first) && first.Error() == se.Error() {
			return min(first.Offset-1, int64(len(data))), true
		}
		// Otherwise (err is about another JSON value of a stream), trust
		// Offset: it counts the bytes read, the bad one included, except
		// in Token's own errors, where it points at the bad token.
		off = se.Offset
		if off > 0 && off <= int64(len(data)) && !bytes.ContainsRune([]byte(" \t\r\n,:"), rune(data[off-1])) {
			off--
		}
		return off, true
	case errors.As(err, &te):
		return te.Offset, true
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return int64(len(data)), true
	}
	return 0, false
}

// Position converts a byte offset in data into a 1-based line and column,
// the column counted in bytes, as "file:line:col" positions in errors
// show them. An offset past the end of data is taken as the end.
func Position(data []byte, off int64) (line, col int) {
	off = min(max(off, 0), int64(len(data)))
	before := data[:off]
	line = 1 + bytes.Count(before, []byte("\n"))
	col = 1 + len(before) - (bytes.LastIndexByte(before, '\n') + 1)
	return line, col
}
