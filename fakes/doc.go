// Package fakes holds what makes every test and the default benchmarks
// hermetic: an in-process fake S3 server on loopback ([StartS3]), a
// synthetic ImageNet-validation-like dataset of real JPEGs ([Synth]), and
// storage latency, bandwidth and fault emulation ([Profile], [Emulator])
// applied to the fake S3 as HTTP middleware and to any dataset.Backend as a
// wrapper.
//
// Package fakes is product code: the storagebench command ships it in
// "serve" (the fake S3 and its emulation) and "gen" (the synthetic
// dataset), so it never imports package testing. The helpers that tests
// use, which take a testing.TB and register cleanups, live in package
// fakestest, as testing/fstest and gocloud.dev's drivertest live apart
// from what they test.
//
// The fakes stand in for real stores in tests; they never replace the real
// S3 client path, which they are read through.
package fakes
