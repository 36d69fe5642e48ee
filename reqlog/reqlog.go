// Package reqlog writes and reads per-request logs: one row for every
// HTTP request a client made or a server answered, with its start, its
// time to first byte and in all, its response bytes, operation, key,
// status, the connection it went over and its attempt, so that a run's
// requests in flight over time, and each connection's requests one after
// another, can be drawn rather than inferred.
//
// A log is CSV compressed with gzip, as warp's --full and elbencho's
// operations log keep theirs, with this header:
//
//	start_unix_ns,first_byte_ns,total_ns,bytes,op,key,status,conn,attempt
//
// start_unix_ns is the wall clock, so that a client's log and a server's
// on one machine line up; first_byte_ns and total_ns count from it.
// first_byte_ns is the response's headers (a client: received; a server:
// written), 0 when none came. status is the HTTP status, or a word for a
// request without one (error, canceled; a server also writes dropped and
// cut for connections it broke). conn names the connection by the
// client's address, which both sides see (a client: its local address; a
// server: the remote one). attempt is the SDK's attempt of the request
// (the amz-sdk-request header both the AWS SDK for Go and botocore send),
// 0 when unknown.
package reqlog
