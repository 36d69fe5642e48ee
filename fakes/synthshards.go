package fakes

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/storagebench/storagebench/dataset"
	"github.com/storagebench/storagebench/dataset/wds"
)

// Classes is the number of classes of the synthetic dataset: item i is of
// class i mod Classes, as ImageNet's 1,000.
const Classes = 1000

// classLabels holds the .cls member of each class: its number in decimal.
var classLabels = func() [][]byte {
	l := make([][]byte, Classes)
	for c := range l {
		l[c] = []byte(strconv.Itoa(c))
	}
	return l
}()

// SampleKey returns the WebDataset key of item i in shards: its key
// without the extension, "val/ILSVRC2012_val_00000001" for item 0.
func (s Synth) SampleKey(i int) string { return strings.TrimSuffix(s.Key(i), keyExt) }

// ShardKey returns the key of shard j of s's shards: the key prefix
// without its last slash, a dash and six digits, as WebDataset numbers
// its shards: "val-000000.tar".
func (s Synth) ShardKey(j int) string {
	return fmt.Sprintf("%s-%06d.tar", strings.TrimSuffix(s.prefix(), "/"), j)
}

// ShardFiles returns the members of item i in a shard, in order: its
// JPEG, "<key>.jpg", then its class, "<key>.cls". data is the item's
// bytes.
func (s Synth) ShardFiles(i int, data []byte) []wds.File {
	return []wds.File{{Ext: "jpg", Data: data}, {Ext: "cls", Data: classLabels[i%Classes]}}
}

// Shards returns the layout of s's items written, in order, into tar
// shards of at most limit bytes each, as [wds.Writer] writes them with
// the members [Synth.ShardFiles] gives, keyed by [Synth.ShardKey]: the
// same samples, the same bytes, as the loose items. It computes the
// layout from the items' sizes, without their bytes.
func (s Synth) Shards(limit int64) (*wds.Set, error) {
	if err := s.checkN(); err != nil {
		return nil, err
	}
	size := func(i int) int64 {
		return wds.MemberSize(int64(s.Size(i))) + wds.MemberSize(int64(len(classLabels[i%Classes])))
	}
	first, err := wds.Pack(s.N, size, limit)
	if err != nil {
		return nil, fmt.Errorf("synth: %w", err)
	}
	shards := make([]wds.Shard, len(first)-1)
	for j := range shards {
		sh := wds.Shard{Key: s.ShardKey(j), Samples: make([]wds.Sample, 0, first[j+1]-first[j])}
		off := int64(0)
		for i := first[j]; i < first[j+1]; i++ {
			smp := wds.Sample{Key: s.SampleKey(i), Off: off, Members: make([]wds.Member, 0, 2)}
			for _, m := range []struct {
				ext  string
				size int64
			}{{"jpg", int64(s.Size(i))}, {"cls", int64(len(classLabels[i%Classes]))}} {
				smp.Members = append(smp.Members, wds.Member{Ext: m.ext, Off: off + wds.BlockSize, Size: m.size})
				off += wds.MemberSize(m.size)
			}
			last := smp.Members[1]
			smp.End = last.Off + last.Size
			sh.Samples = append(sh.Samples, smp)
		}
		sh.Size = wds.ShardSize(off)
		shards[j] = sh
	}
	return wds.NewSet(shards)
}

// ShardView is a read-only backend serving the tar shards of a synthetic
// dataset ([Synth.Shards]) made on demand from its distinct bodies
// ([wds.NewReader]): a dataset of a million samples in shards costs the
// memory of its K bodies and its layout, never a shard's bytes. Its
// readers seek, so the fake S3 answers ranges of a mounted view; it also
// implements [dataset.RangeOpener], [dataset.Lister], [PageLister] and
// [dataset.Immediate]. It is safe for concurrent use.
type ShardView struct {
	s      Synth
	set    *wds.Set
	bodies [][]byte
	byKey  map[string]int
}

