package dataset

import (
	"testing"
	"time"
)

// TestThrottledBudget checks when a retry after throttling takes from a
// run's budget: never within ThrottleGrace of the budget's making or of a
// read served, always past it.
func TestThrottledBudget(t *testing.T) {
	b := NewRetryBudget(2, 0)
	t0 := time.Unix(0, b.lastServed.Load())
	for i := range 10 {
		if !b.takeThrottled(t0.Add(time.Second)) {
			t.Fatalf("throttled retry %d within the grace refused", i)
		}
	}
	if b.Retries() != 0 {
		t.Errorf("%d retries taken within the grace, want none", b.Retries())
	}
	late := t0.Add(ThrottleGrace + time.Second)
	for i := range 2 {
		if !b.takeThrottled(late) {
			t.Fatalf("throttled retry %d past the grace refused with budget left", i)
		}
	}
	if b.takeThrottled(late) {
		t.Error("throttled retry past the grace allowed with the budget spent")
	}
	b.served(late)
	if !b.takeThrottled(late.Add(time.Second)) {
		t.Error("throttled retry refused a second after a read was served")
	}
}
