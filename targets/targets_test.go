package targets

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/storagebench/storagebench/results"
)

// readOne returns the result of one run of the benchmark named name, as
// Evaluate reads it.
func readOne(tb testing.TB, name string) *result {
	tb.Helper()
	file := filepath.Join(tb.TempDir(), "r.txt")
	if err := os.WriteFile(file, []byte("Benchmark"+name+" 1 1000 ns/op\n"), 0o666); err != nil {
		tb.Fatal(err)
	}
	s, err := results.Read(file)
	if err != nil {
		tb.Fatal(err)
	}
	g, err := s.Group()
	if err != nil {
		tb.Fatal(err)
	}
	if len(g.Points) != 1 {
		tb.Fatalf("%d points, want 1", len(g.Points))
	}
	return fromPoint(g.Points[0])
}

func TestInFlight(t *testing.T) {
	for _, tc := range []struct {
		name string
		want int
	}{
		{"Load/backend=mem/profile=none/mode=sync/workers=2/batch=50-2", 2},
		{"Load/backend=mem/profile=none/mode=async/workers=8/batch=50-2", 400},
		{"Load/backend=mem/profile=none/mode=async/workers=8/batch=50/fetch=0-2", 400},
		{"Load/backend=mem/profile=none/mode=async/workers=8/batch=50/fetch=64/decode=jpeg-2", 512},
		{"Load/backend=mem/profile=none/mode=sync/workers=2/batch=50/fetch=8-2", 0}, // the loader refuses it
		{"Load/backend=mem/profile=none/mode=eager/workers=2/batch=50-2", 0},
		{"Load/backend=mem/profile=none/mode=async/batch=50-2", 0},
		{"Load/backend=mem/profile=none/mode=async/workers=8/batch=50/fetch=x-2", 0},
	} {
		r := readOne(t, tc.name)
		if got := tgInFlight(r); got != tc.want {
			t.Errorf("tgInFlight(%s) = %d, want %d", tc.name, got, tc.want)
		}
	}
}

// TestLayoutTargets evaluates targets 11 to 14 from results as make
// layouts, make perf's parts block and its block 14 write them.
func TestLayoutTargets(t *testing.T) {
	const s3 = "Train/backend=mem/profile=s3"
	const tail = "/mode=async/workers=4/batch=400/fetch=80-2 20 1000 ns/op "
	lines := []string{
		s3 + "/workload=resnet50-h100/accel=2" + tail + "0.95 au",
		s3 + "/workload=resnet50-h100/accel=3" + tail + "0.91 au",
		s3 + "/workload=resnet50-h100/accel=4" + tail + "0.80 au",
		s3 + "/format=tar/shard=64MB/read=stream/workload=resnet50-h100/accel=15/mode=sync/workers=4/batch=400-2 20 1000 ns/op 0.85 au",
		s3 + "/format=tar/shard=64MB/read=stream/workload=resnet50-h100/accel=14/mode=sync/workers=4/batch=400-2 20 1000 ns/op 0.95 au",
		s3 + "/format=tar/shard=64MB/read=range/workload=resnet50-h100/accel=3" + tail + "0.92 au",
		s3 + "/format=tar/shard=64MB/read=range/workload=resnet50-h100/accel=4" + tail + "0.70 au",
		s3 + "/part=8MB/workload=unet3d-h100/accel=1/mode=async/workers=2/batch=7/fetch=32-2 60 1000 ns/op 0.933 au 4.1e9 held-bytes-peak",
		s3 + "/workload=unet3d-h100/accel=1/mode=async/workers=2/batch=7/fetch=32-2 60 1000 ns/op 0.846 au 3.1e9 held-bytes-peak",
		"Load/backend=mem/profile=none/mode=sync/workers=2/batch=50-2 1000 1000 ns/op 10000 cpu-ns/item 1900 items/s 2000 raw-items/s",
		"Load/backend=mem/profile=none/format=tar/shard=64MB/read=stream/mode=sync/workers=2/batch=50-2 1000 1000 ns/op 10500 cpu-ns/item 1000 items/s 2000 raw-items/s",
		"Load/backend=mem/profile=none/mode=async/workers=8/batch=50-2 1000 1000 ns/op 10000 cpu-ns/item",
		"Load/backend=mem/profile=none/format=tar/shard=64MB/read=stream/mode=async/workers=8/batch=50-2 1000 1000 ns/op 12000 cpu-ns/item",
		// Runs of other lengths, points of their own: medians of three,
		// 12000 against 10000, not the worst run.
		"Load/backend=mem/profile=none/mode=async/workers=8/batch=50-2 2000 1000 ns/op 9000 cpu-ns/item",
		"Load/backend=mem/profile=none/mode=async/workers=8/batch=50-2 3000 1000 ns/op 11000 cpu-ns/item",
		"Load/backend=mem/profile=none/format=tar/shard=64MB/read=stream/mode=async/workers=8/batch=50-2 2000 1000 ns/op 30000 cpu-ns/item",
		"Load/backend=mem/profile=none/format=tar/shard=64MB/read=stream/mode=async/workers=8/batch=50-2 3000 1000 ns/op 11000 cpu-ns/item",
	}
	var text string
	for _, l := range lines {
		text += "Benchmark" + l + "\n"
	}
	file := filepath.Join(t.TempDir(), "r.txt")
	if err := os.WriteFile(file, []byte(text), 0o666); err != nil {
		t.Fatal(err)
	}
	s, err := results.Read(file)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := Evaluate(s)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		figure  string
		ok      bool
		missing bool
	}{
		"11 s3, mem, resnet50-h100 H100s fed by 64MB tar shards streamed": {"14 (AU 0.950", true, false},
		"   the same, loose": {"3 (AU 0.910)", false, false},
		"12 s3, the same shards read by range, against loose":                  {"3 against 3", true, false},
		"11 seed-s3, mem, resnet50-h100 H100s fed by 64MB tar shards streamed": {"-", false, true},
		"13 unet3d-h100, s3, mem, part=8MB: AU of one H100; held bytes":        {"0.933; 3910.1 MiB", true, false},
		"   the same loader, items whole":                                      {"0.846; 2956.4 MiB", false, false},
		"14 cpu-ns/item, tar shards streamed over loose, mem, profile none":    {"1.20x worst of 2 configurations, medians (12000 against 10000 ns", false, false},
	}
	for _, r := range rows {
		w, ok := want[r.Target]
		if !ok {
			continue
		}
		delete(want, r.Target)
		if !strings.HasPrefix(r.Figure, w.figure) || r.OK != w.ok || r.Missing != w.missing {
			t.Errorf("%s: %q ok %v missing %v; want %q... ok %v missing %v", r.Target, r.Figure, r.OK, r.Missing, w.figure, w.ok, w.missing)
		}
	}
	for target := range want {
		t.Errorf("no row %q", target)
	}
	// Targets 1 to 10 leave shards and parts out: target 5's ratio is
	// the loose line's, not the tar line's far lower one.
	found := false
	for _, r := range rows {
		if strings.HasPrefix(r.Target, "5 loader/raw items/s, mem") {
			found = true
			if !strings.HasPrefix(r.Figure, "0.950 ") {
				t.Errorf("%s: %s, want the loose line's 0.950", r.Target, r.Figure)
			}
		}
	}
	if !found {
		t.Error("no row of target 5 on mem")
	}
}

