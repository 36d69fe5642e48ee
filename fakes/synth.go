package fakes

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"image"
	"image/jpeg"
	"math"
	"math/rand/v2"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/storagebench/storagebench/dataset"
)

// The size distribution imitates the ImageNet 2012 (ILSVRC2012) validation
// set: 50,000 JPEGs whose archive, ILSVRC2012_img_val.tar, is listed at
// 6.3 GB, so an image averages roughly 130 KB; most images are 500x375 or
// 375x500 pixels, and a few are far larger. Sizes are log-normal with median
// sizeMedian and shape sizeSigma, which puts the mean at
// sizeMedian*exp(sizeSigma²/2), about 122 KB, and about 0.7% of the items
// above 400 KB. Sizes are clamped to [sizeMin, sizeMax]; the largest of
// 50,000 draws lands near the upper clamp.
const (
	sizeMedian = 105_000 // bytes
	sizeSigma  = 0.55
	sizeMin    = 8 << 10
	sizeMax    = 1 << 20
)

// Synth describes a synthetic ImageNet-validation-like dataset of N real
// JPEG images. Everything about an item (key, size, bytes) is determined by
// Seed, Prefix, Bodies, ItemSize and the item's position, so a dataset with a larger
// N starts with the items of a smaller one. The zero Seed is a valid seed.
//
// A dataset may have many more keys than distinct bodies, as an emulated
// training epoch of 1,281,167 items (ImageNet's training set) needs: with
// Bodies = K, item i holds body i mod K, which is what item i mod K of a
// dataset of K items holds (its bytes, and so its size, are those of
// position i mod K). Sizes then follow the size distribution over the K
// bodies, and a reader holding the K bodies and the N keys holds the whole
// dataset: see [Synth.DistinctBodies], [Synth.View] and
// [Synth.WriteFolder]. Keys stay distinct: key i always numbers i+1.
//
// An item is one of a ladder of base images (encoded once per seed, at
// quality 90, with a pixel count roughly proportional to their byte size, so
// that decoding costs what it would for a photograph of that size) whose
// length is brought to exactly the item's size by JPEG comment segments
// placed right after the start-of-image marker. The comments hold the key
// and pseudo-random bytes unique to the item, so no two items are equal.
// Bytes are deterministic for a given Go release (they depend on
// image/jpeg's encoder); keys and sizes do not depend on the release.
type Synth struct {
	N      int    // number of items (keys)
	Seed   uint64 // seeds every random choice
	Prefix string // key prefix; "" means "val/"
	// Bodies is K, the number of distinct bodies: item i holds body
	// i mod K. 0, or any K >= N, gives every item a body of its own; a
	// negative K is invalid.
	Bodies int
	// ItemSize, when above 0, makes every item exactly ItemSize bytes, as the
	// samples of a workload of large samples (UNet3D's 146,600,628-byte
	// records) are, instead of drawing sizes from the ImageNet-like
	// distribution: a base image padded by comment segments, as any
	// item is. It must leave room for a base image and its comments
	// (at least MinSize); a negative ItemSize is invalid.
	ItemSize int
}

// MinSize is the smallest size [Synth.ItemSize] may set, and MaxSize the
// largest size the ImageNet-like distribution draws: a workload whose
// samples are larger sets Size.
const (
	MinSize = sizeMin
	MaxSize = sizeMax
)

// keyStem and keyExt surround the number of an item in its key.
const (
	keyStem   = "ILSVRC2012_val_"
	keyExt    = ".JPEG"
	keyDigits = 8 // numbers are zero-padded to this many digits
)

// prefix returns the key prefix, the default resolved.
func (s Synth) prefix() string {
	if s.Prefix == "" {
		return "val/"
	}
	return s.Prefix
}

// Key returns the key of item i (0-based): item 0 of the default prefix is
// "val/ILSVRC2012_val_00000001.JPEG". The number, i+1, has at least eight
// digits, zero-padded, so keys sort in position order up to item
// 99,999,999. It panics unless 0 <= i < N.
func (s Synth) Key(i int) string {
	s.check(i)
	n := strconv.Itoa(i + 1)
	const digits = "00000000"
	if len(n) < len(digits) {
		n = digits[len(n):] + n
	}
	return s.prefix() + keyStem + n + keyExt
}

