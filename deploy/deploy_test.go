// Package deploy holds what runs storagebench's benchmarks as many ranks
// at once (a Kubernetes Indexed Job and its Dockerfile, a Slurm batch
// script, a torchrun-style local launcher); it has no Go code. Its tests
// check that the manifests and scripts agree with the variables and the
// output files the benchmarks and "storagebench merge" expect, and run the
// scripts against stub binaries.
package deploy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/storagebench/storagebench/cases"
)

const (
	jobFile     = "kubernetes/job.yaml"
	pvcFile     = "kubernetes/results-pvc.yaml"
	readerFile  = "kubernetes/results-reader.yaml"
	sbatchFile  = "slurm/storagebench.sbatch"
	launchFile  = "torchrun/launch.sh"
	resultsDir  = "/results"
	runIDField  = "metadata.labels['batch.kubernetes.io/controller-uid']"
	scriptLimit = 20 * time.Second // for one run of a script against stubs
)

// object is the part of a Kubernetes object the checks read; the YAML
// decoder leaves every other field out.
type object struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Spec objectSpec `yaml:"spec"`
}

// objectSpec holds the spec fields of a Job, a PersistentVolumeClaim and
// a Pod.
type objectSpec struct {
	podSpec        `yaml:",inline"`
	CompletionMode string `yaml:"completionMode"`
	Completions    *int   `yaml:"completions"`
	Parallelism    *int   `yaml:"parallelism"`
	BackoffLimit   *int   `yaml:"backoffLimit"`
	Template       struct {
		Spec podSpec `yaml:"spec"`
	} `yaml:"template"`
	AccessModes []string `yaml:"accessModes"`
}

type podSpec struct {
	RestartPolicy string      `yaml:"restartPolicy"`
	Containers    []container `yaml:"containers"`
	Volumes       []volume    `yaml:"volumes"`
}

type container struct {
	Name         string        `yaml:"name"`
	Command      []string      `yaml:"command"`
	Args         []string      `yaml:"args"`
	Env          []envVar      `yaml:"env"`
	VolumeMounts []volumeMount `yaml:"volumeMounts"`
}

type envVar struct {
	Name      string `yaml:"name"`
	Value     string `yaml:"value"`
	ValueFrom *struct {
		FieldRef *struct {
			FieldPath string `yaml:"fieldPath"`
		} `yaml:"fieldRef"`
	} `yaml:"valueFrom"`
}

type volumeMount struct {
	Name      string `yaml:"name"`
	MountPath string `yaml:"mountPath"`
}

type volume struct {
	Name   string `yaml:"name"`
	Secret *struct {
		SecretName string `yaml:"secretName"`
	} `yaml:"secret"`
	PersistentVolumeClaim *struct {
		ClaimName string `yaml:"claimName"`
	} `yaml:"persistentVolumeClaim"`
}

// readObjects decodes every YAML document of the files, in order.
func readObjects(tb testing.TB, files ...string) []object {
	tb.Helper()
	var objs []object
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		for i := 1; ; i++ {
			var o object
			err := dec.Decode(&o)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				tb.Fatalf("%s: document %d: %v", f, i, err)
			}
			objs = append(objs, o)
		}
	}
	return objs
}

var (
	benchtimeRE = regexp.MustCompile(`-test\.benchtime[= ]+['"]?([^\s'";|]+)`)
	countRE     = regexp.MustCompile(`^[1-9][0-9]*x$`)
	teeRE       = regexp.MustCompile(`\btee\s+(?:-a\s+)?"?` + regexp.QuoteMeta(resultsDir) + `/rank-\$\{?JOB_COMPLETION_INDEX\}?\.txt\b`)
)

