// Package report draws benchmark results as figures and pages people
// would rather look at than read.
//
// Figures are built from a [results.Set] and written as SVG and PNG
// (gonum.org/v1/plot): the seed's per-level figure ([LevelFigures]), items
// per second against workers with the storage's bound ([ThroughputFigures];
// with results from several files, before and after on the same axes), and
// accelerator utilization against accelerators ([AUFigures]). [WritePage]
// puts them in one self-contained HTML page with the benchstat tables that
// matter.
package report
