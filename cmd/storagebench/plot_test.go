package main

import (
	"bytes"
	"errors"
	"flag"
	"image"
	_ "image/png"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/perf/benchfmt"
	"golang.org/x/perf/benchunit"
)

// The benchmark output the tests read, in testdata/plot.
const (
	// loadTxt has BenchmarkLoad on fakes3 with the seed-s3 profile, modes
	// sync and async, 2, 8 and 32 workers, -count 2.
	loadTxt = "testdata/plot/load.txt"
	// mixedTxt has local/none at batch 50 and fakes3/s3 at batches 50 and
	// 100, modes sync and async, 4 and 16 workers, -count 1.
	mixedTxt = "testdata/plot/mixed.txt"
	// noLoadTxt has benchmarks, but no BenchmarkLoad with mode and workers.
	noLoadTxt = "testdata/plot/noload.txt"
	// syntaxTxt has malformed result lines on lines 4 and 5.
	syntaxTxt = "testdata/plot/syntax.txt"
)

// runPlotArgs runs "storagebench plot args..." and returns what it
// printed to stdout and stderr.
func runPlotArgs(tb testing.TB, args ...string) (stdout, stderr string, err error) {
	tb.Helper()
	var out, errOut bytes.Buffer
	err = run(tb.Context(), &out, &errOut, append([]string{"plot"}, args...))
	return out.String(), errOut.String(), err
}

// checkPNG checks that file is a PNG of the chart's size.
func checkPNG(tb testing.TB, file string) {
	tb.Helper()
	f, err := os.Open(file)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	cfg, format, err := image.DecodeConfig(f)
	if err != nil {
		tb.Fatalf("decoding %s: %v", file, err)
	}
	if format != "png" || cfg.Width != 1800 || cfg.Height != 900 {
		tb.Errorf("%s is a %dx%d %s, want a 1800x900 png", file, cfg.Width, cfg.Height, format)
	}
}

// pngsIn returns the names of the PNG files in dir, sorted.
func pngsIn(tb testing.TB, dir string) []string {
	tb.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.png"))
	if err != nil {
		tb.Fatal(err)
	}
	for i, n := range names {
		names[i] = filepath.Base(n)
	}
	slices.Sort(names)
	return names
}

func TestPlotWritesPNG(t *testing.T) {
	for _, tc := range []struct {
		name string
		args func(out string) []string
	}{
		{"flags first", func(out string) []string { return []string{"-o", out, loadTxt} }},
		{"flags last", func(out string) []string { return []string{loadTxt, "-o", out, "-stats", "min,median,p99,max"} }},
		{"all levels", func(out string) []string {
			return []string{"-levels", "run,epoch,worker,fetch,getitem,ttfb,read,decode,wait", "-stats", "mean,median,min,max,p99", "-o", out, loadTxt}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // drawing takes a while under -race
			dir := t.TempDir()
			out := filepath.Join(dir, "load.png")
			stdout, _, err := runPlotArgs(t, tc.args(out)...)
			if err != nil {
				t.Fatalf("plot: %v", err)
			}
			checkPNG(t, out)
			if got, want := pngsIn(t, dir), []string{"load.png"}; !slices.Equal(got, want) {
				t.Errorf("plot wrote %q, want %q", got, want)
			}
			want := "wrote " + out + ": backend=fakes3 profile=seed-s3 batch=50 gomaxprocs=2, 2 modes x 3 worker counts\n"
			if stdout != want {
				t.Errorf("plot printed %q, want %q", stdout, want)
			}
		})
	}
}

func TestPlotFilters(t *testing.T) {
	for _, tc := range []struct {
		name  string
		flags []string
		want  []string // the files written, in the folder of -o (out.png)
	}{
		{"all", nil, []string{"chart-fakes3-s3-batch100.png", "chart-fakes3-s3-batch50.png", "chart-local-none.png"}},
		{"one backend", []string{"-backend", "local"}, []string{"out.png"}},
		{"one profile", []string{"-profile", "s3"}, []string{"chart-fakes3-s3-batch100.png", "chart-fakes3-s3-batch50.png"}},
		{"backend list", []string{"-backend", "local,fakes3", "-profile", "none"}, []string{"out.png"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			args := append(slices.Clone(tc.flags), "-o", filepath.Join(dir, "out.png"), mixedTxt)
			stdout, _, err := runPlotArgs(t, args...)
			if err != nil {
				t.Fatalf("plot %q: %v", args, err)
			}
			got := pngsIn(t, dir)
			if !slices.Equal(got, tc.want) {
				t.Errorf("plot %q wrote %q, want %q", args, got, tc.want)
			}
			for _, name := range got {
				checkPNG(t, filepath.Join(dir, name))
				if !strings.Contains(stdout, "wrote "+filepath.Join(dir, name)+": ") {
					t.Errorf("plot %q printed %q, which does not name %s", args, stdout, name)
				}
			}
		})
	}
}

