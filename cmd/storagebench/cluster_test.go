package main

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/storagebench/storagebench/cluster"
	"github.com/storagebench/storagebench/dataset/s3blob"
	"github.com/storagebench/storagebench/fakes"
	"github.com/storagebench/storagebench/fakes/fakestest"
	"github.com/storagebench/storagebench/results"
)

// clusterWorld is the ranks of the runs of TestClusterRun.
const clusterWorld = 4

// clusterStore returns the configuration of an S3 store for a run of many
// ranks, with a dataset of n synthetic images under a prefix of its own:
// the MinIO server that STORAGEBENCH_MINIO_* names (CI starts one), or
// else a fake S3 server on loopback. It also returns a backend on the
// rendezvous prefix, rdv/ of the same bucket.
func clusterStore(t *testing.T, n int) (cfgPath string, cfg s3blob.Config, rdv *s3blob.Backend) {
	t.Helper()
	// A bucket of its own, which gen creates: MinIO may keep those of
	// earlier runs.
	bucket := fmt.Sprintf("storagebench-cluster-%d", time.Now().UnixNano())
	prefix := "run"
	cfg = s3blob.Config{Bucket: bucket, IndexURL: "s3://" + bucket + "/" + prefix + "/data/index.json", UsePathStyle: true, Region: "us-east-1"}
	if endpoint := os.Getenv("STORAGEBENCH_MINIO_ENDPOINT"); endpoint != "" {
		cfg.EndpointURL, cfg.AccessKeyID = endpoint, os.Getenv("STORAGEBENCH_MINIO_ACCESS_KEY")
		cfg.Region = os.Getenv("STORAGEBENCH_MINIO_REGION")
		cfg.SecretAccessKey = os.Getenv("STORAGEBENCH_MINIO_SECRET_KEY")
		t.Logf("MinIO at %s", endpoint)
	} else {
		f := fakestest.NewS3(t, fakes.S3Options{})
		cfg.EndpointURL = f.URL
		t.Log("no MinIO (STORAGEBENCH_MINIO_ENDPOINT): a fake S3 server on loopback")
	}
	secret := cfg.SecretAccessKey
	cfgPath = writeS3Config(t, cfg)
	if secret != "" {
		// writeS3Config writes the tests' own secret; MinIO wants its own.
		cfg.SecretAccessKey = secret
		data := fmt.Sprintf(`{"aws_access_key_id":%q,"aws_secret_access_key":%q,"bucket_name":%q,"index_file_download_url":%q,"endpoint_url":%q,"region":%q,"use_path_style":true}`,
			cfg.AccessKeyID, secret, bucket, cfg.IndexURL, cfg.EndpointURL, cfg.Region)
		if err := os.WriteFile(cfgPath, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, stderr, err := runArgs(t, t.Context(), "gen", "-n", fmt.Sprint(n), "-create-bucket", "-s3-config", cfgPath, "s3://"+bucket+"/"+prefix+"/data/"); err != nil {
		t.Fatalf("gen: %v\n%s", err, stderr)
	}
	loaded, err := s3blob.LoadConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	client, err := s3blob.NewClient(t.Context(), loaded)
	if err != nil {
		t.Fatal(err)
	}
	if rdv, err = s3blob.Open(client, bucket, prefix+"/rdv/"); err != nil {
		t.Fatal(err)
	}
	return cfgPath, cfg, rdv
}

// launcher is how a launcher tells a process its rank and run.
type launcher struct {
	name string
	vars func(rank int, run string) []string
}

var launchers = []launcher{
	{"torchrun", func(r int, run string) []string {
		return []string{fmt.Sprint("RANK=", r), fmt.Sprint("WORLD_SIZE=", clusterWorld), fmt.Sprint("LOCAL_RANK=", r), "TORCHELASTIC_RUN_ID=" + run, "MASTER_ADDR=127.0.0.1", "MASTER_PORT=29500"}
	}},
	{"indexed-job", func(r int, run string) []string {
		return []string{fmt.Sprint("JOB_COMPLETION_INDEX=", r), fmt.Sprint("STORAGEBENCH_WORLD_SIZE=", clusterWorld), "STORAGEBENCH_RUN_ID=" + run}
	}},
	{"slurm", func(r int, run string) []string {
		return []string{fmt.Sprint("SLURM_PROCID=", r), fmt.Sprint("SLURM_NTASKS=", clusterWorld), fmt.Sprint("SLURM_LOCALID=", r), "SLURM_JOB_ID=" + run, "SLURM_STEP_ID=0"}
	}},
}

// rankProc is one rank's process.
type rankProc struct {
	cmd    *exec.Cmd
	out    bytes.Buffer
	done   chan struct{}
	err    error
	exited time.Time
}

// startRank starts rank r of the bench binary with env and args.
func startRank(t *testing.T, ctx context.Context, bin string, env, args []string) *rankProc {
	t.Helper()
	p := &rankProc{done: make(chan struct{})}
	p.cmd = exec.CommandContext(ctx, bin, args...)
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		p.exited = time.Now()
		close(p.done)
	}()
	t.Cleanup(func() { p.cmd.Process.Kill(); <-p.done })
	return p
}

// rankEnv returns this process's environment without the variables of
// the suite or of any launcher, plus vars.
func rankEnv(vars ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "STORAGEBENCH_"), strings.HasPrefix(k, "SLURM_"), strings.HasPrefix(k, "OMPI_"),
			k == "RANK", k == "WORLD_SIZE", k == "LOCAL_RANK", k == "JOB_COMPLETION_INDEX", k == "TORCHELASTIC_RUN_ID":
			continue
		}
		env = append(env, kv)
	}
	return append(env, vars...)
}

