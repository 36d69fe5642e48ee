package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTargets(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), &stdout, &stderr, []string{"targets", "testdata/targets/perf.txt"}); err != nil {
		t.Fatalf("targets: %v\n%s", err, stderr.String())
	}
	out := stdout.String()
	for _, tc := range []struct{ target, want string }{
		// The median of three runs (0.961), not the worst (0.547).
		{"1 loader/raw items/s, mem", "0.909 (worst: backend=mem profile=none mode=async workers=8)"},
		{"1 loader/raw items/s, local", "0.980"},
		{"1 loader/raw items/s, fakes3", "not shown"},
		{"2 loader/bound", "0.970 over 2 points"},
		{"3 loader overhead", "500 ns (worst: backend=mem profile=none mode=async workers=8)"},
		{"3 allocations", "2 (worst: backend=mem profile=none mode=async workers=8)"},
		{"4 peak RSS growth over start", "32.0 MiB over 1000000 items"},
		{"4 peak RSS growth, longest", "1.07x"},
		{"5 seed-s3, async, 32 workers, no decode", "4000 items/s"},
		{"5 seed-s3, async, 32 workers, jpeg", "0.889 (400 of 450 items/s"},
		{"  seed-s3, sync, 2 workers", "12.5 items/s"},
	} {
		line := lineWith(out, tc.target)
		if !strings.Contains(line, tc.want) {
			t.Errorf("targets line %q = %q, want it to contain %q\nall output:\n%s", tc.target, line, tc.want, out)
		}
	}
	for target, verdict := range map[string]string{
		"1 loader/raw items/s, mem":          "MISSED",
		"1 loader/raw items/s, local":        "met",
		"3 loader overhead":                  "met",
		"3 allocations":                      "MISSED",
		"5 seed-s3, async, 32 workers, jpeg": "MISSED",
		"4 peak RSS growth, longest":         "met",
	} {
		if line := lineWith(out, target); !strings.HasSuffix(strings.TrimSpace(line), verdict) {
			t.Errorf("targets line %q = %q, want verdict %s", target, line, verdict)
		}
	}
	if err := run(context.Background(), &stdout, &stderr, []string{"targets", "-strict", "testdata/targets/perf.txt"}); err == nil || !strings.Contains(err.Error(), "missed") {
		t.Errorf("targets -strict = %v, want an error counting the missed targets", err)
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

// lineWith returns the first line of out containing s.
func lineWith(out, s string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, s) {
			return l
		}
	}
	return ""
}
