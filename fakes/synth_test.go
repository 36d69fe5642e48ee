package fakes

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/storagebench/storagebench/dataset"
	"github.com/storagebench/storagebench/dataset/mem"
)

func TestSynthKey(t *testing.T) {
	tests := []struct {
		name string
		s    Synth
		i    int
		want string
	}{
		{"first", Synth{N: 1}, 0, "val/ILSVRC2012_val_00000001.JPEG"},
		{"tenth", Synth{N: 50_000}, 9, "val/ILSVRC2012_val_00000010.JPEG"},
		{"last of ImageNet", Synth{N: 50_000}, 49_999, "val/ILSVRC2012_val_00050000.JPEG"},
		{"eight digits", Synth{N: 100_000_000}, 99_999_998, "val/ILSVRC2012_val_99999999.JPEG"},
		{"prefix", Synth{N: 2, Prefix: "imagenet/val/"}, 1, "imagenet/val/ILSVRC2012_val_00000002.JPEG"},
		{"seed does not matter", Synth{N: 1, Seed: 99}, 0, "val/ILSVRC2012_val_00000001.JPEG"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.s.Key(tt.i); got != tt.want {
				t.Errorf("Key(%d) = %q, want %q", tt.i, got, tt.want)
			}
		})
	}
}

func TestSynthIndex(t *testing.T) {
	tests := []struct {
		name string
		s    Synth
	}{
		{"one", Synth{N: 1}},
		{"many", Synth{N: 1234, Seed: 5}},
		{"prefix", Synth{N: 20, Prefix: "x/"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			idx := tt.s.Index()
			if len(idx) != tt.s.N {
				t.Fatalf("len(Index()) = %d, want %d", len(idx), tt.s.N)
			}
			for i, k := range idx {
				if want := tt.s.Key(i); k != want {
					t.Fatalf("Index()[%d] = %q, want %q", i, k, want)
				}
			}
			if !slices.IsSorted(idx) {
				t.Errorf("Index() is not sorted: numbering must keep keys in position order")
			}
			var buf bytes.Buffer
			if err := dataset.WriteIndex(&buf, idx); err != nil {
				t.Fatal(err)
			}
			got, err := dataset.ParseIndex("index", buf.Bytes())
			if err != nil {
				t.Fatalf("ParseIndex: %v", err)
			}
			if !slices.Equal(got, idx) {
				t.Errorf("index does not survive WriteIndex and ParseIndex")
			}
		})
	}
	if got := (Synth{}).Index(); got != nil {
		t.Errorf("Index() of an empty Synth = %q, want nil", got)
	}
}

func TestSynthDeterminism(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		a, b Synth
		same bool
	}{
		{"same seed", Synth{N: 3, Seed: 1}, Synth{N: 3, Seed: 1}, true},
		{"zero seed", Synth{N: 3}, Synth{N: 3}, true},
		{"larger N keeps items", Synth{N: 3, Seed: 1}, Synth{N: 10_000, Seed: 1}, true},
		{"default prefix", Synth{N: 3, Seed: 1}, Synth{N: 3, Seed: 1, Prefix: "val/"}, true},
		{"different seed", Synth{N: 3, Seed: 1}, Synth{N: 3, Seed: 2}, false},
		{"seed zero and one", Synth{N: 3}, Synth{N: 3, Seed: 1}, false},
		{"different prefix", Synth{N: 3, Seed: 1}, Synth{N: 3, Seed: 1, Prefix: "train/"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for i := range 3 {
				a, b := tt.a.Item(i), tt.b.Item(i)
				if got := bytes.Equal(a, b); got != tt.same {
					t.Errorf("item %d: got equal=%v, want %v", i, got, tt.same)
				}
				if tt.same && tt.a.Size(i) != tt.b.Size(i) {
					t.Errorf("item %d: got sizes %d and %d, want equal", i, tt.a.Size(i), tt.b.Size(i))
				}
			}
		})
	}
}

