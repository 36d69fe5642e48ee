package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"golang.org/x/perf/benchfmt"
)

// Thresholds of the performance targets.
const (
	targetRatio       = 0.95     // loader over raw, and over the bound
	targetMaxInFlight = 512      // target 2 holds up to this many requests in flight
	targetOverheadNs  = 1000.0   // loader overhead on mem, per item
	targetAllocs      = 1.0      // allocations per item on mem
	targetSeedRate    = 3250.0   // 100x the seed's 32.5 images/s from S3
	targetRSSSlack    = 64 << 20 // the constant in the memory bound
	targetRSSGrowth   = 1.10     // a 10x longer run may use at most 10% more
	seedSyncRate      = 12.7     // the seed's S3 rate with 2 sync workers
)

// tgResult is one benchmark result's name parts and metrics, the median
// over repeated runs of the same name and iteration count.
type tgResult struct {
	name    string
	parts   map[string]string
	iters   int
	config  map[string]string
	metrics map[string]float64
}

// tgRow is one line of the targets report.
type tgRow struct {
	target, figure, threshold string
	ok                        bool
	missing                   bool // no result shows the target
}

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
	results, err := tgRead(files)
	if err != nil {
		return err
	}
	if len(results) == 0 {
		return fmt.Errorf("targets: no benchmark results in %s", strings.Join(files, ", "))
	}
	rows := tgEvaluate(results)
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "target\tfigure\tthreshold\tresult")
	missed := 0
	for _, r := range rows {
		verdict := "met"
		switch {
		case r.missing:
			verdict, missed = "not shown", missed+1
		case !r.ok:
			verdict, missed = "MISSED", missed+1
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.target, r.figure, r.threshold, verdict)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if *strict && missed > 0 {
		return fmt.Errorf("targets: %d of %d targets missed or not shown", missed, len(rows))
	}
	return nil
}

// tgRead reads results from files, keeping the median of repeated runs.
func tgRead(files []string) ([]*tgResult, error) {
	type key struct {
		name  string
		iters int
	}
	var order []key
	runs := map[key][]*benchfmt.Result{}
	for _, file := range files {
		f, err := os.Open(file)
		if err != nil {
			return nil, fmt.Errorf("targets: %w", err)
		}
		r := benchfmt.NewReader(f, file)
		for r.Scan() {
			switch rec := r.Result(); rec := rec.(type) {
			case *benchfmt.SyntaxError:
				f.Close()
				return nil, fmt.Errorf("targets: %w", rec)
			case *benchfmt.Result:
				// Results with the same name and length are one point.
				k := key{string(rec.Name.Full()), rec.Iters}
				if _, ok := runs[k]; !ok {
					order = append(order, k)
				}
				runs[k] = append(runs[k], rec.Clone())
			}
		}
		err = r.Err()
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("targets: %s: %w", file, err)
		}
	}
	var out []*tgResult
	for _, k := range order {
		rs := runs[k]
		res := &tgResult{name: k.name, iters: k.iters, parts: map[string]string{}, config: map[string]string{}, metrics: map[string]float64{}}
		base, parts := rs[0].Name.Parts()
		res.parts[""] = string(base)
		for _, p := range parts {
			kv := strings.TrimPrefix(string(p), "/")
			if k, v, ok := strings.Cut(kv, "="); ok {
				res.parts[k] = v
			} else if strings.HasPrefix(kv, "-") {
				res.parts["gomaxprocs"] = kv[1:]
			}
		}
		for _, c := range rs[0].Config {
			res.config[c.Key] = string(c.Value)
		}
		units := map[string][]float64{}
		for _, r := range rs {
			for _, v := range r.Values {
				u, x := v.Unit, v.Value
				if v.OrigUnit != "" {
					u, x = v.OrigUnit, v.OrigValue
				}
				units[u] = append(units[u], x)
			}
		}
		for u, xs := range units {
			res.metrics[u] = median(xs)
		}
		out = append(out, res)
	}
	return out, nil
}

// tgSelect returns the results of benchmark base whose name parts match
// want; an empty wanted value matches any.
func tgSelect(rs []*tgResult, base string, want map[string]string) []*tgResult {
	var out []*tgResult
outer:
	for _, r := range rs {
		if r.parts[""] != base {
			continue
		}
		for k, v := range want {
			if r.parts[k] != v {
				continue outer
			}
		}
		out = append(out, r)
	}
	return out
}

// noDecode reports whether r read without decoding.
func noDecode(r *tgResult) bool { d := r.parts["decode"]; return d == "" || d == "none" }

