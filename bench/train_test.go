package bench

import (
	"testing"

	"github.com/storagebench/storagebench/bench/benchenv"
	"github.com/storagebench/storagebench/loader"
	"github.com/storagebench/storagebench/results"
)

// BenchmarkTrain emulates data-parallel training: for each workload and
// number of accelerators, each accelerator's loader (the matrix's modes,
// workers and schedulers, the workload's batch size) reads its share of
// every epoch from the backend. Named
// backend=B/profile=P[/faults=F]/workload=W/accel=N/mode=M/workers=W/batch=B
// and the loader's other keys, as BenchmarkLoad's.
func BenchmarkTrain(b *testing.B) {
	e := fixture.Env()
	eachSource(b, func(b *testing.B, src *Source) {
		for _, p := range profiles(b, src) {
			for _, f := range faults(src) {
				for _, w := range e.Workloads {
					batches := e.Batches
					if w.Batch > 0 {
						batches = []int{w.Batch}
					}
					for _, n := range e.Accel {
						for _, onerr := range e.OnErrors {
							for _, mode := range e.Modes {
								for _, workers := range e.Workers {
									for _, batch := range batches {
										for _, fetch := range e.Fetch {
											if mode == loader.Sync && fetch > 1 {
												continue
											}
											name := results.SubName(results.KeyProfile, p.Name) + faultsName(f) + "/" +
												results.SubName(results.KeyWorkload, w.Name, results.KeyAccel, n, results.KeyMode, mode, results.KeyWorkers, workers, results.KeyBatch, batch)
											if e.Named(benchenv.Fetch) {
												name += "/" + results.SubName(results.KeyFetch, fetch)
											}
											if e.Named(benchenv.OnError) {
												name += "/" + results.SubName(results.KeyOnError, onerr)
											}
											opts := loader.Options{Mode: mode, Workers: workers, BatchSize: batch, Prefetch: e.Prefetch, OnError: onerr}
											if mode == loader.Async {
												opts.FetchConcurrency = fetch
											}
											for _, sc := range schedules(e, opts) {
												b.Run(name+sc.name, func(b *testing.B) {
													RunTrain(b, src, TrainCase{Profile: p, Faults: f, Workload: w, Accel: n, Options: sc.opts, Deep: *deep})
												})
											}
										}
									}
								}
							}
						}
					}
				}
			}
		}
	})
}
