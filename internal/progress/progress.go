// Package progress shows how far a long loop (writing a dataset, listing
// or cleaning a store) has got, for the storagebench command.
//
// On a terminal a [Reporter] draws a live bar with the count, the rate and
// the time left, through github.com/schollz/progressbar/v3; elsewhere, as
// when stderr goes to a file or a CI log, it writes plain lines with no
// carriage return or escape sequence. It only writes to the writer it is
// given, meant to be stderr, so that stdout carries the results alone.
// Counts come from callbacks such as fakes.Synth.WriteProgress or a
// dataset.ListTrace, which take [Reporter.Set] as it is.
package progress

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// How often progress is shown: the bar is redrawn at most every barGap;
// a plain line is written at each tenth of the total, but not more often
// than plainMinGap, and at least every plainMaxGap while the work goes on.
const (
	barGap      = 100 * time.Millisecond
	plainMinGap = time.Second
	plainMaxGap = 10 * time.Second
)

// A Reporter shows the progress of one piece of work, as a live bar or as
// plain lines such as
//
//	gen: 4000/20000 items (20%), 1234 items/s, ETA 13s
//
// A Reporter is safe for concurrent use.
type Reporter struct {
	label string // what is going on, such as "gen"
	unit  string // what is counted, plural, such as "items"
	total int    // how many are expected; <= 0 when unknown

	mu    sync.Mutex
	w     io.Writer
	bar   *progressbar.ProgressBar // the terminal bar, or nil for plain lines
	now   func() time.Time         // the clock, replaced in tests
	start time.Time
	done  int       // how many so far
	last  time.Time // when the bar was last drawn or the last line written
	mark  int       // the count at which the next tenth is reached
	ended bool
}

// New starts showing progress on w towards total units (unknown when
// total <= 0), as a live bar when terminal is true and as plain lines
// otherwise; [IsTerminal] tells which suits w. label says what is going on
// ("gen") and unit what is counted, in the plural ("items"). The caller
// calls [Reporter.Finish] when the work ends.
func New(w io.Writer, terminal bool, total int, label, unit string) *Reporter {
	return newClock(w, terminal, total, label, unit, time.Now)
}

// newClock is New with a clock for the plain lines.
func newClock(w io.Writer, terminal bool, total int, label, unit string, now func() time.Time) *Reporter {
	p := &Reporter{label: label, unit: unit, total: total, w: w, now: now}
	p.start = now()
	p.last = p.start
	p.mark = p.step()
	if terminal {
		size := int64(total)
		if total <= 0 {
			size = -1 // a spinner with the count and the rate
		}
		p.bar = progressbar.NewOptions64(size,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription(label+":"),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString(unit),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionSetElapsedTime(true),
			progressbar.OptionShowElapsedTimeOnFinish(),
			progressbar.OptionSetWidth(30),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }),
			// The first draw sets the bar's start, before the spinner's
			// own goroutine may read it.
			progressbar.OptionSetRenderBlankState(true),
		)
	}
	return p
}

// step returns how many units make a tenth of the total, at least 1, or 0
// when the total is unknown.
func (p *Reporter) step() int {
	if p.total <= 0 {
		return 0
	}
	return max(p.total/10, 1)
}

// Set records that n units are done. A count lower than one already set,
// or a call after Finish, is ignored, so that concurrent workers may
// report counts out of order.
func (p *Reporter) Set(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ended || n <= p.done {
		return
	}
	p.done = n
	now := p.now()
	since := now.Sub(p.last)
	if p.bar != nil {
		// The bar is drawn here, not throttled by the library, so that
		// Finish can draw where the work stopped.
		if since >= barGap || p.total > 0 && n >= p.total {
			p.last = now
			p.bar.Set(n)
		}
		return
	}
	if p.total > 0 && n >= p.total {
		return // Finish writes the last line
	}
	if !(p.mark > 0 && n >= p.mark && since >= plainMinGap) && since < plainMaxGap {
		return
	}
	p.last = now
	if s := p.step(); s > 0 {
		p.mark = (n/s + 1) * s
	}
	fmt.Fprintln(p.w, p.line(now, false))
}

// Finish ends the display: a full bar, or the bar as it stands when the
// work stopped short, and a final plain line with the count, the time taken
// and the rate. Later calls do nothing.
func (p *Reporter) Finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ended {
		return
	}
	p.ended = true
	if p.bar == nil {
		fmt.Fprintln(p.w, p.line(p.now(), true))
		return
	}
	p.bar.Set(p.done)
	if p.total > 0 && p.done < p.total {
		p.bar.Exit() // keeps the bar where it stopped
		return
	}
	p.bar.Finish() // also stops the spinner of an unknown total
}

// line formats a plain progress line at time now: the count, the share of
// the total, the rate and the time left, or, when final, the time taken.
func (p *Reporter) line(now time.Time, final bool) string {
	elapsed := now.Sub(p.start)
	s := p.label + ": " + strconv.Itoa(p.done)
	if p.total > 0 {
		s += "/" + strconv.Itoa(p.total)
	}
	s += " " + p.unit
	if p.total > 0 && !final {
		s += fmt.Sprintf(" (%d%%)", p.done*100/p.total)
	}
	if final {
		s += " in " + roundDuration(elapsed).String()
	}
	if elapsed <= 0 {
		return s
	}
	rate := float64(p.done) / elapsed.Seconds()
	s += ", " + formatRate(rate) + " " + p.unit + "/s"
	if p.total > 0 && !final && rate > 0 {
		left := time.Duration(float64(p.total-p.done) / rate * float64(time.Second))
		s += ", ETA " + roundDuration(left).String()
	}
	return s
}

// formatRate formats a rate with three significant digits or more.
func formatRate(r float64) string {
	switch {
	case r >= 100:
		return strconv.FormatFloat(r, 'f', 0, 64)
	case r >= 10:
		return strconv.FormatFloat(r, 'f', 1, 64)
	}
	return strconv.FormatFloat(r, 'f', 2, 64)
}

// roundDuration rounds d to a tenth of a second below a minute and to a
// second above.
func roundDuration(d time.Duration) time.Duration {
	if d < time.Minute {
		return d.Round(100 * time.Millisecond)
	}
	return d.Round(time.Second)
}

// IsTerminal reports whether w can show a live bar: an *os.File on a
// terminal, with the TERM environment variable not "dumb".
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd())) && os.Getenv("TERM") != "dumb"
}
