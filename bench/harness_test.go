package bench

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/perf/benchfmt"

	"github.com/storagebench/storagebench/cases"
	"github.com/storagebench/storagebench/dataset"
	"github.com/storagebench/storagebench/dataset/mem"
	"github.com/storagebench/storagebench/fakes"
	"github.com/storagebench/storagebench/loader"
	"github.com/storagebench/storagebench/results"
)

// The benchmarks are tested by running this test binary as go test -bench
// runs it, in a child process, and reading what it prints: so the tests see
// the output users see, header and all. (Calling testing.Benchmark here
// instead would use up the testing package's one header, and a plain
// go test -bench . would then print results with no goos, goarch, pkg and
// cpu lines, which benchstat will not pair.)

// benchOutput is what a child benchmark run printed.
type benchOutput struct {
	stdout  string
	stderr  string
	config  map[string]string // the last value of each configuration line
	results []*benchfmt.Result
}

// runBenchmarks runs this test binary with args and the given
// STORAGEBENCH_ variables (none other from this process), as a user's
// go test -bench does, and returns what it printed. Unless args set
// -test.run, it runs no test. It fails t if the
// child fails, unless wantFail is set, in which case it fails t if the
// child succeeds.
func runBenchmarks(t *testing.T, vars map[string]string, wantFail bool, args ...string) benchOutput {
	t.Helper()
	if testing.Short() {
		t.Skip("runs benchmarks in a child process")
	}
	if !slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "-test.run=") }) {
		args = append([]string{"-test.run=^$"}, args...)
	}
	cmd := exec.CommandContext(t.Context(), os.Args[0], args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, cases.Prefix) {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	for k, v := range vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	switch {
	case err != nil && !wantFail:
		t.Fatalf("%v %q: %v\nstdout:\n%s\nstderr:\n%s", vars, args, err, stdout.String(), stderr.String())
	case err == nil && wantFail:
		t.Fatalf("%v %q succeeded, want a failure\nstdout:\n%s", vars, args, stdout.String())
	}
	out := benchOutput{stdout: stdout.String(), stderr: stderr.String(), config: map[string]string{}}
	r := benchfmt.NewReader(bytes.NewReader(stdout.Bytes()), "child")
	for r.Scan() {
		switch rec := r.Result().(type) {
		case *benchfmt.Result:
			for _, c := range rec.Config {
				out.config[c.Key] = string(c.Value)
			}
			out.results = append(out.results, rec.Clone())
		case *benchfmt.SyntaxError:
			t.Errorf("child output: %v", rec)
		}
	}
	return out
}

// value returns r's value in unit, and whether it has one.
func value(r *benchfmt.Result, unit string) (float64, bool) {
	for _, v := range r.Values {
		u, x := v.Unit, v.Value
		if v.OrigUnit != "" {
			u, x = v.OrigUnit, v.OrigValue
		}
		if u == unit {
			return x, true
		}
	}
	return 0, false
}

// namePart returns the value of key in r's name, e.g. "mode".
func namePart(r *benchfmt.Result, key string) string {
	_, parts := r.Name.Parts()
	for _, p := range parts {
		if k, v, ok := strings.Cut(strings.TrimPrefix(string(p), "/"), "="); ok && k == key {
			return v
		}
	}
	return ""
}

// checkHeader checks that stdout has the header go test -bench prints
// before the first result, which benchstat pairs results by.
func checkHeader(t *testing.T, stdout string) {
	t.Helper()
	for _, h := range []string{"goos: ", "goarch: ", "pkg: github.com/storagebench/storagebench/bench", "cpu: "} {
		if !strings.Contains(stdout, "\n"+h) && !strings.HasPrefix(stdout, h) {
			t.Errorf("output has no %q header line:\n%s", h, stdout)
		}
	}
}

// loadLevels are the levels every Load line times.
var loadLevels = []string{"epoch", "worker", "fetch", "getitem", "ttfb", "read", "wait"}

