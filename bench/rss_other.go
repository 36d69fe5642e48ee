//go:build !linux

package bench

// rss is not measured off Linux.
func rss() (now, peak int64, ok bool) { return 0, 0, false }
