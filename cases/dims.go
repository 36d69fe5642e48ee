package cases

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/storagebench/storagebench/dataset/local"
	"github.com/storagebench/storagebench/dataset/wds"
	"github.com/storagebench/storagebench/fakes"
	"github.com/storagebench/storagebench/loader"
	"github.com/storagebench/storagebench/results"
	"github.com/storagebench/storagebench/train"
)

// NameRule says when a dimension is written into a case's name.
type NameRule int

// The name rules.
const (
	// Always: every case of a benchmark the dimension applies to names it.
	Always NameRule = iota
	// WhenSet: named when its variable (or -loader key) was set, or its
	// value is not the default; absent otherwise, so that results from
	// before the dimension existed still pair.
	WhenSet
	// NotDefault: named only when its value is not the default, whether
	// set or not.
	NotDefault
)

// A Dim is one dimension of a run, declared once: everything that spells
// it derives from this entry.
type Dim struct {
	// Key is the dimension's key in benchmark names, as in "workers=8".
	Key string
	// Shown stands for its value in the README's patterns of names
	// ("W" in "workers=W").
	Shown string
	// Var is the environment variable listing its values, comma-separated.
	Var string
	// Loader reports whether storagebench feed's -loader flag takes it
	// (the key is the flag's spelling).
	Loader bool
	// Meaning says what the variable sets, for the README's table.
	Meaning string
	// Default is its values when the variable is unset, as the variable
	// spells them; DefaultDoc says so for the README when it is not that
	// list.
	Default, DefaultDoc string
	// Rule is when names carry it.
	Rule NameRule
	// Benches are the benchmarks it applies to (results.Raw, Load, Train).
	Benches []string

	// applies reports whether it applies to a case of its benchmarks
	// (window only to the item scheduler, cache only to folders); nil for
	// always.
	applies func(c *Case) bool
	// inside reports that it applies only under the value of the
	// dimension before it (window and hedge, under sched=item): the
	// README's patterns nest it in that one's brackets.
	inside bool
	// parse sets the case's value from s.
	parse func(c *Case, s string) error
	// format writes the case's value as names spell it.
	format func(c *Case) string
	// isDefault reports whether the case's value is the default.
	isDefault func(c *Case) bool
	// values overrides the matrix's values for a case whose earlier
	// dimensions are set (the profiles a real store serves); nil for the
	// matrix's list. It reads the matrix's lists by key: an entry's hook
	// cannot name the entry it initialises.
	values func(m *Matrix, c *Case) []string
}

// The benchmarks the dimensions apply to.
var (
	rawLoadTrain = []string{results.Raw, results.Load, results.Train}
	loadTrain    = []string{results.Load, results.Train}
)

// atLeast parses an integer of at least lo.
func atLeast(s string, lo int) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < lo {
		return 0, fmt.Errorf("%q is not an integer >= %d", s, lo)
	}
	return n, nil
}

// intDim returns a dimension of an integer field of at least lo.
func intDim(d Dim, lo int, field func(c *Case) *int) *Dim {
	first, _, _ := strings.Cut(d.Default, ",")
	def, _ := strconv.Atoi(first)
	d.parse = func(c *Case, s string) (err error) { *field(c), err = atLeast(s, lo); return err }
	d.format = func(c *Case) string { return strconv.Itoa(*field(c)) }
	d.isDefault = func(c *Case) bool { return *field(c) == def }
	return &d
}

