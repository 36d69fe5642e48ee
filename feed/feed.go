// Package feed answers the question MLPerf Storage reports: how many
// emulated accelerators can a store keep busy? It searches the number of
// accelerators N, doubling from one and then bisecting, for the largest N
// whose training run keeps accelerator utilization at or above the
// workload's threshold, and says, from a failing run's measurements, what
// held it back: the store's capacity, the latency the loader's concurrency
// cannot hide, the loader's window, or this machine's CPU.
//
// The runs themselves are BenchmarkTrain's (package bench), read through
// package results; "storagebench feed" drives them.
package feed

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/storagebench/storagebench/cases"
	"github.com/storagebench/storagebench/results"
)

// Trial is one training run at Accel accelerators, as its result line
// reports it.
type Trial struct {
	Name  string // the benchmark's name
	Accel int
	// AU and AUMin are the run's mean and least accelerator utilization.
	AU, AUMin float64
	// SamplesPerSec is what every accelerator consumed a second.
	SamplesPerSec float64
	// Bound is the most samples a second the emulated store gives the
	// run's loaders (its capacity, and C / L); +Inf when unknown or
	// unlimited.
	Bound float64
	// Capacity is the store's own limit in samples a second, whatever
	// the loaders' concurrency: its request rate per prefix and its link
	// over the mean sample; +Inf when it has none.
	Capacity float64
	// InFlight is the fraction of the time the loaders' reads were in
	// flight, CPU the process's CPU over the run (a fraction of all
	// cores), and Errors the failed attempts of reads an item, throttling
	// among them.
	InFlight, CPU, Errors float64
}

// FromPoint returns the trial a BenchmarkTrain result reports. capacity is
// the store's own limit (see Trial.Capacity).
func FromPoint(p *results.Point, capacity float64) (Trial, error) {
	n, err := strconv.Atoi(p.NameKey(cases.Accel.Key))
	if err != nil {
		return Trial{}, fmt.Errorf("feed: result %s: no %s= in its name", p.Name(), cases.Accel.Key)
	}
	t := Trial{Name: p.Name(), Accel: n, Bound: math.Inf(1), Capacity: capacity}
	for _, u := range []string{results.AU, results.AUMin, results.SamplesPerSecond} {
		if !p.Has(u) {
			return Trial{}, fmt.Errorf("feed: result %s reports no %s", p.Name(), u)
		}
	}
	t.AU, t.AUMin, t.SamplesPerSec = p.Median(results.AU), p.Median(results.AUMin), p.Median(results.SamplesPerSecond)
	if p.Has(results.BoundSamplesSec) {
		t.Bound = p.Median(results.BoundSamplesSec)
	}
	for u, dst := range map[string]*float64{results.InFlightFraction: &t.InFlight, results.CPUFraction: &t.CPU, results.ErrorsPerItem: &t.Errors} {
		if p.Has(u) {
			*dst = p.Median(u)
		}
	}
	return t, nil
}

// Outcome is the answer of a search.
type Outcome struct {
	// Max is the largest number of accelerators found valid; 0 when even
	// one is not.
	Max int
	// Best is the trial at Max; Failed the smallest trial found invalid,
	// nil when the search reached its cap first.
	Best, Failed *Trial
	// Trials holds every trial, in the order run.
	Trials []Trial
}

// Limit says what held the search back: the diagnosis of its smallest
// failing trial, or that it reached its cap.
func (o Outcome) Limit(threshold float64) string {
	if o.Failed == nil {
		return "none found: the search's cap"
	}
	return Diagnose(*o.Failed, threshold)
}

// ErrCap is returned, wrapped, for a search cap below one.
var ErrCap = errors.New("feed: the most accelerators to try must be at least 1")

