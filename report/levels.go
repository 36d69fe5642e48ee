package report

import (
	"fmt"
	"image/color"
	"math"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/storagebench/storagebench/cases"
	"github.com/storagebench/storagebench/loader"
	"github.com/storagebench/storagebench/results"
)

// Levels are the loader's levels, top-down, as the benchmarks name them.
func Levels() []string {
	names := make([]string, loader.NumLevels)
	for l := range loader.NumLevels {
		names[l] = l.String()
	}
	return names
}

// The defaults of LevelOptions: the seed's five levels bottom-up, and the
// seed's four statistics.
var (
	DefaultLevels = []string{"getitem", "fetch", "worker", "epoch", "run"}
	DefaultStats  = []string{"mean", "median", "min", "max"}
)

// LevelOptions says what the per-level figures draw.
type LevelOptions struct {
	Levels []string // levels, in bar order; nil for DefaultLevels
	Stats  []string // statistics of each level, in bar order; nil for DefaultStats
}

// LevelFigures returns the seed's per-level figure for each backend,
// profile and other configuration of the Load results in s (and each
// file, when s has several): a panel per mode, a group per worker count,
// and a bar per level and statistic, the median over the runs, in
// seconds on a log axis. A level asked for that no result reports is
// named on the figure with the reason.
func LevelFigures(s *results.Set, opts LevelOptions) ([]*Figure, error) {
	if opts.Levels == nil {
		opts.Levels = DefaultLevels
	}
	if opts.Stats == nil {
		opts.Stats = DefaultStats
	}
	load, err := s.Filter(".name:" + results.Load + " /mode:/./ /workers:/^[0-9]+$/")
	if err != nil {
		return nil, err
	}
	g, err := load.Group(results.File, "/backend,/profile", "/mode", "/workers@num")
	if err != nil {
		return nil, err
	}
	multi := len(s.Files()) > 1
	charts := chartsOf(g, func(p *results.Point) []results.Key { return []results.Key{p.Keys[0], p.Keys[1], p.Keys[4]} })
	var (
		figs        []*Figure
		ids, others [][]string
	)
	for _, c := range charts {
		c := c
		id := []string{c.points[0].NameKey(cases.Backend.Key), c.points[0].NameKey(cases.Profile.Key)}
		rest := strings.Fields(results.Label(c.key[2], false))
		if multi {
			rest = append(rest, c.points[0].Config(results.File))
		}
		ids, others = append(ids, id), append(others, rest)
		title := "BenchmarkLoad " + results.Label(c.key[1], false)
		if r := results.Label(c.key[2], false); r != "" {
			title += " " + r
		}
		if multi {
			title = c.points[0].Config(results.File) + ": " + title
		}
		title += runsNote(c.points)
		f := &Figure{Title: title}
		f.paint = func(dc draw.Canvas) { paintLevels(dc, title, c.points, opts) }
		figs = append(figs, f)
	}
	for i, n := range uniqueNames("levels", ids, others) {
		figs[i].Name = n
	}
	return figs, nil
}

// A chart is the points drawn on one figure.
type chart struct {
	key    []results.Key
	points []*results.Point
}

// chartsOf splits a grouping's points into charts by the keys chartKey
// returns, in the grouping's order.
func chartsOf(g *results.Grouping, chartKey func(*results.Point) []results.Key) []*chart {
	var charts []*chart
	for _, p := range g.Points {
		k := chartKey(p)
		i := slices.IndexFunc(charts, func(c *chart) bool { return slices.Equal(c.key, k) })
		if i < 0 {
			charts = append(charts, &chart{key: k})
			i = len(charts) - 1
		}
		charts[i].points = append(charts[i].points, p)
	}
	return charts
}

// runsNote says over how many runs the points' medians were taken.
func runsNote(points []*results.Point) string {
	lo, hi := math.MaxInt, 0
	for _, p := range points {
		lo, hi = min(lo, p.Runs()), max(hi, p.Runs())
	}
	switch {
	case hi == 1:
		return ": 1 run"
	case lo == hi:
		return fmt.Sprintf(": median of %d runs", lo)
	}
	return fmt.Sprintf(": median of %d to %d runs", lo, hi)
}

// missingReason says, in short lines, why no point reports level.
func missingReason(level string, points []*results.Point) []string {
	for _, p := range points {
		if slices.Contains(strings.Fields(p.Config(results.ConfigUntimedLevels)), level) {
			return []string{"not timed: a round", "is larger than an epoch"}
		}
	}
	switch level {
	case loader.Run.String():
		return []string{"one sample per run,", "reported as " + results.RunNs}
	case loader.Decode.String():
		for _, p := range points {
			if d := p.NameKey(cases.Decode.Key); d != "" && d != "none" {
				return []string{"no samples"}
			}
		}
		return []string{"items not decoded", "(decode=none)"}
	}
	return []string{"no samples: runs too", "short for this level"}
}

