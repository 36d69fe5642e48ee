package main

import (
	"bytes"
	"fmt"
	"image/jpeg"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/storagebench/storagebench/cases"
	"github.com/storagebench/storagebench/dataset"
	"github.com/storagebench/storagebench/dataset/local"
	"github.com/storagebench/storagebench/dataset/s3blob"
	"github.com/storagebench/storagebench/dataset/wds"
	"github.com/storagebench/storagebench/fakes"
	"github.com/storagebench/storagebench/fakes/fakestest"
	"github.com/storagebench/storagebench/loader"
)

// TestGen checks gen into folders and fake S3 buckets, with flags before
// and after DEST.
func TestGen(t *testing.T) {
	hermeticAWS(t)
	srv := fakestest.NewS3(t, fakes.S3Options{Buckets: []string{"data", "root"}})
	// The bucket in the URL wins over bucket_name.
	cfg := writeS3Config(t, srv.Config("not-this-bucket"))
	const n, seed = 20, 7

	folder := folderStore
	bucket := func(name, prefix string) func(testing.TB, string) *dataset.Store {
		return func(tb testing.TB, _ string) *dataset.Store { return bucketStore(tb, srv, name, prefix) }
	}
	for _, tc := range []struct {
		name      string
		dest      func(t *testing.T) string
		args      func(dest string) []string
		env       string // $STORAGEBENCH_S3_CONFIG
		store     func(tb testing.TB, dest string) *dataset.Store
		wantIndex func(dest string) string // where the summary says the index is
		keyPrefix string                   // what the index's keys start with
	}{
		{
			name: "missing folder is created",
			dest: func(t *testing.T) string { return filepath.Join(t.TempDir(), "new", "val") },
			args: func(dest string) []string {
				return []string{"gen", "-n", "20", "-seed", "7", dest}
			},
			store:     folder,
			wantIndex: func(dest string) string { return filepath.Join(dest, "index.json") },
		},
		{
			name: "existing folder, flags after",
			dest: func(t *testing.T) string { return t.TempDir() },
			args: func(dest string) []string {
				return []string{"gen", dest, "-n", "20", "-concurrency", "3", "-seed=7"}
			},
			store:     folder,
			wantIndex: func(dest string) string { return filepath.Join(dest, "index.json") },
		},
		{
			name: "s3 prefix",
			dest: func(*testing.T) string { return "s3://data/run1" },
			args: func(dest string) []string {
				return []string{"gen", "-s3-config", cfg, "-n", "20", "-seed", "7", dest}
			},
			store:     bucket("data", "run1/"),
			wantIndex: func(string) string { return "s3://data/run1/index.json" },
			keyPrefix: "run1/",
		},
		{
			name: "s3, bucket created",
			dest: func(*testing.T) string { return "s3://fresh-bucket" },
			args: func(dest string) []string {
				return []string{"gen", "-create-bucket", "-s3-config", cfg, "-n", "20", "-seed", "7", dest}
			},
			store:     bucket("fresh-bucket", ""),
			wantIndex: func(string) string { return "s3://fresh-bucket/index.json" },
		},
		{
			name: "s3 bucket root, config from the environment",
			dest: func(*testing.T) string { return "s3://root" },
			args: func(dest string) []string {
				return []string{"gen", dest, "-seed", "7", "-n", "20"}
			},
			env:       cfg,
			store:     bucket("root", ""),
			wantIndex: func(string) string { return "s3://root/index.json" },
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.env != "" {
				t.Setenv(cases.S3Config, tc.env)
			}
			dest := tc.dest(t)
			args := tc.args(dest)
			stdout, stderr, err := runArgs(t, t.Context(), args...)
			if err != nil {
				t.Fatalf("run(%q): %v\nstderr:\n%s", args, err, stderr)
			}
			for _, want := range []string{"wrote 20 items", tc.wantIndex(dest)} {
				if !strings.Contains(stdout, want) {
					t.Errorf("run(%q) printed %q, want it to contain %q", args, stdout, want)
				}
			}
			if lines := strings.Count(stdout, "\n"); lines != 1 {
				t.Errorf("run(%q) printed %d lines, want 1:\n%s", args, lines, stdout)
			}
			checkGenerated(t, tc.store(t, dest), fakes.Synth{N: n, Seed: seed}, tc.keyPrefix)
		})
	}
}