// TestOverBound checks the row that looks for an impossible number: the
// highest efficiency of any Load line under an emulated latency, a fixed
// one or a profile, against 1.005; lines under profile none (bounded by
// their raw baseline, not C/L) do not count.
func TestOverBound(t *testing.T) {
	const fixed = "Load/backend=mem/profile=fixed-20ms/mode=async/workers=2/batch=50-2 1000 1000 ns/op "
	const s3 = "Load/backend=local/profile=s3/mode=async/workers=2/batch=50-2 1000 1000 ns/op "
	const none = "Load/backend=mem/profile=none/mode=sync/workers=2/batch=50-2 1000 1000 ns/op 1.2 efficiency"
	for _, tc := range []struct {
		name    string
		lines   []string
		figure  string
		ok      bool
		missing bool
	}{
		{"within", []string{fixed + "0.990 efficiency", s3 + "1.004 efficiency", none}, "1.004 at most, over 2 results (backend=local profile=s3", true, false},
		{"above", []string{fixed + "1.006 efficiency", s3 + "0.97 efficiency"}, "1.006 at most, over 2 results (backend=mem profile=fixed-20ms", false, false},
		{"profile none only", []string{none}, "-", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "r.txt")
			if err := os.WriteFile(file, []byte("Benchmark"+strings.Join(tc.lines, "\nBenchmark")+"\n"), 0o666); err != nil {
				t.Fatal(err)
			}
			s, err := results.Read(file)
			if err != nil {
				t.Fatal(err)
			}
			rows, err := Evaluate(s)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rows {
				if r.Target != "4 efficiency under emulated latency, every line" {
					continue
				}
				if !strings.HasPrefix(r.Figure, tc.figure) || r.OK != tc.ok || r.Missing != tc.missing || r.Threshold != "<= 1.005" {
					t.Errorf("%q ok %v missing %v (threshold %s); want %q... ok %v missing %v", r.Figure, r.OK, r.Missing, r.Threshold, tc.figure, tc.ok, tc.missing)
				}
				return
			}
			t.Error("no row of efficiency under emulated latency")
		})
	}
}