// tgEvaluate computes the figure of each target.
func tgEvaluate(rs []*tgResult) []tgRow {
	var rows []tgRow
	// 1. Loader against raw at equal concurrency, profile none.
	for _, backend := range []string{"mem", "local", "fakes3"} {
		var worst *tgResult
		worstEff := math.Inf(1)
		for _, r := range tgSelect(rs, "Load", map[string]string{"backend": backend, "profile": "none"}) {
			raw, ok := r.metrics["raw-items/s"]
			if !ok || !noDecode(r) {
				continue
			}
			if e := r.metrics["items/s"] / raw; e < worstEff {
				worst, worstEff = r, e
			}
		}
		row := tgRow{target: "1 loader/raw items/s, " + backend + ", profile none", threshold: fmt.Sprintf(">= %.2f", targetRatio)}
		if worst == nil {
			row.missing, row.figure = true, "-"
		} else {
			row.figure = fmt.Sprintf("%.3f (worst: %s)", worstEff, tgShort(worst))
			row.ok = worstEff >= targetRatio
		}
		rows = append(rows, row)
	}
	// 2. Against the bound under a fixed latency, up to 512 in flight,
	// where the bound is below the raw baseline.
	{
		row := tgRow{target: "2 loader/bound, fixed latency, C <= 512", threshold: fmt.Sprintf(">= %.2f", targetRatio)}
		var worst *tgResult
		worstEff, n := math.Inf(1), 0
		for _, r := range tgSelect(rs, "Load", nil) {
			if !strings.HasPrefix(r.parts["profile"], "fixed-") || r.metrics["inflight"] > targetMaxInFlight {
				continue
			}
			bound, raw := r.metrics["bound-items/s"], r.metrics["raw-items/s"]
			if bound <= 0 || bound >= raw {
				continue
			}
			n++
			if e := r.metrics["efficiency"]; e < worstEff {
				worst, worstEff = r, e
			}
		}
		if worst == nil {
			row.missing, row.figure = true, "-"
		} else {
			row.figure = fmt.Sprintf("%.3f over %d points (worst: %s, C=%.0f)", worstEff, n, tgShort(worst), worst.metrics["inflight"])
			row.ok = worstEff >= targetRatio
		}
		rows = append(rows, row)
	}
	// 3. Overhead and allocations on mem at batch 50.
	{
		over := tgRow{target: "3 loader overhead per item, mem, batch 50", threshold: fmt.Sprintf("< %.0f ns", targetOverheadNs)}
		alloc := tgRow{target: "3 allocations per item, mem, batch 50", threshold: fmt.Sprintf("<= %.0f", targetAllocs)}
		worstOver, worstAlloc := math.Inf(-1), math.Inf(-1)
		var wo, wa *tgResult
		for _, r := range tgSelect(rs, "Load", map[string]string{"backend": "mem", "profile": "none", "batch": "50"}) {
			raw, ok := r.metrics["raw-items/s"]
			if !ok || !noDecode(r) {
				continue
			}
			if o := 1e9/r.metrics["items/s"] - 1e9/raw; o > worstOver {
				wo, worstOver = r, o
			}
			if a := r.metrics["allocs/op"]; a > worstAlloc {
				wa, worstAlloc = r, a
			}
		}
		if wo == nil {
			over.missing, over.figure, alloc.missing, alloc.figure = true, "-", true, "-"
		} else {
			over.figure = fmt.Sprintf("%.0f ns (worst: %s)", worstOver, tgShort(wo))
			over.ok = worstOver < targetOverheadNs
			alloc.figure = fmt.Sprintf("%.0f (worst: %s)", worstAlloc, tgShort(wa))
			alloc.ok = worstAlloc <= targetAllocs
		}
		rows = append(rows, over, alloc)
	}
	rows = append(rows, tgMemory(rs)...)
	rows = append(rows, tgSeed(rs)...)
	return rows
}

