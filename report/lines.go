package report

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/storagebench/storagebench/cases"
	"github.com/storagebench/storagebench/results"
)

// ThroughputFigures returns, for each backend, profile and other
// configuration of the Load results in s, items per second against
// workers: one line per mode and scheduler, each point the median over
// its runs with its 95% confidence interval, and the storage's bound
// (bound-items/s) dashed in the line's colour. With results from several
// files, each file has its own lines on the same axes, labelled by file
// name and told apart by marker and dash: a before/after chart.
func ThroughputFigures(s *results.Set) ([]*Figure, error) {
	return lineFigures(s, lineSpec{
		bench:  results.Load,
		prefix: "throughput",
		chart:  "/backend,/profile",
		series: "/mode,/sched,/window,/hedge",
		label:  schedulerLabel,
		x:      cases.Workers.Key,
		xLabel: "workers",
		y:      results.ItemsPerSecond,
		yLabel: "items/s",
		bound:  results.BoundItemsPerSec,
	})
}

// AUFigures returns, for each backend, profile and other configuration of
// the Train results in s, accelerator utilization against emulated
// accelerators, one line per layout (loose, or tar shards of a size read
// a way), workload and loader configuration (and file), with MLPerf
// Storage's 90% threshold drawn: where each line
// crosses it is the most accelerators that configuration feeds. It
// returns no figures when s has no Train results.
func AUFigures(s *results.Set) ([]*Figure, error) {
	return lineFigures(s, lineSpec{
		bench:     results.Train,
		prefix:    "au",
		chart:     "/backend,/profile",
		series:    "/format,/shard,/read,/shuffle,/workload,/mode,/workers,/batch,/fetch,/sched,/window,/hedge,/onerror",
		x:         cases.Accel.Key,
		xLabel:    "accelerators",
		y:         results.AU,
		yLabel:    "accelerator utilization",
		threshold: 0.9,
		yMax:      1,
		trim:      true,
	})
}

// ServedFigures returns, for each profile (and faults) of the Serve
// results in s, the requests in flight over the server's run, as
// "storagebench serve -o FILE -interval D" wrote them: one point per
// interval, at its end, with the most in flight dashed above it. It
// returns no figures when s has no interval lines.
func ServedFigures(s *results.Set) ([]*Figure, error) {
	return lineFigures(s, lineSpec{
		bench:  results.Serve,
		prefix: "served",
		chart:  "/profile",
		series: "/faults",
		label: func(p *results.Point, series results.Key) string {
			return strings.TrimSpace("mean in flight " + results.Label(series, false))
		},
		linearX:   true,
		boundName: func(label string) string { return "most at once" + strings.TrimPrefix(label, "mean in flight") },
		x:         results.KeyAt,
		xParse: func(v string) (float64, error) {
			d, err := time.ParseDuration(v)
			return d.Seconds(), err
		},
		xLabel: "seconds since serving started (each interval at its end)",
		y:      results.InFlightMean,
		yLabel: "requests in flight",
		bound:  results.InFlightMax,
	})
}

// A lineSpec says what a line figure draws.
type lineSpec struct {
	bench     string                                            // the benchmark drawn, such as results.Load
	prefix    string                                            // the figures' names start with it
	chart     string                                            // a projection: one figure per key, with the residue
	series    string                                            // a projection: one line per key and file
	label     func(p *results.Point, series results.Key) string // a line's name; nil: the series key's
	x         string                                            // the name key on the x axis, a number
	xParse    func(string) (float64, error)                     // reads x's values; nil: strconv.ParseFloat
	linearX   bool                                              // a linear x axis; else logarithmic
	boundName func(label string) string                         // the bound's legend entry for a line's label; nil: "<label> bound"
	xLabel    string                                            // the x axis's label
	y         string                                            // the unit on the y axis
	yLabel    string                                            // the y axis's label
	bound     string                                            // a unit drawn dashed for each line, if not ""
	threshold float64                                           // a horizontal line, if not 0
	yMax      float64                                           // the y axis's least maximum, if not 0
	trim      bool                                              // the keys every line shares go to the title (trimCommon)
}

// A line is one series of a line figure.
type line struct {
	label  string
	series int // index of the series key, for the colour
	file   int // index of the file, for the marker and dash
	xs     []float64
	points []*results.Point
}

