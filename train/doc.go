// Package train emulates data-parallel training over the loader, to answer
// the question a platform engineer is paid to answer: do the accelerators
// wait for data? It follows MLPerf Storage, whose DLIO emulates each
// accelerator as a sleep of a fixed compute time per batch and reports
// accelerator utilization (AU): compute time over wall time, a result
// valid only at or above the workload's threshold (90% for ResNet-50 and
// U-Net3D). DLIO leaves each epoch's first step out, as its readers start
// anew each epoch; these loaders read on across epochs, so the run's
// warm-up is left out instead, and every step after it counts. (Leaving
// out each epoch's first step here would drop whole rounds of stall
// whenever a round of a loader's W batches, which arrive together, starts
// with an epoch: with 4 workers and 4 steps an epoch, AU 0.815 against a
// true 0.39.)
//
// A [Job] runs N accelerators as DistributedDataParallel does: each has
// its own loader, reading its DistributedSampler share of every epoch
// (loader.Shard), all of them sharing the store and the machine; steps run
// in lockstep, a step starting when every accelerator has its batch. AU is
// measured from the instants each accelerator's compute started and ended,
// never derived from a rate. [Workloads] names MLPerf Storage's workloads.
package train
