package datasettest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/storagebench/storagebench/dataset/local"
)

// LocalFolder writes objects as files under a temporary folder and returns
// the local backend over it, closed when tb ends.
func LocalFolder(tb testing.TB, objects map[string][]byte) *local.Backend {
	tb.Helper()
	dir := tb.TempDir()
	for k, data := range objects {
		p := filepath.Join(dir, filepath.FromSlash(k))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	b, err := local.Open(dir)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { b.Close() })
	return b
}
