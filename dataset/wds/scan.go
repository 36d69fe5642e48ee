package wds

import (
	"errors"
	"fmt"
	"io"
	"strconv"
)

// ErrFormat is wrapped by every [*Error] for a shard that is not a valid
// tar archive of samples (a header whose checksum fails, an archive cut
// short, a member running past the shard's end): reading it again will
// not help.
var ErrFormat = errors.New("malformed shard")

// Error reports a problem in a shard and where: the shard's key, the
// member being read (empty before the first header) and the offset in the
// shard of the header or data where the problem was found.
type Error struct {
	Shard  string
	Member string
	Off    int64
	Err    error
}

// Error returns the shard, the member and the offset, then the problem:
// `shard "val-000003.tar": member "val/x.jpg" at offset 1536: ...`.
func (e *Error) Error() string {
	s := "shard " + strconv.Quote(e.Shard) + ": "
	if e.Member != "" {
		s += "member " + strconv.Quote(e.Member) + " "
	}
	return s + "at offset " + strconv.FormatInt(e.Off, 10) + ": " + e.Err.Error()
}

// Unwrap returns the problem.
func (e *Error) Unwrap() error { return e.Err }

// Scanner reads a shard as a stream, one sample at a time: each call to
// [Scanner.Next] reads the members of the next sample, the sample's data
// (its largest member) into the caller's buffer and the others into the
// scanner's own, so that it holds one sample at a time, never the shard.
// Members whose base names hold no dot belong to no sample and are
// skipped, as WebDataset skips them; so are entries that are not regular
// files.
//
// When the reader fails mid-shard (a dropped connection), the samples
// already returned stand: [Scanner.Resume] continues from a new reader
// that starts at [Scanner.Offset], the end of the last whole member read,
// keeping the members of a sample already read.
type Scanner struct {
	shard string
	size  int64 // the shard's size, -1 if unknown
	cr    countReader
	tr    *tarReader

	pending    *tarHeader // a header read ahead, of the next sample
	pendingOff int64      // its offset
	whole      int64      // the end of the last whole member, padded: where to resume
	done       bool

	s     Sample    // the sample under way, then the one last returned
	bufs  [2][]byte // the data of the largest member so far, and scratch
	data  int       // which of bufs holds the largest member's data, -1 none
	other []byte    // the smaller members' data, read and dropped
	exts  []string  // the extensions of members read so far, to reuse

	underway bool // a sample's data is being read into bufs[0]: not yet the caller's

	// Alloc, when set, gives the buffer for a member whose data does
	// not fit the buffer at hand: one of at least n bytes' capacity,
	// empty. A caller that recycles buffers of samples of varied sizes
	// gives one of about the right size from its pool, where the
	// scanner would allocate.
	Alloc func(n int64) []byte
	// Free, when set, takes back a buffer of the scanner's that a
	// larger one from Alloc replaced.
	Free func(b []byte)
	// Key, when set, makes a sample's key from its bytes, which are only
	// valid during the call: a caller that knows the keys to expect (a
	// shard's layout) returns its own string when they match, where the
	// scanner would allocate one a sample.
	Key func(b []byte) string
}

// NewScanner returns a scanner of the shard named shard, reading r, which
// starts at byte off of the shard (0, or an offset given by
// [Scanner.Offset] of an earlier scanner); size is the shard's size in
// bytes, -1 if unknown, with which a member running past the end is
// refused before it is read.
func NewScanner(r io.Reader, shard string, off, size int64) *Scanner {
	sc := &Scanner{shard: shard, size: size, data: -1}
	sc.cr = countReader{r: r, n: off}
	sc.tr = newTarReader(&sc.cr)
	sc.whole = off
	return sc
}

// Reset makes sc a scanner of another shard, as [NewScanner] makes one,
// keeping the buffers, names and functions it has, so that a stream of
// many shards scans them all with one scanner's memory. The buffer of a
// sample it had not finished (its reader failed, or was stopped) goes to
// Free, when set.
func (sc *Scanner) Reset(r io.Reader, shard string, off, size int64) {
	if sc.underway && cap(sc.bufs[0]) > 0 && sc.Free != nil {
		sc.Free(sc.bufs[0])
	}
	sc.underway = false
	sc.shard, sc.size, sc.data = shard, size, -1
	sc.cr = countReader{r: r, n: off}
	sc.tr.reset(&sc.cr)
	sc.whole, sc.pending, sc.done = off, nil, false
	sc.s = Sample{Members: sc.s.Members[:0]}
	sc.bufs[0] = nil
}

