package wds

import (
	"archive/tar"
	"fmt"
	"io"
	"time"
)

// File is one member of a sample to write: its extension and its data.
type File struct {
	Ext  string
	Data []byte
}

// maxName is the longest member name a [Writer] writes: what a USTAR
// header holds without a prefix field, so that every member takes
// exactly [MemberSize] bytes.
const maxName = 100

// Writer writes samples into one shard, a POSIX (USTAR) tar archive whose
// members are named "<key>.<ext>", as WebDataset's writers name them, and
// records the shard's layout. Headers are deterministic: regular files of
// mode 0644, owned by 0:0, dated at the Unix epoch.
type Writer struct {
	tw      *tar.Writer
	cw      *countWriter
	samples []Sample
	err     error
}

// NewWriter returns a writer of one shard to w.
func NewWriter(w io.Writer) *Writer {
	cw := &countWriter{w: w}
	return &Writer{tw: tar.NewWriter(cw), cw: cw}
}

// WriteSample writes the sample key: one member per file, in order. It
// fails when key or an extension is empty, when a member's name would be
// longer than 100 bytes, and with the first error of the underlying
// writer, after which every call fails.
func (w *Writer) WriteSample(key string, files ...File) error {
	if w.err != nil {
		return w.err
	}
	if len(files) == 0 {
		return fmt.Errorf("wds: sample %q has no member", key)
	}
	s := Sample{Key: key}
	for i, f := range files {
		name := key + "." + f.Ext
		if k, _, ok := splitName(name); !ok || k != key || f.Ext == "" {
			return fmt.Errorf("wds: sample %q: member %q: a key holds no dot in its base name and an extension is not empty", key, name)
		}
		if len(name) > maxName {
			return fmt.Errorf("wds: sample %q: member %q is longer than %d bytes", key, name, maxName)
		}
		hdr := &tar.Header{
			Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(f.Data)),
			ModTime: time.Unix(0, 0), Format: tar.FormatUSTAR,
		}
		if err := w.tw.WriteHeader(hdr); err != nil {
			w.err = fmt.Errorf("wds: sample %q: member %q: %w", key, name, err)
			return w.err
		}
		off := w.cw.n
		if _, err := w.tw.Write(f.Data); err != nil {
			w.err = fmt.Errorf("wds: sample %q: member %q: %w", key, name, err)
			return w.err
		}
		s.Members = append(s.Members, Member{Ext: f.Ext, Off: off, Size: int64(len(f.Data))})
		if len(f.Data) > len(files[s.Data].Data) {
			s.Data = i
		}
	}
	// The first header began a block before its data: the writer's
	// headers take one block each (USTAR, names of at most 100 bytes).
	s.Off = s.Members[0].Off - BlockSize
	last := s.Members[len(s.Members)-1]
	s.End = last.Off + last.Size
	w.samples = append(w.samples, s)
	return nil
}

// Close ends the archive (flushing the last member's padding and writing
// its two end blocks) and returns the layout of the shard, keyed key,
// whose size is the bytes written. It does not close the underlying
// writer.
func (w *Writer) Close(key string) (Shard, error) {
	if w.err != nil {
		return Shard{}, w.err
	}
	if err := w.tw.Close(); err != nil {
		w.err = fmt.Errorf("wds: shard %q: %w", key, err)
		return Shard{}, w.err
	}
	w.err = fmt.Errorf("wds: shard %q: writer closed", key)
	return Shard{Key: key, Size: w.cw.n, Samples: w.samples}, nil
}

// countWriter counts the bytes written through it.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
