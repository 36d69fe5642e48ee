package main

import (
	"bufio"
	"bytes"
	"context"
	"image/jpeg"
	"io"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/storagebench/storagebench/dataset"
	"github.com/storagebench/storagebench/dataset/s3blob"
	"github.com/storagebench/storagebench/fakes"
)

// startServe runs serve with args in a goroutine and returns the endpoint
// it printed on its first line, a function that returns the rest of its
// stdout once it has ended, and a channel that receives its result. The
// test fails if serve ends before printing the endpoint.
func startServe(t *testing.T, ctx context.Context, args ...string) (endpoint string, rest func() string, errc <-chan error) {
	t.Helper()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	var stderr bytes.Buffer
	go func() {
		err := run(ctx, pw, &stderr, append([]string{"serve"}, args...))
		pw.Close()
		done <- err
	}()
	br := bufio.NewReader(pr)
	line, err := br.ReadString('\n')
	if err != nil {
		t.Fatalf("serve %q printed %q and ended: %v\nstderr:\n%s", args, line, <-done, stderr.String())
	}
	endpoint, ok := strings.CutPrefix(strings.TrimSuffix(line, "\n"), "endpoint ")
	if !ok {
		t.Fatalf("serve %q first printed %q, want \"endpoint URL\"", args, line)
	}
	var buf bytes.Buffer
	copied := make(chan struct{})
	go func() {
		io.Copy(&buf, br) // ends when run returns and closes pw
		close(copied)
	}()
	rest = func() string {
		<-copied
		return buf.String()
	}
	return endpoint, rest, done
}

// TestServe starts serve on a free port, reads an item through the
// configuration it wrote, and stops it by cancelling its context.
func TestServe(t *testing.T) {
	hermeticAWS(t)
	for _, tc := range []struct {
		name    string
		profile string
		n       int
		minTTFB time.Duration
	}{
		{name: "n=5", profile: "none", n: 5},
		{name: "n=3/profile=fixed-20ms", profile: "fixed-20ms", n: 3, minTTFB: 20 * time.Millisecond},
		{name: "n=0", profile: "express", n: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			cfgPath := filepath.Join(t.TempDir(), "s3.json")
			const seed = 11
			endpoint, rest, errc := startServe(t, ctx,
				"-addr", "127.0.0.1:0", "-profile", tc.profile, "-seed", "11",
				"-bucket", "bench", "-n", strconv.Itoa(tc.n), "-config-out", cfgPath)

			cfg, err := s3blob.LoadConfig(cfgPath)
			if err != nil {
				t.Fatal(err)
			}
			want := s3blob.Config{
				AccessKeyID:     fakes.FakeAccessKeyID,
				SecretAccessKey: fakes.FakeSecretAccessKey,
				Bucket:          "bench",
				IndexURL:        "s3://bench/index.json",
				EndpointURL:     endpoint,
				Region:          fakes.FakeRegion,
				UsePathStyle:    true,
			}
			if cfg != want {
				t.Errorf("config file holds %v, want %v", cfg, want)
			}
			client, err := s3blob.NewClient(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			b, err := s3blob.Open(client, cfg.Bucket, "")
			if err != nil {
				t.Fatal(err)
			}
			store := dataset.NewStore(b)
			if tc.n == 0 {
				entries, err := store.List(ctx, "")
				if err != nil {
					t.Fatal(err)
				}
				if len(entries) != 0 {
					t.Errorf("bucket holds %v, want nothing", entries)
				}
			} else {
				synth := fakes.Synth{N: tc.n, Seed: seed}
				idx, err := s3blob.FetchIndex(ctx, client, cfg.IndexURL, "")
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(synth.Index(), idx); diff != "" {
					t.Errorf("index mismatch (-want +got):\n%s", diff)
				}
				data, timing, err := store.Read(ctx, idx[0], nil)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(data, synth.Item(0)) {
					t.Errorf("read %d bytes of %s that differ from the item's %d", len(data), idx[0], synth.Size(0))
				}
				if _, err := jpeg.Decode(bytes.NewReader(data)); err != nil {
					t.Errorf("%s does not decode as a JPEG: %v", idx[0], err)
				}
				if timing.TTFB < tc.minTTFB {
					t.Errorf("read %s with a time to first byte of %v, want at least %v (profile %s)", idx[0], timing.TTFB, tc.minTTFB, tc.profile)
				}
			}

			cancel()
			select {
			case err := <-errc:
				if err != nil {
					t.Errorf("serve returned %v after cancellation, want nil", err)
				}
			case <-time.After(failFast):
				t.Fatalf("serve did not return within %v of cancellation", failFast)
			}
			out := rest()
			for _, s := range []string{"bucket bench", "profile " + tc.profile, "config " + cfgPath} {
				if !strings.Contains(out, s) {
					t.Errorf("serve printed %q after the endpoint, want it to contain %q", out, s)
				}
			}
			// The server is gone.
			if conn, err := net.DialTimeout("tcp", strings.TrimPrefix(endpoint, "http://"), time.Second); err == nil {
				conn.Close()
				t.Errorf("%s still accepts connections after serve returned", endpoint)
			}
		})
	}
}

// TestServeErrors checks that serve fails fast on bad flags and addresses.
func TestServeErrors(t *testing.T) {
	hermeticAWS(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { busy.Close() })
	vars := map[string]string{
		"DIR":  t.TempDir(),
		"BUSY": busy.Addr().String(),
	}
	runErrorCases(t, vars, []errorCase{
		{name: "bad profile", args: []string{"serve", "-addr", "127.0.0.1:0", "-profile", "warp-speed"}, inErr: []string{`"warp-speed"`, "seed-s3"}, is: fakes.ErrUnknownProfile},
		{name: "bad fixed profile", args: []string{"serve", "-addr", "127.0.0.1:0", "-profile", "fixed-soon"}, inErr: []string{`"fixed-soon"`}, is: fakes.ErrUnknownProfile},
		{name: "positional argument", args: []string{"serve", "-addr", "127.0.0.1:0", "extra"}, inErr: []string{"no arguments", "extra"}},
		{name: "negative -n", args: []string{"serve", "-addr", "127.0.0.1:0", "-n", "-1"}, inErr: []string{"-n must be >= 0"}},
		{name: "address in use", args: []string{"serve", "-addr", "$BUSY"}, inErr: []string{"$BUSY"}},
		{name: "bad bucket", args: []string{"serve", "-addr", "127.0.0.1:0", "-bucket", "Not A Bucket"}, inErr: []string{"Not A Bucket"}},
		{name: "config in a missing folder", args: []string{"serve", "-addr", "127.0.0.1:0", "-n", "1", "-config-out", "$DIR/nope/s3.json"}, inErr: []string{"$DIR/nope/s3.json"}},
	})
}
