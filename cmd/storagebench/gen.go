package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/storagebench/storagebench/dataset"
	"github.com/storagebench/storagebench/dataset/s3blob"
	"github.com/storagebench/storagebench/fakes"
)

// defaultGenConcurrency is how many items gen writes at a time by default.
const defaultGenConcurrency = 8

// runGen implements "storagebench gen": it writes a synthetic dataset of
// -n items and its index.json to a folder, created if missing, or to an
// s3://bucket/prefix URL, and prints one summary line.
func runGen(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	fs := flag.NewFlagSet("gen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	n := fs.Int("n", 0, "number of items to write (required, > 0)")
	seed := fs.Uint64("seed", 0, "seed of the synthetic dataset")
	concurrency := fs.Int("concurrency", defaultGenConcurrency, "items written at a time")
	s3Config := s3ConfigFlag(fs)
	createBucket := fs.Bool("create-bucket", false, "create the bucket of an s3:// DEST first")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: storagebench gen -n N [-seed S] [-concurrency C] [-s3-config FILE] [-create-bucket] DEST")
		fmt.Fprintln(fs.Output(), "\nWrites N synthetic ImageNet-validation-like JPEGs and their index.json to DEST,")
		fmt.Fprintln(fs.Output(), "a folder (created if missing) or an s3://bucket/prefix URL. The index's keys are")
		fmt.Fprintln(fs.Output(), "relative to the folder, or to the bucket as in the seed's S3 index.")
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
	loc, err := parseLocation(dest)
	if err != nil {
		return fmt.Errorf("gen DEST %q: %w", dest, err)
	}
	store, closeStore, err := openStore(ctx, loc, *s3Config, true)
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

	synth := fakes.Synth{N: *n, Seed: *seed}
	idx, err := synth.Write(ctx, store, *concurrency)
	if err != nil {
		return fmt.Errorf("gen %s: %w", dest, err)
	}
	if loc.isS3() && loc.prefix != "" {
		// The seed's S3 index holds keys relative to the bucket.
		for i := range idx {
			idx[i] = loc.prefix + idx[i]
		}
		var buf bytes.Buffer
		if err := dataset.WriteIndex(&buf, idx); err != nil {
			return err
		}
		if err := store.Put(ctx, fakes.IndexKey, buf.Bytes()); err != nil {
			return fmt.Errorf("gen %s: %w", dest, err)
		}
	}
	var total int64
	for i := range synth.N {
		total += int64(synth.Size(i))
	}
	_, err = fmt.Fprintf(stdout, "wrote %d items, %d bytes (mean %d bytes) to %s; index at %s\n",
		synth.N, total, total/int64(synth.N), dest, loc.join(fakes.IndexKey))
	return err
}