// Position returns the position of the item whose key is key, and whether
// there is one: it is the inverse of [Synth.Key], exactly. It accepts only
// what Key returns for some 0 <= i < N: the prefix, the stem, a number of
// eight zero-padded digits or of more digits without leading zeros, from
// 1 to N, and the extension, so Key(i) == key whenever Position(key)
// returns i, true. It allocates nothing.
func (s Synth) Position(key string) (int, bool) {
	rest, ok := strings.CutPrefix(key, s.prefix())
	if !ok {
		return 0, false
	}
	if rest, ok = strings.CutPrefix(rest, keyStem); !ok {
		return 0, false
	}
	digits, ok := strings.CutSuffix(rest, keyExt)
	if !ok || len(digits) < keyDigits || len(digits) > keyDigits && digits[0] == '0' {
		return 0, false
	}
	n := 0
	for i := range len(digits) {
		c := digits[i]
		// n stops growing once past N, so it cannot overflow for any N a
		// process can hold the keys of.
		if c < '0' || c > '9' || n > s.N {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	if n < 1 || n > s.N {
		return 0, false
	}
	return n - 1, true
}

// numBodies returns K, the number of distinct bodies, at most N. It panics
// if Bodies is negative.
func (s Synth) numBodies() int {
	switch {
	case s.Bodies < 0:
		panic(fmt.Sprintf("synth: Bodies must not be negative, got %d", s.Bodies))
	case s.Bodies == 0 || s.Bodies > s.N:
		return s.N
	}
	return s.Bodies
}

// BodyOf returns the position of the body item i holds, i mod K: the
// index of its bytes in what [Synth.DistinctBodies] returns. It panics
// unless 0 <= i < N.
func (s Synth) BodyOf(i int) int {
	s.check(i)
	return i % s.numBodies()
}

// Index returns the keys of all items in order, or nil when N <= 0.
func (s Synth) Index() dataset.Index {
	if s.N <= 0 {
		return nil
	}
	idx := make(dataset.Index, s.N)
	for i := range idx {
		idx[i] = s.Key(i)
	}
	return idx
}

// Size returns the exact length in bytes of item i without encoding it:
// the size drawn for its body, position i mod K. It panics unless
// 0 <= i < N.
func (s Synth) Size(i int) int {
	return s.bodySize(s.BodyOf(i))
}

// bodySize returns the size of body j: ItemSize, when set, else the
// size drawn for it.
func (s Synth) bodySize(j int) int {
	if s.ItemSize > 0 {
		return s.ItemSize
	}
	return bodySize(s.Seed, j)
}

// bodySize returns the size drawn for body j of seed.
func bodySize(seed uint64, j int) int {
	// Box-Muller on two draws of a PCG stream of its own for each item; the
	// PCG algorithm is fixed by its documentation, so sizes do not change
	// from one Go release to the next.
	r := rand.NewPCG(seed, splitmix64(uint64(j)))
	u1 := float64(r.Uint64()>>11+1) / (1 << 53) // in (0, 1]
	u2 := float64(r.Uint64()>>11) / (1 << 53)   // in [0, 1)
	z := math.Sqrt(-2*math.Log(u1)) * math.Cos(2*math.Pi*u2)
	size := int(math.Round(sizeMedian * math.Exp(sizeSigma*z)))
	return min(max(size, sizeMin), sizeMax)
}

// Item returns the JPEG bytes of item i, body i mod K, in a slice of its
// own. It panics unless 0 <= i < N. Calls for a seed encode its base
// images as they need them and share them; they are kept for the life of
// the process (about 7 MB a seed once all are encoded).
func (s Synth) Item(i int) []byte {
	j := s.BodyOf(i)
	return s.item(j, s.bodySize(j))
}

// DistinctBodies returns the K distinct bodies, body j at index j: item i
// holds bodies[s.BodyOf(i)]. With K < N this is the whole content of the
// dataset in the memory of K items. It generates them with
// runtime.GOMAXPROCS goroutines and stops early, with ctx's error, once
// ctx is done.
func (s Synth) DistinctBodies(ctx context.Context) ([][]byte, error) {
	if err := s.checkN(); err != nil {
		return nil, err
	}
	bodies := make([][]byte, s.numBodies())
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.GOMAXPROCS(0))
	for j := range bodies {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error {
			if err := gctx.Err(); err != nil {
				return err
			}
			bodies[j] = s.Item(j)
			return nil
		})
	}
	err := g.Wait()
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		return nil, fmt.Errorf("synth: generate bodies: %w", err)
	}
	return bodies, nil
}

