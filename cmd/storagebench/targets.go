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
	"strconv"
	"strings"
	"text/tabwriter"

	"golang.org/x/perf/benchfmt"

	"github.com/storagebench/storagebench/loader"
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
	targetRSSNoise    = 8 << 20  // a growth this small is noise, whatever the ratio
	targetLongRun     = 1000000  // items in the longest memory run, at least
	seedSyncRate      = 12.7     // the seed's S3 rate with 2 sync workers
)

// tgResult is one benchmark result's name parts and metrics, the median
// over repeated runs of the same name, iteration count and configuration.
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
		name   string
		iters  int
		config string
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
				// Results with the same name, length and configuration
				// (dataset, prefetch) are one point.
				k := key{string(rec.Name.Full()), rec.Iters, tgConfig(rec)}
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
		res := &tgResult{name: k.name, iters: k.iters, parts: tgParts(rs[0].Name), config: map[string]string{}, metrics: map[string]float64{}}
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

// tgParts returns the parts of a benchmark name: the base under "", each
// key=value sub-name under its key, and GOMAXPROCS under "gomaxprocs".
func tgParts(name benchfmt.Name) map[string]string {
	base, parts := name.Parts()
	m := map[string]string{"": string(base)}
	for _, p := range parts {
		kv := strings.TrimPrefix(string(p), "/")
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		} else if strings.HasPrefix(kv, "-") {
			m["gomaxprocs"] = kv[1:]
		}
	}
	return m
}

