package report

import (
	"bytes"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/storagebench/storagebench/results"
)

func TestUniqueNames(t *testing.T) {
	for _, tc := range []struct {
		name   string
		ids    [][]string
		others [][]string
		want   []string
	}{
		{"one", [][]string{{"s3", "none"}}, [][]string{{"batch=50"}}, []string{"p-s3-none"}},
		{"two backends", [][]string{{"local", "none"}, {"s3", "none"}}, [][]string{{"batch=50"}, {"batch=100"}},
			[]string{"p-local-none", "p-s3-none"}},
		{"two batches", [][]string{{"s3", "none"}, {"s3", "none"}, {"local", "none"}},
			[][]string{{"batch=50", "fetch=8"}, {"batch=100", "fetch=8"}, nil},
			[]string{"p-s3-none-batch50", "p-s3-none-batch100", "p-local-none"}},
		{"odd runes, same keys", [][]string{{"s3", "a b/c"}, {"s3", "a:b/c"}}, [][]string{nil, nil},
			[]string{"p-s3-a_b_c", "p-s3-a_b_c-2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := uniqueNames("p", tc.ids, tc.others); !slices.Equal(got, tc.want) {
				t.Errorf("uniqueNames = %q, want %q", got, tc.want)
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
		if got := FormatSeconds(tc.s); got != tc.want {
			t.Errorf("FormatSeconds(%v) = %q, want %q", tc.s, got, tc.want)
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

// TestFigures draws every figure of a run with each kind of result, and
// checks both formats and the tables.
func TestFigures(t *testing.T) {
	s, err := results.Read("run=../cmd/storagebench/testdata/plot/current.txt", "train=../cmd/storagebench/testdata/plot/train.txt")
	if err != nil {
		t.Fatal(err)
	}
	figs, err := Figures(s, LevelOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range figs {
		names = append(names, f.Name)
		svg, err := f.SVG()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(svg, []byte("<svg")) {
			t.Errorf("%s: SVG has no <svg> element", f.Name)
		}
		data, err := f.PNG()
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		if b := img.Bounds(); b.Dx() != 1800 || b.Dy() != 900 {
			t.Errorf("%s: PNG is %dx%d, want 1800x900", f.Name, b.Dx(), b.Dy())
		}
	}
	want := []string{"throughput-fakes3-s3", "au-mem-none", "levels-fakes3-s3"}
	if !slices.Equal(names, want) {
		t.Errorf("figures %q, want %q", names, want)
	}
	tables, err := Tables(s)
	if err != nil {
		t.Fatal(err)
	}
	var units []string
	for _, tb := range tables {
		units = append(units, tb.Unit)
		if len(tb.Files) != 2 || len(tb.Rows) == 0 {
			t.Errorf("table %s: %d files, %d rows; want 2 files and some rows", tb.Unit, len(tb.Files), len(tb.Rows))
		}
		for _, r := range tb.Rows {
			if len(r.Cells) != 2 || len(r.Deltas) != 1 {
				t.Errorf("table %s row %q: %d cells, %d deltas; want 2 and 1", tb.Unit, r.Config, len(r.Cells), len(r.Deltas))
			}
		}
	}
	if want := []string{results.ItemsPerSecond, results.Efficiency, "getitem-p99-ns", results.AU}; !slices.Equal(units, want) {
		t.Errorf("tables of %q, want %q", units, want)
	}
	if !strings.HasPrefix(tables[0].Rows[0].Config, "BenchmarkLoad backend=fakes3 profile=s3 mode=sync workers=2") {
		t.Errorf("first row %q", tables[0].Rows[0].Config)
	}
}

// TestSchedulerLines checks that item-scheduled lines whose window is the
// same multiple of C at each worker count are one line, named by it.
func TestSchedulerLines(t *testing.T) {
	file := filepath.Join(t.TempDir(), "item.txt")
	var b strings.Builder
	for _, w := range []int{2, 8} {
		c := w * 50
		fmt.Fprintf(&b, "BenchmarkLoad/backend=mem/profile=s3/mode=async/workers=%d/batch=50-2 100 1000 ns/op %d items/s 1 efficiency\n", w, 1000*w)
		fmt.Fprintf(&b, "BenchmarkLoad/backend=mem/profile=s3/mode=async/workers=%d/batch=50/sched=item/window=%d/hedge=p90-2 100 1000 ns/op %d items/s 1 efficiency\n", w, 4*c, 2000*w)
	}
	if err := os.WriteFile(file, []byte(b.String()), 0o666); err != nil {
		t.Fatal(err)
	}
	s, err := results.Read(file)
	if err != nil {
		t.Fatal(err)
	}
	figs, err := ThroughputFigures(s)
	if err != nil {
		t.Fatal(err)
	}
	if len(figs) != 1 {
		t.Fatalf("%d throughput figures, want 1", len(figs))
	}
	svg, err := figs[0].SVG()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"mode=async sched=item window=4C hedge=p90", "mode=async"} {
		if !bytes.Contains(svg, []byte(want)) {
			t.Errorf("figure does not show %q", want)
		}
	}
	if bytes.Contains(svg, []byte("window=400")) {
		t.Error("figure shows the window in items, want it as a multiple of C")
	}
}

// TestServedFigures draws what storagebench serve -o -interval wrote: one
// figure of the requests in flight over time, a point an interval (the
// whole run's line has no place on it).
func TestServedFigures(t *testing.T) {
	s, err := results.Read("../cmd/storagebench/testdata/plot/served.txt")
	if err != nil {
		t.Fatal(err)
	}
	figs, err := Figures(s, LevelOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(figs) != 1 || figs[0].Name != "served-s3" {
		t.Fatalf("figures %v, want one, served-s3", figs)
	}
	svg, err := figs[0].SVG()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"mean in flight", "most at once", "seconds since serving started"} {
		if !bytes.Contains(svg, []byte(want)) {
			t.Errorf("the figure lacks %q", want)
		}
	}
}
