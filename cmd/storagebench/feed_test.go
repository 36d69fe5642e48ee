package main

import (
	"math"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/storagebench/storagebench/cases"
	"github.com/storagebench/storagebench/results"
)

func TestFeedFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-backend", "nfs"}, `-backend "nfs": want mem, local, fakes3, s3 or scratch`},
		{[]string{"-backend", "s3"}, "-backend s3 is a real store: give -profile none"},
		{[]string{"-profile", "glacier"}, `-profile: fakes: unknown profile "glacier"`},
		{[]string{"-workload", "bert"}, `-workload: train: unknown workload "bert"`},
		{[]string{"-max", "0"}, "-max 0: want at least 1"},
		{[]string{"-steps", "0"}, "-steps 0: want at least 1"},
		{[]string{"-loader", "threads=2"}, `unknown key "threads"`},
		{[]string{"extra"}, `unexpected argument "extra"`},
		{[]string{"-backend", "mem", "-profile", "none", "-cache", "cold"}, "-cache cold: backend mem reads no folder"},
		{[]string{"-backend", "local", "-profile", "none", "-cache", "hot"}, `-cache: cache=hot: unknown cache setting "hot"`},
	} {
		_, _, err := runCmd(t, append([]string{"feed"}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("feed %q = %v, want an error containing %q", tc.args, err, tc.want)
		}
	}
}

// TestFeed runs a search for real, in this process: the Train case for
// one and two accelerators (the cap) of a workload that asks little of
// mem, whose results the output file keeps in benchmark format. Its steps
// of 200 ms leave room for the milliseconds a step's hand-offs take on a
// busy machine under the race detector (this process runs the job), so
// that both runs stay valid.
func TestFeed(t *testing.T) {
	if testing.Short() {
		t.Skip("runs training")
	}
	out := filepath.Join(t.TempDir(), "feed.txt")
	stdout, stderr, err := runCmd(t, "feed", "-backend", "mem", "-profile", "none", "-workload", "compute-200ms",
		"-loader", "mode=async/workers=2/batch=10", "-items", "400", "-bodies", "50", "-steps", "4", "-max", "2", "-o", out)
	if err != nil {
		t.Fatalf("feed: %v\n%s", err, stderr)
	}
	for _, want := range []string{
		"configuration", "max accel",
		"mode=async/workers=2/batch=10  2 ", // the cap, reached
		"none found: the search's cap",
		"compute-200ms on mem (profile none, 400 items, 50 bodies), AU threshold 0.90",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("feed printed\n%s\nwant %q in it", stdout, want)
		}
	}
	set, err := results.Read(out)
	if err != nil {
		t.Fatal(err)
	}
	g, err := set.Group("/accel")
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Points) != 2 {
		t.Fatalf("%s holds %d results, want the runs at 1 and 2 accelerators", out, len(g.Points))
	}
	for _, p := range g.Points {
		if au := p.Median(results.AU); !(au >= 0.9 && au <= 1) {
			t.Errorf("%s: au %v, want a valid run on mem", p.Name(), au)
		}
		// The line is what BenchmarkTrain prints: a case's name, and
		// samples/s agreeing with ns/op.
		if _, err := cases.Parse(p.Name()); err != nil {
			t.Errorf("%s: %v", p.Name(), err)
		}
		n, _ := strconv.Atoi(p.NameKey(cases.Accel.Key))
		if rate, want := p.Median(results.SamplesPerSecond), float64(n*10)*1e9/p.Median(results.NsPerOp); math.Abs(rate-want) > 1e-6*want {
			t.Errorf("%s: %v samples/s, but ns/op gives %v", p.Name(), rate, want)
		}
		if p.Config(results.ConfigDatasetItems) != "400" {
			t.Errorf("%s: dataset-items %q, want 400", p.Name(), p.Config(results.ConfigDatasetItems))
		}
	}
}

// TestFeedParts runs feed with items in ranged parts: the lines say
// part=32kB and the requests an item took, and a run of few steps, whose
// loaders hold a share of what it reads, is warned of.
func TestFeedParts(t *testing.T) {
	if testing.Short() {
		t.Skip("runs training")
	}
	out := filepath.Join(t.TempDir(), "feed.txt")
	_, stderr, err := runCmd(t, "feed", "-backend", "mem", "-profile", "none", "-workload", "compute-200ms",
		"-loader", "mode=async/workers=2/batch=10/part=32kB", "-items", "400", "-bodies", "50", "-steps", "4", "-max", "1", "-o", out)
	if err != nil {
		t.Fatalf("feed: %v\n%s", err, stderr)
	}
	if !strings.Contains(stderr, "AU is uncertain") || !strings.Contains(stderr, "-steps 40 or more") {
		t.Errorf("feed of 4 steps, its loaders holding 4 batches, warned\n%s\nwant it to ask for 40 steps", stderr)
	}
	set, err := results.Read(out)
	if err != nil {
		t.Fatal(err)
	}
	g, err := set.Group()
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Points) != 1 {
		t.Fatalf("%s holds %d results, want 1", out, len(g.Points))
	}
	p := g.Points[0]
	if p.NameKey(cases.Part.Key) != "32kB" {
		t.Errorf("%s: want part=32kB in the name", p.Name())
	}
	// The synthetic items average about 122 kB: about 4.3 parts.
	if r := p.Median(results.RequestsPerItem); !(r > 3 && r < 6) {
		t.Errorf("%s: %v requests/item, want about 4", p.Name(), r)
	}
}

// TestFeedCold asks how many accelerators a local folder feeds with its
// pages dropped before every read: the line is named cache=cold and says
// the page cache held none of the dataset before or after the run.
func TestFeedCold(t *testing.T) {
	if testing.Short() {
		t.Skip("runs training")
	}
	if runtime.GOOS != "linux" {
		t.Skip("cache=cold needs Linux")
	}
	out := filepath.Join(t.TempDir(), "feed.txt")
	_, stderr, err := runCmd(t, "feed", "-backend", "local", "-profile", "none", "-cache", "cold", "-workload", "compute-50ms",
		"-loader", "mode=async/workers=2/batch=10", "-items", "400", "-bodies", "50", "-steps", "4", "-max", "1", "-o", out)
	if err != nil {
		t.Fatalf("feed: %v\n%s", err, stderr)
	}
	set, err := results.Read(out)
	if err != nil {
		t.Fatal(err)
	}
	g, err := set.Group("/accel")
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Points) != 1 {
		t.Fatalf("%s holds %d results, want 1", out, len(g.Points))
	}
	p := g.Points[0]
	if p.NameKey(cases.Cache.Key) != "cold" {
		t.Errorf("%s: want cache=cold in the name", p.Name())
	}
	for _, unit := range []string{results.CacheResident, results.CacheResidentEnd} {
		if f := p.Median(unit); !(f >= 0 && f <= 0.01) {
			t.Errorf("%s: %s %v, want at most 0.01", p.Name(), unit, f)
		}
	}
}