func TestSynthItemIsFresh(t *testing.T) {
	s := Synth{N: 1, Seed: 1}
	a := s.Item(0)
	want := bytes.Clone(a)
	clear(a)
	if got := s.Item(0); !bytes.Equal(got, want) {
		t.Errorf("Item(0) changed after a caller overwrote an earlier result")
	}
}

func TestSynthOutOfRangePanics(t *testing.T) {
	s := Synth{N: 3}
	for _, i := range []int{-1, 3, 100} {
		for name, f := range map[string]func(int){
			"Key":  func(i int) { s.Key(i) },
			"Size": func(i int) { s.Size(i) },
			"Item": func(i int) { s.Item(i) },
		} {
			if !panics(func() { f(i) }) {
				t.Errorf("%s(%d) with N=3: got no panic, want one", name, i)
			}
		}
	}
}

func panics(f func()) (panicked bool) {
	defer func() { panicked = recover() != nil }()
	f()
	return false
}

// TestSynthItemsDecode checks every item of a 300-item set: its length, its
// layout (start of image, comments naming the item, then a JPEG), its
// header through image.DecodeConfig and its pixels through jpeg.Decode.
// Items that share a base image differ only in their comments, which the
// decoder skips once DecodeConfig has parsed them; each distinct image
// stream is fully decoded once, as the first item carrying it, which keeps
// the test quick under the race detector.
func TestSynthItemsDecode(t *testing.T) {
	t.Parallel()
	s := Synth{N: 300, Seed: 1}
	items, err := s.Items(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != s.N {
		t.Fatalf("Items returned %d items, want %d", len(items), s.N)
	}
	decoded := make(map[string]image.Rectangle) // image stream → bounds
	seen := make(map[string]int)                // item → position
	for i := range s.N {
		key := s.Key(i)
		item, ok := items[key]
		if !ok {
			t.Fatalf("Items has no %q", key)
		}
		if len(item) != s.Size(i) {
			t.Errorf("%s: got %d bytes, want Size(%d) = %d", key, len(item), i, s.Size(i))
		}
		if j, dup := seen[string(item)]; dup {
			t.Errorf("%s: same bytes as item %d", key, j)
		}
		seen[string(item)] = i

		comments, stream := splitComments(t, key, item)
		if len(comments) == 0 || !bytes.Contains(comments[0], []byte(key)) {
			t.Errorf("%s: first comment does not name the key", key)
		}
		cfg, format, err := image.DecodeConfig(bytes.NewReader(item))
		if err != nil {
			t.Errorf("%s: DecodeConfig: %v", key, err)
			continue
		}
		if format != "jpeg" || cfg.Width < 64 || cfg.Height < 64 {
			t.Errorf("%s: got a %dx%d %s image, want a jpeg of at least 64x64", key, cfg.Width, cfg.Height, format)
		}
		bounds, ok := decoded[string(stream)]
		if !ok {
			m, err := jpeg.Decode(bytes.NewReader(item))
			if err != nil {
				t.Errorf("%s: jpeg.Decode: %v", key, err)
				continue
			}
			bounds = m.Bounds()
			decoded[string(stream)] = bounds
		}
		if bounds.Dx() != cfg.Width || bounds.Dy() != cfg.Height {
			t.Errorf("%s: decoded %v, want the %dx%d of DecodeConfig", key, bounds, cfg.Width, cfg.Height)
		}
	}
	t.Logf("%d items decoded, %d distinct image streams", s.N, len(decoded))
}

// splitComments checks that item is a start-of-image marker, then comment
// segments, then the rest of a JPEG, and returns the comments' payloads and
// the rest.
func splitComments(tb testing.TB, key string, item []byte) (comments [][]byte, rest []byte) {
	tb.Helper()
	if len(item) < 4 || item[0] != 0xFF || item[1] != markerSOI {
		tb.Fatalf("%s: does not start with a start-of-image marker", key)
	}
	b := item[2:]
	for len(b) >= segHeader && b[0] == 0xFF && b[1] == markerCOM {
		n := int(binary.BigEndian.Uint16(b[2:]))
		if n < 2 || 2+n > len(b) {
			tb.Fatalf("%s: comment at offset %d has length %d, past the end", key, len(item)-len(b), n)
		}
		comments = append(comments, b[segHeader:2+n])
		b = b[2+n:]
	}
	if len(b) < 2 || b[0] != 0xFF || b[1] == markerCOM {
		tb.Fatalf("%s: no marker after the comments", key)
	}
	return comments, b
}

func TestWriteComments(t *testing.T) {
	const header = "storagebench synthetic image val/x.JPEG seed=1\n"
	tests := []struct {
		name     string
		size     int
		segments int
	}{
		{"empty comment", segHeader, 1},
		{"header cut", segHeader + 10, 1},
		{"header only", segHeader + len(header), 1},
		{"small", 5000, 1},
		{"one full segment", segHeader + maxSegBytes, 1},
		{"just over one segment", segHeader + maxSegBytes + 1, 2},
		{"two full segments", 2 * (segHeader + maxSegBytes), 2},
		{"just over two segments", 2*(segHeader+maxSegBytes) + 1, 3},
		{"large", 300_000, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := make([]byte, tt.size)
			writeComments(dst, header, rand.NewChaCha8([32]byte{1}))
			comments, rest := splitComments(t, tt.name, append([]byte{0xFF, markerSOI}, append(dst, 0xFF, 0xD9)...))
			if len(comments) != tt.segments {
				t.Errorf("got %d segments, want %d", len(comments), tt.segments)
			}
			if len(rest) != 2 {
				t.Errorf("got %d bytes after the comments, want 2", len(rest))
			}
			total := 0
			for j, c := range comments {
				total += segHeader + len(c)
				if len(c) > maxSegBytes {
					t.Errorf("segment %d: got %d bytes of payload, want at most %d", j, len(c), maxSegBytes)
				}
			}
			if total != tt.size {
				t.Errorf("segments hold %d bytes, want %d", total, tt.size)
			}
			want := header[:min(len(header), len(comments[0]))]
			if got := string(comments[0][:len(want)]); got != want {
				t.Errorf("first comment starts %q, want %q", got, want)
			}
		})
	}
}

