package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/net/html"
)

// A parsedPage is what a test reads back from a report page.
type parsedPage struct {
	figures []string            // the ids of figures holding an inline <svg>
	tables  map[string][]string // by id, the text of each row's cells, joined by "|"
	remote  []string            // attributes that load something: src=, href= other than #fragments
}

// parsePage parses the HTML report in file.
func parsePage(tb testing.TB, file string) parsedPage {
	tb.Helper()
	f, err := os.Open(file)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	doc, err := html.Parse(f)
	if err != nil {
		tb.Fatalf("parsing %s: %v", file, err)
	}
	pg := parsedPage{tables: map[string][]string{}}
	var text func(n *html.Node) string
	text = func(n *html.Node) string {
		if n.Type == html.TextNode {
			return n.Data
		}
		var b strings.Builder
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			b.WriteString(text(c))
		}
		return b.String()
	}
	attr := func(n *html.Node, key string) string {
		for _, a := range n.Attr {
			if a.Key == key {
				return a.Val
			}
		}
		return ""
	}
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			for _, a := range n.Attr {
				if (a.Key == "src" || a.Key == "href") && !strings.HasPrefix(a.Val, "#") {
					pg.remote = append(pg.remote, n.Data+" "+a.Key+"="+a.Val)
				}
			}
			switch n.Data {
			case "figure":
				for c := n.FirstChild; c != nil; c = c.NextSibling {
					if c.Type == html.ElementNode && c.Data == "svg" {
						pg.figures = append(pg.figures, attr(n, "id"))
					}
				}
			case "table":
				id := attr(n, "id")
				var rowsOf func(n *html.Node)
				rowsOf = func(n *html.Node) {
					for c := n.FirstChild; c != nil; c = c.NextSibling {
						if c.Type == html.ElementNode && c.Data == "tr" {
							var cells []string
							for d := c.FirstChild; d != nil; d = d.NextSibling {
								if d.Type == html.ElementNode && (d.Data == "td" || d.Data == "th") {
									cells = append(cells, strings.TrimSpace(text(d)))
								}
							}
							pg.tables[id] = append(pg.tables[id], strings.Join(cells, "|"))
						} else {
							rowsOf(c)
						}
					}
				}
				rowsOf(n)
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	return pg
}

func TestReport(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		figures []string
		tables  map[string][]string // by id, substrings of rows, in order
	}{
		{
			name:    "one file",
			args:    []string{currentTxt},
			figures: []string{"figure-throughput-fakes3-s3", "figure-levels-fakes3-s3"},
			tables: map[string][]string{
				"machine-table":             {"file|" + currentTxt, "cpu|Oxide Virtual Turin-like Processor", "GOMAXPROCS|2", "dataset-items|200"},
				"table-Load-items_s":        {"configuration|" + currentTxt, "BenchmarkLoad backend=fakes3 profile=s3 mode=sync workers=2 batch=50|59 ± ∞"},
				"table-Load-efficiency":     {"configuration|", "mode=async workers=32 batch=50|0."},
				"table-Load-getitem-p99-ns": {"configuration|", "mode=sync workers=2 batch=50|", "ms"},
			},
		},
		{
			name:    "before and after",
			args:    []string{"base=" + loadTxt, "head=" + loadTxt},
			figures: []string{"figure-throughput-fakes3-seed-s3", "figure-levels-fakes3-seed-s3-base", "figure-levels-fakes3-seed-s3-head"},
			tables: map[string][]string{
				"table-Load-items_s": {"configuration|base|head|head vs base", "mode=sync workers=2 batch=50|", "~ (p=1.000 n=2)"},
			},
		},
		{
			name:    "training",
			args:    []string{trainTxt},
			figures: []string{"figure-au-mem-none"},
			tables: map[string][]string{
				"table-Train-au": {"configuration|", "BenchmarkTrain backend=mem profile=none workload=resnet50-h100 accel=1 mode=async workers=8|0.99"},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out := filepath.Join(t.TempDir(), "report.html")
			stdout, _, err := runCmd(t, append(append([]string{"report"}, tc.args...), "-o", out)...)
			if err != nil {
				t.Fatalf("report: %v", err)
			}
			if !strings.Contains(stdout, "wrote "+out) {
				t.Errorf("report printed %q, want it to name %s", stdout, out)
			}
			pg := parsePage(t, out)
			if diff := cmp.Diff(tc.figures, pg.figures); diff != "" {
				t.Errorf("figures (-want +got):\n%s", diff)
			}
			if len(pg.remote) > 0 {
				t.Errorf("the page loads %q; want it self-contained", pg.remote)
			}
			for id, want := range tc.tables {
				rows, ok := pg.tables[id]
				if !ok {
					t.Errorf("no table %q; tables: %q", id, keys(pg.tables))
					continue
				}
				i := 0
				for _, r := range rows {
					if i < len(want) && strings.Contains(r, want[i]) {
						i++
					}
				}
				if i < len(want) {
					t.Errorf("table %q has no row with %q after the earlier ones; rows:\n%s", id, want[i], strings.Join(rows, "\n"))
				}
			}
			renderInBrowser(t, out)
		})
	}
}

func keys(m map[string][]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// browserMu lets one headless browser run at a time: several at once,
// beside other packages' tests, can starve one of them on a small machine.
var browserMu sync.Mutex

// renderInBrowser renders the page in headless Chromium when one is on
// the machine, and fails if it cannot, or if the page logs an error.
func renderInBrowser(tb testing.TB, page string) {
	tb.Helper()
	browserMu.Lock()
	defer browserMu.Unlock()
	browser := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			browser = p
			break
		}
	}
	if browser == "" {
		tb.Log("no headless browser on this machine: the page was parsed, not rendered")
		return
	}
	abs, err := filepath.Abs(page)
	if err != nil {
		tb.Fatal(err)
	}
	shot := filepath.Join(tb.TempDir(), "page.png")
	ctx, cancel := contextWithTimeout(tb, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
		"--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+tb.TempDir(), "--enable-logging=stderr", "--v=0",
		"--window-size=1400,3000", "--screenshot="+shot, "file://"+abs)
	out, err := cmd.CombinedOutput()
	if err != nil {
		tb.Fatalf("%s: %v\n%s", browser, err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "CONSOLE") && strings.Contains(strings.ToLower(line), "error") ||
			strings.Contains(line, "Uncaught") {
			tb.Errorf("the page logged an error: %s", line)
		}
	}
	if st, err := os.Stat(shot); err != nil || st.Size() < 10000 {
		tb.Errorf("headless %s rendered no screenshot of the page (%v)", filepath.Base(browser), err)
	}
}

// contextWithTimeout returns the test's context with a timeout.
func contextWithTimeout(tb testing.TB, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(tb.Context(), d)
}