// tgConfig returns r's file configuration as one string, so that results
// of different datasets or settings are told apart.
func tgConfig(r *benchfmt.Result) string {
	var b strings.Builder
	for _, c := range r.Config {
		if c.File {
			fmt.Fprintf(&b, "%s: %s\n", c.Key, c.Value)
		}
	}
	return b.String()
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

// tgInFlight returns C, the requests r's loader can have in flight, from
// the mode, workers, batch and fetch of its name, by the loader's own rule
// (an absent fetch is the loader's default); 0 when the name does not say.
func tgInFlight(r *tgResult) int {
	mode, merr := loader.ParseMode(r.parts["mode"])
	workers, werr := strconv.Atoi(r.parts["workers"])
	batch, berr := strconv.Atoi(r.parts["batch"])
	fetch, ferr := 0, error(nil)
	if s, ok := r.parts["fetch"]; ok {
		fetch, ferr = strconv.Atoi(s)
	}
	if errors.Join(merr, werr, berr, ferr) != nil {
		return 0
	}
	return loader.Options{Mode: mode, Workers: workers, BatchSize: batch, FetchConcurrency: fetch}.InFlight()
}

// tgMissing returns a row saying that no result shows target.
func tgMissing(target, threshold string) tgRow {
	return tgRow{target: target, figure: "-", threshold: threshold, missing: true}
}

// tgOrMissing returns rows, or when there are none a single row saying
// that no result shows target.
func tgOrMissing(rows []tgRow, target, threshold string) []tgRow {
	if len(rows) == 0 {
		return []tgRow{tgMissing(target, threshold)}
	}
	return rows
}

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
			c := tgInFlight(r)
			if !strings.HasPrefix(r.parts["profile"], "fixed-") || c == 0 || c > targetMaxInFlight {
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
			row.figure = fmt.Sprintf("%.3f over %d points (worst: %s, C=%d)", worstEff, n, tgShort(worst), tgInFlight(worst))
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

// Target 4's rows; each group's rows add the group to the target.
const (
	tgBoundTarget  = "4 peak RSS growth over start, within W*P*B*largest + 64 MiB"
	tgGrowthTarget = "4 peak RSS growth, longest run over shortest"
)

// tgMemory evaluates target 4, peak RSS within the bound and not growing
// with run length, with a bound row and a growth row for each group of
// memory runs, so that one group's figure never hides another's.
func tgMemory(rs []*tgResult) []tgRow {
	growthThreshold := fmt.Sprintf("<= %.2fx", targetRSSGrowth)
	groups := tgMemoryGroups(rs)
	if len(groups) == 0 {
		return []tgRow{tgMissing(tgBoundTarget, "<= bound"), tgMissing(tgGrowthTarget, growthThreshold)}
	}
	var rows []tgRow
	for _, runs := range groups {
		short, long := runs[0], runs[len(runs)-1]
		group := fmt.Sprintf(", %s, %s items", tgShort(long), long.config["dataset-items"])
		bound := tgRow{target: tgBoundTarget + group, figure: "- (W, P, B or largest item size not given)", threshold: "<= bound", missing: true}
		if limit := tgMemoryBound(long); limit > 0 {
			used := tgRSSUsed(long)
			bound.missing = false
			bound.figure = fmt.Sprintf("%s over %d items", tgBytes(used), long.iters)
			bound.threshold = "<= " + tgBytes(limit)
			bound.ok = used <= limit
		}
		su, lu := tgRSSUsed(short), tgRSSUsed(long)
		ratio := lu / math.Max(su, 1)
		growth := tgRow{
			target:    tgGrowthTarget + group,
			figure:    fmt.Sprintf("%.2fx (%s at %d items, %s at %d)", ratio, tgBytes(su), short.iters, tgBytes(lu), long.iters),
			threshold: growthThreshold,
			ok:        ratio <= targetRSSGrowth || lu-su < targetRSSNoise,
		}
		rows = append(rows, bound, growth)
	}
	return rows
}

// tgMemoryGroups returns target 4's groups in the order they first
// appear: the Load results that show a peak RSS, one group per benchmark
// name and dataset size, each sorted by run length. A group counts when
// it is run at several lengths, the longest at least targetLongRun items.
func tgMemoryGroups(rs []*tgResult) [][]*tgResult {
	var keys []string
	byKey := map[string][]*tgResult{}
	for _, r := range tgSelect(rs, "Load", nil) {
		if _, ok := r.metrics["peak-rss-B"]; !ok {
			continue
		}
		k := r.name + " items=" + r.config["dataset-items"]
		if _, ok := byKey[k]; !ok {
			keys = append(keys, k)
		}
		byKey[k] = append(byKey[k], r)
	}
	var groups [][]*tgResult
	for _, k := range keys {
		runs := byKey[k]
		slices.SortStableFunc(runs, func(a, b *tgResult) int { return a.iters - b.iters })
		if len(runs) >= 2 && runs[len(runs)-1].iters >= targetLongRun {
			groups = append(groups, runs)
		}
	}
	return groups
}

// tgMemoryBound returns target 4's bound on r's peak RSS growth,
// W*P*B*largest + 64 MiB, from its name and configuration; 0 when they do
// not give all of W, P, B and the largest item size.
func tgMemoryBound(r *tgResult) float64 {
	w, _ := strconv.Atoi(r.parts["workers"])
	b, _ := strconv.Atoi(r.parts["batch"])
	p, _ := strconv.Atoi(r.config["loader-prefetch"])
	largest, _ := strconv.ParseFloat(r.config["dataset-max-bytes"], 64)
	if w <= 0 || b <= 0 || p <= 0 || largest <= 0 {
		return 0
	}
	return float64(w*p*b)*largest + targetRSSSlack
}

// tgRSSUsed returns how far r's RSS grew over its start.
func tgRSSUsed(r *tgResult) float64 { return r.metrics["peak-rss-B"] - r.metrics["start-rss-B"] }

// tgSeed evaluates target 5, one row per result that shows it, and
// shows the seed's own figure beside ours.
func tgSeed(rs []*tgResult) []tgRow {
	const (
		rateTarget = "5 seed-s3, async, 32 workers, no decode"
		decTarget  = "5 seed-s3, async, 32 workers, jpeg, over decoding alone"
		syncTarget = "  seed-s3, sync, 2 workers"
	)
	rateThreshold := fmt.Sprintf(">= %.0f items/s", targetSeedRate)
	decThreshold := fmt.Sprintf(">= %.2f", targetRatio)
	syncThreshold := fmt.Sprintf("near %.1f items/s, the seed's", seedSyncRate)
	decodeAlone := 0.0
	for _, r := range tgSelect(rs, "Decode", nil) {
		if r.parts["concurrency"] == r.parts["gomaxprocs"] || r.parts["gomaxprocs"] == "" {
			decodeAlone = math.Max(decodeAlone, r.metrics["items/s"])
		}
	}
	var rate, dec, sync []tgRow
	for _, r := range tgSelect(rs, "Load", map[string]string{"profile": "seed-s3", "mode": "async", "workers": "32"}) {
		x := r.metrics["items/s"]
		if noDecode(r) {
			rate = append(rate, tgRow{
				target:    rateTarget + ", " + r.parts["backend"],
				threshold: rateThreshold,
				figure:    fmt.Sprintf("%.0f items/s (%s)", x, tgShort(r)),
				ok:        x >= targetSeedRate,
			})
			continue
		}
		row := tgRow{
			target:    decTarget + ", " + r.parts["backend"],
			threshold: decThreshold,
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
	for _, r := range tgSelect(rs, "Load", map[string]string{"profile": "seed-s3", "mode": "sync", "workers": "2"}) {
		if !noDecode(r) {
			continue
		}
		x := r.metrics["items/s"]
		sync = append(sync, tgRow{
			target:    syncTarget + ", " + r.parts["backend"],
			threshold: syncThreshold,
			figure:    fmt.Sprintf("%.1f items/s (%s)", x, tgShort(r)),
			ok:        x > seedSyncRate/2 && x < seedSyncRate*2,
		})
	}
	rows := tgOrMissing(rate, rateTarget, rateThreshold)
	rows = append(rows, tgOrMissing(dec, decTarget, decThreshold)...)
	return append(rows, tgOrMissing(sync, syncTarget, syncThreshold)...)
}

// tgShort names a result by the settings in its name: backend, profile,
// mode, workers, batch, fetch and decode.
func tgShort(r *tgResult) string {
	var b bytes.Buffer
	for _, k := range []string{"backend", "profile", "mode", "workers", "batch", "fetch", "decode"} {
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
