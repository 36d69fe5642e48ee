// Command storagebench does what go test cannot: it generates and indexes
// datasets, serves the emulated S3 store, plots benchmark results, checks
// them against the performance targets, and finds the most emulated
// accelerators a store keeps busy.
//
// Usage:
//
//	storagebench gen -n N [-seed S] [-force] DEST write a synthetic dataset and its index.json
//	storagebench index SRC [-suffix .JPEG] [-o FILE]  list a folder or s3://bucket/prefix into an index
//	storagebench serve [-addr A] [-profile P] [-n N]  serve a fake S3 with emulated latency
//	storagebench plot [-o DIR] RESULTS...         draw figures (SVG and PNG) from benchmark output
//	storagebench report [-o FILE] RESULTS...      write one HTML page of figures and tables
//	storagebench targets RESULTS...               check benchmark output against the targets
//	storagebench env [-markdown]                  list the environment variables the benchmarks read
//	storagebench feed [-profile P] [-loader C]... find the most accelerators the store keeps busy
//	storagebench merge [-o FILE] TIMELINES... RESULTS...  combine the ranks of a run into cluster figures
//	storagebench count [-items N] NAME...         the -benchtime count that sizes a Load case
//	storagebench requests [-gets] [-step D] [-server SERVERLOG] LOG  summarize a request log, or match it against a server's
//
// DEST and SRC are a folder or an s3://bucket/prefix URL; S3 is reached
// with the seed-format configuration named by -s3-config or
// STORAGEBENCH_S3_CONFIG, or else with the standard AWS chain.
//
// An interrupt (Ctrl-C) or SIGTERM (what kill, Kubernetes and systemd send)
// cancels the command's context: serve then shuts down and exits with
// status 0.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Stdout, os.Stderr, os.Args[1:])
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "storagebench:", err)
		}
		os.Exit(2)
	}
}

// commands maps each subcommand to its function.
var commands = map[string]func(ctx context.Context, stdout, stderr io.Writer, args []string) error{
	"gen":      runGen,
	"index":    runIndex,
	"serve":    runServe,
	"plot":     runPlot,
	"report":   runReport,
	"targets":  runTargets,
	"env":      runEnv,
	"feed":     runFeed,
	"merge":    runMerge,
	"count":    runCount,
	"cache":    runCache,
	"requests": runRequests,
}

// run runs the subcommand named by args[0].
func run(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "-help" || args[0] == "help" {
		fmt.Fprintln(stderr, "usage: storagebench gen|index|serve|plot|report|targets|env|feed|merge|count|cache [flags] [args]")
		if len(args) == 0 {
			return errors.New("no subcommand")
		}
		return flag.ErrHelp
	}
	cmd, ok := commands[args[0]]
	if !ok {
		return fmt.Errorf("unknown subcommand %q; want gen, index, serve, plot, report, targets, env, feed, merge or count", args[0])
	}
	return cmd(ctx, stdout, stderr, args[1:])
}
