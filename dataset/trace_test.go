package dataset_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/storagebench/storagebench/dataset"
	"github.com/storagebench/storagebench/dataset/mem"
)

func TestReportFound(t *testing.T) {
	var found []int
	record := &dataset.ListTrace{Found: func(n int) { found = append(found, n) }}
	tests := []struct {
		name string
		ctx  context.Context
		want []int
	}{
		{"no trace", context.Background(), nil},
		{"nil trace", dataset.WithListTrace(context.Background(), nil), nil},
		{"no hook", dataset.WithListTrace(context.Background(), &dataset.ListTrace{}), nil},
		{"hook", dataset.WithListTrace(context.Background(), record), []int{3, 7}},
		{"hook through a child context", context.WithValue(dataset.WithListTrace(context.Background(), record), struct{}{}, 1), []int{3, 7}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			found = nil
			dataset.ReportFound(tc.ctx, 3)
			dataset.ReportFound(tc.ctx, 7)
			if !slices.Equal(found, tc.want) {
				t.Errorf("Found got %v, want %v", found, tc.want)
			}
		})
	}
}

func TestReadTraceFirstByte(t *testing.T) {
	store := dataset.NewStore(mem.New(map[string][]byte{"big": make([]byte, 100_000), "empty": {}}))
	for _, key := range []string{"big", "empty"} {
		t.Run(key, func(t *testing.T) {
			calls := 0
			trace := &dataset.ReadTrace{FirstByte: func() { calls++ }}
			if _, _, err := store.ReadTraced(t.Context(), key, nil, trace); err != nil {
				t.Fatal(err)
			}
			if calls != 1 {
				t.Errorf("FirstByte called %d times, want 1", calls)
			}
			// Without a trace, nothing is called and nothing fails.
			if _, _, err := store.Read(t.Context(), key, nil); err != nil {
				t.Fatal(err)
			}
			if _, _, err := store.ReadTraced(t.Context(), key, nil, nil); err != nil {
				t.Fatal(err)
			}
			if calls != 1 {
				t.Errorf("FirstByte called %d times after reads without the trace, want 1", calls)
			}
		})
	}
}

