package targets

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/storagebench/storagebench/cases"
	"github.com/storagebench/storagebench/results"
	"github.com/storagebench/storagebench/train"
)

// Thresholds of the layout targets (11 to 15): what sharding and parts
// buy.
const (
	targetStreamS3     = 14      // target 11: H100s fed by 64 MB shards streamed under s3
	targetStreamSeedS3 = 12      // target 11: the same under seed-s3
	targetPartsAU      = 0.90    // target 13: unet3d-h100 with part=8MB, one H100
	targetPartsHeld    = 8 << 30 // target 13: what its loader holds, at most
	targetStreamCPU    = 1.10    // target 14: a streamed sample's CPU over a loose one's
	tgFeedWorkload     = "resnet50-h100"
	tgPartsWorkload    = "unet3d-h100"
	tgPartsSize        = "8MB"
	tgLayoutShard      = "64MB"
	tgLayoutProfileS3  = "s3"
	tgLayoutProfileSd  = "seed-s3"
	tgLayoutBackendMem = "mem"
)

// loose reports whether r read loose items whole: no tar shards, no
// parts, the layout targets 1 to 10 were set for.
func loose(r *result) bool {
	f := r.parts[cases.Format.Key]
	return (f == "" || f == cases.FormatLoose) && r.parts[cases.Part.Key] == ""
}

// tgLayout names r's layout as the layout targets show it: loose, or
// streamed or by range.
func tgLayout(r *result) string {
	if r.parts[cases.Format.Key] != cases.FormatTar {
		return "loose"
	}
	return "tar " + r.parts[cases.Read.Key]
}

// tgFed is what a search of the most accelerators fed found for one
// loader configuration.
type tgFed struct {
	config string // the name less its accel key
	layout string
	max    int
	au     float64
	tried  int
}

// tgMaxAccel returns, for each loader configuration of rs (Train results
// of one workload, backend and profile), the most accelerators whose
// median AU met threshold, with that AU, and the numbers tried, in the
// order the configurations first appear.
func tgMaxAccel(rs []*result, threshold float64) []tgFed {
	var out []tgFed
	index := map[string]int{}
	for _, r := range rs {
		n, err := strconv.Atoi(r.parts[cases.Accel.Key])
		au, ok := r.metrics[results.AU]
		if err != nil || !ok {
			continue
		}
		key := strings.Replace(r.name, "/"+cases.Accel.Key+"="+r.parts[cases.Accel.Key], "", 1)
		i, seen := index[key]
		if !seen {
			i = len(out)
			index[key] = i
			out = append(out, tgFed{config: key, layout: tgLayout(r)})
		}
		f := &out[i]
		f.tried++
		if au >= threshold && n > f.max {
			f.max, f.au = n, au
		}
	}
	return out
}

// tgLayouts evaluates targets 11 and 12: under s3 and seed-s3, on mem,
// ResNet-50 H100s fed by 64 MB tar shards streamed (at least 14 and 12)
// and read by range (no more than loose, one GET a sample), loose beside
// them, each the most accelerators whose median AU meets the workload's
// threshold (make layouts).
func tgLayouts(rs []*result) []Row {
	w, err := train.LookupWorkload(tgFeedWorkload)
	if err != nil {
		panic(err) // a workload of the table
	}
	var rows []Row
	for _, p := range []struct {
		profile string
		min     int
	}{{tgLayoutProfileS3, targetStreamS3}, {tgLayoutProfileSd, targetStreamSeedS3}} {
		trains := tgSelect(rs, results.Train, map[string]string{cases.Backend.Key: tgLayoutBackendMem, cases.Profile.Key: p.profile, cases.Workload.Key: tgFeedWorkload, cases.Part.Key: ""})
		var looseMax, streamMax, rangeMax = -1, -1, -1
		var looseFed, streamFed, rangeFed tgFed
		for _, f := range tgMaxAccel(trains, w.AUThreshold) {
			if f.layout != "loose" && !strings.Contains(f.config, "/"+cases.Shard.Key+"="+tgLayoutShard+"/") {
				continue
			}
			switch f.layout {
			case "loose":
				if f.max > looseMax {
					looseMax, looseFed = f.max, f
				}
			case "tar " + cases.ReadStream:
				if f.max > streamMax {
					streamMax, streamFed = f.max, f
				}
			case "tar " + cases.ReadRange:
				if f.max > rangeMax {
					rangeMax, rangeFed = f.max, f
				}
			}
		}
		target := fmt.Sprintf("11 %s, mem, %s H100s fed by %s tar shards streamed", p.profile, tgFeedWorkload, tgLayoutShard)
		threshold := fmt.Sprintf(">= %d at AU >= %.2f", p.min, w.AUThreshold)
		if streamMax < 0 {
			rows = append(rows, tgMissing(target, threshold))
		} else {
			rows = append(rows, Row{Target: target, Threshold: threshold, OK: streamMax >= p.min,
				Figure: fmt.Sprintf("%d (AU %.3f; %s tried)", streamMax, streamFed.au, tgCount(streamFed.tried, "run"))})
		}
		if looseMax >= 0 {
			rows = append(rows, Row{Target: "   the same, loose", Threshold: "for comparison", Reference: true,
				Figure: fmt.Sprintf("%d (AU %.3f)", looseMax, looseFed.au)})
		}
		target = fmt.Sprintf("12 %s, the same shards read by range, against loose", p.profile)
		threshold = "<= loose (one GET a sample)"
		if rangeMax < 0 || looseMax < 0 {
			rows = append(rows, tgMissing(target, threshold))
		} else {
			rows = append(rows, Row{Target: target, Threshold: threshold, OK: rangeMax <= looseMax,
				Figure: fmt.Sprintf("%d against %d (AU %.3f)", rangeMax, looseMax, rangeFed.au)})
		}
	}
	return rows
}