// checkLoadLine checks what every Load line must hold: items/s agreeing
// with ns/op, MB/s from the bytes read, every level's statistics, the run
// level once, and no settings among the metrics.
func checkLoadLine(t *testing.T, r *benchfmt.Result) {
	t.Helper()
	name := string(r.Name.Full())
	ns, _ := value(r, "ns/op")
	rate, ok := value(r, results.ItemsPerSecond)
	if !ok || ns <= 0 || math.Abs(rate*ns/1e9-1) > 0.01 {
		t.Errorf("%s: items/s %v x ns/op %v = %v, want 1e9 within 1%%", name, rate, ns, rate*ns)
	}
	perItem, _ := value(r, results.BytesPerItem)
	if mbs, ok := value(r, results.MBPerSecond); !ok || math.Abs(mbs/(perItem*rate/1e6)-1) > 0.01 {
		t.Errorf("%s: MB/s = %v, want B/item x items/s = %v", name, mbs, perItem*rate/1e6)
	}
	stream := namePart(r, cases.Read.Key) == cases.ReadStream
	for _, level := range loadLevels {
		if level == "epoch" && r.GetConfig(results.ConfigUntimedLevels) == "epoch" {
			continue
		}
		for _, stat := range results.Stats {
			unit := level + "-" + stat + "-ns"
			if v, ok := value(r, unit); !ok || v < 0 || v == 0 && !(stream && level == "ttfb") {
				// A stream's time to first byte is its shard's, which
				// on memory can be shorter than the clock's step.
				t.Errorf("%s: %s = %v, %v; want a positive value", name, unit, v, ok)
			}
		}
	}
	if run, ok := value(r, results.RunNs); !ok || math.Abs(run/(ns*float64(r.Iters))-1) > 0.05 {
		t.Errorf("%s: run-ns = %v, want the timed run, %v", name, run, ns*float64(r.Iters))
	}
	for _, unit := range []string{"inflight", "run-mean-ns", "run-median-ns", "decode-mean-ns"} {
		if _, ok := value(r, unit); ok {
			t.Errorf("%s reports %s", name, unit)
		}
	}
	for _, unit := range []string{results.RawItemsPerSec, results.BoundItemsPerSec, results.Efficiency,
		results.LevelUnit("getitem", results.P999), results.HeldItemsPeak, results.HeldBytesPeak, results.InFlightFraction} {
		if v, ok := value(r, unit); !ok || v <= 0 {
			t.Errorf("%s: %s = %v, %v; want a positive value", name, unit, v, ok)
		}
	}
	// Reads in flight never exceed C, and the loader never holds more
	// items than its batch slots (or window) allow.
	if f, _ := value(r, results.InFlightFraction); f > 1.001 {
		t.Errorf("%s: %s = %v, want at most 1", name, results.InFlightFraction, f)
	}
	held, _ := value(r, results.HeldItemsPeak)
	workers, _ := strconv.Atoi(namePart(r, cases.Workers.Key))
	batch, _ := strconv.Atoi(namePart(r, cases.Batch.Key))
	prefetch, err := strconv.Atoi(r.GetConfig(results.ConfigLoaderPrefetch))
	if err != nil {
		prefetch = loader.DefaultPrefetch
	}
	limit := float64(workers * prefetch * batch)
	if w := namePart(r, cases.Window.Key); w != "" {
		limit, _ = strconv.ParseFloat(w, 64)
	}
	if stream {
		// And each worker's shuffle buffer, and the sample it takes
		// from its stream.
		shuffle, _ := strconv.Atoi(namePart(r, cases.Shuffle.Key))
		limit += float64(workers * (shuffle + 1))
	}
	if held > limit {
		t.Errorf("%s: %s = %v, want at most %v", name, results.HeldItemsPeak, held, limit)
	}
}

// TestLoadOutput runs the Load benchmarks on every hermetic backend, both
// modes, both schedulers (the item scheduler with and without hedging),
// with every item's bytes checked, and checks every line as users read it,
// the header included.
func TestLoadOutput(t *testing.T) {
	const items, workers, batch = 40, 2, 10
	// Whole rounds (a batch from each worker): 60 of them, 30 epochs, so
	// that hedged item-scheduled lines, whose batches take longer to
	// fetch, cover 10 batch periods too.
	n := 60 * workers * batch
	out := runBenchmarks(t, map[string]string{
		cases.Items:       strconv.Itoa(items),
		cases.Workers.Var: strconv.Itoa(workers),
		cases.Batch.Var:   strconv.Itoa(batch),
		cases.Profile.Var: "none",
		cases.Sched.Var:   "batch,item",
		cases.Hedge.Var:   "off,1ms",
	}, false, "-test.bench=^BenchmarkLoad$", fmt.Sprintf("-test.benchtime=%dx", n), "-deep")
	checkHeader(t, out.stdout)
	if _, ok := out.config["smoke"]; ok {
		t.Error("a full run says smoke")
	}
	want := map[string]bool{}
	for _, b := range []string{"mem", "local", "fakes3"} {
		for _, m := range []string{"sync", "async"} {
			base := fmt.Sprintf("Load/backend=%s/profile=none/mode=%s/workers=%d/batch=%d", b, m, workers, batch)
			c := workers
			if m == "async" {
				c *= batch
			}
			item := fmt.Sprintf("%s/sched=item/window=%d", base, loader.DefaultWindow(batch, c, workers, loader.DefaultPrefetch))
			want[base], want[item], want[item+"/hedge=1ms"] = true, true, true
		}
	}
	for _, r := range out.results {
		full := string(r.Name.Full())
		base := full[:strings.LastIndexByte(full, '-')] // less the -GOMAXPROCS suffix
		if !want[base] {
			t.Errorf("unexpected result %s", r.Name.Full())
			continue
		}
		delete(want, base)
		if r.Iters != n {
			t.Errorf("%s ran %d items, want %d", base, r.Iters, n)
		}
		checkLoadLine(t, r)
		if _, ok := value(r, results.ErrorsPerItem); ok {
			t.Errorf("%s: reports %s with no faults", base, results.ErrorsPerItem)
		}
		if _, ok := value(r, results.HedgesPerItem); ok != strings.Contains(base, "/hedge=") {
			t.Errorf("%s: reports %s = %v, want it on hedged lines only", base, results.HedgesPerItem, ok)
		}
	}
	for name := range want {
		t.Errorf("no result for %s", name)
	}
}

