package datasettest

import (
	"maps"
	"slices"
	"testing"

	"github.com/storagebench/storagebench/dataset/mem"
)

// MapView returns a read-only mem.View serving objects, through a catalog
// of their keys in sorted order.
func MapView(tb testing.TB, objects map[string][]byte) *mem.View {
	tb.Helper()
	keys := slices.Sorted(maps.Keys(objects))
	pos := make(map[string]int, len(keys))
	for i, k := range keys {
		pos[k] = i
	}
	v, err := mem.NewView(mem.Catalog{
		N:        len(keys),
		Key:      func(i int) string { return keys[i] },
		Position: func(k string) (int, bool) { i, ok := pos[k]; return i, ok },
		Body:     func(i int) []byte { return objects[keys[i]] },
	})
	if err != nil {
		tb.Fatal(err)
	}
	return v
}
