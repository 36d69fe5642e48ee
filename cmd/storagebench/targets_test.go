package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A wantRow is a row the targets report must hold: the start of its
// target, a part of its figure and its verdict.
type wantRow struct{ target, figure, verdict string }

func TestTargets(t *testing.T) {
	const (
		memBound  = "6 peak RSS growth over start, within the items held x largest + 64 MiB, "
		memGrowth = "6 peak RSS growth, longest run over shortest, "
		memGroup  = "backend=mem profile=none mode=async workers=4 batch=50, "
		bigGroup  = "backend=local profile=none mode=sync workers=2 batch=50, 2000 items"
	)
	for _, tc := range []struct {
		name   string
		file   string
		rows   []wantRow
		strict string // the -strict error: missed or not shown, of all rows
	}{
		{
			name: "perf",
			file: "testdata/targets/perf.txt",
			rows: []wantRow{
				// The median of three runs (0.961), not the worst (0.547).
				{"5 loader/raw items/s, mem", "0.909 (worst: backend=mem profile=none mode=async workers=8 batch=50)", "MISSED"},
				{"5 loader/raw items/s, local", "0.980", "met"},
				{"5 loader/raw items/s, fakes3", "-", "not shown"},
				// C from the names: 8 workers x fetch 64 = 512 is in.
				{"4 loader/bound, fixed latency, C <= 512, batch scheduler", "0.970 over 2 points (worst: backend=local profile=fixed-20ms mode=async workers=1 batch=50 fetch=1, C=1)", "met"},
				{"4 efficiency under emulated latency, every line", "0.977 at most, over 2 results (backend=local profile=fixed-20ms mode=async workers=8 batch=50 fetch=64)", "met"},
				{"5 loader overhead", "500 ns (worst: backend=mem profile=none mode=async workers=8 batch=50)", "met"},
				{"8 allocations", "2 (worst: backend=mem profile=none mode=async workers=8 batch=50)", "MISSED"},
				// Each memory group on its own rows: the failing one
				// between two that pass, and one name on two datasets.
				{memBound + memGroup + "2000 items", "32.0 MiB over 1000000 items", "met"},
				{memGrowth + memGroup + "2000 items", "1.07x (30.0 MiB at 100000 items, 32.0 MiB at 1000000)", "met"},
				{memBound + bigGroup, "300.0 MiB over 1000000 items", "MISSED"},
				{memGrowth + bigGroup, "2.00x (150.0 MiB at 100000 items, 300.0 MiB at 1000000)", "MISSED"},
				{memBound + memGroup + "20000 items", "42.0 MiB over 1000000 items", "met"},
				{memGrowth + memGroup + "20000 items", "1.05x", "met"},
				{"9 seed-s3, async, 32 workers, no decode, fakes3", "4000 items/s", "met"},
				{"9 seed-s3, async, 32 workers, jpeg, over decoding alone, fakes3", "0.889 (400 of 450 items/s", "MISSED"},
				{"  seed-s3, sync, 2 workers, local", "5.0 items/s", "MISSED"},
				{"  seed-s3, sync, 2 workers, fakes3", "12.5 items/s", "met"},
			},
			strict: "30 of 40 targets missed",
		},
		{
			// No inflight metric: C comes from the names alone. Left out
			// are 8 workers x batch 100, 16 x fetch 64 and 600 in sync
			// mode; the worst of the rest has no fetch= in its name.
			name: "latency",
			file: "testdata/targets/latency.txt",
			rows: []wantRow{
				{"4 loader/bound, fixed latency, C <= 512, batch scheduler", "0.940 over 4 points (worst: backend=local profile=fixed-20ms mode=async workers=8 batch=50, C=400)", "MISSED"},
				{"6 peak RSS growth over start", "-", "not shown"},
				{"6 peak RSS growth, longest", "-", "not shown"},
				{"  seed-s3, sync, 2 workers", "-", "not shown"},
			},
			strict: "34 of 35 targets missed",
		},
		{
			// The item scheduler's targets and the S3 clients'. Reference
			// rows are shown but never counted as missed.
			name: "sched",
			file: "testdata/targets/sched.txt",
			rows: []wantRow{
				{"1 item scheduler, window 8C, no hedging, mem, s3, C=100", "0.923 (2930 of 3175 items/s)", "met"},
				{"1 item scheduler, window 4C, hedge p90, mem, s3, C=100", "0.940 (2985 of 3175 items/s), 9.9% extra reads", "MISSED"},
				{"  the default (batch) scheduler, mem, s3, C=100", "0.450", "shown"},
				{"1 item scheduler, window 8C, no hedging, local", "0.875", "met"},
				// Above 0.95, but over the hedge budget.
				{"1 item scheduler, window 4C, hedge p90, local", "0.954 (3030 of 3175 items/s), 12.0% extra reads", "MISSED"},
				{"2 hedge p90 over none, getitem p99.9 and p99, mem", "1.80x and 1.41x (p99.9 180 -> 100 ms), 9.9% extra reads", "met"},
				{"2 hedge p90 over none, getitem p99.9 and p99, local", "2.00x and 1.38x", "MISSED"},
				{"3 item scheduler, window 4C, no hedging, mem, seed-s3", "0.926", "met"},
				{"3 item scheduler, window 4C, no hedging, local, seed-s3", "-", "not shown"},
				{"4 loader/bound, fixed latency, C <= 512, batch scheduler", "-", "not shown"},
				{"4 loader/bound, fixed latency, C <= 512, item scheduler", "0.977 over 1 point ", "met"},
				{"5 loader/raw items/s, mem", "-", "not shown"},
				{"6 peak items held within the window", "401 of 400 at most, over 8 results (backend=mem profile=s3 mode=async workers=2 batch=50 sched=item window=400 hedge=p90)", "MISSED"},
				// The median of three runs of each client.
				{"7 S3 GETs, ours over minio-go, concurrency=1", "0.917x (3333 over 3636 items/s, medians of 3 and 3 rounds)", "MISSED"},
				{"7 S3 GETs, ours over minio-go, concurrency=8", "0.990x", "met"},
				// Between 0.95, the threshold, and 0.98, the aim.
				{"7 S3 GETs, ours over minio-go, concurrency=32", "0.960x", "met"},
			},
			strict: "30 of 38 targets missed",
		},
		{
			// Cold reads of a scratch folder: cold at one worker over
			// fio's O_DIRECT rate (0.8, within 25%), the resident
			// fractions (direct's after its run too many), and direct
			// against cold at 8 workers, the median of direct's three
			// runs (9000 of 8500, 9000 and 9200, two of one length)
			// over cold's one.
			name: "cold",
			file: "testdata/targets/cold.txt",
			rows: []wantRow{
				{"10 cold scratch items/s at 1 worker over fio", "0.800 (4000 items/s against 5000, medians)", "met"},
				{"10 cache-resident-fraction, scratch, cache=warm", "0.9950 (least of any run)", "met"},
				{"10 cache-resident-fraction, scratch, cache=cold", "0.0020 (most of any run)", "met"},
				{"10 cache-resident-fraction, scratch, cache=direct", "0.0200 (most of any run)", "MISSED"},
				{"10 direct over cold items/s, scratch, 8 or more sync workers", "1.000 (worst: 8 workers, medians)", "met"},
			},
			strict: "of 35 targets missed",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if err := run(context.Background(), &stdout, &stderr, []string{"targets", tc.file}); err != nil {
				t.Fatalf("targets: %v\n%s", err, stderr.String())
			}
			out := stdout.String()
			for _, want := range tc.rows {
				line := targetLine(t, out, want.target)
				if !strings.Contains(line, want.figure) {
					t.Errorf("targets line %q = %q, want it to contain %q", want.target, line, want.figure)
				}
				if !strings.HasSuffix(line, "  "+want.verdict) {
					t.Errorf("targets line %q = %q, want verdict %s", want.target, line, want.verdict)
				}
			}
			err := run(context.Background(), &stdout, &stderr, []string{"targets", "-strict", tc.file})
			if err == nil || !strings.Contains(err.Error(), tc.strict) {
				t.Errorf("targets -strict = %v, want an error containing %q", err, tc.strict)
			}
			if t.Failed() {
				t.Logf("all output:\n%s", out)
			}
		})
	}
}

func TestTargetsErrors(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.txt")
	os.WriteFile(empty, []byte("goos: linux\n"), 0o644)
	bad := filepath.Join(dir, "bad.txt")
	os.WriteFile(bad, []byte("BenchmarkX 10 5 ns/op 7\n"), 0o644)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"targets"}, "no results file"},
		{[]string{"targets", filepath.Join(dir, "missing.txt")}, "missing.txt"},
		{[]string{"targets", empty}, "no benchmark results in " + empty},
		{[]string{"targets", bad}, bad + ":1"},
	} {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), &stdout, &stderr, tc.args)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("run(%q) = %v, want an error containing %q", tc.args, err, tc.want)
		}
	}
}

// targetLine returns the one line of out whose target starts with
// target, trimmed of trailing space; it fails the test unless exactly one
// line does.
func targetLine(tb testing.TB, out, target string) string {
	tb.Helper()
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, target) {
			lines = append(lines, strings.TrimSpace(l))
		}
	}
	if len(lines) != 1 {
		tb.Errorf("targets lines starting %q: got %d, want 1:\n%s", target, len(lines), strings.Join(lines, "\n"))
		return ""
	}
	return lines[0]
}
