package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/storagebench/storagebench/results"
	"github.com/storagebench/storagebench/targets"
)

// runTargets reads benchmark output and reports each performance target's
// figure next to its threshold. With -strict it fails when a target is
// missed or not shown.
func runTargets(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	fs := flag.NewFlagSet("targets", flag.ContinueOnError)
	fs.SetOutput(stderr)
	strict := fs.Bool("strict", false, "exit non-zero when a target is missed or not shown")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: storagebench targets [-strict] RESULTS...")
		fs.PrintDefaults()
	}
	files, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		fs.Usage()
		return errors.New("targets: no results file given")
	}
	set, err := results.Read(files...)
	if err != nil {
		return fmt.Errorf("targets: %w", err)
	}
	if set.Len() == 0 {
		return fmt.Errorf("targets: no benchmark results in %s", strings.Join(files, ", "))
	}
	rows, err := targets.Evaluate(set)
	if err != nil {
		return fmt.Errorf("targets: %w", err)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "target\tfigure\tthreshold\tresult")
	missed, shown := 0, 0
	for _, r := range rows {
		if !r.Reference {
			shown++
		}
		verdict := "met"
		switch {
		case r.Reference:
			verdict = "shown"
		case r.Missing:
			verdict, missed = "not shown", missed+1
		case !r.OK:
			verdict, missed = "MISSED", missed+1
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Target, r.Figure, r.Threshold, verdict)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if *strict && missed > 0 {
		return fmt.Errorf("targets: %d of %d targets missed or not shown", missed, shown)
	}
	return nil
}
