package report

import (
	"bytes"
	"fmt"
	"html/template"
	"io"
	"math"
	"slices"
	"strings"

	"github.com/storagebench/storagebench/results"
)

// A Table is a benchstat-style table: one unit's median and confidence
// interval for each configuration (rows) and file (columns), and with
// several files, each file's change from the first with its p-value.
type Table struct {
	ID      string // an HTML id, from the unit
	Unit    string
	Caption string
	Files   []string
	Rows    []TableRow
}

// A TableRow is one configuration of a Table.
type TableRow struct {
	Config string   // the benchmark and its name keys
	Cells  []string // per file: "median ±ci%", or "" when not measured
	Deltas []string // per file after the first: "+12.3% (p=0.002 n=6+6)", "~ (p=0.4 n=6+6)"
}

// The tables of a report: a unit, what it is, and the benchmark that
// reports it.
var tableUnits = []struct{ bench, unit, caption string }{
	{results.Load, results.ItemsPerSecond, "Items per second delivered by the loader (higher is better)"},
	{results.Load, results.Efficiency, "Efficiency: items/s over the storage's bound (higher is better, at most 1)"},
	{results.Load, results.LevelUnit("getitem", "p99"), "Time to get one item, 99th percentile (lower is better)"},
	{results.Raw, results.ItemsPerSecond, "Raw reads per second, no loader (higher is better)"},
	{results.Train, results.AU, "Accelerator utilization (higher is better; valid at 0.90 and above)"},
}

// Tables returns the report's tables over s, leaving out those no result
// reports.
func Tables(s *results.Set) ([]*Table, error) {
	var tables []*Table
	files := s.Files()
	for _, tu := range tableUnits {
		sel, err := s.Filter(".name:" + tu.bench)
		if err != nil {
			return nil, err
		}
		g, err := sel.Group(results.File)
		if err != nil {
			return nil, err
		}
		t := &Table{ID: "table-" + fileName(tu.bench+"-"+tu.unit), Unit: tu.unit, Caption: tu.caption, Files: files}
		rows := make(map[results.Key]*TableRow)
		byRow := make(map[results.Key][]*results.Point)
		var order []results.Key
		for _, p := range g.Points {
			if !p.Has(tu.unit) {
				continue
			}
			k := p.Keys[1]
			if rows[k] == nil {
				rows[k] = &TableRow{Config: "Benchmark" + tu.bench + " " + results.Label(k, false), Cells: make([]string, len(files))}
				byRow[k] = make([]*results.Point, len(files))
				order = append(order, k)
			}
			fi := slices.Index(files, p.Config(results.File))
			sum, _ := p.Summary(tu.unit)
			rows[k].Cells[fi] = formatValue(tu.unit, sum.Center) + " ± " + sum.PctRangeString()
			byRow[k][fi] = p
		}
		for _, k := range order {
			r, pts := rows[k], byRow[k]
			for fi := 1; fi < len(files); fi++ {
				d := ""
				if pts[0] != nil && pts[fi] != nil {
					if c, ok := results.Compare(pts[0], pts[fi], tu.unit); ok {
						d = fmt.Sprintf("%s (%s)", c.FormatDelta(pts[0].Median(tu.unit), pts[fi].Median(tu.unit)), c)
					}
				}
				r.Deltas = append(r.Deltas, d)
			}
			t.Rows = append(t.Rows, *r)
		}
		if len(t.Rows) > 0 {
			tables = append(tables, t)
		}
	}
	return tables, nil
}

// formatValue formats a value of unit for a table.
func formatValue(unit string, v float64) string {
	switch {
	case math.IsNaN(v):
		return "-"
	case results.IsTime(unit):
		return FormatSeconds(v * 1e-9)
	case unit == results.Efficiency || unit == results.AU:
		return fmt.Sprintf("%.3f", v)
	}
	return sig3(v)
}

// A PageFigure is a figure as the page shows it.
type PageFigure struct {
	Name, Title string
	SVG         template.HTML
}

// A ConfigLine is one configuration line and its values in the results.
type ConfigLine struct {
	Key    string
	Values string
}

// Page is what a report page shows.
type Page struct {
	Title   string
	Files   []string
	Machine []ConfigLine
	Config  []ConfigLine
	Figures []PageFigure
	Tables  []*Table
}

// machineKeys are the configuration lines that say what machine ran the
// benchmarks.
var machineKeys = []string{results.ConfigCPU, results.ConfigGOOS, results.ConfigGOARCH, results.ConfigPkg}

