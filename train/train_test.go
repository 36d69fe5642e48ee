package train_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/storagebench/storagebench/dataset"
	"github.com/storagebench/storagebench/dataset/mem"
	"github.com/storagebench/storagebench/fakes"
	"github.com/storagebench/storagebench/loader"
	"github.com/storagebench/storagebench/train"
)

// objects returns n small distinct objects and their index.
func objects(n int) (map[string][]byte, dataset.Index) {
	objs := make(map[string][]byte, n)
	idx := make(dataset.Index, n)
	for i := range idx {
		idx[i] = fmt.Sprintf("train/%05d", i)
		objs[idx[i]] = []byte(strings.Repeat(fmt.Sprintf("item %05d;", i), 20))
	}
	return objs, idx
}

// memDataset returns a dataset of n objects in memory behind profile p.
func memDataset(t *testing.T, n int, profile string) (*dataset.Dataset, map[string][]byte) {
	t.Helper()
	objs, idx := objects(n)
	var b dataset.Backend = mem.New(objs)
	p, err := fakes.LookupProfile(profile)
	if err != nil {
		t.Fatal(err)
	}
	b = fakes.NewEmulator(p, 1).Backend(b)
	return dataset.New(dataset.NewStore(b), idx), objs
}

// run starts a job, runs its warm-up steps, resets, runs steps and closes
// it. It returns the result and the warm-up steps.
func run(t *testing.T, cfg train.Config, steps int) (train.Result, int) {
	t.Helper()
	ctx := context.Background()
	j, err := train.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	warm, err := j.Warm(ctx)
	if err != nil {
		t.Fatal(err)
	}
	j.Reset()
	if err := j.Steps(ctx, steps); err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	return j.Result(), warm
}

func compute(t *testing.T, step, stddev time.Duration) train.Workload {
	t.Helper()
	w, err := train.LookupWorkload("compute-" + step.String())
	if err != nil {
		t.Fatal(err)
	}
	w.StepStdDev = stddev
	return w
}

// identity returns samples/s x mean step time / (N x batch): what AU must
// be when every step's wall time is its compute plus its stall.
func identity(r train.Result) float64 {
	return r.SamplesPerSecond() * r.MeanStepTime.Seconds() / float64(r.Accelerators*r.BatchSize)
}

