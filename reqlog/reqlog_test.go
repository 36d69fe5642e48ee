package reqlog_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/storagebench/storagebench/reqlog"
)

var t0 = time.Unix(1_700_000_000, 0)

func rec(start, first, total time.Duration, op, status string) reqlog.Record {
	return reqlog.Record{Start: t0.Add(start), FirstByte: first, Total: total, Bytes: 10, Op: op, Key: "b/k", Status: status, Conn: "127.0.0.1:1", Attempt: 1}
}

func TestRoundTrip(t *testing.T) {
	want := []reqlog.Record{
		rec(0, 2*time.Millisecond, 5*time.Millisecond, "GetObject", "200"),
		{Start: t0.Add(time.Millisecond), Total: time.Second, Op: "GetObject", Key: "b/a,\"quoted\"\nkey", Status: "error"},
		rec(3*time.Millisecond, time.Millisecond, time.Millisecond, "ListObjectsV2", "503"),
	}
	var buf bytes.Buffer
	w, err := reqlog.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range want {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close: %v, want nil", err)
	}
	if err := w.Write(want[0]); err == nil {
		t.Error("Write after Close succeeded")
	}
	got, err := reqlog.Read(&buf, "log")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("read back (-want +got):\n%s", diff)
	}
}

func gz(s string) io.Reader {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write([]byte(s))
	w.Close()
	return &buf
}

func TestReadErrors(t *testing.T) {
	head := strings.Join(reqlog.Header, ",") + "\n"
	for _, tc := range []struct {
		name string
		in   io.Reader
		want string
	}{
		{"not gzip", strings.NewReader("start_unix_ns"), "log: not a gzip-compressed request log"},
		{"bad header", gz("start,end\n"), "log:"},
		{"other header", gz("a,b,c,d,e,f,g,h,i\n"), `log:1: header "a,b,c,d,e,f,g,h,i"`},
		{"negative bytes", gz(head + "1,0,5,-3,GetObject,k,200,c,1\n"), "log:2: column bytes"},
		{"not a number", gz(head + "1,x,5,3,GetObject,k,200,c,1\n"), "log:2: column first_byte_ns"},
		{"first byte after end", gz(head + "1,0,5,3,GetObject,k,200,c,1\n1,9,5,3,GetObject,k,200,c,1\n"), "log:3: first byte after 9 ns"},
		{"no status", gz(head + "1,0,5,3,GetObject,k,,c,1\n"), "log:2: no operation or status"},
		{"bad attempt", gz(head + "1,0,5,3,GetObject,k,200,c,two\n"), "log:2: column attempt"},
		{"short row", gz(head + "1,0,5\n"), "log:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := reqlog.Read(tc.in, "log")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Read: %v, want an error holding %q", err, tc.want)
			}
		})
	}
}

func TestSummarizeAndInFlight(t *testing.T) {
	ms := time.Millisecond
	recs := []reqlog.Record{
		rec(0, ms, 4*ms, "GetObject", "200"),       // 0-4
		rec(2*ms, ms, 2*ms, "GetObject", "200"),    // 2-4
		rec(4*ms, ms, 4*ms, "GetObject", "503"),    // 4-8: starts as two end
		rec(5*ms, 0, ms, "ListObjectsV2", "error"), // 5-6
	}
	recs[3].Conn = "127.0.0.1:2"
	s := reqlog.Summarize(recs)
	if got, want := s.End.Sub(s.Start), 8*ms; got != want {
		t.Errorf("span %v, want %v", got, want)
	}
	if s.Conns != 2 || s.InFlightMax != 2 {
		t.Errorf("conns %d, max in flight %d; want 2, 2", s.Conns, s.InFlightMax)
	}
	if want := 11.0 / 8; s.InFlightMean != want { // 4+2+4+1 ms of requests over 8 ms
		t.Errorf("mean in flight %v, want %v", s.InFlightMean, want)
	}
	g := s.Op("GetObject")
	if g.Requests != 3 || g.Bytes != 30 || g.Statuses["200"] != 2 || g.Statuses["503"] != 1 || g.TotalP50 != 4*ms || g.FirstByteP99 != ms {
		t.Errorf("GetObject %+v", g)
	}
	if l := s.Op("ListObjectsV2"); l.FirstByteP50 != 0 || l.Statuses["error"] != 1 {
		t.Errorf("ListObjectsV2 %+v: want no first byte, one error", l)
	}
	got := reqlog.InFlight(recs, 3*ms)
	want := []reqlog.Point{
		{At: 0, Mean: 4.0 / 3, Max: 2},      // 1 over 0-2, 2 over 2-3
		{At: 3 * ms, Mean: 5.0 / 3, Max: 2}, // 2 over 3-4, 1 over 4-5, 2 over 5-6 (and the list)
		{At: 6 * ms, Mean: 1, Max: 1},       // 1 over 6-8, the step cut short
	}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 })); diff != "" {
		t.Errorf("InFlight (-want +got):\n%s", diff)
	}
	if reqlog.InFlight(nil, ms) != nil || reqlog.Summarize(nil).Ops != nil {
		t.Error("an empty log has points or operations")
	}
}

func TestSDKAttempt(t *testing.T) {
	for in, want := range map[string]int{"attempt=1; max=3": 1, "max=3; attempt=2": 2, "": 0, "attempt=x": 0, "attempt=0": 0} {
		if got := reqlog.SDKAttempt(in); got != want {
			t.Errorf("SDKAttempt(%q) = %d, want %d", in, got, want)
		}
	}
}