// checkJob returns the problems of the benchmark Job among objs (the
// documents of job.yaml and of the results volume's claim), one sentence
// each; none for a Job that runs one rank per index, all at once, with
// the variables, secret and results volume the ranks need.
func checkJob(objs []object) []string {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	var jobs []*object
	claims := map[string]*object{}
	for i := range objs {
		switch o := &objs[i]; o.Kind {
		case "Job":
			jobs = append(jobs, o)
		case "PersistentVolumeClaim":
			claims[o.Metadata.Name] = o
		}
	}
	if len(jobs) != 1 {
		add("%d Job documents, want 1", len(jobs))
		return problems
	}
	job := jobs[0]
	if job.APIVersion != "batch/v1" {
		add("Job apiVersion %q, want batch/v1", job.APIVersion)
	}
	spec := job.Spec
	if spec.CompletionMode != "Indexed" {
		add("completionMode %q, want Indexed (each pod's rank is its JOB_COMPLETION_INDEX)", spec.CompletionMode)
	}
	if spec.BackoffLimit == nil || *spec.BackoffLimit != 0 {
		add("backoffLimit %s, want 0: a retried pod would rejoin the same run", show(spec.BackoffLimit))
	}
	pod := spec.Template.Spec
	if pod.RestartPolicy != "Never" {
		add("restartPolicy %q, want Never: a restarted pod would rejoin the same run", pod.RestartPolicy)
	}
	if len(pod.Containers) != 1 {
		add("%d containers, want 1", len(pod.Containers))
		return problems
	}
	c := pod.Containers[0]

	env := map[string]envVar{}
	for _, e := range c.Env {
		env[e.Name] = e
		if strings.HasPrefix(e.Name, cases.Prefix) && !cases.Known(e.Name) {
			add("env %s is not a variable of the suite (an unknown one stops every rank)", e.Name)
		}
	}

	world, err := strconv.Atoi(env[cases.WorldSize].Value)
	if err != nil {
		add("%s %q: want the number of ranks", cases.WorldSize, env[cases.WorldSize].Value)
	} else if spec.Completions == nil || spec.Parallelism == nil || *spec.Completions != world || *spec.Parallelism != world {
		add("completions %s, parallelism %s and %s %d: want one number, the world size, so that every rank runs at once",
			show(spec.Completions), show(spec.Parallelism), cases.WorldSize, world)
	}
	if e := env[cases.RunID]; e.ValueFrom == nil || e.ValueFrom.FieldRef == nil || e.ValueFrom.FieldRef.FieldPath != runIDField {
		add("%s is not taken from %s: it must be the same in every pod of the Job and new for each Job", cases.RunID, runIDField)
	}
	if env[cases.Rendezvous].Value == "" {
		add("%s is not set: the ranks have nowhere to meet", cases.Rendezvous)
	}

	volumes := map[string]volume{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = v
	}
	var secretMounts []string
	var results *volume
	for _, m := range c.VolumeMounts {
		v, ok := volumes[m.Name]
		if !ok {
			add("volumeMount %s names no volume", m.Name)
			continue
		}
		if v.Secret != nil {
			secretMounts = append(secretMounts, m.MountPath)
		}
		if m.MountPath == resultsDir {
			results = &v
		}
	}
	if cfg := env[cases.S3Config].Value; !slices.ContainsFunc(secretMounts, func(dir string) bool { return under(cfg, dir) }) {
		add("%s %q is not in a volume from a Secret (mounted: %q)", cases.S3Config, cfg, secretMounts)
	}
	switch {
	case results == nil:
		add("nothing is mounted at %s", resultsDir)
	case results.PersistentVolumeClaim == nil:
		add("%s is not mounted from a persistentVolumeClaim: the results would go with the pods", resultsDir)
	default:
		name := results.PersistentVolumeClaim.ClaimName
		if claim, ok := claims[name]; !ok {
			add("%s is mounted from claim %q, which no PersistentVolumeClaim document defines", resultsDir, name)
		} else if !slices.Contains(claim.Spec.AccessModes, "ReadWriteMany") {
			add("claim %q has access modes %q, want ReadWriteMany: every rank writes to it at once", name, claim.Spec.AccessModes)
		}
	}
	if tl := env[cases.Timeline].Value; !under(tl, resultsDir) || !strings.HasSuffix(tl, "/") {
		add("%s %q: want a folder (ending in /) in %s", cases.Timeline, tl, resultsDir)
	}

	script := strings.Join(append(slices.Clone(c.Command), c.Args...), " ")
	if m := benchtimeRE.FindStringSubmatch(script); m == nil {
		add("the command gives no -test.benchtime: the default, 1s, is a duration")
	} else if !countRE.MatchString(m[1]) {
		add("-test.benchtime %s: want a count of steps such as 200x, so that every rank runs the same steps", m[1])
	}
	if !teeRE.MatchString(script) {
		add("the command does not tee its output to %s/rank-${JOB_COMPLETION_INDEX}.txt", resultsDir)
	}
	return problems
}

// show formats an optional number.
func show(n *int) string {
	if n == nil {
		return "unset"
	}
	return strconv.Itoa(*n)
}

