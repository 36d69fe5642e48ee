// Package bench holds the benchmark suite and the harness it runs on.
//
// The benchmarks live in bench_test.go and are run with go test -bench:
//
//   - BenchmarkRaw/backend=B/profile=P/concurrency=C reads items with C
//     goroutines straight from a backend, no loader in between: the limit
//     a loader is measured against.
//   - BenchmarkLoad/backend=B/profile=P/mode=M/workers=W/batch=N drives the
//     loader and reports every level it timed.
//   - BenchmarkDecode/concurrency=C decodes items from memory: the limit
//     of a decoding loader on this machine.
//   - BenchmarkTrain/backend=B/profile=P/workload=K/accel=A/... emulates
//     A accelerators training on the loader's batches (package train).
//
// A launcher (torchrun, a Kubernetes Indexed Job, Slurm, mpirun) may start
// the test binary as many ranks: [JoinRank] then gives each its shard of
// every epoch, a barrier before each timed run, heartbeats and a timeline
// (package cluster), and the results carry "rank" and "world-size".
//
// One op is one item, so ns/op is time per item and MB/s throughput. By
// default every benchmark is hermetic (backends mem, local on a temporary
// folder, and fakes3, the in-process fake S3, over a synthetic dataset);
// environment variables, read only here ([FromEnv]) by the table of
// package cases, add real stores and narrow or widen the matrix, whose
// points are [cases.Case] values. Everything the benchmarks print is the
// standard benchmark format that benchstat reads.
//
// Measuring and reporting are apart: [Load] and [Train] (and their
// stepwise forms [StartLoad] and [StartTrain]) run a case and return what
// it measured, with the metrics of its line; the benchmarks, in the
// package's tests, are thin testing.B reporters of them, and storagebench
// feed calls [Train] in its own process. A Load line's timed run is sized
// by the harness ([Sizing]): whole rounds of batches, at least the
// minimums every level needs; this package links no testing.
package bench
