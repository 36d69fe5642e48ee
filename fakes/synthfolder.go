package fakes

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"runtime"
	"syscall"

	"golang.org/x/sync/errgroup"
)

// WriteFolder writes the items of s as files under the folder dir, which
// must exist: key k becomes the file dir/k, its slash-separated path, in
// one folder for every key. bodies must be what [Synth.DistinctBodies]
// returned for s. The K bodies are written as the files of items 0 to
// K-1, and every other item i is a hard link to the file of item i mod K,
// so the folder takes the disk space of K items whatever N is (on ext4,
// writing 1,281,167 links takes about 15 s). It returns the number of
// files that hold a body: K when every link was made.
//
// A link the file system refuses is replaced by a copy, so that the
// dataset is whole even so: when a file has as many links as the file
// system allows (EMLINK: ext4 allows 65,000), the item gets a copy of the
// body, which the next items of that body link to; when the file system
// does not support hard links at all (EPERM, ENOTSUP and the like), every
// remaining item gets a copy, and the folder takes the disk space of N
// items. Any other failure, such as a file already there or a full disk,
// stops WriteFolder with an error naming the key; the files already
// written stay, for the caller to remove. Keys may not leave dir: the
// folder is opened with [os.OpenRoot].
func (s Synth) WriteFolder(ctx context.Context, dir string, bodies [][]byte) (files int, err error) {
	return s.writeFolder(ctx, dir, bodies, (*os.Root).Link)
}

// WriteFiles writes the items of s as files under the folder dir, as
// [Synth.WriteFolder] does, but every key a file of its own, a copy of its
// body: N files that share no inode, which take the disk space of N items
// and a page cache of their own each, as a dataset larger than the host's
// memory must. It returns N, the files written.
func (s Synth) WriteFiles(ctx context.Context, dir string, bodies [][]byte) (files int, err error) {
	return s.writeFolder(ctx, dir, bodies, nil)
}

// writeFolder is WriteFolder making links with link, which tests replace
// to fail as file systems do; with link nil, every item is a copy.
func (s Synth) writeFolder(ctx context.Context, dir string, bodies [][]byte, link func(folder *os.Root, oldname, newname string) error) (files int, err error) {
	if err := s.checkBodies(bodies); err != nil {
		return 0, err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return 0, fmt.Errorf("synth: write folder: %w", err)
	}
	defer root.Close()
	// Every key is in the folder of the first: the prefix is the only part
	// of a key that holds a slash.
	folder := path.Dir(s.Key(0))
	sub := root
	if folder != "." {
		if err := root.MkdirAll(folder, 0o755); err != nil {
			return 0, fmt.Errorf("synth: write folder %s: %w", dir, err)
		}
		if sub, err = root.OpenRoot(folder); err != nil {
			return 0, fmt.Errorf("synth: write folder %s: %w", dir, err)
		}
		defer sub.Close()
	}
	name := func(i int) string {
		if folder == "." {
			return s.Key(i)
		}
		return s.Key(i)[len(folder)+1:]
	}

	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.GOMAXPROCS(0))
	for j, b := range bodies {
		g.Go(func() error {
			if err := gctx.Err(); err != nil {
				return fmt.Errorf("synth: write folder %s: %w", dir, err)
			}
			return s.writeFile(sub, name(j), j, b)
		})
	}
	if err := g.Wait(); err != nil {
		return 0, err
	}
	files = len(bodies)

	// One goroutine makes the links: they all go into one folder, which
	// the kernel locks for each, so more goroutines make them no faster.
	src := make([]string, len(bodies)) // the file each body's links go to
	for j := range src {
		src[j] = name(j)
	}
	linking := link != nil
	for i := len(bodies); i < s.N; i++ {
		if i%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return files, fmt.Errorf("synth: write folder %s: %w", dir, err)
			}
		}
		j := i % len(bodies)
		dst := name(i)
		if linking {
			err := link(sub, src[j], dst)
			switch {
			case err == nil:
				continue
			case errors.Is(err, syscall.EMLINK):
				// Too many links to src[j]: this copy takes the next ones.
				src[j] = dst
			case linksUnsupported(err):
				linking = false
			default:
				return files, fmt.Errorf("synth: link %s to %s: %w", s.Key(i), s.Key(j), err)
			}
		}
		if err := s.writeFile(sub, dst, i, bodies[j]); err != nil {
			return files, err
		}
		files++
	}
	return files, nil
}

// linksUnsupported reports whether err, from making a hard link, says the
// file system has none: Linux answers EPERM, others ENOTSUP or EOPNOTSUPP,
// and Windows ERROR_NOT_SUPPORTED, which errors.ErrUnsupported matches.
func linksUnsupported(err error) bool {
	return errors.Is(err, errors.ErrUnsupported) || errors.Is(err, syscall.EPERM)
}

// writeFile writes item i, whose body is b, as the new file name in
// folder; a file already there is an error.
func (s Synth) writeFile(folder *os.Root, name string, i int, b []byte) error {
	f, err := folder.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("synth: write %s: %w", s.Key(i), err)
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("synth: write %s: %w", s.Key(i), err)
	}
	return nil
}
