package storeurl

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/storagebench/storagebench/dataset"
	"github.com/storagebench/storagebench/dataset/s3blob"
	"github.com/storagebench/storagebench/fakes"
	"github.com/storagebench/storagebench/fakes/fakestest"
)

// TestParse checks the parsing of folders and s3:// URLs.
func TestParse(t *testing.T) {
	for _, tc := range []struct {
		arg     string
		want    Location
		isS3    bool
		index   string // want Join("index.json")
		wantErr bool
	}{
		{arg: "/data/val", want: Location{dir: "/data/val"}, index: filepath.Join("/data/val", "index.json")},
		{arg: "rel/dir", want: Location{dir: "rel/dir"}, index: filepath.Join("rel/dir", "index.json")},
		{arg: "s3://bucket", want: Location{bucket: "bucket"}, isS3: true, index: "s3://bucket/index.json"},
		{arg: "s3://bucket/", want: Location{bucket: "bucket"}, isS3: true, index: "s3://bucket/index.json"},
		{arg: "s3://bucket/a/b", want: Location{bucket: "bucket", prefix: "a/b/"}, isS3: true, index: "s3://bucket/a/b/index.json"},
		{arg: "s3://bucket/a/b/", want: Location{bucket: "bucket", prefix: "a/b/"}, isS3: true, index: "s3://bucket/a/b/index.json"},
		{arg: "s3://my.bucket-1/x", want: Location{bucket: "my.bucket-1", prefix: "x/"}, isS3: true, index: "s3://my.bucket-1/x/index.json"},
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
			got, err := Parse(tc.arg)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("Parse(%q) = %+v, nil; want an error", tc.arg, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.arg, err)
			}
			if got != tc.want {
				t.Errorf("Parse(%q) = %+v, want %+v", tc.arg, got, tc.want)
			}
			if got.IsS3() != tc.isS3 {
				t.Errorf("Parse(%q).IsS3() = %v, want %v", tc.arg, got.IsS3(), tc.isS3)
			}
			if got.Prefix() != tc.want.prefix {
				t.Errorf("Parse(%q).Prefix() = %q, want %q", tc.arg, got.Prefix(), tc.want.prefix)
			}
			if idx := got.Join("index.json"); idx != tc.index {
				t.Errorf("Parse(%q).Join(index.json) = %q, want %q", tc.arg, idx, tc.index)
			}
		})
	}
}

// TestOpen checks that Open reaches folders and buckets, creating a
// missing folder only when asked, and that its errors say what is wrong.
func TestOpen(t *testing.T) {
	// No AWS file, instance metadata or endpoint of the user's may matter.
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_ENDPOINT_URL", "")
	t.Setenv("AWS_ENDPOINT_URL_S3", "")

	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := fakestest.NewS3(t, fakes.S3Options{Buckets: []string{"data"}})
	// The bucket in the URL wins over bucket_name.
	cfg := writeConfig(t, srv.Config("not-this-bucket"))
	missing := filepath.Join(dir, "missing.json")

	for _, tc := range []struct {
		name       string
		arg        string
		configPath string
		create     bool
		inErr      string // "" for success
	}{
		{name: "folder", arg: dir},
		{name: "missing folder created", arg: filepath.Join(dir, "new", "sub"), create: true},
		{name: "missing folder", arg: filepath.Join(dir, "absent"), inErr: "no such folder"},
		{name: "file", arg: file, create: true, inErr: "is a file, not a folder"},
		{name: "folder under a file", arg: filepath.Join(file, "sub"), create: true, inErr: "sub"},
		{name: "bucket", arg: "s3://data/run", configPath: cfg},
		{name: "missing config", arg: "s3://data/run", configPath: missing, inErr: missing},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			loc, err := Parse(tc.arg)
			if err != nil {
				t.Fatal(err)
			}
			store, closeStore, err := loc.Open(ctx, tc.configPath, tc.create)
			if tc.inErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.inErr) {
					t.Fatalf("Open(%q) = %v, want an error containing %q", tc.arg, err, tc.inErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open(%q): %v", tc.arg, err)
			}
			defer func() {
				if err := closeStore(); err != nil {
					t.Errorf("closing %s: %v", tc.arg, err)
				}
			}()
			const key = "probe/x.JPEG"
			if err := store.Put(ctx, key, []byte("data")); err != nil {
				t.Fatalf("Put in %s: %v", tc.arg, err)
			}
			data, _, err := store.Read(ctx, key, nil)
			if err != nil || string(data) != "data" {
				t.Errorf("Read from %s = %q, %v; want %q", tc.arg, data, err, "data")
			}
			// The object is where Join says, in the URL's bucket.
			if loc.IsS3() {
				b, err := s3blob.Open(srv.Client, "data", "")
				if err != nil {
					t.Fatal(err)
				}
				want := strings.TrimPrefix(loc.Join(key), "s3://data/")
				if _, _, err := dataset.NewStore(b).Read(ctx, want, nil); err != nil {
					t.Errorf("%s is not at %s: %v", key, loc.Join(key), err)
				}
			} else if _, err := os.Stat(loc.Join(key)); err != nil {
				t.Errorf("%s is not at %s: %v", key, loc.Join(key), err)
			}
		})
	}
}

// writeConfig writes cfg to a file of its own and returns its path.
func writeConfig(tb testing.TB, cfg s3blob.Config) string {
	tb.Helper()
	data, err := json.Marshal(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	path := filepath.Join(tb.TempDir(), "s3.json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}
