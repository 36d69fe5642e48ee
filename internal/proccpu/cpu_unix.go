//go:build unix

package proccpu

import (
	"syscall"
	"time"
)

// Time returns the CPU time this process has used so far, user and
// system, and whether it could tell.
func Time() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
