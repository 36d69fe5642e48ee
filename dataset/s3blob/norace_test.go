//go:build !race

package s3blob_test

// raceEnabled reports whether the tests run under the race detector.
const raceEnabled = false