// TestSynthExtremeSizes builds items at the ends of the size range, which a
// few thousand draws may not reach.
func TestSynthExtremeSizes(t *testing.T) {
	t.Parallel()
	s := Synth{N: 1, Seed: 1}
	for _, size := range []int{sizeMin, sizeMin + 1, 20_000, 113_000, sizeMax} {
		t.Run(fmt.Sprint("size=", size), func(t *testing.T) {
			item := s.item(0, size)
			if len(item) != size {
				t.Fatalf("got %d bytes, want %d", len(item), size)
			}
			_, stream := splitComments(t, s.Key(0), item)
			if pad := size - len(stream) - 2; pad > size/5 {
				t.Errorf("got %d bytes of comments in %d, want at most a fifth", pad, size)
			}
			if _, err := jpeg.Decode(bytes.NewReader(item)); err != nil {
				t.Errorf("jpeg.Decode: %v", err)
			}
		})
	}
}

func TestSynthSizeDistribution(t *testing.T) {
	for _, seed := range []uint64{0, 1, 42} {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			s := Synth{N: 2000, Seed: seed}
			sizes := make([]int, s.N)
			for i := range sizes {
				sizes[i] = s.Size(i)
			}
			st := summarize(sizes)
			t.Logf("mean %.0f, median %d, min %d, max %d, %d above 400 KB", st.mean, st.median, st.min, st.max, st.over400K)
			if st.mean < 110_000 || st.mean > 130_000 {
				t.Errorf("got mean %.0f bytes, want 110-130 KB", st.mean)
			}
			if st.median < 90_000 || st.median > 120_000 {
				t.Errorf("got median %d bytes, want 90-120 KB", st.median)
			}
			if st.min < sizeMin {
				t.Errorf("got min %d bytes, want at least %d", st.min, sizeMin)
			}
			if st.max > sizeMax {
				t.Errorf("got max %d bytes, want at most %d", st.max, sizeMax)
			}
			if st.over400K < 3 {
				t.Errorf("got %d items above 400 KB, want at least 3 (a long tail)", st.over400K)
			}
		})
	}
}

