package cases

import (
	"slices"
	"strings"
	"testing"

	"github.com/storagebench/storagebench/results"
)

// env returns a getenv of vars.
func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// TestNamesRoundTrip checks, for names that exist today and for every
// dimension at a value other than its default, that name -> case -> name
// gives the name back exactly.
func TestNamesRoundTrip(t *testing.T) {
	names := []string{
		// Spelled as before the table, so that older results pair.
		"BenchmarkRaw/backend=mem/profile=none/concurrency=4",
		"BenchmarkRaw/backend=fakes3/profile=s3/faults=slowdown:0.05+stall:0.01/concurrency=64",
		"BenchmarkLoad/backend=mem/profile=none/mode=sync/workers=2/batch=50",
		"BenchmarkLoad/backend=fakes3/profile=s3/mode=async/workers=8/batch=50",
		"BenchmarkLoad/backend=local/profile=fixed-20ms/mode=async/workers=8/batch=50/fetch=64/sched=item/window=2048",
		"BenchmarkLoad/backend=mem/profile=s3/mode=async/workers=2/batch=50/sched=item/window=400/hedge=p90",
		"BenchmarkLoad/backend=fakes3/profile=seed-s3/mode=async/workers=32/batch=50/decode=jpeg",
		"BenchmarkLoad/backend=mem/profile=none/faults=internal:0.1/mode=async/workers=2/batch=50/onerror=skip",
		"BenchmarkLoad/backend=s3/profile=none/mode=sync/workers=2/batch=10/fetch=0",
		"BenchmarkTrain/backend=fakes3/profile=seed-s3/workload=resnet50-h100/accel=3/mode=async/workers=4/batch=400/fetch=80",
		"BenchmarkTrain/backend=mem/profile=none/workload=compute-20ms/accel=2/mode=async/workers=2/batch=10/sched=item/window=90/hedge=20ms",
		"BenchmarkTrain/backend=mem/profile=none/workload=compute-20ms~5ms/accel=1/mode=sync/workers=2/batch=10/onerror=deliver",
		// The cache setting, on folder backends only.
		"BenchmarkLoad/backend=local/profile=none/cache=cold/mode=sync/workers=2/batch=50",
		"BenchmarkRaw/backend=scratch/profile=none/cache=direct/concurrency=1",
		"BenchmarkTrain/backend=scratch/profile=none/cache=warm/workload=resnet50-h100/accel=1/mode=async/workers=8/batch=400",
		// Tar shards: streamed, with and without a shuffle buffer, and
		// read by range.
		"BenchmarkLoad/backend=mem/profile=s3/format=tar/shard=64MB/read=stream/mode=async/workers=8/batch=50",
		"BenchmarkLoad/backend=fakes3/profile=none/format=tar/shard=1MiB/read=stream/shuffle=1000/mode=sync/workers=2/batch=50",
		"BenchmarkLoad/backend=local/profile=none/format=tar/shard=64MB/read=range/mode=async/workers=8/batch=50/sched=item/window=2048",
		"BenchmarkTrain/backend=mem/profile=seed-s3/format=tar/shard=64MB/read=stream/workload=resnet50-h100/accel=14/mode=async/workers=4/batch=400/fetch=8",
		// Large items in ranged parts.
		"BenchmarkTrain/backend=mem/profile=s3/part=8MB/workload=unet3d-h100/accel=1/mode=async/workers=2/batch=7/fetch=24",
		"BenchmarkLoad/backend=fakes3/profile=none/part=8MiB/mode=sync/workers=2/batch=50",
		"BenchmarkLoad/backend=mem/profile=s3/format=tar/shard=256MB/read=stream/shuffle=1000/part=8MB/mode=async/workers=2/batch=50/fetch=16",
	}
	for _, name := range names {
		c, err := Parse(name + "-2")
		if err != nil {
			t.Errorf("Parse(%q): %v", name, err)
			continue
		}
		if got := c.Name(); got != name {
			t.Errorf("Parse(%q).Name() = %q", name, got)
		}
	}
	// Every dimension, at a value other than its default, on a case of a
	// benchmark it applies to: the name carries it and round-trips.
	other := map[string]string{
		"backend": "local", "profile": "nvme", "faults": "reset:0.01", "cache": "cold", "concurrency": "16",
		"workload": "unet3d-h100", "accel": "8", "mode": "async", "workers": "16", "batch": "7",
		"fetch": "4", "decode": "jpeg", "onerror": "skip", "sched": "item", "window": "4C", "hedge": "p99",
		"format": "tar", "shard": "64MiB", "read": "range", "shuffle": "1000", "part": "8MB",
	}
	for _, d := range Dims {
		v, ok := other[d.Key]
		if !ok {
			t.Errorf("dimension %s has no test value: add it to this test", d.Key)
			continue
		}
		c := NewCase(d.Benches[len(d.Benches)-1])
		if d.applies != nil {
			c.Backend, c.Sched, c.Mode = "local", "item", "async"
			c.Format, c.Shard, c.Read = FormatTar, 64_000_000, ReadStream
			if d == Shuffle {
				c.Sched = "batch" // streams are read by the batch scheduler
			}
			if d == Part {
				c.Sched = "batch" // parts of streamed shards, by the batch scheduler
			}
		}
		if err := c.Set(d, v); err != nil {
			t.Errorf("%s: Set(%q): %v", d.Key, v, err)
			continue
		}
		name := c.Name()
		if !strings.Contains(name, "/"+d.Key+"=") {
			t.Errorf("%s=%s: name %q does not carry it", d.Key, v, name)
		}
		back, err := Parse(name)
		if err != nil {
			t.Errorf("%s=%s: Parse(%q): %v", d.Key, v, name, err)
			continue
		}
		if back.Name() != name || back.Value(d) != c.Value(d) {
			t.Errorf("%s=%s: %q parsed back as %q", d.Key, v, name, back.Name())
		}
	}
}

