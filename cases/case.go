package cases

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/storagebench/storagebench/dataset/local"
	"github.com/storagebench/storagebench/fakes"
	"github.com/storagebench/storagebench/loader"
	"github.com/storagebench/storagebench/results"
	"github.com/storagebench/storagebench/train"
)

// A Case is one point of a benchmark's matrix: a value of every dimension
// that applies to its benchmark. Its name ([Case.Name]) and [Parse]
// round-trip exactly.
type Case struct {
	// Bench is the benchmark: results.Raw, results.Load or results.Train.
	Bench       string
	Backend     string
	Profile     string       // a profile fakes.LookupProfile knows
	Faults      fakes.Faults // none when nil
	Cache       local.Cache  // folder backends' page cache; "" as it stands
	Format      string       // FormatLoose or FormatTar
	Shard       int64        // with FormatTar: the shards' size in bytes
	Read        string       // with FormatTar: ReadStream or ReadRange
	Shuffle     int          // with ReadStream: each worker's shuffle buffer, in samples
	Part        int64        // with FormatLoose or ReadStream: items or shards read in ranged parts of this many bytes; 0: whole
	Concurrency int          // Raw's readers
	Workload    train.Workload
	Accel       int
	Mode        loader.Mode
	Workers     int
	Batch       int
	Fetch       int // async reads a worker; 0 for the batch size
	Decode      loader.Decoder
	OnError     loader.OnError
	Sched       loader.Scheduler
	Window      WindowSize   // under the item scheduler
	Hedge       loader.Hedge // under the item scheduler

	named uint64 // the dimensions set explicitly, by index in Dims
}

// zero returns the case of bench with every dimension at its default.
func zero(bench string) Case {
	c := Case{Bench: bench}
	for _, d := range Dims {
		def, _, _ := strings.Cut(d.Default, ",")
		if def == "" {
			continue // the zero value: a setting no name spells (cache)
		}
		if err := d.parse(&c, def); err != nil {
			panic(fmt.Sprintf("cases: default %q of %s: %v", def, d.Key, err))
		}
	}
	// Backend and mode have no default a name may leave out; the zero
	// case's are the first of their lists.
	c.normalize()
	return c
}

// normalize gives a Train case whose workload has a batch size of its
// own that batch, whatever the batch dimension says.
func (c *Case) normalize() {
	if c.Bench == results.Train && c.Workload.Batch > 0 {
		c.Batch = c.Workload.Batch
	}
}

// Named reports whether d was set explicitly (by a variable, a -loader
// key, or a name that carries it).
func (c *Case) Named(d *Dim) bool { return c.named&(1<<d.index()) != 0 }

// SetNamed marks d as set explicitly, so that names carry it even at its
// default (see [WhenSet]).
func (c *Case) SetNamed(d *Dim) { c.named |= 1 << d.index() }

// Set parses s as d's value of c and marks d as set explicitly.
func (c *Case) Set(d *Dim, s string) error {
	if err := d.parse(c, s); err != nil {
		return fmt.Errorf("%s=%s: %w", d.Key, s, err)
	}
	c.normalize()
	c.SetNamed(d)
	return nil
}

// Dims returns the dimensions c's name carries, in order.
func (c *Case) Dims() []*Dim {
	var out []*Dim
	for _, d := range Dims {
		if !d.appliesTo(c) {
			continue
		}
		if d.Rule == Always || d.Rule == WhenSet && c.Named(d) || !d.isDefault(c) {
			out = append(out, d)
		}
	}
	return out
}

// Value returns c's value of d as names write it.
func (c *Case) Value(d *Dim) string { return d.format(c) }

// SubName returns the name of c under its benchmark, without the backend:
// "profile=none/mode=sync/workers=2/batch=50".
func (c Case) SubName() string {
	var b strings.Builder
	for _, d := range c.Dims() {
		if d == Backend {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('/')
		}
		b.WriteString(d.Key + "=" + d.format(&c))
	}
	return b.String()
}

// Name returns c's full benchmark name, without the "-N" GOMAXPROCS
// suffix the testing package adds:
// "BenchmarkLoad/backend=mem/profile=none/mode=sync/workers=2/batch=50".
func (c Case) Name() string {
	return "Benchmark" + c.Bench + "/" + Backend.Key + "=" + c.Backend + "/" + c.SubName()
}

// gomaxprocs matches the "-N" suffix the testing package adds to a name.
var gomaxprocs = regexp.MustCompile(`-[0-9]+$`)

// Parse returns the case a benchmark name describes, with or without its
// "Benchmark" prefix and "-N" suffix: every key must be a dimension of
// that benchmark, given once, with a value its parser takes; keys absent
// take their defaults. A name Parse accepts is the case's [Case.Name],
// up to the prefix and suffix.
func Parse(name string) (Case, error) { return parse(name, true) }

