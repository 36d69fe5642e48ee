package results

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"golang.org/x/perf/benchfmt"
	"golang.org/x/perf/benchmath"
	"golang.org/x/perf/benchproc"
)

// A Key is one value of a projection, such as backend=fakes3 profile=s3
// for the projection "/backend,/profile". Keys of one projection compare
// == when their values are equal, so they can key maps.
type Key = benchproc.Key

// Confidence is the confidence level of the intervals [Point.Summary]
// gives, benchstat's default.
const Confidence = 0.95

// A Grouping is a set's results grouped into points along dimensions.
type Grouping struct {
	// Points are the points in the order of their keys: dimension by
	// dimension, then the residue.
	Points []*Point

	projs []*benchproc.Projection // one per dimension, then the residue
}

// A Point is the runs of one benchmark configuration: the results that
// share every key of a grouping's dimensions and its residue.
type Point struct {
	// Keys holds the point's key in each dimension of the grouping, then
	// its residue: the name keys and file configuration lines that no
	// dimension names.
	Keys []Key

	first  *benchfmt.Result
	runs   int
	values map[string][]float64 // by unit as written, in the order read
	iters  []int
}

// Group groups the results of s into points along dims, projections in
// benchproc's syntax such as "/backend,/profile", "/workers@num" or
// ".file", and along the residue: every name key and file configuration
// line that no dimension names, so that results that differ in anything
// else are never summarised together (benchstat's rule). Results with the
// same keys are the runs of one point. A dimension's fixed order, as in
// "/mode@(sync async)", also filters out results with other values.
func (s *Set) Group(dims ...string) (*Grouping, error) {
	var parser benchproc.ProjectionParser
	// Fixed orders add their filters to this one.
	filter, err := benchproc.NewFilter("*")
	if err != nil {
		return nil, err
	}
	g := &Grouping{}
	for _, d := range dims {
		p, err := parser.Parse(d, filter)
		if err != nil {
			return nil, fmt.Errorf("projection %q: %w", d, err)
		}
		g.projs = append(g.projs, p)
	}
	if s.ignore != "" {
		if _, err := parser.Parse(s.ignore, filter); err != nil {
			return nil, fmt.Errorf("ignore %q: %w", s.ignore, err)
		}
	}
	g.projs = append(g.projs, parser.Residue())

	byKeys := make(map[string]*Point)
	for _, r := range s.results {
		if ok, _ := filter.Apply(r.Clone()); !ok {
			continue
		}
		keys := make([]Key, len(g.projs))
		var id strings.Builder
		for i, p := range g.projs {
			keys[i] = p.Project(r)
			fmt.Fprintf(&id, "%q\x00", keys[i].String())
		}
		pt := byKeys[id.String()]
		if pt == nil {
			pt = &Point{Keys: keys, first: r, values: make(map[string][]float64)}
			byKeys[id.String()] = pt
			g.Points = append(g.Points, pt)
		}
		pt.add(r)
	}
	slices.SortStableFunc(g.Points, func(a, b *Point) int {
		for i := range a.Keys {
			if a.Keys[i].Less(b.Keys[i]) {
				return -1
			}
			if b.Keys[i].Less(a.Keys[i]) {
				return 1
			}
		}
		return 0
	})
	return g, nil
}