// waitFiles polls until list returns at least n, failing t if one of the
// rank processes ps ends first or 2 minutes pass.
func waitFiles(t *testing.T, what string, n int, list func() int, ps []*rankProc) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(2 * time.Minute)
	for list() < n {
		select {
		case <-deadline:
			t.Fatalf("waited 2 minutes for %s", what)
		case <-tick.C:
		}
		for _, p := range ps {
			select {
			case <-p.done:
				t.Fatalf("a rank ended while waiting for %s: %v\n%s", what, p.err, p.out.String())
			default:
			}
		}
	}
}

// TestClusterRun runs BenchmarkLoad (and, under torchrun, BenchmarkTrain)
// as 4 ranks, separate processes, against MinIO (or the fake S3 when there
// is none), launched as torchrun, a Kubernetes Indexed Job and Slurm
// launch them: the ranks start out of order and one late, with the
// markers of an earlier run under the rendezvous. It checks that each
// rank prints its rank and world size, that the ranks' timelines match
// their results, that every epoch was read whole in disjoint shares, and
// that storagebench merge's cluster items/s is the sum of the ranks' over
// the window in which all ran; and that killing a rank mid-run ends the
// others within seconds with an error naming it.
func TestClusterRun(t *testing.T) {
	bin := buildBenchBinary(t, false)
	needBench(t, bin)
	hermeticAWS(t)
	const items = 400
	cfgPath, cfg, rdv := clusterStore(t, items)
	// An earlier run, whole: its markers must not release any barrier.
	for _, k := range []string{"old/barrier/0/start", "old/barrier/1/start"} {
		if err := rdv.Put(t.Context(), k, []byte(`{"time":"2020-01-01T00:00:00Z"}`+"\n")); err != nil {
			t.Fatal(err)
		}
	}
	for r := range clusterWorld {
		for _, k := range []string{"old/rank-%d", "old/barrier/0/rank-%d", "old/barrier/1/rank-%d", "old/heartbeat/rank-%d"} {
			if err := rdv.Put(t.Context(), fmt.Sprintf(k, r), []byte(`{"name":"x","seq":9,"state":"done","time":"2020-01-01T00:00:00Z"}`+"\n")); err != nil {
				t.Fatal(err)
			}
		}
	}
	common := []string{
		"STORAGEBENCH_S3_CONFIG=" + cfgPath, "STORAGEBENCH_BACKENDS=s3",
		"STORAGEBENCH_MODES=async", "STORAGEBENCH_WORKERS=2", "STORAGEBENCH_BATCH=10",
		"STORAGEBENCH_WORKLOADS=compute-5ms", "STORAGEBENCH_ACCEL=1",
		"STORAGEBENCH_RENDEZVOUS=s3://" + cfg.Bucket + "/" + strings.TrimSuffix(rdv.Prefix(), "/"),
	}
	for i, l := range launchers {
		t.Run(l.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
			defer cancel()
			dir := t.TempDir()
			run := fmt.Sprintf("%d%d", time.Now().UnixNano(), i)
			bench := "^BenchmarkLoad$"
			if l.name == "torchrun" {
				bench = "^Benchmark(Load|Train)$"
			}
			args := []string{"-test.run=^$", "-test.bench=" + bench, "-test.benchtime=600x"}
			procs := make([]*rankProc, clusterWorld)
			start := func(r int) {
				env := rankEnv(append(append(common, l.vars(r, run)...), "STORAGEBENCH_TIMELINE="+dir+"/")...)
				procs[r] = startRank(t, ctx, bin, env, args)
			}
			// Out of order, and rank 1 only once the others wait at the
			// first barrier.
			for _, r := range []int{2, 0, 3} {
				start(r)
			}
			runID := run
			if l.name == "slurm" {
				runID += ".0"
			}
			waitFiles(t, "three ranks at the first barrier", 3, func() int {
				entries, _ := rdv.List(ctx, runID+"/barrier/0/rank-")
				return len(entries)
			}, []*rankProc{procs[2], procs[0], procs[3]})
			late := time.Now()
			start(1)
			var files []string
			for r, p := range procs {
				<-p.done
				if p.err != nil {
					t.Fatalf("rank %d: %v\n%s", r, p.err, p.out.String())
				}
				out := p.out.String()
				for _, want := range []string{fmt.Sprintf("\nrank: %d\n", r), fmt.Sprintf("\nworld-size: %d\n", clusterWorld), "BenchmarkLoad/backend=s3/"} {
					if !strings.Contains(out, want) {
						t.Errorf("rank %d's output lacks %q:\n%s", r, want, out)
					}
				}
				path := filepath.Join(dir, fmt.Sprintf("rank-%d.txt", r))
				if err := os.WriteFile(path, p.out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				files = append(files, path, filepath.Join(dir, fmt.Sprintf("timeline-rank%d.jsonl", r)))
			}
			merged := filepath.Join(dir, "cluster.txt")
			stdout, stderr, err := runArgs(t, ctx, append([]string{"merge", "-o", merged}, files...)...)
			if err != nil {
				t.Fatalf("merge: %v\n%s", err, stderr)
			}
			t.Logf("merge:\n%s", stdout)
			checkClusterRun(t, files, merged, stdout, l.name == "torchrun", late)
		})
	}
	t.Run("kill", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
		defer cancel()
		dir := t.TempDir()
		run := fmt.Sprint("kill-", time.Now().UnixNano())
		procs := make([]*rankProc, clusterWorld)
		for r := range procs {
			env := rankEnv(append(append(common, launchers[0].vars(r, run)...), "STORAGEBENCH_TIMELINE="+dir+"/")...)
			procs[r] = startRank(t, ctx, bin, env, []string{"-test.run=^$", "-test.bench=^BenchmarkLoad$", "-test.benchtime=1000000x"})
		}
		// Kill rank 2 once every rank's timed run has recorded a sample.
		waitFiles(t, "every rank's timed run", clusterWorld, func() int {
			n := 0
			for r := range clusterWorld {
				data, _ := os.ReadFile(filepath.Join(dir, fmt.Sprintf("timeline-rank%d.jsonl", r)))
				if bytes.Contains(data, []byte(`"type":"sample"`)) {
					n++
				}
			}
			return n
		}, procs)
		killed := time.Now()
		if err := procs[2].cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		for r, p := range procs {
			<-p.done
			if r == 2 {
				continue
			}
			took := p.exited.Sub(killed)
			out := p.out.String()
			if p.err == nil {
				t.Errorf("rank %d exited with status 0 after rank 2 was killed:\n%s", r, out)
			}
			if want := "rank 2 is dead: its heartbeat s3://"; !strings.Contains(out, want) {
				t.Errorf("rank %d's output does not say %q:\n%s", r, want, out)
			}
			// Dead after 5 heartbeats of 1 s, then one more to read the
			// abort note, and the benchmark's failing.
			if took > 20*time.Second {
				t.Errorf("rank %d ended %v after rank 2 was killed, want seconds", r, took)
			}
			t.Logf("rank %d ended %v after the kill", r, took.Round(time.Millisecond))
		}
	})
}

