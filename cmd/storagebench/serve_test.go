package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/jpeg"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/google/go-cmp/cmp"

	"github.com/storagebench/storagebench/dataset"
	"github.com/storagebench/storagebench/dataset/s3blob"
	"github.com/storagebench/storagebench/fakes"
	"github.com/storagebench/storagebench/results"
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
		faults  string // -faults; reads are retried through them
		n       int
		minTTFB time.Duration
	}{
		{name: "n=5", profile: "none", n: 5},
		{name: "n=8/faults", profile: "none", faults: "reset:0.3+short:0.2+slowdown:0.2", n: 8},
		{name: "n=3/profile=fixed-20ms", profile: "fixed-20ms", n: 3, minTTFB: 20 * time.Millisecond},
		{name: "n=0", profile: "express", n: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			cfgPath := filepath.Join(t.TempDir(), "s3.json")
			const seed = 11
			args := []string{"-addr", "127.0.0.1:0", "-profile", tc.profile, "-seed", "11",
				"-bucket", "bench", "-n", strconv.Itoa(tc.n), "-config-out", cfgPath}
			if tc.faults != "" {
				args = append(args, "-faults", tc.faults)
			}
			endpoint, rest, errc := startServe(t, ctx, args...)

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
			if tc.profile != "none" {
				want.Profile = tc.profile
			}
			want.Faults = tc.faults
			if cfg != want {
				t.Errorf("config file holds %v, want %v", cfg, want)
			}
			client, store := serveStore(t, ctx, cfg)
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

// TestServeConfigProfile checks that the configuration serve writes names
// the emulated profile, and leaves the field out when nothing is emulated.
func TestServeConfigProfile(t *testing.T) {
	hermeticAWS(t)
	for _, tc := range []struct {
		profile string
		want    string // the configuration's profile; "" for none written
	}{
		{profile: "s3", want: "s3"},
		{profile: "fixed-5ms", want: "fixed-5ms"},
		{profile: "none", want: ""},
		{profile: "fixed-0s", want: ""}, // emulates nothing, as none does
	} {
		t.Run("profile="+tc.profile, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			cfgPath := filepath.Join(t.TempDir(), "s3.json")
			_, _, errc := startServe(t, ctx, "-addr", "127.0.0.1:0", "-profile", tc.profile, "-config-out", cfgPath)
			defer func() {
				cancel()
				if err := <-errc; err != nil {
					t.Errorf("serve returned %v after cancellation, want nil", err)
				}
			}()

			cfg, err := s3blob.LoadConfig(cfgPath)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Profile != tc.want {
				t.Errorf("config written for -profile %s has profile %q, want %q", tc.profile, cfg.Profile, tc.want)
			}
			data, err := os.ReadFile(cfgPath)
			if err != nil {
				t.Fatal(err)
			}
			var fields map[string]json.RawMessage
			if err := json.Unmarshal(data, &fields); err != nil {
				t.Fatal(err)
			}
			if _, got := fields["profile"]; got != (tc.want != "") {
				t.Errorf("config written for -profile %s has a \"profile\" field: %v, want %v", tc.profile, got, tc.want != "")
			}
		})
	}
}

// TestServeSIGTERM runs the command as a subprocess (this test binary,
// running main) and checks that SIGTERM stops serve as Ctrl-C does: it
// shuts the server down and exits with status 0.
func TestServeSIGTERM(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Windows has no SIGTERM to send")
	}
	const grace = 10 * time.Second // far more than a shutdown takes
	hermeticAWS(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(t.TempDir(), "s3.json")
	cmd := exec.Command(exe, "serve", "-addr", "127.0.0.1:0", "-n", "1", "-config-out", cfgPath)
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// rest, waitErr and stderr are read only once exited is closed.
	var (
		rest    []byte
		waitErr error
		exited  = make(chan struct{})
	)
	br := bufio.NewReader(stdout)
	line, lineErr := br.ReadString('\n')
	go func() {
		rest, _ = io.ReadAll(br) // ends when the process closes stdout
		waitErr = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill() // in case the test failed before it ended
		<-exited
	})
	if lineErr != nil {
		cmd.Process.Kill()
		<-exited
		t.Fatalf("serve printed %q and ended: %v, %v\nstderr:\n%s", line, lineErr, waitErr, stderr.String())
	}
	endpoint, ok := strings.CutPrefix(strings.TrimSuffix(line, "\n"), "endpoint ")
	if !ok {
		t.Fatalf("serve first printed %q, want \"endpoint URL\"", line)
	}
	addr := strings.TrimPrefix(endpoint, "http://")
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatalf("%s does not accept connections while serve runs: %v", endpoint, err)
	}
	conn.Close()

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
		if waitErr != nil {
			t.Fatalf("serve ended with %v after SIGTERM, want exit status 0\nstderr:\n%s", waitErr, stderr.String())
		}
	case <-time.After(grace):
		t.Fatalf("serve did not exit within %v of SIGTERM", grace)
	}
	if strings.Contains(stderr.String(), "storagebench:") {
		t.Errorf("serve reported an error on stderr after SIGTERM:\n%s", stderr.String())
	}
	if want := "config " + cfgPath; !strings.Contains(string(rest), want) {
		t.Errorf("serve printed %q after the endpoint, want it to contain %q", rest, want)
	}
	if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		conn.Close()
		t.Errorf("%s still accepts connections after serve exited", endpoint)
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
		{name: "bad faults", args: []string{"serve", "-addr", "127.0.0.1:0", "-faults", "slowdown:2"}, inErr: []string{"-faults", `rate "2" of slowdown`}},
		{name: "negative -n", args: []string{"serve", "-addr", "127.0.0.1:0", "-n", "-1"}, inErr: []string{"-n must be >= 0"}},
		{name: "empty secret", args: []string{"serve", "-addr", "127.0.0.1:0", "-secret-key", ""}, inErr: []string{"-access-key and -secret-key may not be empty"}},
		{name: "address in use", args: []string{"serve", "-addr", "$BUSY"}, inErr: []string{"$BUSY"}},
		{name: "bad bucket", args: []string{"serve", "-addr", "127.0.0.1:0", "-bucket", "Not A Bucket"}, inErr: []string{"Not A Bucket"}},
		{name: "config in a missing folder", args: []string{"serve", "-addr", "127.0.0.1:0", "-n", "1", "-config-out", "$DIR/nope/s3.json"}, inErr: []string{"$DIR/nope/s3.json"}},
	})
}