// Offset returns where a stream that failed resumes: the offset of the
// header that follows the last whole member read.
func (sc *Scanner) Offset() int64 { return sc.whole }

// Resume continues the scan from r, which starts at [Scanner.Offset],
// after the reader given before failed. The members of the sample under
// way that were read whole are kept.
func (sc *Scanner) Resume(r io.Reader) {
	sc.cr = countReader{r: r, n: sc.whole}
	sc.tr = newTarReader(&sc.cr)
	sc.pending = nil
	sc.done = false
}

// Next reads the next sample, with its data read into buf (reusing its
// capacity), and returns its layout, valid until the next call, and its
// data. It returns io.EOF after the last sample. Problems in the shard are
// [*Error] values wrapping [ErrFormat]; a failure of the reader is an
// [*Error] wrapping it, after which [Scanner.Resume] may continue.
func (sc *Scanner) Next(buf []byte) (*Sample, []byte, error) {
	if sc.data < 0 {
		// A new sample: buf is the caller's.
		sc.underway = true
		sc.bufs[0] = buf[:0]
		sc.s.Members = sc.s.Members[:0]
		sc.s.Key = ""
	}
	for {
		hdr, off, err := sc.header()
		if err == io.EOF {
			if len(sc.s.Members) > 0 {
				return sc.finish()
			}
			return nil, buf[:0], io.EOF
		}
		if err != nil {
			return nil, buf[:0], err
		}
		key, ext, ok := splitName(hdr.name)
		if hdr.Typeflag != '0' || !ok {
			sc.pending = nil
			if err := sc.skip(hdr, off); err != nil {
				return nil, buf[:0], err
			}
			continue
		}
		if len(sc.s.Members) > 0 && string(key) != sc.s.Key {
			return sc.finish() // hdr stays pending: it starts the next sample
		}
		sc.pending = nil
		if len(sc.s.Members) == 0 {
			sc.s.Key, sc.s.Off = sc.key(key), off
		}
		if err := sc.member(hdr, sc.extension(ext)); err != nil {
			return nil, buf[:0], err
		}
	}
}

// extension returns ext as a string: one the scanner made before for a
// member of the same extension, else a new one it keeps, up to
// maxExtensions of them. A shard's samples share a few extensions, so
// that a member's name costs no allocation of its own.
func (sc *Scanner) extension(ext []byte) string {
	for _, e := range sc.exts {
		if e == string(ext) {
			return e
		}
	}
	e := string(ext)
	if len(sc.exts) < maxExtensions {
		sc.exts = append(sc.exts, e)
	}
	return e
}

// key returns a sample's key as a string, made by Key when set.
func (sc *Scanner) key(b []byte) string {
	if sc.Key != nil {
		return sc.Key(b)
	}
	return string(b)
}

// maxExtensions is how many members' extensions a [Scanner] keeps.
const maxExtensions = 16

// finish returns the sample under way, its data in the caller's buffer,
// and starts the next one.
func (sc *Scanner) finish() (*Sample, []byte, error) {
	data := sc.bufs[sc.data]
	if sc.data == 1 {
		// The caller's buffer held a smaller member: it becomes scratch.
		sc.bufs[0], sc.bufs[1] = sc.bufs[1], sc.bufs[0]
	}
	last := sc.s.Members[len(sc.s.Members)-1]
	sc.s.End = last.Off + last.Size
	sc.data = -1
	sc.underway = false
	return &sc.s, data, nil
}

// header returns the next header and its offset: the one read ahead, if
// any, else the tar reader's next, io.EOF at the end of the archive.
func (sc *Scanner) header() (*tarHeader, int64, error) {
	if sc.pending != nil {
		return sc.pending, sc.pendingOff, nil
	}
	if sc.done {
		return nil, 0, io.EOF
	}
	off := sc.whole
	hdr, err := sc.tr.Next()
	if err == io.EOF {
		sc.done = true
		return nil, 0, io.EOF
	}
	if err != nil {
		return nil, 0, sc.fail("", off, err)
	}
	dataOff := sc.cr.n
	if hdr.Size < 0 || sc.size >= 0 && dataOff+hdr.Size > sc.size {
		return nil, 0, &Error{Shard: sc.shard, Member: hdr.Name(), Off: off,
			Err: fmt.Errorf("%w: a member of %d bytes whose data starts at %d runs past the shard's end at %d", ErrFormat, hdr.Size, dataOff, sc.size)}
	}
	sc.pending, sc.pendingOff = hdr, off
	return hdr, off, nil
}