// TestReadTracesAddUp checks that traces given to a store and to a read
// add up: every hook is called, the newest first, and none replaces
// another.
func TestReadTracesAddUp(t *testing.T) {
	var calls []string
	record := func(name string) *dataset.ReadTrace {
		return &dataset.ReadTrace{
			FirstByte: func() { calls = append(calls, name+".FirstByte") },
			Retry: func(k int, err error) {
				calls = append(calls, fmt.Sprintf("%s.Retry(%d, throttled=%v)", name, k, dataset.Throttled(err)))
			},
		}
	}
	b := &flaky{n: 1, err: throttledErr}
	base, err := dataset.NewStore(b).WithPolicy(dataset.Policy{Backoff: 1, ThrottleBackoff: 1, MaxBackoff: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		store *dataset.Store
		read  *dataset.ReadTrace
		want  []string
	}{
		{"none", base, nil, nil},
		{"read only", base, record("read"), []string{"read.Retry(1, throttled=true)", "read.FirstByte"}},
		{"store only", base.WithReadTrace(record("s1")), nil, []string{"s1.Retry(1, throttled=true)", "s1.FirstByte"}},
		{"store, nil added", base.WithReadTrace(record("s1")).WithReadTrace(nil), nil, []string{"s1.Retry(1, throttled=true)", "s1.FirstByte"}},
		{"stores and read", base.WithReadTrace(record("s1")).WithReadTrace(record("s2")), record("read"), []string{
			"read.Retry(1, throttled=true)", "s2.Retry(1, throttled=true)", "s1.Retry(1, throttled=true)",
			"read.FirstByte", "s2.FirstByte", "s1.FirstByte",
		}},
		{"partial hooks", base.WithReadTrace(&dataset.ReadTrace{Retry: record("s1").Retry}).WithReadTrace(&dataset.ReadTrace{FirstByte: record("s2").FirstByte}), nil, []string{
			"s1.Retry(1, throttled=true)", "s2.FirstByte",
		}},
		{"options keep the trace", base.WithReadTrace(record("s1")).WithRetryBudget(dataset.NewRetryBudget(10, 0)), nil, []string{"s1.Retry(1, throttled=true)", "s1.FirstByte"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls = nil
			b.opens.Store(0)
			if _, _, err := tc.store.ReadTraced(t.Context(), "k", nil, tc.read); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(calls, tc.want) {
				t.Errorf("hooks called %q, want %q", calls, tc.want)
			}
		})
	}
	// The store the traces were added to is unchanged.
	calls = nil
	b.opens.Store(0)
	if _, _, err := base.Read(t.Context(), "k", nil); err != nil || len(calls) != 0 {
		t.Errorf("Read through the first store: %v, hooks called %q; want no hooks", err, calls)
	}
}

// TestReadTracedDoesNotAllocate checks that a read with its own trace
// costs no allocation: a loader traces every read it may hedge.
func TestReadTracedDoesNotAllocate(t *testing.T) {
	var n int
	store := dataset.NewStore(mem.New(map[string][]byte{"k": make([]byte, 100_000)})).WithReadTrace(&dataset.ReadTrace{FirstByte: func() { n++ }})
	ds := dataset.New(store, dataset.Index{"k"})
	trace := &dataset.ReadTrace{FirstByte: func() { n++ }}
	buf := make([]byte, 0, 200_000)
	ctx := context.Background()
	allocs := testing.AllocsPerRun(100, func() {
		var err error
		if buf, _, err = ds.ReadTraced(ctx, 0, buf, trace); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 0 {
		t.Errorf("ReadTraced allocates %v times, want 0", allocs)
	}
	if n != 2*101 {
		t.Errorf("FirstByte hooks called %d times over 101 reads, want %d", n, 2*101)
	}
}

// TestReadTraceBuffer checks a read's Buffer hook: called once, with the
// body's size plus one and the buffer given, when that buffer cannot hold
// the body, and the body read into the buffer it returns; never called
// when the buffer holds the body, nor for a store's own trace.
func TestReadTraceBuffer(t *testing.T) {
	body := make([]byte, 10_000)
	for i := range body {
		body[i] = byte(i)
	}
	store := dataset.NewStore(mem.New(map[string][]byte{"k": body}))
	for _, tc := range []struct {
		name      string
		have      int // the capacity of the buffer given
		wantCalls int
	}{
		{"too small", 100, 1},
		{"the body's size, no byte to see the end", len(body), 1},
		{"large enough", len(body) + 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var calls, gotN, gotCap int
			mine := make([]byte, 0, 2*len(body))
			trace := &dataset.ReadTrace{Buffer: func(n int, buf []byte) []byte {
				calls++
				gotN, gotCap = n, cap(buf)
				return mine
			}}
			data, _, err := store.ReadTraced(t.Context(), "k", make([]byte, 0, tc.have), trace)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(data, body) {
				t.Fatalf("read %d bytes, not the body's %d", len(data), len(body))
			}
			if calls != tc.wantCalls {
				t.Fatalf("Buffer called %d times, want %d", calls, tc.wantCalls)
			}
			if calls == 1 {
				if gotN != len(body)+1 || gotCap != tc.have {
					t.Errorf("Buffer(%d, a buffer of cap %d), want (%d, %d)", gotN, gotCap, len(body)+1, tc.have)
				}
				if &data[0] != &mine[:1][0] {
					t.Error("the body was not read into the buffer Buffer returned")
				}
			}
		})
	}
	t.Run("a store's own trace", func(t *testing.T) {
		called := false
		traced := dataset.NewStore(mem.New(map[string][]byte{"k": body})).WithReadTrace(&dataset.ReadTrace{
			Buffer: func(n int, buf []byte) []byte { called = true; return make([]byte, 0, n) },
		})
		if _, _, err := traced.Read(t.Context(), "k", nil); err != nil {
			t.Fatal(err)
		}
		if called {
			t.Error("a store's Buffer was called; only a read's serves")
		}
	})
}
