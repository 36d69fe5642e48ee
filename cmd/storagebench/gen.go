package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sync/atomic"

	"golang.org/x/sync/errgroup"

	"github.com/storagebench/storagebench/dataset"
	"github.com/storagebench/storagebench/dataset/prune"
	"github.com/storagebench/storagebench/dataset/s3blob"
	"github.com/storagebench/storagebench/dataset/storeurl"
	"github.com/storagebench/storagebench/dataset/wds"
	"github.com/storagebench/storagebench/fakes"
	"github.com/storagebench/storagebench/internal/progress"
)

// defaultGenConcurrency is how many items gen writes at a time by default.
const defaultGenConcurrency = 8

// runGen implements "storagebench gen": it writes a synthetic dataset of
// -n items and its index.json to a folder, created if missing, or to an
// s3://bucket/prefix URL, and prints one summary line; its progress goes
// to stderr. A destination that already holds objects is refused unless
// -force is given; then every object there that this run did not write is
// removed after the writing, so that the destination holds exactly the
// dataset and its index.
func runGen(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	fs := flag.NewFlagSet("gen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	n := fs.Int("n", 0, "number of items to write (required, > 0)")
	seed := fs.Uint64("seed", 0, "seed of the synthetic dataset")
	concurrency := fs.Int("concurrency", defaultGenConcurrency, "items written at a time")
	s3Config := s3ConfigFlag(fs)
	createBucket := fs.Bool("create-bucket", false, "create the bucket of an s3:// DEST first")
	force := fs.Bool("force", false, "write into a DEST that holds objects, then remove every object there that this run did not write")
	format := fs.String("format", "loose", "the layout: loose (an object an item) or tar (WebDataset tar shards of the same samples, <key>.jpg and <key>.cls)")
	shardSize := fs.String("shard-size", "64MB", "with -format tar, the most bytes a shard holds, exact: 64MB is 64,000,000 bytes, 64MiB 67,108,864")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: storagebench gen -n N [-seed S] [-format loose|tar] [-shard-size SIZE] [-concurrency C] [-s3-config FILE] [-create-bucket] [-force] DEST")
		fmt.Fprintln(fs.Output(), "\nWrites N synthetic ImageNet-validation-like JPEGs and their index.json to DEST,")
		fmt.Fprintln(fs.Output(), "a folder (created if missing) or an s3://bucket/prefix URL. The index's keys are")
		fmt.Fprintln(fs.Output(), "relative to the folder, or to the bucket as in the seed's S3 index.")
		fmt.Fprintln(fs.Output(), "\nWith -format tar, the same samples go into WebDataset tar shards of at most")
		fmt.Fprintln(fs.Output(), "-shard-size bytes each (val-000000.tar, ...), and the index names the shards.")
		fmt.Fprintln(fs.Output(), "\nA DEST that already holds files or objects is refused. With -force, gen writes")
		fmt.Fprintln(fs.Output(), "there anyway and then removes every file or object under DEST that it did not")
		fmt.Fprintln(fs.Output(), "write, so that DEST holds exactly the new dataset and its index.")
		fmt.Fprintln(fs.Output(), "\nProgress goes to stderr: a live bar on a terminal, plain lines otherwise.")
		fmt.Fprintln(fs.Output(), "\nFlags:")
		fs.PrintDefaults()
	}
	dest, err := oneArg(fs, "DEST", args)
	if err != nil {
		return err
	}
	if *n <= 0 {
		fs.Usage()
		return fmt.Errorf("gen: -n must be > 0, got %d", *n)
	}
	if *concurrency <= 0 {
		fs.Usage()
		return fmt.Errorf("gen: -concurrency must be > 0, got %d", *concurrency)
	}
	var limit int64
	switch *format {
	case "loose":
	case "tar":
		if limit, err = wds.ParseSize(*shardSize); err != nil {
			return fmt.Errorf("gen: -shard-size: %w", err)
		}
	default:
		return fmt.Errorf("gen: -format %q: want loose or tar", *format)
	}
	loc, err := storeurl.Parse(dest)
	if err != nil {
		return fmt.Errorf("gen DEST %q: %w", dest, err)
	}
	store, closeStore, err := loc.Open(ctx, *s3Config, true)
	if err != nil {
		return fmt.Errorf("gen %s: %w", dest, err)
	}
	defer closeStore()
	if *createBucket {
		b, ok := store.Backend().(*s3blob.Backend)
		if !ok {
			return fmt.Errorf("gen %s: -create-bucket needs an s3:// DEST", dest)
		}
		if err := b.CreateBucket(ctx); err != nil {
			return fmt.Errorf("gen %s: %w", dest, err)
		}
	}
	if !*force {
		err := prune.CheckEmpty(ctx, store)
		var full *prune.NotEmptyError
		switch {
		case errors.As(err, &full):
			return fmt.Errorf("gen %s: %w; use -force to write there anyway and remove every object this run does not write", dest, err)
		case err != nil:
			return fmt.Errorf("gen %s: checking that it is empty: %w", dest, err)
		}
	}

	synth := fakes.Synth{N: *n, Seed: *seed}
	var set *wds.Set
	if limit > 0 {
		if set, err = synth.Shards(limit); err != nil {
			return fmt.Errorf("gen %s: %w", dest, err)
		}
	}
	prog := progress.New(stderr, progress.IsTerminal(stderr), synth.N, "gen", "items")
	var idx dataset.Index
	if set != nil {
		idx, err = writeShards(ctx, store, synth, set, *concurrency, prog.Set)
	} else {
		idx, err = synth.WriteProgress(ctx, store, *concurrency, prog.Set)
	}
	prog.Finish()
	if err != nil {
		return fmt.Errorf("gen %s: %w", dest, err)
	}
	var written map[string]bool // the keys this run wrote, relative to the store
	if *force {
		written = make(map[string]bool, len(idx)+1)
		for _, k := range idx {
			written[k] = true
		}
		written[dataset.IndexKey] = true
	}
	if loc.Prefix() != "" || set != nil {
		// The seed's S3 index holds keys relative to the bucket.
		for i := range idx {
			idx[i] = loc.Prefix() + idx[i]
		}
		var buf bytes.Buffer
		if err := dataset.WriteIndex(&buf, idx); err != nil {
			return err
		}
		if err := store.Put(ctx, dataset.IndexKey, buf.Bytes()); err != nil {
			return fmt.Errorf("gen %s: %w", dest, err)
		}
	}
	removed := ""
	if *force {
		n, err := removeOthers(ctx, stderr, store, written, *concurrency)
		if err != nil {
			return fmt.Errorf("gen %s: -force: remove what this run did not write: %w", dest, err)
		}
		if n > 0 {
			removed = fmt.Sprintf("; removed %d objects it did not write", n)
		}
	}
	var total int64
	for i := range synth.N {
		total += int64(synth.Size(i))
	}
	if set != nil {
		var shardBytes int64
		for j := range set.Shards() {
			shardBytes += set.Shard(j).Size
		}
		_, err = fmt.Fprintf(stdout, "wrote %d items, %d bytes (mean %d bytes) in %d tar shards of at most %s (%d bytes in all) to %s; index at %s%s\n",
			synth.N, total, total/int64(synth.N), set.Shards(), wds.FormatSize(limit), shardBytes, dest, loc.Join(dataset.IndexKey), removed)
		return err
	}
	_, err = fmt.Fprintf(stdout, "wrote %d items, %d bytes (mean %d bytes) to %s; index at %s%s\n",
		synth.N, total, total/int64(synth.N), dest, loc.Join(dataset.IndexKey), removed)
	return err
}

