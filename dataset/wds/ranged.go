package wds

import (
	"context"
	"fmt"
	"strconv"

	"github.com/storagebench/storagebench/dataset"
)

// Ranged returns the items of a dataset whose samples are read, one
// ranged read each, from their shards: item i is sample i of set, read
// as the span of its members (headers and padding between them
// included, as WebDataset's random-access readers read a sample), its
// data member's bytes returned. Each read checks the data member's
// header in the span: a shard that changed since its layout was read
// fails, naming the shard, the sample and the offset.
func Ranged(set *Set) dataset.Items { return ranged{set} }

type ranged struct{ set *Set }

func (r ranged) Len() int { return r.set.Len() }

// Key names sample i as "<shard>:<sample key>".
func (r ranged) Key(i int) string {
	j, k := r.set.Locate(i)
	sh := r.set.Shard(j)
	return sh.Key + ":" + sh.Samples[k].Key
}

func (r ranged) Read(ctx context.Context, s *dataset.Store, i int, buf []byte, trace *dataset.ReadTrace) ([]byte, dataset.Timing, error) {
	j, k := r.set.Locate(i)
	sh := r.set.Shard(j)
	smp := &sh.Samples[k]
	buf, tm, err := s.ReadRangeTraced(ctx, sh.Key, smp.Off, smp.Span(), buf, trace)
	if err != nil {
		return buf[:0], tm, err
	}
	if int64(len(buf)) != smp.Span() {
		// The shard ends before the sample does: it shrank since its
		// layout was read.
		return buf[:0], tm, &Error{Shard: sh.Key, Member: smp.Key, Off: smp.Off + int64(len(buf)),
			Err: fmt.Errorf("%w: the shard ends %d bytes into the sample's span of %d: the shard changed since its layout was read", ErrFormat, len(buf), smp.Span())}
	}
	dm := smp.DataMember()
	start := dm.Off - smp.Off
	if err := checkHeader(buf[start-BlockSize:start], dm.Size); err != nil {
		return buf[:0], tm, &Error{Shard: sh.Key, Member: smp.Key + "." + dm.Ext, Off: dm.Off - BlockSize, Err: err}
	}
	// The data to the front of the buffer, so that the buffer keeps its
	// whole capacity for the next read.
	copy(buf, buf[start:start+dm.Size])
	return buf[:dm.Size], tm, nil
}

// checkHeader returns an error, wrapping ErrFormat, unless hdr is a tar
// header block whose checksum holds and whose size field is size.
func checkHeader(hdr []byte, size int64) error {
	sum := int64(0)
	for i, c := range hdr {
		if i >= 148 && i < 156 {
			c = ' '
		}
		sum += int64(c)
	}
	stored, err := parseOctal(hdr[148:156])
	if err != nil || stored != sum {
		return fmt.Errorf("%w: the header before the sample's data fails its checksum: the shard changed since its layout was read", ErrFormat)
	}
	got, err := parseOctal(hdr[124:136])
	if err != nil || got != size {
		return fmt.Errorf("%w: the header before the sample's data gives %d bytes, its layout %d: the shard changed since its layout was read", ErrFormat, got, size)
	}
	return nil
}

// parseOctal parses a tar numeric field: octal digits, padded with
// spaces or NULs.
func parseOctal(f []byte) (int64, error) {
	i, j := 0, len(f)
	for i < j && (f[i] == ' ' || f[i] == 0) {
		i++
	}
	for j > i && (f[j-1] == ' ' || f[j-1] == 0) {
		j--
	}
	return strconv.ParseInt(string(f[i:j]), 8, 64)
}
