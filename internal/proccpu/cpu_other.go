//go:build !unix

package proccpu

import "time"

// Time reports that this system's CPU time is not read here.
func Time() (time.Duration, bool) { return 0, false }