type sizeStats struct {
	mean             float64
	median, min, max int
	over400K         int
}

func summarize(sizes []int) sizeStats {
	sorted := slices.Sorted(slices.Values(sizes))
	var st sizeStats
	sum := 0
	for _, n := range sorted {
		sum += n
		if n > 400_000 {
			st.over400K++
		}
	}
	st.mean = float64(sum) / float64(len(sorted))
	st.median = sorted[len(sorted)/2]
	st.min, st.max = sorted[0], sorted[len(sorted)-1]
	return st
}

func TestSynthWrite(t *testing.T) {
	t.Parallel()
	s := Synth{N: 30, Seed: 1}
	for _, concurrency := range []int{0, 1, 3} {
		t.Run(fmt.Sprint("concurrency=", concurrency), func(t *testing.T) {
			ctx := t.Context()
			store := dataset.NewStore(mem.New(nil))
			idx, err := s.Write(ctx, store, concurrency)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(idx, s.Index()) {
				t.Errorf("Write returned an index other than Index()")
			}
			data, _, err := store.Read(ctx, dataset.IndexKey, nil)
			if err != nil {
				t.Fatal(err)
			}
			stored, err := dataset.ParseIndex(dataset.IndexKey, data)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(stored, idx) {
				t.Errorf("stored index holds %d keys, want the %d of Index()", len(stored), len(idx))
			}
			var buf []byte
			for i, key := range stored {
				buf, _, err = store.Read(ctx, key, buf)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(buf, s.Item(i)) {
					t.Errorf("%s: stored %d bytes differ from Item(%d)", key, len(buf), i)
				}
			}
			entries, err := store.List(ctx, "")
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != s.N+1 {
				t.Errorf("store holds %d objects, want %d items and the index", len(entries), s.N)
			}
		})
	}
}

func TestSynthNonPositiveN(t *testing.T) {
	for _, n := range []int{0, -1} {
		t.Run(fmt.Sprint("N=", n), func(t *testing.T) {
			s := Synth{N: n}
			if m, err := s.Items(t.Context()); err == nil || m != nil {
				t.Errorf("Items: got %d items and error %v, want none and an error", len(m), err)
			}
			store := dataset.NewStore(mem.New(nil))
			if idx, err := s.Write(t.Context(), store, 0); err == nil || idx != nil {
				t.Errorf("Write: got %d keys and error %v, want none and an error", len(idx), err)
			}
			if entries, _ := store.List(t.Context(), ""); len(entries) != 0 {
				t.Errorf("Write stored %d objects, want none", len(entries))
			}
		})
	}
}

func TestSynthCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	s := Synth{N: 50, Seed: 1}
	if _, err := s.Items(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Items: got error %v, want context.Canceled", err)
	}
	store := dataset.NewStore(mem.New(nil))
	if _, err := s.Write(ctx, store, 4); !errors.Is(err, context.Canceled) {
		t.Errorf("Write: got error %v, want context.Canceled", err)
	}
	if _, _, err := store.Read(t.Context(), dataset.IndexKey, nil); !errors.Is(err, dataset.ErrNotFound) {
		t.Errorf("reading the index after a canceled Write: got error %v, want ErrNotFound", err)
	}
}

// coldSeeds hands out seeds no other benchmark iteration has used.
var coldSeeds atomic.Uint64

func init() { coldSeeds.Store(1 << 32) }

