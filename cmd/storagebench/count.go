package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/storagebench/storagebench/bench"
	"github.com/storagebench/storagebench/cases"
	"github.com/storagebench/storagebench/loader"
	"github.com/storagebench/storagebench/results"
)

// runCount implements "storagebench count": for each Load case named, the
// fewest items its timed run takes, as BenchmarkLoad sizes it (whole
// rounds, the minimums of rounds and epochs), at least -least, printed as
// a -benchtime count ("6000x"), one a line. A script that runs a commit
// whose benchmarks do not size their own runs (make compare's base) asks
// for counts here; nothing in shell repeats the rule.
func runCount(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	fs := flag.NewFlagSet("count", flag.ContinueOnError)
	fs.SetOutput(stderr)
	items := fs.Int("items", bench.DefaultItems, "`items` in the dataset (a rank's share of it)")
	prefetch := fs.Int("prefetch", loader.DefaultPrefetch, "`batches` each worker holds")
	least := fs.Int("least", 0, "the fewest `items` a run takes")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: storagebench count [-items N] [-prefetch P] [-least N] NAME...")
		fmt.Fprintln(fs.Output(), "\nPrints, for each Load case NAME (such as Load/backend=mem/profile=none/mode=sync/workers=2/batch=50),")
		fmt.Fprintln(fs.Output(), "the -benchtime count of whole rounds that times every level, as BenchmarkLoad sizes its runs.")
		fs.PrintDefaults()
	}
	names, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(names) == 0:
		fs.Usage()
		return fmt.Errorf("count: no case named")
	case *items < 1 || *prefetch < 1 || *least < 0:
		return fmt.Errorf("count: -items %d, -prefetch %d, -least %d: want at least 1, 1 and 0", *items, *prefetch, *least)
	}
	for _, name := range names {
		c, err := cases.Parse(name)
		if err != nil {
			return fmt.Errorf("count: %w", err)
		}
		if c.Bench != results.Load {
			return fmt.Errorf("count: %s: only Load cases are sized by items (a Train iteration is a step)", name)
		}
		s, err := bench.LoadSizing(c, *prefetch, *items)
		if err != nil {
			return fmt.Errorf("count: %w", err)
		}
		fmt.Fprintf(stdout, "%dx\n", s.Whole(max(s.Items, *least)))
	}
	return nil
}
