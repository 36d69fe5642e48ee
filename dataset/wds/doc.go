// Package wds reads and writes datasets stored as WebDataset tar shards:
// POSIX tar files whose members are grouped into samples by key, a
// member named "<key>.<ext>" belonging to sample <key> (its name up to the
// first dot of its base name), as WebDataset, wids and s3torchconnector
// name them; an ImageNet sample is "<key>.jpg" and "<key>.cls".
//
// A [Writer] writes samples into one shard; [Pack] cuts a sequence of
// samples into shards of at most a size; [Scanner] reads a shard as a
// stream, sample by sample, holding one sample at a time, and [Scan]
// reads only its headers, into the [Shard] layout (each member's offset
// and size) with which a sample is read as one ranged request. A [Set] is
// the layout of a dataset's shards, addressed by sample as a data loader
// addresses items.
//
// Shard sizes are exact byte counts: [ParseSize] reads "64MB" as
// 64,000,000 bytes and "64MiB" as 67,108,864. Every problem found in a
// shard is an [*Error] naming the shard, the member and the offset.
package wds
