package reqlog

import (
	"bufio"
	"compress/gzip"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Header is a log's first row.
var Header = []string{"start_unix_ns", "first_byte_ns", "total_ns", "bytes", "op", "key", "status", "conn", "attempt"}

// A Record is one request.
type Record struct {
	Start     time.Time     // when it was sent, or received
	FirstByte time.Duration // from Start to the response's headers; 0 when none came
	Total     time.Duration // from Start to the end of the response, or the failure
	Bytes     int64         // response body bytes
	Op        string        // the S3 operation: GetObject, ListObjectsV2, ...
	Key       string        // the URL's path without its leading slash: bucket/key in path style
	Status    string        // the HTTP status, or error, canceled, dropped, cut
	Conn      string        // the connection: the client's address
	Attempt   int           // the SDK's attempt, from 1; 0 when unknown
}

// End returns when the request ended.
func (r Record) End() time.Time { return r.Start.Add(r.Total) }

// A Writer writes records to a gzip-compressed CSV log. It is safe for
// concurrent use; rows are in the order Write was called.
type Writer struct {
	mu     sync.Mutex
	c      io.Closer // the file, closed by Close; nil if none
	gz     *gzip.Writer
	buf    *bufio.Writer
	cw     *csv.Writer
	row    []string
	err    error
	closed bool
}

// NewWriter returns a writer of a log to w, its header written. Close
// ends the compressed stream; it closes w when w is an io.Closer.
func NewWriter(w io.Writer) (*Writer, error) {
	gz, _ := gzip.NewWriterLevel(w, gzip.BestSpeed) // a valid level
	buf := bufio.NewWriterSize(gz, 64<<10)
	lw := &Writer{gz: gz, buf: buf, cw: csv.NewWriter(buf), row: make([]string, len(Header))}
	if c, ok := w.(io.Closer); ok {
		lw.c = c
	}
	if err := lw.cw.Write(Header); err != nil {
		return nil, err
	}
	return lw, nil
}

// Write appends r. An error writing is kept and returned by Close and
// every later Write.
func (w *Writer) Write(r Record) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	row := w.row
	row[0] = strconv.FormatInt(r.Start.UnixNano(), 10)
	row[1] = strconv.FormatInt(int64(r.FirstByte), 10)
	row[2] = strconv.FormatInt(int64(r.Total), 10)
	row[3] = strconv.FormatInt(r.Bytes, 10)
	row[4], row[5], row[6], row[7] = r.Op, r.Key, r.Status, r.Conn
	row[8] = strconv.Itoa(r.Attempt)
	w.err = w.cw.Write(row)
	return w.err
}

// Close writes what is buffered, ends the compressed stream and closes
// the underlying writer if it is a Closer. Closing again does nothing.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	err := w.err
	w.cw.Flush()
	err = errors.Join(err, w.cw.Error(), w.buf.Flush(), w.gz.Close())
	if w.c != nil {
		err = errors.Join(err, w.c.Close())
	}
	if w.err == nil {
		w.err = errors.New("reqlog: writer closed")
	}
	return err
}

// Read reads a whole log from r, named name in errors, which give the
// line and the column at fault.
func Read(r io.Reader, name string) ([]Record, error) {
	gz, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("%s: not a gzip-compressed request log: %w", name, err)
	}
	defer gz.Close()
	cr := csv.NewReader(gz)
	cr.FieldsPerRecord = len(Header)
	cr.ReuseRecord = true
	head, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("%s: header: %w", name, err)
	}
	if strings.Join(head, ",") != strings.Join(Header, ",") {
		return nil, fmt.Errorf("%s:1: header %q, want %q", name, strings.Join(head, ","), strings.Join(Header, ","))
	}
	var recs []Record
	for {
		row, err := cr.Read()
		if err == io.EOF {
			return recs, nil
		}
		if err != nil {
			return recs, fmt.Errorf("%s: %w", name, err)
		}
		line, _ := cr.FieldPos(0)
		rec, err := parse(row)
		if err != nil {
			return recs, fmt.Errorf("%s:%d: %w", name, line, err)
		}
		recs = append(recs, rec)
	}
}

// parse parses a row of Header's columns.
func parse(row []string) (Record, error) {
	var ints [4]int64
	for i := range ints {
		v, err := strconv.ParseInt(row[i], 10, 64)
		if err != nil || v < 0 {
			return Record{}, fmt.Errorf("column %s: %q is not a count >= 0", Header[i], row[i])
		}
		ints[i] = v
	}
	attempt, err := strconv.Atoi(row[8])
	if err != nil || attempt < 0 {
		return Record{}, fmt.Errorf("column attempt: %q is not a count >= 0", row[8])
	}
	if ints[1] > ints[2] {
		return Record{}, fmt.Errorf("first byte after %d ns, after the request's end at %d", ints[1], ints[2])
	}
	if row[4] == "" || row[6] == "" {
		return Record{}, errors.New("no operation or status")
	}
	return Record{
		Start: time.Unix(0, ints[0]), FirstByte: time.Duration(ints[1]), Total: time.Duration(ints[2]), Bytes: ints[3],
		Op: row[4], Key: row[5], Status: row[6], Conn: row[7], Attempt: attempt,
	}, nil
}

// SDKAttempt returns the attempt an amz-sdk-request header value
// ("attempt=2; max=3") names, 0 when it names none.
func SDKAttempt(header string) int {
	for part := range strings.SplitSeq(header, ";") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(part), "attempt="); ok {
			if n, err := strconv.Atoi(v); err == nil && n > 0 {
				return n
			}
		}
	}
	return 0
}
