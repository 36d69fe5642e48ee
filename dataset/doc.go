// Package dataset reads indexed datasets: a JSON list of keys (the index)
// and a store that holds one object per key.
//
// A [Backend] is the narrow driver interface that each kind of storage
// implements: package local reads a folder, package s3blob an S3 bucket and
// package mem a map in memory. [Store] is the concrete type in front of a
// backend: it checks arguments, reads whole objects, or ranges of them,
// into caller-owned buffers, stamps the time to first byte and wraps every
// error with the key it concerns. A [Stream] reads an object from an
// offset as it arrives, for a caller that consumes it as it goes, such as
// a reader of tar shards. Backends that read part of an object in one
// request implement [RangeOpener]; the others are read whole, the bytes
// before the range discarded. [Dataset] pairs a Store with an [Index], so that items are
// addressed by position as a data loader does.
//
// A listing of a large bucket or folder takes a while; a caller that shows
// its progress puts a [ListTrace] in the context, which backends that list
// in steps report to, through any wrapper.
//
// Every backend maps its own "not found" to [ErrNotFound] and its refusal of
// a malformed or escaping key to [ErrInvalidKey], so callers use errors.Is
// whatever the backend. Every backend also classifies its own failures
// into portable kinds ([ErrorKind]: not found, throttled, transient,
// permanent, canceled) by implementing [Classifier], as gocloud.dev/blob's
// drivers classify theirs into gcerrors codes: a Store decides what to
// retry from kinds alone, never from a store's codes or statuses, and
// records each error's kind so that callers read it back with [KindOf].
// Package datasettest holds the conformance suite that every backend
// passes.
//
// What changes how a Store reads is an option of the Store, never a value
// of the context: its [Policy], the [RetryBudget] a run's reads share and
// the hooks of a [ReadTrace] ([Store.WithPolicy], [Store.WithRetryBudget],
// [Store.WithReadTrace]); a read adds hooks of its own with
// [Store.ReadTraced].
package dataset
