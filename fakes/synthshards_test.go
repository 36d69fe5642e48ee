package fakes_test

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/storagebench/storagebench/dataset"
	"github.com/storagebench/storagebench/dataset/wds"
	"github.com/storagebench/storagebench/fakes"
)

// TestShardView checks that the shards a view makes on demand are those
// the Writer writes from the items' bytes, that a stream of each gives
// back every item exactly, and that ranged reads and listings agree.
func TestShardView(t *testing.T) {
	ctx := context.Background()
	s := fakes.Synth{N: 30, Seed: 3, Bodies: 7}
	bodies, err := s.DistinctBodies(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const limit = 1_000_000
	set, err := s.Shards(limit)
	if err != nil {
		t.Fatal(err)
	}
	if set.Len() != s.N || set.Shards() < 3 {
		t.Fatalf("%d samples in %d shards, want %d in several", set.Len(), set.Shards(), s.N)
	}
	v, err := s.ShardView(set, bodies)
	if err != nil {
		t.Fatal(err)
	}
	st := dataset.NewStore(v)
	for j := range set.Shards() {
		sh := set.Shard(j)
		var w bytes.Buffer
		tw := wds.NewWriter(&w)
		for k := range sh.Samples {
			i := set.First(j) + k
			if err := tw.WriteSample(s.SampleKey(i), s.ShardFiles(i, s.Item(i))...); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := tw.Close(sh.Key); err != nil {
			t.Fatal(err)
		}
		if int64(w.Len()) > limit || int64(w.Len()) != sh.Size {
			t.Fatalf("shard %s: written %d bytes, layout %d, limit %d", sh.Key, w.Len(), sh.Size, limit)
		}
		got, _, err := st.Read(ctx, sh.Key, nil)
		if err != nil || !bytes.Equal(got, w.Bytes()) {
			t.Fatalf("shard %s: the view's %d bytes (%v) differ from the writer's %d", sh.Key, len(got), err, w.Len())
		}
		sc := wds.NewScanner(bytes.NewReader(got), sh.Key, 0, sh.Size)
		for k := 0; ; k++ {
			smp, data, err := sc.Next(nil)
			if err == io.EOF {
				if k != len(sh.Samples) {
					t.Fatalf("shard %s: %d samples streamed, layout %d", sh.Key, k, len(sh.Samples))
				}
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			i := set.First(j) + k
			if smp.Key != s.SampleKey(i) || !bytes.Equal(data, s.Item(i)) {
				t.Fatalf("shard %s: sample %d is %q, want item %d's bytes", sh.Key, k, smp.Key, i)
			}
			lay := &sh.Samples[k]
			span, _, err := st.ReadRange(ctx, sh.Key, lay.Off, lay.Span(), nil)
			if err != nil || !bytes.Equal(span, got[lay.Off:lay.End]) {
				t.Fatalf("shard %s: ranged read of sample %d: %v", sh.Key, k, err)
			}
		}
	}
	entries, err := st.List(ctx, "")
	if err != nil || len(entries) != set.Shards() || entries[1].Key != s.ShardKey(1) || entries[1].Size != set.Shard(1).Size {
		t.Errorf("List: %v, %v; want the %d shards", entries, err, set.Shards())
	}
	if _, _, err := st.Read(ctx, "val-999999.tar", nil); dataset.KindOf(err) != dataset.KindNotFound {
		t.Errorf("Read of a missing shard: %v, want not found", err)
	}
}
