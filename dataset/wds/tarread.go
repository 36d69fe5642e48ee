package wds

import (
	"bytes"
	"errors"
	"io"
	"strconv"
	"strings"
)

// errHeader is a header block whose checksum fails, or whose fields do not
// parse.
var errHeader = errors.New("invalid tar header")

// tarHeader is what a shard's reader needs of a tar header.
type tarHeader struct {
	name     []byte // valid until the reader's next Next
	Size     int64
	Typeflag byte // '0' for a regular file ('\x00' is read as '0')
}

// Name returns the entry's name as a string, which it allocates: for
// errors, where the scanner does not compare names as bytes.
func (h *tarHeader) Name() string { return string(h.name) }

// tarReader reads a tar archive as archive/tar's Reader does, the subset
// shards use: USTAR and GNU headers, names lengthened by a USTAR prefix,
// by PAX "path" records or by GNU long-name entries, sizes by PAX "size"
// records or GNU base-256 fields; global PAX headers and other entries'
// metadata are read past. It reads exactly the archive's bytes, never
// ahead (so a counting reader under it knows each header's and member's
// offset), and allocates only the names of the entries it returns, where
// archive/tar allocated a dozen objects a header and took most of a
// shard's reading time in its header checks.
type tarReader struct {
	r      io.Reader
	blk    [BlockSize]byte
	hdr    tarHeader
	remain int64 // data of the current entry not yet read
	pad    int64 // the padding after it

	// Overrides of the next entry's header: from a PAX header and a GNU
	// long name. paxSize is -1 when none.
	paxPath, longName string
	paxSize           int64

	name []byte // the current entry's name, reused
}

func newTarReader(r io.Reader) *tarReader { return &tarReader{r: r, paxSize: -1} }

// reset makes t a reader of r, at the start of an archive, keeping its
// name buffer.
func (t *tarReader) reset(r io.Reader) { *t = tarReader{r: r, paxSize: -1, name: t.name[:0]} }

// Next returns the next entry's header, valid until the next call, after
// reading past what is left of the current entry; io.EOF at the end of
// the archive (a block of zeros, or the end of the reader at a block
// boundary).
func (t *tarReader) Next() (*tarHeader, error) {
	if err := t.discard(t.remain + t.pad); err != nil {
		return nil, err
	}
	t.remain, t.pad = 0, 0
	for {
		if _, err := io.ReadFull(t.r, t.blk[:]); err != nil {
			return nil, err // io.EOF at a block boundary: the end
		}
		if t.blk == [BlockSize]byte{} {
			return nil, io.EOF
		}
		if !checksumOK(t.blk[:]) {
			return nil, errHeader
		}
		size, err := numeric(t.blk[124:136])
		if err != nil || size < 0 {
			return nil, errHeader
		}
		typ := t.blk[156]
		switch typ {
		case 'x', 'g', 'L':
			data, err := t.readMeta(size)
			if err != nil {
				return nil, err
			}
			switch typ {
			case 'x':
				if err := t.pax(data); err != nil {
					return nil, err
				}
			case 'L':
				t.longName = cstring(data)
			}
			continue
		case 'K', 'V', 'N', 'M': // GNU metadata of no use here
			if err := t.discard(size + padding(size)); err != nil {
				return nil, err
			}
			continue
		}
		name := t.name[:0]
		switch {
		case t.paxPath != "":
			name = append(name, t.paxPath...)
		case t.longName != "":
			name = append(name, t.longName...)
		default:
			if string(t.blk[257:263]) == "ustar\x00" {
				if prefix := cbytes(t.blk[345:500]); len(prefix) > 0 {
					name = append(append(name, prefix...), '/')
				}
			}
			name = append(name, cbytes(t.blk[0:100])...)
		}
		t.name = name
		if t.paxSize >= 0 {
			size = t.paxSize
		}
		t.longName, t.paxPath, t.paxSize = "", "", -1
		if typ == 0 {
			typ = '0'
		}
		if typ != '0' && typ != '7' {
			// Directories, links and devices have no data a shard
			// reads, whatever their size field says, except these
			// two kinds of regular files.
			if typ == '1' || typ == '2' || typ == '3' || typ == '4' || typ == '5' || typ == '6' {
				size = 0
			}
		} else {
			typ = '0'
		}
		t.hdr = tarHeader{name: name, Size: size, Typeflag: typ}
		t.remain, t.pad = size, padding(size)
		return &t.hdr, nil
	}
}

