package cases

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

// Prefix starts the name of every variable of the suite.
const Prefix = "STORAGEBENCH_"

// Variable is one environment variable of the suite.
type Variable struct {
	// Name is the variable's name; a name ending in "*" stands for every
	// variable with that prefix.
	Name string
	// Meaning says what the variable sets, in one sentence.
	Meaning string
	// Default is what applies when the variable is unset.
	Default string
}

// Names of the variables that set what is not a dimension (see [Dims]
// for those that are, each with its Var).
const (
	S3Config     = "STORAGEBENCH_S3_CONFIG"
	S3Index      = "STORAGEBENCH_S3_INDEX"
	ScratchRoot  = "STORAGEBENCH_SCRATCH_ROOT"
	ScratchIndex = "STORAGEBENCH_SCRATCH_INDEX"
	Items        = "STORAGEBENCH_ITEMS"
	Prefetch     = "STORAGEBENCH_PREFETCH"
	WindowBytes  = "STORAGEBENCH_WINDOW_BYTES"
	FirstByte    = "STORAGEBENCH_FIRST_BYTE_TIMEOUT"
	Idle         = "STORAGEBENCH_IDLE_TIMEOUT"
	Attempts     = "STORAGEBENCH_ATTEMPTS"
	Bodies       = "STORAGEBENCH_BODIES"
	LocalFiles   = "STORAGEBENCH_LOCAL_FILES"
	RequestLog   = "STORAGEBENCH_REQUEST_LOG"

	// A run of many processes.
	Rank              = "STORAGEBENCH_RANK"
	WorldSize         = "STORAGEBENCH_WORLD_SIZE"
	StartAt           = "STORAGEBENCH_START_AT"
	Rendezvous        = "STORAGEBENCH_RENDEZVOUS"
	RunID             = "STORAGEBENCH_RUN_ID"
	Timeline          = "STORAGEBENCH_TIMELINE"
	Heartbeat         = "STORAGEBENCH_HEARTBEAT"
	RendezvousTimeout = "STORAGEBENCH_RENDEZVOUS_TIMEOUT"
)

// Settings are the variables that are not dimensions: the real stores
// (first), then the dataset, the loader's prefetch, the read policy, the
// run of many ranks and the tools.
var Settings = []Variable{
	{S3Config, "a seed-format S3 configuration file: adds `backend=s3`, reading the index at its `index_file_download_url`; also the default of `storagebench -s3-config`", "unset: no `s3` backend"},
	{S3Index, "where the S3 index is cached (downloaded once, reused)", "not cached"},
	{ScratchRoot, "a folder holding a dataset: adds `backend=scratch`", "unset: no `scratch` backend"},
	{ScratchIndex, "a seed-format index of keys relative to the scratch folder", "the folder is listed"},
	{RequestLog, "a file where the `s3` backend's client writes every HTTP request it makes (index, listing, warm-up, baselines and runs), gzip-compressed CSV that `storagebench requests` reads", "unset: no log"},
	{Items, "items (keys) in the synthetic dataset, e.g. `1281167` for ImageNet train", "`2000`"},
	{Bodies, "distinct item bodies in the synthetic dataset: key i serves body i mod K, so a large dataset costs the memory of K", "the items, at most `2000`"},
	{LocalFiles, "how the `local` backend's folder holds the synthetic dataset: `linked` (K files, the other keys hard links to them: the disk space and page cache of K) or `distinct` (a file of its own for every key, copies of the K bodies: the disk space of N, for datasets larger than memory); `distinct` adds the `dataset-files: distinct` configuration line", "`linked`"},
	{Prefetch, "batches each worker holds (`prefetch=` in storagebench feed's `-loader`)", "`2`"},
	{WindowBytes, "the item scheduler's byte budget: once its window holds a batch plus C items, no read starts while the items read and not consumed take this many bytes (`256MiB`, `1GB`); `none` for no cap; adds the `loader-window-bytes` configuration line when set", "`256MiB`"},
	{Rank, "this process's rank in a run of many; wins over the launchers' own (torchrun's `RANK`, `JOB_COMPLETION_INDEX`, `SLURM_PROCID`, `OMPI_COMM_WORLD_RANK`)", "the launcher's, or 0 of 1"},
	{WorldSize, "the processes of the run; with a Kubernetes Indexed Job, its completions", "the launcher's (`WORLD_SIZE`, `SLURM_NTASKS`, `OMPI_COMM_WORLD_SIZE`), or 1"},
	{Rendezvous, "a folder or `s3://bucket/prefix` every rank reaches, where ranks meet before each timed run and write heartbeats (S3 through `STORAGEBENCH_S3_CONFIG`'s endpoint and keys, or the AWS chain)", "unset: no barriers, no heartbeats"},
	{RunID, "names the run under the rendezvous; markers of other runs are ignored, and a run id used twice is an error", "torchrun's `TORCHELASTIC_RUN_ID`, or Slurm's `SLURM_JOB_ID[.SLURM_STEP_ID]`"},
	{StartAt, "the earliest the first timed run starts, on every rank: Unix seconds or RFC 3339", "unset"},
	{Timeline, "this rank's timeline, per-second samples of what it read, for `storagebench merge`: a file, or a folder (existing, or ending in `/`) that gets `timeline-rank<R>.jsonl`", "unset: no timeline"},
	{Heartbeat, "how often a rank writes its heartbeat and checks another's; a rank silent for 5 of them is dead and the run ends naming it", "`1s`"},
	{RendezvousTimeout, "how long a rank waits at a barrier for the others to arrive", "`10m`"},
	{FirstByte, "the longest an attempt of a read waits for its first byte before it is abandoned and retried: the ceiling of a deadline that follows the store, 4x the p99 of its recent reads and at least 1s", "`10s`"},
	{Idle, "the longest an attempt waits for its next byte while reading a body: the ceiling of a deadline that follows the store as the first byte's does", "`5s`"},
	{Attempts, "attempts of one read, the first included", "`8`"},
	{"STORAGEBENCH_MINIO_*", "a MinIO server for the conformance tests (`_ENDPOINT`, `_ACCESS_KEY`, `_SECRET_KEY`, `_REGION`), exported by `.ci/minio.sh start`, with that script's own settings", "unset: MinIO tests skip"},
	{"STORAGEBENCH_TOOLS", "where `.ci/minio.sh` caches the binaries it builds", "`~/.cache/storagebench/bin`"},
}