// TestTarLoadOutput runs the Load benchmarks on the synthetic dataset in
// tar shards, on every hermetic backend, streamed (with and without a
// shuffle buffer, whole and in parts) and read by range, every sample's
// bytes checked, and checks what tar lines add: the requests an item
// took, the bytes read for a byte delivered, the samples dropped, and
// the lines' layout.
func TestTarLoadOutput(t *testing.T) {
	const items, workers, batch = 200, 2, 10
	n := 60 * workers * batch
	out := runBenchmarks(t, map[string]string{
		cases.Items:       strconv.Itoa(items),
		cases.Workers.Var: strconv.Itoa(workers),
		cases.Batch.Var:   strconv.Itoa(batch),
		cases.Profile.Var: "none",
		cases.Format.Var:  "tar",
		cases.Shard.Var:   "2MB",
		cases.Read.Var:    "stream,range",
		cases.Shuffle.Var: "0,16",
		cases.Part.Var:    "0,256KiB",
	}, false, "-test.bench=^BenchmarkLoad$", fmt.Sprintf("-test.benchtime=%dx", n), "-deep")
	const part = 256 << 10
	want := map[string]bool{}
	for _, b := range []string{"mem", "local", "fakes3"} {
		for _, m := range []string{"sync", "async"} {
			tail := fmt.Sprintf("mode=%s/workers=%d/batch=%d", m, workers, batch)
			prefix := fmt.Sprintf("Load/backend=%s/profile=none/format=tar/shard=2MB/read=", b)
			want[prefix+"stream/"+tail], want[prefix+"stream/shuffle=16/"+tail], want[prefix+"range/"+tail] = true, true, true
			want[prefix+"stream/part=256KiB/"+tail], want[prefix+"stream/shuffle=16/part=256KiB/"+tail] = true, true
		}
	}
	for _, r := range out.results {
		full := string(r.Name.Full())
		base := full[:strings.LastIndexByte(full, '-')]
		if !want[base] {
			t.Errorf("unexpected result %s", r.Name.Full())
			continue
		}
		delete(want, base)
		checkLoadLine(t, r)
		if _, ok := value(r, results.ErrorsPerItem); ok {
			t.Errorf("%s: reports %s with no faults", base, results.ErrorsPerItem)
		}
		if shards, err := strconv.Atoi(r.GetConfig(results.ConfigDatasetShards)); err != nil || shards < 2*workers {
			t.Errorf("%s: %s %q, want the shards of the set", base, results.ConfigDatasetShards, r.GetConfig(results.ConfigDatasetShards))
		}
		reqs, _ := value(r, results.RequestsPerItem)
		readB, _ := value(r, results.ReadBytesPerByte)
		dropped, hasDropped := value(r, results.DroppedPerItem)
		parts := strings.Contains(base, "/part=")
		if stream := strings.Contains(base, "read=stream"); stream {
			// What the streams read counts the samples of shares
			// dropped, and is counted as they are read: the items
			// held at the timed run's ends move it by a few percent.
			if !(readB > 0.9 && readB < 1.1/(1-dropped)) || !hasDropped || dropped < 0 || dropped > 0.5 {
				t.Errorf("%s: %v read-B/B, dropped/item %v %v; want a shard's bytes, and the samples dropped", base, readB, dropped, hasDropped)
			}
			// A request a shard, or a part: the bytes a sample
			// streamed over the part's size, and a shard's last
			// part, short, once a shard.
			perItem, _ := value(r, results.BytesPerItem)
			if lo := readB * perItem / part; parts && !(reqs >= 0.9*lo && reqs < 1.3*lo) || !parts && !(reqs > 0 && reqs < 0.2) {
				t.Errorf("%s: %v requests/item for %v bytes read an item; want a request a shard, or a request a part of %d bytes", base, reqs, readB*perItem, part)
			}
		} else if reqs != 1 || !(readB > 1 && readB < 1.1) || hasDropped {
			t.Errorf("%s: %v requests/item, %v read-B/B, dropped/item %v; want one request a sample and its span", base, reqs, readB, hasDropped)
		}
		if eff, _ := value(r, results.Efficiency); eff > 1.05 {
			t.Errorf("%s: efficiency %v", base, eff)
		}
	}
	for name := range want {
		t.Errorf("no result for %s", name)
	}
	if strings.LastIndex(out.stdout, "\n"+results.ConfigDatasetShards+":\n") < strings.LastIndex(out.stdout, "\nBenchmarkLoad/") {
		t.Errorf("after the tar lines, %s is not cleared:\n%s", results.ConfigDatasetShards, out.stdout)
	}
}

