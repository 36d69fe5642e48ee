//go:build !linux

package bench

// rss is not measured off Linux.
func rss() (int64, bool) { return 0, false }