// TestServeCredentials starts serve with keys of its own and checks what
// S3 would: the configuration it writes reads the index; a client with a
// wrong secret, or an unknown key id, fails its first read at once with
// S3's code and no retry; an unsigned GET is refused, and served once
// serve runs with -anonymous. The secret is never printed.
func TestServeCredentials(t *testing.T) {
	hermeticAWS(t)
	const id, secret = "AKIDSERVETEST", "serve-test-secret-key"
	for _, tc := range []struct {
		name      string
		anonymous bool
	}{{"signed", false}, {"anonymous", true}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			cfgPath := filepath.Join(t.TempDir(), "s3.json")
			args := []string{"-addr", "127.0.0.1:0", "-n", "2", "-bucket", "cred", "-config-out", cfgPath, "-access-key", id, "-secret-key", secret}
			if tc.anonymous {
				args = append(args, "-anonymous")
			}
			endpoint, rest, errc := startServe(t, ctx, args...)
			cfg, err := s3blob.LoadConfig(cfgPath)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.AccessKeyID != id || cfg.SecretAccessKey != secret {
				t.Errorf("config holds keys %q/%q, want the flags' %q/%q", cfg.AccessKeyID, cfg.SecretAccessKey, id, secret)
			}
			read := func(cfg s3blob.Config) (time.Duration, error) {
				client, err := s3blob.NewClient(ctx, cfg)
				if err != nil {
					t.Fatal(err)
				}
				start := time.Now()
				_, err = s3blob.FetchIndex(ctx, client, cfg.IndexURL, "")
				return time.Since(start), err
			}
			if _, err := read(cfg); err != nil {
				t.Fatalf("index through the configuration serve wrote: %v", err)
			}
			for _, bad := range []struct {
				id, secret, code string
			}{{id, "wrong-secret", "SignatureDoesNotMatch"}, {"AKIDNOBODY", secret, "InvalidAccessKeyId"}} {
				c := cfg
				c.AccessKeyID, c.SecretAccessKey = bad.id, bad.secret
				took, err := read(c)
				switch {
				case tc.anonymous && err != nil:
					t.Errorf("-anonymous, keys %s: %v, want the index served", bad.id, err)
				case !tc.anonymous && (err == nil || !strings.Contains(err.Error(), bad.code)):
					t.Errorf("keys %s/%s: %v, want %s", bad.id, bad.secret, err, bad.code)
				case !tc.anonymous && took > failFast:
					t.Errorf("keys %s/%s refused after %v, want at once, with no retry", bad.id, bad.secret, took)
				}
			}
			resp, err := http.Get(endpoint + "/cred/index.json")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if want := map[bool]int{false: http.StatusForbidden, true: http.StatusOK}[tc.anonymous]; resp.StatusCode != want || !tc.anonymous && !strings.Contains(string(body), "AccessDenied") {
				t.Errorf("unsigned GET: %d %s, want %d", resp.StatusCode, body, want)
			}
			cancel()
			if err := <-errc; err != nil {
				t.Errorf("serve: %v", err)
			}
			out := rest()
			if strings.Contains(out, secret) {
				t.Errorf("serve printed its secret key:\n%s", out)
			}
			if want := map[bool]string{false: "access key id " + id, true: "credentials anonymous"}[tc.anonymous]; !strings.Contains(out, want) {
				t.Errorf("serve printed %q, want %q in it", out, want)
			}
		})
	}
}

