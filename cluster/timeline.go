package cluster

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// TimelineInterval is how often a timeline samples a running benchmark.
const TimelineInterval = time.Second

// TimelinePath returns the file a rank's timeline goes to, given
// STORAGEBENCH_TIMELINE: a folder (one that exists, or a value ending in
// a slash) gets timeline-rank<R>.jsonl inside it, so that one value serves
// every rank; anything else is the file itself.
func TimelinePath(v string, rank int) string {
	if fi, err := os.Stat(v); strings.HasSuffix(v, "/") || strings.HasSuffix(v, string(filepath.Separator)) || err == nil && fi.IsDir() {
		return filepath.Join(v, fmt.Sprintf("timeline-rank%d.jsonl", rank))
	}
	return v
}

// A Record is one line of a timeline, a JSON object whose Type says which
// fields it has:
//   - "rank", the first line: Rank, WorldSize, RunID, Source, Host.
//   - "start", "sample" and "end": Bench, Seq (the rank's runs of
//     benchmarks, counted from 1), Time, and Items and Bytes consumed
//     since the run's start; an end also has N, the run's iterations.
//   - "epoch", after its run's end: Bench, Seq, Epoch, Items and Sum (what
//     the rank read of that epoch, from the loaders' start, warm-up
//     included), Share (what the rank's shard holds), and Want and
//     WantSum (what every rank's shards hold together).
//
// Sums are sums of a 64-bit hash of each item's index, modulo 2^64, in
// hexadecimal: two multisets of indices with the same count and sum are
// the same multiset but for a chance of 2^-64.
type Record struct {
	Type      string    `json:"type"`
	Rank      int       `json:"rank,omitempty"`
	WorldSize int       `json:"world-size,omitempty"`
	RunID     string    `json:"run-id,omitempty"`
	Source    string    `json:"source,omitempty"`
	Host      string    `json:"host,omitempty"`
	Bench     string    `json:"bench,omitempty"`
	Seq       int       `json:"seq,omitempty"`
	N         int       `json:"n,omitempty"`
	Time      time.Time `json:"t,omitzero"`
	Items     int64     `json:"items"`
	Bytes     int64     `json:"bytes,omitempty"`
	Epoch     int       `json:"epoch,omitempty"`
	Sum       string    `json:"sum,omitempty"`
	Share     int64     `json:"share,omitempty"`
	Want      int64     `json:"want,omitempty"`
	WantSum   string    `json:"want-sum,omitempty"`
}

// Record types.
const (
	RecRank   = "rank"
	RecStart  = "start"
	RecSample = "sample"
	RecEnd    = "end"
	RecEpoch  = "epoch"
)

// Timeline writes a rank's timeline, one [Record] a line. Its methods
// are safe for concurrent use; the first write error is kept and returned
// by Close.
type Timeline struct {
	mu   sync.Mutex
	f    io.WriteCloser
	w    *bufio.Writer
	enc  *json.Encoder
	err  error
	seq  int
	path string
}

// CreateTimeline creates the timeline file path for rank w of run runID
// and writes its first line.
func CreateTimeline(path string, w World, runID string) (*Timeline, error) {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("timeline %s: %w", path, err)
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("timeline: %w", err)
	}
	t := &Timeline{f: f, w: bufio.NewWriter(f), path: path}
	t.enc = json.NewEncoder(t.w)
	host, _ := os.Hostname()
	t.write(Record{Type: RecRank, Rank: w.Rank, WorldSize: w.Size, RunID: runID, Source: w.Source, Host: host})
	return t, t.flush()
}

// write writes r; the caller holds t.mu or owns t.
func (t *Timeline) write(r Record) {
	if t.err == nil {
		t.err = t.enc.Encode(r)
	}
}

func (t *Timeline) flush() error {
	if t.err == nil {
		t.err = t.w.Flush()
	}
	if t.err != nil {
		return fmt.Errorf("timeline %s: %w", t.path, t.err)
	}
	return nil
}

// Close flushes and closes the file.
func (t *Timeline) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	err := t.flush()
	if cerr := t.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("timeline %s: %w", t.path, cerr)
	}
	return err
}

// Counter counts what a run consumed; the benchmark adds to it as items
// arrive, from any goroutine.
type Counter struct{ items, bytes atomic.Int64 }

// Add counts items items of bytes bytes.
func (c *Counter) Add(items, bytes int64) {
	c.items.Add(items)
	c.bytes.Add(bytes)
}

// Load returns the items and bytes counted.
func (c *Counter) Load() (items, bytes int64) { return c.items.Load(), c.bytes.Load() }

// A Run is one timed run of a benchmark on a timeline.
type Run struct {
	t      *Timeline
	bench  string
	seq    int
	c      *Counter
	items0 int64
	bytes0 int64
	stop   chan struct{}
	done   chan struct{}
	once   sync.Once // stops the samples
	start  time.Time
}

