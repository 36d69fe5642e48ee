// Package fakes holds what makes every test and the default benchmarks
// hermetic: an in-process fake S3 server on loopback ([StartS3]), a
// synthetic ImageNet-validation-like dataset of real JPEGs ([Synth]), and
// storage latency, bandwidth, capacity and fault emulation ([Profile],
// [Emulator], [Injector]) applied to the fake S3 as HTTP middleware and to
// any dataset.Backend as a wrapper.
//
// A [Profile] gives each read a time to first byte and a bandwidth, and
// gives the store a capacity that all the reads of one [Emulator] share,
// through its middleware and its backend alike: a request rate per key
// prefix (PrefixRate; over it a read is refused at once, with S3's 503
// SlowDown over HTTP and with an error wrapping [ErrThrottled], of kind
// dataset.KindThrottled, on the backend), an aggregate bandwidth for all
// bodies in flight (Link, the reading node's network link), and a knee
// (Knee) past which the time to first byte stretches by n/Knee with n
// reads in flight, so that beyond it more concurrency buys latency, not
// throughput. [Profile.MaxRate] is the rate in items per
// second these allow a reader with c reads in flight: the bound against
// which package bench measures a loader's efficiency.
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
//
// Over HTTP the fakes answer as S3 does, with its statuses and error codes,
// which package s3blob classifies. Their backend wrappers classify the
// errors they make themselves, as every backend does
// (dataset.Classifier): an injected fault or a refusal carries its kind,
// never an S3 code for a caller to recognise.
package fakes