// TestClient logs the requests of a client against a server that answers
// whole, fails, and is abandoned; each with its bytes and status.
func TestClient(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/b/ok":
			w.Write([]byte("0123456789"))
		case "/b/slow":
			w.WriteHeader(200)
			w.(http.Flusher).Flush()
			<-block
		default:
			http.Error(w, "no", http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	defer close(block)
	var buf bytes.Buffer
	w, err := reqlog.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	c := reqlog.Client(srv.Client(), w, func(r *http.Request) string { return "Op" + r.Method })
	do := func(ctx context.Context, path string, read bool) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+path, nil)
		req.Header.Set("Amz-Sdk-Request", "attempt=2; max=3")
		resp, err := c.Do(req)
		if err != nil {
			return
		}
		if read {
			io.Copy(io.Discard, resp.Body)
		}
		resp.Body.Close()
	}
	do(t.Context(), "/b/ok", true)
	do(t.Context(), "/b/busy", true)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	do(ctx, "/b/ok", true) // never sent
	do(t.Context(), "/b/slow", false)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	recs, err := reqlog.Read(&buf, "log")
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		Key, Op, Status string
		Bytes           int64
		Attempt         int
		FirstByte, Conn bool
	}
	var got []row
	for _, r := range recs {
		got = append(got, row{r.Key, r.Op, r.Status, r.Bytes, r.Attempt, r.FirstByte > 0, r.Conn != ""})
		if r.FirstByte > r.Total {
			t.Errorf("%s: first byte %v after the end %v", r.Key, r.FirstByte, r.Total)
		}
	}
	want := []row{
		{"b/ok", "OpGET", "200", 10, 2, true, true},
		{"b/busy", "OpGET", "503", 3, 2, true, true},
		{"b/ok", "OpGET", "canceled", 0, 2, false, false},
		{"b/slow", "OpGET", "200", 0, 2, true, true},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("logged (-want +got):\n%s", diff)
	}
}

// stubDoer answers every request at once with a small body, so that a
// benchmark measures only what wraps it.
type stubDoer struct{ body []byte }

func (d stubDoer) Do(req *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: 200, Body: io.NopCloser(bytes.NewReader(d.body)), Request: req}, nil
}

// BenchmarkClient is the client's cost of logging a request: a request
// and its 4 KiB body read whole, straight (log=off, what a client
// without a log runs) and through Client writing to a discarding log.
func BenchmarkClient(b *testing.B) {
	stub := stubDoer{body: make([]byte, 4096)}
	lw, err := reqlog.NewWriter(io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	defer lw.Close()
	for _, tc := range []struct {
		name string
		d    reqlog.Doer
	}{{"log=off", stub}, {"log=on", reqlog.Client(stub, lw, func(*http.Request) string { return "GetObject" })}} {
		b.Run(tc.name, func(b *testing.B) {
			req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:9000/bucket/some/key.jpg", nil)
			req.Header.Set("Amz-Sdk-Request", "attempt=1; max=3")
			buf := make([]byte, 8192)
			b.ReportAllocs()
			for b.Loop() {
				resp, err := tc.d.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				for {
					if _, err := resp.Body.Read(buf); err != nil {
						break
					}
				}
				resp.Body.Close()
			}
		})
	}
}

func TestCompare(t *testing.T) {
	ms := time.Millisecond
	at := func(conn string, start, first time.Duration, key string, bytes int64, status string) reqlog.Record {
		return reqlog.Record{Start: t0.Add(start), FirstByte: first, Total: first + ms, Bytes: bytes, Op: "GetObject", Key: key, Status: status, Conn: conn}
	}
	// The client's second request on c1 started before its first (it
	// waited longer for the connection), but was answered after it.
	client := []reqlog.Record{
		at("c1", 0, 5*ms, "a", 10, "200"),
		at("c1", -ms, 9*ms, "b", 4, "canceled"),
		at("c2", 0, ms, "c", 7, "200"),
		{Start: t0, Total: ms, Op: "GetObject", Key: "d", Status: "error"}, // never connected
	}
	server := []reqlog.Record{
		at("c1", ms, 3*ms, "a", 10, "200"),
		at("c1", 7*ms, ms, "b", 9, "200"),
		at("c2", ms, ms/2, "c", 7, "200"),
	}
	m, err := reqlog.Compare(client, server)
	if err != nil {
		t.Fatal(err)
	}
	if want := (reqlog.Match{Requests: 3, Whole: 2, Cut: 1, ServerBytes: 9, ClientBytes: 4, Unsent: 1}); m != want {
		t.Errorf("Compare = %+v, want %+v", m, want)
	}
	for _, tc := range []struct {
		name           string
		client, server []reqlog.Record
		want           string
	}{
		{"a request more", client[:3], server[:2], "connection c2: the client logged 1 requests, the server 0"},
		{"other key", []reqlog.Record{at("c1", 0, ms, "a", 1, "200")}, []reqlog.Record{at("c1", 0, ms, "z", 1, "200")}, "the client sent GetObject a, the server saw GetObject z"},
		{"more read than written", []reqlog.Record{at("c1", 0, ms, "a", 2, "200")}, []reqlog.Record{at("c1", 0, ms, "a", 1, "200")}, "the client read 2 bytes, the server wrote 1"},
		{"other status", []reqlog.Record{at("c1", 0, ms, "a", 1, "200")}, []reqlog.Record{at("c1", 0, ms, "a", 1, "503")}, "status 200 at the client, 503 at the server"},
		{"server without connection", nil, []reqlog.Record{at("", 0, ms, "a", 1, "200")}, "no connection"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := reqlog.Compare(tc.client, tc.server); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Compare: %v, want an error holding %q", err, tc.want)
			}
		})
	}
}
