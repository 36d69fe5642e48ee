package cluster

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// t0 is the start of the synthetic runs.
var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// synthRun is one rank's synthetic run of bench: it starts at start and
// consumes rate items a second (of 100 bytes) for d, sampled every second.
type synthRun struct {
	bench       string
	n           int
	start       time.Duration
	d           time.Duration
	rate        float64
	epochs      []string // epoch records, JSON fields after the common ones
	noEnd       bool
	items, skip int64
}

// writeTimeline writes rank's timeline of runs to dir and returns its
// path.
func writeTimeline(t *testing.T, dir string, rank, world int, runID string, runs []synthRun) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, `{"type":"rank","rank":%d,"world-size":%d,"run-id":%q,"items":0}`+"\n", rank, world, runID)
	for i, r := range runs {
		seq := i + 1
		at := func(d time.Duration) string { return t0.Add(r.start + d).Format(time.RFC3339Nano) }
		fmt.Fprintf(&b, `{"type":"start","bench":%q,"seq":%d,"t":%q,"items":0}`+"\n", r.bench, seq, at(0))
		for s := time.Second; s < r.d; s += time.Second {
			n := int64(r.rate * s.Seconds())
			fmt.Fprintf(&b, `{"type":"sample","bench":%q,"seq":%d,"t":%q,"items":%d,"bytes":%d}`+"\n", r.bench, seq, at(s), n, 100*n)
		}
		if r.noEnd {
			continue
		}
		n := int64(r.rate * r.d.Seconds())
		fmt.Fprintf(&b, `{"type":"end","bench":%q,"seq":%d,"n":%d,"t":%q,"items":%d,"bytes":%d}`+"\n", r.bench, seq, r.n, at(r.d), n, 100*n)
		for _, e := range r.epochs {
			fmt.Fprintf(&b, `{"type":"epoch","bench":%q,"seq":%d,%s}`+"\n", r.bench, seq, e)
		}
	}
	path := filepath.Join(dir, fmt.Sprintf("timeline-rank%d.jsonl", rank))
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// epochRec returns the JSON fields of an epoch record: the rank read the
// items idx of epoch e, its share being share, of a plan of want items
// whose hash sum is that of wantIdx.
func epochRec(e int, idx []int, share int, wantIdx []int) string {
	var sum, wantSum uint64
	for _, i := range idx {
		sum += HashIndex(i)
	}
	for _, i := range wantIdx {
		wantSum += HashIndex(i)
	}
	return fmt.Sprintf(`"epoch":%d,"items":%d,"sum":%q,"share":%d,"want":%d,"want-sum":%q`, e, len(idx), hexSum(sum), share, len(wantIdx), hexSum(wantSum))
}

func seq(from, to, step int) []int {
	var out []int
	for i := from; i < to; i += step {
		out = append(out, i)
	}
	return out
}

func readAll(t *testing.T, paths ...string) []*RankTimeline {
	t.Helper()
	var out []*RankTimeline
	for _, p := range paths {
		tl, err := ReadTimeline(p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, tl)
	}
	return out
}

// TestMerge checks the window, the ranks' items in it (interpolated
// between samples), stragglers and the epochs' check, on two ranks of
// known rates.
func TestMerge(t *testing.T) {
	dir := t.TempDir()
	const b = "BenchmarkLoad/backend=s3"
	all := seq(0, 10, 1)
	// Rank 0: 100 items/s from 0 s to 10 s; rank 1: 50 items/s from 2.5 s
	// to 8.5 s. The window is [2.5 s, 8.5 s]: 600 + 300 items over 6 s.
	r0 := []synthRun{
		{bench: b, n: 1000, d: 10 * time.Second, rate: 100, epochs: []string{epochRec(0, seq(0, 10, 2), 5, all), epochRec(1, seq(0, 10, 2), 5, all), epochRec(2, seq(0, 4, 2), 5, all)}},
	}
	r1 := []synthRun{
		{bench: b, n: 1000, start: 2500 * time.Millisecond, d: 6 * time.Second, rate: 50, epochs: []string{epochRec(0, seq(1, 10, 2), 5, all), epochRec(1, seq(1, 10, 2), 5, all)}},
	}
	ms, err := Merge(readAll(t, writeTimeline(t, dir, 0, 2, "r", r0), writeTimeline(t, dir, 1, 2, "r", r1)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 1 {
		t.Fatalf("%d merged runs, want 1", len(ms))
	}
	m := ms[0]
	if m.Window() != 6*time.Second || !m.Start.Equal(t0.Add(2500*time.Millisecond)) {
		t.Errorf("window %v from %v, want 6s from 2.5s", m.Window(), m.Start.Sub(t0))
	}
	if math.Abs(m.Rate()-150) > 1e-9 || math.Abs(m.Ranks[0].Rate-100) > 1e-9 || math.Abs(m.Ranks[1].Rate-50) > 1e-9 {
		t.Errorf("rates %v (ranks %v, %v), want 150 (100, 50)", m.Rate(), m.Ranks[0].Rate, m.Ranks[1].Rate)
	}
	if len(m.Stragglers) != 1 || m.Stragglers[0] != 1 || m.Spread() != 2 {
		t.Errorf("stragglers %v, spread %v; want [1], 2", m.Stragglers, m.Spread())
	}
	if m.Epochs != 2 || len(m.Problems) != 0 || m.EpochItems != 10 {
		t.Errorf("epochs %d of %d items, problems %q; want 2 of 10, none (epoch 2 is rank 0's last, in part)", m.Epochs, m.EpochItems, m.Problems)
	}
	if !math.IsNaN(m.AU) {
		t.Errorf("au %v without training", m.AU)
	}
	var out strings.Builder
	if err := WriteResults(&out, ms, [][2]string{{"dataset-items", "10"}}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"dataset-items: 10\nworld-size: 2\n", b + "\t900\t6666666.7 ns/op\t0.01 MB/s\t150.00 items/s\t2.0000 rank-spread\t1 stragglers\t0.6000 overlap-fraction\n"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("WriteResults wrote\n%s\nwant %q in it", out.String(), want)
		}
	}
	out.Reset()
	if err := WriteTable(&out, ms); err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.HasPrefix(line, "Benchmark") || len(line) > 0 && line[0] >= 'a' && line[0] <= 'z' && strings.Contains(line, ":") {
			t.Errorf("table line %q reads as a result or a configuration line", line)
		}
	}
	if !strings.Contains(out.String(), "straggler") || !strings.Contains(out.String(), "coverage: 2 epochs checked") {
		t.Errorf("table:\n%s", out.String())
	}
}