// under reports whether path lies in folder dir.
func under(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return path != "" && filepath.IsAbs(path) && err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}

// jobContainer returns the Job's container in objs.
func jobContainer(tb testing.TB, objs []object) *container {
	tb.Helper()
	for i := range objs {
		if objs[i].Kind == "Job" && len(objs[i].Spec.Template.Spec.Containers) > 0 {
			return &objs[i].Spec.Template.Spec.Containers[0]
		}
	}
	tb.Fatal("no Job with a container")
	return nil
}

// jobSpec returns the Job's spec in objs.
func jobSpec(tb testing.TB, objs []object) *objectSpec {
	tb.Helper()
	for i := range objs {
		if objs[i].Kind == "Job" {
			return &objs[i].Spec
		}
	}
	tb.Fatal("no Job")
	return nil
}

// setEnv gives the Job's variable name the value, or removes it for "".
func setEnv(tb testing.TB, objs []object, name, value string) {
	tb.Helper()
	c := jobContainer(tb, objs)
	i := slices.IndexFunc(c.Env, func(e envVar) bool { return e.Name == name })
	if i < 0 {
		tb.Fatalf("the Job sets no %s", name)
	}
	if value == "" {
		c.Env = slices.Delete(c.Env, i, i+1)
		return
	}
	c.Env[i] = envVar{Name: name, Value: value}
}

// editScript replaces from with to in the Job's command.
func editScript(tb testing.TB, objs []object, from, to string) {
	tb.Helper()
	c := jobContainer(tb, objs)
	for i, s := range c.Command {
		if strings.Contains(s, from) {
			c.Command[i] = strings.ReplaceAll(s, from, to)
			return
		}
	}
	tb.Fatalf("the Job's command has no %q", from)
}

// ptr returns a pointer to a copy of n.
func ptr(n int) *int { return &n }

