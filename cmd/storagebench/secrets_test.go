package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"io/fs"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/storagebench/storagebench/cases"
	"github.com/storagebench/storagebench/dataset/s3blob"
	"github.com/storagebench/storagebench/fakes"
	"github.com/storagebench/storagebench/fakes/fakestest"
)

// The secrets a user hands the command and the benchmarks, besides
// testSecret (main_test.go), which is the aws_secret_access_key of every
// configuration file writeS3Config writes. Each is told apart from the
// others, so that a leak says which way in leaked.
const (
	configToken = "SECRETsbX9q7-cfg-token-do-not-print"
	envSecret   = "SECRETsbX9q7-env-key-do-not-print"
	envToken    = "SECRETsbX9q7-env-token-do-not-print"
)

// secrets lists every secret with where it comes from.
var secrets = []struct{ from, value string }{
	{"the configuration's aws_secret_access_key", testSecret},
	{"the configuration's aws_session_token", configToken},
	{"$AWS_SECRET_ACCESS_KEY", envSecret},
	{"$AWS_SESSION_TOKEN", envToken},
}

// leakLen is the length of the shortest piece of a secret that counts as
// showing it: a truncated or partly quoted secret is still a leak.
const leakLen = 10

// findSecret reports the first secret that data shows, whole or a piece of
// at least leakLen bytes: where the secret comes from, and its offset in
// data.
func findSecret(data []byte) (from string, at int, found bool) {
	for _, s := range secrets { // whole secrets first, to say which leaked
		if i := bytes.Index(data, []byte(s.value)); i >= 0 {
			return s.from, i, true
		}
	}
	for _, s := range secrets {
		for j := 0; j+leakLen <= len(s.value); j++ {
			if i := bytes.Index(data, []byte(s.value[j:j+leakLen])); i >= 0 {
				return "part of " + s.from, i, true
			}
		}
	}
	return "", 0, false
}

// checkNoSecret fails tb if data, described by what, shows a secret.
func checkNoSecret(tb testing.TB, what string, data []byte) {
	tb.Helper()
	if from, at, ok := findSecret(data); ok {
		tb.Errorf("%s shows %s at byte %d: %q", what, from, at, data[max(at-200, 0):min(at+100, len(data))])
	}
}

// filesWithSecret walks dir and returns each file or folder under it
// whose name or, for a regular file, content shows a secret, with where
// that secret comes from, and how many regular files it read.
func filesWithSecret(dir string) (leaks map[string]string, files int, err error) {
	leaks = map[string]string{}
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		if from, _, ok := findSecret([]byte(rel)); ok {
			leaks[path] = from + ", in its name"
		}
		if !d.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		if from, _, ok := findSecret(data); ok {
			leaks[path] = from
		}
		return nil
	})
	return leaks, files, err
}

// checkTreeNoSecret fails tb if a file or folder under dir shows a
// secret.
func checkTreeNoSecret(tb testing.TB, dir string) {
	tb.Helper()
	leaks, _, err := filesWithSecret(dir)
	if err != nil {
		tb.Fatal(err)
	}
	for path, from := range leaks {
		tb.Errorf("%s shows %s", path, from)
		if data, err := os.ReadFile(path); err == nil {
			checkNoSecret(tb, "the file "+path, data)
		}
	}
}

