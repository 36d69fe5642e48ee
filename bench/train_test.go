package bench

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/storagebench/storagebench/cases"
	"github.com/storagebench/storagebench/loader"
	"github.com/storagebench/storagebench/results"
)

// BenchmarkTrain emulates data-parallel training: for each workload and
// number of accelerators, each accelerator's loader (the matrix's modes,
// workers and schedulers, the workload's batch size) reads its share of
// every epoch from the backend. Named
// backend=B/profile=P[/faults=F]/workload=W/accel=N/mode=M/workers=W/batch=B
// and the loader's other keys, as BenchmarkLoad's.
func BenchmarkTrain(b *testing.B) {
	eachCase(b, results.Train, runTrain)
}

// runTrain benchmarks the case on src. One op is one training step of
// every accelerator, so ns/op is the mean step's wall time and samples/s
// is accelerators x batch x 1e9 / ns/op (every batch is full). The
// loaders' warm-up reads and the job's warm-up steps run before the timer
// starts; testing's loop runs the timed steps, as many as -benchtime says.
func runTrain(b *testing.B, src *Source, c cases.Case) {
	ctx := bind(b)
	r, err := StartTrain(ctx, src, c, TrainOptions{Prefetch: fixture.Env().Prefetch, WindowBytes: fixture.Env().WindowBytes, Deep: *deep, Rank: rank, Name: b.Name()})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	first := true
	for b.Loop() {
		if first {
			r.Start()
			first = false
		}
		if err := r.Step(); err != nil {
			b.Fatal(err)
		}
	}
	res, err := r.Finish(b.N, b.Elapsed())
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(math.Round(float64(res.Bytes) / float64(b.N))))
	report(b, res.Metrics())
}

// boundSlack is how far above its bound a short run on emulated
// latency may read, the jitter of its clock's ends: 0.5%.
const boundSlack = 0.005

// TestTrainOutput runs BenchmarkTrain on every hermetic backend, storage
// slower than compute (2 sync workers an accelerator at 10 ms a read: 200
// samples/s against 500 wanted), and checks every line: its name, AU
// between 0 and 1 and above its least, samples/s agreeing with ns/op, the
// identity au ~= samples/s x step / (N x batch), MB/s from the bytes read,
// and every item checked (-deep).
func TestTrainOutput(t *testing.T) {
	const steps, batch = 12, 10
	step := 20 * time.Millisecond
	out := runBenchmarks(t, map[string]string{
		cases.Items:        "400",
		cases.Bodies:       "40",
		cases.Workers.Var:  "2",
		cases.Mode.Var:     "sync",
		cases.Batch.Var:    strconv.Itoa(batch),
		cases.Profile.Var:  "fixed-10ms",
		cases.Workload.Var: "compute-" + step.String(),
		cases.Accel.Var:    "1,2",
		cases.Sched.Var:    "batch,item",
	}, false, "-test.bench=^BenchmarkTrain$", fmt.Sprintf("-test.benchtime=%dx", steps), "-deep")
	checkHeader(t, out.stdout)
	want := map[string]bool{}
	for _, b := range []string{"mem", "local", "fakes3"} {
		for _, n := range []int{1, 2} {
			base := fmt.Sprintf("Train/backend=%s/profile=fixed-10ms/workload=compute-20ms/accel=%d/mode=sync/workers=2/batch=%d", b, n, batch)
			want[base] = true
			want[fmt.Sprintf("%s/sched=item/window=%d", base, loader.DefaultWindow(batch, 2, 2, loader.DefaultPrefetch))] = true
		}
	}
	for _, r := range out.results {
		full := string(r.Name.Full())
		base := full[:strings.LastIndexByte(full, '-')]
		if !want[base] {
			t.Errorf("unexpected result %s", full)
			continue
		}
		delete(want, base)
		n, _ := strconv.Atoi(namePart(r, cases.Accel.Key))
		get := func(unit string) float64 {
			v, ok := value(r, unit)
			if !ok {
				t.Errorf("%s: no %s", base, unit)
			}
			return v
		}
		au, auMin, rate, nsop := get(results.AU), get(results.AUMin), get(results.SamplesPerSecond), get(results.NsPerOp)
		if !(0 <= auMin && auMin <= au && au <= 1) {
			t.Errorf("%s: au %v, au-min %v: want 0 <= au-min <= au <= 1", base, au, auMin)
		}
		if want := float64(n*batch) * 1e9 / nsop; math.Abs(rate-want) > 1e-3*want {
			t.Errorf("%s: %v samples/s, but ns/op %v gives %v", base, rate, nsop, want)
		}
		if id := rate * step.Seconds() / float64(n*batch); math.Abs(au-id) > 0.05*id {
			t.Errorf("%s: au %.3f, but samples/s x step / (N x batch) = %.3f", base, au, id)
		}
		if au > 0.6 {
			t.Errorf("%s: au %.3f from storage that gives 40%% of what a step wants", base, au)
		}
		if got := get(results.Steps); got != steps || r.Iters != steps {
			t.Errorf("%s: %v steps, %d iterations; want %d", base, got, r.Iters, steps)
		}
		if mbs := get("MB/s"); mbs <= 0 {
			t.Errorf("%s: %v MB/s", base, mbs)
		}
		// The storage is the bottleneck, so the job consumes at C/L itself:
		// each worker reads its batches back to back, and the timed steps
		// span whole batches of each. The steps' own ends (a wake-up, the
		// emulated compute) then set the span to within a millisecond or
		// so either way, and a run of 0.6 s reads up to a few tenths of a
		// percent above C/L (200.2 samples/s against 200, once, on a busy
		// machine).
		if bound := get(results.BoundSamplesSec); math.Abs(bound-float64(n*2)/0.010) > 1 || rate > bound*(1+boundSlack) {
			t.Errorf("%s: bound %v samples/s, want C/L = %d / 10 ms, and no more than %.1f%% below what it consumed (%v)", base, bound, n*2, 100*boundSlack, rate)
		}
	}
	for name := range want {
		t.Errorf("no result for %s", name)
	}
}

// TestTrainTooFewSteps checks that a dataset too small for the job fails
// at once, naming the variables that fix it.
func TestTrainTooFewSteps(t *testing.T) {
	out := runBenchmarks(t, map[string]string{
		cases.Items:        "400",
		cases.Backend.Var:  "mem",
		cases.Workload.Var: "resnet50-h100",
		cases.Accel.Var:    "1",
		cases.Workers.Var:  "2",
		cases.Mode.Var:     "async",
	}, true, "-test.bench=^BenchmarkTrain$", "-test.benchtime=2x")
	if !strings.Contains(out.stdout, "400 items give 1 accelerators 1 steps of 400 an epoch, fewer than 4: set STORAGEBENCH_ITEMS to at least 1600") {
		t.Errorf("output:\n%s\nwant the error naming STORAGEBENCH_ITEMS", out.stdout)
	}
}