// tgParts evaluates target 13: unet3d-h100 under s3 on mem, one H100 at
// AU >= 0.90 with part=8MB, its loader holding under 8 GiB, by the median
// of its runs at one accelerator; the same loader reading items whole
// beside it.
func tgParts(rs []*result) []Row {
	target := fmt.Sprintf("13 %s, s3, mem, part=%s: AU of one H100; held bytes", tgPartsWorkload, tgPartsSize)
	threshold := fmt.Sprintf(">= %.2f; < %s", targetPartsAU, tgBytes(targetPartsHeld))
	trains := tgSelect(rs, results.Train, map[string]string{cases.Backend.Key: tgLayoutBackendMem, cases.Profile.Key: tgLayoutProfileS3, cases.Workload.Key: tgPartsWorkload, cases.Accel.Key: "1"})
	var rows []Row
	for _, r := range trains {
		if r.parts[cases.Part.Key] != tgPartsSize {
			continue
		}
		au, held := r.metrics[results.AU], r.metrics[results.HeldBytesPeak]
		row := Row{Target: target, Threshold: threshold, OK: au >= targetPartsAU && held > 0 && held < targetPartsHeld,
			Figure: fmt.Sprintf("%.3f; %s (%s, median of %s)", au, tgBytes(held), tgShort(r), tgCount(r.point.Runs(), "run"))}
		rows = append(rows, row)
		whole := strings.Replace(r.name, "/"+cases.Part.Key+"="+tgPartsSize, "", 1)
		for _, o := range trains {
			if o.name == whole {
				rows = append(rows, Row{Target: "   the same loader, items whole", Threshold: "for comparison", Reference: true,
					Figure: fmt.Sprintf("%.3f; %s (median of %s)", o.metrics[results.AU], tgBytes(o.metrics[results.HeldBytesPeak]), tgCount(o.point.Runs(), "run"))})
			}
		}
	}
	return tgOrMissing(rows, target, threshold)
}

// tgStreamCPU evaluates target 14: on mem with profile none, a streamed
// sample's CPU (cpu-ns/item) within 10% of a loose item's, for each
// loader configuration run both ways, as medians over the configuration's
// runs (runs sized by the harness are points of their own); the worst
// ratio.
func tgStreamCPU(rs []*result) []Row {
	target := "14 cpu-ns/item, tar shards streamed over loose, mem, profile none"
	threshold := fmt.Sprintf("<= %.2fx", targetStreamCPU)
	loads := tgSelect(rs, results.Load, map[string]string{cases.Backend.Key: tgLayoutBackendMem, cases.Profile.Key: "none", cases.Faults.Key: "", cases.Part.Key: ""})
	looseRuns, tarRuns := map[string][]*result{}, map[string][]*result{}
	var configs []string // in the order tar configurations first appear
	for _, r := range loads {
		if !noDecode(r) || r.metrics[results.CPUPerItem] <= 0 {
			continue
		}
		c := tgLoaderConfig(r)
		switch {
		case loose(r):
			looseRuns[c] = append(looseRuns[c], r)
		case tgLayout(r) == "tar "+cases.ReadStream && r.parts[cases.Shuffle.Key] == "":
			if tarRuns[c] == nil {
				configs = append(configs, c)
			}
			tarRuns[c] = append(tarRuns[c], r)
		}
	}
	worstRatio, n := math.Inf(-1), 0
	var worstTar, worstLoose float64
	var worst *result
	for _, c := range configs {
		if looseRuns[c] == nil {
			continue
		}
		n++
		t, l := tgMedian(tarRuns[c], results.CPUPerItem), tgMedian(looseRuns[c], results.CPUPerItem)
		if x := t / l; x > worstRatio {
			worstRatio, worstTar, worstLoose, worst = x, t, l, tarRuns[c][0]
		}
	}
	if worst == nil {
		return []Row{tgMissing(target, threshold)}
	}
	return []Row{{Target: target, Threshold: threshold, OK: worstRatio <= targetStreamCPU,
		Figure: fmt.Sprintf("%.2fx worst of %s, medians (%.0f against %.0f ns; %s)", worstRatio, tgCount(n, "configuration"),
			worstTar, worstLoose, tgShort(worst))}}
}

// tgLoaderConfig returns r's loader configuration: the name's keys from
// the mode on.
func tgLoaderConfig(r *result) string {
	keys := dimKeys()
	from := slices.Index(keys, cases.Mode.Key)
	var b strings.Builder
	for _, k := range keys[from:] {
		if v := r.parts[k]; v != "" {
			fmt.Fprintf(&b, "/%s=%s", k, v)
		}
	}
	return b.String()
}