// lineFigures builds the line figures spec asks for.
func lineFigures(s *results.Set, spec lineSpec) ([]*Figure, error) {
	sel, err := s.Filter(".name:" + spec.bench)
	if err != nil {
		return nil, err
	}
	g, err := sel.Group(results.File, spec.chart, spec.series, "/"+spec.x+"@num")
	if err != nil {
		return nil, err
	}
	files := s.Files()
	// Lines are told apart by their labels, which may merge series keys
	// (a window of 4C is 400 items at one worker count, 1600 at another);
	// colours follow the labels in the order first seen.
	var labels []string
	charts := chartsOf(g, func(p *results.Point) []results.Key { return []results.Key{p.Keys[1], p.Keys[4]} })
	var (
		figs        []*Figure
		ids, others [][]string
	)
	for _, c := range charts {
		var lines []*line
		for _, p := range c.points {
			parse := func(v string) (float64, error) { return strconv.ParseFloat(v, 64) }
			if spec.xParse != nil {
				parse = spec.xParse
			}
			x, err := parse(p.NameKey(spec.x))
			if err != nil || !p.Has(spec.y) {
				continue
			}
			label := results.Label(p.Keys[2], false)
			if spec.label != nil {
				label = spec.label(p, p.Keys[2])
			}
			si := slices.Index(labels, label)
			if si < 0 {
				labels = append(labels, label)
				si = len(labels) - 1
			}
			fi := slices.Index(files, p.Config(results.File))
			i := slices.IndexFunc(lines, func(l *line) bool { return l.series == si && l.file == fi })
			if i < 0 {
				if len(files) > 1 {
					label = strings.TrimSpace(files[fi] + " " + label)
				}
				lines = append(lines, &line{label: label, series: si, file: fi})
				i = len(lines) - 1
			}
			lines[i].xs = append(lines[i].xs, x)
			lines[i].points = append(lines[i].points, p)
		}
		if len(lines) == 0 {
			continue
		}
		id := strings.Fields(results.Label(c.key[0], false))
		for j, part := range id {
			_, id[j], _ = strings.Cut(part, "=")
		}
		rest := strings.Fields(results.Label(c.key[1], false))
		ids, others = append(ids, id), append(others, rest)
		common := ""
		if spec.trim {
			common = trimCommon(lines)
		}
		title := "Benchmark" + spec.bench + " " + strings.TrimSpace(results.Label(c.key[0], false)+" "+results.Label(c.key[1], false))
		if len(files) > 1 {
			title += ": " + strings.Join(files, " vs ")
		}
		title += runsNote(c.points)
		if common != "" {
			title += "\n" + common // the lines' shared keys, on a line of their own
		}
		f := &Figure{Title: title}
		f.paint = func(dc draw.Canvas) { paintLines(dc, title, spec, lines) }
		figs = append(figs, f)
	}
	for i, n := range uniqueNames(spec.prefix, ids, others) {
		figs[i].Name = n
	}
	return figs, nil
}

// trimCommon takes the key=value fields that every line's label holds out
// of the labels, when there are several lines, and returns them, for the
// title: a legend of long labels that differ in a key or two is cut off
// at the figure's edge. A line left with no field of its own is the one
// with the defaults of the others' keys, labelled "defaults".
func trimCommon(lines []*line) string {
	if len(lines) < 2 {
		return ""
	}
	count := map[string]int{}
	for _, l := range lines {
		for _, f := range strings.Fields(l.label) {
			count[f]++
		}
	}
	var common []string
	for _, f := range strings.Fields(lines[0].label) {
		if count[f] == len(lines) {
			common = append(common, f)
		}
	}
	if len(common) == 0 {
		return ""
	}
	trimmed := make([]string, len(lines))
	for i, l := range lines {
		var keep []string
		for _, f := range strings.Fields(l.label) {
			if count[f] != len(lines) {
				keep = append(keep, f)
			}
		}
		trimmed[i] = strings.Join(keep, " ")
		if len(keep) == 0 {
			// The line whose other keys are absent: the loader's defaults.
			trimmed[i] = "defaults"
		}
	}
	for i, l := range lines {
		l.label = trimmed[i]
	}
	return strings.Join(common, " ")
}

// errorPoints are a line's points with their confidence intervals, for
// plotter.YErrorBars.
type errorPoints struct {
	plotter.XYs
	plotter.YErrors
}

