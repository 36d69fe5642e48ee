package dataset

import (
	"context"
	"errors"
	"io"
)

// ErrNotFound is returned, wrapped, when a key names no object in a store.
var ErrNotFound = errors.New("not found")

// ErrInvalidKey is returned, wrapped, when a key is malformed or would leave
// the store (an empty key, "..", an absolute path, a symbolic link pointing
// outside a folder). Such a key is refused before anything is read.
var ErrInvalidKey = errors.New("invalid key")

// Backend is the driver interface a storage backend implements. Backends
// are built from already-configured clients and read no environment.
// Implementations must be safe for concurrent use.
type Backend interface {
	// Open starts reading the whole object named key. It returns the
	// object's size in bytes, or -1 when the size is not known before
	// reading. The caller closes the reader. A missing key returns an error
	// for which errors.Is(err, ErrNotFound) holds; a refused key, one for
	// which errors.Is(err, ErrInvalidKey) holds. The reader should stop
	// promptly with ctx's error once ctx is done.
	Open(ctx context.Context, key string) (io.ReadCloser, int64, error)
}

// Entry is one object found by a [Lister].
type Entry struct {
	Key  string // the object's key, relative to the store
	Size int64  // its size in bytes
}

// Lister is implemented by backends that can enumerate their objects.
type Lister interface {
	// List returns every object whose key starts with prefix, sorted by key.
	List(ctx context.Context, prefix string) ([]Entry, error)
}

// Writer is implemented by backends that can store objects.
type Writer interface {
	// Put stores data under key, replacing any object already there.
	Put(ctx context.Context, key string, data []byte) error
}

// Deleter is implemented by backends that can remove objects.
type Deleter interface {
	// Delete removes the object named key. A missing key returns an error
	// for which errors.Is(err, ErrNotFound) holds; a refused key, one for
	// which errors.Is(err, ErrInvalidKey) holds.
	Delete(ctx context.Context, key string) error
}