// TestPartsLoadOutput runs the Load benchmarks with every item read in
// ranged parts of 32 kB (the synthetic items are 8 kB to 1 MiB), and
// whole, on every hermetic backend, every item's bytes checked: with no
// latency in both modes, and under a fixed 20 ms in async mode, where
// the bound counts a request a part. It checks what parts add: the
// requests an item took, in the name and in the bound.
func TestPartsLoadOutput(t *testing.T) {
	const items, workers, batch = 40, 2, 10
	n := 30 * workers * batch // the async lines' 10 batch periods
	want := map[string]bool{}
	for _, run := range []struct{ profile, modes string }{{"none", "sync,async"}, {"fixed-20ms", "async"}} {
		out := runBenchmarks(t, map[string]string{
			cases.Items:       strconv.Itoa(items),
			cases.Workers.Var: strconv.Itoa(workers),
			cases.Batch.Var:   strconv.Itoa(batch),
			cases.Profile.Var: run.profile,
			cases.Mode.Var:    run.modes,
			cases.Part.Var:    "0,32kB",
		}, false, "-test.bench=^BenchmarkLoad$", fmt.Sprintf("-test.benchtime=%dx", n), "-deep")
		for _, b := range []string{"mem", "local", "fakes3"} {
			for _, m := range strings.Split(run.modes, ",") {
				for _, part := range []string{"", "/part=32kB"} {
					want[fmt.Sprintf("Load/backend=%s/profile=%s%s/mode=%s/workers=%d/batch=%d", b, run.profile, part, m, workers, batch)] = true
				}
			}
		}
		// Under a fixed latency the bound is C/L requests a second: in
		// parts, that over the requests an item takes. Compared as
		// bounds (computed, not timed), so that a busy machine cannot
		// fail it; efficiency only checks the bound is not too low.
		whole, inParts := map[string]float64{}, map[string]float64{} // bounds, in requests/s, by name without the part
		for _, r := range out.results {
			full := string(r.Name.Full())
			base := full[:strings.LastIndexByte(full, '-')]
			if !want[base] {
				t.Errorf("unexpected result %s", r.Name.Full())
				continue
			}
			delete(want, base)
			checkLoadLine(t, r)
			reqs, ok := value(r, results.RequestsPerItem)
			parts := strings.Contains(base, "/part=")
			// The synthetic items average about 122 kB: about 4.3 parts
			// of 32 kB.
			if parts && !(reqs > 3 && reqs < 6) || !parts && ok {
				t.Errorf("%s: %v requests/item (%v); want about 4 in parts, none reported whole", base, reqs, ok)
			}
			if run.profile == "none" {
				continue
			}
			bound, _ := value(r, results.BoundItemsPerSec)
			if eff, _ := value(r, results.Efficiency); eff > 1.05 {
				t.Errorf("%s: efficiency %v above its bound %v: a request a part not counted", base, eff, bound)
			}
			if parts {
				inParts[strings.Replace(base, "/part=32kB", "", 1)] = bound * reqs
			} else {
				whole[base] = bound
			}
		}
		// C/L: the async lines keep workers x batch reads in flight.
		cl := float64(workers*batch) / 0.020
		for name, w := range whole {
			// requests/item is measured over the timed reads, the bound's
			// items per request over the whole dataset: within 10%. The
			// raw rate caps a bound only on a machine too busy to reach
			// C/L with no latency; then only the ceiling is checked.
			p, ok := inParts[name]
			if !ok || p > 1.1*cl || w > 1.001*cl || (w > 0.999*cl && p < 0.9*cl) {
				t.Errorf("%s: bounds %v requests/s whole, %v in parts (bound x requests/item, %v); want C/L = %v, a request a part", name, w, p, ok, cl)
			}
		}
	}
	for name := range want {
		t.Errorf("no result for %s", name)
	}
}

// TestHeaderAfterTests runs the package's tests and then a benchmark in
// one process, as go test -bench . does, and checks that the benchmark
// output still starts with its header: a test that ran a benchmark through
// testing.Benchmark would have used it up, and benchstat would not pair
// the results. (Tests that run child processes skip under -short.)
func TestHeaderAfterTests(t *testing.T) {
	out := runBenchmarks(t, map[string]string{cases.Items: "20"}, false,
		"-test.run=.", "-test.short", "-test.bench=^BenchmarkDecode$/^concurrency=1$", "-test.benchtime=1x")
	checkHeader(t, out.stdout)
	if len(out.results) != 1 {
		t.Errorf("%d results, want 1:\n%s", len(out.results), out.stdout)
	}
}

