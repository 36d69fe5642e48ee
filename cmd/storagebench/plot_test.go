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
	// currentTxt has BenchmarkLoad on fakes3 with the s3 profile from a
	// run of make bench: modes sync and async, 2 to 32 workers, -count 1.
	currentTxt = "testdata/plot/current.txt"
	// trainTxt has BenchmarkTrain on mem with two workloads, 1 to 8
	// accelerators, -count 3.
	trainTxt = "testdata/plot/train.txt"
)

// runCmd runs "storagebench args..." and returns what it printed to
// stdout and stderr.
func runCmd(tb testing.TB, args ...string) (stdout, stderr string, err error) {
	tb.Helper()
	var out, errOut bytes.Buffer
	err = run(tb.Context(), &out, &errOut, args)
	return out.String(), errOut.String(), err
}

// checkFigure checks that dir holds name.png, a PNG of the figures' size,
// and name.svg, an SVG that holds each of texts.
func checkFigure(tb testing.TB, dir, name string, texts ...string) {
	tb.Helper()
	f, err := os.Open(filepath.Join(dir, name+".png"))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	cfg, format, err := image.DecodeConfig(f)
	if err != nil {
		tb.Fatalf("decoding %s.png: %v", name, err)
	}
	if format != "png" || cfg.Width != 1800 || cfg.Height != 900 {
		tb.Errorf("%s.png is a %dx%d %s, want a 1800x900 png", name, cfg.Width, cfg.Height, format)
	}
	svg, err := os.ReadFile(filepath.Join(dir, name+".svg"))
	if err != nil {
		tb.Fatal(err)
	}
	if !bytes.Contains(svg, []byte("<svg")) || !bytes.HasSuffix(bytes.TrimSpace(svg), []byte("</svg>")) {
		tb.Errorf("%s.svg is not an SVG document", name)
	}
	for _, t := range texts {
		if !bytes.Contains(svg, []byte(t)) {
			tb.Errorf("%s.svg does not show %q", name, t)
		}
	}
}

