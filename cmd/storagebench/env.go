package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/storagebench/storagebench/cases"
)

// runEnv implements "storagebench env": it prints the environment
// variables the benchmarks and tests read, with their meanings and
// defaults, then checks the current environment against them, failing on
// an unknown STORAGEBENCH_ variable as the benchmarks would.
func runEnv(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	fs := flag.NewFlagSet("env", flag.ContinueOnError)
	fs.SetOutput(stderr)
	markdown := fs.Bool("markdown", false, "print the table as the README shows it")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: storagebench env [-markdown]")
		fmt.Fprintln(fs.Output(), "\nLists the environment variables that configure the benchmarks (go test -bench ./bench),")
		fmt.Fprintln(fs.Output(), "then checks that every STORAGEBENCH_ variable set now is one of them.")
		fs.PrintDefaults()
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		fs.Usage()
		return fmt.Errorf("env: takes no arguments, got %q", pos)
	}
	write := cases.WriteText
	if *markdown {
		write = cases.WriteMarkdown
	}
	if err := write(stdout); err != nil {
		return err
	}
	if err := cases.Check(os.Environ()); err != nil {
		return fmt.Errorf("env: %w", err)
	}
	return nil
}