// TestJobManifest checks job.yaml with its results claim, then that each
// mistake made in a copy is the one new problem found.
func TestJobManifest(t *testing.T) {
	files := []string{jobFile, pvcFile}
	base := checkJob(readObjects(t, files...))
	if len(base) > 0 {
		t.Errorf("%s: %d problems:\n%s", jobFile, len(base), strings.Join(base, "\n"))
	}

	for _, tc := range []struct {
		name   string
		mutate func(testing.TB, []object)
		want   string
	}{
		{"completions", func(tb testing.TB, o []object) { jobSpec(tb, o).Completions = ptr(3) }, "completions 3, parallelism 4"},
		{"parallelism unset", func(tb testing.TB, o []object) { jobSpec(tb, o).Parallelism = nil }, "parallelism unset"},
		{"world size", func(tb testing.TB, o []object) { setEnv(tb, o, cases.WorldSize, "8") }, "STORAGEBENCH_WORLD_SIZE 8"},
		{"world size not a number", func(tb testing.TB, o []object) { setEnv(tb, o, cases.WorldSize, "four") }, `STORAGEBENCH_WORLD_SIZE "four"`},
		{"not indexed", func(tb testing.TB, o []object) { jobSpec(tb, o).CompletionMode = "NonIndexed" }, `completionMode "NonIndexed"`},
		{"retries", func(tb testing.TB, o []object) { jobSpec(tb, o).BackoffLimit = ptr(6) }, "backoffLimit 6"},
		{"retries by default", func(tb testing.TB, o []object) { jobSpec(tb, o).BackoffLimit = nil }, "backoffLimit unset"},
		{"restarts", func(tb testing.TB, o []object) { jobSpec(tb, o).Template.Spec.RestartPolicy = "OnFailure" }, `restartPolicy "OnFailure"`},
		{"not a Job", func(tb testing.TB, o []object) {
			for i := range o {
				if o[i].Kind == "Job" {
					o[i].Kind = "Deployment"
				}
			}
		}, "0 Job documents"},
		{"old API", func(tb testing.TB, o []object) {
			for i := range o {
				if o[i].Kind == "Job" {
					o[i].APIVersion = "batch/v1beta1"
				}
			}
		}, `apiVersion "batch/v1beta1"`},
		{"run id of the pod", func(tb testing.TB, o []object) {
			c := jobContainer(tb, o)
			for i := range c.Env {
				if c.Env[i].Name == cases.RunID {
					c.Env[i].ValueFrom.FieldRef.FieldPath = "metadata.uid"
				}
			}
		}, "STORAGEBENCH_RUN_ID is not taken from"},
		{"run id fixed", func(tb testing.TB, o []object) { setEnv(tb, o, cases.RunID, "run-1") }, "STORAGEBENCH_RUN_ID is not taken from"},
		{"no rendezvous", func(tb testing.TB, o []object) { setEnv(tb, o, cases.Rendezvous, "") }, "STORAGEBENCH_RENDEZVOUS is not set"},
		{"unknown variable", func(tb testing.TB, o []object) {
			c := jobContainer(tb, o)
			c.Env = append(c.Env, envVar{Name: "STORAGEBENCH_RUNID", Value: "x"})
		}, "env STORAGEBENCH_RUNID is not a variable"},
		{"config outside the secret", func(tb testing.TB, o []object) { setEnv(tb, o, cases.S3Config, "/etc/s3.json") }, `STORAGEBENCH_S3_CONFIG "/etc/s3.json" is not in a volume from a Secret`},
		{"config beside the secret", func(tb testing.TB, o []object) {
			setEnv(tb, o, cases.S3Config, "/etc/storagebench/../s3.json")
		}, "is not in a volume from a Secret"},
		{"secret not a secret", func(tb testing.TB, o []object) {
			p := &jobSpec(tb, o).Template.Spec
			for i := range p.Volumes {
				p.Volumes[i].Secret = nil
			}
		}, "is not in a volume from a Secret"},
		{"results not a claim", func(tb testing.TB, o []object) {
			p := &jobSpec(tb, o).Template.Spec
			for i := range p.Volumes {
				p.Volumes[i].PersistentVolumeClaim = nil
			}
		}, "/results is not mounted from a persistentVolumeClaim"},
		{"results claim misnamed", func(tb testing.TB, o []object) {
			p := &jobSpec(tb, o).Template.Spec
			for i := range p.Volumes {
				if c := p.Volumes[i].PersistentVolumeClaim; c != nil {
					c.ClaimName = "other"
				}
			}
		}, `claim "other", which no PersistentVolumeClaim`},
		{"results claim one node", func(tb testing.TB, o []object) {
			for i := range o {
				if o[i].Kind == "PersistentVolumeClaim" {
					o[i].Spec.AccessModes = []string{"ReadWriteOnce"}
				}
			}
		}, "want ReadWriteMany"},
		{"results elsewhere", func(tb testing.TB, o []object) {
			c := jobContainer(tb, o)
			for i := range c.VolumeMounts {
				if c.VolumeMounts[i].MountPath == resultsDir {
					c.VolumeMounts[i].MountPath = "/out"
				}
			}
		}, "nothing is mounted at /results"},
		{"timeline a file", func(tb testing.TB, o []object) { setEnv(tb, o, cases.Timeline, "/results/timeline.jsonl") }, "STORAGEBENCH_TIMELINE"},
		{"timeline lost", func(tb testing.TB, o []object) { setEnv(tb, o, cases.Timeline, "/tmp/") }, `STORAGEBENCH_TIMELINE "/tmp/"`},
		{"benchtime a duration", func(tb testing.TB, o []object) { editScript(tb, o, "-test.benchtime 200x", "-test.benchtime 10s") }, "-test.benchtime 10s"},
		{"benchtime default", func(tb testing.TB, o []object) { editScript(tb, o, "-test.benchtime 200x", "") }, "gives no -test.benchtime"},
		{"one rank file", func(tb testing.TB, o []object) { editScript(tb, o, "rank-${JOB_COMPLETION_INDEX}.txt", "rank-0.txt") }, "does not tee"},
		{"no tee", func(tb testing.TB, o []object) { editScript(tb, o, "tee ", "cat >") }, "does not tee"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs := readObjects(t, files...)
			tc.mutate(t, objs)
			var added []string
			for _, p := range checkJob(objs) {
				if !slices.Contains(base, p) {
					added = append(added, p)
				}
			}
			if len(added) != 1 || !strings.Contains(added[0], tc.want) {
				t.Errorf("new problems %q, want one containing %q", added, tc.want)
			}
		})
	}
}

