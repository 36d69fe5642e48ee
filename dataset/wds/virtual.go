package wds

import (
	"errors"
	"io"
	"sort"
)

// Content returns the data of member m of sample k of a shard.
type Content func(k, m int) []byte

// NewReader returns a reader of the bytes of shard sh, a shard whose
// layout is one a [Writer] writes (headers of one block, each right
// before its member's data; its samples in order), made from its layout
// and its members' data as content gives them: the headers [AppendHeader]
// makes, each member's data and the zeros of padding and of the end. It
// is what the Writer would have written, made on demand, so that a store
// serves shards of a large synthetic dataset at the memory of its
// distinct bodies. It seeks, for ranged reads, and allocates nothing as
// it reads.
func NewReader(sh *Shard, content Content) io.ReadSeeker {
	return &virtualReader{sh: sh, content: content, k: -1}
}

// virtualReader reads a shard made on demand.
type virtualReader struct {
	sh      *Shard
	content Content
	off     int64
	hdr     []byte // scratch for a header
	hdrFor  int64  // the offset of the header hdr holds, -1 none
	hasHdr  bool
	k       int // the sample the last fill read in, -1 none
}

var errWhence = errors.New("wds: seek: invalid whence")
var errNegative = errors.New("wds: seek: negative position")

// Seek implements io.Seeker.
func (r *virtualReader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += r.off
	case io.SeekEnd:
		offset += r.sh.Size
	default:
		return 0, errWhence
	}
	if offset < 0 {
		return 0, errNegative
	}
	r.off = offset
	return offset, nil
}

// Read implements io.Reader.
func (r *virtualReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) && r.off < r.sh.Size {
		m := r.fill(p[n:])
		n += m
		r.off += int64(m)
	}
	if n == 0 && len(p) > 0 {
		return 0, io.EOF
	}
	return n, nil
}

// fill copies into p the bytes from r.off to the end of the segment
// (header, data or zeros) holding it, as many as fit, and returns how
// many.
func (r *virtualReader) fill(p []byte) int {
	sh := r.sh
	// The sample whose span, with its padding up to the next sample's
	// first header, holds off: the last sample starting at or before it.
	k := r.k
	if k < 0 || k >= len(sh.Samples) || sh.Samples[k].Off > r.off || k+1 < len(sh.Samples) && sh.Samples[k+1].Off <= r.off {
		// Not the sample of the last fill, which a stream reading on
		// mostly is.
		k = sort.Search(len(sh.Samples), func(k int) bool { return sh.Samples[k].Off > r.off }) - 1
		r.k = k
	}
	if k < 0 {
		return zeros(p, sh.Samples[0].Off-r.off)
	}
	s := &sh.Samples[k]
	for m := range s.Members {
		mem := &s.Members[m]
		hdrOff := mem.Off - BlockSize
		switch {
		case r.off < hdrOff:
			return zeros(p, hdrOff-r.off)
		case r.off < mem.Off:
			if !r.hasHdr || r.hdrFor != hdrOff {
				r.hdr = appendHeader(r.hdr[:0], s.Key, mem.Ext, mem.Size)
				r.hdrFor, r.hasHdr = hdrOff, true
			}
			return copy(p, r.hdr[r.off-hdrOff:])
		case r.off < mem.Off+mem.Size:
			return copy(p, r.content(k, m)[r.off-mem.Off:])
		}
	}
	// Past the sample's last member: padding up to the next sample, or
	// the end of the shard.
	next := sh.Size
	if k+1 < len(sh.Samples) {
		next = sh.Samples[k+1].Off
	}
	return zeros(p, next-r.off)
}

// zeros zeroes up to n bytes of p and returns how many.
func zeros(p []byte, n int64) int {
	if n < int64(len(p)) {
		p = p[:n]
	}
	clear(p)
	return len(p)
}