// Search finds the largest N, 1 <= N <= max, at which run reports AU at
// or above threshold: it tries 1, 2, 4, ... until a run falls below the
// threshold or max is reached, then bisects between the last valid N and
// the first invalid one. It assumes, as the question does, that adding
// accelerators never raises utilization. run's error ends the search.
func Search(ctx context.Context, max int, threshold float64, run func(ctx context.Context, n int) (Trial, error)) (Outcome, error) {
	var o Outcome
	if max < 1 {
		return o, fmt.Errorf("%w, got %d", ErrCap, max)
	}
	try := func(n int) (bool, error) {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		t, err := run(ctx, n)
		if err != nil {
			return false, fmt.Errorf("feed: %d accelerators: %w", n, err)
		}
		o.Trials = append(o.Trials, t)
		t2 := &o.Trials[len(o.Trials)-1]
		ok := t.AU >= threshold
		switch {
		case ok && n > o.Max:
			o.Max = n
			best := *t2
			o.Best = &best
		case !ok && (o.Failed == nil || n < o.Failed.Accel):
			failed := *t2
			o.Failed = &failed
		}
		return ok, nil
	}
	lo, hi := 0, 0 // the largest valid N, the smallest invalid one (0: none yet)
	for n := 1; ; n *= 2 {
		n = min(n, max)
		ok, err := try(n)
		if err != nil {
			return o, err
		}
		if !ok {
			hi = n
			break
		}
		lo = n
		if n == max {
			return o, nil
		}
	}
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		ok, err := try(mid)
		if err != nil {
			return o, err
		}
		if ok {
			lo = mid
		} else {
			hi = mid
		}
	}
	return o, nil
}

// Thresholds of the diagnosis.
const (
	// A run at or above this fraction of a limit was held by it.
	nearLimit = 0.85
	// A run whose reads failed this often, throttled or not, was held by
	// the store.
	manyErrors = 0.01
)

// Diagnose says, from a trial whose utilization fell below threshold,
// what held it back, checked in this order:
//   - the store's capacity: its reads were throttled or failed (errors an
//     item of 1% or more), or it consumed at least 85% of the store's own
//     limit (requests a prefix, its link);
//   - this machine's CPU: the process used at least 85% of every core;
//   - latency with the loader's concurrency: it consumed at least 85% of
//     C / L, the most its reads in flight can carry at the store's
//     latency, or, where that is not known (a real store), its reads were
//     in flight at least 85% of the time;
//   - the loader's window: none of those, so the loader did not keep its
//     reads in flight (the fraction of the time they were is given): its
//     prefetch slots or window, not the store, set the pace.
func Diagnose(t Trial, threshold float64) string {
	pct := func(f float64) string { return strconv.FormatFloat(100*f, 'f', 0, 64) + "%" }
	rate := strconv.FormatFloat(t.SamplesPerSec, 'f', 0, 64)
	switch {
	case t.AU >= threshold:
		return "nothing: AU " + strconv.FormatFloat(t.AU, 'f', 3, 64) + " is valid"
	case t.Errors >= manyErrors:
		return fmt.Sprintf("the store's capacity: %.2f failed attempts an item (throttling), at %s samples/s", t.Errors, rate)
	case !math.IsInf(t.Capacity, 0) && t.SamplesPerSec >= nearLimit*t.Capacity:
		return fmt.Sprintf("the store's capacity: %s samples/s of the %.0f it serves", rate, t.Capacity)
	case t.CPU >= nearLimit:
		return fmt.Sprintf("this machine's CPU: %s of every core busy, at %s samples/s", pct(t.CPU), rate)
	case !math.IsInf(t.Bound, 0) && t.SamplesPerSec >= nearLimit*t.Bound:
		return fmt.Sprintf("latency with the loader's concurrency: %s samples/s of the %.0f its reads in flight carry (C/L)", rate, t.Bound)
	case t.InFlight >= nearLimit:
		// A real store, whose latency and capacity are not known
		// beforehand: the loader kept its reads in flight, and the store
		// answered them at its pace.
		return fmt.Sprintf("the store's latency with the loader's concurrency: its reads were in flight %s of the time, at %s samples/s", pct(t.InFlight), rate)
	}
	return fmt.Sprintf("the loader's window: its reads were in flight %s of the time, at %s samples/s", pct(t.InFlight), rate)
}
