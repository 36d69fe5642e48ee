package cases

import (
	"fmt"
	"iter"
	"slices"
	"strings"

	"github.com/storagebench/storagebench/fakes"
	"github.com/storagebench/storagebench/loader"
	"github.com/storagebench/storagebench/results"
)

// A Store is what a backend serves by itself: a real store (s3, scratch)
// runs only the profile and faults it emulates itself, none unless its
// configuration names them.
type Store struct {
	Real    bool
	Profile string       // the profile a real store serves; "" for none
	Faults  fakes.Faults // the faults a real store injects
	// Format is the layout a real store's index names: FormatTar for an
	// index of ".tar" shards, else FormatLoose (""); Shard is then the
	// size of its largest shard, as names give it.
	Format, Shard string
}

// A Matrix is the lists of values the variables give each dimension; its
// cases are their product.
type Matrix struct {
	vals   map[string][]string // by key
	setv   map[string]bool     // the keys whose variable was set
	stores map[string]Store
}

// NewMatrix reads each dimension's variable through getenv: a
// comma-separated list of values, each checked by the dimension's parser;
// an unset variable takes the dimension's default. configured are the
// real stores the environment configures (s3, scratch): they join the
// default backends, and naming another in STORAGEBENCH_BACKENDS is an
// error saying which variable configures it.
func NewMatrix(getenv func(string) string, configured ...string) (*Matrix, error) {
	m := &Matrix{vals: map[string][]string{}, setv: map[string]bool{}, stores: map[string]Store{}}
	for _, d := range Dims {
		v := getenv(d.Var)
		if v == "" {
			m.vals[d.Key] = strings.Split(d.Default, ",")
			continue
		}
		probe := zero(d.Benches[0])
		var list []string
		for _, f := range strings.Split(v, ",") {
			f = strings.TrimSpace(f)
			if f == "" {
				return nil, fmt.Errorf("%s=%q: empty element", d.Var, v)
			}
			if err := d.parse(&probe, f); err != nil {
				return nil, fmt.Errorf("%s=%q: %w", d.Var, v, err)
			}
			if d == Backend && !Hermetic(f) && !slices.Contains(configured, f) {
				return nil, fmt.Errorf("%s=%q: backend %s is not configured: set %s", d.Var, v, f, configuredBy(f))
			}
			list = append(list, f)
		}
		m.vals[d.Key], m.setv[d.Key] = list, true
	}
	if !m.setv[Backend.Key] {
		m.vals[Backend.Key] = append(m.vals[Backend.Key], configured...)
	}
	return m, nil
}

// configuredBy says what configures a real store.
func configuredBy(backend string) string {
	if backend == "s3" {
		return S3Config + " to a seed-format S3 configuration file"
	}
	return ScratchRoot + " to a folder holding a dataset"
}

// set reports whether the variable of the dimension keyed key was set.
func (m *Matrix) set(key string) bool { return m.setv[key] }

// Set reports whether d's variable was set, so that names carry it.
func (m *Matrix) Set(d *Dim) bool { return m.setv[d.Key] }

// Values returns the values d's variable lists (or its default).
func (m *Matrix) Values(d *Dim) []string { return slices.Clone(m.vals[d.Key]) }

// Backends returns the backends of the matrix, in order.
func (m *Matrix) Backends() []string { return m.Values(Backend) }

// SetStore records what a backend serves by itself.
func (m *Matrix) SetStore(backend string, s Store) { m.stores[backend] = s }

// store returns what a backend serves by itself; a hermetic backend
// serves nothing of its own.
func (m *Matrix) store(backend string) Store { return m.stores[backend] }

// Cases returns the cases of bench (results.Raw, Load or Train), the
// product of the dimensions' values in the order of [Dims], less the
// combinations that make no sense (see [Excluded]). Values are parsed as
// they were checked by [NewMatrix].
func (m *Matrix) Cases(bench string) iter.Seq[Case] {
	return func(yield func(Case) bool) {
		m.product(zero(bench), 0, yield)
	}
}

// product yields c with every combination of values of Dims[i:].
func (m *Matrix) product(c Case, i int, yield func(Case) bool) bool {
	if i == len(Dims) {
		if Excluded(&c) {
			return true
		}
		return yield(c)
	}
	d := Dims[i]
	if !d.appliesTo(&c) {
		return m.product(c, i+1, yield)
	}
	vals := m.vals[d.Key]
	if d.values != nil {
		vals = d.values(m, &c)
	}
	for _, v := range vals {
		next := c
		if v == "" {
			// The unset default of a dimension no name spells at it
			// (cache): the zero value.
			if !m.product(next, i+1, yield) {
				return false
			}
			continue
		}
		if err := d.parse(&next, v); err != nil {
			panic(fmt.Sprintf("cases: %s=%s was checked: %v", d.Key, v, err))
		}
		if m.setv[d.Key] {
			next.SetNamed(d)
		}
		if !m.product(next, i+1, yield) {
			return false
		}
	}
	return true
}

