package bench

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// loadLine is the one result line of the case TestCompare runs.
const loadLine = "BenchmarkLoad/backend=mem/profile=none/mode=sync/workers=2/batch=50-"

// TestCompare runs bench/compare.sh, as make compare does, on the working
// tree against HEAD with one short case, and checks that both sides'
// results and benchstat's table come out, that an exported variable
// reaches both sides, and that a bad ref or a misspelled variable fails
// before any benchmark runs. It builds the benchmarks twice: skipped under
// -short.
func TestCompare(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the benchmarks twice; skipped under -short")
	}
	for _, tool := range []string{"git", "bash", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("no %s: %v", tool, err)
		}
	}
	if err := exec.Command("git", "-C", "..", "rev-parse", "--verify", "--quiet", "HEAD^{commit}").Run(); err != nil {
		t.Skipf("not a git checkout with a commit: %v", err)
	}
	for _, tc := range []struct {
		name    string
		env     []string
		wantErr []string // substrings of stderr; nil for success
	}{
		{"pairs", []string{"BASE=HEAD", "STORAGEBENCH_PREFETCH=1"}, nil},
		{"bad base", []string{"BASE=no-such-ref"}, []string{"BASE=no-such-ref is not a commit"}},
		{"misspelled variable", []string{"BASE=HEAD", "STORAGEBENCH_PREFECH=1"}, []string{
			"STORAGEBENCH_PREFECH is not a variable of base (HEAD): not set for base",
			"did you mean STORAGEBENCH_PREFETCH?",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			stdout, stderr, err := runCompare(t, out, tc.env)
			if tc.wantErr != nil {
				if err == nil {
					t.Fatalf("compare.sh succeeded, want a failure; stdout:\n%s", stdout)
				}
				for _, want := range tc.wantErr {
					if !strings.Contains(stderr, want) {
						t.Errorf("compare.sh stderr = %q, want it to contain %q", stderr, want)
					}
				}
				if strings.Contains(stdout, "compare: [1/") {
					t.Errorf("compare.sh ran a benchmark before failing; stdout:\n%s", stdout)
				}
				return
			}
			if err != nil {
				var sides strings.Builder
				for _, side := range []string{"base", "head"} {
					data, _ := os.ReadFile(filepath.Join(out, side+".txt"))
					fmt.Fprintf(&sides, "%s.txt:\n%s\n", side, data)
				}
				t.Fatalf("compare.sh: %v\nstdout:\n%s\nstderr:\n%s\n%s", err, stdout, stderr, sides.String())
			}
			for _, side := range []string{"base", "head"} {
				data, err := os.ReadFile(filepath.Join(out, side+".txt"))
				if err != nil {
					t.Fatal(err)
				}
				for _, want := range []string{loadLine, "loader-prefetch: 1\n"} {
					if got := strings.Count(string(data), want); got != 1 {
						t.Errorf("%s.txt holds %q %d times, want once:\n%s", side, want, got, data)
					}
				}
			}
			table, err := os.ReadFile(filepath.Join(out, "benchstat.txt"))
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"base", "head", "vs base", "items/s", "p=", strings.TrimPrefix(loadLine, "Benchmark")} {
				if !strings.Contains(string(table), want) {
					t.Errorf("benchstat.txt does not contain %q:\n%s", want, table)
				}
			}
			if !strings.Contains(stdout, string(table)) {
				t.Errorf("compare.sh stdout does not end with benchstat's table:\n%s", stdout)
			}
		})
	}
}

// runCompare runs compare.sh with its results in out, one short case
// (mem/none/sync/2 over 100 items, 1200 items read), one round, and env
// added to an environment with no STORAGEBENCH_ variable.
func runCompare(tb testing.TB, out string, env []string) (stdout, stderr string, err error) {
	tb.Helper()
	cmd := exec.Command("bash", "compare.sh")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "STORAGEBENCH_") && !strings.HasPrefix(kv, "COMPARE_") && !strings.HasPrefix(kv, "BASE=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "COMPARE_CASES=mem/none/sync/2", "COMPARE_COUNT=1", "COMPARE_OUT="+out,
		"COMPARE_ITEMS=100", "COMPARE_LATENCY_ITEMS=100", "COMPARE_FAST_ITEMS=0")
	cmd.Env = append(cmd.Env, env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}
