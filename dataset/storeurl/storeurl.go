// Package storeurl turns a command-line location, a folder or an
// s3://bucket/prefix URL, into a [dataset.Store].
//
// It sits above the backends: [Parse] checks the argument, and
// [Location.Open] builds the backend, package local for a folder or package
// s3blob for a bucket, with an S3 client configured from a seed-format
// configuration file ([s3blob.LoadConfig]) or from the standard AWS chain.
// It reads no environment variable of its own; the command decides which
// configuration file to use.
package storeurl

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/storagebench/storagebench/dataset"
	"github.com/storagebench/storagebench/dataset/local"
	"github.com/storagebench/storagebench/dataset/s3blob"
)

// A Location is a parsed folder or S3 bucket and key prefix. The zero
// value is not a valid location; make one with [Parse].
type Location struct {
	dir    string // the folder, when not S3
	bucket string // the bucket, for S3
	prefix string // the key prefix, for S3: "" or ending in "/"
}

// Parse parses arg: an s3://bucket/prefix URL, or else a folder. An
// argument that looks like a URL (it has "://" or starts with "s3:") must be
// a valid s3:// URL naming a bucket. The prefix gets a trailing slash, so
// that keys are relative to it as to a folder. Errors do not repeat arg,
// which the caller adds, except for a bad character in a bucket name.
func Parse(arg string) (Location, error) {
	if arg == "" {
		return Location{}, errors.New("empty path")
	}
	if !strings.Contains(arg, "://") && !strings.HasPrefix(strings.ToLower(arg), "s3:") {
		return Location{dir: arg}, nil
	}
	bucket, prefix, err := s3blob.ParseURL(arg)
	if err != nil {
		return Location{}, fmt.Errorf("bad S3 URL: %w; want s3://bucket/prefix or a folder", err)
	}
	if i := strings.IndexFunc(bucket, badBucketRune); i >= 0 {
		return Location{}, fmt.Errorf("bad S3 URL %q: bucket name %q has the character %q", arg, bucket, bucket[i])
	}
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	return Location{bucket: bucket, prefix: prefix}, nil
}

// badBucketRune reports whether r cannot appear in a bucket name. S3 allows
// lowercase letters, digits, dots and hyphens; uppercase letters and
// underscores are let through for stores with laxer rules.
func badBucketRune(r rune) bool {
	switch {
	case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9':
		return false
	}
	return r != '.' && r != '-' && r != '_'
}

// IsS3 reports whether l names an S3 location.
func (l Location) IsS3() bool { return l.bucket != "" }

// Prefix returns the key prefix of an S3 location, "" or ending in "/", and
// "" for a folder. Prepended to a key of the store that [Location.Open]
// returns, it gives the key relative to the bucket, as the seed's S3 index
// holds keys.
func (l Location) Prefix() string { return l.prefix }

// Join returns where the object key of the location is, as a path or an
// s3:// URL.
func (l Location) Join(key string) string {
	if l.IsS3() {
		return "s3://" + l.bucket + "/" + l.prefix + key
	}
	return filepath.Join(l.dir, filepath.FromSlash(key))
}

// Open opens the store at l, with keys relative to the folder or to the
// prefix. With create, a missing folder is created; otherwise it is an
// error. configPath names the seed-format S3 configuration used for an S3
// location ("" for the standard AWS chain); the bucket in the URL wins over
// the file's bucket_name. The returned close function releases the store.
// Errors name the configuration file but not l, which the caller adds, and
// never quote a secret.
func (l Location) Open(ctx context.Context, configPath string, create bool) (*dataset.Store, func() error, error) {
	if l.IsS3() {
		return l.openS3(ctx, configPath)
	}
	fi, err := os.Stat(l.dir)
	switch {
	case err == nil && !fi.IsDir():
		return nil, nil, errors.New("is a file, not a folder")
	case errors.Is(err, os.ErrNotExist) && create:
		if err := os.MkdirAll(l.dir, 0o755); err != nil {
			return nil, nil, fmt.Errorf("create folder: %w", err)
		}
	case errors.Is(err, os.ErrNotExist):
		return nil, nil, errors.New("no such folder")
	case err != nil:
		return nil, nil, err
	}
	b, err := local.Open(l.dir)
	if err != nil {
		return nil, nil, err
	}
	return dataset.NewStore(b), b.Close, nil
}

// openS3 opens the bucket and prefix of l through a client configured from
// the file configPath, or from the standard AWS chain when it is "".
func (l Location) openS3(ctx context.Context, configPath string) (*dataset.Store, func() error, error) {
	var cfg s3blob.Config
	if configPath != "" {
		var err error
		if cfg, err = s3blob.LoadConfig(configPath); err != nil {
			return nil, nil, err
		}
	}
	client, err := s3blob.NewClient(ctx, cfg)
	if err != nil {
		if configPath != "" {
			return nil, nil, fmt.Errorf("s3 config %s: %w", configPath, err)
		}
		return nil, nil, err
	}
	b, err := s3blob.Open(client, l.bucket, l.prefix)
	if err != nil {
		return nil, nil, err
	}
	return dataset.NewStore(b), func() error { return nil }, nil
}
