package loader_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/storagebench/storagebench/dataset"
	"github.com/storagebench/storagebench/dataset/local"
	"github.com/storagebench/storagebench/dataset/mem"
	"github.com/storagebench/storagebench/dataset/s3blob"
	"github.com/storagebench/storagebench/fakes"
)

// objects returns n items of distinct content and sizes from 0 to ~4 KiB,
// with the index that lists them.
func objects(n int) (map[string][]byte, dataset.Index) {
	r := rand.New(rand.NewPCG(uint64(n), 7))
	objs := make(map[string][]byte, n)
	idx := make(dataset.Index, n)
	for i := range n {
		key := fmt.Sprintf("val/item_%05d.bin", i)
		data := make([]byte, r.IntN(4096))
		for j := range data {
			data[j] = byte(r.Uint32())
		}
		objs[key], idx[i] = data, key
	}
	return objs, idx
}

// backend is a named way to build a backend holding some objects.
type backend struct {
	name string
	make func(tb testing.TB, objs map[string][]byte) dataset.Backend
}

// backends are every backend the loader is tested on, the fake S3
// standing in for S3.
var backends = []backend{
	{"mem", func(tb testing.TB, objs map[string][]byte) dataset.Backend { return mem.New(objs) }},
	{"local", func(tb testing.TB, objs map[string][]byte) dataset.Backend {
		tb.Helper()
		dir := tb.TempDir()
		for k, v := range objs {
			p := filepath.Join(dir, filepath.FromSlash(k))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				tb.Fatal(err)
			}
			if err := os.WriteFile(p, v, 0o644); err != nil {
				tb.Fatal(err)
			}
		}
		b, err := local.Open(dir)
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { b.Close() })
		return b
	}},
	{"fakes3", func(tb testing.TB, objs map[string][]byte) dataset.Backend {
		tb.Helper()
		f := fakes.NewS3(tb, fakes.S3Options{Buckets: []string{"data"}})
		b, err := s3blob.Open(f.Client, "data", "prefix/")
		if err != nil {
			tb.Fatal(err)
		}
		for k, v := range objs {
			if err := b.Put(context.Background(), k, v); err != nil {
				tb.Fatal(err)
			}
		}
		return b
	}},
}
