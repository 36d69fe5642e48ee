//go:build linux

package local

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/storagebench/storagebench/dataset"
)

// fileSystems names the file systems whose magic numbers statfs reports,
// for errors that name them.
var fileSystems = map[int64]string{
	unix.EXT4_SUPER_MAGIC:      "ext4",
	unix.XFS_SUPER_MAGIC:       "xfs",
	unix.BTRFS_SUPER_MAGIC:     "btrfs",
	unix.TMPFS_MAGIC:           "tmpfs",
	unix.RAMFS_MAGIC:           "ramfs",
	unix.NFS_SUPER_MAGIC:       "nfs",
	unix.OVERLAYFS_SUPER_MAGIC: "overlayfs",
	unix.FUSE_SUPER_MAGIC:      "fuse",
	unix.V9FS_MAGIC:            "9p",
	unix.CIFS_SUPER_MAGIC:      "cifs",
	unix.SMB2_SUPER_MAGIC:      "smb2",
	unix.CEPH_SUPER_MAGIC:      "ceph",
	0x0bd00bd0:                 "lustre",
	0x2fc12fc1:                 "zfs",
	0x47504653:                 "gpfs",
}

// fileSystem names the file system that holds dir, or says its magic
// number.
func fileSystem(dir string) (name string, magic int64, err error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return "", 0, fmt.Errorf("statfs: %w", err)
	}
	magic = int64(st.Type)
	if n, ok := fileSystems[magic]; ok {
		return n, magic, nil
	}
	return fmt.Sprintf("file system of type %#x", magic), magic, nil
}

// checkUncached refuses a folder whose file system keeps its files in the
// page cache: there is no device behind it to read cold.
func checkUncached(dir string, c Cache) error {
	name, magic, err := fileSystem(dir)
	if err != nil {
		return err
	}
	switch magic {
	case unix.TMPFS_MAGIC, unix.RAMFS_MAGIC:
		return fmt.Errorf("the folder is on %s, whose page cache is its storage: no read of it is cold; put the dataset on a disk", name)
	case zfsMagic:
		// ZFS caches in its own ARC, which posix_fadvise does not reach
		// and older releases do not bypass for O_DIRECT.
		return fmt.Errorf("the folder is on zfs, whose ARC cache neither posix_fadvise nor (before OpenZFS 2.3) O_DIRECT bypasses: reads would come from memory; use a dataset larger than the ARC, read unset or warm")
	}
	return nil
}

// zfsMagic is ZFS's statfs magic number.
const zfsMagic = 0x2fc12fc1

// idOf returns the device and inode of a file.
func idOf(fi fs.FileInfo) (fileID, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}, false
	}
	return fileID{dev: uint64(st.Dev), ino: st.Ino}, true
}

// dropPages drops f's pages from the page cache, writing back its dirty
// pages first when writeBack is set (dirty pages are not dropped).
func dropPages(f *os.File, writeBack bool) error {
	fd := int(f.Fd())
	if writeBack {
		const all = unix.SYNC_FILE_RANGE_WAIT_BEFORE | unix.SYNC_FILE_RANGE_WRITE | unix.SYNC_FILE_RANGE_WAIT_AFTER
		if err := unix.SyncFileRange(fd, 0, 0, all); err != nil {
			return fmt.Errorf("sync_file_range: %w", err)
		}
	}
	if err := unix.Fadvise(fd, 0, 0, unix.FADV_DONTNEED); err != nil {
		return fmt.Errorf("posix_fadvise(POSIX_FADV_DONTNEED): %w", err)
	}
	return nil
}

// noCachestat is set once cachestat has failed as a kernel without it
// fails: every later call goes to mincore.
var noCachestat atomic.Bool

// residentPages returns the pages of f, of size bytes, and how many of
// them the page cache holds.
func residentPages(f *os.File, size int64) (pages, resident int64, err error) {
	pages = pagesOf(size)
	if pages == 0 {
		return 0, 0, nil
	}
	if !noCachestat.Load() {
		var cs unix.Cachestat_t
		err := unix.Cachestat(uint(f.Fd()), &unix.CachestatRange{Off: 0, Len: 0}, &cs, 0)
		if err == nil {
			return pages, min(int64(cs.Cache), pages), nil
		}
		if !errors.Is(err, unix.ENOSYS) && !errors.Is(err, unix.EPERM) {
			return 0, 0, fmt.Errorf("cachestat: %w", err)
		}
		noCachestat.Store(true)
	}
	m, err := unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return 0, 0, fmt.Errorf("mmap for mincore: %w", err)
	}
	defer unix.Munmap(m)
	vec := make([]byte, pages)
	_, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(unsafe.SliceData(m))), uintptr(len(m)), uintptr(unsafe.Pointer(unsafe.SliceData(vec))))
	if errno != 0 {
		return 0, 0, fmt.Errorf("mincore: %w", errno)
	}
	for _, v := range vec {
		resident += int64(v & 1)
	}
	return pages, resident, nil
}

// coldFile is a file whose pages are dropped from the page cache when it
// is closed, after its read.
type coldFile struct{ f *os.File }

func (c coldFile) Read(p []byte) (int, error) { return c.f.Read(p) }

// Close drops the file's pages, then closes it.
func (c coldFile) Close() error {
	derr := dropPages(c.f, false)
	if err := c.f.Close(); err != nil {
		return err
	}
	return derr
}