func TestPlotErrors(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out.png")
	missing := filepath.Join(dir, "missing.txt")
	for _, tc := range []struct {
		name    string
		args    []string
		wantErr error    // nil: only the message is checked
		inErr   []string // substrings of the error
		usage   bool     // whether the usage is printed
	}{
		{name: "missing file", args: []string{"-o", out, loadTxt, missing}, wantErr: fs.ErrNotExist, inErr: []string{missing}},
		{name: "no load results", args: []string{"-o", out, noLoadTxt},
			inErr: []string{noLoadTxt, "no BenchmarkLoad results with /mode= and /workers=", "found BenchmarkParseIndex/items=50000-2, BenchmarkLoad/backend=mem/profile=none-2"}},
		{name: "filtered out", args: []string{"-o", out, "-backend", "s3blob", mixedTxt, loadTxt},
			inErr: []string{"match -backend s3blob in " + mixedTxt + ", " + loadTxt, "found backend=local profile=none, backend=fakes3 profile=s3, backend=fakes3 profile=seed-s3"}},
		{name: "syntax errors", args: []string{"-o", out, syntaxTxt},
			inErr: []string{syntaxTxt + ":4: parsing iteration count", syntaxTxt + ":5: parsing measurement"}},
		{name: "bad flag", args: []string{"-x", loadTxt}, inErr: []string{"flag provided but not defined: -x"}, usage: true},
		{name: "help", args: []string{"-h"}, wantErr: flag.ErrHelp, usage: true},
		{name: "no files", args: []string{"-o", out}, inErr: []string{"missing RESULTS"}, usage: true},
		{name: "bad stat", args: []string{"-stats", "mean,p50", loadTxt}, inErr: []string{`-stats: unknown "p50"; want some of mean,median,min,max,p99`}, usage: true},
		{name: "repeated level", args: []string{"-levels", "fetch,run,fetch", loadTxt}, inErr: []string{`-levels: "fetch" given twice`}, usage: true},
		{name: "no levels", args: []string{"-levels", ",", loadTxt}, inErr: []string{"-levels is empty"}, usage: true},
		{name: "not png", args: []string{"-o", filepath.Join(dir, "out.svg"), loadTxt}, inErr: []string{"want a .png file"}, usage: true},
		{name: "nothing to draw", args: []string{"-o", out, "-levels", "decode", loadTxt},
			inErr: []string{"no positive {decode}-{mean,median,min,max}-ns metrics"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, err := runPlotArgs(t, tc.args...)
			if err == nil {
				t.Fatalf("plot %q = nil, want an error", tc.args)
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("plot %q = %v, want %v", tc.args, err, tc.wantErr)
			}
			for _, s := range tc.inErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("plot %q = %v, want an error containing %q", tc.args, err, s)
				}
			}
			if got := strings.Contains(stderr, "usage: storagebench plot"); got != tc.usage {
				t.Errorf("plot %q printed %q to stderr; usage shown = %v, want %v", tc.args, stderr, got, tc.usage)
			}
			if got := pngsIn(t, dir); len(got) > 0 {
				t.Errorf("plot %q wrote %q after failing", tc.args, got)
			}
		})
	}
}

func TestPlotSyntaxErrorsAreTyped(t *testing.T) {
	_, err := readLoadResults([]string{syntaxTxt})
	var se *benchfmt.SyntaxError
	if !errors.As(err, &se) {
		t.Fatalf("readLoadResults(%s) = %v, want a *benchfmt.SyntaxError", syntaxTxt, err)
	}
	if file, line := se.Pos(); file != syntaxTxt || line != 4 {
		t.Errorf("first syntax error at %s:%d, want %s:4", file, line, syntaxTxt)
	}
}

// tidy returns a value in ns as benchfmt reads it, in seconds.
func tidy(ns float64) float64 {
	v, _ := benchunit.Tidy(ns, "x-ns")
	return v
}

