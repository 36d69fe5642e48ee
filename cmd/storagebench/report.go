package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/storagebench/storagebench/report"
)

// runReport implements "storagebench report": one self-contained HTML
// page with the figures plot draws, the tables that matter and the
// machine and configuration the results came from.
func runReport(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("o", "report.html", "HTML `file` to write; its folder is created if missing")
	sel := selectFlags(fs)
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintln(w, "usage: storagebench report [-o report.html] [-backend B] [-profile P] RESULTS...")
		fmt.Fprintln(w, "\nWrites one self-contained HTML page (inline SVG and CSS, nothing loaded from the")
		fmt.Fprintln(w, "network) with the figures of plot, benchstat-style tables of items/s, efficiency and")
		fmt.Fprintln(w, "getitem p99 (with two or more files, each file's change from the first and its")
		fmt.Fprintln(w, "p-value), and the machine and configuration lines. NAME=FILE labels a file. A request")
		fmt.Fprintln(w, "log (FILE.csv.gz) adds its requests in flight over time and its connections' timeline.")
		fmt.Fprintln(w, "\nFlags:")
		fs.PrintDefaults()
	}
	set, figs, err := sel.figures(fs, args)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if set == nil {
		return errors.New("report: request logs go on a page beside results: give a RESULTS file too")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := report.WritePage(&buf, set, figs); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(*out), 0o777); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if err := writeFileAtomic(*out, buf.Bytes(), 0o666); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	_, err = fmt.Fprintf(stdout, "wrote %s: %d figures, %d files of results\n", *out, len(figs), len(set.Files()))
	return err
}