// The dimensions, in the order names write them.
var (
	Backend = &Dim{
		Key: "backend", Shown: "B", Var: "STORAGEBENCH_BACKENDS", Rule: Always, Benches: rawLoadTrain,
		Meaning:    "which of `mem,local,fakes3,s3,scratch` run; a backend named here that is not configured is an error",
		Default:    "mem,local,fakes3",
		DefaultDoc: "`mem,local,fakes3`, plus `s3` and `scratch` when configured",
		parse: func(c *Case, s string) error {
			if !slices.Contains(Backends, s) {
				return fmt.Errorf("unknown backend %q, want %s", s, strings.Join(Backends, ", "))
			}
			c.Backend = s
			return nil
		},
		format:    func(c *Case) string { return c.Backend },
		isDefault: func(c *Case) bool { return false },
	}
	Profile = &Dim{
		Key: "profile", Shown: "P", Var: "STORAGEBENCH_PROFILES", Rule: Always, Benches: rawLoadTrain,
		Meaning:    "emulated storage profiles, e.g. `none,seed-s3,fixed-10ms`; set, they apply to every hermetic backend",
		Default:    "none",
		DefaultDoc: "`none`, and `s3` on fakes3",
		parse: func(c *Case, s string) error {
			if _, err := fakes.LookupProfile(s); err != nil {
				return err
			}
			c.Profile = s
			return nil
		},
		format:    func(c *Case) string { return c.Profile },
		isDefault: func(c *Case) bool { return c.Profile == "none" },
		values: func(m *Matrix, c *Case) []string {
			st := m.store(c.Backend)
			switch {
			case st.Real:
				return []string{cmpOr(st.Profile, "none")}
			case m.set("profile"):
				return m.vals["profile"]
			case c.Backend == "fakes3":
				return []string{"none", "s3"}
			}
			return []string{"none"}
		},
	}
	Faults = &Dim{
		Key: "faults", Shown: "F", Var: "STORAGEBENCH_FAULTS", Rule: NotDefault, Benches: rawLoadTrain,
		Meaning: "faults injected into the hermetic backends' reads, a comma-separated list of specs such as `none,slowdown:0.05+stall:0.01` (faults `slowdown`, `internal`, `reset`, `short`, `stall`, `trickle`); adds `faults=` to names",
		Default: "none",
		parse: func(c *Case, s string) (err error) {
			c.Faults, err = fakes.ParseFaults(s)
			return err
		},
		format:    func(c *Case) string { return c.Faults.String() },
		isDefault: func(c *Case) bool { return c.Faults.IsZero() },
		values: func(m *Matrix, c *Case) []string {
			if st := m.store(c.Backend); st.Real {
				return []string{st.Faults.String()}
			}
			return m.vals["faults"]
		},
	}
	Cache = &Dim{
		Key: "cache", Shown: "X", Var: "STORAGEBENCH_CACHE", Rule: WhenSet, Benches: rawLoadTrain,
		Meaning:    "how the folder backends (`local`, `scratch`) meet the host's page cache: `warm` (every file read once before the timer), `cold` (the dataset's pages dropped before the run and each file's after every read), `direct` (O_DIRECT reads into aligned buffers); the raw baselines and the bound read in the same setting; adds `cache=` to folder lines",
		Default:    "",
		DefaultDoc: "unset: reads through the page cache as it stands, unnamed",
		applies:    func(c *Case) bool { return Folder(c.Backend) },
		parse: func(c *Case, s string) (err error) {
			c.Cache, err = local.ParseCache(s)
			return err
		},
		format:    func(c *Case) string { return string(c.Cache) },
		isDefault: func(c *Case) bool { return c.Cache == local.CacheOS },
	}
	Format = &Dim{
		Key: "format", Shown: "T", Var: "STORAGEBENCH_FORMAT", Loader: true, Rule: NotDefault, Benches: loadTrain,
		Meaning: "dataset layouts: `loose` (an object a sample) and `tar` (the same samples in WebDataset tar shards, `<key>.jpg` and `<key>.cls`); `tar` adds `format=tar/shard=S/read=R` to names; a real store's layout is its index's (`.tar` keys: shards)",
		Default: FormatLoose,
		parse: func(c *Case, s string) error {
			if s != FormatLoose && s != FormatTar {
				return fmt.Errorf("unknown format %q, want %s or %s", s, FormatLoose, FormatTar)
			}
			c.Format = s
			return nil
		},
		format:    func(c *Case) string { return c.Format },
		isDefault: func(c *Case) bool { return c.Format == FormatLoose },
		values: func(m *Matrix, c *Case) []string {
			if st := m.store(c.Backend); st.Real {
				return []string{cmpOr(st.Format, FormatLoose)}
			}
			return m.vals["format"]
		},
	}
	Shard = &Dim{
		Key: "shard", Shown: "S", Var: "STORAGEBENCH_SHARD", Loader: true, Rule: Always, Benches: loadTrain,
		Meaning: "the synthetic tar sets' shard sizes, exact: `64MB` is 64,000,000 bytes, `64MiB` 67,108,864; a shard holds whole samples and never exceeds its size; a real store's shards are its own, named by the largest",
		Default: "64MB",
		applies: func(c *Case) bool { return c.Format == FormatTar },
		inside:  true,
		parse: func(c *Case, s string) (err error) {
			c.Shard, err = wds.ParseSize(s)
			return err
		},
		format:    func(c *Case) string { return wds.FormatSize(c.Shard) },
		isDefault: func(c *Case) bool { return c.Shard == 64_000_000 },
		values: func(m *Matrix, c *Case) []string {
			if st := m.store(c.Backend); st.Real {
				return []string{st.Shard}
			}
			return m.vals["shard"]
		},
	}
	Read = &Dim{
		Key: "read", Shown: "R", Var: "STORAGEBENCH_READ", Loader: true, Rule: Always, Benches: loadTrain,
		Meaning: "how tar shards are read: `stream` (each worker streams whole shards, one GET each, as many at once as its fetchers, through its shuffle buffer: WebDataset's way) or `range` (one ranged GET a sample, in the sampler's order, as loose objects are read)",
		Default: ReadStream,
		applies: func(c *Case) bool { return c.Format == FormatTar },
		inside:  true,
		parse: func(c *Case, s string) error {
			if s != ReadStream && s != ReadRange {
				return fmt.Errorf("unknown read %q, want %s or %s", s, ReadStream, ReadRange)
			}
			c.Read = s
			return nil
		},
		format:    func(c *Case) string { return c.Read },
		isDefault: func(c *Case) bool { return c.Read == ReadStream },
	}
	Shuffle = intDim(Dim{
		Key: "shuffle", Shown: "U", Var: "STORAGEBENCH_SHUFFLE", Loader: true, Rule: NotDefault, Benches: loadTrain,
		Meaning: "samples in each worker's shuffle buffer under `read=stream` (WebDataset's `shuffle(N)`; 0: in stream order); adds `shuffle=N` to names", Default: "0",
		applies: func(c *Case) bool { return c.Streams() }, inside: true,
	}, 0, func(c *Case) *int { return &c.Shuffle })
	Part = &Dim{
		Key: "part", Shown: "Z", Var: "STORAGEBENCH_PART", Loader: true, Rule: NotDefault, Benches: loadTrain,
		Meaning: "ranged parts of loose items and of streamed shards, exact sizes as `STORAGEBENCH_SHARD`'s (`8MB`, `8MiB`), or `0` to read them whole: an item larger than a part is read as ranged GETs of its parts into one buffer, the first telling its size, the others at once, each a request of the worker's fetchers counted in C (as the AWS CRT client reads large objects); under `read=stream`, a worker reads one shard at a time as ranged GETs of parts, as many in flight as its fetchers, in order and on into its next shard; the batch scheduler's; adds `part=P` to names", Default: "0",
		applies: func(c *Case) bool { return c.Format == FormatLoose || c.Streams() },
		parse: func(c *Case, s string) (err error) {
			if s == "0" {
				c.Part = 0
				return nil
			}
			c.Part, err = wds.ParseSize(s)
			return err
		},
		format: func(c *Case) string {
			if c.Part == 0 {
				return "0"
			}
			return wds.FormatSize(c.Part)
		},
		isDefault: func(c *Case) bool { return c.Part == 0 },
	}
	Concurrency = intDim(Dim{
		Key: results.KeyConcurrency, Shown: "C", Var: "STORAGEBENCH_CONCURRENCY", Rule: Always, Benches: []string{results.Raw},
		Meaning: "the raw baseline's concurrencies", Default: "1,4,16,64,256",
	}, 1, func(c *Case) *int { return &c.Concurrency })
	Workload = &Dim{
		Key: "workload", Shown: "K", Var: "STORAGEBENCH_WORKLOADS", Rule: Always, Benches: []string{results.Train},
		Meaning: "BenchmarkTrain's workloads: `resnet50-h100`, `resnet50-a100`, `unet3d-h100` (MLPerf Storage v1.0), `unet3d-b200`, `retinanet-b200` (v3.0), or `compute-<duration>` (`compute-<mean>~<stddev>` for normal step times) with the batch of `STORAGEBENCH_BATCH`",
		Default: "resnet50-h100",
		parse: func(c *Case, s string) (err error) {
			c.Workload, err = train.LookupWorkload(s)
			return err
		},
		format:    func(c *Case) string { return c.Workload.Name },
		isDefault: func(c *Case) bool { return c.Workload.Name == "resnet50-h100" },
	}
	Accel = intDim(Dim{
		Key: "accel", Shown: "A", Var: "STORAGEBENCH_ACCEL", Rule: Always, Benches: []string{results.Train},
		Meaning: "BenchmarkTrain's numbers of emulated accelerators, e.g. `1,2,4,8`", Default: "1",
	}, 1, func(c *Case) *int { return &c.Accel })
	Mode = &Dim{
		Key: "mode", Shown: "M", Var: "STORAGEBENCH_MODES", Loader: true, Rule: Always, Benches: loadTrain,
		Meaning: "fetch modes, `sync,async`", Default: "sync,async",
		parse: func(c *Case, s string) (err error) {
			c.Mode, err = loader.ParseMode(s)
			return err
		},
		format:    func(c *Case) string { return string(c.Mode) },
		isDefault: func(c *Case) bool { return false },
	}
	Workers = intDim(Dim{
		Key: "workers", Shown: "W", Var: "STORAGEBENCH_WORKERS", Loader: true, Rule: Always, Benches: loadTrain,
		Meaning: "loader workers, e.g. `2,4,8`", Default: "2,4,8,16,32",
	}, 1, func(c *Case) *int { return &c.Workers })
	Batch = func() *Dim {
		d := intDim(Dim{
			Key: "batch", Shown: "N", Var: "STORAGEBENCH_BATCH", Loader: true, Rule: Always, Benches: loadTrain,
			Meaning: "batch sizes, e.g. `50,256`; a Train workload of its own batch (`resnet50-h100`: 400) uses that", Default: "50",
		}, 1, func(c *Case) *int { return &c.Batch })
		d.values = func(m *Matrix, c *Case) []string {
			if c.Bench == results.Train && c.Workload.Batch > 0 {
				return []string{strconv.Itoa(c.Workload.Batch)}
			}
			return m.vals["batch"]
		}
		return d
	}()
	Fetch = intDim(Dim{
		Key: "fetch", Shown: "F", Var: "STORAGEBENCH_FETCH", Loader: true, Rule: WhenSet, Benches: loadTrain,
		Meaning: "per-worker fetch concurrency in async mode (0: the batch size); adds `fetch=` to names", Default: "0",
	}, 0, func(c *Case) *int { return &c.Fetch })
	Decode = &Dim{
		Key: "decode", Shown: "D", Var: "STORAGEBENCH_DECODE", Rule: WhenSet, Benches: []string{results.Load},
		Meaning: "`none,jpeg`; adds `decode=` to names", Default: "none",
		parse: func(c *Case, s string) (err error) {
			c.Decode, err = loader.ParseDecoder(s)
			return err
		},
		format:    func(c *Case) string { return string(c.Decode) },
		isDefault: func(c *Case) bool { return c.Decode == loader.DecodeNone },
	}
	OnError = &Dim{
		Key: "onerror", Shown: "E", Var: "STORAGEBENCH_ONERROR", Loader: true, Rule: WhenSet, Benches: loadTrain,
		Meaning: "what becomes of an item whose read still fails after its retries: `fail` ends the run naming its key, `skip` counts it and delivers its batch short, `deliver` hands it over with its error; adds `onerror=` to names",
		Default: "fail",
		parse: func(c *Case, s string) (err error) {
			c.OnError, err = loader.ParseOnError(s)
			return err
		},
		format:    func(c *Case) string { return string(c.OnError) },
		isDefault: func(c *Case) bool { return c.OnError == loader.OnErrorFail },
	}
	Sched = &Dim{
		Key: "sched", Shown: "item", Var: "STORAGEBENCH_SCHED", Loader: true, Rule: NotDefault, Benches: loadTrain,
		Meaning: "loader schedulers, `batch,item`; `item` adds `sched=item` and `window=N` to names", Default: "batch",
		parse: func(c *Case, s string) (err error) {
			c.Sched, err = loader.ParseScheduler(s)
			return err
		},
		format:    func(c *Case) string { return string(c.Sched) },
		isDefault: func(c *Case) bool { return c.Sched == loader.SchedBatch },
	}
	Window = &Dim{
		Key: "window", Shown: "N", Var: "STORAGEBENCH_WINDOW", Loader: true, Rule: Always, Benches: loadTrain,
		Meaning:    "the item scheduler's windows: items, or a multiple of C such as `4C`; names give it in items",
		Default:    "default",
		DefaultDoc: "`C+2WB`: C plus the batches the batch scheduler holds",
		applies:    itemSched,
		inside:     true,
		parse: func(c *Case, s string) (err error) {
			c.Window, err = ParseWindow(s)
			return err
		},
		format:    func(c *Case) string { return strconv.Itoa(c.ResolvedWindow()) },
		isDefault: func(c *Case) bool { return c.Window == (WindowSize{}) },
	}
	Hedge = &Dim{
		Key: "hedge", Shown: "H", Var: "STORAGEBENCH_HEDGE", Loader: true, Rule: NotDefault, Benches: loadTrain,
		Meaning: "the item scheduler's hedging: `off`, a delay such as `20ms`, or a percentile of time to first byte such as `p90`; adds `hedge=` to names",
		Default: "off",
		applies: itemSched,
		inside:  true,
		parse: func(c *Case, s string) (err error) {
			c.Hedge, err = loader.ParseHedge(s)
			return err
		},
		format:    func(c *Case) string { return c.Hedge.String() },
		isDefault: func(c *Case) bool { return c.Hedge.IsZero() },
	}
)

