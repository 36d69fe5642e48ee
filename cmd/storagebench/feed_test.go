package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/storagebench/storagebench/results"
)

func TestParseLoaderConfig(t *testing.T) {
	for _, tc := range []struct {
		in   string
		env  []string
		want string // error substring; "" for success
	}{
		{"mode=async/workers=8", []string{"STORAGEBENCH_MODES=async", "STORAGEBENCH_WORKERS=8"}, ""},
		{"sched=item/window=4C/hedge=p90/fetch=100/batch=400/prefetch=4", []string{"STORAGEBENCH_SCHED=item", "STORAGEBENCH_WINDOW=4C", "STORAGEBENCH_HEDGE=p90", "STORAGEBENCH_FETCH=100", "STORAGEBENCH_BATCH=400", "STORAGEBENCH_PREFETCH=4"}, ""},
		{"mode=async/threads=8", nil, `unknown key "threads"`},
		{"mode=async/workers", nil, `"workers" is not key=value`},
		{"workers=4/workers=8", nil, "workers given twice"},
		{"workers=4,8", nil, "one value a configuration"},
	} {
		c, err := parseLoaderConfig(tc.in)
		if tc.want != "" {
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("parseLoaderConfig(%q) = %v, want an error containing %q", tc.in, err, tc.want)
			}
			continue
		}
		if err != nil || strings.Join(c.env, " ") != strings.Join(tc.env, " ") {
			t.Errorf("parseLoaderConfig(%q) = %q, %v; want %q", tc.in, c.env, err, tc.env)
		}
	}
}

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
	} {
		_, _, err := runCmd(t, append([]string{"feed"}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("feed %q = %v, want an error containing %q", tc.args, err, tc.want)
		}
	}
}

// TestFeed runs a search for real: BenchmarkTrain built and run for one
// and two accelerators (the cap) of a fast workload on mem, whose results
// the output file keeps in benchmark format.
func TestFeed(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the benchmarks")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skipf("go command not found: %v", err)
	}
	out := filepath.Join(t.TempDir(), "feed.txt")
	stdout, stderr, err := runCmd(t, "feed", "-pkg", "../../bench", "-backend", "mem", "-profile", "none", "-workload", "compute-30ms",
		"-loader", "mode=async/workers=2/batch=10", "-items", "400", "-bodies", "50", "-steps", "5", "-max", "2", "-o", out)
	if err != nil {
		t.Fatalf("feed: %v\n%s", err, stderr)
	}
	for _, want := range []string{
		"configuration", "max accel",
		"mode=async/workers=2/batch=10  2 ", // the cap, reached
		"none found: the search's cap",
		"compute-30ms on mem (profile none, 400 items, 50 bodies), AU threshold 0.90",
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
	}
}