// BenchmarkSynthItems measures generating 2,000 items: with bases=warm the
// base images are already encoded, with bases=cold every iteration uses a
// new seed and so also encodes the base images it needs.
func BenchmarkSynthItems(b *testing.B) {
	const n = 2000
	for _, bases := range []string{"warm", "cold"} {
		b.Run("bases="+bases, func(b *testing.B) {
			s := Synth{N: n, Seed: 1 << 32}
			if bases == "warm" {
				if _, err := s.Items(b.Context()); err != nil {
					b.Fatal(err)
				}
				total := 0
				for i := range n {
					total += s.Size(i)
				}
				b.SetBytes(int64(total))
			}
			b.ReportAllocs()
			iters := 0
			for b.Loop() {
				if bases == "cold" {
					s.Seed = coldSeeds.Add(1)
				}
				items, err := s.Items(b.Context())
				if err != nil {
					b.Fatal(err)
				}
				if len(items) != n {
					b.Fatalf("got %d items, want %d", len(items), n)
				}
				iters++
			}
			b.ReportMetric(float64(iters*n)/b.Elapsed().Seconds(), "items/s")
		})
	}
}

// failPut is a mem backend whose Put fails for one key.
type failPut struct {
	*mem.Backend
	key string
}

var errPut = errors.New("put refused")

func (b failPut) Put(ctx context.Context, key string, data []byte) error {
	if key == b.key {
		return errPut
	}
	return b.Backend.Put(ctx, key, data)
}

func TestSynthWriteProgress(t *testing.T) {
	t.Parallel()
	s := Synth{N: 40, Seed: 1}
	tests := []struct {
		name        string
		concurrency int
		failKey     string // a key whose Put fails, "" for none
	}{
		{"concurrency=1", 1, ""},
		{"concurrency=4", 4, ""},
		{"item fails", 4, s.Key(25)},
		{"index fails", 4, dataset.IndexKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			store := dataset.NewStore(failPut{mem.New(nil), tc.failKey})
			var calls []int
			idx, err := s.WriteProgress(t.Context(), store, tc.concurrency, func(n int) { calls = append(calls, n) })
			for i, n := range calls {
				if n != i+1 {
					t.Fatalf("progress calls %v: call %d reported %d, want %d", calls, i, n, i+1)
				}
			}
			if tc.failKey == "" {
				if err != nil || len(idx) != s.N {
					t.Fatalf("WriteProgress = %d keys, %v; want %d keys, nil", len(idx), err, s.N)
				}
				if len(calls) != s.N {
					t.Errorf("progress called %d times, want %d", len(calls), s.N)
				}
				return
			}
			if !errors.Is(err, errPut) || !strings.Contains(err.Error(), tc.failKey) {
				t.Errorf("WriteProgress error = %v, want errPut naming %q", err, tc.failKey)
			}
			if tc.failKey != dataset.IndexKey && len(calls) >= s.N {
				t.Errorf("progress called %d times for a write that failed, want fewer than %d", len(calls), s.N)
			}
		})
	}
}

