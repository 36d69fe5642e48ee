// Package fakes holds what makes every test and the default benchmarks
// hermetic: an in-process fake S3 server on loopback ([NewS3], [StartS3]),
// a synthetic ImageNet-validation-like dataset of real JPEGs ([Synth]), and
// storage latency, bandwidth and fault emulation ([Profile], [Emulator])
// applied to the fake S3 as HTTP middleware and to any dataset.Backend as a
// wrapper.
//
// The fakes stand in for real stores in tests; they never replace the real
// S3 client path, which they are read through.
package fakes