// levelColors gives each level a hue, by loader.Level, so that a level
// keeps its colour whatever the options ask for (ColorBrewer's Paired and
// Dark2 hues).
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

// A barStyle is how a statistic's bars look in its level's hue. Each
// statistic differs from its neighbours in kind, not only in shade: min
// is hollow, median a light tint, mean the full hue, p99 and max darker,
// max also outlined in black.
type barStyle struct {
	hollow  bool    // outline only, white inside
	shade   float64 // towards white (> 0) or black (< 0)
	outline color.Color
}

var statStyles = map[string]barStyle{
	"min":    {hollow: true},
	"median": {shade: 0.5},
	"mean":   {},
	"p99":    {shade: -0.35},
	"max":    {shade: -0.6, outline: color.Black},
}

// shade mixes c towards white (t > 0) or black (t < 0).
func shade(c color.RGBA, t float64) color.RGBA {
	target := 255.0
	if t < 0 {
		t, target = -t, 0
	}
	mix := func(v uint8) uint8 { return uint8(math.Round(float64(v)*(1-t) + target*t)) }
	return color.RGBA{mix(c.R), mix(c.G), mix(c.B), 0xff}
}

// bars is the bars of one level and statistic, one per worker count,
// drawn from the bottom of the plot so that a log axis can show them.
// It implements plot.Plotter and plot.Thumbnailer.
type bars struct {
	values []float64 // seconds per worker count; NaN where missing
	offset float64   // the bars' left edge, from the group centre, in x units
	width  float64   // the bars' width in x units
	hue    color.RGBA
	style  barStyle
}

// Plot draws the bars. Values that are missing or not positive are left out.
func (b *bars) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	for i, v := range b.values {
		if !(v > 0) || math.IsInf(v, 1) {
			continue
		}
		x0 := trX(float64(i) + b.offset)
		x1 := trX(float64(i) + b.offset + b.width)
		y := trY(v)
		b.box(&c, c.ClipPolygonY([]vg.Point{{X: x0, Y: c.Min.Y}, {X: x0, Y: y}, {X: x1, Y: y}, {X: x1, Y: c.Min.Y}}))
	}
}

// box fills and outlines one bar's polygon in the bars' style.
func (b *bars) box(c *draw.Canvas, pts []vg.Point) {
	fill, line := color.Color(shade(b.hue, b.style.shade)), b.style.outline
	if b.style.hollow {
		fill, line = color.White, b.hue
	}
	c.FillPolygon(fill, pts)
	if line != nil && len(pts) > 0 {
		c.StrokeLines(draw.LineStyle{Color: line, Width: vg.Points(1)}, append(pts, pts[0]))
	}
}

// Thumbnail draws the legend's swatch.
func (b *bars) Thumbnail(c *draw.Canvas) {
	r := c.Rectangle
	b.box(c, []vg.Point{r.Min, {X: r.Min.X, Y: r.Max.Y}, r.Max, {X: r.Max.X, Y: r.Min.Y}})
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
			ticks[i].Label = FormatSeconds(ticks[i].Value)
		}
	}
	return ticks
}

// FormatSeconds formats a duration in seconds to three significant digits
// with the largest unit among s, ms, µs and ns that keeps it at least 1.
func FormatSeconds(s float64) string {
	unit, scale := "ns", 1e9
	switch a := math.Abs(s); {
	case a >= 1 || a == 0:
		unit, scale = "s", 1
	case a >= 1e-3:
		unit, scale = "ms", 1e3
	case a >= 1e-6:
		unit, scale = "µs", 1e6
	}
	return sig3(s*scale) + unit
}

// sig3 formats x to three significant digits, without an exponent.
func sig3(x float64) string {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(x, 'g', 3, 64), 64)
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// Layout of a figure, besides the panels.
const (
	titleHeight = 0.45 * vg.Inch
	legendWidth = 1.9 * vg.Inch
	barGroup    = 0.86 // the width of a worker group's bars, in x units
	levelGap    = 0.6  // the gap between levels within a group, in bar widths
	barFill     = 0.88 // the part of its slot a bar fills
)

