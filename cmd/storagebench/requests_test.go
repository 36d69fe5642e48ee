package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/storagebench/storagebench/reqlog"
)

// writeLog writes recs as a request log at dir/name.
func writeLog(t *testing.T, dir, name string, recs []reqlog.Record) string {
	t.Helper()
	path := filepath.Join(dir, name)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := reqlog.NewWriter(f)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestRequests summarizes, counts, steps through and matches request
// logs, draws them with plot and report, and refuses what is wrong.
func TestRequests(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Unix(1_700_000_000, 0)
	ms := time.Millisecond
	rec := func(conn string, start time.Duration, key string, bytes int64, status string) reqlog.Record {
		return reqlog.Record{Start: t0.Add(start), FirstByte: ms, Total: 3 * ms, Bytes: bytes, Op: "GetObject", Key: key, Status: status, Conn: conn, Attempt: 1}
	}
	client := []reqlog.Record{rec("c1", 0, "b/a", 10, "200"), rec("c1", 4*ms, "b/b", 20, "200"), rec("c2", ms, "b/c", 0, "503")}
	clientLog := writeLog(t, dir, "client.csv.gz", client)
	serverLog := writeLog(t, dir, "server.csv.gz", client)
	otherLog := writeLog(t, dir, "other.csv.gz", client[:2])
	for _, tc := range []struct {
		name    string
		args    []string
		want    []string // in stdout
		wantErr string
	}{
		{"summary", []string{clientLog}, []string{"3 requests over 0.0s on 2 connections", "GetObject  3", "200 x2, 503 x1"}, ""},
		{"gets", []string{"-gets", clientLog}, []string{"2 30\n"}, ""},
		{"step", []string{"-step", "2ms", clientLog}, []string{"in flight, mean", "2ms"}, ""},
		{"match", []string{"-server", serverLog, clientLog}, []string{"3 requests matched on 2 connections, 3 with the same bytes on both sides"}, ""},
		{"mismatch", []string{"-server", otherLog, clientLog}, nil, "connection c2: the client logged 1 requests, the server 0"},
		{"two logs", []string{clientLog, serverLog}, nil, "want one log"},
		{"gets and server", []string{"-gets", "-server", serverLog, clientLog}, nil, "choose one"},
		{"missing", []string{filepath.Join(dir, "nope.csv.gz")}, nil, "nope.csv.gz"},
		{"not a log", []string{writeFile(t, dir, "plain.csv", "a,b\n")}, nil, "plain.csv: not a gzip-compressed request log"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(t.Context(), &stdout, &stderr, append([]string{"requests"}, tc.args...))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("error %v, want one holding %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(stdout.String(), w) {
					t.Errorf("stdout lacks %q:\n%s", w, stdout.String())
				}
			}
		})
	}

	// plot draws a log alone; report wants results beside it.
	charts := filepath.Join(dir, "charts")
	var stdout, stderr bytes.Buffer
	if err := run(t.Context(), &stdout, &stderr, []string{"plot", "-o", charts, clientLog}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"requests-inflight-client.svg", "requests-timeline-client.png"} {
		if _, err := os.Stat(filepath.Join(charts, name)); err != nil {
			t.Errorf("plot with a log: %v", err)
		}
	}
	page := filepath.Join(dir, "report.html")
	if err := run(t.Context(), &stdout, &stderr, []string{"report", "-o", page, clientLog}); err == nil || !strings.Contains(err.Error(), "give a RESULTS file too") {
		t.Errorf("report with a log alone: %v", err)
	}
	if err := run(t.Context(), &stdout, &stderr, []string{"report", "-o", page, filepath.Join("testdata", "plot", "served.txt"), clientLog}); err != nil {
		t.Fatal(err)
	}
	html, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(html), "each connection&#39;s requests") && !strings.Contains(string(html), "each connection's requests") {
		t.Errorf("the report page lacks the log's timeline")
	}
}

func writeFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
