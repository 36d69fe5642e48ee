package cluster

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/storagebench/storagebench/results"
)

// Units of merged results, beyond the ranks' own.
const (
	UnitRankSpread      = "rank-spread"      // the fastest rank's items/s over the slowest's, over the window
	UnitStragglers      = "stragglers"       // ranks below StragglerFraction of the median rank's items/s
	UnitOverlapFraction = "overlap-fraction" // the window over the longest rank's timed run
)

// StragglerFraction is the share of the median rank's rate below which a
// rank counts as a straggler.
const StragglerFraction = 0.9

// Merged is one timed run of a benchmark merged over every rank: what all
// ranks consumed in the window in which every rank was running (a rank
// that started late or ended early shortens it; what ran outside it,
// when some ranks were idle, is left out, as warp's merge leaves it).
type Merged struct {
	// Bench is the benchmark's full name.
	Bench string
	// Rep counts the runs of Bench, from 1 (several with -count).
	Rep int
	// WorldSize is the number of ranks.
	WorldSize int
	// Start and End bound the window.
	Start, End time.Time
	// Longest is the longest rank's timed run.
	Longest time.Duration
	// Items and Bytes are what all ranks consumed in the window.
	Items, Bytes float64
	// Ranks holds each rank's figures, by rank.
	Ranks []RankFigures
	// Stragglers are the ranks below StragglerFraction of the median
	// rank's items/s in the window.
	Stragglers []int
	// AU and AUMin are the mean of the ranks' au and the least of their
	// au-min, when the ranks emulated training; NaN otherwise.
	AU, AUMin float64
	// Epochs is the number of epochs every rank read whole, each checked
	// against the shards' plan; Problems lists what did not match.
	Epochs   int
	Problems []string
	// EpochItems is what the shards of all ranks hold an epoch: the index,
	// padded to a multiple of the shards, or cut to full batches.
	EpochItems int64
}

// RankFigures is one rank's part of a [Merged] run.
type RankFigures struct {
	// Rank is the rank.
	Rank int
	// Items is what the rank consumed in the window; Rate that over the
	// window, in items a second.
	Items, Rate float64
	// Own is the rank's own rate over its whole timed run, as its result
	// line gives it (items/s, or samples/s for training); NaN if its
	// results were not given.
	Own float64
	// AU and AUMin are its result line's, NaN without training.
	AU, AUMin float64
	// Start and End are its timed run's, relative to the window's start
	// and end: a rank that started late or stopped early has set them.
	Start, End time.Duration
}

// Window returns the window's length.
func (m *Merged) Window() time.Duration { return m.End.Sub(m.Start) }

// Rate returns the items all ranks consumed a second, over the window.
func (m *Merged) Rate() float64 { return m.Items / m.Window().Seconds() }

// Spread returns the fastest rank's rate over the slowest's.
func (m *Merged) Spread() float64 {
	lo, hi := math.Inf(1), 0.0
	for _, r := range m.Ranks {
		lo, hi = min(lo, r.Rate), max(hi, r.Rate)
	}
	return hi / lo
}

