// Package cluster runs one benchmark as many processes, one per rank,
// started by the launchers people already use (torchrun, a Kubernetes
// Indexed Job, Slurm, mpirun), with no coordinator of its own.
//
// [FromEnv] finds a process's rank and the world size in the variables
// those launchers set. A [Session] makes the ranks start each timed run
// together: at an agreed wall-clock time, or through markers written to a
// rendezvous folder or bucket, one barrier per run; while it lasts each
// rank writes heartbeats there, so that the others end with an error
// naming a rank that died instead of waiting for it. A [Timeline] records
// what a rank read, second by second, and what each epoch held; [Merge]
// combines the ranks' timelines and benchmark results into cluster
// figures over the window in which every rank was running.
package cluster