// Keys returns the distinct keys of dimension i, in the projection's
// order; i equal to the number of dimensions gives the residues.
func (g *Grouping) Keys(i int) []Key {
	var keys []Key
	seen := make(map[Key]bool)
	for _, p := range g.Points {
		if k := p.Keys[i]; !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	benchproc.SortKeys(keys)
	return keys
}

// add adds a run to p.
func (p *Point) add(r *benchfmt.Result) {
	p.runs++
	p.iters = append(p.iters, r.Iters)
	for _, v := range r.Values {
		unit, x := v.Unit, v.Value
		if v.OrigUnit != "" {
			unit, x = v.OrigUnit, v.OrigValue
		}
		p.values[unit] = append(p.values[unit], x)
	}
}

// Runs returns how many runs the point summarises.
func (p *Point) Runs() int { return p.runs }

// Iters returns the iteration count of each run, in the order read.
func (p *Point) Iters() []int { return slices.Clone(p.iters) }

// Name returns the point's full benchmark name, without "Benchmark", as
// in "Load/backend=mem/profile=none/mode=async/workers=8/batch=50-2".
func (p *Point) Name() string { return p.first.Name.String() }

// Base returns the point's benchmark name without "Benchmark" and without
// sub-benchmark keys, such as [Load].
func (p *Point) Base() string {
	base, _ := p.first.Name.Parts()
	return string(base)
}

// NameKey returns the value of key in the point's name ("8" for
// "workers" in ".../workers=8/..."); [KeyGOMAXPROCS] gives the "-N"
// suffix; "" when the name does not have key.
func (p *Point) NameKey(key string) string {
	_, parts := p.first.Name.Parts()
	for _, part := range parts {
		s := string(part)
		if n, ok := strings.CutPrefix(s, "-"); ok {
			if key == KeyGOMAXPROCS {
				return n
			}
			continue
		}
		if k, v, ok := strings.Cut(strings.TrimPrefix(s, "/"), "="); ok && k == key {
			return v
		}
	}
	return ""
}

// Config returns the value of the configuration line key the point's
// results carry, or of a key a reader added, such as [File].
func (p *Point) Config(key string) string { return p.first.GetConfig(key) }

// Has reports whether the point reports unit.
func (p *Point) Has(unit string) bool { return len(p.values[unit]) > 0 }

// Units returns the units the point reports, sorted.
func (p *Point) Units() []string {
	units := make([]string, 0, len(p.values))
	for u := range p.values {
		units = append(units, u)
	}
	slices.Sort(units)
	return units
}

// Values returns the values of unit over the point's runs, in the order
// read, in the unit as written (nanoseconds for "getitem-p99-ns").
func (p *Point) Values(unit string) []float64 { return slices.Clone(p.values[unit]) }

// Sample returns the point's values of unit as a benchmath sample, or nil
// when the point does not report unit.
func (p *Point) Sample(unit string) *benchmath.Sample {
	xs := p.values[unit]
	if len(xs) == 0 {
		return nil
	}
	return benchmath.NewSample(slices.Clone(xs), &benchmath.DefaultThresholds)
}

// Median returns the median of unit over the point's runs, NaN when the
// point does not report unit.
func (p *Point) Median(unit string) float64 {
	s := p.Sample(unit)
	if s == nil {
		return math.NaN()
	}
	return benchmath.AssumeNothing.Summary(s, Confidence).Center
}

// Summary returns the median of unit over the point's runs and its
// confidence interval, as benchstat computes them (no assumption on the
// distribution), and whether the point reports unit.
func (p *Point) Summary(unit string) (benchmath.Summary, bool) {
	s := p.Sample(unit)
	if s == nil {
		return benchmath.Summary{}, false
	}
	return benchmath.AssumeNothing.Summary(s, Confidence), true
}

// Compare tests whether the runs of a and b for unit come from the same
// distribution, as benchstat does (a Mann-Whitney U-test); ok is false
// when either does not report unit.
func Compare(a, b *Point, unit string) (c benchmath.Comparison, ok bool) {
	sa, sb := a.Sample(unit), b.Sample(unit)
	if sa == nil || sb == nil {
		return benchmath.Comparison{}, false
	}
	return benchmath.AssumeNothing.Compare(sa, sb), true
}

// Label returns a key as "k=v" pairs separated by spaces, leaving out
// empty values: "backend=fakes3 profile=s3". A name key "/k" is written
// "k"; a residue's remaining name keeps its sub-benchmark keys, as in
// "batch=50", without its base name or GOMAXPROCS suffix; file
// configuration lines are left out unless withConfig.
func Label(k Key, withConfig bool) string {
	var parts []string
	for _, f := range k.Projection().FlattenedFields() {
		v := k.Get(f)
		if v == "" {
			continue
		}
		switch {
		case f.Name == ".fullname":
			parts = append(parts, nameParts(v)...)
		case f.Name == ".name" || f.Name == File:
			parts = append(parts, v)
		case strings.HasPrefix(f.Name, "/"):
			parts = append(parts, f.Name[1:]+"="+v)
		case strings.HasPrefix(f.Name, "."):
			parts = append(parts, f.Name[1:]+"="+v)
		case withConfig:
			parts = append(parts, f.Name+"="+v)
		}
	}
	return strings.Join(parts, " ")
}

// nameParts returns the sub-benchmark parts of a full name, "batch=50"
// from "Load/batch=50-2".
func nameParts(full string) []string {
	_, parts := benchfmt.Name(full).Parts()
	var out []string
	for _, p := range parts {
		s := string(p)
		if strings.HasPrefix(s, "-") {
			continue
		}
		if s = strings.TrimPrefix(s, "/"); s != "" {
			out = append(out, s)
		}
	}
	return out
}
