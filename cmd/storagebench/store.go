package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/storagebench/storagebench/dataset"
	"github.com/storagebench/storagebench/dataset/local"
	"github.com/storagebench/storagebench/dataset/s3blob"
)

// s3ConfigEnv names the environment variable that gives -s3-config its
// default. Only the command layer reads it.
const s3ConfigEnv = "STORAGEBENCH_S3_CONFIG"

// s3ConfigFlag defines the -s3-config flag on fs, defaulting to
// $STORAGEBENCH_S3_CONFIG, and returns where its value is stored.
func s3ConfigFlag(fs *flag.FlagSet) *string {
	return fs.String("s3-config", os.Getenv(s3ConfigEnv),
		"seed-format S3 configuration `file` for s3:// URLs (default $"+s3ConfigEnv+"; without one, the standard AWS chain)")
}

// parseInterspersed parses args with fs, accepting flags both before and
// after positional arguments: it parses, sets aside the first argument
// left over, and parses the rest again, until none is left. It returns the
// positional arguments in order. A "--" ends flag parsing for the argument
// after it only, which is then taken as positional even if it starts with
// a dash.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return positional, nil
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}

// oneArg parses args with fs as [parseInterspersed] does and returns the
// single positional argument, which is called name in errors. A missing or
// extra argument prints fs's usage and is an error.
func oneArg(fs *flag.FlagSet, name string, args []string) (string, error) {
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return "", err
	}
	switch {
	case len(pos) == 0:
		fs.Usage()
		return "", fmt.Errorf("%s: missing %s argument", fs.Name(), name)
	case len(pos) > 1:
		fs.Usage()
		return "", fmt.Errorf("%s: want one %s argument, got %d: %q", fs.Name(), name, len(pos), pos)
	}
	return pos[0], nil
}

// location is a DEST or SRC argument: a local folder or an S3 bucket and
// key prefix.
type location struct {
	arg    string // the argument as given
	dir    string // the folder, when not S3
	bucket string // the bucket, for S3
	prefix string // the key prefix, for S3: "" or ending in "/"
}

// isS3 reports whether l names an S3 location.
func (l location) isS3() bool { return l.bucket != "" }

// join returns where the object key of the location is, as a path or an
// s3:// URL.
func (l location) join(key string) string {
	if l.isS3() {
		return "s3://" + l.bucket + "/" + l.prefix + key
	}
	return filepath.Join(l.dir, filepath.FromSlash(key))
}

// parseLocation parses a DEST or SRC argument: an s3://bucket/prefix URL,
// or else a folder. An argument that looks like a URL (it has "://" or
// starts with "s3:") must be a valid s3:// URL naming a bucket. The prefix
// gets a trailing slash, so that keys are relative to it as to a folder.
func parseLocation(arg string) (location, error) {
	if arg == "" {
		return location{}, errors.New("empty path")
	}
	if !strings.Contains(arg, "://") && !strings.HasPrefix(strings.ToLower(arg), "s3:") {
		return location{arg: arg, dir: arg}, nil
	}
	bucket, prefix, err := s3blob.ParseURL(arg)
	if err != nil {
		return location{}, fmt.Errorf("bad S3 URL: %w; want s3://bucket/prefix or a folder", err)
	}
	if i := strings.IndexFunc(bucket, badBucketRune); i >= 0 {
		return location{}, fmt.Errorf("bad S3 URL %q: bucket name %q has the character %q", arg, bucket, bucket[i])
	}
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	return location{arg: arg, bucket: bucket, prefix: prefix}, nil
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

// openStore opens the store at l. With create, a missing folder is
// created; otherwise it is an error. configPath names the seed-format S3
// configuration used for an S3 location ("" for the standard AWS chain);
// the bucket in the URL wins over the file's bucket_name. The returned
// close function releases the store. Errors name the configuration file
// but not l, which the caller adds, and never quote a secret.
func openStore(ctx context.Context, l location, configPath string, create bool) (*dataset.Store, func() error, error) {
	if l.isS3() {
		return openS3(ctx, l, configPath)
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
func openS3(ctx context.Context, l location, configPath string) (*dataset.Store, func() error, error) {
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

// writeFileAtomic writes data to a temporary file beside name and renames
// it into place, so that a reader never sees a partial file.
func writeFileAtomic(name string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".*.tmp")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	err = errors.Join(err, f.Chmod(perm), f.Close())
	if err == nil {
		err = os.Rename(f.Name(), name)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}