// directAlign is the alignment of O_DIRECT reads' offsets, lengths and
// buffers: a page, which covers the logical block size of every device of
// 512- or 4096-byte sectors.
const directAlign = 4096

// directChunk is how much one O_DIRECT read asks for at most: a file
// larger than this is read in chunks, one after the other, through one
// buffer. It holds an ImageNet image whole.
const directChunk = 256 << 10

// directFile reads a file opened with O_DIRECT: aligned chunks into an
// aligned buffer, copied out as the caller reads.
type directFile struct {
	f    *os.File
	size int64
	end  int64  // the end of what is read: size, or a range's end
	skip int    // bytes of the next chunk before a range's start
	off  int64  // the file offset of the next chunk
	buf  []byte // directChunk bytes, aligned
	r, w int    // buf[r:w] is read and not yet copied out
	err  error  // a read's error, returned once its bytes are copied out
}

// directFree holds directFile values with their buffers between reads, so
// that O_DIRECT reads allocate no buffers in steady state: a list, not a
// sync.Pool, which the garbage collector would empty.
var directFree struct {
	mu   sync.Mutex
	list []*directFile
}

// maxDirectFree is the most readers directFree keeps, as many as reads a
// loader may have in flight: at most 256 MiB of buffers, held only after
// that many reads ran at once.
const maxDirectFree = 1024

// getDirect returns a reader from the free list, or a new one.
func getDirect() *directFile {
	directFree.mu.Lock()
	defer directFree.mu.Unlock()
	if n := len(directFree.list); n > 0 {
		d := directFree.list[n-1]
		directFree.list = directFree.list[:n-1]
		return d
	}
	raw := make([]byte, directChunk+directAlign)
	skip := int((directAlign - uintptr(unsafe.Pointer(unsafe.SliceData(raw)))%directAlign) % directAlign)
	return &directFile{buf: raw[skip : skip+directChunk : skip+directChunk]}
}

// putDirect puts d back on the free list, if it has room.
func putDirect(d *directFile) {
	directFree.mu.Lock()
	defer directFree.mu.Unlock()
	if len(directFree.list) < maxDirectFree {
		directFree.list = append(directFree.list, d)
	}
}

// openDirect opens key with O_DIRECT. A file system that refuses O_DIRECT
// fails with an error naming it, which wraps [errors.ErrUnsupported].
func (b *Backend) openDirect(key string) (io.ReadCloser, int64, error) {
	f, err := b.root.OpenFile(key, os.O_RDONLY|syscall.O_DIRECT, 0)
	if errors.Is(err, syscall.EINVAL) {
		if fi, serr := b.root.Stat(key); serr == nil && !fi.Mode().IsRegular() {
			return nil, 0, fmt.Errorf("%w: %q is not a regular file", dataset.ErrNotFound, key)
		}
		name, _, _ := fileSystem(b.dir)
		return nil, 0, fmt.Errorf("cache=direct: %s refuses O_DIRECT reads of %q (use cache=cold, which drops pages instead): %w (%w)", name, key, errors.ErrUnsupported, err)
	}
	if err != nil {
		return nil, 0, b.mapErr(key, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, 0, fmt.Errorf("%w: %q is not a regular file", dataset.ErrNotFound, key)
	}
	d := getDirect()
	d.f, d.size, d.end, d.skip, d.off, d.r, d.w = f, fi.Size(), fi.Size(), 0, 0, 0, 0
	return d, d.size, nil
}

// seekRange sets d, not yet read, to read the bytes [off, end) of its
// file, 0 <= off <= end <= its size: chunks from the aligned offset at or
// before off, the bytes before off skipped, the bytes past end cut.
func (d *directFile) seekRange(off, end int64) {
	d.off = off - off%directAlign
	d.skip, d.end = int(off-d.off), end
}

// Read copies out what the last chunk brought, reading the next chunk
// when it is all copied.
func (d *directFile) Read(p []byte) (int, error) {
	for d.r == d.w {
		if d.err != nil {
			return 0, d.err
		}
		if d.off >= d.end {
			return 0, io.EOF
		}
		d.fill()
	}
	n := copy(p, d.buf[d.r:d.w])
	d.r += n
	return n, nil
}

// fill reads the next chunk, up to the end of what is read rounded up to
// the alignment.
func (d *directFile) fill() {
	want := min(int64(directChunk), roundUp(d.end-d.off, directAlign))
	n, err := d.f.ReadAt(d.buf[:want], d.off)
	switch {
	case err == nil || err == io.EOF && int64(n) < want:
		// A whole chunk, or the file's end (its size rounded up to the
		// alignment, or short of it if it shrank: the caller sees a
		// short body).
		if int64(n) < want {
			d.err = io.EOF
		}
	case err != nil:
		d.err = fmt.Errorf("read at offset %d: %w", d.off, err)
	}
	if d.end < d.size && d.off+int64(n) > d.end {
		n = int(d.end - d.off) // a range that ends before the file: cut
	}
	d.r, d.w = min(d.skip, n), n
	d.skip = 0
	d.off += int64(n)
}

// Close closes the file and puts the reader back for reuse; closing it
// again is an error, and never puts it back twice.
func (d *directFile) Close() error {
	if d.f == nil {
		return os.ErrClosed
	}
	err := d.f.Close()
	d.f, d.err = nil, nil
	putDirect(d)
	return err
}

// roundUp rounds n up to a multiple of a.
func roundUp(n, a int64) int64 { return (n + a - 1) / a * a }
