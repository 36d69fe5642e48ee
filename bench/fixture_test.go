package bench

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/storagebench/storagebench/dataset"
	"github.com/storagebench/storagebench/dataset/datasettest"
	"github.com/storagebench/storagebench/dataset/s3blob"
	"github.com/storagebench/storagebench/fakes"
	"github.com/storagebench/storagebench/fakes/fakestest"
)

// TestRealStoreErrors checks that a real store set up wrong, or not at all,
// fails fast with a message naming its variable.
func TestRealStoreErrors(t *testing.T) {
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	dir := t.TempDir()
	writeConfig := func(name string, c s3blob.Config) string {
		data, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()
	fake := fakestest.NewS3(t, fakes.S3Options{Buckets: []string{"bench"}})
	badJSON := filepath.Join(dir, "bad.json")
	os.WriteFile(badJSON, []byte(`{"bucket_name": `), 0o600)
	const secret = "secret-that-must-not-show"
	for _, tc := range []struct {
		name    string
		env     Env
		backend string
		want    []string // in the error
	}{
		{"s3 unset", Env{}, "s3", []string{"not configured", "set STORAGEBENCH_S3_CONFIG"}},
		{"scratch unset", Env{}, "scratch", []string{"not configured", "set STORAGEBENCH_SCRATCH_ROOT"}},
		{"missing config", Env{S3Config: filepath.Join(dir, "missing.json")}, "s3", []string{"STORAGEBENCH_S3_CONFIG", "missing.json"}},
		{"bad JSON", Env{S3Config: badJSON}, "s3", []string{"STORAGEBENCH_S3_CONFIG", "bad.json"}},
		{"no index URL", Env{S3Config: writeConfig("noindex.json", s3blob.Config{Bucket: "b"})}, "s3", []string{"index_file_download_url is missing"}},
		{"unreachable", Env{S3Config: writeConfig("closed.json", s3blob.Config{
			Bucket: "b", IndexURL: "s3://b/index.json", EndpointURL: closed, AccessKeyID: "id", SecretAccessKey: secret, Region: "us-east-1",
		})}, "s3", []string{"STORAGEBENCH_S3_CONFIG", "connection refused"}},
		{"missing index", Env{S3Config: writeConfig("fake.json", func() s3blob.Config {
			c := fake.Config("bench")
			c.IndexURL = "s3://bench/index.json"
			return c
		}())}, "s3", []string{"STORAGEBENCH_S3_CONFIG", "s3://bench/index.json", "not found"}},
		{"missing scratch root", Env{ScratchRoot: filepath.Join(dir, "nowhere")}, "scratch", []string{"STORAGEBENCH_SCRATCH_ROOT", "nowhere"}},
		{"empty scratch root", Env{ScratchRoot: t.TempDir()}, "scratch", []string{"STORAGEBENCH_SCRATCH_ROOT", "no files"}},
		{"bad scratch index", Env{ScratchRoot: dir, ScratchIndex: badJSON}, "scratch", []string{"STORAGEBENCH_SCRATCH_INDEX", "bad.json"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := NewFixture(tc.env)
			defer f.Close()
			start := time.Now()
			_, err := f.Source(context.Background(), tc.backend)
			if d := time.Since(start); d > 15*time.Second {
				t.Errorf("Source took %v, want seconds", d)
			}
			if err == nil {
				t.Fatalf("Source = %v, want a failure", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Source error %q, want it to contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("Source error %q shows the secret key", err)
			}
		})
	}
}

// TestRealStores reads a scratch folder and an S3 bucket set up as users
// do, and checks every item's size comes from the store's listing.
func TestRealStores(t *testing.T) {
	synth := fakes.Synth{N: 30, Seed: 9}
	fake, b := fakestest.NewS3Backend(t, nil)
	ctx := context.Background()
	idx, err := synth.Write(ctx, dataset.NewStore(b), 4)
	if err != nil {
		t.Fatal(err)
	}
	cfg := fake.Config("storagebench")
	cfg.IndexURL = "s3://storagebench/index.json"
	data, _ := json.Marshal(cfg)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "s3.json")
	os.WriteFile(cfgPath, data, 0o600)
	scratch := datasettest.LocalFolder(t, nil)
	if _, err := synth.Write(ctx, dataset.NewStore(scratch), 4); err != nil {
		t.Fatal(err)
	}
	f := NewFixture(Env{S3Config: cfgPath, S3Index: filepath.Join(dir, "index-cache.json"), ScratchRoot: scratch.Dir()})
	defer f.Close()
	for _, name := range []string{"s3", "scratch"} {
		src, err := f.Source(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if len(src.Index) != len(idx) {
			t.Fatalf("%s: %d items, want %d", name, len(src.Index), len(idx))
		}
		for i, k := range src.Index {
			if want := int64(synth.Size(indexOf(idx, k))); src.Sizes[i] != want {
				t.Errorf("%s: %s has size %d, want %d", name, k, src.Sizes[i], want)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "index-cache.json")); err != nil {
		t.Errorf("the S3 index was not cached: %v", err)
	}
}

func indexOf(idx []string, k string) int {
	for i, v := range idx {
		if v == k {
			return i
		}
	}
	return -1
}
