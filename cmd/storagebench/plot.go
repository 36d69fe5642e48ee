package main

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/perf/benchfmt"
	"golang.org/x/perf/benchunit"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/storagebench/storagebench/loader"
)

// The chart's size, like the seed's, and its resolution: 150 dpi makes a
// 1800x900 PNG, in which 20 bars per worker group stay several pixels wide.
const (
	chartWidth  = 12 * vg.Inch
	chartHeight = 6 * vg.Inch
	chartDPI    = 150
)

// loadBase is the name, without "Benchmark", of the benchmarks plot draws.
const loadBase = "Load"

// plotStats are the statistics the benchmarks report for each level, as
// in the metric "getitem-median-ns".
var plotStats = []string{"mean", "median", "min", "max", "p99"}

// The defaults of -levels and -stats: the seed's five levels bottom-up,
// and the seed's four statistics.
const (
	defaultPlotLevels = "getitem,fetch,worker,epoch,run"
	defaultPlotStats  = "mean,median,min,max"
)

// plotOptions is what the flags of "storagebench plot" ask for.
type plotOptions struct {
	out      string   // the PNG to write, or the folder and name stem when several are drawn
	backends []string // the backends to draw; empty for all
	profiles []string // the profiles to draw; empty for all
	levels   []string // the levels to draw, in bar order
	stats    []string // the statistics to draw for each level, in bar order
}

// runPlot implements "storagebench plot": it reads Go benchmark output,
// takes the median of each BenchmarkLoad metric over repeated runs (-count),
// and draws, per backend and profile, one PNG with a panel per fetch mode,
// a group of bars per worker count and a bar per level and statistic, in
// seconds on a log axis. One chart is written to -o; several are written
// beside it as chart-BACKEND-PROFILE.png, with the differing name keys
// appended (chart-fakes3-s3-batch100.png) when one backend and profile has
// several. It prints the name of each file written.
func runPlot(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	opts, files, err := plotParseArgs(stderr, args)
	if err != nil {
		return err
	}
	res, err := readLoadResults(files)
	if err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	charts := groupCharts(res.points, opts)
	if len(charts) == 0 {
		return noChartError(files, opts, res)
	}
	names := chartFileNames(opts.out, charts)
	for i, c := range charts {
		if err := ctx.Err(); err != nil {
			return err
		}
		var buf bytes.Buffer
		if err := drawChart(&buf, c, opts.levels, opts.stats); err != nil {
			return fmt.Errorf("plot %s: %w", c.title(), err)
		}
		if err := os.WriteFile(names[i], buf.Bytes(), 0o666); err != nil {
			return fmt.Errorf("plot: %w", err)
		}
		if _, err := fmt.Fprintf(stdout, "wrote %s: %s, %d modes x %d worker counts\n",
			names[i], c.title(), len(c.modes), len(c.workers)); err != nil {
			return err
		}
	}
	return nil
}

