// Package proccpu reads the CPU time this process has used, for the
// benchmarks that report it beside their rates.
package proccpu