func TestReadLoadResultsMedian(t *testing.T) {
	// Three runs of one point and two of another, out of order and
	// interleaved with a benchmark that is not drawn.
	const input = `goos: linux
Unit items/s better=higher
BenchmarkLoad/backend=mem/profile=none/mode=sync/workers=4/batch=50-2	1	3000 ns/op	30 items/s	700 getitem-mean-ns
BenchmarkLoad/backend=mem/profile=none/mode=async/workers=4/batch=50-2	1	1000 ns/op	80 items/s	300 getitem-mean-ns
BenchmarkOther-2	1	5 ns/op
BenchmarkLoad/backend=mem/profile=none/mode=sync/workers=4/batch=50-2	1	1000 ns/op	10 items/s	900 getitem-mean-ns
BenchmarkLoad/backend=mem/profile=none/mode=async/workers=4/batch=50-2	1	2000 ns/op	85 items/s	200 getitem-mean-ns
BenchmarkLoad/backend=mem/profile=none/mode=sync/workers=4/batch=50-2	1	2000 ns/op	20 items/s	500 getitem-mean-ns
`
	file := filepath.Join(t.TempDir(), "bench.txt")
	if err := os.WriteFile(file, []byte(input), 0o666); err != nil {
		t.Fatal(err)
	}
	res, err := readLoadResults([]string{file})
	if err != nil {
		t.Fatal(err)
	}
	got := make(map[string]loadPoint)
	for _, p := range res.points {
		got[p.mode] = *p
	}
	want := map[string]loadPoint{
		"sync": {
			name: "Load/backend=mem/profile=none/mode=sync/workers=4/batch=50-2", backend: "mem", profile: "none", mode: "sync", workers: 4,
			rest: []string{"batch=50", "gomaxprocs=2"}, runs: 3,
			metrics: map[string]float64{"sec/op": tidy(2000), "items/s": 20, "getitem-mean-sec": tidy(700)},
		},
		"async": {
			name: "Load/backend=mem/profile=none/mode=async/workers=4/batch=50-2", backend: "mem", profile: "none", mode: "async", workers: 4,
			rest: []string{"batch=50", "gomaxprocs=2"}, runs: 2,
			metrics: map[string]float64{"sec/op": (tidy(1000) + tidy(2000)) / 2, "items/s": 82.5, "getitem-mean-sec": (tidy(200) + tidy(300)) / 2},
		},
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(loadPoint{})); diff != "" {
		t.Errorf("readLoadResults: points differ (-want +got):\n%s", diff)
	}
	if want := []string{"BenchmarkOther-2"}; !slices.Equal(res.others, want) {
		t.Errorf("readLoadResults: others = %q, want %q", res.others, want)
	}
}

func TestReadLoadResultsTestdata(t *testing.T) {
	res, err := readLoadResults([]string{loadTxt})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.points) != 6 {
		t.Fatalf("read %d points from %s, want 6", len(res.points), loadTxt)
	}
	for _, p := range res.points {
		if p.runs != 2 {
			t.Errorf("%s: %d runs, want 2", p.name, p.runs)
		}
	}
	// sync with 8 workers reports getitem-mean-ns 169320000 and 161020000,
	// getitem-median-ns 150960000 and 143560000, items/s 27.16 and 28.56.
	charts := groupCharts(res.points, plotOptions{})
	if len(charts) != 1 {
		t.Fatalf("grouped %s into %d charts, want 1", loadTxt, len(charts))
	}
	c := charts[0]
	if want := []int{2, 8, 32}; !slices.Equal(c.workers, want) {
		t.Errorf("workers %v, want %v", c.workers, want)
	}
	if want := []string{"sync", "async"}; !slices.Equal(c.modes, want) {
		t.Errorf("modes %q, want %q", c.modes, want)
	}
	p := c.points[chartCell{"sync", 8}]
	items1, items2 := 27.16, 28.56
	for _, tc := range []struct {
		level, stat string
		want        float64
	}{
		{"getitem", "mean", (tidy(161020000) + tidy(169320000)) / 2},
		{"getitem", "median", (tidy(143560000) + tidy(150960000)) / 2},
	} {
		if got, ok := p.seconds(tc.level, tc.stat); !ok || got != tc.want {
			t.Errorf("sync/workers=8 %s %s = %v, %v; want %v, true", tc.level, tc.stat, got, ok, tc.want)
		}
	}
	if got, want := p.metrics["items/s"], (items1+items2)/2; got != want {
		t.Errorf("sync/workers=8 items/s = %v, want %v", got, want)
	}
	if _, ok := p.seconds("decode", "mean"); ok {
		t.Errorf("sync/workers=8 has a decode-mean, want none without decoding")
	}
}

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		name string
		xs   []float64
		want float64
	}{
		{"one", []float64{3}, 3},
		{"two", []float64{4, 1}, 2.5},
		{"three", []float64{9, 1, 5}, 5},
		{"four", []float64{8, 2, 6, 4}, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := median(slices.Clone(tc.xs)); got != tc.want {
				t.Errorf("median(%v) = %v, want %v", tc.xs, got, tc.want)
			}
		})
	}
}