// TestBoundHolds runs the loader under emulated latency, where the bound
// is analytic, and checks that no line exceeds it (efficiency <= 1.05)
// and that under fixed latency, where the loader has no stragglers, the
// loader keeps C reads in flight and the bound is tight. The
// configurations include those that once read 1.28-1.41: sync with 2
// workers and async on fakes3.
func TestBoundHolds(t *testing.T) {
	const items, workers, batch = 40, 2, 10
	n := 25 * workers * batch
	for _, tc := range []struct {
		backends, profile string
		tight             bool // the bound must be reached within 10%
	}{
		{"mem,local", "fixed-20ms", true},
		{"mem,fakes3", "s3", false},
	} {
		t.Run(tc.profile, func(t *testing.T) {
			out := runBenchmarks(t, map[string]string{
				cases.Backend.Var: tc.backends,
				cases.Items:       strconv.Itoa(items),
				cases.Workers.Var: strconv.Itoa(workers),
				cases.Batch.Var:   strconv.Itoa(batch),
				cases.Profile.Var: tc.profile,
			}, false, "-test.bench=^BenchmarkLoad$", fmt.Sprintf("-test.benchtime=%dx", n))
			if len(out.results) != 4 {
				t.Fatalf("%d results, want 4:\n%s", len(out.results), out.stdout)
			}
			p, err := fakes.LookupProfile(tc.profile)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range out.results {
				name := string(r.Name.Full())
				checkLoadLine(t, r)
				eff, _ := value(r, results.Efficiency)
				if eff > 1.05 {
					t.Errorf("%s: efficiency %.3f > 1.05: the bound does not bound", name, eff)
				}
				// The bound is C/L for the item sizes read, unless the best
				// raw rate, at least the rate at C, is lower.
				c := workers
				if namePart(r, "mode") == "async" {
					c *= batch
				}
				// Under fixed latency the loader keeps C reads in flight,
				// so by Little's law it delivers C over the mean getitem.
				// The emulator's timers wake late on a loaded machine
				// (other packages' race-enabled tests, a browser), which
				// lengthens every read alike: the measured getitem, not
				// L, is the fair yardstick here, while efficiency below
				// half would mean a bound loose by a factor.
				if tc.tight {
					rate, _ := value(r, results.ItemsPerSecond)
					getitem, _ := value(r, results.LevelUnit("getitem", "mean"))
					if little := float64(c) / (getitem * 1e-9); rate < 0.9*little || eff < 0.5 {
						t.Errorf("%s: %.1f items/s, efficiency %.3f under fixed latency, against C/getitem = %.1f: the loader or the bound is loose", name, rate, eff, little)
					}
				}
				perItem, _ := value(r, results.BytesPerItem)
				bound, _ := value(r, results.BoundItemsPerSec)
				raw, _ := value(r, results.RawItemsPerSec)
				analytic := float64(c) / p.MeanLatency(int64(math.Round(perItem))).Seconds()
				if bound > analytic*1.001 || bound < analytic*0.999 && bound < raw*0.999 {
					t.Errorf("%s: bound %.1f, want C/L = %.1f or a raw cap of at least %.1f", name, bound, analytic, raw)
				}
				// The raw baseline reads with no emulated latency: with 2
				// readers, far faster than C/L (even under the race detector).
				if c == workers && raw < 5*analytic {
					t.Errorf("%s: raw-items/s %.1f is near C/L = %.1f: the raw readers read under the emulated latency", name, raw, analytic)
				}
			}
		})
	}
}

