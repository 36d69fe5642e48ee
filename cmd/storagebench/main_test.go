package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/storagebench/storagebench/cases"
	"github.com/storagebench/storagebench/dataset/s3blob"
)

// testSecret is the secret key of every configuration the tests write; no
// output may show it.
const testSecret = "do-not-print-this-secret-8c2f"

// runMainEnv, set to 1 in the environment of this test binary, makes
// TestMain run the command's main instead of the tests, so that a test can
// run the real command, signals and exit status included, as a subprocess.
const runMainEnv = "STORAGEBENCH_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main() // exits with status 2 on error
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestRun checks the dispatcher's own errors and each subcommand's -h.
func TestRun(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		wantErr error // nil: any error
		inErr   string
		usage   bool // whether a usage message is printed to stderr
	}{
		{name: "no subcommand", args: nil, inErr: "no subcommand", usage: true},
		{name: "help", args: []string{"help"}, wantErr: flag.ErrHelp, usage: true},
		{name: "unknown", args: []string{"frobnicate"}, inErr: `unknown subcommand "frobnicate"`},
		{name: "gen help", args: []string{"gen", "-h"}, wantErr: flag.ErrHelp, usage: true},
		{name: "index help", args: []string{"index", "-help"}, wantErr: flag.ErrHelp, usage: true},
		{name: "serve help", args: []string{"serve", "-h"}, wantErr: flag.ErrHelp, usage: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, err := runArgs(t, t.Context(), tc.args...)
			if err == nil {
				t.Fatalf("run(%q) = nil, want an error", tc.args)
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("run(%q) = %v, want %v", tc.args, err, tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.inErr) {
				t.Errorf("run(%q) = %v, want an error containing %q", tc.args, err, tc.inErr)
			}
			if got := strings.Contains(stderr, "usage:"); got != tc.usage {
				t.Errorf("run(%q) printed %q to stderr; usage shown = %v, want %v", tc.args, stderr, got, tc.usage)
			}
		})
	}
}

// TestCommandProgressPiped runs the commands that show progress with
// stderr not a terminal, and checks that progress comes as plain lines on
// stderr only, ending with a summary of the count, while stdout holds the
// results alone.
func TestCommandProgressPiped(t *testing.T) {
	dir := t.TempDir()
	stale := filepath.Join(dir, "stale")
	for _, name := range []string{"a", "b", "c"} {
		if err := os.MkdirAll(stale, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(stale, name), []byte(name), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name       string
		args       []string
		wantStdout string   // the start of stdout's only line
		wantStderr []string // the starts of stderr's lines, in order
	}{
		{
			name:       "gen",
			args:       []string{"gen", "-n", "200", filepath.Join(dir, "new")},
			wantStdout: "wrote 200 items",
			wantStderr: []string{"gen: 200/200 items in "},
		},
		{
			name:       "gen -force",
			args:       []string{"gen", "-force", "-n", "20", stale},
			wantStdout: "wrote 20 items",
			wantStderr: []string{"gen: 20/20 items in ", "gen: remove: 3/3 objects in "},
		},
		{
			name:       "index",
			args:       []string{"index", "-o", filepath.Join(dir, "new.json"), filepath.Join(dir, "new")},
			wantStdout: "indexed 200 keys",
			wantStderr: []string{"index: 201 objects in "},
		},
	}
	for _, tc := range tests { // in order: index reads what gen wrote
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, err := runArgs(t, t.Context(), tc.args...)
			if err != nil {
				t.Fatalf("run(%q): %v\nstderr:\n%s", tc.args, err, stderr)
			}
			if !strings.HasPrefix(stdout, tc.wantStdout) || strings.Count(stdout, "\n") != 1 {
				t.Errorf("run(%q) printed %q to stdout, want one line starting %q", tc.args, stdout, tc.wantStdout)
			}
			if strings.Contains(stdout, "items/s") || strings.Contains(stdout, "objects/s") {
				t.Errorf("run(%q) printed progress %q to stdout", tc.args, stdout)
			}
			checkPlain(t, stderr)
			// A slow machine may add lines at tenths; the summaries come last.
			lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
			var got []string
			for _, l := range lines {
				if strings.Contains(l, " in ") {
					got = append(got, l)
				}
			}
			if len(got) != len(tc.wantStderr) {
				t.Fatalf("run(%q) printed summaries %q to stderr, want %d starting %q", tc.args, got, len(tc.wantStderr), tc.wantStderr)
			}
			for i, want := range tc.wantStderr {
				if !strings.HasPrefix(got[i], want) {
					t.Errorf("run(%q) summary %d is %q, want it to start %q", tc.args, i, got[i], want)
				}
			}
		})
	}
}