// TestSecretScanner checks that the scanner the other tests rely on finds
// every secret, whole, quoted, truncated or cut at either end, in output
// and in a tree of files, and nothing in output that has none.
func TestSecretScanner(t *testing.T) {
	for _, s := range secrets {
		quoted, err := json.Marshal(map[string]string{"k": s.value})
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name string
			data string
			want bool
		}{
			{name: "whole", data: "storagebench: s3 config: " + s.value + "\n", want: true},
			{name: "in JSON", data: string(quoted), want: true},
			{name: "head", data: "token=" + s.value[:leakLen] + "...", want: true},
			{name: "tail", data: s.value[len(s.value)-leakLen:], want: true},
			{name: "too short a piece", data: s.value[:leakLen-1] + " " + s.value[len(s.value)-leakLen+1:]},
		} {
			t.Run(s.from+"/"+tc.name, func(t *testing.T) {
				from, _, got := findSecret([]byte(tc.data))
				if got != tc.want {
					t.Errorf("findSecret(%q) = %q, %v; want found %v", tc.data, from, got, tc.want)
				}
			})
		}
	}
	clean := "storagebench: gen s3://bucket/val/: operation error S3: ListObjectsV2, https response error StatusCode: 500, api error InternalError: We encountered an internal error.\n"
	if from, at, ok := findSecret([]byte(clean)); ok {
		t.Errorf("findSecret(%q) found %s at %d, want nothing", clean, from, at)
	}

	dir := t.TempDir()
	files := map[string]string{
		"clean.txt":                          clean,
		"charts/deep/leak.svg":               "<svg><!-- " + envToken + " --></svg>",
		"home/.cache/x.bin":                  "\x00\x01" + configToken[5:5+leakLen] + "\xff",
		testSecret[:leakLen] + "/index.json": "[]",
	}
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	leaks, n, err := filesWithSecret(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		filepath.Join(dir, "charts", "deep", "leak.svg"):       "$AWS_SESSION_TOKEN",
		filepath.Join(dir, "home", ".cache", "x.bin"):          "part of the configuration's aws_session_token",
		filepath.Join(dir, testSecret[:leakLen]):               "part of the configuration's aws_secret_access_key, in its name",
		filepath.Join(dir, testSecret[:leakLen], "index.json"): "part of the configuration's aws_secret_access_key, in its name",
	}
	if n != len(files) || len(leaks) != len(want) {
		t.Errorf("filesWithSecret read %d files and found %v, want %d files and %v", n, leaks, len(files), want)
	}
	for p, from := range want {
		if leaks[p] != from {
			t.Errorf("filesWithSecret: %s shows %q, want %q", p, leaks[p], from)
		}
	}

	// The command, run as a child, is caught showing a secret it was
	// handed: here as part of an argument it repeats in its error.
	work := t.TempDir()
	r := runCommand(t, work, nil, "index", filepath.Join(work, envSecret))
	if r.err == nil {
		t.Fatalf("run(%q) succeeded, want an error naming the missing folder", r.args)
	}
	if from, _, ok := findSecret([]byte(r.stderr)); !ok || from != "$AWS_SECRET_ACCESS_KEY" {
		t.Errorf("findSecret(stderr %q) = %q, %v; want the secret found", r.stderr, from, ok)
	}
}

// childRun is a finished child process.
type childRun struct {
	args           []string
	stdout, stderr string
	err            error // from exec.Cmd.Run: nil for exit status 0
	elapsed        time.Duration
}

// childTimeout bounds a child process; none should come close.
const childTimeout = 2 * time.Minute

// runChild runs exe with args in the folder work as a user would there:
// with this process's environment (which hermeticAWS and the test set)
// minus every STORAGEBENCH_ variable, with HOME and TMPDIR inside work, so
// that every file it writes is under work, and with vars.
func runChild(t *testing.T, work, exe string, vars map[string]string, args ...string) childRun {
	t.Helper()
	home, tmp := filepath.Join(work, "home"), filepath.Join(work, "tmp")
	for _, d := range []string{home, tmp} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), childTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, args...)
	cmd.Dir = work
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, cases.Prefix) {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "HOME="+home, "TMPDIR="+tmp)
	for k, v := range vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r := childRun{args: args, stdout: stdout.String(), stderr: stderr.String(), err: err, elapsed: time.Since(start)}
	if ctx.Err() != nil {
		t.Fatalf("%q did not end within %v\nstdout:\n%s\nstderr:\n%s", args, childTimeout, r.stdout, r.stderr)
	}
	return r
}

// runCommand runs the storagebench command (this test binary, running
// main) as runChild does.
func runCommand(t *testing.T, work string, vars map[string]string, args ...string) childRun {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	all := map[string]string{runMainEnv: "1"}
	for k, v := range vars {
		all[k] = v
	}
	return runChild(t, work, exe, all, args...)
}

// benchArgs are the flags of a short run of the Raw and Load benchmarks:
// a Load line is then as long as its minimums, sized by the harness.
var benchArgs = []string{"-test.run=^$", "-test.bench=^Benchmark(Raw|Load)$", "-test.benchtime=1ms", "-test.short"}

// benchVars returns the variables of a short benchmark run on the s3
// backend alone, with the configuration file cfg and its index cached in
// the child's folder.
func benchVars(cfg string) map[string]string {
	return map[string]string{
		cases.S3Config:        cfg,
		cases.S3Index:         "index-cache.json",
		cases.Backend.Var:     "s3",
		cases.Mode.Var:        "sync",
		cases.Workers.Var:     "2",
		cases.Batch.Var:       "5",
		cases.Concurrency.Var: "2",
	}
}

// raceEnabled reports whether this binary was built with the race
// detector.
func raceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