// NewPage builds the page for s and its figures.
func NewPage(s *results.Set, figs []*Figure) (*Page, error) {
	pg := &Page{Title: "storagebench results: " + strings.Join(s.Files(), " vs "), Files: s.Files()}
	for _, k := range s.ConfigKeys() {
		line := ConfigLine{Key: k, Values: strings.Join(s.Config(k), ", ")}
		if slices.Contains(machineKeys, k) {
			pg.Machine = append(pg.Machine, line)
		} else {
			pg.Config = append(pg.Config, line)
		}
	}
	if procs := gomaxprocs(s); len(procs) > 0 {
		pg.Machine = append(pg.Machine, ConfigLine{Key: "GOMAXPROCS", Values: strings.Join(procs, ", ")})
	}
	for _, f := range figs {
		svg, err := f.SVG()
		if err != nil {
			return nil, err
		}
		if i := bytes.Index(svg, []byte("<svg")); i > 0 {
			svg = svg[i:] // inline: no XML prolog
		}
		pg.Figures = append(pg.Figures, PageFigure{Name: f.Name, Title: f.Title, SVG: template.HTML(svg)})
	}
	var err error
	if pg.Tables, err = Tables(s); err != nil {
		return nil, err
	}
	return pg, nil
}

// gomaxprocs returns the distinct GOMAXPROCS of the results' names.
func gomaxprocs(s *results.Set) []string {
	g, err := s.Group("/gomaxprocs")
	if err != nil {
		return nil
	}
	var out []string
	for _, k := range g.Keys(0) {
		if v := results.Label(k, false); v != "" {
			out = append(out, strings.TrimPrefix(v, "gomaxprocs="))
		}
	}
	return out
}

// WritePage writes s as one self-contained HTML page to w: the machine,
// the configuration lines, every figure of [Figures] inline as SVG, and
// the [Tables]. The page loads nothing from the network.
func WritePage(w io.Writer, s *results.Set, figs []*Figure) error {
	pg, err := NewPage(s, figs)
	if err != nil {
		return err
	}
	return pageTemplate.Execute(w, pg)
}

var pageTemplate = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 80rem; padding: 0 1rem; color: #222; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.2rem; margin-top: 2rem; border-bottom: 1px solid #ddd; }
figure { margin: 1.5rem 0; } figure svg { width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 0.9rem; color: #555; }
table { border-collapse: collapse; margin: 1rem 0; font-size: 0.85rem; }
th, td { border: 1px solid #ddd; padding: 0.25rem 0.6rem; text-align: right; }
th { background: #f4f4f4; } td.config, th.config { text-align: left; font-family: ui-monospace, monospace; }
caption { text-align: left; font-weight: 600; padding: 0.3rem 0; }
nav a { margin-right: 1rem; }
</style>
</head>
<body>
<h1>{{.Title}}</h1>
<nav><a href="#machine">Machine</a><a href="#figures">Figures</a><a href="#tables">Tables</a></nav>
<h2 id="machine">Machine and configuration</h2>
<table id="machine-table">
<tr><th class="config">file</th><td class="config">{{range $i, $f := .Files}}{{if $i}}, {{end}}{{$f}}{{end}}</td></tr>
{{range .Machine}}<tr><th class="config">{{.Key}}</th><td class="config">{{.Values}}</td></tr>
{{end}}{{range .Config}}<tr><th class="config">{{.Key}}</th><td class="config">{{.Values}}</td></tr>
{{end}}</table>
<h2 id="figures">Figures</h2>
{{range .Figures}}<figure id="figure-{{.Name}}">
{{.SVG}}
<figcaption>{{.Title}} ({{.Name}})</figcaption>
</figure>
{{else}}<p>No figures: the results hold no Load or Train benchmarks.</p>
{{end}}
<h2 id="tables">Tables</h2>
<p>Medians over runs with their 95% confidence intervals, as benchstat computes them ("± ∞": too few runs for an interval; benchstat needs 6){{if gt (len .Files) 1}}; changes from {{index .Files 0}} with the p-value of a Mann-Whitney U-test ("~": no significant change){{end}}.</p>
{{range .Tables}}{{$t := .}}<table id="{{.ID}}">
<caption>{{.Caption}} [{{.Unit}}]</caption>
<tr><th class="config">configuration</th>{{range .Files}}<th>{{.}}</th>{{end}}{{range $i, $f := .Files}}{{if $i}}<th>{{$f}} vs {{index $t.Files 0}}</th>{{end}}{{end}}</tr>
{{range .Rows}}<tr><td class="config">{{.Config}}</td>{{range .Cells}}<td>{{.}}</td>{{end}}{{range .Deltas}}<td>{{.}}</td>{{end}}</tr>
{{end}}</table>
{{else}}<p>No tables: the results hold no Load, Raw or Train benchmarks.</p>
{{end}}
</body>
</html>
`))
