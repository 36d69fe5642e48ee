package loader

import (
	"slices"
	"testing"
	"time"
)

// TestHedgeQueue pushes deadlines, removes some, and checks that due
// returns the rest in deadline order, each once, at their time, with the
// places the items hold in the queue kept right throughout.
func TestHedgeQueue(t *testing.T) {
	t0 := time.Unix(1000, 0)
	for _, tc := range []struct {
		name   string
		at     []int // deadline of item i, in ms after t0
		remove []int // items taken out before the deadlines come
	}{
		{"empty", nil, nil},
		{"one", []int{5}, nil},
		{"in order", []int{1, 2, 3, 4, 5, 6, 7}, nil},
		{"reversed", []int{7, 6, 5, 4, 3, 2, 1}, nil},
		{"ties", []int{3, 1, 3, 1, 2, 2, 3}, nil},
		{"remove the earliest", []int{4, 1, 3, 2}, []int{1}},
		{"remove the latest", []int{4, 1, 3, 2}, []int{0}},
		{"remove from the middle", []int{9, 3, 7, 1, 8, 2, 6, 4, 5}, []int{2, 5, 7}},
		{"remove all", []int{2, 1, 3}, []int{0, 1, 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := &Batch{states: make([]itemState, len(tc.at))}
			q := newHedgeQueue(len(tc.at))
			for i, ms := range tc.at {
				q.push(b, i, uint64(i), t0.Add(time.Duration(ms)*time.Millisecond))
				checkPlaces(t, q)
			}
			for _, i := range tc.remove {
				q.remove(&b.states[i])
				q.remove(&b.states[i]) // a second time is a no-op
				checkPlaces(t, q)
			}
			var want []int
			for i := range tc.at {
				if !slices.Contains(tc.remove, i) {
					want = append(want, i)
				}
			}
			slices.SortStableFunc(want, func(i, j int) int { return tc.at[i] - tc.at[j] })
			var got []int
			for ms := 0; ms <= 10; ms++ {
				now := t0.Add(time.Duration(ms) * time.Millisecond)
				next, ok := q.due(now, func(e hedgeEntry) {
					if e.b != b || e.gen != uint64(e.i) {
						t.Errorf("entry %+v, want item %d of the batch, generation %d", e, e.i, e.i)
					}
					if tc.at[e.i] > ms {
						t.Errorf("item %d due at %d ms, started at %d ms", e.i, tc.at[e.i], ms)
					}
					if b.states[e.i].qpos != 0 {
						t.Errorf("item %d started, still at place %d", e.i, b.states[e.i].qpos)
					}
					got = append(got, e.i)
				})
				checkPlaces(t, q)
				if ok && !next.After(now) {
					t.Errorf("at %d ms: next deadline %v, want one after", ms, next.Sub(t0))
				}
			}
			// Ties leave the order among equal deadlines open.
			gotAt, wantAt := make([]int, len(got)), make([]int, len(want))
			for k := range got {
				gotAt[k] = tc.at[got[k]]
			}
			for k := range want {
				wantAt[k] = tc.at[want[k]]
			}
			slices.Sort(got)
			sortedWant := slices.Sorted(slices.Values(want))
			if !slices.Equal(gotAt, wantAt) || !slices.Equal(got, sortedWant) {
				t.Errorf("started items %v at %v ms, want %v at %v ms", got, gotAt, sortedWant, wantAt)
			}
			if _, ok := q.due(t0.Add(time.Hour), func(hedgeEntry) {}); ok || len(q.heap) != 0 {
				t.Errorf("%d entries left, want none", len(q.heap))
			}
		})
	}
}

// checkPlaces checks that q is a heap on deadlines and that each item
// records its place in it.
func checkPlaces(tb testing.TB, q *hedgeQueue) {
	tb.Helper()
	for k, e := range q.heap {
		if p := e.b.states[e.i].qpos; p != k+1 {
			tb.Errorf("item %d at place %d records %d", e.i, k+1, p)
		}
		if k > 0 && e.at.Before(q.heap[(k-1)/2].at) {
			tb.Errorf("item %d at place %d is earlier than its parent", e.i, k+1)
		}
	}
}

// TestHedgeQueueAllocs checks that queueing and taking out a first read's
// deadline, as each first read does, allocates nothing.
func TestHedgeQueueAllocs(t *testing.T) {
	const c = 16
	b := &Batch{states: make([]itemState, c)}
	q := newHedgeQueue(c)
	now := time.Now()
	for i := range c - 1 {
		q.push(b, i, 0, now.Add(time.Duration(i)*time.Millisecond))
	}
	if a := testing.AllocsPerRun(100, func() {
		q.push(b, c-1, 0, now.Add(time.Microsecond))
		q.remove(&b.states[c-1])
	}); a != 0 {
		t.Errorf("%v allocations to queue and remove a deadline, want 0", a)
	}
}