// Dims is the table: every dimension, in the order names write them.
var Dims = []*Dim{Backend, Profile, Faults, Cache, Format, Shard, Read, Shuffle, Part, Concurrency, Workload, Accel, Mode, Workers, Batch, Fetch, Decode, OnError, Sched, Window, Hedge}

// The layouts of a dataset (Case.Format) and the ways of reading tar
// shards (Case.Read).
const (
	FormatLoose = "loose" // an object a sample
	FormatTar   = "tar"   // WebDataset tar shards
	ReadStream  = "stream"
	ReadRange   = "range"
)

// itemSched reports whether c uses the item scheduler.
func itemSched(c *Case) bool { return c.Sched == loader.SchedItem }

// Backends are the backends a case may name: the hermetic ones, then the
// real stores the environment configures.
var Backends = []string{"mem", "local", "fakes3", "s3", "scratch"}

// Hermetic reports whether backend is one of the embedded fakes, which
// emulate profiles and faults (mem, local, fakes3).
func Hermetic(backend string) bool {
	return backend == "mem" || backend == "local" || backend == "fakes3"
}

// Folder reports whether backend reads a folder through the host's page
// cache (local, scratch), where the cache dimension applies.
func Folder(backend string) bool { return backend == "local" || backend == "scratch" }

// applies reports whether d applies to c.
func (d *Dim) appliesTo(c *Case) bool {
	return slices.Contains(d.Benches, c.Bench) && (d.applies == nil || d.applies(c))
}

