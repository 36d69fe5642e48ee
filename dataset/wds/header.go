package wds

import "strconv"

// AppendHeader appends to dst the 512-byte USTAR header that a [Writer]
// writes for a member named name of size bytes (a regular file of mode
// 0644, owned by 0:0, dated at the Unix epoch), without archive/tar and
// without allocating when dst has room: a store that serves shards it
// never wrote whole, from the bodies of their samples, makes their
// headers this way. name must be at most 100 bytes, as the Writer's are.
func AppendHeader(dst []byte, name string, size int64) []byte {
	n := len(dst)
	dst = append(dst, make([]byte, BlockSize)...)
	h := dst[n : n+BlockSize]
	copy(h[0:100], name)
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
	sum := int64(0)
	for _, c := range h {
		sum += int64(c)
	}
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