// TestGenForce checks that gen refuses a destination that already holds
// objects, changing nothing, and that with -force the destination ends up
// holding exactly the new index's keys and index.json, while objects
// outside it stay.
func TestGenForce(t *testing.T) {
	hermeticAWS(t)
	srv := fakestest.NewS3(t, fakes.S3Options{Buckets: []string{"data", "whole"}})
	cfg := writeS3Config(t, srv.Config("data"))
	s3Store := func(tb testing.TB, bucket, prefix string) *dataset.Store {
		return bucketStore(tb, srv, bucket, prefix)
	}
	for _, tc := range []struct {
		name string
		dest func(t *testing.T) string
		// root returns the store that holds DEST, with keys as in DEST's
		// index: the folder itself, or the whole bucket.
		root    func(tb testing.TB, dest string) *dataset.Store
		prefix  string   // DEST's prefix in root
		outside []string // keys in root outside DEST, which must stay
	}{
		{
			name: "folder",
			dest: func(t *testing.T) string { return t.TempDir() },
			root: folderStore,
		},
		{
			name:    "s3 prefix",
			dest:    func(*testing.T) string { return "s3://data/old/run" },
			root:    func(tb testing.TB, _ string) *dataset.Store { return s3Store(tb, "data", "") },
			prefix:  "old/run/",
			outside: []string{"old/run10/keep.txt", "old/keep.txt", "other/keep.txt"},
		},
		{
			name: "s3 bucket",
			dest: func(*testing.T) string { return "s3://whole" },
			root: func(tb testing.TB, _ string) *dataset.Store { return s3Store(tb, "whole", "") },
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			dest := tc.dest(t)
			root := tc.root(t, dest)
			gen := func(args ...string) (string, error) {
				t.Helper()
				args = append([]string{"gen", "-s3-config", cfg, dest}, args...)
				stdout, _, err := runArgs(t, ctx, args...)
				return stdout, err
			}
			listing := func(prefix string) []string {
				t.Helper()
				entries, err := root.List(ctx, prefix)
				if err != nil {
					t.Fatal(err)
				}
				var keys []string
				for _, e := range entries {
					keys = append(keys, e.Key)
				}
				return keys
			}

			// A previous, larger dataset, something else in DEST, and
			// objects outside it.
			if _, err := gen("-n", "30", "-seed", "3"); err != nil {
				t.Fatalf("gen of the previous dataset: %v", err)
			}
			for _, k := range append([]string{tc.prefix + "notes/stray.txt"}, tc.outside...) {
				if err := root.Put(ctx, k, []byte("not written by gen")); err != nil {
					t.Fatal(err)
				}
			}
			before := listing("")

			out, err := gen("-n", "20", "-seed", "7")
			if err == nil || !strings.Contains(err.Error(), dest) || !strings.Contains(err.Error(), "-force") {
				t.Fatalf("gen into a DEST that holds objects = %q, %v; want an error naming %s and suggesting -force", out, err, dest)
			}
			if diff := cmp.Diff(before, listing("")); diff != "" {
				t.Errorf("refused gen changed the store (-before +after):\n%s", diff)
			}

			out, err = gen("-n", "20", "-seed", "7", "-force")
			if err != nil {
				t.Fatalf("gen -force: %v", err)
			}
			if want := "removed 11 objects"; !strings.Contains(out, want) {
				t.Errorf("gen -force printed %q, want it to contain %q (10 old items and the stray file)", out, want)
			}
			data, _, err := root.Read(ctx, tc.prefix+dataset.IndexKey, nil)
			if err != nil {
				t.Fatal(err)
			}
			idx, err := dataset.ParseIndex(dataset.IndexKey, data)
			if err != nil {
				t.Fatal(err)
			}
			want := append([]string(slices.Clone(idx)), tc.prefix+dataset.IndexKey)
			slices.Sort(want)
			if diff := cmp.Diff(want, listing(tc.prefix)); diff != "" {
				t.Errorf("after gen -force, DEST holds other than its index's keys and index.json (-want +got):\n%s", diff)
			}
			for _, k := range tc.outside {
				if _, _, err := root.Read(ctx, k, nil); err != nil {
					t.Errorf("after gen -force into %s, %s outside it: %v; want it kept", dest, k, err)
				}
			}
			inDest := root
			if tc.prefix != "" {
				inDest = s3Store(t, "data", tc.prefix)
			}
			checkGenerated(t, inDest, fakes.Synth{N: 20, Seed: 7}, tc.prefix)
		})
	}
}

