package main

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/storagebench/storagebench/reqlog"
	"github.com/storagebench/storagebench/results"
)

// debianPython is where Debian's python3-torch and python3-boto3 install.
const debianPython = "/usr/bin/python3"

// torchPython returns the Python that imports torch and boto3, or skips.
func torchPython(t *testing.T) string {
	t.Helper()
	if out, err := exec.Command(debianPython, "-c", "import torch, boto3").CombinedOutput(); err != nil {
		t.Skipf("no torch and boto3 for %s (apt-get install python3-torch python3-boto3): %v\n%s", debianPython, err, out)
	}
	return debianPython
}

// TestPyTorchHarness runs pytorch/loadbench.py, PyTorch's DataLoader and
// boto3, against serve in both shapes, and checks its lines (named as
// BenchmarkLoad's plus client=torch, with a rate that agrees with ns/op
// and the dataset's mean size), its configuration lines, and that what
// it says it requested is exactly what serve counted and logged.
func TestPyTorchHarness(t *testing.T) {
	python := torchPython(t)
	hermeticAWS(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	dir := t.TempDir()
	cfgPath, outPath, logPath := filepath.Join(dir, "s3.json"), filepath.Join(dir, "served.txt"), filepath.Join(dir, "requests.csv.gz")
	_, rest, errc := startServe(t, ctx, "-addr", "127.0.0.1:0", "-n", "24", "-config-out", cfgPath,
		"-o", outPath, "-label", "client=torch", "-request-log", logPath)
	header := filepath.Join(dir, "go.txt")
	goHeader := "goos: " + runtime.GOOS + "\ngoarch: " + runtime.GOARCH + "\npkg: github.com/storagebench/storagebench/bench\ncpu: Test CPU  \n"
	if err := os.WriteFile(header, []byte(goHeader), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, python, "../../pytorch/loadbench.py", "-s3-config", cfgPath, "-modes", "sync,async",
		"-workers", "2", "-batch", "4", "-benchtime", "1x", "-header-from", header)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("loadbench.py: %v\n%s", err, stderr.String())
	}
	cancel()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	rest()
	out := stdout.String()
	for _, want := range []string{"dataset-items: 24\n", "\nstore-profile: none\n", "\ntorch-version: ", "\nboto3-version: ", goHeader} {
		if !strings.Contains(out, want) {
			t.Errorf("loadbench.py's output lacks %q:\n%s", want, out)
		}
	}
	path := filepath.Join(dir, "torch.txt")
	if err := os.WriteFile(path, stdout.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	set, err := results.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	g, err := set.Group()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range g.Points {
		names = append(names, p.Name())
		rate, ns := p.Median(results.ItemsPerSecond), p.Median(results.NsPerOp)
		if math.Abs(rate*ns/1e9-1) > 1e-3 {
			t.Errorf("%s: items/s %v x ns/op %v, want 1e9", p.Name(), rate, ns)
		}
		if cpu := p.Median(results.CPUPerItem); !(cpu > 0) {
			t.Errorf("%s: cpu-ns/item %v, want > 0", p.Name(), cpu)
		}
	}
	suffix := "-" + strconv.Itoa(runtime.GOMAXPROCS(0))
	if want := "Load/backend=s3/profile=none/mode=sync/workers=2/batch=4/client=torch" + suffix +
		" Load/backend=s3/profile=none/mode=async/workers=2/batch=4/client=torch" + suffix; strings.Join(names, " ") != want {
		t.Errorf("lines %q, want %q", names, want)
	}

	// What the client counted, what the server counted and logged.
	m := regexp.MustCompile(`client requests: (\d+) GetObject, (\d+) bytes; (\d+) ListObjectsV2`).FindStringSubmatch(stderr.String())
	if m == nil {
		t.Fatalf("loadbench.py's stderr lacks its requests:\n%s", stderr.String())
	}
	gets, _ := strconv.ParseInt(m[1], 10, 64)
	getBytes, _ := strconv.ParseInt(m[2], 10, 64)
	f, err := os.Open(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := reqlog.Read(f, logPath)
	if err != nil {
		t.Fatal(err)
	}
	s := reqlog.Summarize(recs)
	if g := s.Op("GetObject"); g.Requests != gets || g.Bytes != getBytes || g.Statuses["200"] != gets {
		t.Errorf("serve logged %d GETs (%v) of %d bytes; the client counted %d of %d", g.Requests, g.Statuses, g.Bytes, gets, getBytes)
	}
	if l := s.Op("ListObjectsV2"); fmt.Sprint(l.Requests) != m[3] {
		t.Errorf("serve logged %d listings, the client counted %s", l.Requests, m[3])
	}
	for _, r := range recs {
		if r.Attempt != 1 {
			t.Errorf("%s %s: attempt %d, want botocore's 1", r.Op, r.Key, r.Attempt)
			break
		}
	}
	served, err := os.ReadFile(outPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(served), "BenchmarkServe/profile=none/client=torch-") {
		t.Errorf("serve -label client=torch wrote:\n%s", served)
	}
}

// TestPyTorchHarnessErrors: bad flags and files fail at once, naming
// what is wrong, never with a traceback or the secret.
func TestPyTorchHarnessErrors(t *testing.T) {
	python := torchPython(t)
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := `{"aws_access_key_id": "k", "aws_secret_access_key": "s3cr3t-value", "bucket_name": "b", "index_file_download_url": "s3://b/index.json", "endpoint_url": "http://127.0.0.1:1"}`
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no config", nil, "-s3-config (or STORAGEBENCH_S3_CONFIG)"},
		{"missing file", []string{"-s3-config", filepath.Join(dir, "nope.json")}, "nope.json: No such file"},
		{"bad json", []string{"-s3-config", write("bad.json", "{\n  \"bucket_name\": \n")}, "bad.json:3:1:"},
		{"unknown field", []string{"-s3-config", write("unknown.json", `{"bucket": "b"}`)}, `unknown field 'bucket'`},
		{"wrong type", []string{"-s3-config", write("type.json", `{"use_path_style": "yes"}`)}, `field 'use_path_style': want a bool`},
		{"bad index url", []string{"-s3-config", write("url.json", `{"bucket_name": "b", "index_file_download_url": "https://x/i.json"}`)}, "want s3://bucket/key"},
		{"bad mode", []string{"-s3-config", write("good.json", good), "-modes", "sync,fast"}, `'fast' is not sync or async`},
		{"bad workers", []string{"-s3-config", write("good.json", good), "-workers", "2,0"}, "-workers '2,0': want integers >= 1"},
		{"bad benchtime", []string{"-s3-config", write("good.json", good), "-benchtime", "soon"}, "-benchtime 'soon'"},
		{"unreachable", []string{"-s3-config", write("good.json", good), "-benchtime", "1x"}, "loadbench: Could not connect"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(python, append([]string{"../../pytorch/loadbench.py"}, tc.args...)...)
			cmd.Env = append(os.Environ(), "STORAGEBENCH_S3_CONFIG=", "AWS_EC2_METADATA_DISABLED=true")
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("succeeded:\n%s", out)
			}
			if !strings.Contains(string(out), tc.want) || strings.Contains(string(out), "Traceback") || strings.Contains(string(out), "s3cr3t") {
				t.Errorf("output %q, want %q, no traceback, no secret", out, tc.want)
			}
		})
	}
}

func TestCheckLabel(t *testing.T) {
	for label, want := range map[string]string{
		"":             "",
		"client=torch": "",
		"mode=sync/workers=4/batch=16/client=torch": "",
		"client":          "want key=value",
		"client=":         "want key=value",
		"a=b//c=d":        "want key=value",
		"client=py torch": "no space",
		"profile=s3":      "serve writes profile=",
		"at=1s":           "serve writes at=",
		"a=1/a=2":         "key a twice",
		"client=torch-2":  "-N suffix",
	} {
		err := checkLabel(label)
		if (err == nil) != (want == "") || err != nil && !strings.Contains(err.Error(), want) {
			t.Errorf("checkLabel(%q) = %v, want %q", label, err, want)
		}
	}
}