// Items returns every item keyed by its key, as [Synth.DistinctBodies]
// generates them. Items that hold the same body share one slice: the map
// has N keys but only K slices, so the caller must not modify them. A map
// of N keys is itself large when N is (about 125 bytes a key, the key
// included); a reader of a large dataset wants [Synth.DistinctBodies] and
// [Synth.Position], or [Synth.View].
func (s Synth) Items(ctx context.Context) (map[string][]byte, error) {
	bodies, err := s.DistinctBodies(ctx)
	if err != nil {
		return nil, err
	}
	m := make(map[string][]byte, s.N)
	for i := range s.N {
		m[s.Key(i)] = bodies[i%len(bodies)]
	}
	return m, nil
}

// Write puts every item into store under its key and then the index, in
// [dataset.WriteIndex] format, under [dataset.IndexKey]. Keys in the index
// are relative to the store, as the items' are, so the index sits at the
// root and the items under Prefix. Items are generated and put by
// concurrency goroutines (8 when concurrency <= 0). The first error stops
// the rest and is returned, naming the key it concerns; the index is
// written only when every item was. Write returns the index. It puts N
// objects whatever Bodies is, and most stores keep a copy of each; a
// folder takes the space of the K bodies alone through
// [Synth.WriteFolder], and memory through [Synth.View].
func (s Synth) Write(ctx context.Context, store *dataset.Store, concurrency int) (dataset.Index, error) {
	return s.WriteProgress(ctx, store, concurrency, nil)
}

// WriteProgress writes the dataset as [Synth.Write] does and, when progress
// is not nil, calls it after each item is stored with the number of items
// stored so far. Calls come one at a time, from the writing goroutines,
// with counts that increase by one, up to N when every item was stored;
// the index is written after the last call. progress should return
// promptly: the item that called it waits.
func (s Synth) WriteProgress(ctx context.Context, store *dataset.Store, concurrency int, progress func(written int)) (dataset.Index, error) {
	if err := s.checkN(); err != nil {
		return nil, err
	}
	if concurrency <= 0 {
		concurrency = 8
	}
	var (
		mu      sync.Mutex
		written int
	)
	put := func(ctx context.Context, i int, key string) error {
		if err := store.Put(ctx, key, s.Item(i)); err != nil {
			return err
		}
		if progress != nil {
			mu.Lock()
			written++
			progress(written)
			mu.Unlock()
		}
		return nil
	}
	idx := s.Index()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(concurrency)
	for i, key := range idx {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error { return put(gctx, i, key) })
	}
	err := g.Wait()
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		return nil, fmt.Errorf("synth: write items: %w", err)
	}
	var buf bytes.Buffer
	if err := dataset.WriteIndex(&buf, idx); err != nil {
		return nil, fmt.Errorf("synth: encode %s: %w", dataset.IndexKey, err)
	}
	if err := store.Put(ctx, dataset.IndexKey, buf.Bytes()); err != nil {
		return nil, fmt.Errorf("synth: write index: %w", err)
	}
	return idx, nil
}

// checkN reports a dataset that has no items, or a negative number of
// bodies.
func (s Synth) checkN() error {
	if s.N <= 0 {
		return fmt.Errorf("synth: N must be positive, got %d", s.N)
	}
	if s.Bodies < 0 {
		return fmt.Errorf("synth: Bodies must not be negative, got %d", s.Bodies)
	}
	if s.ItemSize < 0 || s.ItemSize > 0 && s.ItemSize < MinSize {
		return fmt.Errorf("synth: ItemSize %d bytes: want 0 (sizes drawn) or at least %d", s.ItemSize, MinSize)
	}
	return nil
}

// check panics unless i is the position of an item.
func (s Synth) check(i int) {
	if i < 0 || i >= s.N {
		panic(fmt.Sprintf("synth: item %d out of range [0, %d)", i, s.N))
	}
}

// JPEG markers and the largest payload of one segment.
const (
	markerSOI   = 0xD8 // start of image
	markerCOM   = 0xFE // comment
	segHeader   = 4    // 0xFF, marker, 2-byte big-endian length
	maxSegBytes = 0xFFFF - 2
)