// buildBench compiles package bench's test binary, which runs the
// benchmarks as go test -bench does, with the race detector when this
// binary has it, and returns its path; or "" when the benchmarks are not
// to run: under -short (as in package bench, whose tests of benchmarks
// skip then), without the go command, or when the build fails, which fails
// t but lets the tests of the command go on.
func buildBench(t *testing.T) string {
	t.Helper()
	return buildBenchBinary(t, raceEnabled())
}

// buildBenchBinary is [buildBench], with the race detector when race is
// set.
func buildBenchBinary(t *testing.T, race bool) string {
	t.Helper()
	if testing.Short() {
		t.Log("-short: the benchmarks do not run")
		return ""
	}
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Logf("the benchmarks do not run: go command not found: %v", err)
		return ""
	}
	bin := filepath.Join(t.TempDir(), "bench.test")
	args := []string{"test", "-c", "-o", bin}
	if race {
		args = append(args, "-race")
	}
	args = append(args, "./bench")
	cmd := exec.CommandContext(t.Context(), goCmd, args...)
	cmd.Dir = filepath.Join("..", "..")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("go %q: %v; the benchmarks do not run\n%s", args, err, out)
		return ""
	}
	return bin
}

// needBench skips t when the benchmarks do not run.
func needBench(t *testing.T, bench string) {
	t.Helper()
	if bench == "" {
		t.Skip("the benchmarks do not run (see TestSecrets)")
	}
}

// tokenLog records the session tokens of the requests a server receives.
type tokenLog struct {
	mu   sync.Mutex
	seen map[string]bool
}

func (l *tokenLog) record(r *http.Request) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.seen == nil {
		l.seen = map[string]bool{}
	}
	l.seen[r.Header.Get("X-Amz-Security-Token")] = true
}

// checkSaw fails t unless a request carried the session token tok: the
// secret reached the store, so the test did hand it to the command.
func (l *tokenLog) checkSaw(t *testing.T, tok string) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.seen[tok] {
		var from string
		for _, s := range secrets {
			if s.value == tok {
				from = s.from
			}
		}
		t.Errorf("no request carried %s as its session token; the tokens seen: %d", from, len(l.seen))
	}
}

// proxyS3 is a loopback reverse proxy in front of a fake S3 server: it
// records the session tokens of the requests it passes on, and can stop
// partway, as a store that disappears does.
type proxyS3 struct {
	tokenLog
	URL      string
	stopping chan struct{} // closed once the proxy has answered its last request
}

// newProxyS3 starts a proxy to the server at target. With stopAt not nil,
// once n requests for which stopAt is true have been answered, the proxy
// closes its listener and connections, refusing every request after.
func newProxyS3(t *testing.T, target string, stopAt func(*http.Request) bool, n int64) *proxyS3 {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ErrorLog = log.New(io.Discard, "", 0)
	p := &proxyS3{stopping: make(chan struct{})}
	var count atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.record(r)
		rp.ServeHTTP(w, r)
		if stopAt != nil && stopAt(r) && count.Add(1) == n {
			close(p.stopping)
		}
	}))
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	ctx := t.Context()
	go func() {
		select {
		case <-p.stopping:
			srv.Close() // waits for the handler that closed stopping
		case <-ctx.Done():
		}
	}()
	return p
}

