package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/storagebench/storagebench/dataset"
	"github.com/storagebench/storagebench/dataset/prune"
	"github.com/storagebench/storagebench/dataset/s3blob"
	"github.com/storagebench/storagebench/dataset/storeurl"
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
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: storagebench gen -n N [-seed S] [-concurrency C] [-s3-config FILE] [-create-bucket] [-force] DEST")
		fmt.Fprintln(fs.Output(), "\nWrites N synthetic ImageNet-validation-like JPEGs and their index.json to DEST,")
		fmt.Fprintln(fs.Output(), "a folder (created if missing) or an s3://bucket/prefix URL. The index's keys are")
		fmt.Fprintln(fs.Output(), "relative to the folder, or to the bucket as in the seed's S3 index.")
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
	prog := progress.New(stderr, progress.IsTerminal(stderr), synth.N, "gen", "items")
	idx, err := synth.WriteProgress(ctx, store, *concurrency, prog.Set)
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
	if loc.Prefix() != "" {
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
	_, err = fmt.Fprintf(stdout, "wrote %d items, %d bytes (mean %d bytes) to %s; index at %s%s\n",
		synth.N, total, total/int64(synth.N), dest, loc.Join(dataset.IndexKey), removed)
	return err
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
