package dataset_test

import (
	"context"
	"slices"
	"testing"

	"github.com/storagebench/storagebench/dataset"
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
