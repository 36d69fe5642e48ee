package loader

import (
	"context"
	"errors"
	"sync"
	"testing"
)

// TestGateOrder fills a gate of one place, queues waiters in a scrambled
// order and checks they pass smallest key first, one at a time.
func TestGateOrder(t *testing.T) {
	g := newGate(1)
	ctx := context.Background()
	if err := g.enter(ctx, newWaiter(), 0); err != nil {
		t.Fatal(err)
	}
	keys := []int64{7, 3, 9, 1, 5}
	var mu sync.Mutex
	var order []int64
	var wg sync.WaitGroup
	queued := make(chan struct{})
	for _, k := range keys {
		w := newWaiter()
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := g.enter(ctx, w, k); err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			order = append(order, k)
			mu.Unlock()
			g.leave()
		}()
	}
	// Wait until every waiter is queued, without sleeping.
	go func() {
		for {
			g.mu.Lock()
			n := len(g.waiting)
			g.mu.Unlock()
			if n == len(keys) {
				close(queued)
				return
			}
		}
	}()
	<-queued
	g.leave()
	wg.Wait()
	want := []int64{1, 3, 5, 7, 9}
	for i := range want {
		if i >= len(order) || order[i] != want[i] {
			t.Fatalf("waiters passed in order %v, want %v", order, want)
		}
	}
	if g.free != 1 {
		t.Errorf("gate has %d free places after all left, want 1", g.free)
	}
}

func TestGateCancel(t *testing.T) {
	g := newGate(1)
	g.enter(context.Background(), newWaiter(), 0)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := g.enter(ctx, newWaiter(), 1); !errors.Is(err, context.Canceled) {
		t.Errorf("enter with a cancelled context = %v, want context.Canceled", err)
	}
}