// TestAU checks measured accelerator utilization against what the storage
// allows: storage far faster than compute keeps the accelerators busy;
// storage of a known rate (a fixed latency L, C reads in flight per
// accelerator) gives each accelerator C/L samples a second, so an AU of
// min(1, (C/L) x step / batch); and AU agrees with the samples consumed,
// au ~= samples/s x step / (N x batch), also with random step times.
func TestAU(t *testing.T) {
	defer goleak.VerifyNone(t)
	sync2 := loader.Options{Workers: 2, Mode: loader.Sync}
	for _, tc := range []struct {
		name      string
		profile   string
		n, accel  int
		batch     int
		step, std time.Duration
		opts      loader.Options
		steps     int
		rate      float64 // samples/s the storage gives an accelerator: C/L; 0 for at least minAU
		minAU     float64
	}{
		// Reads and steps are tens of milliseconds long, so that a busy
		// machine's scheduling delays (a millisecond or two) stay within
		// a few percent of them.
		//
		// mem with no latency: a batch of 8 is read in microseconds.
		{name: "fast storage", profile: "none", n: 640, accel: 2, batch: 8, step: 200 * time.Millisecond, opts: loader.Options{Workers: 2, Mode: loader.Async}, steps: 10, minAU: 0.97},
		// 2 sync workers at 50 ms a read: 40 samples/s an accelerator;
		// a step wants 4 every 50 ms, 80/s: AU 0.5.
		{name: "storage-bound", profile: "fixed-50ms", n: 640, accel: 2, batch: 4, step: 50 * time.Millisecond, opts: sync2, steps: 20, rate: 2 / 0.050},
		// The same storage with 4 accelerators: each has its own 2
		// workers, so each still gets 40/s.
		{name: "storage-bound x4", profile: "fixed-50ms", n: 640, accel: 4, batch: 4, step: 50 * time.Millisecond, opts: sync2, steps: 20, rate: 2 / 0.050},
		// 4 async workers of 4 reads at 50 ms: 320/s against 80/s: the
		// accelerators never wait. Over 30 steps, so that one stall of
		// a machine busy with other tests (100 ms once, under the race
		// detector) costs no more than a few percent.
		{name: "storage enough", profile: "fixed-50ms", n: 640, accel: 2, batch: 8, step: 100 * time.Millisecond, opts: loader.Options{Workers: 4, Mode: loader.Async, FetchConcurrency: 4}, steps: 30, minAU: 0.95},
		// Random step times, mean 50 ms, stddev 20 ms, over storage that
		// gives 2 / 35 ms = 57 samples/s against 80/s wanted: AU 0.714
		// at the mean step time.
		// 4 sync workers, 4 steps an epoch: a round of the workers'
		// batches arrives together and starts with an epoch, so the
		// epoch's first step takes the round's whole stall. 4 / 25 ms =
		// 160 samples/s against 200 wanted: AU 0.8, every step counted.
		{name: "rounds aligned with epochs", profile: "fixed-25ms", n: 32, accel: 2, batch: 4, step: 20 * time.Millisecond, opts: loader.Options{Workers: 4, Mode: loader.Sync}, steps: 24, rate: 4 / 0.025},
		{name: "random steps", profile: "fixed-35ms", n: 800, accel: 2, batch: 4, step: 50 * time.Millisecond, std: 20 * time.Millisecond, opts: sync2, steps: 30, rate: 2 / 0.035},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ds, objs := memDataset(t, tc.n, tc.profile)
			w := compute(t, tc.step, tc.std)
			w.Batch = tc.batch
			var mu sync.Mutex
			checked := 0
			cfg := train.Config{Dataset: ds, Loader: tc.opts, Workload: w, Accelerators: tc.accel, Seed: 7,
				Check: func(_ int, it *loader.Item) error {
					if want := objs[ds.Key(it.Index)]; string(it.Data) != string(want) {
						return fmt.Errorf("item %d: wrong bytes", it.Index)
					}
					mu.Lock()
					checked++
					mu.Unlock()
					return nil
				}}
			r, warm := run(t, cfg, tc.steps)
			t.Logf("au %.3f (min %.3f), %.0f samples/s, stall mean %v p99 %v, %d steps in %v",
				r.MeanAU(), r.MinAU(), r.SamplesPerSecond(), r.StallMean, r.StallP99, r.Steps, r.Elapsed)
			if r.Steps != tc.steps || r.Samples != int64(tc.steps*tc.accel*tc.batch) {
				t.Errorf("%d steps, %d samples; want %d and %d", r.Steps, r.Samples, tc.steps, tc.steps*tc.accel*tc.batch)
			}
			if checked != (tc.steps+warm)*tc.accel*tc.batch {
				t.Errorf("checked %d items, want every one consumed, %d", checked, (tc.steps+warm)*tc.accel*tc.batch)
			}
			au := r.MeanAU()
			if au < 0 || au > 1 || r.MinAU() > au {
				t.Fatalf("au %v, au-min %v: want 0 <= au-min <= au <= 1", au, r.MinAU())
			}
			if tc.minAU > 0 && au < tc.minAU {
				t.Errorf("au %.3f, want at least %.2f", au, tc.minAU)
			}
			// The storage's rate over what a step wants, at the mean of
			// the step times drawn.
			if want := min(1, tc.rate*r.MeanStepTime.Seconds()/float64(tc.batch)); tc.rate > 0 && math.Abs(au-want) > 0.05*want {
				t.Errorf("au %.3f, want %.3f (C/L = %.0f samples/s, step %v, batch %d) within 5%%", au, want, tc.rate, r.MeanStepTime, tc.batch)
			}
			if id := identity(r); math.Abs(au-id) > 0.05*id {
				t.Errorf("au %.3f, but samples/s x step / (N x batch) = %.3f: want them within 5%%", au, id)
			}
		})
	}
}

// TestEpochs checks that the accelerators read, each epoch, every item of
// the index once between them.
func TestEpochs(t *testing.T) {
	defer goleak.VerifyNone(t)
	const n, accel, batch, epochs = 96, 3, 8, 3
	ds, _ := memDataset(t, n, "none")
	w := compute(t, time.Millisecond, 0)
	w.Batch = batch
	var mu sync.Mutex
	seen := make(map[int]int)
	cfg := train.Config{Dataset: ds, Loader: loader.Options{Workers: 2, Mode: loader.Async}, Workload: w, Accelerators: accel, Seed: 3,
		Check: func(_ int, it *loader.Item) error {
			mu.Lock()
			seen[it.Index]++
			mu.Unlock()
			return nil
		}}
	ctx := context.Background()
	j, err := train.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if got, want := j.StepsPerEpoch(), n/accel/batch; got != want {
		t.Fatalf("%d steps an epoch, want %d", got, want)
	}
	if err := j.Steps(ctx, epochs*j.StepsPerEpoch()); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if seen[i] != epochs {
			t.Errorf("item %d read %d times in %d epochs, want once an epoch", i, seen[i], epochs)
		}
	}
}

// failing fails every read of one key.
type failing struct {
	dataset.Backend
	key string
}

func (f failing) Open(ctx context.Context, key string) (io.ReadCloser, int64, error) {
	if key == f.key {
		return nil, 0, fmt.Errorf("open %q: %w", key, dataset.ErrNotFound)
	}
	return f.Backend.Open(ctx, key)
}

