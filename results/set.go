package results

import (
	"errors"
	"fmt"
	"slices"
	"strconv"

	"golang.org/x/perf/benchfmt"
	"golang.org/x/perf/benchproc"
)

// Iters is the key under which every result read carries its iteration
// count, so that a projection can tell runs of different lengths apart
// (".iters@num"). Like benchfmt's ".file", it is not a file
// configuration line, so ".config" and the residue of a grouping leave
// it out.
const Iters = ".iters"

// File is benchfmt's key for the file, or the label, a result was read
// from.
const File = ".file"

// A Set is benchmark results read from files, in the order read.
type Set struct {
	results []*benchfmt.Result
	files   []string
	units   benchfmt.UnitMetadataMap
	ignore  string // a projection whose keys no grouping tells apart
}

// Read reads the benchmark results in files, each a path or label=path as
// benchstat takes them (the label becomes the results' ".file"). Lines that
// are not results or configuration are skipped, as benchstat skips them;
// malformed result lines are errors, all of them returned together, each
// naming its file and line.
func Read(files ...string) (*Set, error) {
	if len(files) == 0 {
		return nil, errors.New("no results files given")
	}
	s := &Set{}
	r := benchfmt.Files{Paths: files, AllowLabels: true}
	var syntax []error
	for r.Scan() {
		switch rec := r.Result().(type) {
		case *benchfmt.SyntaxError:
			syntax = append(syntax, rec)
		case *benchfmt.Result:
			res := rec.Clone()
			res.SetConfig(Iters, strconv.Itoa(res.Iters))
			s.results = append(s.results, res)
			if f := res.GetConfig(File); !slices.Contains(s.files, f) {
				s.files = append(s.files, f)
			}
		}
	}
	if err := r.Err(); err != nil {
		return nil, err
	}
	if len(syntax) > 0 {
		return nil, errors.Join(syntax...)
	}
	s.units = r.Units()
	return s, nil
}

// Len returns the number of results in s, each one run of a benchmark.
func (s *Set) Len() int { return len(s.results) }

// Files returns the files, or labels, of the results in s, in the order
// first read.
func (s *Set) Files() []string { return slices.Clone(s.files) }

// Filter returns the results of s that match query, in benchproc's filter
// syntax ("go doc golang.org/x/perf/benchproc/syntax"), such as
// ".name:Load /profile:(s3 OR seed-s3)" or ".unit:items/s"; a query on
// units keeps only the matching measurements of each result.
func (s *Set) Filter(query string) (*Set, error) {
	f, err := benchproc.NewFilter(query)
	if err != nil {
		return nil, fmt.Errorf("filter %q: %w", query, err)
	}
	out := &Set{units: s.units, ignore: s.ignore}
	for _, r := range s.results {
		r = r.Clone()
		if ok, _ := f.Apply(r); !ok {
			continue
		}
		out.results = append(out.results, r)
		if f := r.GetConfig(File); !slices.Contains(out.files, f) {
			out.files = append(out.files, f)
		}
	}
	return out, nil
}

// Ignore returns s with the keys of projection, such as
// "loader-prefetch" or "/fetch,endpoint", left out of every grouping's
// residue, as benchstat's -ignore does: results that differ only in them
// are runs of one point, so that two files that differ in a setting pair.
func (s *Set) Ignore(projection string) (*Set, error) {
	var parser benchproc.ProjectionParser
	if _, err := parser.Parse(projection, nil); err != nil {
		return nil, fmt.Errorf("ignore %q: %w", projection, err)
	}
	out := *s
	out.ignore = projection
	return &out, nil
}

// Names returns the distinct benchmark names in s, with "Benchmark" and
// without sub-benchmark keys, in the order first read: for messages that
// say what a file holds.
func (s *Set) Names() []string {
	var names []string
	for _, r := range s.results {
		base, _ := r.Name.Parts()
		if n := "Benchmark" + string(base); !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	return names
}

// Config returns the distinct values of the configuration line key among
// the results of s, in the order first read.
func (s *Set) Config(key string) []string {
	var vals []string
	for _, r := range s.results {
		if v := r.GetConfig(key); v != "" && !slices.Contains(vals, v) {
			vals = append(vals, v)
		}
	}
	return vals
}

// ConfigKeys returns the keys of the file configuration lines the results
// of s carry, in the order first read.
func (s *Set) ConfigKeys() []string {
	var keys []string
	for _, r := range s.results {
		for _, c := range r.Config {
			if c.File && !slices.Contains(keys, c.Key) {
				keys = append(keys, c.Key)
			}
		}
	}
	return keys
}

// HigherIsBetter reports whether the files of s declare that a larger
// value of unit is better ("Unit items/s better=higher"), or the unit is
// one of this project's [HigherIsBetter].
func (s *Set) HigherIsBetter(unit string) bool {
	if slices.Contains(HigherIsBetter, unit) {
		return true
	}
	md := s.units[benchfmt.UnitMetadataKey{Unit: unit, Key: "better"}]
	return md != nil && md.Value == "higher"
}