// errorS3 starts a loopback server that answers every request as S3 does
// when it fails, with status and an XML error of code and message, and
// records the session tokens of the requests. With echo, the error also
// holds the canonical request, the security token's header included, as
// S3's SignatureDoesNotMatch does.
func errorS3(t *testing.T, status int, code, message string, echo bool) (string, *tokenLog) {
	t.Helper()
	var l tokenLog
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		l.record(r)
		w.Header().Set("Content-Type", "application/xml")
		w.Header().Set("X-Amz-Request-Id", "4442587FB7D0A2F9")
		w.WriteHeader(status)
		if r.Method == http.MethodHead {
			return
		}
		io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?>`+"\n<Error><Code>"+code+"</Code><Message>"+message+"</Message>")
		if echo {
			io.WriteString(w, "<AWSAccessKeyId>storagebench-test</AWSAccessKeyId><CanonicalRequest>")
			xml.EscapeText(w, []byte(r.Method+"\n"+r.URL.Path+"\n"+r.URL.RawQuery+"\nhost:"+r.Host+
				"\nx-amz-security-token:"+r.Header.Get("X-Amz-Security-Token")+"\n"))
			io.WriteString(w, "</CanonicalRequest>")
		}
		io.WriteString(w, "<RequestId>4442587FB7D0A2F9</RequestId></Error>")
	}))
	t.Cleanup(srv.Close)
	return srv.URL, &l
}

// writeConfigText writes text, with $SECRET, $TOKEN and $ENDPOINT replaced
// by testSecret, configToken and endpoint, to a configuration file of its
// own, outside every folder the tests scan, and returns its path.
func writeConfigText(t *testing.T, text, endpoint string) string {
	t.Helper()
	text = strings.NewReplacer("$SECRET", testSecret, "$TOKEN", configToken, "$ENDPOINT", endpoint).Replace(text)
	path := filepath.Join(t.TempDir(), "s3.json")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// envKeysConfig writes cfg, with no keys so that the environment's apply,
// to a configuration file of its own and returns its path.
func envKeysConfig(t *testing.T, cfg s3blob.Config) string {
	t.Helper()
	data, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return writeConfigText(t, string(data), "")
}

// TestSecrets hands the command and the benchmarks secrets in the S3
// configuration file (aws_secret_access_key and aws_session_token) and in
// the environment (AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN), and checks
// that none shows in what they print or in any file they write, when they
// succeed and when they fail, each failure with an error that names what
// is wrong.
func TestSecrets(t *testing.T) {
	hermeticAWS(t)
	t.Setenv("AWS_SECRET_ACCESS_KEY", envSecret)
	t.Setenv("AWS_SESSION_TOKEN", envToken)
	// A configuration with no endpoint_url reaches nothing but loopback.
	t.Setenv("AWS_ENDPOINT_URL", closedEndpoint(t))
	bench := buildBench(t)
	t.Run("success", func(t *testing.T) {
		t.Parallel()
		testSecretsSuccess(t, bench)
	})
	t.Run("malformed config", func(t *testing.T) {
		t.Parallel()
		testSecretsMalformed(t, bench)
	})
	t.Run("failing store", func(t *testing.T) {
		t.Parallel()
		testSecretsFailingStore(t, bench)
	})
	t.Run("store stops", func(t *testing.T) {
		t.Parallel()
		testSecretsStoreStops(t, bench)
	})
}

// A step is one run of the command or of the benchmarks that must
// succeed.
type step struct {
	name       string
	bench      bool // run the benchmarks, appending their output to bench.txt
	afterBench bool // a command that reads bench.txt
	vars       map[string]string
	args       []string
	want       string // in stdout
}

// runSteps runs steps in order in the folder work, checking that each
// succeeds, prints what it should and shows no secret; then that work
// holds the files named by wrote (when the benchmarks run), and that no
// file there shows a secret.
func runSteps(t *testing.T, bench, work string, wrote []string, steps []step) {
	t.Helper()
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if st.bench || st.afterBench {
				needBench(t, bench)
			}
			var r childRun
			if st.bench {
				r = runChild(t, work, bench, st.vars, st.args...)
				f, err := os.OpenFile(filepath.Join(work, "bench.txt"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
				if err != nil {
					t.Fatal(err)
				}
				_, err = io.WriteString(f, r.stdout)
				if err := errors.Join(err, f.Close()); err != nil {
					t.Fatal(err)
				}
			} else {
				r = runCommand(t, work, st.vars, st.args...)
			}
			if r.err != nil {
				t.Fatalf("%q: %v\nstdout:\n%s\nstderr:\n%s", r.args, r.err, r.stdout, r.stderr)
			}
			if !strings.Contains(r.stdout, st.want) {
				t.Errorf("%q printed %q, want it to contain %q", r.args, r.stdout, st.want)
			}
			checkNoSecret(t, "stdout", []byte(r.stdout))
			checkNoSecret(t, "stderr", []byte(r.stderr))
		})
	}
	if bench != "" {
		for _, name := range wrote {
			if _, err := os.Stat(filepath.Join(work, name)); err != nil {
				t.Errorf("the commands did not write %s: %v", name, err)
			}
		}
	}
	checkTreeNoSecret(t, work)
}

// testSecretsSuccess generates datasets on the fake S3, indexes one, runs
// the benchmarks on them, and plots and reports their results: with the
// keys from the configuration file, and from the environment.
func testSecretsSuccess(t *testing.T, bench string) {
	srv := fakestest.NewS3(t, fakes.S3Options{})
	store := newProxyS3(t, srv.URL, nil, 0)
	cfg := srv.Config("bucket")
	cfg.EndpointURL = store.URL
	cfg.SessionToken = configToken
	cfg.IndexURL = "s3://bucket/val/index.json"
	cfgPath := writeS3Config(t, cfg)
	envCfgPath := envKeysConfig(t, s3blob.Config{Bucket: "envbucket", IndexURL: "s3://envbucket/val/index.json", EndpointURL: store.URL})

	t.Run("keys", func(t *testing.T) {
		t.Run("in the configuration", func(t *testing.T) {
			t.Parallel()
			runSteps(t, bench, t.TempDir(), []string{"index.json", "index-cache.json", "bench.txt", "charts", "report.html"}, []step{
				{name: "gen", args: []string{"gen", "-n", "20", "-create-bucket", "-s3-config", cfgPath, "s3://bucket/val/"}, want: "wrote 20 items"},
				{name: "index", args: []string{"index", "-s3-config", cfgPath, "-o", "index.json", "s3://bucket/val/"}, want: "indexed 20 keys"},
				{
					name: "index with the configuration from the environment",
					vars: map[string]string{cases.S3Config: cfgPath},
					args: []string{"index", "s3://bucket/val/"}, want: `"val/`,
				},
				{name: "bench", bench: true, vars: benchVars(cfgPath), args: benchArgs, want: "BenchmarkLoad/backend=s3/"},
				{name: "plot", afterBench: true, args: []string{"plot", "-o", "charts", "bench.txt"}, want: ".svg"},
				{name: "report", afterBench: true, args: []string{"report", "-o", "report.html", "bench.txt"}, want: "wrote report.html"},
			})
		})
		t.Run("from the environment", func(t *testing.T) {
			t.Parallel()
			runSteps(t, bench, t.TempDir(), []string{"index-cache.json", "bench.txt"}, []step{
				{
					name: "gen with the endpoint from the environment too",
					vars: map[string]string{"AWS_ENDPOINT_URL_S3": store.URL},
					args: []string{"gen", "-n", "10", "-create-bucket", "s3://envbucket/val/"}, want: "wrote 10 items",
				},
				{
					name: "bench", bench: true, vars: benchVars(envCfgPath),
					args: []string{"-test.run=^$", "-test.bench=^BenchmarkRaw$", "-test.benchtime=1x", "-test.short"}, want: "BenchmarkRaw/backend=s3/",
				},
			})
		})
	})

	// What gen wrote to the buckets.
	for bucket, n := range map[string]int{"bucket": 20, "envbucket": 10} {
		written := bucketStore(t, srv, bucket, "")
		entries, err := written.List(t.Context(), "")
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != n+1 {
			t.Errorf("s3://%s holds %d objects, want %d items and an index", bucket, len(entries), n)
		}
		for _, e := range entries {
			data, _, err := written.Read(t.Context(), e.Key, nil)
			if err != nil {
				t.Fatal(err)
			}
			checkNoSecret(t, "s3://"+bucket+"/"+e.Key, data)
		}
	}
	// The secrets reached the store: the test did hand them over.
	store.checkSaw(t, configToken)
	store.checkSaw(t, envToken)
}