// TestSynthRecorded checks that a dataset with every body its own, as
// Bodies = 0 gives and as before Bodies existed, keeps the sizes and bytes
// recorded before Bodies was added. Sizes do not depend on the Go release;
// bytes depend on image/jpeg's encoder, so they are compared only under
// the release they were recorded with.
func TestSynthRecorded(t *testing.T) {
	t.Parallel()
	const recordedWith = "go1.26"
	positions := []int{0, 1, 2, 99, 1999, 49_999}
	hashed := []int{0, 1, 2, 99, 1999}
	tests := []struct {
		name  string
		s     Synth
		sizes []int
		sha   string // SHA-256 of the items of hashed, one after the other
	}{
		{"seed=0", Synth{N: 50_000}, []int{223718, 74892, 89269, 194744, 275033, 102504},
			"e832311e6dbfc956f2926b9d7d519214b84de05edfedaae011a5091df04b8931"},
		{"seed=1", Synth{N: 50_000, Seed: 1}, []int{94307, 116358, 78088, 119388, 292350, 74445},
			"5408cd6135fcec92a8063e6610dea47c3dda3c14b389d2d69f08ad5b633fac5c"},
		{"seed=1 bodies=N", Synth{N: 50_000, Seed: 1, Bodies: 50_000}, []int{94307, 116358, 78088, 119388, 292350, 74445},
			"5408cd6135fcec92a8063e6610dea47c3dda3c14b389d2d69f08ad5b633fac5c"},
		{"seed=1 bodies>N", Synth{N: 50_000, Seed: 1, Bodies: 1 << 40}, []int{94307, 116358, 78088, 119388, 292350, 74445},
			"5408cd6135fcec92a8063e6610dea47c3dda3c14b389d2d69f08ad5b633fac5c"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for k, i := range positions {
				if got := tc.s.Size(i); got != tc.sizes[k] {
					t.Errorf("Size(%d) = %d, want %d as recorded", i, got, tc.sizes[k])
				}
			}
			if !strings.HasPrefix(runtime.Version(), recordedWith+".") {
				t.Logf("bytes recorded with %s, not compared under %s", recordedWith, runtime.Version())
				return
			}
			h := sha256.New()
			for _, i := range hashed {
				h.Write(tc.s.Item(i))
			}
			if got := hex.EncodeToString(h.Sum(nil)); got != tc.sha {
				t.Errorf("SHA-256 of items %v = %s, want %s as recorded", hashed, got, tc.sha)
			}
		})
	}
}

// TestSynthBodies checks that with Bodies = K, item i holds body i mod K:
// the bytes and size of item i mod K of a dataset of K items.
func TestSynthBodies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		s    Synth
		k    int // the distinct bodies expected
	}{
		{"one body", Synth{N: 10, Seed: 3, Bodies: 1}, 1},
		{"seven bodies", Synth{N: 50, Seed: 1, Bodies: 7}, 7},
		{"K = N", Synth{N: 20, Seed: 1, Bodies: 20}, 20},
		{"K > N", Synth{N: 20, Seed: 1, Bodies: 21}, 20},
		{"ImageNet train", Synth{N: 1_281_167, Seed: 1, Bodies: 100}, 100},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			own := Synth{N: tc.k, Seed: tc.s.Seed, Prefix: tc.s.Prefix} // a dataset of the K bodies
			for _, i := range []int{0, 1, tc.k - 1, tc.k, tc.k + 1, 2*tc.k + 3, tc.s.N - 1} {
				if i < 0 || i >= tc.s.N {
					continue
				}
				j := i % tc.k
				if got := tc.s.BodyOf(i); got != j {
					t.Errorf("BodyOf(%d) = %d, want %d", i, got, j)
				}
				if got, want := tc.s.Size(i), own.Size(j); got != want {
					t.Errorf("Size(%d) = %d, want %d, the size of body %d", i, got, want, j)
				}
				if got, want := tc.s.Item(i), own.Item(j); !bytes.Equal(got, want) {
					t.Errorf("Item(%d) differs from body %d", i, j)
				}
				if i+tc.k < tc.s.N {
					if tc.s.Size(i) != tc.s.Size(i+tc.k) || !bytes.Equal(tc.s.Item(i), tc.s.Item(i+tc.k)) {
						t.Errorf("items %d and %d differ, want the same body", i, i+tc.k)
					}
				}
				if want := fmt.Sprintf("val/ILSVRC2012_val_%08d.JPEG", i+1); tc.s.Key(i) != want {
					t.Errorf("Key(%d) = %q, want %q", i, tc.s.Key(i), want)
				}
			}
			if tc.s.N > 1000 {
				return // DistinctBodies is checked on the small sets
			}
			bodies, err := tc.s.DistinctBodies(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if len(bodies) != tc.k {
				t.Fatalf("DistinctBodies returned %d bodies, want %d", len(bodies), tc.k)
			}
			for j, b := range bodies {
				if !bytes.Equal(b, own.Item(j)) {
					t.Errorf("body %d differs from item %d of a dataset of %d items", j, j, tc.k)
				}
			}
			items, err := tc.s.Items(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if len(items) != tc.s.N {
				t.Fatalf("Items returned %d items, want %d", len(items), tc.s.N)
			}
			slices := map[*byte]bool{}
			for i := range tc.s.N {
				item := items[tc.s.Key(i)]
				if !bytes.Equal(item, bodies[i%tc.k]) {
					t.Errorf("Items()[%q] is not body %d", tc.s.Key(i), i%tc.k)
				}
				slices[&item[0]] = true
			}
			if len(slices) != tc.k {
				t.Errorf("Items holds %d distinct slices, want the %d bodies shared", len(slices), tc.k)
			}
		})
	}
}