// checkClusterRun checks a merged run: the ranks' timed runs started
// together, after late (when the last rank was started); the cluster's
// items/s is the sum,
// over the window in which every rank ran, of the ranks' items/s as their
// timelines record them (computed here on its own); every rank's timeline
// agrees with its result line; every epoch checked matched the plan.
func checkClusterRun(t *testing.T, files []string, merged, table string, training bool, late time.Time) {
	t.Helper()
	if !strings.Contains(table, "coverage: ") || strings.Contains(table, "NOT as planned") || strings.Contains(table, "none checked") {
		t.Errorf("merge's coverage check did not pass:\n%s", table)
	}
	var tls []*cluster.RankTimeline
	var outs []string
	for _, f := range files {
		if strings.HasSuffix(f, ".jsonl") {
			tl, err := cluster.ReadTimeline(f)
			if err != nil {
				t.Fatal(err)
			}
			tls = append(tls, tl)
		} else {
			outs = append(outs, f)
		}
	}
	ranks, err := results.Read(outs...)
	if err != nil {
		t.Fatal(err)
	}
	set, err := results.Read(merged)
	if err != nil {
		t.Fatalf("the merged results do not read as benchmark results: %v", err)
	}
	if ws := set.Config("world-size"); len(ws) != 1 || ws[0] != fmt.Sprint(clusterWorld) {
		t.Errorf("merged world-size %q, want %d", ws, clusterWorld)
	}
	g, err := set.Group(".fullname")
	if err != nil {
		t.Fatal(err)
	}
	want := 1
	if training {
		want = 2
	}
	if len(g.Points) != want {
		t.Fatalf("%d merged results, want %d", len(g.Points), want)
	}
	for _, p := range g.Points {
		name := "Benchmark" + p.Name()
		got := p.Median(results.ItemsPerSecond)
		// The window, and each rank's items in it, from the timelines.
		var runs []*cluster.RunTimeline
		for _, tl := range tls {
			var last *cluster.RunTimeline
			for _, r := range tl.Runs {
				if r.Bench == name {
					last = r
				}
			}
			if last == nil {
				t.Fatalf("%s: no run of %s", tl.Path, name)
			}
			runs = append(runs, last)
		}
		from, to := runs[0].Start(), runs[0].End()
		for _, r := range runs {
			from, to = maxTime(from, r.Start()), minTime(to, r.End())
		}
		// The barrier: no rank's timed run started before the last rank's
		// process did, and they started together.
		for r, run := range runs {
			if run.Start().Before(late) {
				t.Errorf("rank %d's timed run of %s started %v before the last rank was started", r, name, late.Sub(run.Start()))
			}
			if d := from.Sub(run.Start()); d > time.Second {
				t.Errorf("rank %d's timed run of %s started %v before the last rank's", r, name, d)
			}
		}
		sum := 0.0
		for _, r := range runs {
			sum += (itemsAt(r.Samples, to) - itemsAt(r.Samples, from)) / to.Sub(from).Seconds()
		}
		if math.Abs(got-sum) > 0.02*sum {
			t.Errorf("%s: merged %.1f items/s, the ranks' sum over the overlap %.1f", name, got, sum)
		}
		if training && strings.HasPrefix(name, "BenchmarkTrain") && !p.Has(results.AU) {
			t.Errorf("%s: merged result has no au", name)
		}
		// Each rank's timeline against its own result line; and the
		// ranks' own rates, each over its own timed run, summed: close
		// to the cluster's when the runs overlap by most of their length.
		ownSum := 0.0
		for r, run := range runs {
			rf, err := ranks.Filter(fmt.Sprintf("rank:%d .name:%s", r, strings.TrimPrefix(strings.SplitN(name, "/", 2)[0], "Benchmark")))
			if err != nil {
				t.Fatal(err)
			}
			rg, err := rf.Group(".fullname")
			if err != nil {
				t.Fatal(err)
			}
			matched := 0
			for _, rp := range rg.Points {
				// The result's name ends in go test's GOMAXPROCS suffix.
				if full := "Benchmark" + rp.Name(); full != name && !strings.HasPrefix(full, name+"-") {
					continue
				}
				matched++
				if iters := rp.Iters(); len(iters) != 1 || iters[0] != run.N {
					t.Errorf("rank %d: %s ran %v iterations, its timeline says %d", r, name, iters, run.N)
				}
				if ns := rp.Median(results.RunNs); rp.Has(results.RunNs) && math.Abs(float64(run.End().Sub(run.Start()))-ns) > 0.02*ns+5e6 {
					t.Errorf("rank %d: %s: timeline spans %v, run-ns %v", r, name, run.End().Sub(run.Start()), time.Duration(ns))
				}
				rate := rp.Median(results.ItemsPerSecond)
				if !rp.Has(results.ItemsPerSecond) {
					rate = rp.Median(results.SamplesPerSecond)
				}
				ownSum += rate
			}
			if matched != 1 {
				t.Errorf("rank %d: %d results of %s, want 1", r, matched, name)
			}
		}
		if math.Abs(got-ownSum) > 0.10*ownSum {
			t.Errorf("%s: merged %.1f items/s, the ranks' own results sum to %.1f", name, got, ownSum)
		}
	}
}

// itemsAt interpolates the items of samples at time at.
func itemsAt(samples []cluster.Record, at time.Time) float64 {
	for i := 1; i < len(samples); i++ {
		a, b := samples[i-1], samples[i]
		if !at.After(b.Time) {
			if !at.After(a.Time) {
				return float64(a.Items)
			}
			f := at.Sub(a.Time).Seconds() / b.Time.Sub(a.Time).Seconds()
			return float64(a.Items) + f*float64(b.Items-a.Items)
		}
	}
	return float64(samples[len(samples)-1].Items)
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