// runFailing runs one command of a failing case, the benchmarks (if bench
// is not "") or the storagebench command, in a new folder, and checks
// that it fails with an output containing every string of inErr and shows
// no secret, nor writes one to a file. It returns what the command
// printed on stdout.
func runFailing(t *testing.T, bench string, vars map[string]string, inErr []string, args ...string) string {
	t.Helper()
	work := t.TempDir()
	var r childRun
	if bench != "" {
		r = runChild(t, work, bench, vars, args...)
	} else {
		r = runCommand(t, work, vars, args...)
	}
	out := r.stdout + r.stderr
	var ee *exec.ExitError
	if !errors.As(r.err, &ee) || ee.ExitCode() <= 0 {
		t.Fatalf("%q ended with %v, want a failure (a non-zero exit status)\nstdout:\n%s\nstderr:\n%s", r.args, r.err, r.stdout, r.stderr)
	}
	if r.elapsed > failFast {
		t.Errorf("%q took %v to fail, want under %v", r.args, r.elapsed, failFast)
	}
	for _, s := range inErr {
		if !strings.Contains(out, s) {
			t.Errorf("%q printed\n%s\nwant it to contain %q", r.args, out, s)
		}
	}
	checkNoSecret(t, "stdout", []byte(r.stdout))
	checkNoSecret(t, "stderr", []byte(r.stderr))
	checkTreeNoSecret(t, work)
	return r.stdout
}