// TestMergeEpochProblems checks that shares that overlap, an item left
// out of an epoch that is not the rank's last, and ranks of different
// plans are all reported.
func TestMergeEpochProblems(t *testing.T) {
	all := seq(0, 10, 1)
	for _, tc := range []struct {
		name   string
		e0, e1 []string
		want   string
	}{
		{"overlap", []string{epochRec(0, seq(0, 10, 2), 5, all)}, []string{epochRec(0, []int{0, 3, 5, 7, 9}, 5, all)}, "epoch 0: the ranks read 10 items where their shards hold 10, or other items than those"},
		{"left out", []string{epochRec(0, seq(0, 10, 2), 5, all), epochRec(1, seq(0, 10, 2), 5, all)}, []string{epochRec(0, []int{1, 3, 5, 7}, 5, all), epochRec(1, seq(1, 10, 2), 5, all)}, "epoch 0: rank 1 read 4 of its 5 items"},
		{"plans differ", []string{epochRec(0, seq(0, 10, 2), 5, all)}, []string{epochRec(0, seq(1, 10, 2), 5, seq(0, 12, 1))}, "epoch 0: rank 1's plan differs from rank 0's"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p0 := writeTimeline(t, dir, 0, 2, "r", []synthRun{{bench: "B", n: 10, d: 2 * time.Second, rate: 5, epochs: tc.e0}})
			p1 := writeTimeline(t, dir, 1, 2, "r", []synthRun{{bench: "B", n: 10, d: 2 * time.Second, rate: 5, epochs: tc.e1}})
			ms, err := Merge(readAll(t, p0, p1), nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(ms[0].Problems, "\n"); !strings.Contains(got, tc.want) {
				t.Errorf("problems %q, want one containing %q", got, tc.want)
			}
		})
	}
}