// TestSynthSizesOverBodies checks that a dataset of many keys and few
// bodies keeps the size distribution: its mean is the mean over its bodies.
func TestSynthSizesOverBodies(t *testing.T) {
	s := Synth{N: 1_281_167, Seed: 1, Bodies: 2000}
	var bodies, items float64
	for j := range s.Bodies {
		bodies += float64(s.Size(j))
	}
	bodies /= float64(s.Bodies)
	const sample = 20_000 // every 64th item
	for k := range sample {
		items += float64(s.Size(k * 64))
	}
	items /= sample
	if bodies < 110_000 || bodies > 130_000 {
		t.Errorf("mean body size %.0f bytes, want 110-130 KB", bodies)
	}
	// Every 64th item visits the bodies whose numbers are multiples of
	// gcd(64, 2000) = 16 evenly: a sample of 125 bodies.
	if d := items/bodies - 1; d < -0.1 || d > 0.1 {
		t.Errorf("mean item size %.0f, mean body size %.0f: want them within 10%%", items, bodies)
	}
}

func TestSynthNegativeBodies(t *testing.T) {
	s := Synth{N: 10, Bodies: -1}
	if _, err := s.DistinctBodies(t.Context()); err == nil {
		t.Errorf("DistinctBodies with Bodies=-1 succeeded, want an error")
	}
	if _, err := s.Items(t.Context()); err == nil {
		t.Errorf("Items with Bodies=-1 succeeded, want an error")
	}
	for name, f := range map[string]func(){
		"Size":   func() { s.Size(0) },
		"Item":   func() { s.Item(0) },
		"BodyOf": func() { s.BodyOf(0) },
	} {
		if !panics(f) {
			t.Errorf("%s with Bodies=-1: got no panic, want one", name)
		}
	}
}