// TestResultsReader checks that the reader pod mounts the Job's results
// claim, as the merge steps at the top of job.yaml expect.
func TestResultsReader(t *testing.T) {
	var claim, mounted string
	var pods int
	for _, o := range readObjects(t, readerFile, pvcFile) {
		switch o.Kind {
		case "PersistentVolumeClaim":
			claim = o.Metadata.Name
		case "Pod":
			pods++
			for _, v := range o.Spec.Volumes {
				if v.PersistentVolumeClaim == nil {
					continue
				}
				for _, c := range o.Spec.Containers {
					for _, m := range c.VolumeMounts {
						if m.Name == v.Name && m.MountPath == resultsDir {
							mounted = v.PersistentVolumeClaim.ClaimName
						}
					}
				}
			}
		}
	}
	if pods != 1 {
		t.Fatalf("%s: %d Pod documents, want 1", readerFile, pods)
	}
	if mounted != claim {
		t.Errorf("%s mounts claim %q at %s, want %q", readerFile, mounted, resultsDir, claim)
	}
}

// writeScript writes an executable shell script into dir.
func writeScript(tb testing.TB, dir, name, body string) string {
	tb.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		tb.Fatal(err)
	}
	return path
}

// run runs name with args, in the environment env only, and returns its
// stdout, its stderr and its exit status.
func run(tb testing.TB, env []string, name string, args ...string) (stdout, stderr string, status int) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(tb.Context(), scriptLimit)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ctx.Err() == nil:
		status = ee.ExitCode()
	default:
		tb.Fatalf("%s %q: %v\nstderr:\n%s", name, args, err, errb.String())
	}
	return out.String(), errb.String(), status
}

// lookPath returns the path of a command the test needs, or skips.
func lookPath(tb testing.TB, name string) string {
	tb.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		tb.Skipf("%s not found: %v", name, err)
	}
	return p
}

// readFile returns the contents of a file the script under test wrote.
func readFile(tb testing.TB, path string) string {
	tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return string(data)
}

// TestJobCommand runs the Job's container command with sh, a stub test
// binary on PATH and a temporary folder in place of /results: the rank
// file holds the binary's output, and the pod fails when the binary does
// or when the rank file cannot be written.
func TestJobCommand(t *testing.T) {
	sh := lookPath(t, "sh")
	c := jobContainer(t, readObjects(t, jobFile))
	if len(c.Command) != 3 || c.Command[1] != "-c" {
		t.Fatalf("command %q, want a shell and -c SCRIPT", c.Command)
	}
	script := c.Command[2]
	stubs := t.TempDir()
	writeScript(t, stubs, "storagebench.test", `echo "args: $*"
echo "a line on stderr" >&2
exit "$STUB_EXIT"
`)
	const wantOut = "args: -test.run ^$ -test.bench ^BenchmarkTrain$ -test.benchtime 200x\n"

	for _, tc := range []struct {
		name       string
		exit       int
		noResults  bool // the results folder is missing
		wantStatus int
	}{
		{"success", 0, false, 0},
		{"benchmark fails", 3, false, 3},
		{"results not writable", 0, true, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			results := t.TempDir()
			if tc.noResults {
				results = filepath.Join(results, "missing")
			}
			env := []string{
				"PATH=" + stubs + string(os.PathListSeparator) + os.Getenv("PATH"),
				"TMPDIR=" + t.TempDir(),
				"JOB_COMPLETION_INDEX=2",
				"STUB_EXIT=" + strconv.Itoa(tc.exit),
			}
			stdout, stderr, status := run(t, env, sh, "-c", strings.ReplaceAll(script, resultsDir+"/", results+"/"))
			if status != tc.wantStatus {
				t.Errorf("exit status %d, want %d; stderr:\n%s", status, tc.wantStatus, stderr)
			}
			if stdout != wantOut {
				t.Errorf("stdout %q, want %q", stdout, wantOut)
			}
			if tc.noResults {
				return
			}
			if got := readFile(t, filepath.Join(results, "rank-2.txt")); got != wantOut {
				t.Errorf("rank-2.txt holds %q, want %q", got, wantOut)
			}
		})
	}
}

