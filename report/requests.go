package report

import (
	"fmt"
	"image/color"
	"slices"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/storagebench/storagebench/reqlog"
)

// RequestFigures returns the figures of a per-request log (see package
// reqlog) named name: the requests in flight over the log's span (the
// mean of each of about 200 steps, and the most at once), and a timeline
// with a row for each connection (or fetcher) and a bar for each request
// on it, from its start to its end, its first byte marked, so that a
// stall is seen: a row with a long bar, or a gap in every row. It returns
// no figures for an empty log.
func RequestFigures(name string, recs []reqlog.Record) []*Figure {
	if len(recs) == 0 {
		return nil
	}
	s := reqlog.Summarize(recs)
	span := s.End.Sub(s.Start)
	step := max(span/200, time.Millisecond)
	pts := reqlog.InFlight(recs, step)
	base := fileName(name)
	inflight := &Figure{
		Name:  "requests-inflight-" + base,
		Title: fmt.Sprintf("%s: requests in flight (%d requests, mean %.1f, most %d)", name, len(recs), s.InFlightMean, s.InFlightMax),
	}
	inflight.paint = func(dc draw.Canvas) { paintInFlight(dc, inflight.Title, step, pts) }
	timeline := &Figure{
		Name:  "requests-timeline-" + base,
		Title: fmt.Sprintf("%s: each connection's requests (%d connections)", name, max(s.Conns, 1)),
	}
	timeline.paint = func(dc draw.Canvas) { paintTimeline(dc, timeline.Title, s.Start, recs) }
	return []*Figure{inflight, timeline}
}

// paintInFlight draws the requests in flight step by step.
func paintInFlight(dc draw.Canvas, title string, step time.Duration, pts []reqlog.Point) {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font.Size = 14
	p.X.Label.Text = fmt.Sprintf("seconds since the first request (steps of %v)", step)
	p.Y.Label.Text = "requests in flight"
	p.Y.Min = 0
	mean, most := make(plotter.XYs, len(pts)), make(plotter.XYs, len(pts))
	for i, pt := range pts {
		x := pt.At.Seconds()
		mean[i] = plotter.XY{X: x, Y: pt.Mean}
		most[i] = plotter.XY{X: x, Y: float64(pt.Max)}
	}
	grid := plotter.NewGrid()
	grid.Vertical.Color = nil
	p.Add(grid)
	if l, err := plotter.NewLine(most); err == nil {
		l.Color = color.RGBA{R: 160, G: 160, B: 160, A: 255}
		l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		p.Add(l)
		p.Legend.Add("most at once", l)
	}
	if l, err := plotter.NewLine(mean); err == nil {
		l.Color = color.RGBA{R: 31, G: 119, B: 180, A: 255}
		l.Width = vg.Points(1.5)
		p.Add(l)
		p.Legend.Add("mean", l)
	}
	p.Legend.Top = true
	p.Draw(dc)
}

// timeline draws each request as a bar on its connection's row.
type timeline struct {
	start time.Time
	rows  map[string]int
	recs  []reqlog.Record
}

// Plot implements plot.Plotter.
func (t *timeline) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	ok := color.RGBA{R: 31, G: 119, B: 180, A: 255}
	bad := color.RGBA{R: 214, G: 39, B: 40, A: 255}
	for _, r := range t.recs {
		y := trY(float64(t.rows[r.Conn]))
		x0, x1 := trX(r.Start.Sub(t.start).Seconds()), trX(r.End().Sub(t.start).Seconds())
		if x1-x0 < vg.Points(0.5) {
			x1 = x0 + vg.Points(0.5)
		}
		style := draw.LineStyle{Color: ok, Width: vg.Points(2.5)}
		if r.Status != "200" && r.Status != "206" {
			style.Color = bad
		}
		c.StrokeLine2(style, x0, y, x1, y)
		if r.FirstByte > 0 {
			xf := trX(r.Start.Add(r.FirstByte).Sub(t.start).Seconds())
			c.StrokeLine2(draw.LineStyle{Color: color.Black, Width: vg.Points(0.5)}, xf, y-vg.Points(2), xf, y+vg.Points(2))
		}
	}
}

// DataRange implements plot.DataRanger.
func (t *timeline) DataRange() (xmin, xmax, ymin, ymax float64) {
	xmax = 0
	for _, r := range t.recs {
		xmax = max(xmax, r.End().Sub(t.start).Seconds())
	}
	return 0, xmax, -1, float64(len(t.rows))
}

// paintTimeline draws the timeline of recs, a row for each connection in
// the order of its first request (a request with none gets a row of its
// own, "no connection").
func paintTimeline(dc draw.Canvas, title string, start time.Time, recs []reqlog.Record) {
	sorted := slices.Clone(recs)
	slices.SortStableFunc(sorted, func(a, b reqlog.Record) int { return a.Start.Compare(b.Start) })
	rows := map[string]int{}
	for i := range sorted {
		if sorted[i].Conn == "" {
			sorted[i].Conn = "no connection"
		}
		if _, seen := rows[sorted[i].Conn]; !seen {
			rows[sorted[i].Conn] = len(rows)
		}
	}
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font.Size = 14
	p.X.Label.Text = "seconds since the first request (a bar a request, start to end; a tick at its first byte; red: not 200)"
	p.Y.Label.Text = "connection, in the order of its first request"
	p.Add(&timeline{start: start, rows: rows, recs: sorted})
	p.Y.Tick.Marker = connTicks(len(rows))
	p.Draw(dc)
}

// connTicks labels up to about 10 rows.
type connTicks int

// Ticks implements plot.Ticker.
func (n connTicks) Ticks(lo, hi float64) []plot.Tick {
	every := max(1, int(n)/10)
	var ts []plot.Tick
	for i := 0; i < int(n); i += every {
		ts = append(ts, plot.Tick{Value: float64(i), Label: fmt.Sprint(i + 1)})
	}
	return ts
}
