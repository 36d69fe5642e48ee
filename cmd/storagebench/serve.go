package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/storagebench/storagebench/dataset"
	"github.com/storagebench/storagebench/dataset/s3blob"
	"github.com/storagebench/storagebench/fakes"
	"github.com/storagebench/storagebench/internal/progress"
	"github.com/storagebench/storagebench/reqlog"
)

// runServe implements "storagebench serve": it starts a fake S3 server
// with an emulated latency profile, creates a bucket, optionally fills it
// with a synthetic dataset and its index.json, writes a seed-format
// configuration for it, prints the endpoint, and serves until ctx is done.
//
// It counts what it serves (see [fakes.Observer]): Prometheus metrics at
// GET /metrics while it runs, a summary on stdout when it stops, and with
// -o, benchmark-format lines.
//
// The first line printed to stdout is "endpoint URL", so that a caller
// that listens on port 0 learns the bound address; when -config-out is
// given, the file is complete before that line is printed. runServe returns
// nil once ctx is done and the server is shut down.
func runServe(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:9000", "`address` to listen on (port 0 picks a free port)")
	profileName := fs.String("profile", "none", "emulation `profile` (see below)")
	seed := fs.Uint64("seed", 0, "seed of the synthetic dataset and of the emulator's draws")
	bucket := fs.String("bucket", "storagebench", "`name` of the bucket to create")
	n := fs.Int("n", 0, "fill the bucket with this many synthetic items and index.json (0: leave it empty)")
	configOut := fs.String("config-out", "", "write a seed-format S3 configuration for the server to `file`")
	faultSpec := fs.String("faults", "none", "faults injected into object GETs, such as `slowdown:0.05+stall:0.01` (see below)")
	accessKey := fs.String("access-key", fakes.FakeAccessKeyID, "the access key `id` requests must be signed with (and -config-out writes)")
	secretKey := fs.String("secret-key", fakes.FakeSecretAccessKey, "the secret `key` requests must be signed with (and -config-out writes)")
	anonymous := fs.Bool("anonymous", false, "serve every request, signed or not, with any keys")
	outPath := fs.String("o", "", "write what the server saw to `file` in benchmark format: a Serve line for the whole run, and one for each -interval")
	interval := fs.Duration("interval", 0, "with -o, also a line for each `interval` of serving, such as 10s (0: none)")
	requestLog := fs.String("request-log", "", "write every request served after the fill to `file`, gzip-compressed CSV (see storagebench requests)")
	label := fs.String("label", "", "with -o, name `keys` added to its lines' names, such as client=torch/mode=sync/workers=4")
	fs.Usage = func() { serveUsage(fs) }
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		fs.Usage()
		return fmt.Errorf("serve: takes no arguments, got %q", pos)
	}
	if *n < 0 {
		fs.Usage()
		return fmt.Errorf("serve: -n must be >= 0, got %d", *n)
	}
	profile, err := fakes.LookupProfile(*profileName)
	if err != nil {
		return fmt.Errorf("serve: -profile: %w", err)
	}
	var emu *fakes.Emulator
	if !profile.IsZero() {
		emu = fakes.NewEmulator(profile, *seed)
	}
	faults, err := fakes.ParseFaults(*faultSpec)
	if err != nil {
		return fmt.Errorf("serve: -faults: %w", err)
	}
	if *accessKey == "" || *secretKey == "" {
		return errors.New("serve: -access-key and -secret-key may not be empty (-anonymous serves requests signed with any keys, or none)")
	}
	creds := fakes.Credentials{AccessKeyID: *accessKey, SecretAccessKey: *secretKey}
	switch {
	case *interval < 0:
		return fmt.Errorf("serve: -interval %v: want a positive duration, or 0 for none", *interval)
	case *interval > 0 && *outPath == "":
		return fmt.Errorf("serve: -interval %v needs -o FILE, where its lines go", *interval)
	case *label != "" && *outPath == "":
		return fmt.Errorf("serve: -label %q needs -o FILE, the lines it names", *label)
	}
	if err := checkLabel(*label); err != nil {
		return fmt.Errorf("serve: -label %q: %w", *label, err)
	}
	obs := fakes.NewObserver()

	// The faults start once the bucket is filled and its index written.
	if *bucket == "metrics" {
		return errors.New(`serve: -bucket metrics: the name is the metrics' path, GET /metrics; choose another`)
	}
	srv, err := fakes.StartS3(ctx, fakes.S3Options{Addr: *addr, Emulator: emu, Buckets: []string{*bucket}, Credentials: creds, CheckSignatures: !*anonymous, Observer: obs})
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	// The -o file, created once the server runs: a refused start leaves
	// an earlier file as it was.
	var (
		out  *servedWriter
		file *os.File
	)
	if *outPath != "" {
		if file, err = os.Create(*outPath); err != nil {
			srv.Close()
			return fmt.Errorf("serve: -o: %w", err)
		}
		defer file.Close() // after a Close that failed, or an error
		out = newServedWriter(file, profile.Name, faults, *label)
	}
	var rlog *reqlog.Writer
	if *requestLog != "" {
		lf, err := os.Create(*requestLog)
		if err != nil {
			srv.Close()
			return fmt.Errorf("serve: -request-log: %w", err)
		}
		if rlog, err = reqlog.NewWriter(lf); err != nil {
			lf.Close()
			srv.Close()
			return fmt.Errorf("serve: -request-log %s: %w", *requestLog, err)
		}
		defer rlog.Close() // after a Close that failed, or an error
	}
	var start time.Time
	err = setUpServer(ctx, stdout, stderr, srv, *bucket, *n, *seed, *configOut, profile, faults, *anonymous, func() {
		// What the user's job does, not the fill: started before the
		// configuration is written and the server said ready, so that no
		// request of a client that waits for either is missed.
		obs.Restart()
		if rlog != nil {
			obs.LogTo(rlog)
		}
		start = time.Now()
	})
	var (
		ticks sync.WaitGroup
		last  time.Duration // the end of the last interval written
	)
	if err == nil {
		if *interval > 0 {
			ticks.Go(func() { last = writeIntervals(ctx, stderr, obs, out, start, *interval) })
		}
		<-ctx.Done()
	}
	ticks.Wait()
	if cerr := srv.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("serve: shut down: %w", cerr)
	}
	obs.Wait() // the requests Close cut short, counted and logged
	if err != nil {
		return err
	}
	if rlog != nil {
		obs.LogTo(nil)
		if err := rlog.Close(); err != nil {
			return fmt.Errorf("serve: -request-log %s: %w", *requestLog, err)
		}
	}
	if *interval > 0 {
		// The last interval, cut short by the end.
		if err := out.write(obs.Cut(), last+*interval); err != nil {
			return fmt.Errorf("serve: -o %s: %w", *outPath, err)
		}
	}
	whole := obs.Whole()
	if err := printServed(stdout, whole); err != nil {
		return err
	}
	if out != nil {
		if err := out.write(whole, 0); err != nil {
			return fmt.Errorf("serve: -o %s: %w", *outPath, err)
		}
		if err := file.Close(); err != nil {
			return fmt.Errorf("serve: -o %s: %w", *outPath, err)
		}
	}
	return nil
}

