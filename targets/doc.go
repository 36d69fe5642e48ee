// Package targets checks benchmark results against the project's
// performance targets: each target's figure, computed from results read
// by package results, next to its threshold.
package targets
