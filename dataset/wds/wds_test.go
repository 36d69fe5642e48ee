package wds_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/storagebench/storagebench/dataset"
	"github.com/storagebench/storagebench/dataset/mem"
	"github.com/storagebench/storagebench/dataset/wds"
)

// fixtures is the top-level folder of fixtures several packages share.
const fixtures = "../../testdata/wds"

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		err  bool
	}{
		{"64MB", 64_000_000, false},
		{"64MiB", 67_108_864, false},
		{"1kB", 1000, false},
		{"1KB", 1000, false},
		{"8KiB", 8192, false},
		{"1GB", 1e9, false},
		{"2TiB", 2 << 40, false},
		{"4096", 4096, false},
		{"100B", 100, false},
		{"", 0, true},
		{"0", 0, true},
		{"-1MB", 0, true},
		{"+1MB", 0, true},
		{"1.5MB", 0, true},
		{"64 MB", 0, true},
		{"64mb", 0, true},
		{"MB", 0, true},
		{"9000000TiB", 0, true},
	} {
		got, err := wds.ParseSize(tc.in)
		if tc.err {
			if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%q", tc.in)) {
				t.Errorf("ParseSize(%q) = %d, %v; want an error naming it", tc.in, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
		if back, err := wds.ParseSize(wds.FormatSize(got)); err != nil || back != got {
			t.Errorf("ParseSize(FormatSize(%d) = %q) = %d, %v", got, wds.FormatSize(got), back, err)
		}
	}
	for n, want := range map[int64]string{64_000_000: "64MB", 67_108_864: "64MiB", 1000: "1kB", 1001: "1001B", 8 << 30: "8GiB"} {
		if got := wds.FormatSize(n); got != want {
			t.Errorf("FormatSize(%d) = %q, want %q", n, got, want)
		}
	}
}

// entry is one sample of the good fixtures' manifest.
type entry struct {
	Shard  string `json:"shard"`
	Key    string `json:"key"`
	Cls    int    `json:"cls"`
	Size   int    `json:"size"`
	SHA256 string `json:"sha256"`
}

func manifest(t *testing.T) []entry {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtures, "good", "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m []entry
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func digest(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// TestScannerFixtures reads shards that Python's tarfile wrote (PAX
// headers, a directory entry, 10 KiB records, a sample of three members)
// and checks every sample against the manifest, and the layout Scan
// gives against the bytes of the file.
func TestScannerFixtures(t *testing.T) {
	want := manifest(t)
	var got []entry
	for _, name := range []string{"imagenet-val-000000.tar", "imagenet-val-000001.tar"} {
		raw, err := os.ReadFile(filepath.Join(fixtures, "good", name))
		if err != nil {
			t.Fatal(err)
		}
		sc := wds.NewScanner(bytes.NewReader(raw), name, 0, int64(len(raw)))
		var buf []byte
		for {
			s, data, err := sc.Next(buf)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			buf = data
			if ext := s.DataMember().Ext; ext != "jpg" {
				t.Errorf("%s: sample %q: data member %q, want jpg", name, s.Key, ext)
			}
			cls := -1
			for _, m := range s.Members {
				if m.Ext == "cls" {
					fmt.Sscan(string(raw[m.Off:m.Off+m.Size]), &cls)
				}
			}
			if dm := s.DataMember(); !bytes.Equal(raw[dm.Off:dm.Off+dm.Size], data) {
				t.Errorf("%s: sample %q: data at offset %d differs from what Next returned", name, s.Key, dm.Off)
			}
			got = append(got, entry{Shard: name, Key: s.Key, Cls: cls, Size: len(data), SHA256: digest(data)})
		}
		sh, err := wds.Scan(bytes.NewReader(raw), name, int64(len(raw)))
		if err != nil {
			t.Fatalf("Scan(%s): %v", name, err)
		}
		for _, s := range sh.Samples {
			dm := s.DataMember()
			if s.Off >= dm.Off || s.End < dm.Off+dm.Size || s.End > sh.Size {
				t.Errorf("Scan(%s): sample %q spans [%d, %d), data [%d, %d)", name, s.Key, s.Off, s.End, dm.Off, dm.Off+dm.Size)
			}
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("samples read differ from the manifest (-want +got):\n%s", diff)
	}
}

func TestBadShards(t *testing.T) {
	for _, tc := range []struct {
		file   string
		size   bool // Scan is given the shard's size
		member string
		off    int64
		msg    string
	}{
		{"truncated.tar", true, "val/n00000002.jpg", 3072, "runs past the shard's end at 4396"},
		{"truncated.tar", false, "val/n00000002.jpg", 4396, "truncated"},
		{"badsum.tar", true, "", 512, "invalid tar header"},
		{"badsum.tar", false, "", 512, "invalid tar header"},
		{"oversize.tar", true, "val/n00000001.jpg", 0, "runs past the shard's end"},
		{"oversize.tar", false, "val/n00000001.jpg", 10240, "truncated"},
	} {
		t.Run(fmt.Sprintf("%s/size=%v", tc.file, tc.size), func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join(fixtures, "bad", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			size := int64(-1)
			if tc.size {
				size = int64(len(raw))
			}
			_, err = wds.Scan(bytes.NewReader(raw), tc.file, size)
			var we *wds.Error
			if !errors.As(err, &we) || !errors.Is(err, wds.ErrFormat) {
				t.Fatalf("Scan: %v, want a *wds.Error wrapping ErrFormat", err)
			}
			if we.Shard != tc.file || we.Member != tc.member || we.Off != tc.off || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("Scan: %v (shard %q, member %q, offset %d); want shard %q, member %q, offset %d, %q",
					err, we.Shard, we.Member, we.Off, tc.file, tc.member, tc.off, tc.msg)
			}
		})
	}
}

// flaky fails once with errDrop after its reader has given at bytes.
type flaky struct {
	r    io.Reader
	left int
}

var errDrop = errors.New("connection dropped")

func (f *flaky) Read(p []byte) (int, error) {
	if f.left <= 0 {
		return 0, errDrop
	}
	if len(p) > f.left {
		p = p[:f.left]
	}
	n, err := f.r.Read(p)
	f.left -= n
	return n, err
}

// TestWriterScanResume writes shards with Writer, packed by Pack, then
// reads them back whole and through a stream that drops at every offset
// in turn, resumed from Offset: every sample once, in order, exact.
func TestWriterScanResume(t *testing.T) {
	const n = 9
	data := func(i int) []byte { return bytes.Repeat([]byte{byte(i)}, 300+211*i) }
	cls := func(i int) []byte { return []byte(fmt.Sprint(i % 1000)) }
	size := func(i int) int64 { return wds.MemberSize(int64(len(data(i)))) + wds.MemberSize(int64(len(cls(i)))) }
	const limit = 6000
	first, err := wds.Pack(n, size, limit)
	if err != nil {
		t.Fatal(err)
	}
	if first[0] != 0 || first[len(first)-1] != n || len(first) < 3 {
		t.Fatalf("Pack = %v, want several shards from 0 to %d", first, n)
	}
	for j := range len(first) - 1 {
		var w bytes.Buffer
		tw := wds.NewWriter(&w)
		var bytesIn int64
		for i := first[j]; i < first[j+1]; i++ {
			if err := tw.WriteSample(fmt.Sprintf("val/s%03d", i), wds.File{Ext: "cls", Data: cls(i)}, wds.File{Ext: "jpg", Data: data(i)}); err != nil {
				t.Fatal(err)
			}
			bytesIn += size(i)
		}
		key := fmt.Sprintf("s-%06d.tar", j)
		sh, err := tw.Close(key)
		if err != nil {
			t.Fatal(err)
		}
		raw := w.Bytes()
		if sh.Size != int64(len(raw)) || sh.Size != wds.ShardSize(bytesIn) || sh.Size > limit {
			t.Fatalf("shard %d: layout size %d, written %d, ShardSize %d, limit %d", j, sh.Size, len(raw), wds.ShardSize(bytesIn), limit)
		}
		scanned, err := wds.Scan(bytes.NewReader(raw), key, int64(len(raw)))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(sh, scanned); diff != "" {
			t.Fatalf("shard %d: the writer's layout differs from Scan's (-writer +scan):\n%s", j, diff)
		}
		for drop := 1; drop < len(raw); drop += 97 {
			sc := wds.NewScanner(&flaky{r: bytes.NewReader(raw), left: drop}, key, 0, int64(len(raw)))
			i, resumed := first[j], 0
			var buf []byte
			for {
				s, got, err := sc.Next(buf)
				if err == io.EOF {
					break
				}
				if errors.Is(err, errDrop) {
					if resumed++; resumed > 1 {
						t.Fatalf("drop at %d: failed again after resuming at %d", drop, sc.Offset())
					}
					sc.Resume(bytes.NewReader(raw[sc.Offset():]))
					continue
				}
				if err != nil {
					t.Fatalf("drop at %d: %v", drop, err)
				}
				buf = got
				if s.Key != fmt.Sprintf("val/s%03d", i) || !bytes.Equal(got, data(i)) {
					t.Fatalf("drop at %d: sample %q of %d bytes, want val/s%03d of %d", drop, s.Key, len(got), i, len(data(i)))
				}
				i++
			}
			if i != first[j+1] {
				t.Fatalf("drop at %d: read samples to %d, want to %d", drop, i, first[j+1])
			}
		}
	}
}

func TestPackRefusesASampleLargerThanAShard(t *testing.T) {
	_, err := wds.Pack(3, func(i int) int64 { return wds.MemberSize(int64(1000 * i)) }, 2048)
	if err == nil || !strings.Contains(err.Error(), "sample 1") {
		t.Errorf("Pack: %v, want an error naming sample 1", err)
	}
}

func TestWriterRefusesBadNames(t *testing.T) {
	for _, tc := range []struct{ key, ext string }{
		{"val/a.b", "jpg"}, {"val/a", ""}, {strings.Repeat("k", 100), "jpg"}, {"", "jpg"},
	} {
		w := wds.NewWriter(io.Discard)
		if err := w.WriteSample(tc.key, wds.File{Ext: tc.ext, Data: []byte("x")}); err == nil {
			t.Errorf("WriteSample(%q, ext %q) succeeded, want an error", tc.key, tc.ext)
		}
	}
}

// fixtureStore returns a store of the good fixture shards, and their
// index.
func fixtureStore(t *testing.T) (map[string][]byte, dataset.Index) {
	t.Helper()
	idx, err := dataset.LoadIndex(filepath.Join(fixtures, "good", "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	objs := map[string][]byte{}
	for _, k := range idx {
		if objs[k], err = os.ReadFile(filepath.Join(fixtures, "good", k)); err != nil {
			t.Fatal(err)
		}
	}
	return objs, idx
}

// TestScanStoreAndRanged scans the fixture shards from a store and reads
// every sample with one ranged read, against the manifest; then a shard
// changed since its layout was scanned fails, naming shard, member and
// offset; and an index naming a missing shard fails naming it.
func TestScanStoreAndRanged(t *testing.T) {
	ctx := context.Background()
	objs, idx := fixtureStore(t)
	st := dataset.NewStore(mem.New(objs))
	set, err := wds.ScanStore(ctx, st, idx, 2)
	if err != nil {
		t.Fatal(err)
	}
	want := manifest(t)
	ds := dataset.NewItems(st, idx, wds.Ranged(set))
	if ds.Len() != len(want) {
		t.Fatalf("%d items, want %d", ds.Len(), len(want))
	}
	var buf []byte
	for i, w := range want {
		data, _, err := ds.Read(ctx, i, buf)
		if err != nil {
			t.Fatal(err)
		}
		buf = data
		if digest(data) != w.SHA256 || ds.Key(i) != w.Shard+":"+w.Key {
			t.Errorf("item %d (%s): %d bytes, want %s's %d", i, ds.Key(i), len(data), w.Key, w.Size)
		}
	}
	// The first shard with a byte more at its start: every offset moved.
	moved := map[string][]byte{idx[0]: append([]byte{0}, objs[idx[0]]...), idx[1]: objs[idx[1]]}
	ds = dataset.NewItems(dataset.NewStore(mem.New(moved)), idx, wds.Ranged(set))
	_, _, err = ds.Read(ctx, 1, nil)
	var we *wds.Error
	if !errors.As(err, &we) || !errors.Is(err, wds.ErrFormat) || we.Shard != idx[0] || we.Member != want[1].Key+".jpg" || we.Off == 0 {
		t.Errorf("read of a moved sample: %v, want a format error naming shard %s, member %s.jpg and its offset", err, idx[0], want[1].Key)
	}
	// The first shard cut short, in its last sample: the ranged read
	// comes back short, and fails naming where the shard ends.
	last := len(set.Shard(0).Samples) - 1
	lastSmp := set.Shard(0).Samples[last]
	cut := map[string][]byte{idx[0]: objs[idx[0]][:lastSmp.Off+700], idx[1]: objs[idx[1]]}
	ds = dataset.NewItems(dataset.NewStore(mem.New(cut)), idx, wds.Ranged(set))
	_, _, err = ds.Read(ctx, last, nil)
	if !errors.As(err, &we) || !errors.Is(err, wds.ErrFormat) || we.Shard != idx[0] || we.Off != lastSmp.Off+700 {
		t.Errorf("read of a sample past a shard's new end: %v, want a format error naming shard %s at offset %d", err, idx[0], lastSmp.Off+700)
	}
	missing, err := dataset.LoadIndex(filepath.Join(fixtures, "bad", "index-missing.json"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = wds.ScanStore(ctx, st, missing, 2)
	if dataset.KindOf(err) != dataset.KindNotFound || !strings.Contains(err.Error(), missing[1]) {
		t.Errorf("ScanStore of an index naming a missing shard: %v, want not found naming %s", err, missing[1])
	}
	if _, err := wds.ScanStore(ctx, st, dataset.Index{idx[0], "val/n1.jpg"}, 2); err == nil || !strings.Contains(err.Error(), `"val/n1.jpg", is not a .tar shard`) {
		t.Errorf("ScanStore of a mixed index: %v", err)
	}
}

// TestSamplesEnd checks where a shard's samples end: at the block its
// last sample's data ends in, never past the shard.
func TestSamplesEnd(t *testing.T) {
	for _, tc := range []struct {
		name string
		sh   wds.Shard
		want int64
	}{
		{"mid-block", wds.Shard{Size: 10240, Samples: []wds.Sample{{End: 1000}}}, 1024},
		{"at a block's end", wds.Shard{Size: 10240, Samples: []wds.Sample{{End: 512}, {End: 2048}}}, 2048},
		{"no trailer", wds.Shard{Size: 1536, Samples: []wds.Sample{{End: 1500}}}, 1536},
		{"no samples", wds.Shard{Size: 10240}, 10240},
	} {
		if got := tc.sh.SamplesEnd(); got != tc.want {
			t.Errorf("%s: SamplesEnd %d, want %d", tc.name, got, tc.want)
		}
	}
}
