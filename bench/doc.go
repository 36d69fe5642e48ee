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
// environment variables, read only here ([FromEnv]), add real stores and
// narrow or widen the matrix. Everything this package prints is the
// standard benchmark format that benchstat reads.
package bench
