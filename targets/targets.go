package targets

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/storagebench/storagebench/results"
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

// A Row is one target's figure next to its threshold.
type Row struct {
	Target    string // the target's number and what it measures
	Figure    string // what the results show
	Threshold string // what the target asks for
	OK        bool   // the figure meets the threshold
	Missing   bool   // no result shows the target
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
	nameKeys = []string{results.KeyBackend, results.KeyProfile, results.KeyMode, results.KeyWorkers,
		results.KeyBatch, results.KeyFetch, results.KeyDecode, results.KeyConcurrency, results.KeyGOMAXPROCS}
	configKeys = []string{results.ConfigDatasetItems, results.ConfigDatasetMaxBytes, results.ConfigLoaderPrefetch}
)

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
func noDecode(r *result) bool { d := r.parts[results.KeyDecode]; return d == "" || d == "none" }

// tgInFlight returns C, the requests r's loader can have in flight (see
// results.InFlight).
func tgInFlight(r *result) int { return results.InFlight(r.point) }

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

// evaluate computes the figure of each target.
func evaluate(rs []*result) []Row {
	var rows []Row
	// 1. Loader against raw at equal concurrency, profile none.
	for _, backend := range []string{"mem", "local", "fakes3"} {
		var worst *result
		worstEff := math.Inf(1)
		for _, r := range tgSelect(rs, results.Load, map[string]string{results.KeyBackend: backend, results.KeyProfile: "none"}) {
			raw, ok := r.metrics[results.RawItemsPerSec]
			if !ok || !noDecode(r) {
				continue
			}
			if e := r.metrics[results.ItemsPerSecond] / raw; e < worstEff {
				worst, worstEff = r, e
			}
		}
		row := Row{Target: "1 loader/raw items/s, " + backend + ", profile none", Threshold: fmt.Sprintf(">= %.2f", targetRatio)}
		if worst == nil {
			row.Missing, row.Figure = true, "-"
		} else {
			row.Figure = fmt.Sprintf("%.3f (worst: %s)", worstEff, tgShort(worst))
			row.OK = worstEff >= targetRatio
		}
		rows = append(rows, row)
	}
	// 2. Against the bound under a fixed latency, up to 512 in flight,
	// where the bound is below the raw baseline.
	{
		row := Row{Target: "2 loader/bound, fixed latency, C <= 512", Threshold: fmt.Sprintf(">= %.2f", targetRatio)}
		var worst *result
		worstEff, n := math.Inf(1), 0
		for _, r := range tgSelect(rs, results.Load, nil) {
			c := tgInFlight(r)
			if !strings.HasPrefix(r.parts[results.KeyProfile], "fixed-") || c == 0 || c > targetMaxInFlight {
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
		if worst == nil {
			row.Missing, row.Figure = true, "-"
		} else {
			row.Figure = fmt.Sprintf("%.3f over %d points (worst: %s, C=%d)", worstEff, n, tgShort(worst), tgInFlight(worst))
			row.OK = worstEff >= targetRatio
		}
		rows = append(rows, row)
	}
	// 3. Overhead and allocations on mem at batch 50.
	{
		over := Row{Target: "3 loader overhead per item, mem, batch 50", Threshold: fmt.Sprintf("< %.0f ns", targetOverheadNs)}
		alloc := Row{Target: "3 allocations per item, mem, batch 50", Threshold: fmt.Sprintf("<= %.0f", targetAllocs)}
		worstOver, worstAlloc := math.Inf(-1), math.Inf(-1)
		var wo, wa *result
		for _, r := range tgSelect(rs, results.Load, map[string]string{results.KeyBackend: "mem", results.KeyProfile: "none", results.KeyBatch: "50"}) {
			raw, ok := r.metrics[results.RawItemsPerSec]
			if !ok || !noDecode(r) {
				continue
			}
			if o := 1e9/r.metrics[results.ItemsPerSecond] - 1e9/raw; o > worstOver {
				wo, worstOver = r, o
			}
			if a := r.metrics[results.AllocsPerOp]; a > worstAlloc {
				wa, worstAlloc = r, a
			}
		}
		if wo == nil {
			over.Missing, over.Figure, alloc.Missing, alloc.Figure = true, "-", true, "-"
		} else {
			over.Figure = fmt.Sprintf("%.0f ns (worst: %s)", worstOver, tgShort(wo))
			over.OK = worstOver < targetOverheadNs
			alloc.Figure = fmt.Sprintf("%.0f (worst: %s)", worstAlloc, tgShort(wa))
			alloc.OK = worstAlloc <= targetAllocs
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
func tgMemory(rs []*result) []Row {
	growthThreshold := fmt.Sprintf("<= %.2fx", targetRSSGrowth)
	groups := tgMemoryGroups(rs)
	if len(groups) == 0 {
		return []Row{tgMissing(tgBoundTarget, "<= bound"), tgMissing(tgGrowthTarget, growthThreshold)}
	}
	var rows []Row
	for _, runs := range groups {
		short, long := runs[0], runs[len(runs)-1]
		group := fmt.Sprintf(", %s, %s items", tgShort(long), long.config[results.ConfigDatasetItems])
		bound := Row{Target: tgBoundTarget + group, Figure: "- (W, P, B or largest item size not given)", Threshold: "<= bound", Missing: true}
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
			Target:    tgGrowthTarget + group,
			Figure:    fmt.Sprintf("%.2fx (%s at %d items, %s at %d)", ratio, tgBytes(su), short.iters, tgBytes(lu), long.iters),
			Threshold: growthThreshold,
			OK:        ratio <= targetRSSGrowth || lu-su < targetRSSNoise,
		}
		rows = append(rows, bound, growth)
	}
	return rows
}

// tgMemoryGroups returns target 4's groups in the order they first
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

// tgMemoryBound returns target 4's bound on r's peak RSS growth,
// W*P*B*largest + 64 MiB, from its name and configuration; 0 when they do
// not give all of W, P, B and the largest item size.
func tgMemoryBound(r *result) float64 {
	w, _ := strconv.Atoi(r.parts[results.KeyWorkers])
	b, _ := strconv.Atoi(r.parts[results.KeyBatch])
	p, _ := strconv.Atoi(r.config[results.ConfigLoaderPrefetch])
	largest, _ := strconv.ParseFloat(r.config[results.ConfigDatasetMaxBytes], 64)
	if w <= 0 || b <= 0 || p <= 0 || largest <= 0 {
		return 0
	}
	return float64(w*p*b)*largest + targetRSSSlack
}

// tgRSSUsed returns how far r's RSS grew over its start.
func tgRSSUsed(r *result) float64 { return r.metrics[results.PeakRSS] - r.metrics[results.StartRSS] }

// tgSeed evaluates target 5, one row per result that shows it, and
// shows the seed's own figure beside ours.
func tgSeed(rs []*result) []Row {
	const (
		rateTarget = "5 seed-s3, async, 32 workers, no decode"
		decTarget  = "5 seed-s3, async, 32 workers, jpeg, over decoding alone"
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
	for _, r := range tgSelect(rs, results.Load, map[string]string{results.KeyProfile: "seed-s3", results.KeyMode: "async", results.KeyWorkers: "32"}) {
		x := r.metrics[results.ItemsPerSecond]
		if noDecode(r) {
			rate = append(rate, Row{
				Target:    rateTarget + ", " + r.parts[results.KeyBackend],
				Threshold: rateThreshold,
				Figure:    fmt.Sprintf("%.0f items/s (%s)", x, tgShort(r)),
				OK:        x >= targetSeedRate,
			})
			continue
		}
		row := Row{
			Target:    decTarget + ", " + r.parts[results.KeyBackend],
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
	for _, r := range tgSelect(rs, results.Load, map[string]string{results.KeyProfile: "seed-s3", results.KeyMode: "sync", results.KeyWorkers: "2"}) {
		if !noDecode(r) {
			continue
		}
		x := r.metrics[results.ItemsPerSecond]
		sync = append(sync, Row{
			Target:    syncTarget + ", " + r.parts[results.KeyBackend],
			Threshold: syncThreshold,
			Figure:    fmt.Sprintf("%.1f items/s (%s)", x, tgShort(r)),
			OK:        x > seedSyncRate/2 && x < seedSyncRate*2,
		})
	}
	rows := tgOrMissing(rate, rateTarget, rateThreshold)
	rows = append(rows, tgOrMissing(dec, decTarget, decThreshold)...)
	return append(rows, tgOrMissing(sync, syncTarget, syncThreshold)...)
}

// tgShort names a result by the settings in its name: backend, profile,
// mode, workers, batch, fetch and decode.
func tgShort(r *result) string {
	var b bytes.Buffer
	for _, k := range []string{results.KeyBackend, results.KeyProfile, results.KeyMode, results.KeyWorkers, results.KeyBatch, results.KeyFetch, results.KeyDecode} {
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