// TestSlurmScript checks the batch script's syntax and its directives,
// then runs it with a stub srun (which starts the command once a task, as
// srun does, with %t in --output replaced by the task's rank), a stub test
// binary and a stub storagebench.
func TestSlurmScript(t *testing.T) {
	bash := lookPath(t, "bash")
	if _, stderr, status := run(t, os.Environ(), bash, "-n", sbatchFile); status != 0 {
		t.Fatalf("bash -n %s: exit status %d\n%s", sbatchFile, status, stderr)
	}
	src := readFile(t, sbatchFile)
	for _, tc := range []struct {
		name string
		re   string
	}{
		{"nodes", `(?m)^#SBATCH .*--nodes=\d+`},
		{"time limit", `(?m)^#SBATCH .*--time=`},
		{"srun", `(?m)^\s*srun\b`},
		{"rank files", `--output="?[^"\s]*/rank-%t\.txt`},
		{"benchtime a count", `-test\.benchtime[= ]+[1-9][0-9]*x\b`},
		{"merge", `storagebench merge|"\$CLI" merge`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !regexp.MustCompile(tc.re).MatchString(src) {
				t.Errorf("%s does not match %s", sbatchFile, tc.re)
			}
		})
	}

	stubs := t.TempDir()
	writeScript(t, stubs, "srun", `out= err=
while [ $# -gt 0 ]; do
	case $1 in
	--output=*) out=${1#*=} ;;
	--error=*) err=${1#*=} ;;
	-*) ;;
	*) break ;;
	esac
	shift
done
status=0
t=0
while [ "$t" -lt "$SLURM_NTASKS" ]; do
	SLURM_PROCID=$t "$@" >"${out%%\%t*}$t${out#*%t}" 2>"${err%%\%t*}$t${err#*%t}" || status=1
	t=$((t + 1))
done
exit $status
`)
	bin := writeScript(t, stubs, "storagebench.test", `echo "rank=$SLURM_PROCID timeline=$STORAGEBENCH_TIMELINE rendezvous=$STORAGEBENCH_RENDEZVOUS accel=$STORAGEBENCH_ACCEL args=$*"
echo '{}' >"${STORAGEBENCH_TIMELINE}timeline-rank$SLURM_PROCID.jsonl"
[ "$SLURM_PROCID" != "$STUB_FAIL_RANK" ] || { echo "rank $SLURM_PROCID: boom" >&2; exit 1; }
`)
	cli := writeScript(t, stubs, "storagebench", `echo "$*" >"$STUB_MERGE_ARGS"
echo "the per-rank table"
`)

	for _, tc := range []struct {
		name       string
		failRank   string
		wantStatus int
	}{
		{"success", "", 0},
		{"a rank fails", "2", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			submit := t.TempDir()
			config := filepath.Join(submit, "s3.json")
			if err := os.WriteFile(config, []byte("{}"), 0o600); err != nil {
				t.Fatal(err)
			}
			mergeArgs := filepath.Join(t.TempDir(), "merge-args")
			env := []string{
				"PATH=" + stubs + string(os.PathListSeparator) + os.Getenv("PATH"),
				"HOME=" + submit,
				"SLURM_JOB_ID=42",
				"SLURM_NTASKS=4",
				"SLURM_SUBMIT_DIR=" + submit,
				"BIN=" + bin,
				"CLI=" + cli,
				cases.S3Config + "=" + config,
				"STUB_FAIL_RANK=" + tc.failRank,
				"STUB_MERGE_ARGS=" + mergeArgs,
			}
			stdout, stderr, status := run(t, env, bash, sbatchFile)
			if status != tc.wantStatus {
				t.Fatalf("exit status %d, want %d; stderr:\n%s", status, tc.wantStatus, stderr)
			}
			out := filepath.Join(submit, "results", "42")
			for r := range 4 {
				want := fmt.Sprintf("rank=%d timeline=%s/ rendezvous=%s/rendezvous accel=8 args=-test.run ^$ -test.bench ^BenchmarkTrain$ -test.benchtime 200x\n", r, out, out)
				if got := readFile(t, filepath.Join(out, fmt.Sprintf("rank-%d.txt", r))); got != want {
					t.Errorf("rank-%d.txt holds %q, want %q", r, got, want)
				}
			}
			if tc.wantStatus != 0 {
				if !strings.Contains(stderr, "srun failed") {
					t.Errorf("stderr %q does not say srun failed", stderr)
				}
				if _, err := os.Stat(mergeArgs); err == nil {
					t.Errorf("merged the results of a failed run")
				}
				return
			}
			var files []string
			for r := range 4 {
				files = append(files, fmt.Sprintf("%s/rank-%d.txt", out, r))
			}
			for r := range 4 {
				files = append(files, fmt.Sprintf("%s/timeline-rank%d.jsonl", out, r))
			}
			wantArgs := "merge -o " + out + "/cluster.txt " + strings.Join(files, " ") + "\n"
			if got := readFile(t, mergeArgs); got != wantArgs {
				t.Errorf("storagebench ran with %q, want %q", got, wantArgs)
			}
			if stdout != "the per-rank table\n" {
				t.Errorf("stdout %q, want the merge's", stdout)
			}
		})
	}
}