// writeShards writes s's items, in the shards of set (what s.Shards
// gave), concurrency shards at a time, each whole in memory once, and
// returns the index of the shards' keys, relative to the store; progress
// gets the items written so far.
func writeShards(ctx context.Context, store *dataset.Store, s fakes.Synth, set *wds.Set, concurrency int, progress func(written int)) (dataset.Index, error) {
	idx := make(dataset.Index, set.Shards())
	var written atomic.Int64
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(concurrency)
	for j := range set.Shards() {
		sh := set.Shard(j)
		idx[j] = sh.Key
		g.Go(func() error {
			var buf bytes.Buffer
			buf.Grow(int(sh.Size))
			w := wds.NewWriter(&buf)
			for k := range sh.Samples {
				i := set.First(j) + k
				if err := w.WriteSample(s.SampleKey(i), s.ShardFiles(i, s.Item(i))...); err != nil {
					return err
				}
			}
			got, err := w.Close(sh.Key)
			if err != nil {
				return err
			}
			if got.Size != sh.Size {
				return fmt.Errorf("shard %s: wrote %d bytes, its layout says %d", sh.Key, got.Size, sh.Size)
			}
			if err := store.Put(ctx, sh.Key, buf.Bytes()); err != nil {
				return err
			}
			progress(int(written.Add(int64(len(sh.Samples)))))
			return nil
		})
	}
	return idx, g.Wait()
}

// removeOthers removes, concurrency at a time, every object of store whose
// key is not in keep, showing its progress on stderr when there are any,
// and returns how many there were.
func removeOthers(ctx context.Context, stderr io.Writer, store *dataset.Store, keep map[string]bool, concurrency int) (int, error) {
	stale, err := prune.Others(ctx, store, keep)
	if err != nil {
		return 0, err
	}
	if len(stale) == 0 {
		return 0, ctx.Err()
	}
	prog := progress.New(stderr, progress.IsTerminal(stderr), len(stale), "gen: remove", "objects")
	defer prog.Finish()
	if err := prune.Delete(ctx, store, stale, concurrency, prog.Set); err != nil {
		return 0, err
	}
	return len(stale), nil
}