// Start starts recording the timed run of bench: it writes the start,
// then a sample of c every TimelineInterval, counted from c's values now,
// until [Run.End].
func (t *Timeline) Start(bench string, c *Counter) *Run {
	t.mu.Lock()
	t.seq++
	r := &Run{t: t, bench: bench, seq: t.seq, c: c, stop: make(chan struct{}), done: make(chan struct{}), start: time.Now()}
	r.items0, r.bytes0 = c.Load()
	t.write(Record{Type: RecStart, Bench: bench, Seq: r.seq, Time: r.start})
	t.mu.Unlock()
	go r.sample()
	return r
}

func (r *Run) record(typ string, n int) Record {
	items, bytes := r.c.Load()
	return Record{Type: typ, Bench: r.bench, Seq: r.seq, N: n, Time: time.Now(), Items: items - r.items0, Bytes: bytes - r.bytes0}
}

func (r *Run) sample() {
	defer close(r.done)
	tick := time.NewTicker(TimelineInterval)
	defer tick.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-tick.C:
			rec := r.record(RecSample, 0)
			r.t.mu.Lock()
			r.t.write(rec)
			r.t.flush()
			r.t.mu.Unlock()
		}
	}
}

// End ends the run after n iterations, timed at elapsed (the benchmark's
// own measure, from its timer's start, which [Timeline.Start] marks; 0 for
// now): it stops the samples, then writes the end and flushes the file.
// Stopping a benchmark's timer may take a moment (it reads the memory
// statistics), during which a sample may be taken: the end, stamped at
// the run's start plus elapsed, may then come before it, and
// [ReadTimeline] drops such samples. It is cheap enough for a benchmark's
// stop hook; [Run.Epochs] writes the rest.
func (r *Run) End(n int, elapsed time.Duration) error {
	if !r.halt() {
		return nil
	}
	rec := r.record(RecEnd, n)
	if elapsed > 0 {
		rec.Time = r.start.Add(elapsed)
	}
	r.t.mu.Lock()
	defer r.t.mu.Unlock()
	r.t.write(rec)
	return r.t.flush()
}

// Epochs writes the epochs of cov, after the run's end.
func (r *Run) Epochs(cov *Coverage) error {
	epochs := cov.epochs()
	r.t.mu.Lock()
	defer r.t.mu.Unlock()
	for _, e := range epochs {
		e.Type, e.Bench, e.Seq = RecEpoch, r.bench, r.seq
		r.t.write(e)
	}
	return r.t.flush()
}

// Abandon stops the samples of a run that will have no end (its
// benchmark failed); the timeline shows it unended. After End it does
// nothing.
func (r *Run) Abandon() { r.halt() }

// halt stops the samples, once; it reports whether this call did.
func (r *Run) halt() bool {
	first := false
	r.once.Do(func() {
		first = true
		close(r.stop)
		<-r.done
	})
	return first
}

// Coverage counts, epoch by epoch, the items a rank read, to check
// against the shards' plan that the ranks together read each epoch whole
// and once. Its methods are safe for concurrent use.
type Coverage struct {
	mu   sync.Mutex
	by   map[int]*epochSum
	plan func(epoch int) (share, want int64, wantSum uint64)
}

type epochSum struct {
	items int64
	sum   uint64
}

// NewCoverage returns a Coverage whose plan gives, for an epoch, the items
// this rank's shards hold, and the count and hash sum of what all ranks'
// shards hold together (see [HashIndex]).
func NewCoverage(plan func(epoch int) (share, want int64, wantSum uint64)) *Coverage {
	return &Coverage{by: map[int]*epochSum{}, plan: plan}
}

// Add counts the items of epoch at indices.
func (c *Coverage) Add(epoch int, indices ...int) {
	var sum uint64
	for _, i := range indices {
		sum += HashIndex(i)
	}
	c.mu.Lock()
	e := c.by[epoch]
	if e == nil {
		e = &epochSum{}
		c.by[epoch] = e
	}
	e.items += int64(len(indices))
	e.sum += sum
	c.mu.Unlock()
}

// epochs returns a record per epoch counted, in order.
func (c *Coverage) epochs() []Record {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []Record
	for epoch, e := range c.by {
		share, want, wantSum := c.plan(epoch)
		out = append(out, Record{Epoch: epoch, Items: e.items, Sum: hexSum(e.sum), Share: share, Want: want, WantSum: hexSum(wantSum)})
	}
	slices.SortFunc(out, func(a, b Record) int { return a.Epoch - b.Epoch })
	return out
}

