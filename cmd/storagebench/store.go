package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/storagebench/storagebench/cases"
)

// s3ConfigFlag defines the -s3-config flag on fs, defaulting to
// $STORAGEBENCH_S3_CONFIG ([cases.S3Config]), and returns where its
// value is stored. The command, not package storeurl, reads the variable.
func s3ConfigFlag(fs *flag.FlagSet) *string {
	return fs.String("s3-config", os.Getenv(cases.S3Config),
		"seed-format S3 configuration `file` for s3:// URLs (default $"+cases.S3Config+"; without one, the standard AWS chain)")
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