// index returns d's place in [Dims].
func (d *Dim) index() int {
	i := slices.Index(Dims, d)
	if i < 0 {
		panic("cases: dimension " + d.Key + " is not in Dims")
	}
	return i
}

// Lookup returns the dimension whose name key is key, or nil.
func Lookup(key string) *Dim {
	for _, d := range Dims {
		if d.Key == key {
			return d
		}
	}
	return nil
}

// cmpOr returns s, or def when s is empty.
func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// A WindowSize is the item scheduler's window as a variable gives it: a
// number of items, or a multiple of C, the reads in flight. The zero
// WindowSize is the loader's default.
type WindowSize struct {
	Items int // items, when PerC is 0
	PerC  int // a multiple of C
}

// ParseWindow parses "400" (items), "4C" (four times C) or "default".
func ParseWindow(s string) (WindowSize, error) {
	if s == "default" {
		return WindowSize{}, nil
	}
	k, perC := strings.CutSuffix(s, "C")
	n, err := strconv.Atoi(k)
	if err != nil || n < 1 {
		return WindowSize{}, fmt.Errorf("window %q: want items, or a multiple of C such as 4C", s)
	}
	if perC {
		return WindowSize{PerC: n}, nil
	}
	return WindowSize{Items: n}, nil
}

// Resolve returns the window in items for c reads in flight; 0 for the
// loader's default.
func (w WindowSize) Resolve(c int) int {
	if w.PerC > 0 {
		return w.PerC * c
	}
	return w.Items
}

// Pattern returns the pattern of bench's names, as the README shows it:
// "BenchmarkRaw/backend=B/profile=P[/faults=F]/concurrency=C". A
// dimension absent at its default is in brackets; one that applies only
// under another's value (window, hedge: sched=item) inside that one's.
// A dimension that applies to some backends only (cache) is bracketed as
// any other that names may leave out.
func Pattern(bench string) string {
	var b strings.Builder
	b.WriteString("Benchmark" + bench)
	open := 0
	for _, d := range Dims {
		if !slices.Contains(d.Benches, bench) {
			continue
		}
		if !d.inside {
			b.WriteString(strings.Repeat("]", open))
			open = 0
		}
		if d.Rule != Always {
			b.WriteString("[")
			open++
		}
		b.WriteString("/" + d.Key + "=" + d.Shown)
	}
	b.WriteString(strings.Repeat("]", open))
	return b.String()
}
