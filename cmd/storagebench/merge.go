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
	"strings"

	"github.com/storagebench/storagebench/cluster"
	"github.com/storagebench/storagebench/results"
)

// runMerge implements "storagebench merge": the timelines and results of
// every rank of one run, combined into cluster figures over the window in
// which all ranks were running.
func runMerge(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	fs := flag.NewFlagSet("merge", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("o", "", "`file` to write the cluster results to, in benchmark format (default: stdout, after the tables)")
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintln(w, "usage: storagebench merge [-o cluster.txt] TIMELINES... [RESULTS...]")
		fmt.Fprintln(w, "\nMerges the ranks of one run: every rank's timeline (*.jsonl, from STORAGEBENCH_TIMELINE)")
		fmt.Fprintln(w, "and, optionally, its benchmark output (the rest). For each timed run it prints the cluster's")
		fmt.Fprintln(w, "items/s over the window in which every rank was running, a table of the ranks (items/s,")
		fmt.Fprintln(w, "share, own figures, au, start and end offsets, stragglers) and the check of every epoch")
		fmt.Fprintln(w, "against the shards' plan; and writes one benchmark line per run, with items/s, MB/s,")
		fmt.Fprintln(w, "rank-spread, stragglers, overlap-fraction and, for training, au and au-min, for benchstat.")
		fmt.Fprintln(w, "\nFlags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return errors.New("merge: no files given")
	}
	var timelines []*cluster.RankTimeline
	var resultFiles []string
	for _, f := range fs.Args() {
		if strings.HasSuffix(f, ".jsonl") {
			t, err := cluster.ReadTimeline(f)
			if err != nil {
				return fmt.Errorf("merge: %w", err)
			}
			timelines = append(timelines, t)
			continue
		}
		resultFiles = append(resultFiles, f)
	}
	if len(timelines) == 0 {
		return errors.New("merge: no timeline (*.jsonl) given: each rank writes one where STORAGEBENCH_TIMELINE says")
	}
	var set *results.Set
	var config [][2]string
	if len(resultFiles) > 0 {
		var err error
		if set, err = results.Read(resultFiles...); err != nil {
			return fmt.Errorf("merge: %w", err)
		}
		if ranks := set.Config(results.ConfigRank); len(ranks) == 0 && set.Len() > 0 {
			return fmt.Errorf("merge: %s: no %q configuration line: not the output of a rank", strings.Join(resultFiles, ", "), results.ConfigRank)
		}
		config = sharedConfig(set)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	ms, err := cluster.Merge(timelines, set)
	if err != nil {
		return fmt.Errorf("merge: %w", err)
	}
	if err := cluster.WriteTable(stdout, ms); err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := cluster.WriteResults(&buf, ms, config); err != nil {
		return fmt.Errorf("merge: %w", err)
	}
	if *out == "" {
		fmt.Fprintln(stdout)
		_, err := stdout.Write(buf.Bytes())
		return err
	}
	if err := os.MkdirAll(filepath.Dir(*out), 0o777); err != nil {
		return fmt.Errorf("merge: %w", err)
	}
	if err := writeFileAtomic(*out, buf.Bytes(), 0o666); err != nil {
		return fmt.Errorf("merge: %w", err)
	}
	_, err = fmt.Fprintf(stdout, "\nwrote %s: %d cluster results\n", *out, len(ms))
	return err
}

// sharedConfig returns the configuration lines whose value every result
// of set shares, in the order first read: what the cluster's results
// carry over from its ranks'.
func sharedConfig(set *results.Set) [][2]string {
	var out [][2]string
	for _, k := range set.ConfigKeys() {
		if k == results.ConfigRank || k == results.ConfigWorldSize || strings.HasPrefix(k, ".") {
			continue
		}
		if vals := set.Config(k); len(vals) == 1 { // Config leaves out empty values
			out = append(out, [2]string{k, vals[0]})
		}
	}
	return out
}