// runEachFailing runs gen, index and the benchmarks (unless bench is "")
// with the configuration file cfg on s3://BUCKET/val/, and checks that
// each fails, saying so and what inErr holds, with no secret shown.
func runEachFailing(t *testing.T, bench, cfg, bucket string, inErr []string) {
	t.Helper()
	dest := "s3://" + bucket + "/val/"
	t.Run("gen", func(t *testing.T) {
		runFailing(t, "", nil, append([]string{"storagebench: gen " + dest}, inErr...), "gen", "-n", "20", "-s3-config", cfg, dest)
	})
	t.Run("index", func(t *testing.T) {
		runFailing(t, "", nil, append([]string{"storagebench: index " + dest}, inErr...), "index", "-s3-config", cfg, "-o", "index.json", dest)
	})
	t.Run("bench", func(t *testing.T) {
		needBench(t, bench)
		// The store is checked before any line runs: the run fails at
		// once, naming the variable, and runs no benchmark.
		out := runFailing(t, bench, benchVars(cfg), append([]string{"storagebench: STORAGEBENCH_S3_CONFIG"}, inErr...), benchArgs...)
		if strings.Contains(out, "Benchmark") {
			t.Errorf("benchmarks ran before the store failed:\n%s", out)
		}
	})
}

// testSecretsMalformed gives the commands configuration files that are
// wrong near the secrets, and checks that each names the file and, for
// what JSON cannot decode, the line and column.
func testSecretsMalformed(t *testing.T, bench string) {
	endpoint := closedEndpoint(t)
	for _, tc := range []struct {
		name  string
		text  string   // $SECRET, $TOKEN and $ENDPOINT are replaced
		at    string   // the position the error names after the file's path
		inErr []string // what else it says
	}{
		{
			name: "no comma after the secret",
			text: `{
  "aws_access_key_id": "storagebench-test",
  "aws_secret_access_key": "$SECRET"
  "aws_session_token": "$TOKEN",
  "bucket_name": "bucket",
  "index_file_download_url": "s3://bucket/val/index.json",
  "endpoint_url": "$ENDPOINT"
}
`,
			at: ":4:3", inErr: []string{"after object key:value pair"},
		},
		{
			name: "secret not closed before the line ends",
			text: `{
  "aws_access_key_id": "storagebench-test",
  "aws_secret_access_key": "$SECRET,
  "aws_session_token": "$TOKEN",
  "bucket_name": "bucket"
}
`,
			at: ":3:59", inErr: []string{"in string literal"},
		},
		{
			name: "bad escape in the session token",
			text: `{
  "aws_access_key_id": "storagebench-test",
  "aws_secret_access_key": "$SECRET",
  "aws_session_token": "$TOKEN\q",
  "bucket_name": "bucket"
}
`,
			at: ":4:61", inErr: []string{"in string escape code"},
		},
		{
			name: "secret in an array",
			text: `{
  "aws_access_key_id": "storagebench-test",
  "aws_secret_access_key": ["$SECRET"],
  "bucket_name": "bucket"
}
`,
			at: ":3:28", inErr: []string{"cannot unmarshal array", "aws_secret_access_key"},
		},
		{
			name: "session token in an object",
			text: `{
  "aws_access_key_id": "storagebench-test",
  "aws_secret_access_key": "$SECRET",
  "aws_session_token": {"value": "$TOKEN"},
  "bucket_name": "bucket"
}
`,
			at: ":4:24", inErr: []string{"cannot unmarshal object", "aws_session_token"},
		},
		{
			name: "misspelled secret field",
			text: `{
  "aws_access_key_id": "storagebench-test",
  "aws_secret_acces_key": "$SECRET",
  "bucket_name": "bucket"
}
`,
			at: ":3:3", inErr: []string{`unknown field "aws_secret_acces_key"`},
		},
		{
			name: "session token as a field name",
			text: `{
  "aws_access_key_id": "storagebench-test",
  "aws_secret_access_key": "$SECRET",
  "$TOKEN": "",
  "bucket_name": "bucket"
}
`,
			at: ":4:3", inErr: []string{"unknown field"},
		},
		{
			name: "file ends in the secret",
			text: `{
  "aws_access_key_id": "storagebench-test",
  "aws_secret_access_key": "$SECRET`,
			at: ":3:58", inErr: []string{"unexpected EOF"},
		},
		{
			name: "secret after the object",
			text: `{
  "aws_access_key_id": "storagebench-test",
  "bucket_name": "bucket"
}
"$SECRET"
`,
			at: ":5:1", inErr: []string{"data after the configuration object"},
		},
		{
			name: "secret without its key ID",
			text: `{
  "aws_secret_access_key": "$SECRET",
  "aws_session_token": "$TOKEN",
  "bucket_name": "bucket",
  "index_file_download_url": "s3://bucket/val/index.json"
}
`,
			inErr: []string{"aws_access_key_id and aws_secret_access_key must be given together"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := writeConfigText(t, tc.text, endpoint)
			runEachFailing(t, bench, cfg, "bucket", append([]string{"s3 config " + cfg + tc.at + ": "}, tc.inErr...))
		})
	}
}