// TestServeObserves reads the index and every item through serve, then
// checks what serve saw: at /metrics, exactly the client's GETs and bytes;
// on exit, a summary; in -o, a Serve line whose rate agrees with its
// ns/op, and interval lines named at=D.
func TestServeObserves(t *testing.T) {
	hermeticAWS(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	dir := t.TempDir()
	cfgPath, outPath := filepath.Join(dir, "s3.json"), filepath.Join(dir, "served.txt")
	endpoint, rest, errc := startServe(t, ctx, "-addr", "127.0.0.1:0", "-n", "3", "-bucket", "obs", "-config-out", cfgPath, "-o", outPath, "-interval", "20ms")
	cfg, err := s3blob.LoadConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	client, store := serveStore(t, ctx, cfg)
	entries, err := store.List(ctx, "") // a ListObjectsV2, not a GET
	if err != nil {
		t.Fatal(err)
	}
	var wantBytes int64
	for _, e := range entries {
		wantBytes += e.Size
	}
	idx, err := s3blob.FetchIndex(ctx, client, cfg.IndexURL, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range idx {
		if _, _, err := store.Read(ctx, k, nil); err != nil {
			t.Fatal(err)
		}
	}
	scrape := func() string {
		resp, err := http.Get(endpoint + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return string(body)
	}
	// A client may have its whole answer before the server's handler
	// returns and counts it; the server counts a request before it leaves
	// the requests in flight, so once a scrape sees none in flight, the
	// next one holds every count.
	for i := 0; !strings.Contains(scrape(), "\nstoragebench_requests_in_flight 0\n"); i++ {
		if i == 1000 {
			t.Fatal("the server never showed 0 requests in flight")
		}
	}
	metrics := scrape()
	for _, want := range []string{
		fmt.Sprintf(`storagebench_requests_total{code="200",op="GetObject"} %d`, len(idx)+1),
		fmt.Sprintf(`storagebench_response_bytes_total{op="GetObject"} %d`, wantBytes),
		`storagebench_requests_total{code="200",op="ListObjectsV2"} 1`,
	} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %q (the client's own count):\n%s", want, metrics)
		}
	}
	cancel()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	out := rest()
	for _, want := range []string{"served ", "GetObject", "in flight: mean"} {
		if !strings.Contains(out, want) {
			t.Errorf("serve's summary lacks %q:\n%s", want, out)
		}
	}
	set, err := results.Read(outPath)
	if err != nil {
		t.Fatal(err)
	}
	g, err := set.Group()
	if err != nil {
		t.Fatal(err)
	}
	whole := 0
	for _, p := range g.Points {
		name := p.Name()
		if !strings.HasPrefix(name, "Serve/profile=none") {
			t.Errorf("unexpected line %s", name)
			continue
		}
		if rate, ns := p.Median(results.RequestsPerSecond), p.Median(results.NsPerOp); math.Abs(rate*ns/1e9-1) > 1e-6 {
			t.Errorf("%s: requests/s %v x ns/op %v, want 1e9", name, rate, ns)
		}
		if !strings.Contains(name, "/at=") {
			whole++
			if gets := p.Median(results.GetsPerSecond) * p.Median(results.NsPerOp) * float64(p.Iters()[0]) / 1e9; math.Round(gets) != float64(len(idx)+1) {
				t.Errorf("%s: %v GETs over the run, want %d", name, gets, len(idx)+1)
			}
		}
	}
	if whole != 1 {
		t.Errorf("%s holds %d lines for the whole run, want 1", outPath, whole)
	}
}

// serveStore returns a client of the server cfg names, and a store over
// its bucket.
func serveStore(t *testing.T, ctx context.Context, cfg s3blob.Config) (*s3.Client, *dataset.Store) {
	t.Helper()
	client, err := s3blob.NewClient(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s3blob.Open(client, cfg.Bucket, "")
	if err != nil {
		t.Fatal(err)
	}
	return client, dataset.NewStore(b)
}
