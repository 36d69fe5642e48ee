package progress

import (
	"bytes"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is a clock that tests move by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

// checkPlain fails the test if out holds a carriage return or an escape
// sequence, which plain progress must not write.
func checkPlain(tb testing.TB, out string) {
	tb.Helper()
	if i := strings.IndexAny(out, "\r\x1b"); i >= 0 {
		tb.Errorf("plain progress wrote the control character %q at byte %d of %q", out[i], i, out)
	}
}

// TestPlain checks the lines of plain progress: one at each tenth
// of the total, no closer than a second apart, one at least every ten
// seconds, and a final line with the time taken.
func TestPlain(t *testing.T) {
	// An update is a count set at a time since the start; n < 0 is finish.
	type update struct {
		at time.Duration
		n  int
	}
	const finish = -1
	s := time.Second
	tests := []struct {
		name    string
		total   int
		label   string
		unit    string
		updates []update
		want    []string
	}{
		{
			name: "tenths", total: 100, label: "gen", unit: "items",
			updates: []update{{s / 2, 5}, {2 * s, 10}, {2*s + s/2, 15}, {3 * s, 30}, {4 * s, 100}, {4 * s, finish}},
			want: []string{
				"gen: 10/100 items (10%), 5.00 items/s, ETA 18s",
				"gen: 30/100 items (30%), 10.0 items/s, ETA 7s",
				"gen: 100/100 items in 4s, 25.0 items/s",
			},
		},
		{
			name: "a fast run prints the final line only", total: 1000, label: "gen", unit: "items",
			updates: []update{{s / 10, 100}, {s / 5, 500}, {s / 2, 999}, {s / 2, 1000}, {s / 2, finish}},
			want:    []string{"gen: 1000/1000 items in 500ms, 2000 items/s"},
		},
		{
			name: "a slow run prints every ten seconds", total: 1000, label: "gen", unit: "items",
			updates: []update{{5 * s, 1}, {10 * s, 2}, {15 * s, 3}, {20 * s, 4}, {20 * s, finish}},
			want: []string{
				"gen: 2/1000 items (0%), 0.20 items/s, ETA 1h23m10s",
				"gen: 4/1000 items (0%), 0.20 items/s, ETA 1h23m0s",
				"gen: 4/1000 items in 20s, 0.20 items/s",
			},
		},
		{
			name: "unknown total", total: 0, label: "index", unit: "objects",
			updates: []update{{5 * s, 1000}, {10 * s, 2000}, {11 * s, 2500}, {12 * s, finish}},
			want: []string{
				"index: 2000 objects, 200 objects/s",
				"index: 2500 objects in 12s, 208 objects/s",
			},
		},
		{
			name: "stopped short", total: 100, label: "gen: remove", unit: "objects",
			updates: []update{{s / 2, 40}, {s, finish}},
			want:    []string{"gen: remove: 40/100 objects in 1s, 40.0 objects/s"},
		},
		{
			name: "lower counts and updates after finish are ignored", total: 100, label: "gen", unit: "items",
			updates: []update{{2 * s, 20}, {3 * s, 10}, {3 * s, finish}, {4 * s, 90}, {4 * s, finish}},
			want: []string{
				"gen: 20/100 items (20%), 10.0 items/s, ETA 8s",
				"gen: 20/100 items in 3s, 6.67 items/s",
			},
		},
		{
			name: "nothing done at once", total: 5, label: "gen", unit: "items",
			updates: []update{{0, finish}},
			want:    []string{"gen: 0/5 items in 0s"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
			clock := &fakeClock{start}
			var out bytes.Buffer
			p := newClock(&out, false, tc.total, tc.label, tc.unit, clock.now)
			for _, u := range tc.updates {
				clock.t = start.Add(u.at)
				if u.n == finish {
					p.Finish()
				} else {
					p.Set(u.n)
				}
			}
			checkPlain(t, out.String())
			got := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
			if !slices.Equal(got, tc.want) {
				t.Errorf("got lines\n\t%s\nwant\n\t%s", strings.Join(got, "\n\t"), strings.Join(tc.want, "\n\t"))
			}
		})
	}
}

// TestTerminal checks that on a terminal progress draws a bar, in
// place, with the count and the rate, and ends its line.
func TestTerminal(t *testing.T) {
	tests := []struct {
		name  string
		total int
		done  int
		unit  string
		want  []string // in the output
	}{
		{"complete", 200, 200, "items", []string{"gen:", "100%", "|", "200/200", "items/s"}},
		{"stopped short", 200, 50, "items", []string{"gen:", "25%", "|", "50/200", "items/s"}},
		{"unknown total", 0, 1500, "objects", []string{"gen:", "1500", "objects/s"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			p := New(&out, true, tc.total, "gen", tc.unit)
			for n := 1; n <= tc.done; n++ {
				p.Set(n)
			}
			p.Finish()
			p.Finish() // a second finish does nothing
			got := out.String()
			if !strings.Contains(got, "\r") {
				t.Errorf("terminal progress %q has no carriage return: it does not redraw in place", got)
			}
			if !strings.HasSuffix(got, "\n") {
				t.Errorf("terminal progress %q does not end its line", got)
			}
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("terminal progress %q does not contain %q", got, w)
				}
			}
		})
	}
}

// TestConcurrent sets counts from many goroutines, out of order, as
// concurrent writers do, and checks the final count.
func TestConcurrent(t *testing.T) {
	for _, terminal := range []bool{false, true} {
		var out bytes.Buffer
		p := New(&out, terminal, 1000, "gen", "items")
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Go(func() {
				for n := g; n <= 1000; n += 8 {
					p.Set(n)
				}
			})
		}
		wg.Wait()
		p.Finish()
		if !strings.Contains(out.String(), "1000/1000") {
			t.Errorf("terminal=%v: progress %q does not end at 1000/1000", terminal, out.String())
		}
	}
}

// TestIsTerminal checks that writers that are not terminals get plain
// lines.
func TestIsTerminal(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	for _, tc := range []struct {
		name string
		w    io.Writer
	}{
		{"buffer", new(bytes.Buffer)},
		{"pipe", w},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if IsTerminal(tc.w) {
				t.Errorf("IsTerminal(%s) = true, want false", tc.name)
			}
		})
	}
}
