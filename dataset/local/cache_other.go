//go:build !linux

package local

import (
	"io"
	"io/fs"
	"os"
)

// checkUncached refuses cold and direct reads: only Linux drops pages or
// reads around them here.
func checkUncached(dir string, c Cache) error { return errUncachedUnsupported }

// idOf gives no file identity: every key counts as its own file.
func idOf(fi fs.FileInfo) (fileID, bool) { return fileID{}, false }

// dropPages is unsupported.
func dropPages(f *os.File, writeBack bool) error { return errUncachedUnsupported }

// residentPages is unsupported.
func residentPages(f *os.File, size int64) (pages, resident int64, err error) {
	return 0, 0, errUncachedUnsupported
}

// coldFile is never made: WithCache refuses cold reads.
type coldFile struct{ f *os.File }

func (c coldFile) Read(p []byte) (int, error) { return c.f.Read(p) }
func (c coldFile) Close() error               { return c.f.Close() }

// openDirect is never called: WithCache refuses direct reads.
func (b *Backend) openDirect(key string) (io.ReadCloser, int64, error) {
	return nil, 0, errUncachedUnsupported
}
