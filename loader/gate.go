package loader

import (
	"container/heap"
	"context"
	"sync"
)

// gate admits at most n holders at once and, when holders wait, admits
// the one with the smallest key first. The loader keys decodes by their
// position in sampler order, so the CPU goes to the batch the consumer
// needs next: with a plain semaphore every batch in flight would progress a
// little, all would finish together, and the processors would idle while
// the next batches' reads were still under way.
type gate struct {
	mu      sync.Mutex
	free    int
	waiting waiters
}

// waiter is a holder-to-be; each goroutine that passes the gate owns one
// and reuses it, so waiting allocates nothing.
type waiter struct {
	key   int64
	ready chan struct{}
}

func newWaiter() *waiter { return &waiter{ready: make(chan struct{}, 1)} }

func newGate(n int) *gate { return &gate{free: n} }

// enter waits until w may pass with key, or until ctx is done.
func (g *gate) enter(ctx context.Context, w *waiter, key int64) error {
	g.mu.Lock()
	if g.free > 0 {
		g.free--
		g.mu.Unlock()
		return nil
	}
	w.key = key
	heap.Push(&g.waiting, w)
	g.mu.Unlock()
	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
		// The run is stopping; the gate is not used again.
		return ctx.Err()
	}
}

// leave lets the waiter with the smallest key pass, or frees a place.
func (g *gate) leave() {
	g.mu.Lock()
	if len(g.waiting) == 0 {
		g.free++
		g.mu.Unlock()
		return
	}
	w := heap.Pop(&g.waiting).(*waiter)
	g.mu.Unlock()
	w.ready <- struct{}{}
}

// waiters is a min-heap of waiters by key.
type waiters []*waiter

func (h waiters) Len() int           { return len(h) }
func (h waiters) Less(i, j int) bool { return h[i].key < h[j].key }
func (h waiters) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *waiters) Push(x any)        { *h = append(*h, x.(*waiter)) }
func (h *waiters) Pop() any {
	old := *h
	w := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return w
}