// figuresIn returns the names, without extension, of the figures in dir
// (files NAME.svg and NAME.png both present), sorted; it fails on a lone
// SVG or PNG.
func figuresIn(tb testing.TB, dir string) []string {
	tb.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		tb.Fatal(err)
	}
	count := map[string]int{}
	for _, e := range entries {
		if ext := filepath.Ext(e.Name()); ext == ".svg" || ext == ".png" {
			count[strings.TrimSuffix(e.Name(), ext)]++
		}
	}
	var names []string
	for n, c := range count {
		if c != 2 {
			tb.Errorf("figure %s is not written as both SVG and PNG", n)
		}
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func TestPlotWritesFigures(t *testing.T) {
	for _, tc := range []struct {
		name  string
		args  []string // before -o DIR
		want  []string // figures written
		texts map[string][]string
	}{
		{
			name: "one file", args: []string{loadTxt},
			want: []string{"levels-fakes3-seed-s3", "throughput-fakes3-seed-s3"},
			texts: map[string][]string{
				"levels-fakes3-seed-s3": {"BenchmarkLoad backend=fakes3 profile=seed-s3 batch=50: median of 2 runs",
					"mode=sync", "mode=async", "getitem min", "run max"},
				"throughput-fakes3-seed-s3": {"items/s", "workers (log scale)", "mode=async bound"},
			},
		},
		{
			name: "current metrics", args: []string{currentTxt},
			want: []string{"levels-fakes3-s3", "throughput-fakes3-s3"},
			texts: map[string][]string{
				"levels-fakes3-s3":     {"BenchmarkLoad backend=fakes3 profile=s3 batch=50: 1 run", "Not drawn:", "reported as run-ns"},
				"throughput-fakes3-s3": {"mode=sync bound", "mode=async bound", "32"},
			},
		},
		{
			name: "flags last, all levels", args: []string{loadTxt, "-levels", "run,epoch,worker,fetch,getitem,ttfb,read,decode,wait", "-stats", "mean,median,min,max,p99"},
			want: []string{"levels-fakes3-seed-s3", "throughput-fakes3-seed-s3"},
			texts: map[string][]string{
				"levels-fakes3-seed-s3": {"getitem p99", "decode:", "(decode=none)"},
			},
		},
		{
			name: "several configurations", args: []string{mixedTxt},
			want: []string{"levels-fakes3-s3-batch100", "levels-fakes3-s3-batch50", "levels-local-none",
				"throughput-fakes3-s3-batch100", "throughput-fakes3-s3-batch50", "throughput-local-none"},
		},
		{
			name: "filters", args: []string{"-backend", "local,fakes3", "-profile", "none", mixedTxt},
			want: []string{"levels-local-none", "throughput-local-none"},
		},
		{
			name: "before and after", args: []string{"base=" + loadTxt, "head=" + loadTxt},
			want: []string{"levels-fakes3-seed-s3-base", "levels-fakes3-seed-s3-head", "throughput-fakes3-seed-s3"},
			texts: map[string][]string{
				"throughput-fakes3-seed-s3":  {"base vs head", "base mode=sync", "head mode=sync", "head mode=async bound"},
				"levels-fakes3-seed-s3-base": {"base: BenchmarkLoad backend=fakes3 profile=seed-s3"},
			},
		},
		{
			name: "training", args: []string{trainTxt},
			want: []string{"au-mem-none"},
			texts: map[string][]string{
				"au-mem-none": {"accelerator utilization", "workload=resnet50-h100", "workload=unet3d-h100", "valid at &gt;= 90%"},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // drawing takes a while under -race
			dir := filepath.Join(t.TempDir(), "figs")
			stdout, _, err := runCmd(t, append(append([]string{"plot"}, tc.args...), "-o", dir)...)
			if err != nil {
				t.Fatalf("plot: %v", err)
			}
			got := figuresIn(t, dir)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("figures written (-want +got):\n%s", diff)
			}
			for _, name := range got {
				checkFigure(t, dir, name, tc.texts[name]...)
				if !strings.Contains(stdout, filepath.Join(dir, name+".png")) {
					t.Errorf("plot printed %q, which does not name %s.png", stdout, name)
				}
			}
		})
	}
}

func TestPlotErrors(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
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
			inErr: []string{noLoadTxt, "no BenchmarkLoad or BenchmarkTrain results, nor BenchmarkServe intervals", "found BenchmarkParseIndex"}},
		{name: "filtered out", args: []string{"-o", out, "-backend", "s3blob", mixedTxt, loadTxt},
			inErr: []string{"match /backend:(s3blob) in " + mixedTxt + ", " + loadTxt, "found BenchmarkLoad"}},
		{name: "syntax errors", args: []string{"-o", out, syntaxTxt},
			inErr: []string{syntaxTxt + ":4: parsing iteration count", syntaxTxt + ":5: parsing measurement"}},
		{name: "bad flag", args: []string{"-x", loadTxt}, inErr: []string{"flag provided but not defined: -x"}, usage: true},
		{name: "help", args: []string{"-h"}, wantErr: flag.ErrHelp, usage: true},
		{name: "no files", args: []string{"-o", out}, inErr: []string{"missing RESULTS"}, usage: true},
		{name: "bad stat", args: []string{"-stats", "mean,p50", loadTxt}, inErr: []string{`-stats: unknown "p50"; want some of mean,median,min,max,p99`}},
		{name: "repeated level", args: []string{"-levels", "fetch,run,fetch", loadTxt}, inErr: []string{`-levels: "fetch" given twice`}},
		{name: "no levels", args: []string{"-levels", ",", loadTxt}, inErr: []string{"-levels is empty"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, err := runCmd(t, append([]string{"plot"}, tc.args...)...)
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
			if got := figuresIn(t, out); len(got) > 0 {
				t.Errorf("plot %q wrote %q after failing", tc.args, got)
			}
		})
	}
}
