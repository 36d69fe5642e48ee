package loader_test

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"

	"github.com/storagebench/storagebench/dataset"
	"github.com/storagebench/storagebench/dataset/datasettest"
	"github.com/storagebench/storagebench/dataset/mem"
	"github.com/storagebench/storagebench/fakes/fakestest"
	"github.com/storagebench/storagebench/loader"
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

// load runs a loader of ds with opts, calling fn with each batch in order,
// and returns what it measured. The first error from fn or from loading
// ends the run.
func load(ctx context.Context, ds *dataset.Dataset, opts loader.Options, fn func(*loader.Batch) error) (loader.Stats, error) {
	l, err := loader.New(ds, opts)
	if err != nil {
		return loader.Stats{}, err
	}
	it, err := l.Start(ctx)
	if err != nil {
		return loader.Stats{}, err
	}
	for {
		b, err := it.Next()
		if err == io.EOF {
			break
		}
		if err == nil {
			err = fn(b)
		}
		if err != nil {
			it.Close()
			return it.Stats(), err
		}
	}
	err = it.Close()
	return it.Stats(), err
}

// itemOptions returns the Options.Item that selects sc, with default
// settings.
func itemOptions(sc loader.Scheduler) *loader.ItemOptions {
	if sc == loader.SchedItem {
		return &loader.ItemOptions{}
	}
	return nil
}

// start starts a loader of ds with opts and closes its run when the test
// ends.
func start(tb testing.TB, ctx context.Context, ds *dataset.Dataset, opts loader.Options) *loader.Iter {
	tb.Helper()
	l, err := loader.New(ds, opts)
	if err != nil {
		tb.Fatal(err)
	}
	it, err := l.Start(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { it.Close() })
	return it
}

// loaderGoroutines returns the stacks of the goroutines running code of
// package loader at this instant, with no retry: after Close returns there
// must be none.
func loaderGoroutines() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var found []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "storagebench/loader.") {
			found = append(found, g)
		}
	}
	return found
}