// item builds the item at position i with exactly size bytes: the start of
// image marker, comment segments filling the gap, and the rest of the
// largest base image that leaves room for them.
func (s Synth) item(i, size int) []byte {
	header := "storagebench synthetic image " + s.Key(i) + " seed=" + strconv.FormatUint(s.Seed, 10) + "\n"
	base := basesFor(s.Seed).pick(size, segHeader+len(header))
	pad := size - len(base)
	if pad < segHeader {
		panic(fmt.Sprintf("synth: no base image fits %s in %d bytes", s.Key(i), size))
	}
	out := make([]byte, size)
	copy(out, base[:2])
	var seed [32]byte
	binary.LittleEndian.PutUint64(seed[0:], s.Seed)
	binary.LittleEndian.PutUint64(seed[8:], uint64(i))
	copy(seed[16:], "synth comments")
	writeComments(out[2:2+pad], header, rand.NewChaCha8(seed))
	copy(out[2+pad:], base[2:])
	return out
}

// writeComments fills dst, which must be at least segHeader bytes long, with
// comment segments of nearly equal length whose payloads are random bytes
// from r, the first starting with as much of header as fits.
func writeComments(dst []byte, header string, r *rand.ChaCha8) {
	n := (len(dst) + segHeader + maxSegBytes - 1) / (segHeader + maxSegBytes)
	payload := len(dst) - n*segHeader
	for j := range n {
		p := payload / n
		if j < payload%n {
			p++
		}
		seg := dst[:segHeader+p]
		dst = dst[len(seg):]
		seg[0], seg[1] = 0xFF, markerCOM
		binary.BigEndian.PutUint16(seg[2:], uint16(p+2))
		body := seg[segHeader:]
		if j == 0 {
			body = body[copy(body, header):]
		}
		r.Read(body) // never fails
	}
}

// splitmix64 scrambles x, so that neighbouring positions seed unrelated
// streams.
func splitmix64(x uint64) uint64 {
	x += 0x9E3779B97F4A7C15
	x = (x ^ x>>30) * 0xBF58476D1CE4E5B9
	x = (x ^ x>>27) * 0x94D049BB133111EB
	return x ^ x>>31
}

// The base images form a ladder of levels, level k having levelRatio times
// the pixels of level k-1, so that an item carries at most about 15% of
// padding. Level anchorLevel is 500x375, the commonest size in the
// validation set, and encodes to about 113 KB (0.6 bytes a pixel, as a
// photograph of that size and weight would); level 0 (93x70) encodes to
// about 5 KB, well under sizeMin, and the top level (1070x1426) to about
// 900 KB. One level in four is a portrait.
const (
	baseQuality = 90
	levelRatio  = 1.15
	anchorLevel = 24
	numLevels   = 40
	// bytesPerPixel is about what a base encodes to per pixel. It is used
	// only to guess the level that fits a size; the guess is then
	// corrected against the real lengths.
	bytesPerPixel = 0.59
)

// baseSet is the ladder of base images of one seed, each encoded on first
// use.
type baseSet struct {
	seed   uint64
	levels [numLevels]baseLevel
}

type baseLevel struct {
	once sync.Once
	data []byte
}

// baseSets maps a seed to its *baseSet.
var baseSets sync.Map

func basesFor(seed uint64) *baseSet {
	if b, ok := baseSets.Load(seed); ok {
		return b.(*baseSet)
	}
	b, _ := baseSets.LoadOrStore(seed, &baseSet{seed: seed})
	return b.(*baseSet)
}

// get returns the encoded base image of level k.
func (b *baseSet) get(k int) []byte {
	l := &b.levels[k]
	l.once.Do(func() { l.data = encodeBase(b.seed, k) })
	return l.data
}

// pick returns the base of the level k that leaves at least reserve bytes
// free in size bytes while level k+1 does not, or the base of level 0 when
// none does; as bases grow with their level, it is the largest that fits.
// It walks from a guess and encodes only the levels it compares; the answer
// depends only on size, reserve and the bases, not on what was encoded
// before.
func (b *baseSet) pick(size, reserve int) []byte {
	k := int(math.Floor(math.Log(float64(size)/(bytesPerPixel*500*375)) / math.Log(levelRatio)))
	k = min(max(anchorLevel+k, 0), numLevels-1)
	for k > 0 && len(b.get(k))+reserve > size {
		k--
	}
	for k+1 < numLevels && len(b.get(k+1))+reserve <= size {
		k++
	}
	return b.get(k)
}

// levelDims returns the width and height of the base of level k.
func levelDims(k int) (w, h int) {
	f := math.Pow(levelRatio, float64(k-anchorLevel)/2)
	w, h = int(math.Round(500*f)), int(math.Round(375*f))
	if k%4 == 3 {
		w, h = h, w
	}
	return w, h
}