// writeIntervals writes a line of what obs saw every interval from start
// until ctx is done, each named by its end since start, rounded to the
// interval (a tick the ticker dropped while a line was written makes a
// longer interval, named by its end). It returns the end of the last
// interval written; a line it cannot write is reported on stderr, once.
func writeIntervals(ctx context.Context, stderr io.Writer, obs *fakes.Observer, out *servedWriter, start time.Time, interval time.Duration) time.Duration {
	t := time.NewTicker(interval)
	defer t.Stop()
	var last time.Duration
	for {
		select {
		case <-ctx.Done():
			return last
		case now := <-t.C:
			at := now.Sub(start).Round(interval)
			if at <= last {
				at = last + interval
			}
			if err := out.write(obs.Cut(), at); err != nil {
				fmt.Fprintf(stderr, "serve: -o: %v; no more interval lines\n", err)
				return last
			}
			last = at
		}
	}
}

// setUpServer fills the bucket of srv with n items, calls filled, writes its
// configuration to configOut when that is not empty, and prints where the
// server is. The configuration names the emulated profile in its "profile"
// field, left out when the profile emulates nothing (none, fixed-0s).
func setUpServer(ctx context.Context, stdout, stderr io.Writer, srv *fakes.S3, bucket string, n int, seed uint64, configOut string, profile fakes.Profile, faults fakes.Faults, anonymous bool, filled func()) error {
	indexURL := "s3://" + bucket + "/" + dataset.IndexKey
	if n > 0 {
		b, err := s3blob.Open(srv.Client, bucket, "")
		if err != nil {
			return fmt.Errorf("serve: %w", err)
		}
		prog := progress.New(stderr, progress.IsTerminal(stderr), n, "serve: fill", "items")
		_, err = fakes.Synth{N: n, Seed: seed}.WriteProgress(ctx, dataset.NewStore(b), 0, prog.Set)
		prog.Finish()
		if err != nil {
			return fmt.Errorf("serve: fill bucket %q: %w", bucket, err)
		}
	}
	filled()
	if configOut != "" {
		cfg := srv.Config(bucket)
		cfg.IndexURL = indexURL
		if !profile.IsZero() {
			cfg.Profile = profile.Name // results taken through the file say so
		}
		if !faults.IsZero() {
			cfg.Faults = faults.String() // and so do its faults
		}
		data, err := json.MarshalIndent(cfg, "", "  ")
		if err != nil {
			return fmt.Errorf("serve: encode config: %w", err)
		}
		if err := writeFileAtomic(configOut, append(data, '\n'), 0o600); err != nil {
			return fmt.Errorf("serve: write config %s: %w", configOut, err)
		}
	}

	contents := "empty"
	if n > 0 {
		contents = fmt.Sprintf("%d items, index %s", n, indexURL)
	}
	config := configOut
	if config == "" {
		config = "none written (use -config-out FILE)"
	}
	if !faults.IsZero() {
		srv.SetFaults(fakes.NewInjector(faults, seed))
	}
	// The access key id, never the secret: output is often kept.
	creds := "requests signed (AWS SigV4) with access key id " + srv.Config("").AccessKeyID + " and its secret key"
	if anonymous {
		creds = "anonymous: every request served, signed or not"
	}
	_, err := fmt.Fprintf(stdout, "endpoint %s\nbucket %s (%s)\nprofile %s: %s\nfaults %s\ncredentials %s\nconfig %s\n",
		srv.URL, bucket, contents, profile.Name, profile.Source, faults, creds, config)
	if err != nil {
		return err
	}
	fmt.Fprintln(stderr, "serving until interrupted")
	return nil
}

