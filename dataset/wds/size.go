package wds

import (
	"fmt"
	"strconv"
	"strings"
)

// units are the suffixes ParseSize accepts, longest first within each
// family, with their multipliers: SI for "kB", "MB", "GB", "TB" (and "KB"
// for kB), binary for "KiB" to "TiB", and "B" for bytes.
var units = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"kB", 1e3}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
	{"B", 1},
}

// ParseSize parses a byte count: a positive integer, optionally followed
// by a unit, "64MB" being 64,000,000 bytes and "64MiB" 67,108,864. Units
// are B, kB (or KB), MB, GB, TB, KiB, MiB, GiB and TiB, with no space
// before them. It fails, naming s, on anything else, on zero and on
// overflow.
func ParseSize(s string) (int64, error) {
	num, mult := s, int64(1)
	for _, u := range units {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			num, mult = n, u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 || num[0] == '+' {
		return 0, fmt.Errorf("size %q: want a positive whole number of bytes with an optional unit (B, kB, MB, GB, TB, KiB, MiB, GiB, TiB), such as 64MB or 64MiB", s)
	}
	if n > (1<<63-1)/mult {
		return 0, fmt.Errorf("size %q: more bytes than fit in 63 bits", s)
	}
	return n * mult, nil
}

// FormatSize returns n in the shortest form ParseSize reads back exactly:
// the largest unit, binary or SI, that divides n, binary first ("64MiB",
// "64MB", "1000B" becoming "1kB").
func FormatSize(n int64) string {
	for _, u := range []struct {
		suffix string
		mult   int64
	}{
		{"TiB", 1 << 40}, {"TB", 1e12}, {"GiB", 1 << 30}, {"GB", 1e9},
		{"MiB", 1 << 20}, {"MB", 1e6}, {"KiB", 1 << 10}, {"kB", 1e3},
	} {
		if n > 0 && n%u.mult == 0 {
			return strconv.FormatInt(n/u.mult, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10) + "B"
}