// Merge merges the timelines of every rank of one run, and, when res is
// not nil, the ranks' results (each with its "rank" configuration line),
// into one [Merged] per timed run of each benchmark. Each rank must have
// its timeline, for the same run, and each must have run the same
// benchmarks; a run that some rank did not end (it died), or in which no
// window holds every rank, is an error naming them.
func Merge(timelines []*RankTimeline, res *results.Set) ([]*Merged, error) {
	if len(timelines) == 0 {
		return nil, fmt.Errorf("no timeline given")
	}
	head := timelines[0].Head
	byRank := make([]*RankTimeline, head.WorldSize)
	for _, t := range timelines {
		h := t.Head
		switch {
		case h.RunID != head.RunID:
			return nil, fmt.Errorf("%s is of run %q, %s of run %q", t.Path, h.RunID, timelines[0].Path, head.RunID)
		case h.WorldSize != head.WorldSize:
			return nil, fmt.Errorf("%s has world size %d, %s %d", t.Path, h.WorldSize, timelines[0].Path, head.WorldSize)
		case byRank[h.Rank] != nil:
			return nil, fmt.Errorf("rank %d twice: %s and %s", h.Rank, byRank[h.Rank].Path, t.Path)
		}
		byRank[h.Rank] = t
	}
	var missing []string
	for r, t := range byRank {
		if t == nil {
			missing = append(missing, strconv.Itoa(r))
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("run %q has %d ranks, but no timeline of rank %s was given", head.RunID, head.WorldSize, strings.Join(missing, ", "))
	}
	own, err := rankResults(res)
	if err != nil {
		return nil, err
	}
	// Each rank's runs of each benchmark, in order. (The benchmarks record
	// no probe run: every run on a timeline is one that printed a result.)
	finals := make([]map[string][]*RunTimeline, len(byRank))
	var order []string
	for r, t := range byRank {
		finals[r] = map[string][]*RunTimeline{}
		for _, run := range t.Runs {
			if !run.ended {
				return nil, fmt.Errorf("rank %d's run of %s has no end (%s): the rank died or was stopped during it", r, run.Bench, t.Path)
			}
			if r == 0 && len(finals[0][run.Bench]) == 0 {
				order = append(order, run.Bench)
			}
			finals[r][run.Bench] = append(finals[r][run.Bench], run)
		}
	}
	if len(order) == 0 {
		return nil, errNoRuns
	}
	var out []*Merged
	for _, bench := range order {
		for rep := range finals[0][bench] {
			runs := make([]*RunTimeline, len(byRank))
			for r := range byRank {
				if rep >= len(finals[r][bench]) {
					return nil, fmt.Errorf("rank 0 ran %s %d times, rank %d %d times", bench, len(finals[0][bench]), r, len(finals[r][bench]))
				}
				runs[r] = finals[r][bench][rep]
			}
			m, err := merge(bench, rep+1, runs, own)
			if err != nil {
				return nil, err
			}
			out = append(out, m)
		}
	}
	return out, nil
}

// merge merges the runs of one benchmark, one per rank.
func merge(bench string, rep int, runs []*RunTimeline, own map[ownKey]ownFigures) (*Merged, error) {
	m := &Merged{Bench: bench, Rep: rep, WorldSize: len(runs), AU: math.NaN(), AUMin: math.NaN()}
	first := runs[0].Start()
	m.Start, m.End = runs[0].Start(), runs[0].End()
	for _, run := range runs {
		if run.Start().After(m.Start) {
			m.Start = run.Start()
		}
		if run.End().Before(m.End) {
			m.End = run.End()
		}
		if run.Start().Before(first) {
			first = run.Start()
		}
		m.Longest = max(m.Longest, run.End().Sub(run.Start()))
	}
	if !m.End.After(m.Start) {
		return nil, fmt.Errorf("%s: the ranks' timed runs never all ran at once (the last started at %s, the first ended at %s): start them together (STORAGEBENCH_RENDEZVOUS or STORAGEBENCH_START_AT)",
			bench, m.Start.UTC().Format(time.RFC3339Nano), m.End.UTC().Format(time.RFC3339Nano))
	}
	var aus, auMins []float64
	for r, run := range runs {
		i0, b0 := run.ItemsAt(m.Start)
		i1, b1 := run.ItemsAt(m.End)
		f := RankFigures{Rank: r, Items: i1 - i0, Rate: (i1 - i0) / m.Window().Seconds(), Own: math.NaN(), AU: math.NaN(), AUMin: math.NaN(),
			Start: run.Start().Sub(m.Start), End: run.End().Sub(m.End)}
		if o, ok := own[ownKey{r, strings.TrimPrefix(bench, "Benchmark")}]; ok && rep <= len(o.rate) {
			f.Own = o.rate[rep-1]
			if rep <= len(o.au) {
				f.AU, f.AUMin = o.au[rep-1], o.auMin[rep-1]
				aus, auMins = append(aus, f.AU), append(auMins, f.AUMin)
			}
		}
		m.Items += f.Items
		m.Bytes += b1 - b0
		m.Ranks = append(m.Ranks, f)
	}
	if len(aus) == len(runs) {
		m.AU, m.AUMin = mean(aus), slices.Min(auMins)
	}
	rates := make([]float64, len(runs))
	for i, f := range m.Ranks {
		rates[i] = f.Rate
	}
	slices.Sort(rates)
	median := rates[len(rates)/2]
	if len(rates)%2 == 0 {
		median = (rates[len(rates)/2-1] + rates[len(rates)/2]) / 2
	}
	for _, f := range m.Ranks {
		if f.Rate < StragglerFraction*median {
			m.Stragglers = append(m.Stragglers, f.Rank)
		}
	}
	m.Epochs, m.EpochItems, m.Problems = checkEpochs(runs)
	return m, nil
}

// checkEpochs checks, for every epoch that every rank read whole, that
// the ranks read together what the shards' plan holds: every item once
// (or as the padding repeats it). It returns the epochs checked and what
// did not match; an epoch that some rank read only in part is not
// checked, unless it is not that rank's last (it left items out).
func checkEpochs(runs []*RunTimeline) (checked int, items int64, problems []string) {
	type epoch struct {
		items       int64
		sum         uint64
		want        int64
		wantSum     uint64
		whole, seen int
	}
	by := map[int]*epoch{}
	for r, run := range runs {
		last := -1
		for _, e := range run.Epochs {
			last = max(last, e.Epoch)
		}
		for _, e := range run.Epochs {
			sum, _ := parseSum(e.Sum)
			wantSum, _ := parseSum(e.WantSum)
			ep := by[e.Epoch]
			if ep == nil {
				ep = &epoch{want: e.Want, wantSum: wantSum}
				by[e.Epoch] = ep
			}
			if ep.want != e.Want || ep.wantSum != wantSum {
				problems = append(problems, fmt.Sprintf("epoch %d: rank %d's plan differs from rank 0's (a different dataset, seed or shard)", e.Epoch, r))
			}
			ep.items += e.Items
			ep.sum += sum
			ep.seen++
			switch {
			case e.Items == e.Share:
				ep.whole++
			case e.Epoch != last:
				problems = append(problems, fmt.Sprintf("epoch %d: rank %d read %d of its %d items", e.Epoch, r, e.Items, e.Share))
			}
		}
	}
	keys := make([]int, 0, len(by))
	for k := range by {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		ep := by[k]
		if ep.whole != len(runs) {
			continue
		}
		checked, items = checked+1, ep.want
		if ep.items != ep.want || ep.sum != ep.wantSum {
			problems = append(problems, fmt.Sprintf("epoch %d: the ranks read %d items where their shards hold %d, or other items than those: shares overlap or leave items out", k, ep.items, ep.want))
		}
	}
	return checked, items, problems
}

func mean(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// ownKey is a rank's benchmark, by its normalized name.
type ownKey struct {
	rank  int
	bench string
}

// ownFigures are a rank's result lines for one benchmark, run by run.
type ownFigures struct{ rate, au, auMin []float64 }

// rankResults reads the ranks' own figures from res: items/s (or
// samples/s), au and au-min, by rank and benchmark.
func rankResults(res *results.Set) (map[ownKey]ownFigures, error) {
	out := map[ownKey]ownFigures{}
	if res == nil {
		return out, nil
	}
	g, err := res.Group(".fullname", results.ConfigRank)
	if err != nil {
		return nil, err
	}
	for _, p := range g.Points {
		rank, err := strconv.Atoi(p.Config(results.ConfigRank))
		if err != nil {
			return nil, fmt.Errorf("result %s has no %q configuration line: not a rank's output", p.Name(), results.ConfigRank)
		}
		k := ownKey{rank, resultName(p.Name())}
		o := out[k]
		rate := p.Values(results.ItemsPerSecond)
		if len(rate) == 0 {
			rate = p.Values(results.SamplesPerSecond)
		}
		o.rate = append(o.rate, rate...)
		o.au = append(o.au, p.Values(results.AU)...)
		o.auMin = append(o.auMin, p.Values(results.AUMin)...)
		out[k] = o
	}
	return out, nil
}

// resultName returns the name of a result without "Benchmark" and the
// GOMAXPROCS suffix ("-8") that go test adds, as a timeline names the run
// without "Benchmark".
func resultName(name string) string {
	name = strings.TrimPrefix(name, "Benchmark")
	if i := strings.LastIndexByte(name, '-'); i >= 0 && !strings.Contains(name[i:], "/") && !strings.Contains(name[i:], "=") {
		if _, err := strconv.Atoi(name[i+1:]); err == nil {
			name = name[:i]
		}
	}
	return name
}

// WriteResults writes ms as benchmark results: the configuration lines
// config (those the ranks' results share, in order) and world-size, then
// one line per merged run, named as the ranks named it. Its iterations
// are the items consumed in the window, so ns/op is the window over them
// and items/s its inverse; the line also has MB/s, the spread, the
// stragglers, the overlap fraction, and au and au-min when training was
// emulated, so that benchstat compares clusters as it compares ranks.
func WriteResults(w io.Writer, ms []*Merged, config [][2]string) error {
	var b strings.Builder
	for _, u := range []string{results.ItemsPerSecond, results.AU, results.AUMin, UnitOverlapFraction} {
		fmt.Fprintf(&b, "Unit %s better=higher\n", u)
	}
	for _, kv := range config {
		if kv[0] != results.ConfigRank && kv[0] != results.ConfigWorldSize {
			fmt.Fprintf(&b, "%s: %s\n", kv[0], kv[1])
		}
	}
	if len(ms) > 0 {
		fmt.Fprintf(&b, "%s: %d\n", results.ConfigWorldSize, ms[0].WorldSize)
	}
	for _, m := range ms {
		n := int64(math.Round(m.Items))
		if n < 1 {
			return fmt.Errorf("%s: no item consumed in the window", m.Bench)
		}
		name := m.Bench
		if !strings.HasPrefix(name, "Benchmark") {
			name = "Benchmark" + name
		}
		fmt.Fprintf(&b, "%s\t%d\t%.1f ns/op\t%.2f MB/s\t%.2f %s\t%.4f %s\t%d %s\t%.4f %s",
			name, n, float64(m.Window().Nanoseconds())/m.Items, m.Bytes/m.Window().Seconds()/1e6,
			m.Rate(), results.ItemsPerSecond, m.Spread(), UnitRankSpread, len(m.Stragglers), UnitStragglers,
			m.Window().Seconds()/m.Longest.Seconds(), UnitOverlapFraction)
		if !math.IsNaN(m.AU) {
			fmt.Fprintf(&b, "\t%.4f %s\t%.4f %s", m.AU, results.AU, m.AUMin, results.AUMin)
		}
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteTable writes, for each merged run, its cluster figures and a table
// of its ranks, for people. No line starts with "Benchmark" or reads as
// a configuration line, so the table may share a file with results.
func WriteTable(w io.Writer, ms []*Merged) error {
	var b strings.Builder
	for i, m := range ms {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "== %s (run %d), %d ranks\n", m.Bench, m.Rep, m.WorldSize)
		fmt.Fprintf(&b, "   cluster: %.1f items/s, %.1f MB/s over the %.3f s in which every rank ran (%.0f%% of the longest run)\n",
			m.Rate(), m.Bytes/m.Window().Seconds()/1e6, m.Window().Seconds(), 100*m.Window().Seconds()/m.Longest.Seconds())
		if !math.IsNaN(m.AU) {
			fmt.Fprintf(&b, "   au %.3f (mean of the ranks), au-min %.3f (least accelerator of any rank)\n", m.AU, m.AUMin)
		}
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "   rank\titems/s\tshare\town items/s\tau\tau-min\tstart\tend\t")
		for _, f := range m.Ranks {
			flag := ""
			if slices.Contains(m.Stragglers, f.Rank) {
				flag = "  straggler"
			}
			fmt.Fprintf(tw, "   %d\t%.1f\t%.1f%%\t%s\t%s\t%s\t%+.0fms\t%+.0fms\t%s\n", f.Rank, f.Rate, 100*f.Items/m.Items,
				orDash(f.Own, "%.1f"), orDash(f.AU, "%.3f"), orDash(f.AUMin, "%.3f"),
				float64(f.Start)/1e6, float64(f.End)/1e6, flag)
		}
		tw.Flush()
		strag := "none"
		if len(m.Stragglers) > 0 {
			var s []string
			for _, r := range m.Stragglers {
				s = append(s, strconv.Itoa(r))
			}
			strag = "rank " + strings.Join(s, ", ")
		}
		fmt.Fprintf(&b, "   spread %.3f (fastest rank over slowest); stragglers (below %.0f%% of the median rank): %s\n", m.Spread(), 100*StragglerFraction, strag)
		switch {
		case len(m.Problems) > 0:
			fmt.Fprintf(&b, "   coverage: %d epochs checked; NOT as planned:\n", m.Epochs)
			for _, p := range m.Problems {
				fmt.Fprintf(&b, "     - %s\n", p)
			}
		case m.Epochs == 0:
			b.WriteString("   coverage: no epoch read whole by every rank, none checked\n")
		default:
			fmt.Fprintf(&b, "   coverage: %d epochs checked, each read by the ranks together exactly as their shards plan it: %d items an epoch, in disjoint shares\n", m.Epochs, m.EpochItems)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func orDash(v float64, format string) string {
	if math.IsNaN(v) {
		return "-"
	}
	return fmt.Sprintf(format, v)
}