// plotParseArgs parses the arguments of "storagebench plot", flags before
// or after the RESULTS files, and returns the options and the files. A
// "--" makes the argument after it a file even if it starts with a dash.
func plotParseArgs(stderr io.Writer, args []string) (plotOptions, []string, error) {
	fs := flag.NewFlagSet("plot", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("o", "chart.png", "PNG `file` to write; with several charts, the folder they go to")
	backend := fs.String("backend", "", "draw only these `backends` (comma-separated); default all")
	profile := fs.String("profile", "", "draw only these `profiles` (comma-separated); default all")
	levels := fs.String("levels", defaultPlotLevels, "`levels` to draw, in bar order, out of "+strings.Join(levelNames(), ","))
	stats := fs.String("stats", defaultPlotStats, "`statistics` to draw per level, in bar order, out of "+strings.Join(plotStats, ","))
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintln(w, "usage: storagebench plot [-o chart.png] [-backend B] [-profile P] [-levels L,...] [-stats S,...] RESULTS...")
		fmt.Fprintln(w, "\nDraws the BenchmarkLoad results in RESULTS (go test -bench output, any -count;")
		fmt.Fprintln(w, "repeated runs are summarised by their median) as grouped bars: a panel per mode,")
		fmt.Fprintln(w, "a group per worker count, a bar per level and statistic, seconds on a log axis.")
		fmt.Fprintln(w, "One chart per backend and profile; when there are several they are written as")
		fmt.Fprintln(w, "chart-BACKEND-PROFILE.png in the folder of -o.")
		fmt.Fprintln(w, "\nFlags:")
		fs.PrintDefaults()
	}
	var files []string
	for {
		if err := fs.Parse(args); err != nil {
			return plotOptions{}, nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		files = append(files, args[0])
		args = args[1:]
	}
	opts := plotOptions{out: *out, backends: splitList(*backend), profiles: splitList(*profile)}
	var err error
	if opts.levels, err = checkList("-levels", *levels, levelNames()); err != nil {
		fs.Usage()
		return plotOptions{}, nil, fmt.Errorf("plot: %w", err)
	}
	if opts.stats, err = checkList("-stats", *stats, plotStats); err != nil {
		fs.Usage()
		return plotOptions{}, nil, fmt.Errorf("plot: %w", err)
	}
	if !strings.EqualFold(filepath.Ext(opts.out), ".png") {
		fs.Usage()
		return plotOptions{}, nil, fmt.Errorf("plot: -o %q: want a .png file", opts.out)
	}
	if len(files) == 0 {
		fs.Usage()
		return plotOptions{}, nil, errors.New("plot: missing RESULTS files")
	}
	return opts, files, nil
}

// levelNames returns the names of the loader's levels, top-down.
func levelNames() []string {
	names := make([]string, loader.NumLevels)
	for l := range loader.NumLevels {
		names[l] = l.String()
	}
	return names
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

// A loadPoint is one BenchmarkLoad sub-benchmark, its metrics summarised
// over the runs of it that were read.
type loadPoint struct {
	name             string // the full name without "Benchmark", e.g. "Load/backend=fakes3/.../batch=50-2"
	backend, profile string
	mode             string
	workers          int
	// rest holds the name's other parts in order, as "key=value"; a part
	// without "=" is kept as is, and the GOMAXPROCS suffix is "gomaxprocs=N".
	rest []string
	// runs is how many results were summarised.
	runs int
	// metrics holds the median over the runs of each metric, by tidied
	// unit: "getitem-mean-ns" becomes "getitem-mean-sec", in seconds.
	metrics map[string]float64
}

// seconds returns the time the point reports for a level and statistic,
// and whether it reports one.
func (p *loadPoint) seconds(level, stat string) (float64, bool) {
	v, ok := p.metrics[level+"-"+stat+"-sec"]
	return v, ok
}

// loadResults is what readLoadResults found.
type loadResults struct {
	points []*loadPoint // in order of first appearance
	// others holds the distinct names of the benchmarks that are not
	// BenchmarkLoad results with a mode and a worker count, for errors.
	others []string
}

// readLoadResults reads Go benchmark output from files and summarises each
// BenchmarkLoad sub-benchmark that has a /mode= and a numeric /workers= by
// the median of each metric over its runs. Syntax errors in the files are
// returned together, each as a *benchfmt.SyntaxError giving file:line.
func readLoadResults(files []string) (loadResults, error) {
	var (
		res     loadResults
		byName  = make(map[string]*loadPoint)
		samples = make(map[*loadPoint]map[string][]float64)
		syntax  []error
	)
	for _, file := range files {
		f, err := os.Open(file)
		if err != nil {
			return loadResults{}, err
		}
		r := benchfmt.NewReader(f, file)
		for r.Scan() {
			switch rec := r.Result().(type) {
			case *benchfmt.SyntaxError:
				syntax = append(syntax, rec)
			case *benchfmt.Result:
				name := rec.Name.String()
				p, ok := byName[name]
				if !ok {
					if p, ok = parseLoadName(rec.Name); !ok {
						if n := "Benchmark" + name; !slices.Contains(res.others, n) {
							res.others = append(res.others, n)
						}
						continue
					}
					byName[name] = p
					samples[p] = make(map[string][]float64)
					res.points = append(res.points, p)
				}
				p.runs++
				for _, v := range rec.Values {
					// The Reader has tidied the units already ("-ns" to
					// "-sec", in seconds); tidying again is harmless and
					// covers results from elsewhere.
					val, unit := benchunit.Tidy(v.Value, v.Unit)
					samples[p][unit] = append(samples[p][unit], val)
				}
			}
		}
		err = r.Err()
		f.Close()
		if err != nil {
			return loadResults{}, err
		}
	}
	if len(syntax) > 0 {
		return loadResults{}, errors.Join(syntax...)
	}
	for _, p := range res.points {
		p.metrics = make(map[string]float64, len(samples[p]))
		for unit, xs := range samples[p] {
			p.metrics[unit] = median(xs)
		}
	}
	return res, nil
}

// parseLoadName returns a loadPoint, without metrics, for a BenchmarkLoad
// name with a /mode= and a positive /workers=, and whether name is one.
func parseLoadName(name benchfmt.Name) (*loadPoint, bool) {
	base, parts := name.Parts()
	if string(base) != loadBase {
		return nil, false
	}
	p := &loadPoint{name: name.String()}
	for _, part := range parts {
		s := string(part)
		if gomaxprocs, ok := strings.CutPrefix(s, "-"); ok {
			p.rest = append(p.rest, "gomaxprocs="+gomaxprocs)
			continue
		}
		s = strings.TrimPrefix(s, "/")
		key, value, _ := strings.Cut(s, "=")
		switch key {
		case "backend":
			p.backend = value
		case "profile":
			p.profile = value
		case "mode":
			p.mode = value
		case "workers":
			n, err := strconv.Atoi(value)
			if err != nil || n <= 0 {
				return nil, false
			}
			p.workers = n
		default:
			p.rest = append(p.rest, s)
		}
	}
	return p, p.mode != "" && p.workers > 0
}

// median returns the median of xs, the mean of the middle two when their
// number is even. It sorts xs.
func median(xs []float64) float64 {
	slices.Sort(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}

// A loadChart is the points of one backend, profile and set of other name
// keys, drawn as one PNG.
type loadChart struct {
	backend, profile string
	rest             []string // the other name parts, e.g. "batch=50"
	modes            []string // sync and async first, then the others sorted
	workers          []int    // ascending
	points           map[chartCell]*loadPoint
}

// chartCell locates a point in a chart.
type chartCell struct {
	mode    string
	workers int
}

// title names what the chart shows, e.g. "backend=fakes3 profile=s3 batch=50".
func (c *loadChart) title() string {
	var parts []string
	if c.backend != "" {
		parts = append(parts, "backend="+c.backend)
	}
	if c.profile != "" {
		parts = append(parts, "profile="+c.profile)
	}
	parts = append(parts, c.rest...)
	return strings.Join(parts, " ")
}

// runs returns the fewest and the most runs summarised by a point.
func (c *loadChart) runs() (lo, hi int) {
	lo = math.MaxInt
	for _, p := range c.points {
		lo, hi = min(lo, p.runs), max(hi, p.runs)
	}
	return lo, hi
}

// groupCharts groups the points that pass the -backend and -profile
// filters into charts, ordered by backend, profile and other keys.
func groupCharts(points []*loadPoint, opts plotOptions) []*loadChart {
	byKey := make(map[string]*loadChart)
	var charts []*loadChart
	for _, p := range points {
		if len(opts.backends) > 0 && !slices.Contains(opts.backends, p.backend) ||
			len(opts.profiles) > 0 && !slices.Contains(opts.profiles, p.profile) {
			continue
		}
		key := strings.Join(append([]string{p.backend, p.profile}, p.rest...), "\x00")
		c, ok := byKey[key]
		if !ok {
			c = &loadChart{backend: p.backend, profile: p.profile, rest: p.rest, points: make(map[chartCell]*loadPoint)}
			byKey[key] = c
			charts = append(charts, c)
		}
		c.points[chartCell{p.mode, p.workers}] = p
		if !slices.Contains(c.modes, p.mode) {
			c.modes = append(c.modes, p.mode)
		}
		if !slices.Contains(c.workers, p.workers) {
			c.workers = append(c.workers, p.workers)
		}
	}
	for _, c := range charts {
		slices.SortFunc(c.modes, func(a, b string) int {
			if ra, rb := modeRank(a), modeRank(b); ra != rb {
				return ra - rb
			}
			return strings.Compare(a, b)
		})
		slices.Sort(c.workers)
	}
	slices.SortStableFunc(charts, func(a, b *loadChart) int {
		return slices.CompareFunc(append([]string{a.backend, a.profile}, a.rest...), append([]string{b.backend, b.profile}, b.rest...), compareNamePart)
	})
	return charts
}

// compareNamePart orders name parts ("key=value") by key, then by value,
// numerically when both values are numbers, so that batch=50 comes before
// batch=100.
func compareNamePart(a, b string) int {
	ka, va, _ := strings.Cut(a, "=")
	kb, vb, _ := strings.Cut(b, "=")
	if ka == kb {
		x, errA := strconv.ParseFloat(va, 64)
		y, errB := strconv.ParseFloat(vb, 64)
		if errA == nil && errB == nil && x != y {
			return cmp.Compare(x, y)
		}
	}
	return strings.Compare(a, b)
}

// modeRank orders the modes sync, async, then the others.
func modeRank(mode string) int {
	switch mode {
	case "sync":
		return 0
	case "async":
		return 1
	}
	return 2
}

// noChartError explains that files held nothing to draw, naming the files,
// what was looked for and what was there instead.
func noChartError(files []string, opts plotOptions, res loadResults) error {
	in := strings.Join(files, ", ")
	if len(res.points) == 0 {
		msg := fmt.Sprintf("plot: no Benchmark%s results with /mode= and /workers= in %s", loadBase, in)
		if len(res.others) > 0 {
			msg += "; found " + shortList(res.others)
		}
		return errors.New(msg)
	}
	var want, found []string
	if len(opts.backends) > 0 {
		want = append(want, "-backend "+strings.Join(opts.backends, ","))
	}
	if len(opts.profiles) > 0 {
		want = append(want, "-profile "+strings.Join(opts.profiles, ","))
	}
	for _, p := range res.points {
		if bp := "backend=" + p.backend + " profile=" + p.profile; !slices.Contains(found, bp) {
			found = append(found, bp)
		}
	}
	return fmt.Errorf("plot: no Benchmark%s results match %s in %s; found %s",
		loadBase, strings.Join(want, " "), in, shortList(found))
}

// shortList joins up to five elements of list, saying how many it left out.
func shortList(list []string) string {
	const most = 5
	if len(list) <= most {
		return strings.Join(list, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(list[:most], ", "), len(list)-most)
}

// chartFileNames returns the file each chart is written to: out for a
// single chart; otherwise chart-BACKEND-PROFILE.png in the folder of out,
// followed by the keys and values of the other name parts that differ
// between charts of the same backend and profile, e.g.
// chart-fakes3-s3-batch100.png.
func chartFileNames(out string, charts []*loadChart) []string {
	if len(charts) == 1 {
		return []string{out}
	}
	dir := filepath.Dir(out)
	names := make([]string, len(charts))
	used := make(map[string]bool)
	for i, c := range charts {
		parts := []string{"chart", c.backend, c.profile}
		for _, kv := range c.rest {
			if differsInGroup(charts, c, kv) {
				parts = append(parts, strings.Replace(kv, "=", "", 1))
			}
		}
		for j := range parts {
			parts[j] = strings.Map(fileRune, parts[j])
		}
		stem := strings.Join(parts, "-")
		name := stem + ".png"
		for n := 2; used[name]; n++ {
			name = fmt.Sprintf("%s-%d.png", stem, n)
		}
		used[name] = true
		names[i] = filepath.Join(dir, name)
	}
	return names
}

// differsInGroup reports whether some other chart of c's backend and
// profile lacks the name part kv ("key=value").
func differsInGroup(charts []*loadChart, c *loadChart, kv string) bool {
	for _, o := range charts {
		if o != c && o.backend == c.backend && o.profile == c.profile && !slices.Contains(o.rest, kv) {
			return true
		}
	}
	return false
}

// fileRune maps a rune of a name part to one that is safe in a file name.
func fileRune(r rune) rune {
	switch {
	case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9', r == '.', r == '_':
		return r
	}
	return '_'
}

// barSeries is the bars of one level and statistic, one per worker count,
// drawn from the bottom of the plot so that a log axis can show them.
// It implements plot.Plotter and plot.Thumbnailer.
type barSeries struct {
	values []float64 // seconds per worker count; NaN where missing
	offset float64   // the bars' left edge, from the group centre, in x units
	width  float64   // the bars' width in x units
	color  color.Color
}

// Plot draws the bars. Values that are missing or not positive are left out.
func (b *barSeries) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	for i, v := range b.values {
		if !(v > 0) || math.IsInf(v, 1) {
			continue
		}
		x0 := trX(float64(i) + b.offset)
		x1 := trX(float64(i) + b.offset + b.width)
		y := trY(v)
		pts := []vg.Point{{X: x0, Y: c.Min.Y}, {X: x0, Y: y}, {X: x1, Y: y}, {X: x1, Y: c.Min.Y}}
		c.FillPolygon(b.color, c.ClipPolygonY(pts))
	}
}

// Thumbnail draws the legend's swatch.
func (b *barSeries) Thumbnail(c *draw.Canvas) {
	r := c.Rectangle
	c.FillPolygon(b.color, []vg.Point{r.Min, {X: r.Min.X, Y: r.Max.Y}, r.Max, {X: r.Max.X, Y: r.Min.Y}})
}

// secondTicks marks a log axis of seconds at each power of ten, labelled
// with a unit: 100µs, 1ms, 10s.
type secondTicks struct{}

// Ticks returns plot.LogTicks' ticks, relabelled. LogTicks starts at
// 10^int(log10(min)), which for a min of 1e-4 whose log10 comes out as
// -3.99… starts a decade too high and leaves the bottom unlabelled; min is
// nudged down to keep that decade.
func (secondTicks) Ticks(min, max float64) []plot.Tick {
	ticks := plot.LogTicks{}.Ticks(min*(1-1e-9), max)
	for i := range ticks {
		if ticks[i].Label != "" {
			ticks[i].Label = formatSeconds(ticks[i].Value)
		}
	}
	return ticks
}

// formatSeconds formats a duration in seconds to three significant digits
// with the largest unit among s, ms, µs and ns that keeps it at least 1.
func formatSeconds(s float64) string {
	unit, scale := "ns", 1e9
	switch a := math.Abs(s); {
	case a >= 1 || a == 0:
		unit, scale = "s", 1
	case a >= 1e-3:
		unit, scale = "ms", 1e3
	case a >= 1e-6:
		unit, scale = "µs", 1e6
	}
	v, _ := strconv.ParseFloat(strconv.FormatFloat(s*scale, 'g', 3, 64), 64)
	return strconv.FormatFloat(v, 'f', -1, 64) + unit
}

// formatRate formats items per second to three significant digits.
func formatRate(r float64) string {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(r, 'g', 3, 64), 64)
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// levelColors gives each level a hue, by loader.Level, so that a level
// keeps its colour whatever -levels asks for.
var levelColors = [loader.NumLevels]color.RGBA{
	loader.Run:     {0x6a, 0x3d, 0x9a, 0xff}, // purple
	loader.Epoch:   {0xe3, 0x1a, 0x1c, 0xff}, // red
	loader.Worker:  {0x33, 0xa0, 0x2c, 0xff}, // green
	loader.Fetch:   {0xff, 0x7f, 0x00, 0xff}, // orange
	loader.GetItem: {0x1f, 0x78, 0xb4, 0xff}, // blue
	loader.TTFB:    {0xb1, 0x59, 0x28, 0xff}, // brown
	loader.Read:    {0xe7, 0x29, 0x8a, 0xff}, // pink
	loader.Decode:  {0x66, 0x66, 0x66, 0xff}, // grey
	loader.Wait:    {0x1b, 0x9e, 0x77, 0xff}, // teal
}

// statShade says how a statistic shades its level's hue: towards white
// (positive) or black (negative), lighter for smaller statistics.
var statShade = map[string]float64{"min": 0.7, "median": 0.4, "mean": 0, "p99": -0.25, "max": -0.45}

// barColor returns the colour of the bars of level and stat.
func barColor(level, stat string) color.Color {
	c := levelColors[slices.Index(levelNames(), level)]
	t, target := statShade[stat], 255.0
	if t < 0 {
		t, target = -t, 0
	}
	mix := func(v uint8) uint8 { return uint8(math.Round(float64(v)*(1-t) + target*t)) }
	return color.RGBA{mix(c.R), mix(c.G), mix(c.B), 0xff}
}

// Layout of a chart, besides the panels.
const (
	titleHeight = 0.45 * vg.Inch
	legendWidth = 1.6 * vg.Inch
	barGroup    = 0.86 // the width of a worker group's bars, in x units
	levelGap    = 0.6  // the gap between levels within a group, in bar widths
	barFill     = 0.88 // the part of its slot a bar fills
)

// drawChart draws c as a PNG to w: a panel per mode, one above the other,
// a group per worker count, and in each group a bar per level and
// statistic in the order given. Levels and statistics that no point of c
// reports, like decode without decoding, are left out.
func drawChart(w io.Writer, c *loadChart, levels, stats []string) error {
	type levelStat struct{ level, stat string }
	var (
		drawn  []levelStat
		lo, hi = math.Inf(1), math.Inf(-1)
	)
	for _, l := range levels {
		for _, s := range stats {
			found := false
			for _, p := range c.points {
				if v, ok := p.seconds(l, s); ok && v > 0 && !math.IsInf(v, 1) {
					lo, hi, found = min(lo, v), max(hi, v), true
				}
			}
			if found {
				drawn = append(drawn, levelStat{l, s})
			}
		}
	}
	if len(drawn) == 0 {
		return fmt.Errorf("no positive {%s}-{%s}-ns metrics to draw", strings.Join(levels, ","), strings.Join(stats, ","))
	}
	lo = math.Pow(10, math.Floor(math.Log10(lo)))
	hi = math.Pow(10, math.Ceil(math.Log10(hi)))
	if hi <= lo {
		hi = lo * 10
	}

	// The bars of a group: levels side by side with a gap between them,
	// statistics within a level.
	nLevels := 0
	for i, ls := range drawn {
		if i == 0 || ls.level != drawn[i-1].level {
			nLevels++
		}
	}
	slot := barGroup / (float64(len(drawn)) + levelGap*float64(nLevels-1))
	legend := plot.NewLegend()
	series := make([]*barSeries, len(drawn))
	li := -1
	for i, ls := range drawn {
		if i == 0 || ls.level != drawn[i-1].level {
			li++
		}
		series[i] = &barSeries{
			offset: -barGroup/2 + (float64(i)+levelGap*float64(li))*slot + slot*(1-barFill)/2,
			width:  slot * barFill,
			color:  barColor(ls.level, ls.stat),
		}
		legend.Add(ls.level+" "+ls.stat, series[i])
	}

	plots := make([][]*plot.Plot, len(c.modes))
	for mi, mode := range c.modes {
		p := plot.New()
		p.Title.Text = "mode=" + mode
		p.X.Min, p.X.Max = -0.5, float64(len(c.workers))-0.5
		p.Y.Min, p.Y.Max = lo, hi
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = secondTicks{}
		p.Y.Label.Text = "time (log scale)"
		var ticks []plot.Tick
		for wi, workers := range c.workers {
			label := fmt.Sprintf("%d workers", workers)
			if pt := c.points[chartCell{mode, workers}]; pt != nil {
				if r, ok := pt.metrics["items/s"]; ok {
					label += "\n" + formatRate(r) + " items/s"
				}
			}
			ticks = append(ticks, plot.Tick{Value: float64(wi), Label: label})
		}
		p.X.Tick.Marker = plot.ConstantTicks(ticks)
		grid := plotter.NewGrid()
		grid.Vertical.Color = nil
		grid.Horizontal.Color = color.Gray{0xdd}
		p.Add(grid)
		for i, ls := range drawn {
			b := *series[i]
			b.values = make([]float64, len(c.workers))
			for wi, workers := range c.workers {
				b.values[wi] = math.NaN()
				if pt := c.points[chartCell{mode, workers}]; pt != nil {
					if v, ok := pt.seconds(ls.level, ls.stat); ok {
						b.values[wi] = v
					}
				}
			}
			p.Add(&b)
		}
		plots[mi] = []*plot.Plot{p}
	}

	img := vgimg.NewWith(vgimg.UseWH(chartWidth, chartHeight), vgimg.UseDPI(chartDPI))
	dc := draw.New(img)

	title := "Benchmark" + loadBase + " " + c.title()
	switch lo, hi := c.runs(); {
	case hi == 1:
		title += ": 1 run"
	case lo == hi:
		title += fmt.Sprintf(": median of %d runs", lo)
	default:
		title += fmt.Sprintf(": median of %d to %d runs", lo, hi)
	}
	sty := plots[0][0].Title.TextStyle
	sty.Font.Size = 14
	sty.YAlign = draw.YCenter
	dc.FillText(sty, vg.Point{X: dc.Center().X, Y: dc.Max.Y - titleHeight/2}, title)

	panels := draw.Crop(dc, 0, -legendWidth, 0, -titleHeight)
	tiles := draw.Tiles{Rows: len(c.modes), Cols: 1, PadY: 0.15 * vg.Inch, PadLeft: 0.05 * vg.Inch, PadBottom: 0.05 * vg.Inch}
	canvases := plot.Align(plots, tiles, panels)
	for mi := range plots {
		plots[mi][0].Draw(canvases[mi][0])
	}

	legendArea := draw.Crop(dc, chartWidth-legendWidth+0.15*vg.Inch, 0, 0, -titleHeight-0.2*vg.Inch)
	legend.Top, legend.Left = true, true
	legend.ThumbnailWidth = 0.3 * vg.Inch
	// Shrink the text when many bars need many entries.
	per := legendArea.Size().Y / vg.Length(len(series))
	legend.TextStyle.Font.Size = min(10, per*0.75)
	legend.Draw(legendArea)

	_, err := vgimg.PngCanvas{Canvas: img}.WriteTo(w)
	return err
}
