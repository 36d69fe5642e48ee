package dataset

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
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
// no empty or duplicate key.
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
)

// LoadIndex reads and validates the index file at path.
func LoadIndex(path string) (Index, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load index: %w", err)
	}
	return ParseIndex(path, data)
}

// ParseIndex parses and validates an index. name (a file or URL) is used in
// errors only.
func ParseIndex(name string, data []byte) (Index, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
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
		switch {
		case !ok:
			return nil, fail(n, off, fmt.Errorf("%w: found %s", ErrIndexEntryType, describe(tok)))
		case key == "":
			return nil, fail(n, off, ErrIndexEmptyKey)
		}
		if first, dup := seen[key]; dup {
			return nil, fail(n, off, fmt.Errorf("%w: %q is also entry %d", ErrIndexDuplicate, key, first))
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
		return fmt.Sprintf("the string %q", t)
	case float64, json.Number:
		return fmt.Sprintf("the number %v", t)
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
// byte of a *json.SyntaxError, the Offset of a *json.UnmarshalTypeError
// (just past the first token of the value of the wrong type), and the end
// of data for an input that ends too soon (io.EOF or io.ErrUnexpectedEOF).
// For any other error ok is false. [Position] turns the offset into a line
// and column.
func JSONErrorOffset(data []byte, err error) (off int64, ok bool) {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		// Offset counts the bytes read, the bad one included, except after
		// a separator, where it points at the bad token.
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
