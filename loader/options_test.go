package loader_test

import (
	"testing"

	"github.com/storagebench/storagebench/loader"
)

func TestParseOnError(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want loader.OnError
		err  bool
	}{
		{"fail", loader.OnErrorFail, false},
		{"skip", loader.OnErrorSkip, false},
		{"deliver", loader.OnErrorDeliver, false},
		{" deliver ", loader.OnErrorDeliver, false},
		{"tolerate", "", true},
		{"", "", true},
	} {
		got, err := loader.ParseOnError(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("ParseOnError(%q) = %q, %v; want %q, error %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

// TestResolvedItem checks that Options.Item selects the scheduler, and
// that Resolved fills the item scheduler's defaults into a copy, never
// into the caller's ItemOptions.
func TestResolvedItem(t *testing.T) {
	for _, tc := range []struct {
		name       string
		opts       loader.Options
		wantSched  loader.Scheduler
		wantWindow int
		wantBudget float64
	}{
		{"batch", loader.Options{}, loader.SchedBatch, 0, 0},
		{"item defaults", loader.Options{Mode: loader.Async, Workers: 2, FetchConcurrency: 8, BatchSize: 10, Item: &loader.ItemOptions{}},
			loader.SchedItem, loader.DefaultWindow(10, 16, 2, loader.DefaultPrefetch), loader.DefaultHedgeBudget},
		{"item set", loader.Options{Mode: loader.Async, Workers: 2, FetchConcurrency: 8, BatchSize: 10, Item: &loader.ItemOptions{Window: 30, HedgeBudget: 0.5}},
			loader.SchedItem, 30, 0.5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var before loader.ItemOptions
			if tc.opts.Item != nil {
				before = *tc.opts.Item
			}
			r, err := tc.opts.Resolved()
			if err != nil {
				t.Fatal(err)
			}
			if got := r.Scheduler(); got != tc.wantSched {
				t.Errorf("Scheduler() = %q, want %q", got, tc.wantSched)
			}
			if tc.opts.Scheduler() != r.Scheduler() {
				t.Errorf("Scheduler() = %q before Resolved, %q after", tc.opts.Scheduler(), r.Scheduler())
			}
			if tc.opts.Item == nil {
				if r.Item != nil {
					t.Errorf("Resolved set Item %+v, want nil", *r.Item)
				}
				return
			}
			if r.Item == tc.opts.Item {
				t.Error("Resolved returned the caller's ItemOptions, want a copy")
			}
			if *tc.opts.Item != before {
				t.Errorf("Resolved changed the caller's ItemOptions to %+v, want %+v", *tc.opts.Item, before)
			}
			if r.Item.Window != tc.wantWindow || r.Item.HedgeBudget != tc.wantBudget {
				t.Errorf("window %d, budget %v; want %d, %v", r.Item.Window, r.Item.HedgeBudget, tc.wantWindow, tc.wantBudget)
			}
		})
	}
}
