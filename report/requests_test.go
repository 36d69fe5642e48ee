package report

import (
	"bytes"
	"image/png"
	"strings"
	"testing"
	"time"

	"github.com/storagebench/storagebench/reqlog"
)

// TestRequestFigures draws a log of two connections, one request on the
// second stalled and one failed: two figures, named by the log, whose
// titles count what the log holds, and which render as SVG and PNG.
func TestRequestFigures(t *testing.T) {
	if figs := RequestFigures("empty", nil); figs != nil {
		t.Errorf("an empty log has %d figures", len(figs))
	}
	t0 := time.Unix(1_700_000_000, 0)
	ms := time.Millisecond
	var recs []reqlog.Record
	for i := range 20 {
		recs = append(recs, reqlog.Record{Start: t0.Add(time.Duration(i) * 10 * ms), FirstByte: 2 * ms, Total: 9 * ms, Bytes: 100, Op: "GetObject", Key: "b/k", Status: "200", Conn: "127.0.0.1:1"})
	}
	recs = append(recs,
		reqlog.Record{Start: t0, FirstByte: 150 * ms, Total: 180 * ms, Op: "GetObject", Key: "b/stalled", Status: "200", Conn: "127.0.0.1:2"},
		reqlog.Record{Start: t0.Add(190 * ms), Total: ms, Op: "GetObject", Key: "b/failed", Status: "503", Conn: "127.0.0.1:2"})
	figs := RequestFigures("go requests", recs)
	if len(figs) != 2 {
		t.Fatalf("%d figures, want 2", len(figs))
	}
	for i, want := range []struct{ name, title string }{
		{"requests-inflight-go_requests", "22 requests, mean 1.8, most 2"},
		{"requests-timeline-go_requests", "2 connections"},
	} {
		f := figs[i]
		if f.Name != want.name || !strings.Contains(f.Title, want.title) {
			t.Errorf("figure %d: %q %q, want %q holding %q", i, f.Name, f.Title, want.name, want.title)
		}
		svg, err := f.SVG()
		if err != nil || !bytes.Contains(svg, []byte("<svg")) {
			t.Errorf("%s: SVG %d bytes, %v", f.Name, len(svg), err)
		}
		b, err := f.PNG()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := png.Decode(bytes.NewReader(b)); err != nil {
			t.Errorf("%s: PNG: %v", f.Name, err)
		}
	}
}
