package bench

import (
	"os"
	"strconv"
	"strings"
	"syscall"
)

// rss returns the process's resident set size now and its peak so far, in
// bytes.
func rss() (now, peak int64, ok bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, 0, false
	}
	data, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, 0, false
	}
	f := strings.Fields(string(data))
	if len(f) < 2 {
		return 0, 0, false
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return 0, 0, false
	}
	return pages * int64(os.Getpagesize()), ru.Maxrss * 1024, true
}
