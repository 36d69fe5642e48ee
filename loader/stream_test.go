package loader_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/storagebench/storagebench/dataset"
	"github.com/storagebench/storagebench/dataset/mem"
	"github.com/storagebench/storagebench/dataset/wds"
	"github.com/storagebench/storagebench/loader"
)

// shardSet writes n samples of distinct content (a .cls and a .jpg
// each) into shards of at most limit bytes and returns the shards'
// objects, their index, the set's layout and each sample's data.
func shardSet(t testing.TB, n int, limit int64) (map[string][]byte, dataset.Index, *wds.Set, [][]byte) {
	t.Helper()
	objs, idx := objects(n)
	data := make([][]byte, n)
	for i, k := range idx {
		data[i] = append(objs[k], byte(i), byte(i>>8)) // at least 2 bytes: larger than its .cls of 1
	}
	size := func(i int) int64 { return wds.MemberSize(int64(len(data[i]))) + wds.MemberSize(1) }
	first, err := wds.Pack(n, size, limit)
	if err != nil {
		t.Fatal(err)
	}
	shards := map[string][]byte{}
	var layout []wds.Shard
	var keys dataset.Index
	for j := range len(first) - 1 {
		var buf bytes.Buffer
		w := wds.NewWriter(&buf)
		for i := first[j]; i < first[j+1]; i++ {
			if err := w.WriteSample(fmt.Sprintf("val/s%05d", i), wds.File{Ext: "cls", Data: []byte{'0' + byte(i%10)}}, wds.File{Ext: "jpg", Data: data[i]}); err != nil {
				t.Fatal(err)
			}
		}
		key := fmt.Sprintf("val-%06d.tar", j)
		sh, err := w.Close(key)
		if err != nil {
			t.Fatal(err)
		}
		shards[key] = buf.Bytes()
		layout = append(layout, sh)
		keys = append(keys, key)
	}
	set, err := wds.NewSet(layout)
	if err != nil {
		t.Fatal(err)
	}
	return shards, keys, set, data
}

