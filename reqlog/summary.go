package reqlog

import (
	"cmp"
	"slices"
	"time"
)

// An OpSummary is one operation's requests in a log.
type OpSummary struct {
	Op       string
	Requests int64
	Bytes    int64
	// Statuses counts the requests by status.
	Statuses map[string]int64
	// OK and OKBytes are the requests answered 200 or 206, and their
	// bytes: the responses that carry data.
	OK, OKBytes int64
	// FirstByte and Total are the 50th and 99th percentiles of the times
	// to first byte (of the requests that had one) and in all.
	FirstByteP50, FirstByteP99, TotalP50, TotalP99 time.Duration
}

// A Summary is what a log holds: its span, its operations and its
// connections.
type Summary struct {
	Start, End time.Time
	Ops        []OpSummary // by name
	Conns      int         // distinct connections
	// InFlightMean is the requests in flight over the span, each instant
	// weighing the same; InFlightMax the most at once.
	InFlightMean float64
	InFlightMax  int
}

// Op returns op's part of s, zero if the log has none.
func (s Summary) Op(op string) OpSummary {
	for _, o := range s.Ops {
		if o.Op == op {
			return o
		}
	}
	return OpSummary{Op: op}
}

// Summarize returns what recs hold.
func Summarize(recs []Record) Summary {
	var s Summary
	if len(recs) == 0 {
		return s
	}
	byOp := map[string]*OpSummary{}
	first, total := map[string][]time.Duration{}, map[string][]time.Duration{}
	conns := map[string]bool{}
	s.Start, s.End = recs[0].Start, recs[0].End()
	for _, r := range recs {
		o := byOp[r.Op]
		if o == nil {
			o = &OpSummary{Op: r.Op, Statuses: map[string]int64{}}
			byOp[r.Op] = o
		}
		o.Requests++
		o.Bytes += r.Bytes
		o.Statuses[r.Status]++
		if r.Status == "200" || r.Status == "206" {
			o.OK++
			o.OKBytes += r.Bytes
		}
		if r.FirstByte > 0 {
			first[r.Op] = append(first[r.Op], r.FirstByte)
		}
		total[r.Op] = append(total[r.Op], r.Total)
		if r.Conn != "" {
			conns[r.Conn] = true
		}
		if r.Start.Before(s.Start) {
			s.Start = r.Start
		}
		if e := r.End(); e.After(s.End) {
			s.End = e
		}
	}
	for op, o := range byOp {
		o.FirstByteP50, o.FirstByteP99 = quantile(first[op], 0.5), quantile(first[op], 0.99)
		o.TotalP50, o.TotalP99 = quantile(total[op], 0.5), quantile(total[op], 0.99)
		s.Ops = append(s.Ops, *o)
	}
	slices.SortFunc(s.Ops, func(a, b OpSummary) int { return cmp.Compare(a.Op, b.Op) })
	s.Conns = len(conns)
	var busy time.Duration // the sum of every request's time: in flight, integrated
	for _, r := range recs {
		busy += r.Total
	}
	if span := s.End.Sub(s.Start); span > 0 {
		s.InFlightMean = float64(busy) / float64(span)
	}
	for _, e := range edges(recs) {
		s.InFlightMax = max(s.InFlightMax, e.n)
	}
	return s
}

// quantile returns the q-quantile of ds by nearest rank; it sorts ds.
func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	k := int(float64(len(ds))*q+0.999999999) - 1
	return ds[min(max(k, 0), len(ds)-1)]
}

// edge is the requests in flight from at on.
type edge struct {
	at time.Time
	n  int
}

// edges returns the requests in flight after each start and end, in time
// order; a request that ends at the instant another starts is gone first.
func edges(recs []Record) []edge {
	type ev struct {
		at time.Time
		d  int
	}
	evs := make([]ev, 0, 2*len(recs))
	for _, r := range recs {
		evs = append(evs, ev{r.Start, +1}, ev{r.End(), -1})
	}
	slices.SortFunc(evs, func(a, b ev) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return cmp.Compare(a.d, b.d)
	})
	out := make([]edge, len(evs))
	n := 0
	for i, e := range evs {
		n += e.d
		out[i] = edge{e.at, n}
	}
	return out
}

// A Point is the requests in flight over one step of time.
type Point struct {
	At   time.Duration // the step's start, since the log's first request
	Mean float64       // each instant of the step weighing the same
	Max  int           // the most at once
}

// InFlight returns the requests in flight over the log's span, step by
// step (the last step cut short by the end).
func InFlight(recs []Record, step time.Duration) []Point {
	if len(recs) == 0 || step <= 0 {
		return nil
	}
	es := edges(recs)
	start, end := es[0].at, es[len(es)-1].at
	var pts []Point
	n, i := 0, 0 // in flight at t; the next edge
	for t := start; t.Before(end); t = t.Add(step) {
		stop := t.Add(step)
		if stop.After(end) {
			stop = end
		}
		for i < len(es) && !es[i].at.After(t) { // the changes at t itself
			n = es[i].n
			i++
		}
		p := Point{At: t.Sub(start), Max: n}
		var area float64
		at := t
		for i < len(es) && es[i].at.Before(stop) {
			area += float64(n) * float64(es[i].at.Sub(at))
			at, n = es[i].at, es[i].n
			p.Max = max(p.Max, n)
			i++
		}
		area += float64(n) * float64(stop.Sub(at))
		if d := stop.Sub(t); d > 0 {
			p.Mean = area / float64(d)
		}
		pts = append(pts, p)
	}
	return pts
}
