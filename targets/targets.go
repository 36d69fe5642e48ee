package targets

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/storagebench/storagebench/cases"
	"github.com/storagebench/storagebench/results"
)

// Thresholds of the performance targets.
const (
	targetRatio       = 0.95     // loader over raw, and over the bound
	targetOverBound   = 0.005    // beside target 4: efficiency under emulated latency at most 1 + this
	targetS3Window8   = 0.85     // target 1: item scheduler, window 8C, over C/L
	targetS3Hedged    = 0.95     // target 1: item scheduler, window 4C, hedged, over C/L
	targetSeedS3      = 0.90     // target 3: seed-s3, item scheduler, window 4C, over C/L
	targetHedgeBudget = 0.10     // extra reads per item a hedged run may make
	targetHedgeP999   = 1.8      // getitem p99.9 without hedging over with
	targetHedgeP99    = 1.3      // getitem p99 without hedging over with
	targetInFlight    = 100      // C of targets 1 to 3
	targetMaxInFlight = 512      // target 4 holds up to this many requests in flight
	targetOverheadNs  = 1000.0   // loader overhead on mem, per item
	targetClientRatio = 0.95     // target 7: our S3 reads over minio-go's (0.98 stays the aim)
	targetAllocs      = 1.0      // allocations per item on mem
	targetSeedRate    = 3250.0   // 100x the seed's 32.5 images/s from S3
	targetRSSSlack    = 64 << 20 // the constant in the memory bound
	targetRSSGrowth   = 1.10     // a 10x longer run may use at most 10% more
	targetRSSNoise    = 8 << 20  // a growth this small is noise, whatever the ratio
	targetLongRun     = 1000000  // items in the longest memory run, at least
	seedSyncRate      = 12.7     // the seed's S3 rate with 2 sync workers
	targetColdFio     = 0.25     // target 10: cold at 1 worker within this of fio --direct=1
	targetWarmCache   = 0.99     // target 10: warm's resident fraction, at least
	targetColdCache   = 0.01     // target 10: cold's and direct's, at most
	targetDirectC     = 8        // target 10: direct at least cold from this many workers
)

// A Row is one target's figure next to its threshold.
type Row struct {
	Target    string // the target's number and what it measures
	Figure    string // what the results show
	Threshold string // what the target asks for
	OK        bool   // the figure meets the threshold
	Missing   bool   // no result shows the target
	Reference bool   // a figure shown for comparison, with no threshold
}

// Evaluate computes each target's figure from the results in s, the
// median over the runs of each benchmark name, iteration count and
// configuration. A target no result shows has a Missing row.
func Evaluate(s *results.Set) ([]Row, error) {
	g, err := s.Group(results.Iters + "@num")
	if err != nil {
		return nil, err
	}
	rs := make([]*result, len(g.Points))
	for i, p := range g.Points {
		rs[i] = fromPoint(p)
	}
	return evaluate(rs), nil
}

// result is one point's name parts, configuration and medians, as the
// targets read them.
type result struct {
	name    string
	parts   map[string]string // the base under "", then each name key
	iters   int
	config  map[string]string
	metrics map[string]float64 // median by unit, as written
	point   *results.Point
}

// nameKeys and configKeys are what the targets read of names and
// configuration lines.
var (
	nameKeys   = append(dimKeys(), results.KeyClient, results.KeyGOMAXPROCS)
	configKeys = []string{results.ConfigDatasetItems, results.ConfigDatasetMaxBytes, results.ConfigLoaderPrefetch}
)

// dimKeys returns the keys of every dimension of the cases' table.
func dimKeys() []string {
	var keys []string
	for _, d := range cases.Dims {
		keys = append(keys, d.Key)
	}
	return keys
}

// fromPoint returns p as the targets read it.
func fromPoint(p *results.Point) *result {
	r := &result{
		name:    p.Name(),
		parts:   map[string]string{"": p.Base()},
		iters:   p.Iters()[0],
		config:  map[string]string{},
		metrics: map[string]float64{},
		point:   p,
	}
	for _, k := range nameKeys {
		if v := p.NameKey(k); v != "" {
			r.parts[k] = v
		}
	}
	for _, k := range configKeys {
		r.config[k] = p.Config(k)
	}
	for _, u := range p.Units() {
		r.metrics[u] = p.Median(u)
	}
	return r
}

