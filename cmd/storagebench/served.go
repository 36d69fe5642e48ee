package main

import (
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"golang.org/x/perf/benchfmt"

	"github.com/storagebench/storagebench/fakes"
	"github.com/storagebench/storagebench/results"
)

// servedWriter writes what serve saw as benchmark-format lines: one for
// the whole run (Serve/profile=P[/faults=F]) and one for each interval
// (the same, with at=D, the interval's end since serving started),
// which benchstat, plot and report read. It is safe for concurrent use.
type servedWriter struct {
	mu     sync.Mutex
	out    io.Writer
	w      *benchfmt.Writer
	name   string // Serve/profile=P[/faults=F]
	header bool
}

// newServedWriter returns a writer of the lines of a server emulating
// profile with faults to out, their names ending in label's keys (see
// [checkLabel]) when it is not empty.
func newServedWriter(out io.Writer, profile string, faults fakes.Faults, label string) *servedWriter {
	name := results.Serve + "/profile=" + profile
	if !faults.IsZero() {
		name += "/faults=" + faults.String()
	}
	if label != "" {
		name += "/" + label
	}
	return &servedWriter{out: out, w: benchfmt.NewWriter(out), name: name}
}

// write writes s's line: the whole run's when at is 0, else the line of
// the interval that ended at, since serving started. A stretch with no
// request has no line.
func (sw *servedWriter) write(s fakes.Served, at time.Duration) error {
	n := s.Requests()
	if n == 0 {
		return nil
	}
	sw.mu.Lock()
	defer sw.mu.Unlock()
	if !sw.header {
		sw.header = true
		for _, u := range []string{results.RequestsPerSecond, results.GetsPerSecond} {
			if err := sw.w.Write(&benchfmt.UnitMetadata{UnitMetadataKey: benchfmt.UnitMetadataKey{Unit: u, Key: "better"}, OrigUnit: u, Value: "higher"}); err != nil {
				return err
			}
		}
		for _, kv := range [][2]string{{results.ConfigGOOS, runtime.GOOS}, {results.ConfigGOARCH, runtime.GOARCH}, {results.ConfigEndpoint, "storagebench-serve"}} {
			if _, err := fmt.Fprintf(sw.out, "%s: %s\n", kv[0], kv[1]); err != nil {
				return err
			}
		}
	}
	name := sw.name
	if at > 0 {
		name += "/" + results.KeyAt + "=" + at.String()
	}
	r := &benchfmt.Result{Name: benchfmt.Name(fmt.Sprintf("%s-%d", name, runtime.GOMAXPROCS(0))), Iters: int(n)}
	for _, m := range servedMetrics(s) {
		r.Values = append(r.Values, benchfmt.Value{Value: m.v, Unit: m.unit})
	}
	return sw.w.Write(r)
}

// checkLabel checks serve's -label: name keys key=value separated by
// slashes, none of them a key serve writes itself (profile, faults, at)
// or twice, with no space and no dash followed by digits at the end,
// which benchstat would take for the GOMAXPROCS suffix.
func checkLabel(label string) error {
	if label == "" {
		return nil
	}
	seen := map[string]bool{}
	for part := range strings.SplitSeq(label, "/") {
		k, v, ok := strings.Cut(part, "=")
		switch {
		case !ok || k == "" || v == "":
			return fmt.Errorf("%q: want key=value", part)
		case strings.ContainsAny(part, " \t\n"):
			return fmt.Errorf("%q: a name holds no space", part)
		case k == "profile" || k == "faults" || k == results.KeyAt:
			return fmt.Errorf("%q: serve writes %s= itself", part, k)
		case seen[k]:
			return fmt.Errorf("%q: key %s twice", part, k)
		}
		seen[k] = true
	}
	if i := strings.LastIndexByte(label, '-'); i >= 0 && strings.Trim(label[i+1:], "0123456789") == "" && i+1 < len(label) {
		return fmt.Errorf("ends in %q, which reads as the -N suffix of GOMAXPROCS", label[i:])
	}
	return nil
}

type metric struct {
	v    float64
	unit string
}

// servedMetrics returns the figures of a Serve line: one op is one
// request, so ns/op is the stretch over its requests.
func servedMetrics(s fakes.Served) []metric {
	n := float64(s.Requests())
	secs := s.End.Sub(s.Start).Seconds()
	get := s.Op("GetObject")
	var throttled, failed int64
	for _, op := range s.Ops {
		throttled += op.Throttled
		failed += op.Failed
	}
	m := []metric{
		{secs * 1e9 / n, results.NsPerOp},
		{float64(s.Bytes()) / 1e6 / secs, results.MBPerSecond},
		{n / secs, results.RequestsPerSecond},
		{float64(get.Requests) / secs, results.GetsPerSecond},
		{s.InFlightMean, results.InFlightMean},
		{s.InFlightP50, results.InFlightP50},
		{s.InFlightP99, results.InFlightP99},
		{float64(s.InFlightMax), results.InFlightMax},
		{float64(throttled) / n, results.ThrottledPerReq},
		{float64(failed) / n, results.FailedPerReq},
	}
	if get.Requests > 0 {
		m = append(m,
			metric{float64(get.TTFB.P50.Nanoseconds()), results.GetTTFBP50Ns},
			metric{float64(get.TTFB.P99.Nanoseconds()), results.GetTTFBP99Ns},
			metric{float64(get.Total.P99.Nanoseconds()), results.GetTotalP99Ns})
	}
	if s.CPUKnown {
		m = append(m, metric{float64(s.CPU.Nanoseconds()) / n, results.CPUPerRequest})
	}
	return m
}

// printServed prints a summary of s for a person: each operation's
// requests, bytes, failures and times, then the requests in flight and
// the CPU a request took.
func printServed(w io.Writer, s fakes.Served) error {
	secs := s.End.Sub(s.Start).Seconds()
	fmt.Fprintf(w, "served %d requests in %.1fs (%.1f a second), %.1f MB\n", s.Requests(), secs, float64(s.Requests())/secs, float64(s.Bytes())/1e6)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  operation\trequests\tMB\tthrottled\tfailed\tfirst byte p50 / p99\ttotal p50 / p99 / max")
	for _, op := range s.Ops {
		fmt.Fprintf(tw, "  %s\t%d\t%.1f\t%d\t%d\t%v / %v\t%v / %v / %v\n", op.Op, op.Requests, float64(op.Bytes)/1e6, op.Throttled, op.Failed,
			op.TTFB.P50, op.TTFB.P99, op.Total.P50, op.Total.P99, op.Total.Max)
	}
	tw.Flush()
	var b strings.Builder
	fmt.Fprintf(&b, "in flight: mean %.1f, p50 %.0f, p99 %.0f, max %d requests at once", s.InFlightMean, s.InFlightP50, s.InFlightP99, s.InFlightMax)
	if s.CPUKnown && s.Requests() > 0 {
		fmt.Fprintf(&b, "; CPU %v a request", (s.CPU / time.Duration(s.Requests())).Round(100*time.Nanosecond))
	}
	_, err := fmt.Fprintln(w, b.String())
	return err
}