// serveUsage prints the usage of serve, listing the emulation profiles.
func serveUsage(fs *flag.FlagSet) {
	w := fs.Output()
	fmt.Fprintln(w, "usage: storagebench serve [-addr 127.0.0.1:9000] [-profile none] [-faults none] [-seed S] [-bucket storagebench] [-n N] [-config-out FILE] [-access-key ID -secret-key KEY | -anonymous]")
	fmt.Fprintln(w, "\nServes a fake S3 on -addr until interrupted (Ctrl-C or SIGTERM), with one bucket,")
	fmt.Fprintln(w, "optionally filled with a synthetic dataset and its index.json. The configuration")
	fmt.Fprintln(w, "that -config-out writes names the profile in its \"profile\" field, unless the")
	fmt.Fprintln(w, "profile emulates nothing (none), and the faults in its \"faults\" field.")
	fmt.Fprintln(w, "\nEvery request must be signed (AWS Signature Version 4, in its header or a presigned")
	fmt.Fprintln(w, "URL) with -access-key and -secret-key, which -config-out writes: a wrong key id is")
	fmt.Fprintln(w, "answered 403 InvalidAccessKeyId, a wrong secret 403 SignatureDoesNotMatch, an")
	fmt.Fprintln(w, "unsigned request 403 AccessDenied, as S3 answers them; -anonymous serves them all.")
	fmt.Fprintln(w, "\nWhat the server sees is counted: by operation, requests by status, bytes, throttled and")
	fmt.Fprintln(w, "failed answers, times to first byte and in all, requests in flight over time, CPU a")
	fmt.Fprintln(w, "request. An unsigned GET /metrics returns them in Prometheus' text format; a summary is")
	fmt.Fprintln(w, "printed when serve stops; -o FILE writes them as benchmark lines (Serve/profile=P), for")
	fmt.Fprintln(w, "the whole run and, with -interval D, for each D of it.")
	fmt.Fprintln(w, "\nFlags:")
	fs.PrintDefaults()
	fmt.Fprintln(w, "\nProfiles:")
	for _, p := range fakes.Profiles() {
		fmt.Fprintf(w, "  %-10s %s\n", p.Name, p.Source)
	}
	fmt.Fprintf(w, "  %-10s %s\n", "fixed-D", "a fixed time to first byte D (e.g. fixed-10ms), no bandwidth cap")
	fmt.Fprintln(w, "\nFaults, fault:rate terms joined by +, each a fraction of object GETs:")
	for _, f := range []struct {
		f    fakes.Fault
		what string
	}{
		{fakes.FaultSlowDown, "503 SlowDown, S3's throttling answer"},
		{fakes.FaultInternal, "500 InternalError"},
		{fakes.FaultReset, "the connection reset before any response"},
		{fakes.FaultShort, "headers with the full Content-Length, half the body, then the connection closed"},
		{fakes.FaultStall, "headers, then nothing until the client gives up"},
		{fakes.FaultTrickle, "the body at 8 Mbit/s, 4 KiB at a time"},
	} {
		fmt.Fprintf(w, "  %-10s %s\n", f.f, f.what)
	}
}