// ParseAny is [Parse] for names as other versions of the suite, or
// people, wrote them: its keys in any order, a key at its default written
// or not. Every key must still be a dimension of the benchmark, with a
// value its parser takes.
func ParseAny(name string) (Case, error) { return parse(name, false) }

// parse is Parse, strict or not.
func parse(name string, strict bool) (Case, error) {
	s := gomaxprocs.ReplaceAllString(strings.TrimPrefix(name, "Benchmark"), "")
	parts := strings.Split(s, "/")
	bench := parts[0]
	switch bench {
	case results.Raw, results.Load, results.Train:
	default:
		return Case{}, fmt.Errorf("name %q: benchmark %q has no cases, want Raw, Load or Train", name, bench)
	}
	c := zero(bench)
	last := -1
	seen := map[*Dim]bool{}
	for _, kv := range parts[1:] {
		k, v, ok := strings.Cut(kv, "=")
		d := Lookup(k)
		switch {
		case !ok:
			return Case{}, fmt.Errorf("name %q: %q is not key=value", name, kv)
		case d == nil:
			return Case{}, fmt.Errorf("name %q: unknown key %q", name, k)
		case !d.appliesTo(&c) && d.applies == nil:
			return Case{}, fmt.Errorf("name %q: %s is not a dimension of %s", name, k, bench)
		case seen[d] || strict && d.index() <= last:
			return Case{}, fmt.Errorf("name %q: %s out of order or given twice", name, k)
		}
		last, seen[d] = d.index(), true
		if err := c.Set(d, v); err != nil {
			return Case{}, fmt.Errorf("name %q: %w", name, err)
		}
		if strict && !d.appliesTo(&c) {
			return Case{}, fmt.Errorf("name %q: %s does not apply here (window and hedge need sched=item)", name, k)
		}
	}
	if got := strings.TrimPrefix(c.Name(), "Benchmark"); strict && got != s {
		return Case{}, fmt.Errorf("name %q: not as this suite writes it (%s)", name, got)
	}
	return c, nil
}

// Options returns the loader's options of a Load or Train case (its batch
// the workload's, when the workload has one); Prefetch, Epochs, Shard and
// the like are the caller's.
func (c *Case) Options() loader.Options {
	o := loader.Options{Mode: c.Mode, Workers: c.Workers, BatchSize: c.Batch, FetchConcurrency: c.Fetch, Decode: c.Decode, OnError: c.OnError, Part: c.Part}
	if c.Sched == loader.SchedItem {
		o.Item = &loader.ItemOptions{Window: c.Window.Resolve(o.InFlight()), Hedge: c.Hedge}
		if r, err := o.Resolved(); err == nil && o.Item.Window == 0 {
			// The default window, as names give it: with the default
			// prefetch factor, whatever prefetch the caller sets.
			o.Item.Window = r.Item.Window
		}
	}
	return o
}

// Streams reports whether c reads tar shards as streams (format=tar,
// read=stream): its loader then needs the shards' layout in
// loader.Options.Stream, which the caller, who has the dataset, sets.
func (c *Case) Streams() bool { return c.Format == FormatTar && c.Read == ReadStream }

// InFlight returns C, the reads a Load or Train case's loader (one
// accelerator's) may have in flight, by the loader's own rule; 0 when the
// loader would refuse its options.
func (c *Case) InFlight() int { return c.Options().InFlight() }

// ResolvedWindow returns the item scheduler's window in items, as names
// give it: the loader's default resolved.
func (c *Case) ResolvedWindow() int {
	o := c.Options()
	if r, err := o.Resolved(); err == nil && r.Item != nil {
		return r.Item.Window
	}
	if o.Item != nil {
		return o.Item.Window
	}
	return 0
}

// Check returns an error for a case the loader or the workload would
// refuse, naming its dimension; nil for a Raw case.
func (c *Case) Check() error {
	if c.Bench == results.Raw {
		return nil
	}
	if _, err := c.Options().Resolved(); err != nil {
		return fmt.Errorf("%s: %w", c.SubName(), err)
	}
	return nil
}

// ProfileOf returns the emulated profile c names.
func (c *Case) ProfileOf() fakes.Profile {
	p, err := fakes.LookupProfile(c.Profile)
	if err != nil {
		// Every way a case is made parses its profile.
		panic(fmt.Sprintf("cases: profile %q: %v", c.Profile, err))
	}
	return p
}

// InFlightOf returns C, the reads a Load or Train point's loader can have
// in flight, from its name by the loader's own rule; 0 when the name is
// not a case's, does not give its mode, workers and batch, or says what
// the loader refuses.
func InFlightOf(p *results.Point) int {
	for _, d := range []*Dim{Mode, Workers, Batch} {
		if p.NameKey(d.Key) == "" {
			return 0
		}
	}
	c, err := ParseAny(p.Name())
	if err != nil || c.Bench == results.Raw {
		return 0
	}
	return c.InFlight()
}
