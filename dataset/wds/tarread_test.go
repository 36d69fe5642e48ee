package wds

import (
	"math/rand/v2"
	"strconv"
	"testing"
)

// naiveSums is blockSums a byte at a time: the sums as POSIX defines them.
func naiveSums(blk []byte) (unsigned, signed int64) {
	for i, c := range blk[:BlockSize] {
		if i >= 148 && i < 156 {
			c = ' '
		}
		unsigned += int64(c)
		signed += int64(int8(c))
	}
	return unsigned, signed
}

// TestChecksum checks the word-at-a-time sums and the checksums they
// accept against the byte-at-a-time definition: blocks of every byte value
// (all 0xff is the largest sum a block can have), and headers whose
// checksum field holds the unsigned sum, the signed one (as old tars
// wrote names of bytes above 0x7f), or neither.
func TestChecksum(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var blocks [][]byte
	for _, fill := range []byte{0, 0x7f, 0x80, 0xff} {
		b := make([]byte, BlockSize)
		for i := range b {
			b[i] = fill
		}
		blocks = append(blocks, b)
	}
	for range 200 {
		b := make([]byte, BlockSize)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		blocks = append(blocks, b)
	}
	for i, b := range blocks {
		u, hi := blockSums(b)
		var wantU, wantHi int64
		for _, c := range b {
			wantU += int64(c)
			wantHi += int64(c >> 7)
		}
		if u != wantU || hi != wantHi {
			t.Fatalf("block %d: blockSums = %d, %d high bytes; want %d, %d", i, u, hi, wantU, wantHi)
		}
	}

	field := func(b []byte, v int64) []byte {
		b = append([]byte(nil), b...)
		s := strconv.FormatInt(v, 8)
		copy(b[148:156], "0000000\x00")
		copy(b[155-len(s):155], s)
		return b
	}
	hdr := appendHeader(nil, "val/\xe9\xff\x80name", "jpg", 123_456)
	unsigned, signed := naiveSums(hdr)
	if unsigned == signed {
		t.Fatalf("the header's sums are equal (%d): no signed case", unsigned)
	}
	for _, tc := range []struct {
		name string
		blk  []byte
		ok   bool
	}{
		{"as written (unsigned)", hdr, true},
		{"unsigned", field(hdr, unsigned), true},
		{"signed", field(hdr, signed), true},
		{"unsigned plus one", field(hdr, unsigned+1), false},
		{"signed less one", field(hdr, signed-1), false},
		{"zero", field(hdr, 0), false},
	} {
		if got := checksumOK(tc.blk); got != tc.ok {
			t.Errorf("%s: checksumOK = %v, want %v", tc.name, got, tc.ok)
		}
	}
	for i, b := range blocks {
		u, s := naiveSums(b)
		for _, sum := range []int64{u, s, u + 1} {
			want := (sum == u || sum == s) && sum >= 0 // a negative sum is no octal field
			if got := checksumOK(field(b, sum)); got != want {
				t.Fatalf("block %d with checksum %d: checksumOK = %v, want %v", i, sum, got, want)
			}
		}
	}
}
