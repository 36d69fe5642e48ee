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

// ErrInvalidRange is returned, wrapped, when a range asked of an object
// cannot be read from it: it starts past the object's end, or at its end
// and asks for bytes of a non-empty object (what S3 answers with 416
// InvalidRange), or at a negative offset. It is a [KindPermanent] failure:
// reading the same range again fails again. See [RangeOpener] and
// [CheckRange].
var ErrInvalidRange = errors.New("invalid range")

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

// RangeOpener is implemented by backends that read part of an object,
// such as a sample of a tar shard, in one request. [Store.ReadRange] and
// [Store.OpenStream] use it; for a backend without it they open the whole
// object and discard its first bytes (see [OpenRange]).
type RangeOpener interface {
	// OpenRange starts reading the bytes [off, off+n) of the object named
	// key, or [off, end) when n < 0. It returns the reader, of those bytes
	// alone, and the object's whole size in bytes, or -1 when the size is
	// not known before reading. The caller closes the reader.
	//
	// A range that runs past the object's end is cut at the end, as S3
	// cuts it. Which ranges exist is what [CheckRange] says, the same for
	// every backend: off must be at least 0 and at most the object's size;
	// a range starting at the end (off == size) is an empty read when it
	// asks for nothing (n == 0) or the object is empty, and is refused, as
	// S3 answers 416, when it asks for bytes of a non-empty object. So
	// (0, -1) reads any object whole, the empty one included, and n == 0
	// reads nothing of an object that exists. A refused range returns an
	// error for which errors.Is(err, ErrInvalidRange) holds; a missing key
	// one for which errors.Is(err, ErrNotFound) holds; a refused key one
	// for which errors.Is(err, ErrInvalidKey) holds. The reader should
	// stop promptly with ctx's error once ctx is done.
	OpenRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, int64, error)
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