func TestParseLoadName(t *testing.T) {
	for _, tc := range []struct {
		name   string
		ok     bool
		want   loadPoint // name and metrics not compared
		reason string
	}{
		{name: "Load/backend=s3/profile=none/mode=async/workers=16/batch=50/decode=jpeg-8", ok: true,
			want: loadPoint{backend: "s3", profile: "none", mode: "async", workers: 16, rest: []string{"batch=50", "decode=jpeg", "gomaxprocs=8"}}},
		{name: "Load/workers=2/mode=sync", ok: true, want: loadPoint{mode: "sync", workers: 2}},
		{name: "Load/mode=sync/workers=2/cold", ok: true, want: loadPoint{mode: "sync", workers: 2, rest: []string{"cold"}}},
		{name: "Load/backend=s3/mode=sync", reason: "no workers"},
		{name: "Load/backend=s3/workers=2", reason: "no mode"},
		{name: "Load/mode=sync/workers=many", reason: "workers not a number"},
		{name: "Load/mode=sync/workers=0", reason: "no workers"},
		{name: "LoadAll/mode=sync/workers=2", reason: "another benchmark"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, ok := parseLoadName(benchfmt.Name(tc.name))
			if ok != tc.ok {
				t.Fatalf("parseLoadName(%q) ok = %v, want %v (%s)", tc.name, ok, tc.ok, tc.reason)
			}
			if !ok {
				return
			}
			p.name = ""
			if diff := cmp.Diff(tc.want, *p, cmp.AllowUnexported(loadPoint{})); diff != "" {
				t.Errorf("parseLoadName(%q) differs (-want +got):\n%s", tc.name, diff)
			}
		})
	}
}

func TestChartFileNames(t *testing.T) {
	chart := func(backend, profile string, rest ...string) *loadChart {
		return &loadChart{backend: backend, profile: profile, rest: rest}
	}
	for _, tc := range []struct {
		name   string
		out    string
		charts []*loadChart
		want   []string
	}{
		{"one", "out/x.png", []*loadChart{chart("s3", "none", "batch=50")}, []string{"out/x.png"}},
		{"two backends", "out/x.png", []*loadChart{chart("local", "none", "batch=50"), chart("s3", "none", "batch=100")},
			[]string{"out/chart-local-none.png", "out/chart-s3-none.png"}},
		{"two batches", "x.png", []*loadChart{chart("s3", "none", "batch=50", "gomaxprocs=2"), chart("s3", "none", "batch=100", "gomaxprocs=2"), chart("local", "none")},
			[]string{"chart-s3-none-batch50.png", "chart-s3-none-batch100.png", "chart-local-none.png"}},
		{"odd runes", "x.png", []*loadChart{chart("s3", "a b/c"), chart("s3", "a:b/c")},
			[]string{"chart-s3-a_b_c.png", "chart-s3-a_b_c-2.png"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := chartFileNames(tc.out, tc.charts)
			for i := range tc.want {
				tc.want[i] = filepath.FromSlash(tc.want[i])
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("chartFileNames(%q) = %q, want %q", tc.out, got, tc.want)
			}
		})
	}
}

func TestFormatSeconds(t *testing.T) {
	for _, tc := range []struct {
		s    float64
		want string
	}{
		{0, "0s"},
		{1e-9, "1ns"},
		{1e-5, "10µs"},
		{1e-4, "100µs"},
		{1e-3, "1ms"},
		{0.148, "148ms"},
		{1, "1s"},
		{1000, "1000s"},
		{41.5678, "41.6s"},
	} {
		if got := formatSeconds(tc.s); got != tc.want {
			t.Errorf("formatSeconds(%v) = %q, want %q", tc.s, got, tc.want)
		}
	}
}

func TestSecondTicksLabelEveryDecade(t *testing.T) {
	var labels []string
	for _, tk := range (secondTicks{}).Ticks(1e-4, 100) {
		if tk.Label != "" {
			labels = append(labels, tk.Label)
		}
	}
	want := []string{"100µs", "1ms", "10ms", "100ms", "1s", "10s", "100s"}
	if !slices.Equal(labels, want) {
		t.Errorf("tick labels %q, want %q", labels, want)
	}
}

func TestGroupChartsOrder(t *testing.T) {
	res, err := readLoadResults([]string{mixedTxt})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range groupCharts(res.points, plotOptions{}) {
		got = append(got, c.title())
	}
	want := []string{
		"backend=fakes3 profile=s3 batch=50 gomaxprocs=2",
		"backend=fakes3 profile=s3 batch=100 gomaxprocs=2",
		"backend=local profile=none batch=50 gomaxprocs=2",
	}
	if !slices.Equal(got, want) {
		t.Errorf("charts of %s: got %q, want %q", mixedTxt, got, want)
	}
}