// TestTable checks the table itself: keys and variables unique, each
// dimension's default parses, and every entry has what the README and the
// name readers need. Adding a dimension is one entry of Dims.
func TestTable(t *testing.T) {
	keys, vars := map[string]bool{}, map[string]bool{}
	for _, d := range Dims {
		if keys[d.Key] || vars[d.Var] {
			t.Errorf("%s (%s) given twice", d.Key, d.Var)
		}
		keys[d.Key], vars[d.Var] = true, true
		if d.Meaning == "" || d.Default == "" && d.DefaultDoc == "" || len(d.Benches) == 0 || d.parse == nil || d.format == nil || d.isDefault == nil {
			t.Errorf("%s: incomplete entry", d.Key)
		}
		if !strings.HasPrefix(d.Var, Prefix) {
			t.Errorf("%s: variable %s lacks the prefix %s", d.Key, d.Var, Prefix)
		}
		if Lookup(d.Key) != d {
			t.Errorf("Lookup(%q) is not its entry", d.Key)
		}
	}
	var md strings.Builder
	if err := WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	for _, d := range Dims {
		if !strings.Contains(md.String(), "`"+d.Var+"`") {
			t.Errorf("%s is missing from the README's table", d.Var)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ name, want string }{
		{"BenchmarkDecode/concurrency=1", "has no cases"},
		{"BenchmarkLoad/backend=mem/profile=none/mode=sync/workers=2/batch=50/color=red", `unknown key "color"`},
		{"BenchmarkLoad/backend=mem/profile=none/mode=sync/workers=x/batch=50", `workers=x`},
		{"BenchmarkLoad/backend=mem/profile=none/mode=sync/batch=50/workers=2", "out of order"},
		{"BenchmarkRaw/backend=mem/profile=none/mode=sync/concurrency=1", "not a dimension of Raw"},
		{"BenchmarkLoad/backend=mem/profile=none/mode=sync/workers=2/batch=50/window=400", "does not apply"},
		{"BenchmarkLoad/backend=mem/profile=none/mode=sync/workers=2/batch=50/sched=batch", "not as this suite writes it"},
		{"BenchmarkLoad/backend=nfs/profile=none/mode=sync/workers=2/batch=50", `unknown backend "nfs"`},
		{"BenchmarkLoad/backend=mem/profile=none/cache=cold/mode=sync/workers=2/batch=50", "does not apply"},
		{"BenchmarkLoad/backend=local/profile=none/cache=hot/mode=sync/workers=2/batch=50", `unknown cache setting "hot"`},
	} {
		if _, err := Parse(tc.name); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
}

// TestMatrix checks the product: the defaults, a variable's list, the
// exclusion of sync with fetch > 1, the item scheduler's windows and
// hedges, WhenSet keys named once set, and a real store's own profile.
func TestMatrix(t *testing.T) {
	names := func(m *Matrix, bench string) []string {
		var out []string
		for c := range m.Cases(bench) {
			out = append(out, strings.TrimPrefix(c.Name(), "Benchmark"+bench+"/"))
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		vars  map[string]string
		bench string
		want  []string
	}{
		{"raw defaults", map[string]string{"STORAGEBENCH_BACKENDS": "mem", "STORAGEBENCH_CONCURRENCY": "1,4"}, results.Raw,
			[]string{"backend=mem/profile=none/concurrency=1", "backend=mem/profile=none/concurrency=4"}},
		{"s3 on fakes3 by default", map[string]string{"STORAGEBENCH_BACKENDS": "mem,fakes3", "STORAGEBENCH_WORKERS": "2", "STORAGEBENCH_MODES": "sync"}, results.Load,
			[]string{"backend=mem/profile=none/mode=sync/workers=2/batch=50", "backend=fakes3/profile=none/mode=sync/workers=2/batch=50", "backend=fakes3/profile=s3/mode=sync/workers=2/batch=50"}},
		{"fetch named, sync fetch>1 left out", map[string]string{"STORAGEBENCH_BACKENDS": "mem", "STORAGEBENCH_WORKERS": "2", "STORAGEBENCH_FETCH": "0,8"}, results.Load,
			[]string{"backend=mem/profile=none/mode=sync/workers=2/batch=50/fetch=0", "backend=mem/profile=none/mode=async/workers=2/batch=50/fetch=0", "backend=mem/profile=none/mode=async/workers=2/batch=50/fetch=8"}},
		{"schedulers", map[string]string{"STORAGEBENCH_BACKENDS": "mem", "STORAGEBENCH_MODES": "async", "STORAGEBENCH_WORKERS": "2", "STORAGEBENCH_SCHED": "batch,item", "STORAGEBENCH_WINDOW": "4C,800", "STORAGEBENCH_HEDGE": "off,p90"}, results.Load,
			[]string{"backend=mem/profile=none/mode=async/workers=2/batch=50", "backend=mem/profile=none/mode=async/workers=2/batch=50/sched=item/window=400",
				"backend=mem/profile=none/mode=async/workers=2/batch=50/sched=item/window=400/hedge=p90", "backend=mem/profile=none/mode=async/workers=2/batch=50/sched=item/window=800",
				"backend=mem/profile=none/mode=async/workers=2/batch=50/sched=item/window=800/hedge=p90"}},
		{"cache on folders only", map[string]string{"STORAGEBENCH_BACKENDS": "mem,local", "STORAGEBENCH_CACHE": "warm,cold", "STORAGEBENCH_CONCURRENCY": "2"}, results.Raw,
			[]string{"backend=mem/profile=none/concurrency=2", "backend=local/profile=none/cache=warm/concurrency=2", "backend=local/profile=none/cache=cold/concurrency=2"}},
		{"cache unset, unnamed", map[string]string{"STORAGEBENCH_BACKENDS": "local", "STORAGEBENCH_CONCURRENCY": "2"}, results.Raw,
			[]string{"backend=local/profile=none/concurrency=2"}},
		{"train batch from the workload", map[string]string{"STORAGEBENCH_BACKENDS": "mem", "STORAGEBENCH_MODES": "async", "STORAGEBENCH_WORKERS": "4", "STORAGEBENCH_BATCH": "10,20"}, results.Train,
			[]string{"backend=mem/profile=none/workload=resnet50-h100/accel=1/mode=async/workers=4/batch=400"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := NewMatrix(env(tc.vars))
			if err != nil {
				t.Fatal(err)
			}
			if got := names(m, tc.bench); !slices.Equal(got, tc.want) {
				t.Errorf("cases:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
	m, err := NewMatrix(env(map[string]string{"STORAGEBENCH_MODES": "sync", "STORAGEBENCH_WORKERS": "2", "STORAGEBENCH_PROFILES": "seed-s3"}), "s3")
	if err != nil {
		t.Fatal(err)
	}
	m.SetStore("s3", Store{Real: true, Profile: "s3"})
	var s3 []string
	for c := range m.Cases(results.Load) {
		if c.Backend == "s3" {
			s3 = append(s3, c.SubName())
		}
	}
	if want := []string{"profile=s3/mode=sync/workers=2/batch=50"}; !slices.Equal(s3, want) {
		t.Errorf("a real store's cases %q, want only its own profile %q", s3, want)
	}
}

func TestNewMatrixErrors(t *testing.T) {
	for _, tc := range []struct {
		vars map[string]string
		want string
	}{
		{map[string]string{"STORAGEBENCH_WORKERS": "2,x"}, `STORAGEBENCH_WORKERS="2,x"`},
		{map[string]string{"STORAGEBENCH_WORKERS": "0"}, "integer >= 1"},
		{map[string]string{"STORAGEBENCH_BATCH": "50,"}, "empty element"},
		{map[string]string{"STORAGEBENCH_MODES": "sync,fast"}, `unknown mode "fast"`},
		{map[string]string{"STORAGEBENCH_BACKENDS": "mem,nfs"}, `unknown backend "nfs"`},
		{map[string]string{"STORAGEBENCH_BACKENDS": "scratch"}, "backend scratch is not configured: set STORAGEBENCH_SCRATCH_ROOT"},
		{map[string]string{"STORAGEBENCH_BACKENDS": "mem,s3"}, "backend s3 is not configured: set STORAGEBENCH_S3_CONFIG"},
		{map[string]string{"STORAGEBENCH_WINDOW": "4X"}, `STORAGEBENCH_WINDOW="4X": window "4X"`},
		{map[string]string{"STORAGEBENCH_HEDGE": "p100"}, `STORAGEBENCH_HEDGE="p100": hedge "p100"`},
		{map[string]string{"STORAGEBENCH_PROFILES": "glacier"}, "glacier"},
		{map[string]string{"STORAGEBENCH_CACHE": "cold,hot"}, `STORAGEBENCH_CACHE="cold,hot": unknown cache setting "hot"`},
	} {
		if _, err := NewMatrix(env(tc.vars)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewMatrix(%v) = %v, want an error containing %q", tc.vars, err, tc.want)
		}
	}
}

func TestParseLoader(t *testing.T) {
	for _, tc := range []struct {
		in, name, want string // name: the case's sub-name; want: an error
	}{
		{"mode=async/workers=4/fetch=80", "profile=none/workload=resnet50-h100/accel=1/mode=async/workers=4/batch=400/fetch=80", ""},
		{"mode=async/workers=4/sched=item/hedge=p90", "profile=none/workload=resnet50-h100/accel=1/mode=async/workers=4/batch=400/sched=item/window=4800/hedge=p90", ""},
		{"mode=async/prefetch=4", "profile=none/workload=resnet50-h100/accel=1/mode=async/workers=2/batch=400", ""},
		{"mode=async/color=red", "", `unknown key "color"`},
		{"mode=sync/fetch=8", "", "in sync mode"},
		{"workers=2,4", "", "one value a configuration"},
		{"workers=2/workers=4", "", "given twice"},
		{"mode=async/window=100", "", "window applies to the item scheduler only"},
		{"mode=async/sched=item/window=100", "", "window 100 is smaller"},
		{"mode=async/workers=2/fetch=24/part=8MB", "profile=none/part=8MB/workload=resnet50-h100/accel=1/mode=async/workers=2/batch=400/fetch=24", ""},
		{"mode=async/part=0", "profile=none/workload=resnet50-h100/accel=1/mode=async/workers=2/batch=400", ""},
		{"mode=async/part=8MB/sched=item", "", "not sched=item"},
		{"format=tar/part=8MB/mode=async/fetch=8", "profile=none/format=tar/shard=64MB/read=stream/part=8MB/workload=resnet50-h100/accel=1/mode=async/workers=2/batch=400/fetch=8", ""},
		{"format=tar/read=range/part=8MB", "", "part applies to loose items and streamed shards only"},
		{"mode=async/part=-8MB", "", "positive whole number of bytes"},
		{"mode=async/part=lots", "", "positive whole number of bytes"},
	} {
		lc, err := ParseLoader(tc.in)
		if err == nil {
			c := NewCase(results.Train)
			err = lc.Apply(&c)
			if err == nil && c.SubName() != tc.name {
				t.Errorf("ParseLoader(%q): case %q, want %q", tc.in, c.SubName(), tc.name)
			}
		}
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("ParseLoader(%q) = %v, want error %q", tc.in, err, tc.want)
		}
	}
}

// TestParseAny checks that names as other versions wrote them are read:
// keys in another order, a default written or left out.
func TestParseAny(t *testing.T) {
	for _, tc := range []struct{ name, want string }{
		{"BenchmarkLoad/backend=mem/profile=fixed-20ms/mode=async/workers=8/batch=50/sched=item/window=2048/fetch=64-2",
			"BenchmarkLoad/backend=mem/profile=fixed-20ms/mode=async/workers=8/batch=50/fetch=64/sched=item/window=2048"},
		{"BenchmarkTrain/backend=mem/profile=none/workload=unet3d-h100/accel=2/mode=async/workers=8-2",
			"BenchmarkTrain/backend=mem/profile=none/workload=unet3d-h100/accel=2/mode=async/workers=8/batch=7"},
		{"BenchmarkLoad/backend=mem/profile=none/mode=sync/workers=2/batch=50/sched=batch",
			"BenchmarkLoad/backend=mem/profile=none/mode=sync/workers=2/batch=50"},
	} {
		c, err := ParseAny(tc.name)
		if err != nil || c.Name() != tc.want {
			t.Errorf("ParseAny(%q) = %q, %v; want %q", tc.name, c.Name(), err, tc.want)
		}
		if _, err := Parse(tc.name); err == nil {
			t.Errorf("Parse(%q) = nil error, want the strict parser to refuse it", tc.name)
		}
	}
	if _, err := ParseAny("BenchmarkLoad/backend=mem/profile=none/workers=2/workers=4"); err == nil {
		t.Error("ParseAny took a key given twice")
	}
}
