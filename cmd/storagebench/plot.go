package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/storagebench/storagebench/cases"
	"github.com/storagebench/storagebench/report"
	"github.com/storagebench/storagebench/results"
)

// runPlot implements "storagebench plot": it reads Go benchmark output and
// writes each figure report.Figures draws into the -o folder as SVG and
// PNG, printing the path of each file written.
func runPlot(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	fs := flag.NewFlagSet("plot", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("o", "charts", "`folder` to write the figures to, created if missing")
	sel := selectFlags(fs)
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintln(w, "usage: storagebench plot [-o DIR] [-backend B] [-profile P] [-levels L,...] [-stats S,...] RESULTS...")
		fmt.Fprintln(w, "\nDraws the results in RESULTS (go test -bench output, any -count; NAME=FILE labels a file)")
		fmt.Fprintln(w, "as SVG and PNG figures in DIR: per backend and profile, the seed's per-level figure")
		fmt.Fprintln(w, "(levels-*), items/s against workers with the bound (throughput-*; with several files,")
		fmt.Fprintln(w, "before and after on the same axes), accelerator utilization (au-*) for training runs, and")
		fmt.Fprintln(w, "the requests in flight over time (served-*) from storagebench serve -o FILE -interval D.")
		fmt.Fprintln(w, "A request log (FILE.csv.gz: STORAGEBENCH_REQUEST_LOG, serve -request-log) adds its requests")
		fmt.Fprintln(w, "in flight over time (requests-inflight-*) and its connections' timeline (requests-timeline-*).")
		fmt.Fprintln(w, "\nFlags:")
		fs.PrintDefaults()
	}
	_, figs, err := sel.figures(fs, args)
	if err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	if err := os.MkdirAll(*out, 0o777); err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	for _, f := range figs {
		if err := ctx.Err(); err != nil {
			return err
		}
		paths, err := f.WriteFiles(*out)
		if err != nil {
			return fmt.Errorf("plot: %w", err)
		}
		if _, err := fmt.Fprintf(stdout, "wrote %s: %s\n", strings.Join(paths, ", "), f.Title); err != nil {
			return err
		}
	}
	return nil
}

// selection is the flags plot and report share: which results to draw,
// and how.
type selection struct {
	backends, profiles *string
	levels, stats      *string
	ignore             *string
}

// selectFlags defines the shared flags on fs.
func selectFlags(fs *flag.FlagSet) *selection {
	return &selection{
		backends: fs.String("backend", "", "only these `backends` (comma-separated); default all"),
		profiles: fs.String("profile", "", "only these `profiles` (comma-separated); default all"),
		levels:   fs.String("levels", strings.Join(report.DefaultLevels, ","), "`levels` of the per-level figures, in bar order, out of "+strings.Join(report.Levels(), ",")),
		stats:    fs.String("stats", strings.Join(report.DefaultStats, ","), "`statistics` of each level, in bar order, out of "+strings.Join(results.Stats, ",")),
		ignore:   fs.String("ignore", "", "pair results that differ only in these `keys`, as benchstat's -ignore (e.g. loader-prefetch)"),
	}
}

// figures parses args with fs, reads the RESULTS files, keeps the results
// the flags select, and builds their figures; with nothing to draw it
// says what the files held.
func (s *selection) figures(fs *flag.FlagSet, args []string) (*results.Set, []*report.Figure, error) {
	files, err := parseInterspersed(fs, args)
	if err != nil {
		return nil, nil, err
	}
	if len(files) == 0 {
		fs.Usage()
		return nil, nil, errors.New("missing RESULTS files")
	}
	// Request logs (STORAGEBENCH_REQUEST_LOG's, serve -request-log's)
	// are drawn after the results, each as its requests in flight and
	// its connections' timeline.
	var logFigs []*report.Figure
	isLog := func(f string) bool { return strings.HasSuffix(f, ".csv.gz") }
	for _, f := range files {
		if !isLog(f) {
			continue
		}
		recs, err := readLog(f)
		if err != nil {
			return nil, nil, err
		}
		logFigs = append(logFigs, report.RequestFigures(strings.TrimSuffix(filepath.Base(f), ".csv.gz"), recs)...)
	}
	files = slices.DeleteFunc(files, isLog)
	if len(files) == 0 {
		if len(logFigs) == 0 {
			return nil, nil, errors.New("the request logs hold no request")
		}
		return nil, logFigs, nil
	}
	var opts report.LevelOptions
	if opts.Levels, err = checkList("-levels", *s.levels, report.Levels()); err != nil {
		return nil, nil, err
	}
	if opts.Stats, err = checkList("-stats", *s.stats, results.Stats); err != nil {
		return nil, nil, err
	}
	set, err := results.Read(files...)
	if err != nil {
		return nil, nil, err
	}
	if *s.ignore != "" {
		if set, err = set.Ignore(*s.ignore); err != nil {
			return nil, nil, err
		}
	}
	all := set
	var query []string
	for _, f := range []struct{ key, value string }{{cases.Backend.Key, *s.backends}, {cases.Profile.Key, *s.profiles}} {
		if list := splitList(f.value); len(list) > 0 {
			query = append(query, fmt.Sprintf("/%s:(%s)", f.key, strings.Join(list, " OR ")))
		}
	}
	if len(query) > 0 {
		if set, err = set.Filter(strings.Join(query, " ")); err != nil {
			return nil, nil, err
		}
	}
	figs, err := report.Figures(set, opts)
	if err != nil {
		return nil, nil, err
	}
	if len(figs) == 0 {
		msg := fmt.Sprintf("no Benchmark%s or Benchmark%s results, nor Benchmark%s intervals", results.Load, results.Train, results.Serve)
		if len(query) > 0 {
			msg += " match " + strings.Join(query, " ")
		}
		msg += " in " + strings.Join(files, ", ")
		if names := all.Names(); len(names) > 0 {
			msg += "; found " + shortList(names)
		}
		return nil, nil, errors.New(msg)
	}
	return set, append(figs, logFigs...), nil
}

// splitList splits a comma-separated flag value, dropping empty elements.
func splitList(s string) []string {
	var list []string
	for e := range strings.SplitSeq(s, ",") {
		if e = strings.TrimSpace(e); e != "" {
			list = append(list, e)
		}
	}
	return list
}

// checkList splits the value of flag name and checks that it is a non-empty
// list of distinct elements of valid.
func checkList(name, value string, valid []string) ([]string, error) {
	list := splitList(value)
	if len(list) == 0 {
		return nil, fmt.Errorf("%s is empty; want some of %s", name, strings.Join(valid, ","))
	}
	for i, e := range list {
		if !slices.Contains(valid, e) {
			return nil, fmt.Errorf("%s: unknown %q; want some of %s", name, e, strings.Join(valid, ","))
		}
		if slices.Contains(list[:i], e) {
			return nil, fmt.Errorf("%s: %q given twice", name, e)
		}
	}
	return list, nil
}

// shortList joins up to five elements of list, saying how many it left out.
func shortList(list []string) string {
	const most = 5
	if len(list) <= most {
		return strings.Join(list, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(list[:most], ", "), len(list)-most)
}