// tgSelect returns the results of benchmark base whose name parts match
// want; an empty wanted value matches any.
func tgSelect(rs []*result, base string, want map[string]string) []*result {
	var out []*result
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
func noDecode(r *result) bool { d := r.parts[cases.Decode.Key]; return d == "" || d == "none" }

// tgInFlight returns C, the requests r's loader can have in flight (see
// cases.InFlightOf).
func tgInFlight(r *result) int { return cases.InFlightOf(r.point) }

// tgMissing returns a row saying that no result shows target.
func tgMissing(target, threshold string) Row {
	return Row{Target: target, Figure: "-", Threshold: threshold, Missing: true}
}

// tgOrMissing returns rows, or when there are none a single row saying
// that no result shows target.
func tgOrMissing(rows []Row, target, threshold string) []Row {
	if len(rows) == 0 {
		return []Row{tgMissing(target, threshold)}
	}
	return rows
}

// evaluate computes the figure of each target, numbered as in the
// README's Performance section.
func evaluate(all []*result) []Row {
	// Targets 1 to 10 were set for loose items read whole; tar shards and
	// parts have targets of their own (11 to 15).
	var rs []*result
	for _, r := range all {
		if loose(r) {
			rs = append(rs, r)
		}
	}
	var rows []Row
	rows = append(rows, tgS3(rs)...)
	rows = append(rows, tgHedge(rs)...)
	rows = append(rows, tgSeedS3(rs)...)
	rows = append(rows, tgFixed(rs)...)
	rows = append(rows, tgOverBound(rs))
	rows = append(rows, tgRaw(rs)...)
	rows = append(rows, tgHeld(rs)...)
	rows = append(rows, tgMemory(rs)...)
	rows = append(rows, tgClient(rs)...)
	rows = append(rows, tgAllocs(rs)...)
	rows = append(rows, tgSeed(rs)...)
	rows = append(rows, tgCold(rs)...)
	rows = append(rows, tgLayouts(all)...)
	rows = append(rows, tgParts(all)...)
	rows = append(rows, tgStreamCPU(all)...)
	rows = append(rows, tgStreamMemory(all)...)
	return rows
}

// tgBackends are the backends targets 1 to 3 are measured on: those whose
// rate is not capped by a server on the same two cores.
var tgBackends = []string{"mem", "local"}

// tgItem reports whether r ran the item scheduler with a window of k x C
// and the hedge setting hedge ("" for none).
func tgItem(r *result, k int, hedge string) bool {
	c := tgInFlight(r)
	return r.parts[cases.Sched.Key] == "item" && c > 0 &&
		r.parts[cases.Window.Key] == strconv.Itoa(k*c) && r.parts[cases.Hedge.Key] == hedge
}

// tgBatch reports whether r ran the default, batch scheduler.
func tgBatch(r *result) bool {
	s := r.parts[cases.Sched.Key]
	return s == "" || s == "batch"
}

// tgAtBound returns the Load results on backend under profile with C
// requests in flight, no decoding, and a bound set by C/L rather than by
// the raw baseline: those whose efficiency is items/s over C/L.
func tgAtBound(rs []*result, backend, profile string, c int) []*result {
	var out []*result
	for _, r := range tgSelect(rs, results.Load, map[string]string{cases.Backend.Key: backend, cases.Profile.Key: profile}) {
		bound, raw := r.metrics[results.BoundItemsPerSec], r.metrics[results.RawItemsPerSec]
		if tgInFlight(r) == c && noDecode(r) && bound > 0 && bound < raw {
			out = append(out, r)
		}
	}
	return out
}

// tgFirst returns the first of rs that ok accepts, or nil.
func tgFirst(rs []*result, ok func(*result) bool) *result {
	for _, r := range rs {
		if ok(r) {
			return r
		}
	}
	return nil
}

// tgEfficiencyRow returns the row of a target that asks efficiency >= min
// of the result r, or a missing row when r is nil. With maxHedges >= 0 the
// result must also make at most that many extra reads per item.
func tgEfficiencyRow(target string, r *result, min, maxHedges float64) Row {
	threshold := fmt.Sprintf(">= %.2f of C/L", min)
	if maxHedges >= 0 {
		threshold += fmt.Sprintf(", <= %.0f%% extra reads", 100*maxHedges)
	}
	if r == nil {
		return tgMissing(target, threshold)
	}
	row := Row{Target: target, Threshold: threshold, OK: r.metrics[results.Efficiency] >= min, Figure: tgEfficiency(r)}
	if maxHedges >= 0 {
		h := r.metrics[results.HedgesPerItem]
		row.Figure += fmt.Sprintf(", %.1f%% extra reads", 100*h)
		row.OK = row.OK && h <= maxHedges
	}
	return row
}

// tgEfficiency formats r's efficiency with the rates it comes from.
func tgEfficiency(r *result) string {
	return fmt.Sprintf("%.3f (%.0f of %.0f items/s)", r.metrics[results.Efficiency], r.metrics[results.ItemsPerSecond], r.metrics[results.BoundItemsPerSec])
}

// tgBatchReference returns the row that shows, for comparison, the
// default (batch) scheduler among the results at, if one is there.
func tgBatchReference(at []*result, suffix string) []Row {
	r := tgFirst(at, tgBatch)
	if r == nil {
		return nil
	}
	return []Row{{Target: "  the default (batch) scheduler" + suffix, Figure: tgEfficiency(r), Threshold: "for comparison", Reference: true}}
}

// tgS3 evaluates target 1: under the s3 profile with C = 100, the item
// scheduler against C/L, with the default scheduler of the same run beside
// it for comparison.
func tgS3(rs []*result) []Row {
	var rows []Row
	for _, backend := range tgBackends {
		at := tgAtBound(rs, backend, "s3", targetInFlight)
		suffix := ", " + backend + ", s3, C=100"
		rows = append(rows,
			tgEfficiencyRow("1 item scheduler, window 8C, no hedging"+suffix, tgFirst(at, func(r *result) bool { return tgItem(r, 8, "") }), targetS3Window8, -1),
			tgEfficiencyRow("1 item scheduler, window 4C, hedge p90"+suffix, tgFirst(at, func(r *result) bool { return tgItem(r, 4, "p90") }), targetS3Hedged, targetHedgeBudget))
		rows = append(rows, tgBatchReference(at, suffix)...)
	}
	return rows
}

// tgHedge evaluates target 2: getitem's tail under the s3 profile, window
// 4C, with hedging at p90 against without, in the same run.
func tgHedge(rs []*result) []Row {
	p999, p99 := results.LevelUnit("getitem", results.P999), results.LevelUnit("getitem", "p99")
	var rows []Row
	for _, backend := range tgBackends {
		at := tgAtBound(rs, backend, "s3", targetInFlight)
		target := "2 hedge p90 over none, getitem p99.9 and p99, " + backend + ", s3, window 4C"
		threshold := fmt.Sprintf(">= %.1fx and >= %.1fx lower, <= %.0f%% extra reads", targetHedgeP999, targetHedgeP99, 100*targetHedgeBudget)
		off := tgFirst(at, func(r *result) bool { return tgItem(r, 4, "") })
		on := tgFirst(at, func(r *result) bool { return tgItem(r, 4, "p90") })
		if off == nil || on == nil || on.metrics[p999] <= 0 || on.metrics[p99] <= 0 {
			rows = append(rows, tgMissing(target, threshold))
			continue
		}
		r999, r99, h := off.metrics[p999]/on.metrics[p999], off.metrics[p99]/on.metrics[p99], on.metrics[results.HedgesPerItem]
		rows = append(rows, Row{
			Target:    target,
			Figure:    fmt.Sprintf("%.2fx and %.2fx (p99.9 %.0f -> %.0f ms), %.1f%% extra reads", r999, r99, off.metrics[p999]/1e6, on.metrics[p999]/1e6, 100*h),
			Threshold: threshold,
			OK:        r999 >= targetHedgeP999 && r99 >= targetHedgeP99 && h <= targetHedgeBudget,
		})
	}
	return rows
}

// tgSeedS3 evaluates target 3: the seed's own S3 latency, C = 100, the
// item scheduler with a window of 4C and no hedging, against C/L.
func tgSeedS3(rs []*result) []Row {
	var rows []Row
	for _, backend := range tgBackends {
		at := tgAtBound(rs, backend, "seed-s3", targetInFlight)
		suffix := ", " + backend + ", seed-s3, C=100"
		rows = append(rows, tgEfficiencyRow("3 item scheduler, window 4C, no hedging"+suffix, tgFirst(at, func(r *result) bool { return tgItem(r, 4, "") }), targetSeedS3, -1))
		rows = append(rows, tgBatchReference(at, suffix)...)
	}
	return rows
}

// tgFixed evaluates target 4: against the bound under a fixed latency, up
// to 512 in flight, where the bound is below the raw baseline; one row
// for each scheduler shown.
func tgFixed(rs []*result) []Row {
	threshold := fmt.Sprintf(">= %.2f of C/L", targetRatio)
	var rows []Row
	for _, sched := range []string{"batch", "item"} {
		var worst *result
		worstEff, n := math.Inf(1), 0
		for _, r := range tgSelect(rs, results.Load, nil) {
			c := tgInFlight(r)
			if !strings.HasPrefix(r.parts[cases.Profile.Key], "fixed-") || c == 0 || c > targetMaxInFlight || tgBatch(r) != (sched == "batch") {
				continue
			}
			bound, raw := r.metrics[results.BoundItemsPerSec], r.metrics[results.RawItemsPerSec]
			if bound <= 0 || bound >= raw {
				continue
			}
			n++
			if e := r.metrics[results.Efficiency]; e < worstEff {
				worst, worstEff = r, e
			}
		}
		target := "4 loader/bound, fixed latency, C <= 512, " + sched + " scheduler"
		if worst == nil {
			if sched == "batch" {
				rows = append(rows, tgMissing(target, threshold))
			}
			continue
		}
		rows = append(rows, Row{
			Target:    target,
			Figure:    fmt.Sprintf("%.3f over %s (worst: %s, C=%d)", worstEff, tgCount(n, "point"), tgShort(worst), tgInFlight(worst)),
			Threshold: threshold,
			OK:        worstEff >= targetRatio,
		})
	}
	return rows
}

// tgOverBound evaluates the check beside target 4: no Load line under an
// emulated latency (a fixed latency or a profile, not none) reads an
// efficiency above 1 + targetOverBound. A loader cannot beat C/L, so a
// line that does says the clock, the emulator or the bound is wrong; the
// slack is the jitter of a run's ends.
func tgOverBound(rs []*result) Row {
	threshold := fmt.Sprintf("<= %.3f", 1+targetOverBound)
	var worst *result
	worstEff, n := math.Inf(-1), 0
	for _, r := range tgSelect(rs, results.Load, nil) {
		e, ok := r.metrics[results.Efficiency]
		if p := r.parts[cases.Profile.Key]; !ok || p == "" || p == "none" {
			continue
		}
		n++
		if e > worstEff {
			worst, worstEff = r, e
		}
	}
	target := "4 efficiency under emulated latency, every line"
	if worst == nil {
		return tgMissing(target, threshold)
	}
	return Row{
		Target:    target,
		Figure:    fmt.Sprintf("%.3f at most, over %s (%s)", worstEff, tgCount(n, "result"), tgShort(worst)),
		Threshold: threshold,
		OK:        worstEff <= 1+targetOverBound,
	}
}

// tgRaw evaluates target 5: the loader against raw reads at equal
// concurrency and footprint under profile none, on each backend, and its
// overhead per item on mem.
func tgRaw(rs []*result) []Row {
	var rows []Row
	for _, backend := range []string{"mem", "local", "fakes3"} {
		var worst *result
		worstEff := math.Inf(1)
		for _, r := range tgSelect(rs, results.Load, map[string]string{cases.Backend.Key: backend, cases.Profile.Key: "none"}) {
			raw, ok := r.metrics[results.RawItemsPerSec]
			if !ok || !noDecode(r) {
				continue
			}
			if e := r.metrics[results.ItemsPerSecond] / raw; e < worstEff {
				worst, worstEff = r, e
			}
		}
		row := Row{Target: "5 loader/raw items/s, " + backend + ", profile none", Threshold: fmt.Sprintf(">= %.2f", targetRatio)}
		if worst == nil {
			row.Missing, row.Figure = true, "-"
		} else {
			row.Figure = fmt.Sprintf("%.3f (worst: %s)", worstEff, tgShort(worst))
			row.OK = worstEff >= targetRatio
		}
		rows = append(rows, row)
	}
	over := Row{Target: "5 loader overhead per item, mem, profile none", Threshold: fmt.Sprintf("< %.0f ns", targetOverheadNs)}
	worstOver := math.Inf(-1)
	var wo *result
	for _, r := range tgSelect(rs, results.Load, map[string]string{cases.Backend.Key: "mem", cases.Profile.Key: "none"}) {
		raw, ok := r.metrics[results.RawItemsPerSec]
		if !ok || !noDecode(r) {
			continue
		}
		if o := 1e9/r.metrics[results.ItemsPerSecond] - 1e9/raw; o > worstOver {
			wo, worstOver = r, o
		}
	}
	if wo == nil {
		over.Missing, over.Figure = true, "-"
	} else {
		over.Figure = fmt.Sprintf("%.0f ns (worst: %s)", worstOver, tgShort(wo))
		over.OK = worstOver < targetOverheadNs
	}
	return append(rows, over)
}

// tgHeld evaluates the first half of target 6: no item-scheduled Load
// result held more items than its window.
func tgHeld(rs []*result) []Row {
	const target = "6 peak items held within the window, item scheduler"
	var worst *result
	worstRatio, n := math.Inf(-1), 0
	for _, r := range tgSelect(rs, results.Load, map[string]string{cases.Sched.Key: "item"}) {
		w, _ := strconv.ParseFloat(r.parts[cases.Window.Key], 64)
		held, ok := r.metrics[results.HeldItemsPeak]
		if w <= 0 || !ok {
			continue
		}
		n++
		if x := held / w; x > worstRatio {
			worst, worstRatio = r, x
		}
	}
	if worst == nil {
		return []Row{tgMissing(target, "<= window")}
	}
	return []Row{{
		Target:    target,
		Figure:    fmt.Sprintf("%.0f of %s at most, over %s (%s)", worst.metrics[results.HeldItemsPeak], worst.parts[cases.Window.Key], tgCount(n, "result"), tgShort(worst)),
		Threshold: "<= window",
		OK:        worstRatio <= 1,
	}}
}

// tgAllocs evaluates target 8: allocations per item on mem, profile none.
func tgAllocs(rs []*result) []Row {
	row := Row{Target: "8 allocations per item, mem, profile none, batch 50", Threshold: fmt.Sprintf("<= %.0f", targetAllocs)}
	worstAlloc := math.Inf(-1)
	var wa *result
	for _, r := range tgSelect(rs, results.Load, map[string]string{cases.Backend.Key: "mem", cases.Profile.Key: "none", cases.Batch.Key: "50"}) {
		a, ok := r.metrics[results.AllocsPerOp]
		if !ok || !noDecode(r) {
			continue
		}
		if a > worstAlloc {
			wa, worstAlloc = r, a
		}
	}
	if wa == nil {
		row.Missing, row.Figure = true, "-"
		return []Row{row}
	}
	row.Figure = fmt.Sprintf("%.0f (worst: %s)", worstAlloc, tgShort(wa))
	row.OK = worstAlloc <= targetAllocs
	return []Row{row}
}

// tgClient evaluates target 7: the S3 backend's reads over minio-go's
// from the same server, at each concurrency of the S3Get benchmark, by
// the median over every round of each, whatever its length (Evaluate
// keeps rounds of different lengths apart).
func tgClient(rs []*result) []Row {
	threshold := fmt.Sprintf(">= %.2fx", targetClientRatio)
	median := func(client, c string) (float64, int) {
		var xs []float64
		for _, r := range tgSelect(rs, results.S3Get, map[string]string{results.KeyClient: client, results.KeyConcurrency: c}) {
			xs = append(xs, r.point.Values(results.ItemsPerSecond)...)
		}
		if len(xs) == 0 {
			return 0, 0
		}
		slices.Sort(xs)
		if n := len(xs); n%2 == 0 {
			return (xs[n/2-1] + xs[n/2]) / 2, n
		}
		return xs[len(xs)/2], len(xs)
	}
	var cs []string
	for _, r := range tgSelect(rs, results.S3Get, map[string]string{results.KeyClient: results.ClientSDK}) {
		if c := r.parts[results.KeyConcurrency]; !slices.Contains(cs, c) {
			cs = append(cs, c)
		}
	}
	var rows []Row
	for _, c := range cs {
		target := "7 S3 GETs, ours over minio-go, concurrency=" + c
		x, n := median(results.ClientSDK, c)
		y, m := median(results.ClientMinio, c)
		if y <= 0 {
			rows = append(rows, tgMissing(target, threshold))
			continue
		}
		rows = append(rows, Row{
			Target:    target,
			Figure:    fmt.Sprintf("%.3fx (%.0f over %.0f items/s, medians of %d and %d rounds)", x/y, x, y, n, m),
			Threshold: threshold,
			OK:        x/y >= targetClientRatio,
		})
	}
	return tgOrMissing(rows, "7 S3 GETs, ours over minio-go", threshold)
}

// Target 6's memory rows; each group's rows add the group to the target.
const (
	tgBoundTarget  = "6 peak RSS growth over start, within the items held x largest + 64 MiB"
	tgGrowthTarget = "6 peak RSS growth, longest run over shortest"
)

// tgMemory evaluates the second half of target 6, peak RSS within the bound and not growing
// with run length, with a bound row and a growth row for each group of
// memory runs, so that one group's figure never hides another's.
func tgMemory(rs []*result) []Row { return tgMemoryRows(rs, tgBoundTarget, tgGrowthTarget) }

// tgStreamMemory evaluates target 15, target 6 for streams of tar
// shards: peak RSS within the items the batch slots and the shuffle
// buffers hold, and not growing with the samples read.
func tgStreamMemory(all []*result) []Row {
	var rs []*result
	for _, r := range all {
		if tgLayout(r) == "tar "+cases.ReadStream {
			rs = append(rs, r)
		}
	}
	return tgMemoryRows(rs, "15 tar streams: peak RSS growth over start, within the items held x largest + 64 MiB",
		"15 tar streams: peak RSS growth, longest run over shortest")
}

// tgMemoryRows returns the rows of boundTarget and growthTarget for the
// memory runs among rs.
func tgMemoryRows(rs []*result, boundTarget, growthTarget string) []Row {
	growthThreshold := fmt.Sprintf("<= %.2fx", targetRSSGrowth)
	groups := tgMemoryGroups(rs)
	if len(groups) == 0 {
		return []Row{tgMissing(boundTarget, "<= bound"), tgMissing(growthTarget, growthThreshold)}
	}
	var rows []Row
	for _, runs := range groups {
		short, long := runs[0], runs[len(runs)-1]
		group := fmt.Sprintf(", %s, %s items", tgShort(long), long.config[results.ConfigDatasetItems])
		bound := Row{Target: boundTarget + group, Figure: "- (the window, or W, P, B, or the largest item size not given)", Threshold: "<= bound", Missing: true}
		if limit := tgMemoryBound(long); limit > 0 {
			used := tgRSSUsed(long)
			bound.Missing = false
			bound.Figure = fmt.Sprintf("%s over %d items", tgBytes(used), long.iters)
			bound.Threshold = "<= " + tgBytes(limit)
			bound.OK = used <= limit
		}
		su, lu := tgRSSUsed(short), tgRSSUsed(long)
		ratio := lu / math.Max(su, 1)
		growth := Row{
			Target:    growthTarget + group,
			Figure:    fmt.Sprintf("%.2fx (%s at %d items, %s at %d)", ratio, tgBytes(su), short.iters, tgBytes(lu), long.iters),
			Threshold: growthThreshold,
			OK:        ratio <= targetRSSGrowth || lu-su < targetRSSNoise,
		}
		rows = append(rows, bound, growth)
	}
	return rows
}

// tgMemoryGroups returns target 6's groups in the order they first
// appear: the Load results that show a peak RSS, one group per benchmark
// name and dataset size, each sorted by run length. A group counts when
// it is run at several lengths, the longest at least targetLongRun items.
func tgMemoryGroups(rs []*result) [][]*result {
	var keys []string
	byKey := map[string][]*result{}
	for _, r := range tgSelect(rs, results.Load, nil) {
		if _, ok := r.metrics[results.PeakRSS]; !ok {
			continue
		}
		k := r.name + " items=" + r.config[results.ConfigDatasetItems]
		if _, ok := byKey[k]; !ok {
			keys = append(keys, k)
		}
		byKey[k] = append(byKey[k], r)
	}
	var groups [][]*result
	for _, k := range keys {
		runs := byKey[k]
		slices.SortStableFunc(runs, func(a, b *result) int { return a.iters - b.iters })
		if len(runs) >= 2 && runs[len(runs)-1].iters >= targetLongRun {
			groups = append(groups, runs)
		}
	}
	return groups
}

// tgMemoryBound returns target 6's bound on r's peak RSS growth, the
// most items r's loader may hold times the largest item, plus 64 MiB, from
// its name and configuration: the window under the item scheduler,
// W*P*B under the batch scheduler, and for a stream of tar shards each
// worker's shuffle buffer and a sample per stream besides. It is 0 when they do not give all of
// these and the largest item size.
func tgMemoryBound(r *result) float64 {
	largest, _ := strconv.ParseFloat(r.config[results.ConfigDatasetMaxBytes], 64)
	if r.parts[cases.Sched.Key] == "item" {
		window, _ := strconv.Atoi(r.parts[cases.Window.Key])
		if window <= 0 || largest <= 0 {
			return 0
		}
		return float64(window)*largest + targetRSSSlack
	}
	w, _ := strconv.Atoi(r.parts[cases.Workers.Key])
	b, _ := strconv.Atoi(r.parts[cases.Batch.Key])
	p, _ := strconv.Atoi(r.config[results.ConfigLoaderPrefetch])
	if w <= 0 || b <= 0 || p <= 0 || largest <= 0 {
		return 0
	}
	items := w * p * b
	if tgLayout(r) == "tar "+cases.ReadStream {
		// And each worker's shuffle buffer, and the sample each of its
		// streams is reading.
		shuffle, _ := strconv.Atoi(r.parts[cases.Shuffle.Key])
		fetch := 1
		if r.parts[cases.Mode.Key] == "async" {
			fetch = b
			if f, err := strconv.Atoi(r.parts[cases.Fetch.Key]); err == nil && f > 0 {
				fetch = f
			}
		}
		items += w * (shuffle + fetch)
	}
	return float64(items)*largest + targetRSSSlack
}

// tgRSSUsed returns how far r's RSS grew over its start.
func tgRSSUsed(r *result) float64 { return r.metrics[results.PeakRSS] - r.metrics[results.StartRSS] }

// tgSeed evaluates target 9, one row per result that shows it, and
// shows the seed's own figure beside ours.
func tgSeed(rs []*result) []Row {
	const (
		rateTarget = "9 seed-s3, async, 32 workers, no decode"
		decTarget  = "9 seed-s3, async, 32 workers, jpeg, over decoding alone"
		syncTarget = "  seed-s3, sync, 2 workers"
	)
	rateThreshold := fmt.Sprintf(">= %.0f items/s", targetSeedRate)
	decThreshold := fmt.Sprintf(">= %.2f", targetRatio)
	syncThreshold := fmt.Sprintf("near %.1f items/s, the seed's", seedSyncRate)
	decodeAlone := 0.0
	for _, r := range tgSelect(rs, results.Decode, nil) {
		if r.parts[results.KeyConcurrency] == r.parts[results.KeyGOMAXPROCS] || r.parts[results.KeyGOMAXPROCS] == "" {
			decodeAlone = math.Max(decodeAlone, r.metrics[results.ItemsPerSecond])
		}
	}
	var rate, dec, sync []Row
	for _, r := range tgSelect(rs, results.Load, map[string]string{cases.Profile.Key: "seed-s3", cases.Mode.Key: "async", cases.Workers.Key: "32"}) {
		x := r.metrics[results.ItemsPerSecond]
		if noDecode(r) {
			rate = append(rate, Row{
				Target:    rateTarget + ", " + r.parts[cases.Backend.Key],
				Threshold: rateThreshold,
				Figure:    fmt.Sprintf("%.0f items/s (%s)", x, tgShort(r)),
				OK:        x >= targetSeedRate,
			})
			continue
		}
		row := Row{
			Target:    decTarget + ", " + r.parts[cases.Backend.Key],
			Threshold: decThreshold,
			Figure:    "no Decode result",
			Missing:   decodeAlone == 0,
		}
		if decodeAlone > 0 {
			ratio := x / decodeAlone
			row.Figure = fmt.Sprintf("%.3f (%.0f of %.0f items/s; %s)", ratio, x, decodeAlone, tgShort(r))
			row.OK = ratio >= targetRatio
		}
		dec = append(dec, row)
	}
	for _, r := range tgSelect(rs, results.Load, map[string]string{cases.Profile.Key: "seed-s3", cases.Mode.Key: "sync", cases.Workers.Key: "2"}) {
		if !noDecode(r) {
			continue
		}
		x := r.metrics[results.ItemsPerSecond]
		sync = append(sync, Row{
			Target:    syncTarget + ", " + r.parts[cases.Backend.Key],
			Threshold: syncThreshold,
			Figure:    fmt.Sprintf("%.1f items/s (%s)", x, tgShort(r)),
			OK:        x > seedSyncRate/2 && x < seedSyncRate*2,
		})
	}
	rows := tgOrMissing(rate, rateTarget, rateThreshold)
	rows = append(rows, tgOrMissing(dec, decTarget, decThreshold)...)
	return append(rows, tgOrMissing(sync, syncTarget, syncThreshold)...)
}

// tgShort names a result by the dimensions in its name, in the table's
// order.
func tgShort(r *result) string {
	var b bytes.Buffer
	for _, k := range dimKeys() {
		if v := r.parts[k]; v != "" {
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
			fmt.Fprintf(&b, "%s=%s", k, v)
		}
	}
	return b.String()
}

// tgCount formats n things, as in "1 point" and "2 points".
func tgCount(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}

// tgBytes formats a byte count in MiB.
func tgBytes(n float64) string { return fmt.Sprintf("%.1f MiB", n/(1<<20)) }

// tgScratch returns the sync Load results of the scratch folder in cache
// setting cache with w workers (any, for 0).
// Only reads of the folder itself count: no emulated profile, no faults,
// no decoding, the batch scheduler.
func tgScratch(rs []*result, cache string, w int) []*result {
	want := map[string]string{cases.Backend.Key: "scratch", cases.Cache.Key: cache, cases.Mode.Key: "sync", cases.Profile.Key: "none", cases.Faults.Key: "", cases.Sched.Key: ""}
	if w > 0 {
		want[cases.Workers.Key] = strconv.Itoa(w)
	}
	var out []*result
	for _, r := range tgSelect(rs, results.Load, want) {
		if noDecode(r) {
			out = append(out, r)
		}
	}
	return out
}

// tgCold evaluates target 10, cold reads of a scratch folder: at one
// worker, cold within 25% of fio's O_DIRECT rate over the same files
// (BenchmarkFio, one job, which bench/cold.sh writes); warm lines with
// the cache holding the dataset, cold and direct ones with it holding
// none; and direct at least cold's rate from 8 workers.
func tgCold(rs []*result) []Row {
	var rows []Row
	fio := tgSelect(rs, "Fio", map[string]string{cases.Backend.Key: "scratch", cases.Concurrency.Key: "1"})
	cold := tgScratch(rs, "cold", 1)
	row := Row{Target: "10 cold scratch items/s at 1 worker over fio --direct=1, one job", Threshold: fmt.Sprintf("%.2f to %.2f", 1-targetColdFio, 1+targetColdFio)}
	if len(fio) == 0 || len(cold) == 0 {
		row.Missing, row.Figure = true, "-"
	} else {
		f, c := tgMedian(fio, results.ItemsPerSecond), tgMedian(cold, results.ItemsPerSecond)
		ratio := c / f
		row.Figure = fmt.Sprintf("%.3f (%.0f items/s against %.0f, medians)", ratio, c, f)
		row.OK = math.Abs(ratio-1) <= targetColdFio
		row.Missing = math.IsNaN(ratio)
	}
	rows = append(rows, row)
	for _, tc := range []struct {
		cache string
		warm  bool
	}{{"warm", true}, {"cold", false}, {"direct", false}} {
		rs := tgScratch(rs, tc.cache, 0)
		row := Row{Target: "10 " + results.CacheResident + ", scratch, cache=" + tc.cache}
		if tc.warm {
			row.Threshold = fmt.Sprintf(">= %.2f", targetWarmCache)
		} else {
			row.Threshold = fmt.Sprintf("<= %.2f, and after the run", targetColdCache)
		}
		if len(rs) == 0 {
			rows = append(rows, tgMissing(row.Target, row.Threshold))
			continue
		}
		worst := math.Inf(1)
		if !tc.warm {
			worst = math.Inf(-1)
		}
		// Every run counts, not a median: one warm run that did not
		// hold the dataset, or one cold run that did, misses.
		for _, r := range rs {
			s0, s1 := r.point.Sample(results.CacheResident), r.point.Sample(results.CacheResidentEnd)
			if s0 == nil || s1 == nil {
				worst = math.NaN()
				break
			}
			if tc.warm {
				worst = min(worst, slices.Min(s0.Values))
			} else {
				worst = max(worst, slices.Max(s0.Values), slices.Max(s1.Values))
			}
		}
		row.Figure = fmt.Sprintf("%.4f (%s of any run)", worst, map[bool]string{true: "least", false: "most"}[tc.warm])
		row.OK = tc.warm && worst >= targetWarmCache || !tc.warm && worst <= targetColdCache
		if math.IsNaN(worst) {
			row.Missing, row.Figure = true, "- (lines without "+results.CacheResident+")"
		}
		rows = append(rows, row)
	}
	// Direct against cold at each number of workers from 8, medians over
	// the runs of each.
	worst, ratio := 0, math.Inf(1)
	byWorkers := map[int]bool{}
	for _, d := range tgScratch(rs, "direct", 0) {
		if w, _ := strconv.Atoi(d.parts[cases.Workers.Key]); w >= targetDirectC {
			byWorkers[w] = true
		}
	}
	for w := range byWorkers {
		cold := tgScratch(rs, "cold", w)
		if len(cold) == 0 {
			continue
		}
		if q := tgMedian(tgScratch(rs, "direct", w), results.ItemsPerSecond) / tgMedian(cold, results.ItemsPerSecond); q < ratio {
			worst, ratio = w, q
		}
	}
	row = Row{Target: fmt.Sprintf("10 direct over cold items/s, scratch, %d or more sync workers", targetDirectC), Threshold: ">= 1.00"}
	if worst == 0 {
		row.Missing, row.Figure = true, "-"
	} else {
		row.Figure = fmt.Sprintf("%.3f (worst: %d workers, medians)", ratio, worst)
		row.OK = ratio >= 1
	}
	return append(rows, row)
}

// tgMedian returns the median of unit over every run of rs (results of
// one name whose runs differ in length are points of their own).
func tgMedian(rs []*result, unit string) float64 {
	var v []float64
	for _, r := range rs {
		if s := r.point.Sample(unit); s != nil {
			v = append(v, s.Values...)
		}
	}
	if len(v) == 0 {
		return math.NaN()
	}
	slices.Sort(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}