// Read reads the current entry's data.
func (t *tarReader) Read(p []byte) (int, error) {
	if t.remain <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > t.remain {
		p = p[:t.remain]
	}
	n, err := t.r.Read(p)
	t.remain -= int64(n)
	if err == io.EOF && t.remain > 0 {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// readMeta reads a metadata entry's data of size bytes, and its padding.
func (t *tarReader) readMeta(size int64) ([]byte, error) {
	if size > 1<<20 {
		return nil, errHeader
	}
	data := make([]byte, size)
	if _, err := io.ReadFull(t.r, data); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return data, t.discard(padding(size))
}

// pax reads the records of a PAX extended header: "%d %s=%s\n".
func (t *tarReader) pax(data []byte) error {
	for len(data) > 0 {
		sp := bytes.IndexByte(data, ' ')
		if sp <= 0 {
			return errHeader
		}
		n, err := strconv.Atoi(string(data[:sp]))
		if err != nil || n <= sp || n > len(data) || data[n-1] != '\n' {
			return errHeader
		}
		key, value, ok := strings.Cut(string(data[sp+1:n-1]), "=")
		if !ok {
			return errHeader
		}
		switch key {
		case "path":
			t.paxPath = value
		case "size":
			size, err := strconv.ParseInt(value, 10, 64)
			if err != nil || size < 0 {
				return errHeader
			}
			t.paxSize = size
		}
		data = data[n:]
	}
	return nil
}

// discard reads n bytes past.
func (t *tarReader) discard(n int64) error {
	for n > 0 {
		m := min(n, BlockSize)
		k, err := io.ReadFull(t.r, t.blk[:m])
		n -= int64(k)
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return nil
}

// padding returns the zeros that follow size bytes of data in a tar
// archive, to the end of their last block.
func padding(size int64) int64 { return (BlockSize - size%BlockSize) % BlockSize }

// checksumOK reports whether a header block's checksum field holds the
// sum of its bytes, that field counted as spaces: unsigned, as POSIX
// says, or signed, as some old tars wrote it.
func checksumOK(blk []byte) bool {
	want, err := numeric(blk[148:156])
	if err != nil {
		return false
	}
	unsigned, high := blockSums(blk)
	// The checksum field counts as eight spaces.
	for _, c := range blk[148:156] {
		unsigned += ' ' - int64(c)
		high -= int64(c >> 7)
	}
	return want == unsigned || want == unsigned-256*high
}

// numeric parses a tar numeric field: octal digits padded with spaces or
// NULs, or GNU's base-256 (its first byte's high bit set).
func numeric(f []byte) (int64, error) {
	if len(f) > 0 && f[0]&0x80 != 0 {
		if f[0]&0x40 != 0 || len(f) > 9 && bytes.ContainsFunc(f[1:len(f)-8], func(r rune) bool { return r != 0 }) {
			return 0, errHeader // negative, or more than 63 bits
		}
		var v int64
		for i, c := range f {
			if i == 0 {
				c &= 0x7f
			}
			v = v<<8 | int64(c)
		}
		return v, nil
	}
	var v int64
	i, j := 0, len(f)
	for i < j && (f[i] == ' ' || f[i] == 0) {
		i++
	}
	for j > i && (f[j-1] == ' ' || f[j-1] == 0) {
		j--
	}
	if i == j {
		return 0, nil
	}
	for _, c := range f[i:j] {
		if c < '0' || c > '7' || v > (1<<63-1)>>3 {
			return 0, errHeader
		}
		v = v<<3 | int64(c-'0')
	}
	return v, nil
}

// cstring returns the bytes of b up to its first NUL, as a string.
func cstring(b []byte) string { return string(cbytes(b)) }

// cbytes returns the bytes of b up to its first NUL.
func cbytes(b []byte) []byte {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return b[:i]
	}
	return b
}
