// Package results reads, groups and summarises the output of this
// project's benchmarks, for every tool that draws, checks or compares
// them.
//
// It is a thin layer over golang.org/x/perf, so that results are read
// and summarised exactly as benchstat reads and summarises them:
// [golang.org/x/perf/benchfmt] reads the files, [golang.org/x/perf/benchproc]
// projections group and filter results ("/backend,/profile", "/mode",
// "/workers@num", ".file"), and [golang.org/x/perf/benchmath] summarises
// the runs of one configuration by their median and its confidence
// interval, and compares two configurations with a p-value.
//
// The names the benchmarks write are constants here: the benchmarks'
// base names ([Load]), the keys of their names ("workers", as package cases declares them), their
// metric units ([ItemsPerSecond], [LevelUnit]) and their configuration
// lines ([ConfigDatasetItems]). Package bench writes them and every
// reader reads them, so the two cannot drift apart.
package results
