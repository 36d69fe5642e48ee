package targets

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/storagebench/storagebench/results"
)

// readOne returns the result of one run of the benchmark named name, as
// Evaluate reads it.
func readOne(tb testing.TB, name string) *result {
	tb.Helper()
	file := filepath.Join(tb.TempDir(), "r.txt")
	if err := os.WriteFile(file, []byte("Benchmark"+name+" 1 1000 ns/op\n"), 0o666); err != nil {
		tb.Fatal(err)
	}
	s, err := results.Read(file)
	if err != nil {
		tb.Fatal(err)
	}
	g, err := s.Group()
	if err != nil {
		tb.Fatal(err)
	}
	if len(g.Points) != 1 {
		tb.Fatalf("%d points, want 1", len(g.Points))
	}
	return fromPoint(g.Points[0])
}

func TestInFlight(t *testing.T) {
	for _, tc := range []struct {
		name string
		want int
	}{
		{"Load/backend=mem/profile=none/mode=sync/workers=2/batch=50-2", 2},
		{"Load/backend=mem/profile=none/mode=async/workers=8/batch=50-2", 400},
		{"Load/backend=mem/profile=none/mode=async/workers=8/batch=50/fetch=0-2", 400},
		{"Load/backend=mem/profile=none/mode=async/workers=8/batch=50/fetch=64/decode=jpeg-2", 512},
		{"Load/backend=mem/profile=none/mode=sync/workers=2/batch=50/fetch=8-2", 0}, // the loader refuses it
		{"Load/backend=mem/profile=none/mode=eager/workers=2/batch=50-2", 0},
		{"Load/backend=mem/profile=none/mode=async/batch=50-2", 0},
		{"Load/backend=mem/profile=none/mode=async/workers=8/batch=50/fetch=x-2", 0},
	} {
		r := readOne(t, tc.name)
		if got := tgInFlight(r); got != tc.want {
			t.Errorf("tgInFlight(%s) = %d, want %d", tc.name, got, tc.want)
		}
	}
}
