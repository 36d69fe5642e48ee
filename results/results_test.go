package results

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestReadErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.txt")
	if err := os.WriteFile(bad, []byte("BenchmarkX 10 1 ns/op\nBenchmarkY 10 xx ns/op\nBenchmarkZ 10 1\n"), 0o666); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		files []string
		want  []string // substrings of the error
	}{
		{"none", nil, []string{"no results files"}},
		{"missing", []string{filepath.Join(dir, "nope.txt")}, []string{"nope.txt"}},
		{"syntax", []string{bad}, []string{"bad.txt:2:", "bad.txt:3:"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Read(tc.files...)
			if err == nil {
				t.Fatal("Read succeeded, want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
		})
	}
}

func TestGroup(t *testing.T) {
	s, err := Read("testdata/a.txt")
	if err != nil {
		t.Fatal(err)
	}
	load, err := s.Filter(".name:" + Load)
	if err != nil {
		t.Fatal(err)
	}
	g, err := load.Group("/backend,/profile", "/mode@(sync async)", "/workers@num")
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		Chart, Mode, Workers, Rest string
		Runs                       int
		Items                      float64
	}
	var got []row
	for _, p := range g.Points {
		got = append(got, row{Label(p.Keys[0], false), Label(p.Keys[1], false), Label(p.Keys[2], false), Label(p.Keys[3], true), p.Runs(), p.Median(ItemsPerSecond)})
	}
	const cfg = "goos=linux goarch=amd64 pkg=github.com/storagebench/storagebench/bench cpu=Test CPU "
	want := []row{
		{"backend=mem profile=none", "mode=sync", "workers=2", cfg + "dataset-items=2000 loader-prefetch=2 batch=50", 3, 11000},
		{"backend=mem profile=none", "mode=sync", "workers=2", cfg + "dataset-items=2000 loader-prefetch=2 batch=100", 1, 13000},
		{"backend=mem profile=none", "mode=async", "workers=2", cfg + "dataset-items=2000 loader-prefetch=2 batch=50", 1, 18000},
		{"backend=mem profile=none", "mode=async", "workers=8", cfg + "dataset-items=2000 loader-prefetch=2 batch=50", 1, 20000},
		{"backend=fakes3 profile=s3", "mode=sync", "workers=2", cfg + "dataset-items=200 loader-prefetch=2 batch=50", 1, 300},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("points (-want +got):\n%s", diff)
	}
	if got, want := len(g.Keys(0)), 2; got != want {
		t.Errorf("%d charts, want %d", got, want)
	}

	p := g.Points[0]
	if got := p.NameKey("batch"); got != "50" {
		t.Errorf("NameKey(batch) = %q, want 50", got)
	}
	if got := p.NameKey(KeyGOMAXPROCS); got != "2" {
		t.Errorf("NameKey(gomaxprocs) = %q, want 2", got)
	}
	if got := p.NameKey("fetch"); got != "" {
		t.Errorf("NameKey(fetch) = %q, want empty", got)
	}
	if got := p.Config(ConfigDatasetItems); got != "2000" {
		t.Errorf("Config(dataset-items) = %q, want 2000", got)
	}
	// Units are kept as written, in nanoseconds.
	if got := p.Median(LevelUnit("getitem", "p99")); got != 6000 {
		t.Errorf("median getitem-p99-ns = %v, want 6000", got)
	}
	sum, ok := p.Summary(Efficiency)
	if !ok || sum.Center != 0.93 || sum.Lo > 0.90 || sum.Hi < 0.95 {
		t.Errorf("Summary(efficiency) = %+v, %v; want median 0.93 within [0.90, 0.95]", sum, ok)
	}
	if got := p.Median("no-such-unit"); !math.IsNaN(got) {
		t.Errorf("median of a missing unit = %v, want NaN", got)
	}
}

func TestFilesAndCompare(t *testing.T) {
	s, err := Read("base=testdata/base.txt", "head=testdata/b.txt")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"base", "head"}, s.Files()); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
	sync, err := s.Filter("/mode:sync /batch:50 /backend:mem")
	if err != nil {
		t.Fatal(err)
	}
	g, err := sync.Group(File)
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Points) != 2 {
		t.Fatalf("%d points, want 2 (one per file)", len(g.Points))
	}
	base, head := g.Points[0], g.Points[1]
	if base.Config(File) != "base" || base.Runs() != 6 || head.Runs() != 6 {
		t.Fatalf("points %s (%d runs), %s (%d runs); want base and head, 6 runs each",
			base.Config(File), base.Runs(), head.Config(File), head.Runs())
	}
	c, ok := Compare(base, head, ItemsPerSecond)
	if !ok || c.P >= c.Alpha {
		t.Errorf("Compare = %+v, %v; want a significant difference", c, ok)
	}
	if _, ok := Compare(base, head, Efficiency); ok {
		t.Error("Compare on a unit head does not report succeeded")
	}
}

func TestFilterSyntax(t *testing.T) {
	s, err := Read("testdata/a.txt")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Filter("/mode:(sync"); err == nil || !strings.Contains(err.Error(), "/mode:(sync") {
		t.Errorf("bad filter: error %v, want one naming the query", err)
	}
	if _, err := s.Group("/workers@nope"); err == nil || !strings.Contains(err.Error(), "/workers@nope") {
		t.Errorf("bad projection: error %v, want one naming it", err)
	}
	if diff := cmp.Diff([]string{"BenchmarkLoad", "BenchmarkRaw"}, s.Names()); diff != "" {
		t.Errorf("names (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"2000", "200"}, s.Config(ConfigDatasetItems)); diff != "" {
		t.Errorf("dataset-items (-want +got):\n%s", diff)
	}
}

func TestSubName(t *testing.T) {
	if got, want := SubName("mode", "sync", "workers", 8), "mode=sync/workers=8"; got != want {
		t.Errorf("SubName = %q, want %q", got, want)
	}
}

func TestIgnore(t *testing.T) {
	dir := t.TempDir()
	var files []string
	for _, p := range []string{"1", "2"} {
		f := filepath.Join(dir, p+".txt")
		data := "loader-prefetch: " + p + "\nBenchmarkLoad/mode=sync-2 1 10 ns/op 5 items/s\n"
		if err := os.WriteFile(f, []byte(data), 0o666); err != nil {
			t.Fatal(err)
		}
		files = append(files, "p"+p+"="+f)
	}
	s, err := Read(files...)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ignore string
		points int
	}{{"", 2}, {ConfigLoaderPrefetch, 1}} {
		set := s
		if tc.ignore != "" {
			if set, err = s.Ignore(tc.ignore); err != nil {
				t.Fatal(err)
			}
		}
		g, err := set.Group()
		if err != nil {
			t.Fatal(err)
		}
		if len(g.Points) != tc.points {
			t.Errorf("ignoring %q: %d points, want %d", tc.ignore, len(g.Points), tc.points)
		}
	}
	if _, err := s.Ignore("/x@bad"); err == nil {
		t.Error("Ignore accepted a bad projection")
	}
}