// A failure is a setting in which every command must fail.
type failure struct {
	cfg    string           // the configuration file the commands are given
	bucket string           // the bucket they name
	inErr  []string         // what every error must say
	after  func(*testing.T) // when not nil, checks what the store saw
}

// testSecretsFailingStore points the commands at stores that fail every
// request: none listening, server errors, a missing bucket, refused
// credentials.
func testSecretsFailingStore(t *testing.T, bench string) {
	const index = "s3://bucket/val/index.json"
	// withKeys writes a configuration with keys, the secrets among them;
	// withoutKeys one without, so that the environment's apply.
	withKeys := func(t *testing.T, endpoint string) string {
		return writeS3Config(t, s3blob.Config{Bucket: "bucket", IndexURL: index, EndpointURL: endpoint, SessionToken: configToken})
	}
	withoutKeys := func(t *testing.T, endpoint string) string {
		return envKeysConfig(t, s3blob.Config{Bucket: "bucket", IndexURL: index, EndpointURL: endpoint})
	}
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T) failure
	}{
		{
			name: "nothing listens",
			setup: func(t *testing.T) failure {
				endpoint := closedEndpoint(t)
				return failure{cfg: withKeys(t, endpoint), bucket: "bucket", inErr: []string{strings.TrimPrefix(endpoint, "http://"), "connection refused"}}
			},
		},
		{
			name: "nothing listens, keys from the environment",
			setup: func(t *testing.T) failure {
				endpoint := closedEndpoint(t)
				return failure{cfg: withoutKeys(t, endpoint), bucket: "bucket", inErr: []string{strings.TrimPrefix(endpoint, "http://"), "connection refused"}}
			},
		},
		{
			name: "500 InternalError",
			setup: func(t *testing.T) failure {
				endpoint, l := errorS3(t, http.StatusInternalServerError, "InternalError", "We encountered an internal error. Please try again.", false)
				return failure{
					cfg: withKeys(t, endpoint), bucket: "bucket", inErr: []string{"s3://bucket/val/", "StatusCode: 500", "InternalError"},
					after: func(t *testing.T) { l.checkSaw(t, configToken) },
				}
			},
		},
		{
			name: "503 SlowDown, keys from the environment",
			setup: func(t *testing.T) failure {
				endpoint, l := errorS3(t, http.StatusServiceUnavailable, "SlowDown", "Please reduce your request rate.", false)
				return failure{
					cfg: withoutKeys(t, endpoint), bucket: "bucket", inErr: []string{"s3://bucket/val/", "StatusCode: 503", "SlowDown"},
					after: func(t *testing.T) { l.checkSaw(t, envToken) },
				}
			},
		},
		{
			name: "403 SignatureDoesNotMatch quoting the request",
			setup: func(t *testing.T) failure {
				endpoint, l := errorS3(t, http.StatusForbidden, "SignatureDoesNotMatch",
					"The request signature we calculated does not match the signature you provided. Check your key and signing method.", true)
				return failure{
					cfg: withKeys(t, endpoint), bucket: "bucket", inErr: []string{"s3://bucket/val/", "StatusCode: 403", "SignatureDoesNotMatch"},
					after: func(t *testing.T) { l.checkSaw(t, configToken) },
				}
			},
		},
		{
			name: "missing bucket",
			setup: func(t *testing.T) failure {
				srv := fakestest.NewS3(t, fakes.S3Options{})
				cfg := srv.Config("nosuchbucket")
				cfg.SessionToken = configToken
				cfg.IndexURL = "s3://nosuchbucket/val/index.json"
				return failure{cfg: writeS3Config(t, cfg), bucket: "nosuchbucket", inErr: []string{"s3://nosuchbucket/val/", "NoSuchBucket"}}
			},
		},
		{
			name: "MinIO, wrong secret key",
			setup: func(t *testing.T) failure {
				cfg := minioConfig(t)
				return failure{cfg: writeS3Config(t, cfg), bucket: "secrets", inErr: []string{"s3://secrets/val/", "StatusCode: 403", "SignatureDoesNotMatch"}}
			},
		},
		{
			name: "MinIO, unknown access key and a session token",
			setup: func(t *testing.T) failure {
				cfg := minioConfig(t)
				cfg.AccessKeyID = "storagebench-no-such-key"
				cfg.SessionToken = configToken
				return failure{cfg: writeS3Config(t, cfg), bucket: "secrets", inErr: []string{"s3://secrets/val/", "StatusCode: 403", "InvalidAccessKeyId"}}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := tc.setup(t)
			runEachFailing(t, bench, f.cfg, f.bucket, f.inErr)
			if f.after != nil {
				f.after(t)
			}
		})
	}
}

