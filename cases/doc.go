// Package cases is the one table of a benchmark run's dimensions and
// settings, and the case type built from it.
//
// A dimension (backend, profile, faults, workers, hedge, ...) is declared
// once, as a [Dim] of [Dims]: its key in benchmark names, the environment
// variable that lists its values, whether storagebench feed's -loader flag
// takes it, how its value is parsed and written, its default, and whether
// that default is written into names. Everything else derives from the
// table: a [Case]'s name ([Case.Name]) and the case a name describes
// ([Parse]), which round-trip exactly; the matrix of cases the variables
// describe ([FromEnv], [Matrix.Cases]), with the combinations that make no
// sense left out in one place; the -loader flag ([ParseLoader]); and the
// table of variables the README shows and "storagebench env" prints
// ([Variables], [WriteMarkdown]), with the settings that are not
// dimensions ([Settings]: the real stores, the dataset's size, the read
// policy, the run of many ranks).
//
// Names that existed before the table keep their spelling, so that older
// result files still pair in benchstat: a dimension whose rule is
// [WhenSet] is written only when its variable was set (or its value is not
// the default), one whose rule is [NotDefault] only when its value is not
// the default.
package cases