// encodeBase draws and encodes the base image of level k.
func encodeBase(seed uint64, k int) []byte {
	w, h := levelDims(k)
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, render(w, h, seed, k), &jpeg.Options{Quality: baseQuality}); err != nil {
		panic(fmt.Sprintf("synth: encode a %dx%d base image: %v", w, h, err)) // cannot happen
	}
	return buf.Bytes()
}

// render draws a w x h picture that compresses about as a photograph does:
// a smooth scene (a tilted gradient and two low-frequency waves, in
// directions and phases drawn from seed and k) under a grain whose strength
// varies across the frame, so that it has both flat areas, like a sky, and
// busy ones, like foliage. Neither a flat image nor pure noise would do:
// the first compresses a hundredfold, the second hardly at all.
func render(w, h int, seed uint64, k int) *image.YCbCr {
	r := rand.New(rand.NewPCG(seed, splitmix64(uint64(k)|1<<40)))
	u := func(lo, hi float64) float64 { return lo + (hi-lo)*r.Float64() }
	m := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)

	// Luma is separable into per-column and per-row tables:
	// v = base[x] + tilt[y] + wave1x[x]*wave1y[y] + wave2x[x]*wave2y[y] + grainx[x]*grainy[y]*noise.
	type axis struct{ base, wave1, wave2, grain []float64 }
	mk := func(n int) axis {
		return axis{make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)}
	}
	cols, rows := mk(w), mk(h)
	fill := func(a axis, n int, tilt, wave1, wave2 float64) {
		f1, p1 := u(2, 9), u(0, 2*math.Pi)
		f2, p2 := u(9, 25), u(0, 2*math.Pi)
		// A whole number of periods, so that every picture has the same
		// amount of grain on average.
		fg, pg := 2*math.Pi*float64(1+r.IntN(3)), u(0, 2*math.Pi)
		for i := range n {
			t := (float64(i) + 0.5) / float64(n)
			a.base[i] = tilt * (t - 0.5)
			a.wave1[i] = wave1 * math.Sin(f1*t+p1)
			a.wave2[i] = wave2 * math.Sin(f2*t+p2)
			a.grain[i] = 0.6 + 0.4*math.Sin(fg*t+pg)
		}
	}
	fill(cols, w, u(-40, 40), u(15, 30), u(5, 10))
	fill(rows, h, u(-40, 40), 1, 1)
	mid := u(110, 145)
	for x := range cols.grain {
		cols.base[x] += mid
		cols.grain[x] *= grainAmp
	}

	s := splitmix64(seed^uint64(k)<<48) | 1 // xorshift state, never zero
	for y := range h {
		row := m.Y[y*m.YStride : y*m.YStride+w]
		b, w1, w2, g := rows.base[y], rows.wave1[y], rows.wave2[y], rows.grain[y]
		for x := range row {
			s ^= s << 13
			s ^= s >> 7
			s ^= s << 17
			noise := float64(int(s&0xFF)+int(s>>8&0xFF)-255) * (1.0 / 255) // triangular in (-1, 1)
			v := cols.base[x] + b + cols.wave1[x]*w1 + cols.wave2[x]*w2 + cols.grain[x]*g*noise
			row[x] = reflect(v)
		}
	}

	// Chroma: two smooth colour casts with a little noise.
	cbx, cby, crx, cry := u(-40, 40), u(-40, 40), u(-40, 40), u(-40, 40)
	cw, ch := (w+1)/2, (h+1)/2
	for y := range ch {
		ty := (float64(y)+0.5)/float64(ch) - 0.5
		for x := range cw {
			tx := (float64(x)+0.5)/float64(cw) - 0.5
			s ^= s << 13
			s ^= s >> 7
			s ^= s << 17
			i := y*m.CStride + x
			m.Cb[i] = uint8(128 + cbx*tx + cby*ty + float64(s&31) - 15.5)
			m.Cr[i] = uint8(128 + crx*tx + cry*ty + float64(s>>5&31) - 15.5)
		}
	}
	return m
}

// reflect folds v into [0, 255] by mirroring it at the ends, which keeps
// the grain as strong there as anywhere (clamping would flatten it).
func reflect(v float64) uint8 {
	if v < 0 {
		v = -v
	}
	if v > 255 {
		v = max(510-v, 0)
	}
	return uint8(v)
}

// grainAmp is the largest swing of the grain, in levels of luma; it sets how
// many bytes a pixel costs.
const grainAmp = 150
