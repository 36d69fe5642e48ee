package wds

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/storagebench/storagebench/dataset"
)

// Scan reads the shard named shard from r, which starts at the shard's
// first byte, and returns its layout, reading its data through without
// keeping it. size is the shard's size, -1 if unknown. Problems are
// [*Error] values naming the shard, the member and the offset.
func Scan(r io.Reader, shard string, size int64) (Shard, error) {
	sc := NewScanner(r, shard, 0, size)
	sh := Shard{Key: shard, Size: size}
	var buf []byte
	for {
		s, data, err := sc.Next(buf)
		if err == io.EOF {
			break
		}
		if err != nil {
			return Shard{}, err
		}
		buf = data
		c := *s
		c.Members = append([]Member(nil), s.Members...)
		sh.Samples = append(sh.Samples, c)
	}
	if size < 0 {
		sh.Size = sc.cr.n
	}
	if len(sh.Samples) == 0 {
		return Shard{}, &Error{Shard: shard, Off: 0, Err: fmt.Errorf("%w: no sample in the shard", ErrFormat)}
	}
	return sh, nil
}

// Set is the layout of a dataset's shards: samples numbered from 0 in
// shard order, as a data loader numbers items. It is immutable and safe
// for concurrent use.
type Set struct {
	shards []Shard
	first  []int // first[j] is the number of shard j's first sample; first[len(shards)] the total
}

// NewSet returns the set of shards, in order. It fails when there is no
// shard, when a shard holds no sample, or when two shards share a key.
func NewSet(shards []Shard) (*Set, error) {
	if len(shards) == 0 {
		return nil, fmt.Errorf("wds: a set needs at least one shard")
	}
	s := &Set{shards: shards, first: make([]int, len(shards)+1)}
	seen := make(map[string]bool, len(shards))
	for j, sh := range shards {
		if len(sh.Samples) == 0 {
			return nil, fmt.Errorf("wds: shard %q holds no sample", sh.Key)
		}
		if seen[sh.Key] {
			return nil, fmt.Errorf("wds: shard %q is listed twice", sh.Key)
		}
		seen[sh.Key] = true
		s.first[j+1] = s.first[j] + len(sh.Samples)
	}
	return s, nil
}

// Len returns the number of samples.
func (s *Set) Len() int { return s.first[len(s.shards)] }

// Shards returns the number of shards.
func (s *Set) Shards() int { return len(s.shards) }

// Shard returns the layout of shard j. The caller must not modify it.
func (s *Set) Shard(j int) *Shard { return &s.shards[j] }

// First returns the number of shard j's first sample.
func (s *Set) First(j int) int { return s.first[j] }

// Locate returns the shard holding sample i and its position there.
func (s *Set) Locate(i int) (shard, pos int) {
	j := sort.Search(len(s.shards), func(j int) bool { return s.first[j+1] > i })
	return j, i - s.first[j]
}

// Sample returns the layout of sample i. The caller must not modify it.
func (s *Set) Sample(i int) *Sample {
	j, k := s.Locate(i)
	return &s.shards[j].Samples[k]
}

// IsShardIndex reports whether idx names shards: whether its keys end in
// ".tar", as a WebDataset's do. It looks at the first key; [ScanStore]
// refuses an index mixing shards and other keys.
func IsShardIndex(idx dataset.Index) bool {
	return len(idx) > 0 && strings.HasSuffix(idx[0], ".tar")
}

// ScanStore reads every shard of idx from store, concurrency at a time,
// and returns their layout, in index order: the one pass over a user's
// shards that gives the offsets a ranged read needs and the samples each
// shard holds. It fails naming the shard, the member and the offset of
// the first problem, and naming the key of an index entry that is not a
// ".tar" shard.
func ScanStore(ctx context.Context, store *dataset.Store, idx dataset.Index, concurrency int) (*Set, error) {
	for i, k := range idx {
		if !strings.HasSuffix(k, ".tar") {
			return nil, fmt.Errorf("wds: index entry %d, %q, is not a .tar shard; a shard index holds only shards", i, k)
		}
	}
	shards := make([]Shard, len(idx))
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(max(concurrency, 1))
	for j, key := range idx {
		g.Go(func() error {
			st, err := store.OpenStream(ctx, key, 0)
			if err != nil {
				return err
			}
			defer st.Close()
			sh, err := Scan(st, key, st.Size())
			if err != nil {
				return err
			}
			shards[j] = sh
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return NewSet(shards)
}