// TestStream checks that a stream of shards delivers whole batches of
// exact samples, each at most once an epoch, the same number from every
// worker, under both modes and with and without a shuffle buffer, and
// that two ranks share no sample.
func TestStream(t *testing.T) {
	shards, keys, set, data := shardSet(t, 300, 8<<10)
	if set.Shards() < 8 {
		t.Fatalf("%d shards, want at least 8", set.Shards())
	}
	for _, tc := range []struct {
		name    string
		mode    loader.Mode
		fetch   int
		workers int
		shuffle int
		world   int
		part    int64
	}{
		{"sync", loader.Sync, 0, 2, 0, 1, 0},
		{"sync-shuffle", loader.Sync, 0, 3, 16, 1, 0},
		{"async", loader.Async, 3, 2, 0, 1, 0},
		{"async-shuffle", loader.Async, 2, 2, 40, 1, 0},
		{"ranks", loader.Sync, 0, 2, 8, 2, 0},
		// Parts that cut headers and data anywhere, smaller and larger
		// than a sample, one at a time or several.
		{"sync-parts", loader.Sync, 0, 2, 0, 1, 1000},
		{"async-parts", loader.Async, 3, 2, 0, 1, 777},
		{"async-parts-shuffle", loader.Async, 4, 3, 16, 1, 3000},
		{"parts-ranks", loader.Async, 2, 2, 8, 2, 5000},
		// Parts larger than a shard: a window of 8 parts, few used.
		{"parts-whole-shards", loader.Async, 4, 2, 0, 1, 1 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const epochs, batch = 2, 7
			seen := make([]map[int]int, epochs) // epoch: sample -> rank+1
			for e := range seen {
				seen[e] = map[int]int{}
			}
			perEpoch := make([][]int, tc.world) // rank: epoch: samples delivered
			for rank := range tc.world {
				st := dataset.NewStore(mem.New(shards))
				ds := dataset.New(st, keys)
				opts := loader.Options{
					BatchSize: batch, Workers: tc.workers, Mode: tc.mode, FetchConcurrency: tc.fetch,
					Epochs: epochs, Seed: 5, Shard: loader.Shard{Rank: rank, World: tc.world},
					Stream: &loader.StreamOptions{Set: set, Shuffle: tc.shuffle}, Part: tc.part,
				}
				perEpoch[rank] = make([]int, epochs)
				delivered := 0
				stats, err := load(context.Background(), ds, opts, func(b *loader.Batch) error {
					if len(b.Items) != batch {
						return fmt.Errorf("epoch %d batch %d: %d items, want %d", b.Epoch, b.Index, len(b.Items), batch)
					}
					for _, it := range b.Items {
						if !bytes.Equal(it.Data, data[it.Index]) {
							return fmt.Errorf("epoch %d: sample %d: %d bytes differ from its %d", b.Epoch, it.Index, len(it.Data), len(data[it.Index]))
						}
						if r, ok := seen[b.Epoch][it.Index]; ok {
							return fmt.Errorf("epoch %d: sample %d delivered twice (ranks %d and %d)", b.Epoch, it.Index, r-1, rank)
						}
						seen[b.Epoch][it.Index] = rank + 1
					}
					delivered += len(b.Items)
					perEpoch[rank][b.Epoch] += len(b.Items)
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				if stats.Items != int64(delivered) {
					t.Errorf("rank %d: delivered %d, stats %d", rank, delivered, stats.Items)
				}
				for e, n := range perEpoch[rank] {
					if n == 0 || n%(tc.workers*batch) != 0 {
						t.Errorf("rank %d: epoch %d delivered %d samples, want whole batches from every worker", rank, e, n)
					}
				}
				// Whole epochs: every share was cut, what was not
				// delivered of the epoch's samples dropped.
				if tc.world == 1 && stats.Dropped+int64(delivered) != int64(epochs*set.Len()) {
					t.Errorf("rank %d: %d dropped and %d delivered, want the %d samples of %d epochs", rank, stats.Dropped, delivered, epochs*set.Len(), epochs)
				}
				if stats.ShardReads < 1 || stats.StreamedBytes <= stats.Bytes {
					t.Errorf("rank %d: %d shard reads of %d bytes for %d bytes delivered", rank, stats.ShardReads, stats.StreamedBytes, stats.Bytes)
				}
				// In parts, every part is a request: at least the
				// parts of the bytes streamed, those past each shard's
				// first also part reads; without, a request a shard.
				if tc.part > 0 {
					least := (stats.StreamedBytes + tc.part - 1) / tc.part
					most := int64(0) // each shard's parts once an epoch
					multi := false   // some shard takes more than a part
					for j := range set.Shards() {
						end := set.Shard(j).SamplesEnd()
						most += epochs * ((end + tc.part - 1) / tc.part)
						multi = multi || end > tc.part
					}
					if stats.ShardReads < least || stats.ShardReads > most || (stats.PartReads > 0) != multi || stats.PartReads >= stats.ShardReads {
						t.Errorf("rank %d: %d requests, %d part reads for %d bytes streamed in parts of %d, want from %d to %d", rank, stats.ShardReads, stats.PartReads, stats.StreamedBytes, tc.part, least, most)
					}
				}
				if stats.AttemptErrors != 0 || stats.Retries != 0 {
					t.Errorf("rank %d: %d failed attempts and %d retries on a store that never fails", rank, stats.AttemptErrors, stats.Retries)
				}
				if tc.part == 0 && (stats.PartReads != 0 || stats.ShardReads > int64(epochs*set.Shards())) {
					t.Errorf("rank %d: %d requests, %d part reads, want a request a shard of %d shards in %d epochs", rank, stats.ShardReads, stats.PartReads, set.Shards(), epochs)
				}
			}
			for e := range epochs {
				total := 0
				for r := range perEpoch {
					if perEpoch[r][e] != perEpoch[0][e] {
						t.Errorf("epoch %d: samples by rank %v, want the same steps on every rank", e, perEpoch)
					}
					total += perEpoch[r][e]
				}
				if got := len(seen[e]); got != total {
					t.Errorf("epoch %d: %d distinct samples, want %d", e, got, total)
				}
			}
		})
	}
}

// TestStreamShufflesSamples checks that a shuffle buffer changes the
// order of samples within what it holds, and that shard order changes
// with the epoch.
func TestStreamShufflesSamples(t *testing.T) {
	shards, keys, set, _ := shardSet(t, 400, 64<<10)
	order := func(shuffle int) [][]int {
		ds := dataset.New(dataset.NewStore(mem.New(shards)), keys)
		byEpoch := make([][]int, 2)
		_, err := load(context.Background(), ds, loader.Options{BatchSize: 5, Workers: 1, Epochs: 2, Stream: &loader.StreamOptions{Set: set, Shuffle: shuffle}}, func(b *loader.Batch) error {
			for _, it := range b.Items {
				byEpoch[b.Epoch] = append(byEpoch[b.Epoch], it.Index)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return byEpoch
	}
	plain, shuffled := order(0), order(32)
	// breaks counts the places where a sample does not follow the one
	// before it in its shard.
	breaks := func(s []int) int {
		n := 0
		for i := 1; i < len(s); i++ {
			if s[i] != s[i-1]+1 {
				n++
			}
		}
		return n
	}
	if b := breaks(plain[0]); b >= set.Shards() {
		t.Errorf("without a shuffle buffer, %d breaks in the order of %d shards' samples, want fewer than the shards: %v", b, set.Shards(), plain[0])
	}
	if b := breaks(shuffled[0]); b < len(shuffled[0])/2 {
		t.Errorf("with a shuffle buffer of 32, only %d breaks in %d samples: %v", b, len(shuffled[0]), shuffled[0])
	}
	if fmt.Sprint(plain[0]) == fmt.Sprint(plain[1]) {
		t.Errorf("epochs 0 and 1 read the shards in the same order")
	}
}

// cutting cuts the first stream of every shard after half its bytes,
// with a transient error, once.
type cutting struct {
	dataset.Backend
	mu  sync.Mutex
	cut map[string]bool
}

type cutReader struct {
	io.ReadCloser
	left int64
}

var errCut = errors.New("connection reset by peer")

func (r *cutReader) Read(p []byte) (int, error) {
	if r.left <= 0 {
		return 0, errCut
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	n, err := r.ReadCloser.Read(p)
	r.left -= int64(n)
	return n, err
}

func (c *cutting) OpenRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, int64, error) {
	rc, size, err := c.Backend.(dataset.RangeOpener).OpenRange(ctx, key, off, n)
	if err != nil {
		return rc, size, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.cut[key] && off == 0 {
		c.cut[key] = true
		return &cutReader{ReadCloser: rc, left: size / 2}, size, nil
	}
	return rc, size, nil
}

func (c *cutting) ErrorKind(err error) dataset.ErrorKind {
	if errors.Is(err, errCut) {
		return dataset.KindTransient
	}
	return dataset.Classify(c.Backend, err)
}

// failing fails the first fails ranged reads past byte 0 of each key,
// as a connection reset.
type failing struct {
	dataset.Backend
	fails int
	mu    sync.Mutex
	n     map[string]int
}

func (f *failing) OpenRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, int64, error) {
	f.mu.Lock()
	fail := off > 0 && f.n[key] < f.fails
	if fail {
		f.n[key]++
	}
	f.mu.Unlock()
	if fail {
		return nil, 0, errCut
	}
	return f.Backend.(dataset.RangeOpener).OpenRange(ctx, key, off, n)
}

func (f *failing) ErrorKind(err error) dataset.ErrorKind {
	if errors.Is(err, errCut) {
		return dataset.KindTransient
	}
	return dataset.Classify(f.Backend, err)
}

// TestStreamResumes checks that a stream cut mid-shard resumes from its
// last whole member with a ranged read, and that a shard read in parts
// whose part fails past the store's retries resumes from there with new
// parts, every sample delivered once, its exact bytes.
func TestStreamResumes(t *testing.T) {
	shards, keys, set, data := shardSet(t, 120, 8<<10)
	policy := testPolicy
	policy.Attempts = 2
	for _, tc := range []struct {
		name  string
		b     dataset.Backend
		mode  loader.Mode
		part  int64
		fetch int
	}{
		{"cut", &cutting{Backend: mem.New(shards), cut: map[string]bool{}}, loader.Sync, 0, 0},
		{"parts-cut", &cutting{Backend: mem.New(shards), cut: map[string]bool{}}, loader.Async, 6000, 2}, // a first part past half the shard, cut
		{"parts-failing-sync", &failing{Backend: mem.New(shards), fails: 2, n: map[string]int{}}, loader.Sync, 1500, 0},
		{"parts-failing-async", &failing{Backend: mem.New(shards), fails: 2, n: map[string]int{}}, loader.Async, 1000, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := dataset.NewStore(tc.b).WithPolicy(policy)
			if err != nil {
				t.Fatal(err)
			}
			ds := dataset.New(st, keys)
			got := map[int]bool{}
			opts := loader.Options{BatchSize: 4, Workers: 2, Mode: tc.mode, FetchConcurrency: tc.fetch, Warmup: -1, Part: tc.part, Stream: &loader.StreamOptions{Set: set}}
			stats, err := load(context.Background(), ds, opts, func(bt *loader.Batch) error {
				for _, it := range bt.Items {
					if got[it.Index] || !bytes.Equal(it.Data, data[it.Index]) {
						return fmt.Errorf("sample %d: twice, or wrong bytes", it.Index)
					}
					got[it.Index] = true
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if int64(len(got)) != stats.Items || len(got)+int(stats.Dropped) != set.Len() {
				t.Errorf("%d distinct samples, %d delivered, %d dropped, of %d", len(got), stats.Items, stats.Dropped, set.Len())
			}
			// Some shards are left unread when the run ends.
			if stats.Retries < int64(set.Shards())/2 || stats.AttemptErrors < stats.Retries {
				t.Errorf("%d retries, %d failed attempts for %d shards each cut or failed, want a failure and a retry a shard read", stats.Retries, stats.AttemptErrors, set.Shards())
			}
		})
	}
}

// TestStreamErrors checks that shard sets a stream cannot split, and
// shards that are missing or malformed, fail naming what is wrong.
func TestStreamErrors(t *testing.T) {
	shards, keys, set, _ := shardSet(t, 60, 8<<10)
	for _, tc := range []struct {
		name string
		opts loader.Options
		edit func(objs map[string][]byte)
		want string
	}{
		{"too many workers", loader.Options{BatchSize: 2, Workers: 64}, nil, "want at least as many shards as workers"},
		{"batch larger than a share", loader.Options{BatchSize: 1000, Workers: 2}, nil, "less than a batch of 1000"},
		{"item scheduler", loader.Options{BatchSize: 2, Item: &loader.ItemOptions{}}, nil, "batch scheduler"},
		{"item shuffle", loader.Options{BatchSize: 2, Shuffle: true}, nil, "no sampler and no item shuffle"},
		{"missing shard", loader.Options{BatchSize: 2, Warmup: -1}, func(o map[string][]byte) { delete(o, keys[1]) }, keys[1]},
		{"corrupt shards", loader.Options{BatchSize: 2, Warmup: -1}, func(o map[string][]byte) {
			for k, v := range o {
				b := bytes.Clone(v)
				b[1024+3] ^= 0xff // the second member's header: its checksum fails
				o[k] = b
			}
		}, `": at offset 1024: malformed shard`},
		{"corrupt shards in parts", loader.Options{BatchSize: 2, Warmup: -1, Part: 700}, func(o map[string][]byte) {
			for k, v := range o {
				b := bytes.Clone(v)
				b[1024+3] ^= 0xff
				o[k] = b
			}
		}, `": at offset 1024: malformed shard`},
		{"missing shard in parts", loader.Options{BatchSize: 2, Warmup: -1, Part: 700}, func(o map[string][]byte) { delete(o, keys[1]) }, keys[1]},
		{"truncated shards in parts", loader.Options{BatchSize: 2, Warmup: -1, Part: 700}, func(o map[string][]byte) {
			for k, v := range o {
				o[k] = v[:len(v)/2]
			}
		}, "at offset 0: part [0, 700): the store's object is "},
		{"longer shards in parts", loader.Options{BatchSize: 2, Warmup: -1, Part: 700}, func(o map[string][]byte) {
			for k, v := range o {
				o[k] = append(bytes.Clone(v), make([]byte, 512)...)
			}
		}, "at offset 0: part [0, 700): the store's object is "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs := map[string][]byte{}
			for k, v := range shards {
				objs[k] = v
			}
			if tc.edit != nil {
				tc.edit(objs)
			}
			ds := dataset.New(dataset.NewStore(mem.New(objs)), keys)
			tc.opts.Stream = &loader.StreamOptions{Set: set}
			tc.opts.Epochs = 1
			_, err := load(context.Background(), ds, tc.opts, func(*loader.Batch) error { return nil })
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// TestStreamEmptySamples checks that samples whose members are all empty
// are delivered as samples, not taken for the end of a stream.
func TestStreamEmptySamples(t *testing.T) {
	var layout []wds.Shard
	objs := map[string][]byte{}
	var keys dataset.Index
	for j := range 4 {
		var buf bytes.Buffer
		w := wds.NewWriter(&buf)
		for k := range 6 {
			data := []byte{}
			if k%2 == 1 {
				data = []byte{byte(j), byte(k)}
			}
			if err := w.WriteSample(fmt.Sprintf("s%d/k%d", j, k), wds.File{Ext: "jpg", Data: data}); err != nil {
				t.Fatal(err)
			}
		}
		key := fmt.Sprintf("e-%06d.tar", j)
		sh, err := w.Close(key)
		if err != nil {
			t.Fatal(err)
		}
		objs[key], layout, keys = buf.Bytes(), append(layout, sh), append(keys, key)
	}
	set, err := wds.NewSet(layout)
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []loader.Mode{loader.Sync, loader.Async} {
		ds := dataset.New(dataset.NewStore(mem.New(objs)), keys)
		got := 0
		_, err := load(context.Background(), ds, loader.Options{BatchSize: 3, Workers: 2, Mode: mode, Warmup: -1, Stream: &loader.StreamOptions{Set: set}}, func(b *loader.Batch) error {
			got += len(b.Items)
			return nil
		})
		if err != nil || got != set.Len() {
			t.Errorf("%s: delivered %d of %d samples, %v", mode, got, set.Len(), err)
		}
	}
}

// gated counts the ranged reads open at once (from OpenRange to the
// body's Close), and holds the first ones until c are open, or a while
// has passed: a loader that keeps c reads in flight reaches c.
type gated struct {
	dataset.Backend
	c    int
	mu   sync.Mutex
	open int
	most int
	full chan struct{}
}

type gatedBody struct {
	io.ReadCloser
	g *gated
}

func (b gatedBody) Close() error {
	b.g.mu.Lock()
	b.g.open--
	b.g.mu.Unlock()
	return b.ReadCloser.Close()
}

func (g *gated) OpenRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, int64, error) {
	g.mu.Lock()
	g.open++
	g.most = max(g.most, g.open)
	if g.open >= g.c {
		select {
		case <-g.full:
		default:
			close(g.full)
		}
	}
	g.mu.Unlock()
	select {
	case <-g.full:
	case <-time.After(100 * time.Millisecond): // fewer than c in flight: the test fails
	case <-ctx.Done():
	}
	rc, size, err := g.Backend.(dataset.RangeOpener).OpenRange(ctx, key, off, n)
	if err != nil {
		g.mu.Lock()
		g.open--
		g.mu.Unlock()
		return nil, 0, err
	}
	return gatedBody{rc, g}, size, nil
}

// TestStreamPartsInFlight checks that shards read in parts keep a
// worker's fetchers' number of parts in flight, one in sync mode: C in
// all, never more.
func TestStreamPartsInFlight(t *testing.T) {
	shards, keys, set, _ := shardSet(t, 300, 16<<10)
	for _, tc := range []struct {
		name    string
		mode    loader.Mode
		workers int
		fetch   int
	}{
		{"sync", loader.Sync, 3, 0},
		{"async", loader.Async, 2, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.workers * max(tc.fetch, 1)
			g := &gated{Backend: mem.New(shards), c: c, full: make(chan struct{})}
			ds := dataset.New(dataset.NewStore(g), keys)
			opts := loader.Options{BatchSize: 4, Workers: tc.workers, Mode: tc.mode, FetchConcurrency: tc.fetch, Warmup: -1, Part: 1024, Stream: &loader.StreamOptions{Set: set}}
			if _, err := load(context.Background(), ds, opts, func(*loader.Batch) error { return nil }); err != nil {
				t.Fatal(err)
			}
			if g.most != c {
				t.Errorf("at most %d parts in flight, want C = %d", g.most, c)
			}
		})
	}
}

// TestStreamPartsFewShards checks shards in parts over several epochs
// when a worker's shards take fewer parts than its window holds: the
// window's buffers carry over from epoch to epoch, every sample exact.
func TestStreamPartsFewShards(t *testing.T) {
	shards, keys, set, data := shardSet(t, 40, 32<<10)
	ds := dataset.New(dataset.NewStore(mem.New(shards)), keys)
	opts := loader.Options{BatchSize: 2, Workers: 2, Mode: loader.Async, FetchConcurrency: 8, Epochs: 4, Warmup: -1, Part: 1 << 20, Stream: &loader.StreamOptions{Set: set}}
	epochs := map[int]bool{}
	if _, err := load(context.Background(), ds, opts, func(b *loader.Batch) error {
		epochs[b.Epoch] = true
		for _, it := range b.Items {
			if !bytes.Equal(it.Data, data[it.Index]) {
				return fmt.Errorf("epoch %d: sample %d: wrong bytes", b.Epoch, it.Index)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(epochs) != 4 || set.Shards() >= 2*16 {
		t.Errorf("%d epochs read, %d shards: want 4 epochs, fewer shards than the workers' windows hold", len(epochs), set.Shards())
	}
}