// Excluded reports whether c is a combination that makes no sense, left
// out of every matrix: a fetch concurrency above one in sync mode, which
// reads one item at a time; streams of shards under the item scheduler,
// which schedules items of an index (a stream is read by the batch
// scheduler, as WebDataset's by PyTorch's workers); items in parts under
// the item scheduler, whose parts are the batch scheduler's fetchers'.
func Excluded(c *Case) bool {
	return c.Bench != results.Raw && (c.Mode == loader.Sync && c.Fetch > 1 ||
		(c.Streams() || c.Part > 0) && c.Sched == loader.SchedItem)
}

// A LoaderConfig is one -loader flag of storagebench feed, such as
// "mode=async/workers=8/sched=item/hedge=p90": the dimensions it sets,
// and the prefetch depth.
type LoaderConfig struct {
	Text     string
	dims     []*Dim
	vals     []string
	Prefetch int // 0: the default
}

// ParseLoader parses a -loader configuration: key=value parts joined by
// "/", each key a dimension the flag takes ([Dim.Loader]) or "prefetch",
// each at most once, one value each.
func ParseLoader(s string) (LoaderConfig, error) {
	lc := LoaderConfig{Text: s}
	seen := map[string]bool{}
	for _, kv := range strings.Split(s, "/") {
		k, v, ok := strings.Cut(kv, "=")
		d := Lookup(k)
		switch {
		case !ok || v == "":
			return lc, fmt.Errorf("-loader %q: %q is not key=value", s, kv)
		case k != "prefetch" && (d == nil || !d.Loader):
			return lc, fmt.Errorf("-loader %q: unknown key %q, want %s or prefetch", s, k, strings.Join(LoaderKeys(), ", "))
		case seen[k]:
			return lc, fmt.Errorf("-loader %q: %s given twice", s, k)
		case strings.Contains(v, ","):
			return lc, fmt.Errorf("-loader %q: %s=%s: one value a configuration (give -loader again for another)", s, k, v)
		}
		seen[k] = true
		if k == "prefetch" {
			n, err := atLeast(v, 1)
			if err != nil {
				return lc, fmt.Errorf("-loader %q: prefetch: %w", s, err)
			}
			lc.Prefetch = n
			continue
		}
		probe := zero(results.Train)
		if err := d.parse(&probe, v); err != nil {
			return lc, fmt.Errorf("-loader %q: %s: %w", s, k, err)
		}
		lc.dims, lc.vals = append(lc.dims, d), append(lc.vals, v)
	}
	return lc, nil
}

// Apply sets the dimensions of lc on c, and checks that the loader takes
// them together.
func (lc LoaderConfig) Apply(c *Case) error {
	for i, d := range lc.dims {
		if err := c.Set(d, lc.vals[i]); err != nil {
			return fmt.Errorf("-loader %q: %w", lc.Text, err)
		}
	}
	for _, d := range lc.dims {
		if !d.appliesTo(c) {
			switch d {
			case Shard, Read:
				return fmt.Errorf("-loader %q: %s applies to tar shards only: add format=tar", lc.Text, d.Key)
			case Shuffle:
				return fmt.Errorf("-loader %q: %s applies to streams of tar shards only: add format=tar (read=stream is the default)", lc.Text, d.Key)
			case Part:
				return fmt.Errorf("-loader %q: %s applies to loose items and streamed shards only: a sample read by range is one request", lc.Text, d.Key)
			}
			return fmt.Errorf("-loader %q: %s applies to the item scheduler only: add sched=item", lc.Text, d.Key)
		}
	}
	if Excluded(c) {
		if c.Streams() && c.Sched == loader.SchedItem {
			return fmt.Errorf("-loader %q: a stream of tar shards is read by the batch scheduler, not sched=item (read=range reads samples as items)", lc.Text)
		}
		if c.Part > 0 && c.Sched == loader.SchedItem {
			return fmt.Errorf("-loader %q: items in parts are read by the batch scheduler's fetchers, not sched=item", lc.Text)
		}
		return fmt.Errorf("-loader %q: fetch %d in sync mode, which reads one item at a time", lc.Text, c.Fetch)
	}
	if err := c.Check(); err != nil {
		return fmt.Errorf("-loader %q: %w", lc.Text, err)
	}
	return nil
}

// LoaderKeys returns the dimensions' keys the -loader flag takes.
func LoaderKeys() []string {
	var keys []string
	for _, d := range Dims {
		if d.Loader {
			keys = append(keys, d.Key)
		}
	}
	return keys
}

// NewCase returns the case of bench with every dimension at its default:
// the first value of its default list.
func NewCase(bench string) Case { return zero(bench) }