// ShardView returns a view serving set, the layout [Synth.Shards] gave
// for s, from bodies, what [Synth.DistinctBodies] returned for s.
func (s Synth) ShardView(set *wds.Set, bodies [][]byte) (*ShardView, error) {
	if err := s.checkBodies(bodies); err != nil {
		return nil, err
	}
	v := &ShardView{s: s, set: set, bodies: bodies, byKey: make(map[string]int, set.Shards())}
	for j := range set.Shards() {
		v.byKey[set.Shard(j).Key] = j
	}
	return v, nil
}

// reader returns a reader of shard key.
func (v *ShardView) reader(ctx context.Context, key string) (io.ReadSeeker, int64, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	j, ok := v.byKey[key]
	if !ok {
		return nil, 0, dataset.ErrNotFound
	}
	sh := v.set.Shard(j)
	first := v.set.First(j)
	k := len(v.bodies)
	content := func(smp, m int) []byte {
		i := first + smp
		if m == 0 {
			return v.bodies[i%k]
		}
		return classLabels[i%Classes]
	}
	return wds.NewReader(sh, content), sh.Size, nil
}

// Open implements [dataset.Backend].
func (v *ShardView) Open(ctx context.Context, key string) (io.ReadCloser, int64, error) {
	r, size, err := v.reader(ctx, key)
	if err != nil {
		return nil, 0, err
	}
	return &shardReader{ReadSeeker: r, ctx: ctx}, size, nil
}

// OpenRange implements [dataset.RangeOpener].
func (v *ShardView) OpenRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, int64, error) {
	r, size, err := v.reader(ctx, key)
	if err != nil {
		return nil, 0, err
	}
	if err := dataset.CheckRange(off, n, size); err != nil {
		return nil, 0, err
	}
	if _, err := r.Seek(off, io.SeekStart); err != nil {
		return nil, 0, err
	}
	if n < 0 || n > size-off {
		n = size - off
	}
	return &shardReader{ReadSeeker: r, ctx: ctx, left: n, limited: true}, size, nil
}

// shardReader reads a shard made on demand, up to left bytes when
// limited, and stops with its context.
type shardReader struct {
	io.ReadSeeker
	ctx     context.Context
	left    int64
	limited bool
}

func (r *shardReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	if r.limited {
		if r.left <= 0 {
			return 0, io.EOF
		}
		if int64(len(p)) > r.left {
			p = p[:r.left]
		}
	}
	n, err := r.ReadSeeker.Read(p)
	r.left -= int64(n)
	return n, err
}

// Seek implements io.Seeker for a whole shard's reader; a ranged one
// does not seek.
func (r *shardReader) Seek(offset int64, whence int) (int64, error) {
	if r.limited {
		return 0, fmt.Errorf("synth: a ranged read of a shard does not seek")
	}
	return r.ReadSeeker.Seek(offset, whence)
}

func (r *shardReader) Close() error { return nil }

// List implements [dataset.Lister].
func (v *ShardView) List(ctx context.Context, prefix string) ([]dataset.Entry, error) {
	return v.ListPage(ctx, prefix, "", v.set.Shards())
}

// ListPage implements [PageLister]. Shard keys sort in shard order.
func (v *ShardView) ListPage(ctx context.Context, prefix, after string, limit int) ([]dataset.Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	n := v.set.Shards()
	key := func(j int) string { return v.set.Shard(j).Key }
	j := sort.Search(n, func(j int) bool { return key(j) >= prefix && (after == "" || key(j) > after) })
	var out []dataset.Entry
	for ; j < n && len(out) < limit && strings.HasPrefix(key(j), prefix); j++ {
		out = append(out, dataset.Entry{Key: key(j), Size: v.set.Shard(j).Size})
	}
	return out, nil
}

// Immediate implements [dataset.Immediate]: reads from memory never wait.
func (v *ShardView) Immediate() bool { return true }

// ErrorKind implements [dataset.Classifier]: a missing shard is not
// found, a range past a shard's end permanent, an ended context canceled.
func (v *ShardView) ErrorKind(err error) dataset.ErrorKind { return dataset.KindOf(err) }