// tgMemory evaluates target 4: peak RSS within the bound, and not growing
// with run length.
func tgMemory(rs []*tgResult) []tgRow {
	bound := tgRow{target: "4 peak RSS growth over start, within W*P*B*largest + 64 MiB", threshold: "<= bound"}
	growth := tgRow{target: "4 peak RSS growth, longest run over shortest", threshold: fmt.Sprintf("<= %.2fx", targetRSSGrowth)}
	// The memory runs are one benchmark run at several lengths, the
	// longest at least a million items.
	byName := map[string][]*tgResult{}
	for _, r := range tgSelect(rs, "Load", nil) {
		if _, ok := r.metrics["peak-rss-B"]; ok {
			k := r.name + " items=" + r.config["dataset-items"]
			byName[k] = append(byName[k], r)
		}
	}
	for k, runs := range byName {
		if len(runs) < 2 || slices.MaxFunc(runs, func(a, b *tgResult) int { return a.iters - b.iters }).iters < 1_000_000 {
			delete(byName, k)
		}
	}
	bound.missing, growth.missing = true, true
	bound.figure, growth.figure = "-", "-"
	names := slices.Sorted(func(yield func(string) bool) {
		for k := range byName {
			if !yield(k) {
				return
			}
		}
	})
	for _, name := range names {
		runs := byName[name]
		sort.Slice(runs, func(i, j int) bool { return runs[i].iters < runs[j].iters })
		long := runs[len(runs)-1]
		w, _ := strconv.Atoi(long.parts["workers"])
		b, _ := strconv.Atoi(long.parts["batch"])
		p, _ := strconv.Atoi(long.config["loader-prefetch"])
		largest, _ := strconv.ParseFloat(long.config["dataset-max-bytes"], 64)
		if w == 0 || b == 0 || p == 0 || largest == 0 {
			continue
		}
		limit := float64(w*p*b)*largest + targetRSSSlack
		used := long.metrics["peak-rss-B"] - long.metrics["start-rss-B"]
		bound.missing = false
		bound.figure = fmt.Sprintf("%s over %d items (bound %s; %s)", tgBytes(used), long.iters, tgBytes(limit), tgShort(long))
		bound.threshold = "<= " + tgBytes(limit)
		bound.ok = used <= limit
		if len(runs) > 1 {
			short := runs[0]
			su := short.metrics["peak-rss-B"] - short.metrics["start-rss-B"]
			ratio := used / math.Max(su, 1)
			growth.missing = false
			growth.figure = fmt.Sprintf("%.2fx (%s at %d items, %s at %d)", ratio, tgBytes(su), short.iters, tgBytes(used), long.iters)
			// A few MiB of noise is not growth.
			growth.ok = ratio <= targetRSSGrowth || used-su < 8<<20
		}
	}
	return []tgRow{bound, growth}
}

// tgSeed evaluates target 5, one row per backend that shows it, and
// shows the seed's own figure beside ours.
func tgSeed(rs []*tgResult) []tgRow {
	decodeAlone := 0.0
	for _, r := range tgSelect(rs, "Decode", nil) {
		if r.parts["concurrency"] == r.parts["gomaxprocs"] || r.parts["gomaxprocs"] == "" {
			decodeAlone = math.Max(decodeAlone, r.metrics["items/s"])
		}
	}
	var rate, dec []tgRow
	for _, r := range tgSelect(rs, "Load", map[string]string{"profile": "seed-s3", "mode": "async", "workers": "32"}) {
		x := r.metrics["items/s"]
		if noDecode(r) {
			rate = append(rate, tgRow{
				target:    "5 seed-s3, async, 32 workers, no decode, " + r.parts["backend"],
				threshold: fmt.Sprintf(">= %.0f items/s", targetSeedRate),
				figure:    fmt.Sprintf("%.0f items/s (%s)", x, tgShort(r)),
				ok:        x >= targetSeedRate,
			})
			continue
		}
		row := tgRow{
			target:    "5 seed-s3, async, 32 workers, jpeg, over decoding alone, " + r.parts["backend"],
			threshold: fmt.Sprintf(">= %.2f", targetRatio),
			figure:    "no Decode result",
			missing:   decodeAlone == 0,
		}
		if decodeAlone > 0 {
			ratio := x / decodeAlone
			row.figure = fmt.Sprintf("%.3f (%.0f of %.0f items/s; %s)", ratio, x, decodeAlone, tgShort(r))
			row.ok = ratio >= targetRatio
		}
		dec = append(dec, row)
	}
	if rate == nil {
		rate = []tgRow{{target: "5 seed-s3, async, 32 workers, no decode", threshold: fmt.Sprintf(">= %.0f items/s", targetSeedRate), figure: "-", missing: true}}
	}
	if dec == nil {
		dec = []tgRow{{target: "5 seed-s3, async, 32 workers, jpeg, over decoding alone", threshold: fmt.Sprintf(">= %.2f", targetRatio), figure: "-", missing: true}}
	}
	sync := tgRow{target: "  seed-s3, sync, 2 workers (seed measured 12.7 items/s)", threshold: "near 12.7 items/s", figure: "-", missing: true}
	for _, r := range tgSelect(rs, "Load", map[string]string{"profile": "seed-s3", "mode": "sync", "workers": "2"}) {
		if noDecode(r) {
			x := r.metrics["items/s"]
			sync.missing = false
			sync.figure = fmt.Sprintf("%.1f items/s (%s)", x, tgShort(r))
			sync.ok = x > seedSyncRate/2 && x < seedSyncRate*2
		}
	}
	return append(append(rate, dec...), sync)
}

// tgShort names a result by its backend, mode and workers.
func tgShort(r *tgResult) string {
	var b bytes.Buffer
	for _, k := range []string{"backend", "profile", "mode", "workers", "fetch", "decode"} {
		if v := r.parts[k]; v != "" {
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
			fmt.Fprintf(&b, "%s=%s", k, v)
		}
	}
	return b.String()
}

// tgBytes formats a byte count in MiB.
func tgBytes(n float64) string { return fmt.Sprintf("%.1f MiB", n/(1<<20)) }