func TestSynthPosition(t *testing.T) {
	round := []struct {
		name string
		s    Synth
		i    []int
	}{
		{"ImageNet val", Synth{N: 50_000}, []int{0, 1, 9, 10, 49_999}},
		{"ImageNet train", Synth{N: 1_281_167, Bodies: 100}, []int{0, 99, 100, 1_281_166}},
		{"prefix", Synth{N: 20, Prefix: "train/x-"}, []int{0, 19}},
		{"no folder", Synth{N: 3, Prefix: "p"}, []int{0, 2}},
		{"nine digits", Synth{N: 100_000_001}, []int{99_999_998, 99_999_999, 100_000_000}},
	}
	for _, tc := range round {
		t.Run(tc.name, func(t *testing.T) {
			for _, i := range tc.i {
				key := tc.s.Key(i)
				if got, ok := tc.s.Position(key); !ok || got != i {
					t.Errorf("Position(%q) = %d, %v; want %d, true", key, got, ok, i)
				}
			}
		})
	}
	s := Synth{N: 1_281_167}
	for _, key := range []string{
		"",
		"val/",
		"val/ILSVRC2012_val_.JPEG",
		"val/ILSVRC2012_val_00000000.JPEG",  // number 0: no item
		"val/ILSVRC2012_val_01281168.JPEG",  // N+1
		"val/ILSVRC2012_val_99999999.JPEG",  // far past N
		"val/ILSVRC2012_val_0000001.JPEG",   // seven digits
		"val/ILSVRC2012_val_000000001.JPEG", // nine digits with a leading zero
		"val/ILSVRC2012_val_1.JPEG",
		"val/ILSVRC2012_val_+0000001.JPEG",
		"val/ILSVRC2012_val_-0000001.JPEG",
		"val/ILSVRC2012_val_0000000a.JPEG",
		"val/ILSVRC2012_val_0000 001.JPEG",
		"val/ILSVRC2012_val_00000001.jpeg",
		"val/ILSVRC2012_val_00000001.JPEG ",
		"val/ILSVRC2012_val_00000001.JPEG/",
		"val/ILSVRC2012_val_00000001",
		"val/ILSVRC2012_val_00000001.JPEG.JPEG",
		"/val/ILSVRC2012_val_00000001.JPEG",
		"train/ILSVRC2012_val_00000001.JPEG",
		"ILSVRC2012_val_00000001.JPEG",
		"val/ILSVRC2012_train_00000001.JPEG",
		"val/ILSVRC2012_val_99999999999999999999999.JPEG", // overflows an int64
		"val/ILSVRC2012_val_١٢٣٤٥٦٧٨.JPEG",                // digits, but not ASCII
	} {
		if i, ok := s.Position(key); ok {
			t.Errorf("Position(%q) = %d, true; want false", key, i)
		}
	}
	if _, ok := (Synth{N: 3, Prefix: "x/"}).Position("val/ILSVRC2012_val_00000001.JPEG"); ok {
		t.Errorf("Position of a key of the default prefix under prefix x/ = true, want false")
	}
	if n := testing.AllocsPerRun(100, func() { s.Position("val/ILSVRC2012_val_01000000.JPEG") }); n != 0 {
		t.Errorf("Position allocates %v times, want 0", n)
	}
}

// TestSynthFixedSize checks items of a set size, as a workload of large
// samples reads them: every item exactly ItemSize bytes, distinct, a JPEG
// that decodes, served by a view at that size; and the sizes refused.
func TestSynthFixedSize(t *testing.T) {
	t.Parallel()
	const size = 3_000_017 // past the drawn sizes' largest, and odd
	s := Synth{N: 7, Seed: 1, Bodies: 3, ItemSize: size}
	bodies, err := s.DistinctBodies(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(bodies) != 3 || !bytes.Equal(bodies[1], s.Item(4)) {
		t.Fatalf("%d bodies, want 3, item 4 holding body 1", len(bodies))
	}
	for j, b := range bodies {
		if len(b) != size || s.Size(j) != size {
			t.Errorf("body %d: %d bytes (Size %d), want %d", j, len(b), s.Size(j), size)
		}
		if _, err := jpeg.Decode(bytes.NewReader(b)); err != nil {
			t.Errorf("body %d: jpeg.Decode: %v", j, err)
		}
		for k := range j {
			if bytes.Equal(b, bodies[k]) {
				t.Errorf("bodies %d and %d are equal", k, j)
			}
		}
	}
	v, err := s.View(bodies)
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := dataset.NewStore(v).Read(t.Context(), s.Key(6), nil)
	if err != nil || !bytes.Equal(got, bodies[0]) {
		t.Errorf("view: item 6: %d bytes, %v; want body 0's %d", len(got), err, size)
	}
	for _, bad := range []int{-1, MinSize - 1} {
		if _, err := (Synth{N: 2, Seed: 1, ItemSize: bad}).DistinctBodies(t.Context()); err == nil || !strings.Contains(err.Error(), "ItemSize") {
			t.Errorf("ItemSize %d: %v, want an error naming ItemSize", bad, err)
		}
	}
}