// realStores is how many of Settings configure the real stores, which
// the README lists first.
const realStores = 4

// Variables returns the whole table of variables, in the order the README
// lists it: the real stores, the dimensions (from [Dims]), then the other
// settings.
func Variables() []Variable {
	out := slices.Clone(Settings[:realStores])
	for _, d := range Dims {
		def := d.DefaultDoc
		if def == "" {
			def = "`" + d.Default + "`"
		}
		out = append(out, Variable{d.Var, d.Meaning, def})
	}
	return append(out, Settings[realStores:]...)
}

// Known reports whether name is a variable of the table.
func Known(name string) bool {
	for _, v := range Variables() {
		if p, ok := strings.CutSuffix(v.Name, "*"); ok && strings.HasPrefix(name, p) || v.Name == name {
			return true
		}
	}
	return false
}

// Check returns an error for the first variable in environ (as
// os.Environ returns it) that starts with [Prefix] and is not in the
// table, naming the closest known variable.
func Check(environ []string) error {
	var unknown []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, Prefix) && !Known(name) {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	slices.Sort(unknown)
	return fmt.Errorf("unknown variable %s: did you mean %s? (the known variables: storagebench env)", unknown[0], Closest(unknown[0]))
}

// Closest returns the known variable whose name is nearest to name by edit
// distance.
func Closest(name string) string {
	best, bestD := "", -1
	for _, v := range Variables() {
		n := strings.TrimSuffix(v.Name, "*")
		if d := distance(name, n); bestD < 0 || d < bestD {
			best, bestD = v.Name, d
		}
	}
	return best
}

// distance is the Levenshtein distance between a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// WriteMarkdown writes the table as the README shows it.
func WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	b.WriteString("| variable | effect | default |\n|---|---|---|\n")
	for _, v := range Variables() {
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", v.Name, v.Meaning, v.Default)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteText writes the table as plain text, for a terminal.
func WriteText(w io.Writer) error {
	var b strings.Builder
	for _, v := range Variables() {
		fmt.Fprintf(&b, "%s\n    %s\n    default: %s\n", v.Name, strings.ReplaceAll(v.Meaning, "`", ""), strings.ReplaceAll(v.Default, "`", ""))
	}
	_, err := io.WriteString(w, b.String())
	return err
}
