package loader_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/storagebench/storagebench/dataset"
	"github.com/storagebench/storagebench/dataset/datasettest"
	"github.com/storagebench/storagebench/dataset/mem"
	"github.com/storagebench/storagebench/fakes/fakestest"
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
	{"local", func(tb testing.TB, objs map[string][]byte) dataset.Backend { return datasettest.LocalFolder(tb, objs) }},
	{"fakes3", func(tb testing.TB, objs map[string][]byte) dataset.Backend {
		_, b := fakestest.NewS3Backend(tb, objs)
		return b
	}},
}
