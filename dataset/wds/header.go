package wds

import (
	"encoding/binary"
	"math/bits"
	"strconv"
)

// AppendHeader appends to dst the 512-byte USTAR header that a [Writer]
// writes for a member named name of size bytes (a regular file of mode
// 0644, owned by 0:0, dated at the Unix epoch), without archive/tar and
// without allocating when dst has room: a store that serves shards it
// never wrote whole, from the bodies of their samples, makes their
// headers this way. name must be at most 100 bytes, as the Writer's are.
func AppendHeader(dst []byte, name string, size int64) []byte {
	return appendHeader(dst, name, "", size)
}

// appendHeader is [AppendHeader] for the member named key, followed by a
// dot and ext when ext is not empty: a sample's member, named without
// joining the two into a string first.
func appendHeader(dst []byte, key, ext string, size int64) []byte {
	n := len(dst)
	dst = append(dst, make([]byte, BlockSize)...)
	h := dst[n : n+BlockSize]
	k := copy(h[0:100], key)
	if ext != "" && k < 100 {
		h[k] = '.'
		copy(h[k+1:100], ext)
	}
	copy(h[100:108], "0000644\x00")
	copy(h[108:116], "0000000\x00")
	copy(h[116:124], "0000000\x00")
	octal(h[124:136], size)
	copy(h[136:148], "00000000000\x00")
	h[156] = '0'
	copy(h[257:265], "ustar\x0000")
	copy(h[329:337], "0000000\x00")
	copy(h[337:345], "0000000\x00")
	copy(h[148:156], "        ")
	sum, _ := blockSums(h)
	octal(h[148:155], sum)
	return dst
}

// octal writes v into field as zero-padded octal digits followed by a
// NUL, as tar's numeric fields are.
func octal(field []byte, v int64) {
	var digits [24]byte
	s := strconv.AppendInt(digits[:0], v, 8)
	w := len(field) - 1
	for i := range w {
		field[i] = '0'
	}
	copy(field[w-len(s):w], s)
	field[w] = 0
}

// blockSums returns the sum of the bytes of blk, a header block, as
// unsigned values, and how many of them have their high bit set (the
// signed sum is the unsigned one less 256 for each). It adds eight bytes
// at a time, in four 16-bit lanes that 64 words cannot overflow
// (64 x 2 x 255 < 65,536): a header is checked for every member of a
// stream, and a byte at a time this was a tenth of a streamed sample's
// CPU.
func blockSums(blk []byte) (unsigned, high int64) {
	const lanes, highBits = 0x00ff00ff00ff00ff, 0x8080808080808080
	blk = blk[:BlockSize]
	var acc uint64
	var hi int
	for i := 0; i < BlockSize; i += 8 {
		w := binary.LittleEndian.Uint64(blk[i:])
		acc += w&lanes + (w>>8)&lanes
		hi += bits.OnesCount64(w & highBits)
	}
	unsigned = int64(acc&0xffff + (acc>>16)&0xffff + (acc>>32)&0xffff + acc>>48)
	return unsigned, int64(hi)
}