// checkPlain fails the test if out holds a carriage return or an escape
// sequence, which progress on a writer that is not a terminal must not write.
func checkPlain(tb testing.TB, out string) {
	tb.Helper()
	if i := strings.IndexAny(out, "\r\x1b"); i >= 0 {
		tb.Errorf("plain progress wrote the control character %q at byte %d of %q", out[i], i, out)
	}
}

// runArgs runs the command line args through run and returns what it
// printed to stdout and stderr.
func runArgs(tb testing.TB, ctx context.Context, args ...string) (stdout, stderr string, err error) {
	tb.Helper()
	var out, errOut bytes.Buffer
	err = run(ctx, &out, &errOut, args)
	return out.String(), errOut.String(), err
}

// hermeticAWS sets the environment so that the AWS SDK's default chain
// finds static credentials and a region at once and never reads the user's
// files, probes instance metadata or picks up an endpoint or
// $STORAGEBENCH_S3_CONFIG from the environment.
func hermeticAWS(tb testing.TB) {
	tb.Helper()
	dir := tb.TempDir()
	for k, v := range map[string]string{
		"AWS_EC2_METADATA_DISABLED":   "true",
		"AWS_ACCESS_KEY_ID":           "storagebench-test",
		"AWS_SECRET_ACCESS_KEY":       testSecret,
		"AWS_SESSION_TOKEN":           "",
		"AWS_REGION":                  "us-east-1",
		"AWS_PROFILE":                 "",
		"AWS_CONFIG_FILE":             filepath.Join(dir, "no-aws-config"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "no-aws-credentials"),
		"AWS_ENDPOINT_URL":            "",
		"AWS_ENDPOINT_URL_S3":         "",
		cases.S3Config:                "",
	} {
		tb.Setenv(k, v)
	}
}

// writeS3Config writes cfg, with [testSecret] as its secret key, to a
// file of its own and returns the file's path.
func writeS3Config(tb testing.TB, cfg s3blob.Config) string {
	tb.Helper()
	cfg.SecretAccessKey = testSecret
	if cfg.AccessKeyID == "" {
		cfg.AccessKeyID = "storagebench-test"
	}
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

// closedEndpoint returns the URL of a loopback port that nothing listens
// on.
func closedEndpoint(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		tb.Fatal(err)
	}
	return "http://" + addr
}

// refusingS3 starts a loopback server that answers every request as S3
// does a request signed with an unknown access key.
func refusingS3(tb testing.TB) string {
	tb.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusForbidden)
		if r.Method != http.MethodHead {
			io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+
				`<Error><Code>InvalidAccessKeyId</Code><Message>The AWS Access Key Id you provided does not exist in our records.</Message></Error>`)
		}
	}))
	tb.Cleanup(srv.Close)
	return srv.URL
}

// failFast bounds how long a command may take to fail, even against an
// unreachable endpoint.
const failFast = 15 * time.Second

// errorCase is a command line that must fail quickly, with an error that
// contains every string of inErr and output that never shows testSecret.
type errorCase struct {
	name  string
	args  []string // "$NAME" is replaced by vars["NAME"]
	inErr []string
	is    error // when not nil, the error must wrap it
}

// runErrorCases runs every case of cases as a subtest, with the
// placeholders of its arguments replaced from vars.
func runErrorCases(t *testing.T, vars map[string]string, cases []errorCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := make([]string, len(tc.args))
			for i, a := range tc.args {
				for k, v := range vars {
					a = strings.ReplaceAll(a, "$"+k, v)
				}
				args[i] = a
			}
			start := time.Now()
			stdout, stderr, err := runArgs(t, t.Context(), args...)
			elapsed := time.Since(start)
			if err == nil {
				t.Fatalf("run(%q) = nil, want an error; stdout:\n%s", args, stdout)
			}
			if elapsed > failFast {
				t.Errorf("run(%q) took %v to fail, want under %v", args, elapsed, failFast)
			}
			for _, s := range tc.inErr {
				for k, v := range vars {
					s = strings.ReplaceAll(s, "$"+k, v)
				}
				if !strings.Contains(err.Error(), s) {
					t.Errorf("run(%q) = %q, want an error containing %q", args, err, s)
				}
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("run(%q) = %v, want an error wrapping %v", args, err, tc.is)
			}
			for what, s := range map[string]string{"error": err.Error(), "stdout": stdout, "stderr": stderr} {
				if strings.Contains(s, testSecret) {
					t.Errorf("run(%q): %s shows the secret key: %s", args, what, s)
				}
			}
		})
	}
}