// TestRunSizing checks how Load lines are sized: a count too short to
// time every level is refused before the timed run, naming a count that
// suits the line, which then passes; a duration is lengthened to whole
// rounds covering the minimums; -short says smoke; and a line whose round
// is larger than an epoch leaves the epoch level out and says so.
func TestRunSizing(t *testing.T) {
	vars := map[string]string{
		cases.Backend.Var: "mem,local",
		cases.Items:       "40",
		cases.Workers.Var: "2",
		cases.Batch.Var:   "10",
		cases.Mode.Var:    "async",
		cases.Profile.Var: "none",
	}
	// Async, 2 workers of batches of 10, prefetch 2: 25 rounds of 20.
	const need = 25 * 2 * 10
	out := runBenchmarks(t, vars, true, "-test.bench=^BenchmarkLoad$", "-test.benchtime=30x")
	advice := fmt.Sprintf("Run with -benchtime %dx", need)
	if !strings.Contains(out.stdout, "-benchtime 30x is too short to time every level") || !strings.Contains(out.stdout, advice) {
		t.Errorf("a 30-item run printed:\n%s\nwant a refusal advising %q", out.stdout, advice)
	}
	if len(out.results) != 0 {
		t.Errorf("a run too short printed results:\n%s", out.stdout)
	}
	// The advice, followed.
	out = runBenchmarks(t, vars, false, "-test.bench=^BenchmarkLoad$", fmt.Sprintf("-test.benchtime=%dx", need))
	if len(out.results) != 2 {
		t.Fatalf("%d results at the advised count, want 2:\n%s", len(out.results), out.stdout)
	}
	for _, r := range out.results {
		if r.Iters != need {
			t.Errorf("%s: %d items, want the count given, %d", r.Name.Full(), r.Iters, need)
		}
		checkLoadLine(t, r)
	}
	// A duration far too short: each line lengthened to whole rounds,
	// at least its minimums; and the smoke run says so.
	vars[cases.Workers.Var] = "2,8"
	out = runBenchmarks(t, vars, false, "-test.short", "-test.bench=^BenchmarkLoad$", "-test.benchtime=1ms")
	if out.config["smoke"] != "true" {
		t.Errorf("a -short run does not say smoke: true:\n%s", out.stdout)
	}
	if len(out.results) != 4 {
		t.Fatalf("%d results, want 4:\n%s", len(out.results), out.stdout)
	}
	for _, r := range out.results {
		workers, _ := strconv.Atoi(namePart(r, cases.Workers.Key))
		round := workers * 10
		if r.Iters%round != 0 || r.Iters < 25*round {
			t.Errorf("%s: %d items, want whole rounds of %d, at least 25", r.Name.Full(), r.Iters, round)
		}
		// 8 workers x 10 is a round of 80 items, over an epoch of 40:
		// the epoch level means nothing there, and is left out.
		untimed := r.GetConfig(results.ConfigUntimedLevels)
		_, hasEpoch := value(r, "epoch-mean-ns")
		if workers == 8 && (untimed != "epoch" || hasEpoch) || workers == 2 && (untimed != "" || !hasEpoch) {
			t.Errorf("%s: untimed-levels %q, epoch level reported %v", r.Name.Full(), untimed, hasEpoch)
		}
		ns, _ := value(r, "ns/op")
		rate, _ := value(r, results.ItemsPerSecond)
		mbs, _ := value(r, results.MBPerSecond)
		// No read from memory or a local folder goes faster than
		// 100 GB/s on this machine, and no rate is zero.
		if rate <= 0 || math.Abs(rate*ns/1e9-1) > 0.01 || mbs <= 0 || mbs > 100e3 {
			t.Errorf("%s: items/s %v, ns/op %v, MB/s %v: impossible values", r.Name.Full(), rate, ns, mbs)
		}
	}
}

// TestRawAndDecodeOutput checks the Raw and Decode lines: items/s agrees
// with ns/op and MB/s counts the bytes read.
func TestRawAndDecodeOutput(t *testing.T) {
	out := runBenchmarks(t, map[string]string{
		cases.Backend.Var:     "mem,fakes3",
		cases.Items:           "20",
		cases.Concurrency.Var: "1,4",
		cases.Profile.Var:     "none",
	}, false, "-test.bench=^Benchmark(Raw|Decode)$", "-test.benchtime=40x")
	if len(out.results) != 6 {
		t.Fatalf("%d results, want 6:\n%s", len(out.results), out.stdout)
	}
	mean, err := strconv.ParseFloat(out.config["dataset-mean-bytes"], 64)
	if err != nil {
		t.Fatalf("dataset-mean-bytes: %v", err)
	}
	for _, r := range out.results {
		ns, _ := value(r, "ns/op")
		rate, _ := value(r, results.ItemsPerSecond)
		mbs, _ := value(r, results.MBPerSecond)
		if math.Abs(rate*ns/1e9-1) > 0.01 {
			t.Errorf("%s: items/s %v x ns/op %v, want 1e9", r.Name.Full(), rate, ns)
		}
		// 40 reads of 20 items: each item twice, so the bytes per item
		// read are the dataset's mean.
		if perItem := mbs * 1e6 / rate; math.Abs(perItem/mean-1) > 0.01 {
			t.Errorf("%s: MB/s gives %.0f B/item, want the mean %.0f", r.Name.Full(), perItem, mean)
		}
	}
}