// TestMergeErrors checks that runs that cannot be merged are errors
// naming what is wrong.
func TestMergeErrors(t *testing.T) {
	run := func(start time.Duration) []synthRun {
		return []synthRun{{bench: "B", n: 10, start: start, d: 2 * time.Second, rate: 5}}
	}
	for _, tc := range []struct {
		name  string
		ranks func(dir string) []string
		want  string
	}{
		{"missing rank", func(dir string) []string {
			return []string{writeTimeline(t, dir, 0, 3, "r", run(0)), writeTimeline(t, dir, 2, 3, "r", run(0))}
		}, `run "r" has 3 ranks, but no timeline of rank 1 was given`},
		{"two runs", func(dir string) []string {
			return []string{writeTimeline(t, dir, 0, 2, "r", run(0)), writeTimeline(t, dir, 1, 2, "s", run(0))}
		}, `is of run "s"`},
		{"no overlap", func(dir string) []string {
			return []string{writeTimeline(t, dir, 0, 2, "r", run(0)), writeTimeline(t, dir, 1, 2, "r", run(3*time.Second))}
		}, "the ranks' timed runs never all ran at once"},
		{"died", func(dir string) []string {
			r := run(0)
			r[0].noEnd = true
			return []string{writeTimeline(t, dir, 0, 2, "r", run(0)), writeTimeline(t, dir, 1, 2, "r", r)}
		}, "rank 1's run of B has no end"},
		{"other benchmarks", func(dir string) []string {
			return []string{writeTimeline(t, dir, 0, 2, "r", append(run(0), run(3*time.Second)...)), writeTimeline(t, dir, 1, 2, "r", run(0))}
		}, "rank 0 ran B 2 times, rank 1 1 times"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Merge(readAll(t, tc.ranks(t.TempDir())...), nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Merge = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// TestReadTimelineErrors checks that a damaged timeline is an error
// naming its file and line.
func TestReadTimelineErrors(t *testing.T) {
	for _, tc := range []struct {
		name, content, want string
	}{
		{"empty", "", "empty timeline"},
		{"no head", `{"type":"start","bench":"B","seq":1,"t":"2026-01-01T00:00:00Z","items":0}`, ":1: not a timeline"},
		{"not json", `{"type":"rank","rank":0,"world-size":1,"items":0}` + "\nnope", ":2: invalid character"},
		{"orphan", `{"type":"rank","rank":0,"world-size":1,"items":0}` + "\n" + `{"type":"end","bench":"B","seq":3,"t":"2026-01-01T00:00:00Z","items":0}`, ":2: end of run 3 (B), which did not start"},
		{"backwards", `{"type":"rank","rank":0,"world-size":1,"items":0}` + "\n" + `{"type":"start","bench":"B","seq":1,"t":"2026-01-01T00:00:01Z","items":0}` + "\n" + `{"type":"sample","bench":"B","seq":1,"t":"2026-01-01T00:00:00Z","items":3}`, ":3: run 1 goes back in time"},
		{"bad sum", `{"type":"rank","rank":0,"world-size":1,"items":0}` + "\n" + `{"type":"start","bench":"B","seq":1,"t":"2026-01-01T00:00:01Z","items":0}` + "\n" + `{"type":"epoch","bench":"B","seq":1,"sum":"xyz","want-sum":"0","items":0}`, `:3: epoch 0: sum "xyz"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "t.jsonl")
			os.WriteFile(path, []byte(tc.content), 0o644)
			_, err := ReadTimeline(path)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ReadTimeline = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// TestTimeline writes a timeline through the API and reads it back.
func TestTimeline(t *testing.T) {
	dir := t.TempDir()
	if got := TimelinePath(dir, 3); got != filepath.Join(dir, "timeline-rank3.jsonl") {
		t.Errorf("TimelinePath(folder) = %q", got)
	}
	if got := TimelinePath(filepath.Join(dir, "new")+"/", 1); got != filepath.Join(dir, "new", "timeline-rank1.jsonl") {
		t.Errorf("TimelinePath(new folder/) = %q", got)
	}
	path := TimelinePath(dir, 0)
	tl, err := CreateTimeline(path, World{Rank: 0, Size: 1, Source: "test"}, "run")
	if err != nil {
		t.Fatal(err)
	}
	var c Counter
	c.Add(7, 700) // before the run: not its
	cov := NewCoverage(func(int) (int64, int64, uint64) { return 3, 3, HashIndex(0) + HashIndex(1) + HashIndex(2) })
	run := tl.Start("BenchmarkX", &c)
	c.Add(3, 300)
	cov.Add(0, 0, 1, 2)
	if err := run.End(3, 0); err != nil {
		t.Fatal(err)
	}
	c.Add(1, 100) // after the end: not its
	if err := run.Epochs(cov); err != nil {
		t.Fatal(err)
	}
	run.Abandon() // after End: nothing
	if err := tl.Close(); err != nil {
		t.Fatal(err)
	}
	rt, err := ReadTimeline(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(rt.Runs) != 1 || rt.Runs[0].N != 3 || len(rt.Runs[0].Epochs) != 1 {
		t.Fatalf("read back %+v", rt.Runs)
	}
	r := rt.Runs[0]
	if last := r.Samples[len(r.Samples)-1]; last.Items != 3 || last.Bytes != 300 {
		t.Errorf("end %d items, %d bytes; want 3, 300", last.Items, last.Bytes)
	}
	ms, err := Merge([]*RankTimeline{rt}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ms[0].Epochs != 1 || len(ms[0].Problems) != 0 {
		t.Errorf("epochs %d, problems %q", ms[0].Epochs, ms[0].Problems)
	}
}

// TestReadTimelineLateSample checks that a sample taken while the
// benchmark stopped its timer, after the end it measured, is dropped.
func TestReadTimelineLateSample(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.jsonl")
	os.WriteFile(path, []byte(`{"type":"rank","rank":0,"world-size":1,"items":0}
{"type":"start","bench":"B","seq":1,"t":"2026-01-01T00:00:00Z","items":0}
{"type":"sample","bench":"B","seq":1,"t":"2026-01-01T00:00:01Z","items":5}
{"type":"sample","bench":"B","seq":1,"t":"2026-01-01T00:00:02Z","items":9}
{"type":"end","bench":"B","seq":1,"n":9,"t":"2026-01-01T00:00:01.5Z","items":9}
`), 0o644)
	tl, err := ReadTimeline(path)
	if err != nil {
		t.Fatal(err)
	}
	r := tl.Runs[0]
	if len(r.Samples) != 3 || r.End().Sub(r.Start()) != 1500*time.Millisecond {
		t.Errorf("samples %+v, want start, the sample at 1 s and the end at 1.5 s", r.Samples)
	}
}
