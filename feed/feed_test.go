package feed_test

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/storagebench/storagebench/feed"
)

// TestSearch checks the trials a search runs and its answer against a
// store that feeds capacity/n of n accelerators' demand.
func TestSearch(t *testing.T) {
	for _, tc := range []struct {
		name       string
		capacity   float64 // accelerators' worth of samples the store gives
		max        int
		wantMax    int
		wantTrials []int
		wantFailed int // 0: none
	}{
		{"three and a bit", 3.3, 64, 3, []int{1, 2, 4, 3}, 4},
		{"not even one", 0.5, 64, 0, []int{1}, 1},
		{"exactly one", 1.05, 64, 1, []int{1, 2}, 2},
		{"between powers", 11.2, 64, 12, []int{1, 2, 4, 8, 16, 12, 14, 13}, 13},
		{"the cap", 1000, 10, 10, []int{1, 2, 4, 8, 10}, 0},
		{"cap of one", 1000, 1, 1, []int{1}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run := func(_ context.Context, n int) (feed.Trial, error) {
				return feed.Trial{Accel: n, AU: min(1, tc.capacity/float64(n)), Bound: math.Inf(1), Capacity: math.Inf(1)}, nil
			}
			o, err := feed.Search(context.Background(), tc.max, 0.9, run)
			if err != nil {
				t.Fatal(err)
			}
			var ns []int
			for _, tr := range o.Trials {
				ns = append(ns, tr.Accel)
			}
			if o.Max != tc.wantMax || !slices.Equal(ns, tc.wantTrials) {
				t.Errorf("max %d after trials %v, want %d after %v", o.Max, ns, tc.wantMax, tc.wantTrials)
			}
			if (o.Best == nil) != (tc.wantMax == 0) || o.Best != nil && o.Best.Accel != tc.wantMax {
				t.Errorf("best %+v, want the trial at %d", o.Best, tc.wantMax)
			}
			switch {
			case tc.wantFailed == 0 && o.Failed != nil:
				t.Errorf("failed %+v, want none", o.Failed)
			case tc.wantFailed > 0 && (o.Failed == nil || o.Failed.Accel != tc.wantFailed):
				t.Errorf("failed %+v, want the trial at %d", o.Failed, tc.wantFailed)
			}
		})
	}
}

func TestSearchErrors(t *testing.T) {
	boom := errors.New("boom")
	_, err := feed.Search(context.Background(), 8, 0.9, func(_ context.Context, n int) (feed.Trial, error) {
		if n == 4 {
			return feed.Trial{}, boom
		}
		return feed.Trial{Accel: n, AU: 1}, nil
	})
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "4 accelerators") {
		t.Errorf("Search = %v, want the run's error naming 4 accelerators", err)
	}
	if _, err := feed.Search(context.Background(), 0, 0.9, nil); !errors.Is(err, feed.ErrCap) {
		t.Errorf("Search with cap 0 = %v, want ErrCap", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := feed.Search(ctx, 8, 0.9, func(context.Context, int) (feed.Trial, error) { return feed.Trial{AU: 1}, nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("Search with a cancelled context = %v, want context.Canceled", err)
	}
}

func TestDiagnose(t *testing.T) {
	inf := math.Inf(1)
	for _, tc := range []struct {
		name  string
		trial feed.Trial
		want  string
	}{
		{"valid", feed.Trial{AU: 0.95}, "nothing"},
		{"throttled", feed.Trial{AU: 0.7, Errors: 0.2, SamplesPerSec: 5400, Bound: inf, Capacity: inf}, "the store's capacity: 0.20 failed attempts"},
		{"prefix limit", feed.Trial{AU: 0.7, SamplesPerSec: 5300, Bound: 5500, Capacity: 5500}, "the store's capacity: 5300 samples/s of the 5500"},
		{"cpu", feed.Trial{AU: 0.7, SamplesPerSec: 3000, CPU: 0.97, Bound: 20000, Capacity: 5500}, "this machine's CPU: 97%"},
		{"latency", feed.Trial{AU: 0.5, SamplesPerSec: 950, CPU: 0.3, Bound: 1000, Capacity: 5500}, "latency with the loader's concurrency: 950 samples/s of the 1000"},
		{"window", feed.Trial{AU: 0.5, SamplesPerSec: 500, CPU: 0.3, InFlight: 0.4, Bound: 1000, Capacity: 5500}, "the loader's window: its reads were in flight 40%"},
		{"unknown bound", feed.Trial{AU: 0.5, SamplesPerSec: 500, InFlight: 0.4, Bound: inf, Capacity: inf}, "the loader's window"},
		{"real store, reads in flight", feed.Trial{AU: 0.8, SamplesPerSec: 1392, InFlight: 0.96, Bound: inf, Capacity: inf}, "the store's latency with the loader's concurrency: its reads were in flight 96%"},
	} {
		if got := feed.Diagnose(tc.trial, 0.9); !strings.HasPrefix(got, tc.want) {
			t.Errorf("%s: Diagnose = %q, want it to start %q", tc.name, got, tc.want)
		}
	}
}