// TestConsumerDetectsBadReads makes a source whose expected sizes are
// wrong: the consumer must fail rather than count bytes it did not read,
// and Check must catch wrong lengths and, deep, wrong content.
func TestConsumerDetectsBadReads(t *testing.T) {
	src := equalSource(t, "mem", 20, 100)
	src.Sizes[3] = 99
	ds, _, err := src.Dataset(fakes.Profile{}, nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	l, err := loader.New(ds, loader.Options{Workers: 2, BatchSize: 5})
	if err != nil {
		t.Fatal(err)
	}
	it, err := l.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	con := consumer{it: it, src: src}
	if err := con.fill(4); err == nil || !strings.Contains(err.Error(), "read 100 bytes, want 99") {
		t.Errorf("fill over a misread item = %v, want an error naming the sizes", err)
	}
	src.Sizes[3] = 100
	if err := src.Check(3, make([]byte, 99), false); err == nil {
		t.Error("Check accepted an item of the wrong length")
	}
	if err := src.Check(3, make([]byte, 100), true); err == nil {
		t.Error("Check with deep set accepted wrong content")
	}
	if err := src.Check(3, src.Content(3), true); err != nil {
		t.Errorf("Check of the right bytes = %v", err)
	}
}

// TestBound checks the bound's arithmetic: C/L for the item sizes read
// under a profile with latency, capped by the prefix's rate and burst over
// the run and by the best raw rate.
func TestBound(t *testing.T) {
	s3, _ := fakes.LookupProfile("s3")
	fixed, _ := fakes.LookupProfile("fixed-20ms")
	for _, tc := range []struct {
		name      string
		p         fakes.Profile
		c         int
		meanBytes float64
		raw, want float64
	}{
		{"none is the raw cap", fakes.Profile{Name: "none"}, 8, 1000, 5000, 5000},
		{"fixed: C/L", fixed, 10, 1000, 5000, 500},
		{"fixed: capped", fixed, 1000, 1000, 5000, 5000},
		{"s3: ttfb and bandwidth", s3, 100, 90e3, 1e6, 100 / (s3.TTFB.Mean().Seconds() + 1e-3)},
		// 1,600 reads in flight would carry 48,000/s; the prefix admits
		// 5,500/s and, over the 10 s run, the 550 of its burst.
		{"s3: the prefix and its burst", s3, 1600, 90e3, 1e6, 5500 + 550/10.0},
	} {
		if got := Bound(tc.p, tc.c, tc.meanBytes, tc.raw, 10*time.Second); math.Abs(got/tc.want-1) > 1e-6 {
			t.Errorf("%s: Bound = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestLadder(t *testing.T) {
	for _, tc := range []struct {
		c    int
		want []int
	}{
		{1, []int{1}},
		{2, []int{2, 1}},
		{3, []int{3, 2}},
		{4, []int{4, 2}},
		{8, []int{8, 4, 2}},
		{16, []int{16, 4, 2}},
		{100, []int{100, 64, 16, 4, 2}},
		{1600, []int{1600, 1024, 256, 64, 16, 4, 2}},
	} {
		if got := ladder(tc.c); fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("ladder(%d) = %v, want %v", tc.c, got, tc.want)
		}
	}
}

// TestRawBuffers checks that the raw baseline's buffers, once warmed,
// take about their hold times the mean item, not the largest item each
// might hold (gigabytes at holds of thousands of ImageNet-sized items,
// faulted in while the baseline was timed), and that reading on after the
// warm-up rarely allocates.
func TestRawBuffers(t *testing.T) {
	src := source(t, "mem")
	ctx := context.Background()
	for _, tc := range []struct{ c, hold int }{
		{8, RawHold},
		{8, 1616}, // gcd(1616, 2000) = 16: each buffer held 125 items of 2,000
		{100, 100},
	} {
		t.Run(fmt.Sprintf("c=%d/hold=%d", tc.c, tc.hold), func(t *testing.T) {
			r := newRawReader(src, dataset.New(dataset.NewStore(src.backend), src.Index), tc.c, tc.hold, false)
			if err := r.warm(ctx); err != nil {
				t.Fatal(err)
			}
			n := 2 * r.nbufs
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			if _, _, err := r.read(ctx, n, 0); err != nil {
				t.Fatal(err)
			}
			runtime.ReadMemStats(&after)
			var held int64
			for i := range r.nbufs {
				b, ok := r.bufs.Get()
				if !ok {
					t.Fatalf("%d of %d buffers free after the reads", i, r.nbufs)
				}
				held += int64(cap(b))
			}
			if hold := float64(held) / (float64(r.nbufs) * src.MeanSize()); hold > 2 {
				t.Errorf("buffers of %d bytes in all: %.2f x hold x mean item, want at most 2", held, hold)
			}
			read := float64(n) * src.MeanSize()
			if alloc := float64(after.TotalAlloc - before.TotalAlloc); alloc > 0.05*read {
				t.Errorf("reading %d items after the warm-up allocated %.0f bytes, %.1f%% of those read, want under 5%%", n, alloc, 100*alloc/read)
			}
		})
	}
}

// equalSource returns a source of n items of size bytes each on the named
// hermetic backend, with known content.
func equalSource(t *testing.T, name string, n, size int) *Source {
	t.Helper()
	ctx := context.Background()
	idx := make(dataset.Index, n)
	content := make([][]byte, n)
	objs := map[string][]byte{}
	for i := range n {
		idx[i] = fmt.Sprintf("val/item_%04d.bin", i)
		content[i] = make([]byte, size)
		for j := range content[i] {
			content[i][j] = byte(i*7 + j)
		}
		objs[idx[i]] = content[i]
	}
	src, err := newSource(ctx, name, "test", mem.New(objs), idx, func(i int) []byte { return content[i] })
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func TestCommonPrefix(t *testing.T) {
	for _, tc := range []struct {
		idx  dataset.Index
		want string
	}{
		{dataset.Index{"scratch/imagenet/val/a.JPEG", "scratch/imagenet/val/b.JPEG"}, "scratch/imagenet/val/"},
		{dataset.Index{"scratch/imagenet/val/a.JPEG", "scratch/imagenet/train/b.JPEG"}, "scratch/imagenet/"},
		{dataset.Index{"a.JPEG", "b.JPEG"}, ""},
		{dataset.Index{"val/only.JPEG"}, "val/"},
	} {
		if got := commonPrefix(tc.idx); got != tc.want {
			t.Errorf("commonPrefix(%q) = %q, want %q", tc.idx, got, tc.want)
		}
	}
}

// TestFaultyLoadOutput runs Load lines with every fault injected, on each
// hermetic backend, under both schedulers, failing on errors and skipping
// them: the lines are named after their faults, every item delivered has
// its exact bytes (-deep), and the error and retry metrics show the
// faults, on faulty lines only.
func TestFaultyLoadOutput(t *testing.T) {
	const items, workers, batch = 40, 2, 10
	const spec = "slowdown:0.03+internal:0.03+reset:0.03+short:0.03+stall:0.03+trickle:0.03"
	n := 30 * workers * batch
	for _, tc := range []struct {
		onerror  string
		attempts string
	}{{"fail", "8"}, {"skip", "1"}} {
		t.Run(tc.onerror, func(t *testing.T) {
			out := runBenchmarks(t, map[string]string{
				cases.Items:       strconv.Itoa(items),
				cases.Workers.Var: strconv.Itoa(workers),
				cases.Batch.Var:   strconv.Itoa(batch),
				cases.Mode.Var:    "async",
				cases.Profile.Var: "none",
				cases.Sched.Var:   "batch,item",
				cases.Backend.Var: "mem,fakes3", // local is faulted as mem is
				cases.Faults.Var:  spec,
				cases.OnError.Var: tc.onerror,
				cases.Attempts:    tc.attempts,
				cases.FirstByte:   "200ms",
				cases.Idle:        "200ms",
			}, false, "-test.bench=^BenchmarkLoad$", fmt.Sprintf("-test.benchtime=%dx", n), "-deep")
			faulty := 0
			for _, r := range out.results {
				name := string(r.Name.Full())
				if got := namePart(r, cases.OnError.Key); got != tc.onerror {
					t.Errorf("%s: onerror=%q in the name, want %q", name, got, tc.onerror)
				}
				checkLoadLine(t, r)
				errs, _ := value(r, results.ErrorsPerItem)
				if f := namePart(r, cases.Faults.Key); f != spec {
					t.Errorf("%s: faults=%q, want %q", name, f, spec)
				}
				faulty++
				retries, _ := value(r, results.RetriesPerItem)
				skipped, _ := value(r, results.SkippedPerItem)
				pct, okPct := value(r, results.RetryTimePercent)
				// 15% of reads fail (trickles do not); with no retries,
				// as many items are skipped.
				if errs < 0.07 || errs > 0.3 || !okPct {
					t.Errorf("%s: %s = %v (%s reported: %v), want about 0.15", name, results.ErrorsPerItem, errs, results.RetryTimePercent, okPct)
				}
				switch tc.onerror {
				case "fail":
					if retries != errs || skipped != 0 || pct <= 0 || pct > 100 {
						t.Errorf("%s: %v retries/item, %v skipped/item, %v%% retrying; want a retry per error, none skipped, some time retrying", name, retries, skipped, pct)
					}
				case "skip":
					// Items read ahead of the timed run's end, or before its
					// start and delivered in it, count on one side only.
					if retries != 0 || math.Abs(skipped-errs) > 0.02 || pct != 0 {
						t.Errorf("%s: %v retries/item, %v skipped/item, %v%% retrying; want an item skipped per error and no retry", name, retries, skipped, pct)
					}
				}
			}
			if faulty != 4 {
				t.Errorf("%d faulty lines, want 4 (2 backends, 2 schedulers)", faulty)
			}
		})
	}
}

// TestCheckedBeforeAnyLine checks that a configured store that cannot be
// read fails the run before any line runs, naming its variable, whichever
// benchmark is selected: not after the lines before it.
func TestCheckedBeforeAnyLine(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "index.json")
	if err := os.WriteFile(bad, []byte(`["a", `), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		vars map[string]string
		want string
	}{
		{"missing S3 configuration", map[string]string{cases.S3Config: filepath.Join(dir, "missing.json")}, "STORAGEBENCH_S3_CONFIG"},
		{"bad scratch index", map[string]string{cases.ScratchRoot: dir, cases.ScratchIndex: bad}, "STORAGEBENCH_SCRATCH_INDEX"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vars := maps.Clone(tc.vars)
			vars[cases.Items] = "20"
			out := runBenchmarks(t, vars, true, "-test.bench=^BenchmarkRaw$")
			if len(out.results) != 0 || strings.Contains(out.stdout, "BenchmarkRaw/") {
				t.Errorf("lines ran before the misconfigured store failed:\n%s", out.stdout)
			}
			if !strings.Contains(out.stderr, tc.want) {
				t.Errorf("stderr:\n%s\nwant an error naming %s", out.stderr, tc.want)
			}
		})
	}
}