// TestErrors checks that a job ends with the error of an item that cannot
// be read, naming the accelerator and the key, and that a cancelled job
// ends at once; no goroutine is left either way.
func TestErrors(t *testing.T) {
	defer goleak.VerifyNone(t)
	objs, idx := objects(64)
	w := compute(t, 5*time.Millisecond, 0)
	w.Batch = 4
	ds := dataset.New(dataset.NewStore(failing{mem.New(objs), idx[37]}), idx)
	cfg := train.Config{Dataset: ds, Loader: loader.Options{Workers: 2, Warmup: -1}, Workload: w, Accelerators: 2, Seed: 1}
	ctx := context.Background()
	j, err := train.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = j.Steps(ctx, 100)
	if err == nil || !strings.Contains(err.Error(), "accelerator") || !strings.Contains(err.Error(), idx[37]) {
		t.Errorf("Steps = %v, want an error naming the accelerator and %q", err, idx[37])
	}
	j.Close()

	ds, _ = memDataset(t, 64, "fixed-1s")
	cfg.Dataset = ds
	ctx, cancel := context.WithCancel(ctx)
	j, err = train.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() { done <- j.Steps(ctx, 100) }()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Steps after cancel = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Steps did not return within 5 s of its context's cancellation")
	}
	j.Close()
}

// TestStartErrors checks that bad configurations fail at once, naming
// what is wrong.
func TestStartErrors(t *testing.T) {
	defer goleak.VerifyNone(t)
	ds, _ := memDataset(t, 10, "none")
	w := compute(t, time.Millisecond, 0)
	for _, tc := range []struct {
		name string
		cfg  train.Config
		want string
	}{
		{"no accelerators", train.Config{Dataset: ds, Workload: w}, "0 accelerators"},
		{"no dataset", train.Config{Accelerators: 1, Workload: w}, "no dataset"},
		{"no full batch", train.Config{Dataset: ds, Accelerators: 2, Workload: train.Workload{Name: "w", Batch: 8, StepTime: time.Millisecond}}, "no full batch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j, err := train.Start(context.Background(), tc.cfg)
			if err == nil {
				j.Close()
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Start = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestLookupWorkload(t *testing.T) {
	for _, tc := range []struct {
		name  string
		batch int
		step  time.Duration
		err   string
		au    float64 // the workload's threshold; 0 for 0.9
	}{
		{"resnet50-h100", 400, 224 * time.Millisecond, "", 0},
		{"resnet50-a100", 400, 435 * time.Millisecond, "", 0},
		{"unet3d-h100", 7, 323 * time.Millisecond, "", 0},
		{"unet3d-b200", 7, 162 * time.Millisecond, "", 0},
		{"retinanet-b200", 24, 47550 * time.Microsecond, "", 0.85},
		{"compute-50ms", 0, 50 * time.Millisecond, "", 0},
		{"compute-0s", 0, 0, "positive", 0},
		{"compute-50ms~-1ms", 0, 0, "standard deviation", 0},
		{"compute-50ms~x", 0, 0, "compute-50ms~x", 0},
		{"compute-x", 0, 0, "compute-x", 0},
		{"bert", 0, 0, "known workloads are resnet50-h100", 0},
	} {
		if tc.au == 0 {
			tc.au = 0.9
		}
		w, err := train.LookupWorkload(tc.name)
		if tc.err != "" {
			if err == nil || !errors.Is(err, train.ErrUnknownWorkload) || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("LookupWorkload(%q) = %v, want an unknown-workload error containing %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil || w.Batch != tc.batch || w.StepTime != tc.step || w.AUThreshold != tc.au || w.Source == "" {
			t.Errorf("LookupWorkload(%q) = %+v, %v; want batch %d, step %v, AU threshold %v and a source", tc.name, w, err, tc.batch, tc.step, tc.au)
		}
	}
	if w, err := train.LookupWorkload("compute-224ms~20ms"); err != nil || w.StepTime != 224*time.Millisecond || w.StepStdDev != 20*time.Millisecond {
		t.Errorf("LookupWorkload(compute-224ms~20ms) = %+v, %v; want mean 224ms, stddev 20ms", w, err)
	}
	if got := (train.Workload{Batch: 400, StepTime: 224 * time.Millisecond}).SamplesPerSecond(); math.Abs(got-1785.7) > 0.1 {
		t.Errorf("resnet50-h100 consumes %.1f samples/s, want 1,785.7", got)
	}
}

// TestConfigShard checks that the accelerators of every process of a run
// of many read, together, each position of an epoch's padded order once:
// accelerator a of process r is rank r x accelerators + a.
func TestConfigShard(t *testing.T) {
	for _, tc := range []struct{ n, world, accel int }{{100, 4, 2}, {10, 3, 4}, {7, 1, 3}} {
		seen := map[int]int{}
		total := 0
		for r := range tc.world {
			for a := range tc.accel {
				sh := train.Config{Accelerators: tc.accel, Rank: r, World: tc.world}.Shard(a)
				for _, p := range sh.Positions(nil, tc.n) {
					seen[p]++
					total++
				}
			}
		}
		g := tc.world * tc.accel
		if want := (tc.n + g - 1) / g * g; total != want || len(seen) != tc.n {
			t.Errorf("%+v: %d positions, %d distinct; want %d, %d", tc, total, len(seen), want, tc.n)
		}
	}
}