// isolatedPath returns a PATH of symbolic links to the named commands
// only, so that a torchrun installed here is not found.
func isolatedPath(tb testing.TB, names ...string) string {
	tb.Helper()
	dir := tb.TempDir()
	for _, n := range names {
		if err := os.Symlink(lookPath(tb, n), filepath.Join(dir, n)); err != nil {
			tb.Fatal(err)
		}
	}
	return dir
}

// rankLine is what the stub test binary of TestTorchrunLaunch prints.
type rankLine struct {
	vars map[string]string
	args string
}

// parseRankFile reads the rank file at path that the stub wrote.
func parseRankFile(tb testing.TB, path string) rankLine {
	tb.Helper()
	vars, args, ok := strings.Cut(readFile(tb, path), "\nARGS=")
	if !ok {
		tb.Fatalf("%s: no ARGS line", path)
	}
	l := rankLine{vars: map[string]string{}, args: strings.TrimSuffix(args, "\n")}
	for _, f := range strings.Fields(vars) {
		k, v, _ := strings.Cut(f, "=")
		l.vars[k] = v
	}
	return l
}

// TestTorchrunLaunch runs launch.sh against a stub test binary: without
// torchrun on PATH (it starts the ranks itself) and with a stub torchrun
// (which records its arguments and starts the ranks as torchrun does).
func TestTorchrunLaunch(t *testing.T) {
	bash := lookPath(t, "bash")
	if _, stderr, status := run(t, os.Environ(), bash, "-n", launchFile); status != 0 {
		t.Fatalf("bash -n %s: exit status %d\n%s", launchFile, status, stderr)
	}
	tools := isolatedPath(t, "date", "mkdir", "tail", "cp", "grep")
	stubs := t.TempDir()
	bin := writeScript(t, stubs, "storagebench.test", `echo "RANK=$RANK WORLD_SIZE=$WORLD_SIZE LOCAL_RANK=$LOCAL_RANK LOCAL_WORLD_SIZE=$LOCAL_WORLD_SIZE TORCHELASTIC_RUN_ID=$TORCHELASTIC_RUN_ID STORAGEBENCH_TIMELINE=$STORAGEBENCH_TIMELINE STORAGEBENCH_RENDEZVOUS=$STORAGEBENCH_RENDEZVOUS"
echo "ARGS=$*"
[ "$RANK" != "$STUB_FAIL_RANK" ] || { echo "rank $RANK: boom" >&2; exit 1; }
`)
	fakeTorchrun := t.TempDir()
	writeScript(t, fakeTorchrun, "torchrun", `[ "$1" != --help ] || { echo "usage: torchrun [--nproc-per-node NPROC_PER_NODE] ..."; exit 0; }
echo "$*" >"$STUB_TORCHRUN_ARGS"
n= logs= id=
while [ $# -gt 0 ]; do
	case $1 in
	--nproc-per-node=*) n=${1#*=} ;;
	--log-dir=*) logs=${1#*=} ;;
	--rdzv-id=*) id=${1#*=} ;;
	-*) ;;
	*) break ;;
	esac
	shift
done
dir=$logs/${id}_x1y2z3/attempt_0
r=0
while [ "$r" -lt "$n" ]; do
	mkdir -p "$dir/$r"
	RANK=$r WORLD_SIZE=$n LOCAL_RANK=$r LOCAL_WORLD_SIZE=$n TORCHELASTIC_RUN_ID=$id "$@" >"$dir/$r/stdout.log" 2>"$dir/$r/stderr.log" || exit 1
	r=$((r + 1))
done
`)
	// PyTorch 1.13's torchrun (Debian's) takes --nproc_per_node only, and
	// fails on the launch's --redirects and --tee: never run.
	oldTorchrun := t.TempDir()
	writeScript(t, oldTorchrun, "torchrun", `[ "$1" != --help ] || { echo "usage: torchrun [--nproc_per_node NPROC_PER_NODE] ..."; exit 0; }
echo "torchrun 1.13 ran" >&2
exit 3
`)
	args := []string{"-test.run", "^$", "-test.benchtime", "2x"}

	for _, tc := range []struct {
		name       string
		torchrun   bool
		old        bool // an old torchrun on PATH, which the launch does without
		launchArgs []string
		env        []string
		ranks      int    // rank files to check, 0 for none
		wantStatus int    // exit status
		wantErr    string // in stderr
	}{
		{name: "three ranks", launchArgs: append([]string{"-n", "3"}, args...), ranks: 3},
		{name: "default four", launchArgs: args, ranks: 4},
		{name: "attached count", launchArgs: append([]string{"-n2", "--"}, args...), ranks: 2},
		{name: "rank 1 fails", launchArgs: append([]string{"-n", "3"}, args...), env: []string{"STUB_FAIL_RANK=1"}, ranks: 3,
			wantStatus: 1, wantErr: "1 of 3 ranks failed: rank 1 (exit 1)"},
		{name: "no ranks", launchArgs: []string{"-n", "0"}, wantStatus: 2, wantErr: "-n 0"},
		{name: "explicit rank set", launchArgs: args, env: []string{cases.Rank + "=0"}, wantStatus: 2, wantErr: cases.Rank + " is set"},
		{name: "torchrun", torchrun: true, launchArgs: append([]string{"-n", "3"}, args...), ranks: 3},
		{name: "old torchrun", old: true, launchArgs: append([]string{"-n", "2"}, args...), ranks: 2, wantErr: "predates PyTorch 2"},
		{name: "torchrun rank fails", torchrun: true, launchArgs: append([]string{"-n", "3"}, args...), env: []string{"STUB_FAIL_RANK=0"},
			wantStatus: 1, wantErr: "torchrun failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			torchrunArgs := filepath.Join(t.TempDir(), "torchrun-args")
			path := tools
			if tc.torchrun {
				path += string(os.PathListSeparator) + fakeTorchrun
			}
			if tc.old {
				path += string(os.PathListSeparator) + oldTorchrun
			}
			env := append([]string{
				"PATH=" + path,
				"BIN=" + bin,
				"OUT=" + out,
				"STUB_TORCHRUN_ARGS=" + torchrunArgs,
			}, tc.env...)
			_, stderr, status := run(t, env, bash, append([]string{launchFile}, tc.launchArgs...)...)
			if status != tc.wantStatus {
				t.Fatalf("exit status %d, want %d; stderr:\n%s", status, tc.wantStatus, stderr)
			}
			if !strings.Contains(stderr, tc.wantErr) {
				t.Errorf("stderr %q does not contain %q", stderr, tc.wantErr)
			}
			if tc.wantStatus != 0 && tc.ranks > 0 && !tc.torchrun {
				if !strings.Contains(stderr, "rank 1: boom") {
					t.Errorf("stderr %q does not show the failed rank's output", stderr)
				}
				if strings.Contains(stderr, "rank 0 (") || strings.Contains(stderr, "rank 2 (") {
					t.Errorf("stderr %q names a rank that succeeded", stderr)
				}
			}
			var runID string
			for r := range tc.ranks {
				l := parseRankFile(t, filepath.Join(out, fmt.Sprintf("rank-%d.txt", r)))
				want := map[string]string{
					"RANK":                    strconv.Itoa(r),
					"LOCAL_RANK":              strconv.Itoa(r),
					"WORLD_SIZE":              strconv.Itoa(tc.ranks),
					"LOCAL_WORLD_SIZE":        strconv.Itoa(tc.ranks),
					"STORAGEBENCH_TIMELINE":   out + "/",
					"STORAGEBENCH_RENDEZVOUS": out + "/rendezvous",
				}
				for k, v := range want {
					if l.vars[k] != v {
						t.Errorf("rank %d: %s=%q, want %q", r, k, l.vars[k], v)
					}
				}
				id := l.vars["TORCHELASTIC_RUN_ID"]
				if r == 0 {
					runID = id
				}
				if id == "" || id != runID {
					t.Errorf("rank %d: TORCHELASTIC_RUN_ID=%q, want the same non-empty id as rank 0 (%q)", r, id, runID)
				}
				if want := strings.Join(args, " "); l.args != want {
					t.Errorf("rank %d: args %q, want %q", r, l.args, want)
				}
			}
			if !tc.torchrun {
				return
			}
			// The run id torchrun was given is the one the ranks got.
			got := readFile(t, torchrunArgs)
			for _, want := range []string{"--nnodes=1 ", "--nproc-per-node=3 ", "--no-python ", "--rdzv-id=" + runID, " " + bin + " " + strings.Join(args, " ") + "\n"} {
				if !strings.Contains(got, want) {
					t.Errorf("torchrun ran with %q, want %q in it", got, want)
				}
			}
		})
	}
}
