package train

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Workload is what one emulated accelerator does with each batch: it
// "computes" for StepTime (a sleep, as MLPerf Storage's DLIO does), with a
// normal spread of StepStdDev drawn per step when that is set. A training
// run at this workload is valid while accelerator utilization stays at or
// above AUThreshold.
type Workload struct {
	Name        string        // the name LookupWorkload knows it by
	Batch       int           // samples a batch per accelerator; 0 takes the loader's batch size
	StepTime    time.Duration // compute time a batch
	StepStdDev  time.Duration // standard deviation of the compute time; 0 for a fixed time
	SampleBytes int64         // the workload's sample size; 0 when it does not say
	AUThreshold float64       // the least accelerator utilization of a valid run
	Source      string        // where the figures come from (one line)
}

// SamplesPerSecond returns the samples a second one accelerator consumes
// when it never waits: Batch over StepTime.
func (w Workload) SamplesPerSecond() float64 {
	if w.StepTime <= 0 {
		return 0
	}
	return float64(w.Batch) / w.StepTime.Seconds()
}

// MLPerf Storage's AU thresholds (Submission_guidelines.md): a result is
// valid at AU >= 90% for ResNet-50 and U-Net3D (70% for CosmoFlow; v3.0's
// RetinaNet, 85%, is its workload's own).
const (
	// AUThreshold is the threshold of the image workloads and of
	// compute-<duration>.
	AUThreshold = 0.90
)

// The MLPerf Storage workload files (mlcommons/storage,
// configs/dlio/workload/*.yaml) give each accelerator's reader.batch_size
// and train.computation_time, the record size (dataset.record_length_bytes)
// and the AU threshold (metric.au).
var workloads = []Workload{
	{
		// resnet50_h100.yaml: batch_size 400, computation_time 0.224 s,
		// record_length_bytes 114,660.07 (the rules' table says about
		// 150 KB an ImageNet sample), au 0.90; 400 / 0.224 s = 1,786
		// images/s an H100.
		Name: "resnet50-h100", Batch: 400, StepTime: 224 * time.Millisecond, SampleBytes: 114660, AUThreshold: AUThreshold,
		Source: "MLPerf Storage DLIO resnet50_h100.yaml: batch 400, computation_time 0.224 s, records of 114,660 B",
	},
	{
		// resnet50_a100.yaml: batch_size 400, computation_time 0.435 s;
		// 920 images/s an A100.
		Name: "resnet50-a100", Batch: 400, StepTime: 435 * time.Millisecond, SampleBytes: 114660, AUThreshold: AUThreshold,
		Source: "MLPerf Storage DLIO resnet50_a100.yaml: batch 400, computation_time 0.435 s, records of 114,660 B",
	},
	{
		// unet3d_h100.yaml: batch_size 7, computation_time 0.323 s,
		// record_length_bytes 146,600,628 (stdev 68,341,808; KiTS19
		// volumes, one a file): 21.7 samples/s, about 3.2 GB/s an H100.
		Name: "unet3d-h100", Batch: 7, StepTime: 323 * time.Millisecond, SampleBytes: 146600628, AUThreshold: AUThreshold,
		Source: "MLPerf Storage DLIO unet3d_h100.yaml: batch 7, computation_time 0.323 s, records of 146,600,628 B",
	},
	// MLPerf Storage v3.0 (package 3.0.46) adds B200 workloads; their
	// DLIO configs, as the v3.0 results ran them:
	{
		// unet3d_b200: batch_size 7, computation_time 0.162 s, the same
		// KiTS19 records, au 0.90: 43.2 samples/s, about 6.3 GB/s a B200.
		Name: "unet3d-b200", Batch: 7, StepTime: 162 * time.Millisecond, SampleBytes: 146600628, AUThreshold: AUThreshold,
		Source: "MLPerf Storage v3.0 DLIO unet3d_b200: batch 7, computation_time 0.162 s, records of 146,600,628 B, AU 0.90",
	},
	{
		// retinanet_b200: batch_size 24, computation_time 0.04755 s,
		// JPEGs of 322,957 B (OpenImages), au 0.85: 505 images/s, about
		// 163 MB/s a B200.
		Name: "retinanet-b200", Batch: 24, StepTime: 47550 * time.Microsecond, SampleBytes: 322957, AUThreshold: 0.85,
		Source: "MLPerf Storage v3.0 DLIO retinanet_b200: batch 24, computation_time 0.04755 s, JPEGs of 322,957 B, AU 0.85",
	},
}

// Workloads returns the named workloads, in a stable order. The caller may
// modify the returned slice.
func Workloads() []Workload { return append([]Workload(nil), workloads...) }

// ErrUnknownWorkload is returned, wrapped, by [LookupWorkload] for a name
// it does not know.
var ErrUnknownWorkload = errors.New("train: unknown workload")

// computePrefix starts the name of a workload of a fixed compute time.
const computePrefix = "compute-"

// LookupWorkload returns the workload called name: one of [Workloads], or
// "compute-<duration>" (e.g. "compute-50ms", parsed by time.ParseDuration)
// for a fixed compute time a batch whose batch size is the loader's
// (Batch 0), or "compute-<mean>~<stddev>" (e.g. "compute-224ms~20ms") for
// compute times drawn a step from a normal distribution, as DLIO's
// computation_time_stdev gives. For any other name it returns an error
// wrapping [ErrUnknownWorkload] that lists the known names.
func LookupWorkload(name string) (Workload, error) {
	for _, w := range workloads {
		if w.Name == name {
			return w, nil
		}
	}
	if s, ok := strings.CutPrefix(name, computePrefix); ok {
		mean, sd, spread := strings.Cut(s, "~")
		d, err := time.ParseDuration(mean)
		if err == nil && d <= 0 {
			err = errors.New("want a positive duration")
		}
		var std time.Duration
		if err == nil && spread {
			if std, err = time.ParseDuration(sd); err == nil && std < 0 {
				err = errors.New("want a standard deviation >= 0")
			}
		}
		if err != nil {
			return Workload{}, fmt.Errorf("%w %q: %w", ErrUnknownWorkload, name, err)
		}
		src := "a fixed compute time of " + d.String() + " a batch, the batch the loader's"
		if std > 0 {
			src = "compute times drawn a batch from a normal distribution of mean " + d.String() + " and standard deviation " + std.String() + ", the batch the loader's"
		}
		return Workload{Name: name, StepTime: d, StepStdDev: std, AUThreshold: AUThreshold, Source: src}, nil
	}
	names := make([]string, 0, len(workloads)+1)
	for _, w := range workloads {
		names = append(names, w.Name)
	}
	names = append(names, computePrefix+"<duration> (e.g. compute-50ms)", computePrefix+"<mean>~<stddev> (e.g. compute-224ms~20ms)")
	return Workload{}, fmt.Errorf("%w %q: known workloads are %s", ErrUnknownWorkload, name, strings.Join(names, ", "))
}
