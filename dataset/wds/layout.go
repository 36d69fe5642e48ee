package wds

import "fmt"

// BlockSize is the size of a tar block: headers take one, and a member's
// data is padded to a whole number of them.
const BlockSize = 512

// endSize is what a tar archive ends with: two blocks of zeros.
const endSize = 2 * BlockSize

// Member is one file of a sample in a shard.
type Member struct {
	Ext  string // what follows the sample's key and its dot, such as "jpg" or "cls"
	Off  int64  // offset of the member's data in the shard
	Size int64  // its size in bytes
}

// Sample is the layout of one sample in a shard: its members, in the
// order the shard holds them.
type Sample struct {
	// Key is the sample's key: its members' names up to the first dot of
	// their base names, such as "val/ILSVRC2012_val_00000001".
	Key string
	// Off is the offset of the header of the sample's first member, End
	// the end of its last member's data: a ranged read of [Off, End)
	// holds the whole sample.
	Off, End int64
	// Members are the sample's members, in shard order.
	Members []Member
	// Data is the index in Members of the sample's data: its largest
	// member (the image of an image sample), the first of equals.
	Data int
}

// DataMember returns the member that holds the sample's data.
func (s *Sample) DataMember() Member { return s.Members[s.Data] }

// Span returns how many bytes a ranged read of the whole sample reads.
func (s *Sample) Span() int64 { return s.End - s.Off }

// Shard is the layout of one shard: its key in a store, its size, and its
// samples in order.
type Shard struct {
	Key     string
	Size    int64
	Samples []Sample
}

// SamplesEnd returns where the shard's samples end: the end of the block
// its last sample's data ends in (a tar reader that stops there, at a
// block boundary, has read every sample; what follows is the archive's
// trailer), or its size when it holds no sample.
func (sh *Shard) SamplesEnd() int64 {
	n := len(sh.Samples)
	if n == 0 {
		return sh.Size
	}
	return min((sh.Samples[n-1].End+BlockSize-1)/BlockSize*BlockSize, sh.Size)
}

// MemberSize returns how many bytes a member of size bytes takes in a tar
// archive whose headers need one block: its header and its data padded to
// a whole block.
func MemberSize(size int64) int64 {
	return BlockSize + (size+BlockSize-1)/BlockSize*BlockSize
}

// ShardSize returns the size of a shard holding samples whose members
// take sampleBytes bytes in all (the sum of their [MemberSize]): those and
// the two blocks of zeros that end an archive.
func ShardSize(sampleBytes int64) int64 { return sampleBytes + endSize }

// Pack cuts n samples, in order, into shards of at most limit bytes each,
// sample i taking size(i) bytes of members (the sum of its members'
// [MemberSize]). It returns the first sample of every shard, followed by
// n: shard j holds samples first[j] to first[j+1]-1. Every shard but the
// last is filled as far as the next whole sample allows. It fails, naming
// the sample, when one sample alone does not fit in limit.
func Pack(n int, size func(i int) int64, limit int64) ([]int, error) {
	first := []int{0}
	used := int64(endSize)
	for i := range n {
		s := size(i)
		if s+endSize > limit {
			return nil, fmt.Errorf("wds: sample %d takes %d bytes in a shard, more than the shard size of %d bytes", i, s+endSize, limit)
		}
		if used+s > limit {
			first = append(first, i)
			used = endSize
		}
		used += s
	}
	return append(first, n), nil
}

// splitName returns the sample key and the extension of a member named
// name, as WebDataset splits it: at the first dot of its base name. ok is
// false for a name whose base name has no dot, which belongs to no sample.
// Both are slices of name: a scanner splits names it holds as bytes
// without making strings of them.
func splitName[S ~string | ~[]byte](name S) (key, ext S, ok bool) {
	base := 0
	for i := len(name) - 1; i >= 0; i-- {
		if name[i] == '/' {
			base = i + 1
			break
		}
	}
	for i := base; i < len(name); i++ {
		if name[i] == '.' {
			if i == base {
				return key, ext, false
			}
			return name[:i], name[i+1:], true
		}
	}
	return key, ext, false
}