// paintLevels draws a per-level figure of points: a panel per mode, one
// above the other, a group per worker count, and in each group a bar per
// level and statistic in the order given.
func paintLevels(dc draw.Canvas, title string, points []*results.Point, opts LevelOptions) {
	type cell struct {
		mode    string
		workers int
	}
	var (
		modes   []string
		workers []int
		byCell  = make(map[cell]*results.Point)
	)
	for _, p := range points {
		w, _ := strconv.Atoi(p.NameKey(cases.Workers.Key))
		m := p.NameKey(cases.Mode.Key)
		byCell[cell{m, w}] = p
		if !slices.Contains(modes, m) {
			modes = append(modes, m)
		}
		if !slices.Contains(workers, w) {
			workers = append(workers, w)
		}
	}
	slices.Sort(workers)

	type levelStat struct{ level, stat string }
	var (
		drawn   []levelStat
		missing [][]string // a level, then why it is not drawn
		lo, hi  = math.Inf(1), math.Inf(-1)
	)
	for _, l := range opts.Levels {
		any := false
		for _, s := range opts.Stats {
			found := false
			for _, p := range points {
				if v := p.Median(results.LevelUnit(l, s)) * 1e-9; v > 0 && !math.IsInf(v, 1) {
					lo, hi, found = min(lo, v), max(hi, v), true
				}
			}
			if found {
				drawn = append(drawn, levelStat{l, s})
				any = true
			}
		}
		if !any {
			missing = append(missing, append([]string{l + ":"}, missingReason(l, points)...))
		}
	}
	if len(drawn) == 0 {
		lo, hi = 1e-6, 1
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
	slot := barGroup / (float64(len(drawn)) + levelGap*float64(max(nLevels-1, 0)))
	legend := plot.NewLegend()
	series := make([]*bars, len(drawn))
	li := -1
	for i, ls := range drawn {
		if i == 0 || ls.level != drawn[i-1].level {
			li++
		}
		series[i] = &bars{
			offset: -barGroup/2 + (float64(i)+levelGap*float64(li))*slot + slot*(1-barFill)/2,
			width:  slot * barFill,
			hue:    levelColors[slices.Index(Levels(), ls.level)],
			style:  statStyles[ls.stat],
		}
		legend.Add(ls.level+" "+ls.stat, series[i])
	}

	plots := make([][]*plot.Plot, len(modes))
	for mi, mode := range modes {
		p := plot.New()
		p.Title.Text = "mode=" + mode
		p.X.Min, p.X.Max = -0.5, float64(len(workers))-0.5
		p.Y.Min, p.Y.Max = lo, hi
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = secondTicks{}
		p.Y.Label.Text = "time (log scale)"
		var ticks []plot.Tick
		for wi, w := range workers {
			label := fmt.Sprintf("%d workers", w)
			if pt := byCell[cell{mode, w}]; pt != nil {
				if r := pt.Median(results.ItemsPerSecond); !math.IsNaN(r) {
					label += "\n" + sig3(r) + " items/s"
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
			b.values = make([]float64, len(workers))
			for wi, w := range workers {
				b.values[wi] = math.NaN()
				if pt := byCell[cell{mode, w}]; pt != nil {
					b.values[wi] = pt.Median(results.LevelUnit(ls.level, ls.stat)) * 1e-9
				}
			}
			p.Add(&b)
		}
		plots[mi] = []*plot.Plot{p}
	}
	if len(plots) == 0 {
		return
	}

	sty := plots[0][0].Title.TextStyle
	sty.Font.Size = 14
	sty.YAlign = draw.YCenter
	dc.FillText(sty, vg.Point{X: dc.Center().X, Y: dc.Max.Y - titleHeight/2}, title)

	panels := draw.Crop(dc, 0, -legendWidth, 0, -titleHeight)
	tiles := draw.Tiles{Rows: len(modes), Cols: 1, PadY: 0.15 * vg.Inch, PadLeft: 0.05 * vg.Inch, PadBottom: 0.05 * vg.Inch}
	canvases := plot.Align(plots, tiles, panels)
	for mi := range plots {
		plots[mi][0].Draw(canvases[mi][0])
	}

	// The legend, then the levels not drawn and why.
	const noteLine = 0.15 * vg.Inch
	lines := 0
	for _, m := range missing {
		lines += len(m)
	}
	noteHeight := vg.Length(0)
	if lines > 0 {
		noteHeight = vg.Length(lines+2) * noteLine
	}
	legendArea := draw.Crop(dc, Width-legendWidth+0.15*vg.Inch, 0, noteHeight, -titleHeight-0.2*vg.Inch)
	legend.Top, legend.Left = true, true
	legend.ThumbnailWidth = 0.3 * vg.Inch
	if len(series) > 0 {
		per := legendArea.Size().Y / vg.Length(len(series))
		legend.TextStyle.Font.Size = min(10, per*0.75)
	}
	legend.Draw(legendArea)
	if len(missing) > 0 {
		note := sty
		note.Font.Size = 8
		note.XAlign, note.YAlign = draw.XLeft, draw.YTop
		x := Width - legendWidth + 0.15*vg.Inch
		y := dc.Min.Y + noteHeight
		dc.FillText(note, vg.Point{X: x, Y: y}, "Not drawn:")
		for _, m := range missing {
			for i, line := range m {
				y -= noteLine
				indent := "  "
				if i > 0 {
					indent = "    "
				}
				dc.FillText(note, vg.Point{X: x, Y: y}, indent+line)
			}
		}
	}
}