// minioConfig returns a configuration of the bucket "secrets" on the MinIO
// server that STORAGEBENCH_MINIO_* names (.ci/minio.sh start exports
// them), with its access key and testSecret as a wrong secret key, or
// skips t when there is none.
func minioConfig(t *testing.T) s3blob.Config {
	t.Helper()
	endpoint := os.Getenv("STORAGEBENCH_MINIO_ENDPOINT")
	if endpoint == "" {
		t.Skip("STORAGEBENCH_MINIO_ENDPOINT is not set; .ci/minio.sh start exports it")
	}
	return s3blob.Config{
		AccessKeyID:  os.Getenv("STORAGEBENCH_MINIO_ACCESS_KEY"),
		Bucket:       "secrets",
		IndexURL:     "s3://secrets/val/index.json",
		EndpointURL:  endpoint,
		Region:       os.Getenv("STORAGEBENCH_MINIO_REGION"),
		UsePathStyle: true,
	}
}

// testSecretsStoreStops stops the store while gen writes to it, and while
// BenchmarkLoad reads from it: among its first reads of items, those of
// the raw baseline it measures before the loader starts (the two read
// alike, so nothing the store sees tells them apart).
func testSecretsStoreStops(t *testing.T, bench string) {
	isItem := func(method string) func(*http.Request) bool {
		return func(r *http.Request) bool { return r.Method == method && strings.HasSuffix(r.URL.Path, ".JPEG") }
	}
	for _, tc := range []struct {
		name   string
		stopAt func(*http.Request) bool
		n      int64 // the requests stopAt counts before the store stops
		bench  bool
		args   []string // $CONFIG is replaced
		inErr  []string
	}{
		{
			name: "gen", stopAt: isItem(http.MethodPut), n: 5,
			args:  []string{"gen", "-n", "40", "-concurrency", "2", "-s3-config", "$CONFIG", "s3://bucket/val/"},
			inErr: []string{"storagebench: gen s3://bucket/val/", "connection refused"},
		},
		{
			name: "bench", stopAt: isItem(http.MethodGet), n: 30, bench: true,
			args:  []string{"-test.run=^$", "-test.bench=^BenchmarkLoad$", "-test.benchtime=2000x", "-test.short"},
			inErr: []string{"--- FAIL: BenchmarkLoad/backend=s3", "connection refused"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if tc.bench {
				needBench(t, bench)
			}
			srv := fakestest.NewS3(t, fakes.S3Options{Buckets: []string{"bucket"}})
			if tc.bench {
				// At the bucket's root, where the index's keys are relative
				// to the bucket as the benchmarks want them.
				if _, err := (fakes.Synth{N: 20, Seed: 5}).Write(t.Context(), bucketStore(t, srv, "bucket", ""), 4); err != nil {
					t.Fatal(err)
				}
			}
			store := newProxyS3(t, srv.URL, tc.stopAt, tc.n)
			cfg := srv.Config("bucket")
			cfg.EndpointURL = store.URL
			cfg.SessionToken = configToken
			cfg.IndexURL = "s3://bucket/index.json"
			cfgPath := writeS3Config(t, cfg)
			args := make([]string, len(tc.args))
			for i, a := range tc.args {
				args[i] = strings.ReplaceAll(a, "$CONFIG", cfgPath)
			}
			inErr := append([]string{strings.TrimPrefix(store.URL, "http://")}, tc.inErr...)
			if tc.bench {
				runFailing(t, bench, benchVars(cfgPath), inErr, args...)
			} else {
				runFailing(t, "", nil, inErr, args...)
			}
			select {
			case <-store.stopping: // before any request was refused
			default:
				t.Errorf("the store did not stop: fewer than %d requests reached it", tc.n)
			}
			store.checkSaw(t, configToken)
		})
	}
}
