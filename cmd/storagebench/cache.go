package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/storagebench/storagebench/dataset"
	"github.com/storagebench/storagebench/dataset/local"
)

// runCache implements "storagebench cache": how much of the files under a
// folder the host's page cache holds, after dropping them (-drop) or
// reading them once (-warm) if asked: whether reads of that folder, a
// dataset or an S3 server's data folder, come from memory or the device.
func runCache(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	fs := flag.NewFlagSet("cache", flag.ContinueOnError)
	fs.SetOutput(stderr)
	drop := fs.Bool("drop", false, "first write back and drop the files' pages (posix_fadvise POSIX_FADV_DONTNEED)")
	warm := fs.Bool("warm", false, "first read every file once, through the page cache")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: storagebench cache [-drop | -warm] DIR")
		fmt.Fprintln(fs.Output(), "\nPrints how much of the regular files under DIR the page cache holds: pages resident")
		fmt.Fprintln(fs.Output(), "over the files' pages (a hard-linked file counted once a name), as the benchmarks'")
		fmt.Fprintln(fs.Output(), "cache-resident-fraction measures it. Linux only.")
		fmt.Fprintln(fs.Output(), "\nFlags:")
		fs.PrintDefaults()
	}
	dir, err := oneArg(fs, "DIR", args)
	if err != nil {
		return err
	}
	if *drop && *warm {
		return errors.New("cache: -drop and -warm: give one")
	}
	b, err := local.Open(dir)
	if err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	defer b.Close()
	entries, err := dataset.NewStore(b).List(ctx, "")
	if err != nil {
		return fmt.Errorf("cache %s: %w", dir, err)
	}
	keys := make([]string, len(entries))
	for i, e := range entries {
		keys[i] = e.Key
	}
	switch {
	case *drop:
		err = b.Drop(ctx, keys)
	case *warm:
		err = b.Warm(ctx, keys)
	}
	if err != nil {
		return fmt.Errorf("cache %s: %w", dir, err)
	}
	r, err := b.Resident(ctx, keys)
	if err != nil {
		return fmt.Errorf("cache %s: %w", dir, err)
	}
	page := float64(os.Getpagesize())
	_, err = fmt.Fprintf(stdout, "%s: %d files, %.1f MB in pages; the page cache holds %.1f MB of them: cache-resident-fraction %.4f\n",
		dir, len(keys), float64(r.Pages)*page/1e6, float64(r.Resident)*page/1e6, r.Fraction())
	return err
}
