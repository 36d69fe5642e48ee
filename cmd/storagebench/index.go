package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"

	"github.com/storagebench/storagebench/dataset"
	"github.com/storagebench/storagebench/dataset/storeurl"
	"github.com/storagebench/storagebench/internal/progress"
)

// runIndex implements "storagebench index": it lists a folder or an
// s3://bucket/prefix URL into a sorted index of the keys ending in -suffix,
// relative to the folder, or to the bucket as in the seed's S3 index, and
// writes it to -o or to stdout. How many objects the listing has found is
// shown on stderr as it goes.
func runIndex(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	fs := flag.NewFlagSet("index", flag.ContinueOnError)
	fs.SetOutput(stderr)
	suffix := fs.String("suffix", ".JPEG", `keep only keys ending in this `+"`suffix`"+` ("" keeps all)`)
	out := fs.String("o", "", "write the index to `file` instead of stdout")
	s3Config := s3ConfigFlag(fs)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: storagebench index [-suffix .JPEG] [-o FILE] [-s3-config FILE] SRC")
		fmt.Fprintln(fs.Output(), "\nLists SRC, a folder or an s3://bucket/prefix URL, into a sorted index of the")
		fmt.Fprintln(fs.Output(), "keys relative to it; index.json files are never listed.")
		fmt.Fprintln(fs.Output(), "\nProgress goes to stderr: a live count on a terminal, plain lines otherwise.")
		fmt.Fprintln(fs.Output(), "\nFlags:")
		fs.PrintDefaults()
	}
	src, err := oneArg(fs, "SRC", args)
	if err != nil {
		return err
	}
	loc, err := storeurl.Parse(src)
	if err != nil {
		return fmt.Errorf("index SRC %q: %w", src, err)
	}
	store, closeStore, err := loc.Open(ctx, *s3Config, false)
	if err != nil {
		return fmt.Errorf("index %s: %w", src, err)
	}
	defer closeStore()

	prog := progress.New(stderr, progress.IsTerminal(stderr), 0, "index", "objects")
	entries, err := store.List(dataset.WithListTrace(ctx, &dataset.ListTrace{Found: prog.Set}), "")
	prog.Set(len(entries))
	prog.Finish()
	if err != nil {
		return fmt.Errorf("index %s: %w", src, err)
	}
	idx := selectKeys(entries, *suffix)
	for i := range idx { // S3 keys are relative to the bucket, as in the seed's index
		idx[i] = loc.Prefix() + idx[i]
	}
	if len(idx) == 0 {
		if *suffix == "" {
			return fmt.Errorf("index: no keys under %s", src)
		}
		return fmt.Errorf("index: no keys ending in %s under %s", *suffix, src)
	}
	var buf bytes.Buffer
	if err := dataset.WriteIndex(&buf, idx); err != nil {
		return fmt.Errorf("index %s: %w", src, err)
	}
	if *out == "" {
		_, err := stdout.Write(buf.Bytes())
		return err
	}
	if err := writeFileAtomic(*out, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("index: write %s: %w", *out, err)
	}
	_, err = fmt.Fprintf(stdout, "indexed %d keys under %s into %s\n", len(idx), src, *out)
	return err
}

// selectKeys returns, sorted, the keys of entries that end in suffix,
// leaving out every file named index.json and the folder markers some S3
// tools create (keys ending in "/", and the prefix itself, listed as "").
func selectKeys(entries []dataset.Entry, suffix string) dataset.Index {
	var idx dataset.Index
	for _, e := range entries {
		k := e.Key
		if k == "" || strings.HasSuffix(k, "/") || path.Base(k) == dataset.IndexKey || !strings.HasSuffix(k, suffix) {
			continue
		}
		idx = append(idx, k)
	}
	slices.Sort(idx)
	return idx
}