// member reads the data of the member hdr, of extension ext, into the
// buffer not holding the sample's largest member so far, or into other
// when it is small.
func (sc *Scanner) member(hdr *tarHeader, ext string) error {
	dataOff := sc.cr.n
	var dst *[]byte
	largest := sc.data < 0 || hdr.Size > int64(len(sc.bufs[sc.data]))
	switch {
	case largest && sc.data < 0:
		dst = &sc.bufs[0]
	case largest:
		dst = &sc.bufs[1-sc.data]
	default:
		dst = &sc.other
	}
	buf := (*dst)[:0]
	if int64(cap(buf)) < hdr.Size && sc.Alloc != nil && dst != &sc.other {
		if cap(buf) > 0 && sc.Free != nil {
			sc.Free(buf)
		}
		buf = sc.Alloc(hdr.Size)
	}
	b, err := readFull(sc.tr, hdr.Size, buf)
	*dst = b
	if err != nil {
		return sc.fail(hdr.Name(), dataOff+int64(len(b)), err)
	}
	if largest {
		if sc.data < 0 {
			sc.data = 0
		} else {
			sc.data = 1 - sc.data
		}
		sc.s.Data = len(sc.s.Members)
	}
	sc.s.Members = append(sc.s.Members, Member{Ext: ext, Off: dataOff, Size: hdr.Size})
	sc.whole = dataOff + (hdr.Size+BlockSize-1)/BlockSize*BlockSize
	return nil
}

// skip reads past the data of an entry that belongs to no sample.
func (sc *Scanner) skip(hdr *tarHeader, off int64) error {
	dataOff := sc.cr.n
	if _, err := io.Copy(io.Discard, sc.tr); err != nil {
		return sc.fail(hdr.Name(), dataOff, err)
	}
	sc.whole = dataOff + (hdr.Size+BlockSize-1)/BlockSize*BlockSize
	return nil
}

// fail returns err, met reading member at off, as an *Error: a format
// error when the tar reader refused a header, or when the archive ended
// where the shard does (it is cut short); the reader's own failure, to be
// resumed from, otherwise.
func (sc *Scanner) fail(member string, off int64, err error) error {
	switch {
	case errors.Is(err, errHeader):
		err = fmt.Errorf("%w: %w", ErrFormat, err)
	case errors.Is(err, io.ErrUnexpectedEOF) && sc.cr.eof && (sc.size < 0 || sc.cr.n >= sc.size):
		err = fmt.Errorf("%w: the archive ends mid-member, at %d bytes (truncated)", ErrFormat, sc.cr.n)
	case sc.cr.err != nil:
		err = sc.cr.err // the reader's own error, not the tar reader's view of it
	}
	return &Error{Shard: sc.shard, Member: member, Off: off, Err: err}
}

// readFull reads exactly n bytes of r into buf, reusing its capacity. A
// buffer too small is replaced by one of the next power of two bytes (at
// least 4 KiB): buffers pass from sample to sample of varied sizes, and
// one sized exactly would be replaced again at the next larger sample.
func readFull(r io.Reader, n int64, buf []byte) ([]byte, error) {
	if int64(cap(buf)) < n {
		c := int64(4 << 10)
		for c < n {
			c <<= 1
		}
		buf = make([]byte, 0, c)
	}
	buf = buf[:n]
	m, err := io.ReadFull(r, buf)
	return buf[:m], err
}

// countReader counts the bytes read through it, from an initial offset,
// and remembers how its reader ended. It does not implement io.Seeker, so
// the tar reader reads through every byte it skips.
type countReader struct {
	r   io.Reader
	n   int64
	eof bool  // the reader returned io.EOF
	err error // the reader's error other than io.EOF
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	switch {
	case err == io.EOF:
		c.eof = true
	case err != nil:
		c.err = err
	}
	return n, err
}