// paintLines draws a line figure.
func paintLines(dc draw.Canvas, title string, spec lineSpec, lines []*line) {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font.Size = 14
	p.Title.Padding = 0.15 * vg.Inch
	p.X.Label.Text = spec.xLabel
	p.Y.Label.Text = spec.yLabel
	if !spec.linearX {
		p.X.Label.Text += " (log scale)"
		p.X.Scale = plot.LogScale{}
	}
	legend := plot.NewLegend()
	legend.Top, legend.Left = true, true
	legend.ThumbnailWidth = 0.5 * vg.Inch
	legend.TextStyle.Font.Size = 10
	grid := plotter.NewGrid()
	grid.Vertical.Color = nil
	p.Add(grid)

	var xs []float64
	yMax := spec.yMax
	for _, l := range lines {
		colour := plotutil.Color(l.series)
		pts := errorPoints{}
		var bound plotter.XYs
		order := make([]int, len(l.xs))
		for i := range order {
			order[i] = i
		}
		slices.SortFunc(order, func(a, b int) int { return int(math.Copysign(1, l.xs[a]-l.xs[b])) })
		for _, i := range order {
			x, pt := l.xs[i], l.points[i]
			sum, _ := pt.Summary(spec.y)
			pts.XYs = append(pts.XYs, plotter.XY{X: x, Y: sum.Center})
			// One run, or too few for an interval: no error bar.
			lo, hi := sum.Center-sum.Lo, sum.Hi-sum.Center
			if !finite(lo) || !finite(hi) {
				lo, hi = 0, 0
			}
			pts.YErrors = append(pts.YErrors, struct{ Low, High float64 }{lo, hi})
			yMax = max(yMax, sum.Center+hi)
			if !slices.Contains(xs, x) {
				xs = append(xs, x)
			}
			if spec.bound != "" {
				if b := pt.Median(spec.bound); !math.IsNaN(b) {
					bound = append(bound, plotter.XY{X: x, Y: b})
					yMax = max(yMax, b)
				}
			}
		}
		ln, sc, err := plotter.NewLinePoints(pts.XYs)
		if err != nil {
			continue
		}
		ln.Color, ln.Width, ln.Dashes = colour, vg.Points(1.5), plotutil.Dashes(l.file)
		sc.Color, sc.Shape, sc.Radius = colour, plotutil.Shape(l.file), vg.Points(3.5)
		p.Add(ln, sc)
		if eb, err := plotter.NewYErrorBars(pts); err == nil {
			eb.Color = colour
			p.Add(eb)
		}
		legend.Add(l.label, ln, sc)
		if len(bound) > 0 {
			if bl, err := plotter.NewLine(bound); err == nil {
				bl.Color, bl.Width = colour, vg.Points(1)
				bl.Dashes = []vg.Length{vg.Points(1.5), vg.Points(2.5)} // dotted: not a file's dash
				p.Add(bl)
				name := l.label + " bound"
				if spec.boundName != nil {
					name = spec.boundName(l.label)
				}
				legend.Add(name, bl)
			}
		}
	}
	if spec.threshold > 0 {
		if tl, err := plotter.NewLine(plotter.XYs{{X: minOf(xs) / 1.3, Y: spec.threshold}, {X: maxOf(xs) * 1.3, Y: spec.threshold}}); err == nil {
			tl.Color, tl.Dashes = plotutil.Color(6), []vg.Length{vg.Points(2), vg.Points(2)}
			p.Add(tl)
			legend.Add(fmt.Sprintf("valid at >= %.0f%% (MLPerf Storage)", 100*spec.threshold), tl)
		}
	}
	slices.Sort(xs)
	var ticks []plot.Tick
	for _, x := range xs {
		ticks = append(ticks, plot.Tick{Value: x, Label: sig3(x)})
	}
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	switch {
	case len(xs) > 0 && spec.linearX:
		pad := max(xs[len(xs)-1]-xs[0], 1) * 0.05
		p.X.Min, p.X.Max = xs[0]-pad, xs[len(xs)-1]+pad
		if len(ticks) > 12 {
			p.X.Tick.Marker = plot.DefaultTicks{}
		}
	case len(xs) > 0:
		p.X.Min, p.X.Max = xs[0]/1.3, xs[len(xs)-1]*1.3
	}
	p.Y.Min, p.Y.Max = 0, yMax*1.08
	const legendRoom = 3.2 * vg.Inch
	p.Draw(draw.Crop(dc, 0, -legendRoom, 0, 0))
	legend.Draw(draw.Crop(dc, Width-legendRoom+0.15*vg.Inch, 0, 0, -0.5*vg.Inch))
}

// finite reports whether x is neither NaN nor infinite.
func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

func minOf(xs []float64) float64 {
	if len(xs) == 0 {
		return 1
	}
	return slices.Min(xs)
}

func maxOf(xs []float64) float64 {
	if len(xs) == 0 {
		return 1
	}
	return slices.Max(xs)
}

// schedulerLabel names a Load line by its mode and scheduler, writing the
// item scheduler's window as a multiple of C, the reads in flight, when it
// is one: "mode=async sched=item window=4C hedge=p90".
func schedulerLabel(p *results.Point, series results.Key) string {
	label := results.Label(series, false)
	w, err := strconv.Atoi(p.NameKey(cases.Window.Key))
	if err != nil {
		return label
	}
	if c := cases.InFlightOf(p); c > 0 && w%c == 0 {
		return strings.Replace(label, fmt.Sprintf("%s=%d", cases.Window.Key, w), fmt.Sprintf("%s=%dC", cases.Window.Key, w/c), 1)
	}
	return label
}