// checkGenerated checks that store holds exactly the items of synth, each
// a valid JPEG, and an index.json listing them in order.
func checkGenerated(t *testing.T, store *dataset.Store, synth fakes.Synth, keyPrefix string) {
	t.Helper()
	ctx := t.Context()
	data, _, err := store.Read(ctx, dataset.IndexKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := dataset.ParseIndex(dataset.IndexKey, data)
	if err != nil {
		t.Fatal(err)
	}
	wantIdx := synth.Index()
	for i := range wantIdx {
		wantIdx[i] = keyPrefix + wantIdx[i]
	}
	if diff := cmp.Diff(wantIdx, idx); diff != "" {
		t.Errorf("index.json mismatch (-want +got):\n%s", diff)
	}
	entries, err := store.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(entries), synth.N+1; got != want {
		t.Errorf("store holds %d objects, want %d items and index.json", got, want)
	}
	want := make(map[string]int, synth.N)
	for i, k := range synth.Index() {
		want[k] = i
	}
	for _, e := range entries {
		if e.Key == dataset.IndexKey {
			continue
		}
		data, _, err := store.Read(ctx, e.Key, nil)
		if err != nil {
			t.Error(err)
			continue
		}
		if _, err := jpeg.Decode(bytes.NewReader(data)); err != nil {
			t.Errorf("%s does not decode as a JPEG: %v", e.Key, err)
		}
		i, ok := want[e.Key]
		if !ok {
			t.Errorf("store holds %s, which is not an item", e.Key)
			continue
		}
		if !bytes.Equal(data, synth.Item(i)) {
			t.Errorf("%s: got %d bytes that differ from item %d's %d bytes", e.Key, len(data), i, synth.Size(i))
		}
	}
}

// TestGenErrors checks that gen fails fast, naming what is wrong, and never
// shows the secret key.
func TestGenErrors(t *testing.T) {
	hermeticAWS(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := fakestest.NewS3(t, fakes.S3Options{Buckets: []string{"data"}})
	badJSON := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(badJSON, []byte(`{"aws_secret_access_key": "`+testSecret+`", `), 0o600); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{
		"DIR":         dir,
		"FILE":        file,
		"FAKE":        writeS3Config(t, srv.Config("data")),
		"UNREACHABLE": writeS3Config(t, s3blob.Config{Bucket: "data", EndpointURL: closedEndpoint(t)}),
		"REFUSED":     writeS3Config(t, s3blob.Config{Bucket: "data", EndpointURL: refusingS3(t)}),
		"NOCONFIG":    filepath.Join(dir, "missing.json"),
		"BADJSON":     badJSON,
	}
	runErrorCases(t, vars, []errorCase{
		{name: "no DEST", args: []string{"gen", "-n", "3"}, inErr: []string{"missing DEST"}},
		{name: "create bucket on a folder", args: []string{"gen", "-n", "3", "-create-bucket", "$DIR/c"}, inErr: []string{"-create-bucket needs an s3:// DEST"}},
		{name: "two DESTs", args: []string{"gen", "-n", "3", "$DIR/a", "$DIR/b"}, inErr: []string{"want one DEST", "$DIR/b"}},
		{name: "no -n", args: []string{"gen", "$DIR/a"}, inErr: []string{"-n must be > 0"}},
		{name: "zero -n", args: []string{"gen", "$DIR/a", "-n", "0"}, inErr: []string{"-n must be > 0, got 0"}},
		{name: "negative -n", args: []string{"gen", "-n=-4", "$DIR/a"}, inErr: []string{"-n must be > 0, got -4"}},
		{name: "bad -n", args: []string{"gen", "-n", "many", "$DIR/a"}, inErr: []string{"-n"}},
		{name: "zero -concurrency", args: []string{"gen", "-n", "3", "-concurrency", "0", "$DIR/a"}, inErr: []string{"-concurrency must be > 0"}},
		{name: "unknown format", args: []string{"gen", "-n", "3", "-format", "zip", "$DIR/a"}, inErr: []string{`-format "zip": want loose or tar`}},
		{name: "bad shard size", args: []string{"gen", "-n", "3", "-format", "tar", "-shard-size", "64 MB", "$DIR/a"}, inErr: []string{"-shard-size", `"64 MB"`}},
		{name: "shard smaller than a sample", args: []string{"gen", "-n", "3", "-format", "tar", "-shard-size", "8KiB", "$DIR/a"}, inErr: []string{"sample 0 takes", "more than the shard size of 8192 bytes"}},
		{name: "unknown flag", args: []string{"gen", "-n", "3", "$DIR/a", "-bogus"}, inErr: []string{"-bogus"}},
		{name: "DEST is a file", args: []string{"gen", "-n", "3", "$FILE"}, inErr: []string{"$FILE", "is a file, not a folder"}},
		{name: "folder under a file", args: []string{"gen", "-n", "3", "$FILE/sub"}, inErr: []string{"$FILE/sub"}},
		{name: "s3 URL without bucket", args: []string{"gen", "-n", "3", "s3:///prefix"}, inErr: []string{"s3:///prefix", "bad S3 URL"}},
		{name: "other scheme", args: []string{"gen", "-n", "3", "gs://data/x"}, inErr: []string{"gs://data/x", "bad S3 URL"}},
		{name: "missing config", args: []string{"gen", "-n", "3", "-s3-config", "$NOCONFIG", "s3://data/x"}, inErr: []string{"$NOCONFIG"}},
		{name: "config not JSON", args: []string{"gen", "-n", "3", "-s3-config", "$BADJSON", "s3://data/x"}, inErr: []string{"$BADJSON"}},
		{name: "no such bucket", args: []string{"gen", "-n", "3", "-s3-config", "$FAKE", "s3://nosuchbucket/x"}, inErr: []string{"s3://nosuchbucket/x", "NoSuchBucket"}},
		{name: "unreachable endpoint", args: []string{"gen", "-n", "20", "-s3-config", "$UNREACHABLE", "s3://data/x"}, inErr: []string{"s3://data/x", "connection refused"}},
		{name: "refused credentials", args: []string{"gen", "-n", "20", "-s3-config", "$REFUSED", "s3://data/x"}, inErr: []string{"s3://data/x", "InvalidAccessKeyId"}},
	})
}

// folderStore opens the folder dir as a store for a test.
func folderStore(tb testing.TB, dir string) *dataset.Store {
	tb.Helper()
	b, err := local.Open(dir)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { b.Close() })
	return dataset.NewStore(b)
}

// bucketStore opens bucket of srv under prefix as a store for a test.
func bucketStore(tb testing.TB, srv *fakes.S3, bucket, prefix string) *dataset.Store {
	tb.Helper()
	b, err := s3blob.Open(srv.Client, bucket, prefix)
	if err != nil {
		tb.Fatal(err)
	}
	return dataset.NewStore(b)
}

// TestGenTar writes the synthetic dataset in tar shards to a folder, to a
// prefix of a fake S3 bucket, and to MinIO when STORAGEBENCH_MINIO_* names
// one (CI starts one), then reads every sample back, streamed and by
// range, and checks its bytes against the loose item's: the same
// samples, the same bytes, in shards that never exceed their size.
func TestGenTar(t *testing.T) {
	hermeticAWS(t)
	srv := fakestest.NewS3(t, fakes.S3Options{Buckets: []string{"data"}})
	const n, seed, size = 40, 7, 1_000_000
	synth := fakes.Synth{N: n, Seed: seed}
	type dest struct {
		name, url string
		cfg       string
		store     func(t *testing.T) *dataset.Store
		create    bool
	}
	dir := filepath.Join(t.TempDir(), "shards")
	dests := []dest{
		{name: "folder", url: dir, store: func(t *testing.T) *dataset.Store { return folderStore(t, dir) }},
		{name: "fake S3", url: "s3://data/tar/", cfg: writeS3Config(t, srv.Config("data")),
			store: func(t *testing.T) *dataset.Store { return bucketStore(t, srv, "data", "") }},
	}
	if endpoint := os.Getenv("STORAGEBENCH_MINIO_ENDPOINT"); endpoint != "" {
		bucket := fmt.Sprintf("storagebench-gentar-%d", time.Now().UnixNano())
		cfg := s3blob.Config{
			Bucket: bucket, EndpointURL: endpoint, Region: os.Getenv("STORAGEBENCH_MINIO_REGION"), UsePathStyle: true,
			AccessKeyID: os.Getenv("STORAGEBENCH_MINIO_ACCESS_KEY"), SecretAccessKey: os.Getenv("STORAGEBENCH_MINIO_SECRET_KEY"),
		}
		path := filepath.Join(t.TempDir(), "minio.json")
		data := fmt.Sprintf(`{"aws_access_key_id":%q,"aws_secret_access_key":%q,"bucket_name":%q,"endpoint_url":%q,"region":%q,"use_path_style":true}`,
			cfg.AccessKeyID, cfg.SecretAccessKey, bucket, endpoint, cfg.Region)
		if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		dests = append(dests, dest{name: "MinIO", url: "s3://" + bucket + "/tar/", cfg: path, create: true, store: func(t *testing.T) *dataset.Store {
			client, err := s3blob.NewClient(t.Context(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			b, err := s3blob.Open(client, bucket, "")
			if err != nil {
				t.Fatal(err)
			}
			return dataset.NewStore(b)
		}})
	} else {
		t.Log("no MinIO (STORAGEBENCH_MINIO_ENDPOINT): the folder and the fake S3 only")
	}
	for _, d := range dests {
		t.Run(d.name, func(t *testing.T) {
			args := []string{"gen", "-n", fmt.Sprint(n), "-seed", fmt.Sprint(seed), "-format", "tar", "-shard-size", "1MB"}
			if d.cfg != "" {
				args = append(args, "-s3-config", d.cfg)
			}
			if d.create {
				args = append(args, "-create-bucket")
			}
			stdout, stderr, err := runArgs(t, t.Context(), append(args, d.url)...)
			if err != nil {
				t.Fatalf("gen: %v\n%s", err, stderr)
			}
			if !strings.Contains(stdout, fmt.Sprintf("wrote %d items", n)) || !strings.Contains(stdout, "tar shards of at most 1MB") {
				t.Errorf("gen printed %q", stdout)
			}
			st := d.store(t)
			indexKey := dataset.IndexKey
			if strings.HasPrefix(d.url, "s3://") {
				indexKey = "tar/" + dataset.IndexKey
			}
			raw, _, err := st.Read(t.Context(), indexKey, nil)
			if err != nil {
				t.Fatal(err)
			}
			idx, err := dataset.ParseIndex(indexKey, raw)
			if err != nil {
				t.Fatal(err)
			}
			if !wds.IsShardIndex(idx) || len(idx) < 4 {
				t.Fatalf("index %v: want several .tar shards", idx)
			}
			set, err := wds.ScanStore(t.Context(), st, idx, 4)
			if err != nil {
				t.Fatal(err)
			}
			if set.Len() != n {
				t.Fatalf("%d samples in the shards, want %d", set.Len(), n)
			}
			ranged := dataset.NewItems(st, idx, wds.Ranged(set))
			for j := range set.Shards() {
				sh := set.Shard(j)
				if sh.Size > size {
					t.Errorf("shard %s: %d bytes, more than %d", sh.Key, sh.Size, size)
				}
				stream, err := st.OpenStream(t.Context(), sh.Key, 0)
				if err != nil {
					t.Fatal(err)
				}
				sc := wds.NewScanner(stream, sh.Key, 0, stream.Size())
				for k := range sh.Samples {
					i := set.First(j) + k
					smp, data, err := sc.Next(nil)
					if err != nil {
						t.Fatal(err)
					}
					if smp.Key != synth.SampleKey(i) || !bytes.Equal(data, synth.Item(i)) {
						t.Fatalf("shard %s: sample %d streamed is %q of %d bytes, want item %d's %d bytes", sh.Key, k, smp.Key, len(data), i, synth.Size(i))
					}
					got, _, err := ranged.Read(t.Context(), i, nil)
					if err != nil || !bytes.Equal(got, synth.Item(i)) {
						t.Fatalf("sample %d read by range: %d bytes, %v; want item %d's bytes", i, len(got), err, i)
					}
				}
				if _, _, err := sc.Next(nil); err != io.EOF {
					t.Errorf("shard %s: after its samples, %v; want io.EOF", sh.Key, err)
				}
				stream.Close()
			}
			// Streamed by the loader in ranged parts that cut samples
			// and headers anywhere: every sample's bytes.
			l, err := loader.New(dataset.New(st, idx), loader.Options{BatchSize: 5, Workers: 2, Mode: loader.Async, FetchConcurrency: 3, Warmup: -1,
				Part: 100_000, Stream: &loader.StreamOptions{Set: set}})
			if err != nil {
				t.Fatal(err)
			}
			it, err := l.Start(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			seen := 0
			for {
				b, err := it.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					it.Close()
					t.Fatal(err)
				}
				for _, item := range b.Items {
					if !bytes.Equal(item.Data, synth.Item(item.Index)) {
						t.Fatalf("sample %d streamed in parts: %d bytes differ from item %d's %d", item.Index, len(item.Data), item.Index, synth.Size(item.Index))
					}
					seen++
				}
			}
			if err := it.Close(); err != nil {
				t.Fatal(err)
			}
			if st := it.Stats(); seen == 0 || st.PartReads == 0 || int64(seen)+st.Dropped != int64(n) {
				t.Errorf("in parts: %d samples delivered, %d dropped, %d part reads; want the %d samples, parts past each shard's first", seen, st.Dropped, st.PartReads, n)
			}
		})
	}
}
