package dataset_test

import (
	"context"
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
			ctx := dataset.WithReadTrace(t.Context(), &dataset.ReadTrace{FirstByte: func() { calls++ }})
			if _, _, err := store.Read(ctx, key, nil); err != nil {
				t.Fatal(err)
			}
			if calls != 1 {
				t.Errorf("FirstByte called %d times, want 1", calls)
			}
			// Without a trace, nothing is called and nothing fails.
			if _, _, err := store.Read(t.Context(), key, nil); err != nil {
				t.Fatal(err)
			}
		})
	}
}