// HashIndex is the hash of an item's index that coverage sums: SplitMix64's
// finalizer, so that sums of different multisets of indices differ.
func HashIndex(i int) uint64 {
	z := uint64(i) + 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

func hexSum(s uint64) string { return strconv.FormatUint(s, 16) }

func parseSum(s string) (uint64, error) { return strconv.ParseUint(s, 16, 64) }

// A RankTimeline is a timeline read back.
type RankTimeline struct {
	// Path is the file it was read from.
	Path string
	// Head is its first line, the rank's.
	Head Record
	// Runs are its runs, in the order they ran.
	Runs []*RunTimeline
}

// A RunTimeline is one timed run of a benchmark on a rank.
type RunTimeline struct {
	Bench   string   // the benchmark's full name
	Seq     int      // the rank's runs, counted from 1
	N       int      // iterations, from the end record
	Samples []Record // start, samples, end: times and counts
	Epochs  []Record // what each epoch held
	ended   bool
}

// Start returns when the run's timer started.
func (r *RunTimeline) Start() time.Time { return r.Samples[0].Time }

// End returns when it stopped.
func (r *RunTimeline) End() time.Time { return r.Samples[len(r.Samples)-1].Time }

// ReadTimeline reads a timeline file. A line that is not a record, a file
// whose first line is not the rank's, and samples out of time order are
// errors naming the file and line; a run with no end (its rank died) is
// kept, ending at its last sample.
func ReadTimeline(path string) (*RankTimeline, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	t := &RankTimeline{Path: path}
	runs := map[int]*RunTimeline{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for line := 1; sc.Scan(); line++ {
		var r Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		bad := func(format string, args ...any) error {
			return fmt.Errorf("%s:%d: %s", path, line, fmt.Sprintf(format, args...))
		}
		if line == 1 {
			if r.Type != RecRank || r.WorldSize < 1 || r.Rank < 0 || r.Rank >= r.WorldSize {
				return nil, bad("not a timeline: want a first line of type %q with a rank below its world size", RecRank)
			}
			t.Head = r
			continue
		}
		switch r.Type {
		case RecStart:
			if runs[r.Seq] != nil {
				return nil, bad("run %d starts twice", r.Seq)
			}
			run := &RunTimeline{Bench: r.Bench, Seq: r.Seq, Samples: []Record{r}}
			runs[r.Seq] = run
			t.Runs = append(t.Runs, run)
		case RecSample, RecEnd, RecEpoch:
			run := runs[r.Seq]
			if run == nil || run.Bench != r.Bench {
				return nil, bad("%s of run %d (%s), which did not start", r.Type, r.Seq, r.Bench)
			}
			if r.Type == RecEpoch {
				if _, err := parseSum(r.Sum); err != nil {
					return nil, bad("epoch %d: sum %q: %v", r.Epoch, r.Sum, err)
				}
				if _, err := parseSum(r.WantSum); err != nil {
					return nil, bad("epoch %d: want-sum %q: %v", r.Epoch, r.WantSum, err)
				}
				run.Epochs = append(run.Epochs, r)
				continue
			}
			if run.ended {
				return nil, bad("%s of run %d after its end", r.Type, r.Seq)
			}
			if r.Type == RecEnd {
				// Samples taken while the benchmark stopped its timer,
				// after the end it measured, are not the run's.
				for len(run.Samples) > 1 && run.Samples[len(run.Samples)-1].Time.After(r.Time) && run.Samples[len(run.Samples)-1].Items <= r.Items {
					run.Samples = run.Samples[:len(run.Samples)-1]
				}
			}
			last := run.Samples[len(run.Samples)-1]
			if r.Time.Before(last.Time) || r.Items < last.Items {
				return nil, bad("run %d goes back in time or in items", r.Seq)
			}
			run.Samples = append(run.Samples, r)
			if r.Type == RecEnd {
				run.ended, run.N = true, r.N
			}
		default:
			return nil, bad("unknown record type %q", r.Type)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if t.Head.Type == "" {
		return nil, fmt.Errorf("%s: empty timeline", path)
	}
	return t, nil
}

// ItemsAt returns the items the run had consumed at time at, interpolated
// linearly between its samples; 0 before its start and its total after
// its end. Bytes likewise with bytes.
func (r *RunTimeline) ItemsAt(at time.Time) (items, bytes float64) {
	s := r.Samples
	if !at.After(s[0].Time) {
		return 0, 0
	}
	i, _ := slices.BinarySearchFunc(s, at, func(rec Record, t time.Time) int { return rec.Time.Compare(t) })
	if i >= len(s) {
		last := s[len(s)-1]
		return float64(last.Items), float64(last.Bytes)
	}
	a, b := s[i-1], s[i]
	span := b.Time.Sub(a.Time)
	if span <= 0 {
		return float64(b.Items), float64(b.Bytes)
	}
	f := float64(at.Sub(a.Time)) / float64(span)
	return float64(a.Items) + f*float64(b.Items-a.Items), float64(a.Bytes) + f*float64(b.Bytes-a.Bytes)
}

// errNoRuns is returned by merging timelines that hold no run.
var errNoRuns = errors.New("no timed run")
