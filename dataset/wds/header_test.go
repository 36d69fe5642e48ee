package wds_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"testing"
	"testing/iotest"

	"github.com/storagebench/storagebench/dataset/wds"
)

// TestAppendHeader checks that the headers AppendHeader makes are the
// ones the Writer (archive/tar) writes, byte for byte.
func TestAppendHeader(t *testing.T) {
	for _, tc := range []struct {
		key  string
		size int
	}{
		{"val/ILSVRC2012_val_00000001", 0},
		{"val/ILSVRC2012_val_00000001", 1},
		{"a", 511},
		{"val/x", 105_000},
		{"val/y", 1 << 20},
	} {
		var w bytes.Buffer
		tw := wds.NewWriter(&w)
		if err := tw.WriteSample(tc.key, wds.File{Ext: "jpg", Data: make([]byte, tc.size)}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Close("s.tar"); err != nil {
			t.Fatal(err)
		}
		got := wds.AppendHeader([]byte("x"), tc.key+".jpg", int64(tc.size))
		if !bytes.Equal(got[1:], w.Bytes()[:wds.BlockSize]) || got[0] != 'x' {
			t.Errorf("AppendHeader(%q, %d) differs from the Writer's header:\n got %q\nwant %q", tc.key, tc.size, got[1:], w.Bytes()[:wds.BlockSize])
		}
	}
}

// TestNewReader checks that a shard made on demand from its layout is,
// byte for byte, the shard the Writer wrote, read whole and from every
// offset.
func TestNewReader(t *testing.T) {
	data := func(i int) []byte { return bytes.Repeat([]byte{byte(i + 1)}, 100+333*i) }
	var w bytes.Buffer
	tw := wds.NewWriter(&w)
	for i := range 6 {
		if err := tw.WriteSample(fmt.Sprintf("val/s%d", i), wds.File{Ext: "jpg", Data: data(i)}, wds.File{Ext: "cls", Data: []byte{'0' + byte(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	sh, err := tw.Close("v.tar")
	if err != nil {
		t.Fatal(err)
	}
	content := func(k, m int) []byte {
		if m == 0 {
			return data(k)
		}
		return []byte{'0' + byte(k)}
	}
	want := w.Bytes()
	got, err := io.ReadAll(wds.NewReader(&sh, content))
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("read whole: %d bytes, %v; want the writer's %d, equal", len(got), err, len(want))
	}
	for off := int64(0); off < int64(len(want)); off += 37 {
		r := wds.NewReader(&sh, content)
		if _, err := r.Seek(off, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 700)
		n, err := io.ReadFull(r, buf)
		if err != nil && err != io.ErrUnexpectedEOF {
			t.Fatal(err)
		}
		if !bytes.Equal(buf[:n], want[off:min(off+700, int64(len(want)))]) {
			t.Fatalf("from offset %d: bytes differ", off)
		}
	}
}

// TestAllocations checks what making and scanning a shard allocates: a
// header into a buffer with room, nothing; a sample scanned into buffers
// large enough, its key and no more (its members' extensions are
// reused), and with the keys given by Key, nothing; so that a stream's
// cost per sample does not grow with what it allocates.
func TestAllocations(t *testing.T) {
	buf := make([]byte, 0, wds.BlockSize)
	if a := testing.AllocsPerRun(100, func() { buf = wds.AppendHeader(buf[:0], "val/ILSVRC2012_val_00000001.jpg", 123_456) }); a != 0 {
		t.Errorf("AppendHeader allocates %v times, want none", a)
	}
	const n = 64
	var w bytes.Buffer
	tw := wds.NewWriter(&w)
	keys := make([]string, n)
	for i := range n {
		keys[i] = fmt.Sprintf("val/ILSVRC2012_val_%08d", i)
		if err := tw.WriteSample(keys[i], wds.File{Ext: "jpg", Data: make([]byte, 100_000+i)}, wds.File{Ext: "cls", Data: []byte("7")}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := tw.Close("s.tar"); err != nil {
		t.Fatal(err)
	}
	shard := w.Bytes()
	data := make([]byte, 0, 200_000)
	r := bytes.NewReader(shard)
	for _, tc := range []struct {
		name string
		keys bool    // Key returns the expected keys
		max  float64 // allocations a sample
	}{
		{"keys made", false, 1.2},    // its key and no more
		{"keys expected", true, 0.2}, // none
	} {
		perShard := testing.AllocsPerRun(10, func() {
			r.Reset(shard)
			sc := wds.NewScanner(r, "s.tar", 0, int64(len(shard)))
			k := 0
			if tc.keys {
				sc.Key = func(b []byte) string {
					if string(b) != keys[k] {
						t.Fatalf("Key(%q), want %q", b, keys[k])
					}
					return keys[k]
				}
			}
			for ; ; k++ {
				s, d, err := sc.Next(data)
				if err == io.EOF {
					return
				}
				if err != nil || s == nil {
					t.Fatal(err)
				}
				if s.Key != keys[k] {
					t.Fatalf("sample %d: key %q, want %q", k, s.Key, keys[k])
				}
				data = d
			}
		})
		// A scanner of its own a shard, a few allocations, shared by its
		// samples.
		if perSample := perShard / n; perSample > tc.max {
			t.Errorf("%s: scanning a shard allocates %.2f times a sample, want at most %v", tc.name, perSample, tc.max)
		}
	}
}

// TestScannerReset checks that a scanner reset to another shard reads it
// as a new scanner does, from its start and from an offset, whatever the
// shard it read before and wherever it stopped in it.
func TestScannerReset(t *testing.T) {
	shard := func(prefix string, n int) []byte {
		var w bytes.Buffer
		tw := wds.NewWriter(&w)
		for i := range n {
			if err := tw.WriteSample(fmt.Sprintf("%s/%04d", prefix, i), wds.File{Ext: "jpg", Data: bytes.Repeat([]byte{byte(i)}, 1000+i)}, wds.File{Ext: "cls", Data: []byte{'0' + byte(i%10)}}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := tw.Close(prefix + ".tar"); err != nil {
			t.Fatal(err)
		}
		return w.Bytes()
	}
	scan := func(sc *wds.Scanner) (keys []string, data [][]byte) {
		for {
			s, d, err := sc.Next(nil)
			if err == io.EOF {
				return keys, data
			}
			if err != nil {
				t.Fatal(err)
			}
			keys, data = append(keys, s.Key), append(data, bytes.Clone(d))
		}
	}
	a, b := shard("a", 5), shard("b", 7)
	// A scanner stopped mid-sample gives that sample's buffer to Free
	// when reset, and not the buffer of a sample it returned.
	t.Run("stopped mid-sample", func(t *testing.T) {
		for _, cut := range []int{len(a)/2 + 100, 2 * wds.BlockSize} { // in a later sample, in the first one's data
			sc := wds.NewScanner(io.MultiReader(bytes.NewReader(a[:cut]), iotest.ErrReader(errors.New("stopped"))), "a.tar", 0, int64(len(a)))
			var given [][]byte
			sc.Alloc = func(n int64) []byte { return make([]byte, 0, n) }
			sc.Free = func(b []byte) { given = append(given, b) }
			var returned []byte
			for {
				_, d, err := sc.Next(nil)
				if err != nil {
					break
				}
				returned = d
			}
			sc.Reset(bytes.NewReader(b), "b.tar", 0, int64(len(b)))
			if len(given) != 1 || cap(given[0]) == 0 || returned != nil && &given[0][:1][0] == &returned[:1][0] {
				t.Errorf("cut at %d: Free given %d buffers, want the unfinished sample's one", cut, len(given))
			}
			if keys, _ := scan(sc); len(keys) != 7 {
				t.Errorf("cut at %d: after Reset, %d samples, want 7", cut, len(keys))
			}
		}
	})
	for _, tc := range []struct {
		name  string
		first int   // samples of a read before the reset, -1 all
		off   int64 // where b is read from: a sample's first header
	}{
		{"after a whole shard", -1, 0},
		{"mid-shard", 2, 0},
		{"before any sample", 0, 0},
		{"from an offset", -1, 2 * 5 * wds.BlockSize}, // sample 2's first header: five blocks a sample
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc := wds.NewScanner(bytes.NewReader(a), "a.tar", 0, int64(len(a)))
			for i := 0; tc.first < 0 || i < tc.first; i++ {
				if _, _, err := sc.Next(nil); err == io.EOF {
					break
				} else if err != nil {
					t.Fatal(err)
				}
			}
			sc.Reset(bytes.NewReader(b[tc.off:]), "b.tar", tc.off, int64(len(b)))
			gotK, gotD := scan(sc)
			wantK, wantD := scan(wds.NewScanner(bytes.NewReader(b[tc.off:]), "b.tar", tc.off, int64(len(b))))
			if len(wantK) == 0 || !slices.Equal(gotK, wantK) || !slices.EqualFunc(gotD, wantD, bytes.Equal) {
				t.Errorf("after Reset: keys %q, want %q (or data differ)", gotK, wantK)
			}
		})
	}
}
