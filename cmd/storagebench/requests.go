package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/storagebench/storagebench/reqlog"
)

// runRequests implements "storagebench requests": what a per-request log
// (STORAGEBENCH_REQUEST_LOG's, or serve -request-log's) holds, a row per
// operation, the connections and the requests in flight; with -step, the
// requests in flight step by step; with -gets, only the GetObject
// requests answered 200 or 206 and their bytes, "N BYTES", for scripts to
// compare a client's count with what a server logged; with -server, LOG
// (a client's) matched against a server's log of the same run.
func runRequests(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	fs := flag.NewFlagSet("requests", flag.ContinueOnError)
	fs.SetOutput(stderr)
	gets := fs.Bool("gets", false, `print only "GETS BYTES", the GetObject requests answered 200 or 206 and their bytes`)
	step := fs.Duration("step", 0, "also print the requests in flight over each `step` of time, such as 1s")
	server := fs.String("server", "", "match LOG, a client's, request for request against this server's `log` of the same run, and fail where they disagree")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: storagebench requests [-gets] [-step D] [-server SERVERLOG] LOG")
		fmt.Fprintln(fs.Output(), "\nSummarizes a per-request log, gzip-compressed CSV as STORAGEBENCH_REQUEST_LOG and serve -request-log write it.")
		fs.PrintDefaults()
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		fs.Usage()
		return fmt.Errorf("requests: want one log, got %d arguments", len(pos))
	}
	if *step < 0 {
		return fmt.Errorf("requests: -step %v: want a positive duration", *step)
	}
	if *gets && *server != "" {
		return fmt.Errorf("requests: -gets and -server: choose one")
	}
	recs, err := readLog(pos[0])
	if err != nil {
		return err
	}
	s := reqlog.Summarize(recs)
	if *server != "" {
		srecs, err := readLog(*server)
		if err != nil {
			return err
		}
		m, err := reqlog.Compare(recs, srecs)
		if err != nil {
			return fmt.Errorf("requests: %s against the server's %s: %w", pos[0], *server, err)
		}
		ss, cs := reqlog.Summarize(srecs).Op("GetObject"), s.Op("GetObject")
		fmt.Fprintf(stdout, "%s against the server's %s: %d requests matched on %d connections, %d with the same bytes on both sides", pos[0], *server, m.Requests, s.Conns, m.Whole)
		if m.Cut > 0 {
			fmt.Fprintf(stdout, ", %d cut short by the client (the server wrote %d bytes of them, the client read %d)", m.Cut, m.ServerBytes, m.ClientBytes)
		}
		if m.Unsent > 0 {
			fmt.Fprintf(stdout, ", %d never sent", m.Unsent)
		}
		_, err = fmt.Fprintf(stdout, "; GetObject: %d requests and %d bytes served, %d and %d read\n", ss.Requests, ss.Bytes, cs.Requests, cs.Bytes)
		return err
	}
	if *gets {
		g := s.Op("GetObject")
		_, err := fmt.Fprintln(stdout, g.OK, g.OKBytes)
		return err
	}
	secs := s.End.Sub(s.Start).Seconds()
	fmt.Fprintf(stdout, "%s: %d requests over %.1fs on %d connections; in flight: mean %.1f, max %d\n",
		pos[0], len(recs), secs, s.Conns, s.InFlightMean, s.InFlightMax)
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  operation\trequests\tbytes\tstatuses\tfirst byte p50 / p99\ttotal p50 / p99")
	for _, op := range s.Ops {
		var st []string
		for code, n := range op.Statuses {
			st = append(st, fmt.Sprintf("%s x%d", code, n))
		}
		slices.Sort(st)
		fmt.Fprintf(tw, "  %s\t%d\t%d\t%s\t%v / %v\t%v / %v\n", op.Op, op.Requests, op.Bytes, strings.Join(st, ", "),
			op.FirstByteP50.Round(time.Microsecond), op.FirstByteP99.Round(time.Microsecond),
			op.TotalP50.Round(time.Microsecond), op.TotalP99.Round(time.Microsecond))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if *step > 0 {
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "at\tin flight, mean\tmost\t")
		for _, p := range reqlog.InFlight(recs, *step) {
			fmt.Fprintf(tw, "%v\t%.1f\t%d\t\n", p.At, p.Mean, p.Max)
		}
		return tw.Flush()
	}
	return nil
}

// readLog reads the request log at path.
func readLog(path string) ([]reqlog.Record, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("requests: %w", err)
	}
	defer f.Close()
	recs, err := reqlog.Read(f, path)
	if err != nil {
		return nil, fmt.Errorf("requests: %w", err)
	}
	return recs, nil
}
