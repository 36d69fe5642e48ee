package main

import (
	"flag"
	"io"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestParseInterspersed checks flags before, between and after positional
// arguments.
func TestParseInterspersed(t *testing.T) {
	type flags struct {
		Suffix, Out string
		N           int
		V           bool
	}
	for _, tc := range []struct {
		name      string
		args      []string
		wantPos   []string
		wantFlags flags
		wantErr   bool
	}{
		{name: "none", args: nil, wantFlags: flags{Suffix: ".JPEG"}},
		{name: "flags only", args: []string{"-o", "x.json", "-n", "3"}, wantFlags: flags{Suffix: ".JPEG", Out: "x.json", N: 3}},
		{name: "flags before", args: []string{"-o", "x.json", "/data"}, wantPos: []string{"/data"}, wantFlags: flags{Suffix: ".JPEG", Out: "x.json"}},
		{name: "flags after", args: []string{"/data", "-suffix", ".jpg", "-o", "x.json"}, wantPos: []string{"/data"}, wantFlags: flags{Suffix: ".jpg", Out: "x.json"}},
		{name: "flags around", args: []string{"-n=2", "/data", "-v", "-suffix="}, wantPos: []string{"/data"}, wantFlags: flags{N: 2, V: true}},
		{name: "several positional", args: []string{"a", "-v", "b", "c", "-n", "1"}, wantPos: []string{"a", "b", "c"}, wantFlags: flags{Suffix: ".JPEG", N: 1, V: true}},
		{name: "dash alone is positional", args: []string{"-", "-v"}, wantPos: []string{"-"}, wantFlags: flags{Suffix: ".JPEG", V: true}},
		{name: "double dash", args: []string{"-v", "--", "-odd", "-n", "4"}, wantPos: []string{"-odd"}, wantFlags: flags{Suffix: ".JPEG", N: 4, V: true}},
		{name: "last value wins", args: []string{"-n", "1", "x", "-n", "2"}, wantPos: []string{"x"}, wantFlags: flags{Suffix: ".JPEG", N: 2}},
		{name: "unknown flag after", args: []string{"x", "-bogus"}, wantErr: true},
		{name: "missing value after", args: []string{"x", "-o"}, wantErr: true},
		{name: "bad value before", args: []string{"-n", "many", "x"}, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			var got flags
			fs.StringVar(&got.Suffix, "suffix", ".JPEG", "")
			fs.StringVar(&got.Out, "o", "", "")
			fs.IntVar(&got.N, "n", 0, "")
			fs.BoolVar(&got.V, "v", false, "")
			pos, err := parseInterspersed(fs, tc.args)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("parseInterspersed(%q) = %q, nil; want an error", tc.args, pos)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseInterspersed(%q): %v", tc.args, err)
			}
			if diff := cmp.Diff(tc.wantPos, pos); diff != "" {
				t.Errorf("parseInterspersed(%q) positional mismatch (-want +got):\n%s", tc.args, diff)
			}
			if diff := cmp.Diff(tc.wantFlags, got); diff != "" {
				t.Errorf("parseInterspersed(%q) flags mismatch (-want +got):\n%s", tc.args, diff)
			}
		})
	}
}

// TestParseLocation checks the parsing of DEST and SRC arguments.
func TestParseLocation(t *testing.T) {
	for _, tc := range []struct {
		arg     string
		want    location
		index   string // want join("index.json")
		wantErr bool
	}{
		{arg: "/data/val", want: location{arg: "/data/val", dir: "/data/val"}, index: filepath.Join("/data/val", "index.json")},
		{arg: "rel/dir", want: location{arg: "rel/dir", dir: "rel/dir"}, index: filepath.Join("rel/dir", "index.json")},
		{arg: "s3://bucket", want: location{arg: "s3://bucket", bucket: "bucket"}, index: "s3://bucket/index.json"},
		{arg: "s3://bucket/", want: location{arg: "s3://bucket/", bucket: "bucket"}, index: "s3://bucket/index.json"},
		{arg: "s3://bucket/a/b", want: location{arg: "s3://bucket/a/b", bucket: "bucket", prefix: "a/b/"}, index: "s3://bucket/a/b/index.json"},
		{arg: "s3://bucket/a/b/", want: location{arg: "s3://bucket/a/b/", bucket: "bucket", prefix: "a/b/"}, index: "s3://bucket/a/b/index.json"},
		{arg: "s3://my.bucket-1/x", want: location{arg: "s3://my.bucket-1/x", bucket: "my.bucket-1", prefix: "x/"}, index: "s3://my.bucket-1/x/index.json"},
		{arg: "", wantErr: true},
		{arg: "s3://", wantErr: true},
		{arg: "s3:///prefix", wantErr: true},
		{arg: "s3:/bucket", wantErr: true},
		{arg: "S3://bucket", wantErr: true},
		{arg: "gs://bucket/x", wantErr: true},
		{arg: "https://example.com/x", wantErr: true},
		{arg: "s3://bu cket/x", wantErr: true},
		{arg: "s3://bucket?x=1", wantErr: true},
	} {
		t.Run(tc.arg, func(t *testing.T) {
			got, err := parseLocation(tc.arg)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("parseLocation(%q) = %+v, nil; want an error", tc.arg, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseLocation(%q): %v", tc.arg, err)
			}
			if got != tc.want {
				t.Errorf("parseLocation(%q) = %+v, want %+v", tc.arg, got, tc.want)
			}
			if idx := got.join("index.json"); idx != tc.index {
				t.Errorf("parseLocation(%q).join(index.json) = %q, want %q", tc.arg, idx, tc.index)
			}
		})
	}
}
