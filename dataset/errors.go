package dataset

import "fmt"

// KeyError records a failed operation on one key of a store.
type KeyError struct {
	Op  string // "read", "read range", "stream", "put", "list" or "delete"
	Key string // the key (or, for list, the prefix) concerned
	Err error  // the underlying error
}

// Error returns the operation, the key and the cause, e.g.
// `read "val/x.JPEG": not found`.
func (e *KeyError) Error() string {
	return fmt.Sprintf("%s %q: %v", e.Op, e.Key, e.Err)
}

// Unwrap returns the underlying error.
func (e *KeyError) Unwrap() error { return e.Err }
