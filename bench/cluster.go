package bench

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/storagebench/storagebench/cases"
	"github.com/storagebench/storagebench/cluster"
	"github.com/storagebench/storagebench/dataset/storeurl"
	"github.com/storagebench/storagebench/loader"
)

// ClusterEnv is the run of many processes that the environment places
// this one in: a launcher's rank and world size (see [cluster.FromEnv])
// and STORAGEBENCH_START_AT, _RENDEZVOUS, _RUN_ID, _TIMELINE, _HEARTBEAT
// and _RENDEZVOUS_TIMEOUT.
type ClusterEnv struct {
	// World is the rank and world size, from the launcher's variables.
	World cluster.World
	// Notes are what the launchers' variables said that was ignored
	// (another launcher's rank), for a log line.
	Notes      []string
	StartAt    time.Time     // STORAGEBENCH_START_AT; zero when unset
	Rendezvous string        // STORAGEBENCH_RENDEZVOUS: a folder or s3://bucket/prefix
	RunID      string        // STORAGEBENCH_RUN_ID, or the launcher's run id
	Timeline   string        // the timeline file, resolved for this rank
	Heartbeat  time.Duration // STORAGEBENCH_HEARTBEAT; 0 for the default
	Timeout    time.Duration // STORAGEBENCH_RENDEZVOUS_TIMEOUT; 0 for the default
}

// Active reports whether the process takes part in a run of many, or
// was asked to keep a timeline or wait for a start.
func (c ClusterEnv) Active() bool {
	return c.World.Distributed() || c.Rendezvous != "" || !c.StartAt.IsZero() || c.Timeline != ""
}

// clusterFromEnv reads the cluster's part of the environment.
func clusterFromEnv(getenv func(string) string) (ClusterEnv, error) {
	var c ClusterEnv
	var err error
	if c.World, c.Notes, err = cluster.FromEnv(getenv); err != nil {
		return c, err
	}
	if v := getenv(cases.StartAt); v != "" {
		if c.StartAt, err = cluster.ParseStartAt(v); err != nil {
			return c, err
		}
	}
	c.Rendezvous = getenv(cases.Rendezvous)
	if c.Rendezvous != "" {
		if _, err := storeurl.Parse(c.Rendezvous); err != nil {
			return c, fmt.Errorf("%s=%q: %w", cases.Rendezvous, c.Rendezvous, err)
		}
	}
	c.RunID = cluster.RunIDFromEnv(getenv)
	if v := getenv(cases.Timeline); v != "" {
		c.Timeline = cluster.TimelinePath(v, c.World.Rank)
	}
	for _, v := range []struct {
		name string
		dst  *time.Duration
	}{{cases.Heartbeat, &c.Heartbeat}, {cases.RendezvousTimeout, &c.Timeout}} {
		if s := getenv(v.name); s != "" {
			d, perr := time.ParseDuration(s)
			if perr != nil || d <= 0 {
				return c, fmt.Errorf("%s=%q: want a positive duration such as 1s", v.name, s)
			}
			*v.dst = d
		}
	}
	return c, nil
}

// Rank is this process's part in a run of many: its shard of every epoch,
// the barrier before each timed run, the heartbeats that end the run when
// another rank dies, and its timeline. A nil *Rank is a process of its
// own.
type Rank struct {
	// World is this rank's place in the run.
	World    cluster.World
	session  *cluster.Session  // nil: no barriers
	timeline *cluster.Timeline // nil: no timeline
	closeFn  func() error      // releases the rendezvous
}

// JoinRank joins the run that e.Cluster describes, or returns nil when
// it describes none. A run of more than one rank, or one that keeps a
// timeline, must run every timed run once, with the same count of
// iterations on every rank: the caller checks that (a test binary's
// -test.benchtime is a count, such as 100x).
func JoinRank(ctx context.Context, e Env) (*Rank, error) {
	c := e.Cluster
	if !c.Active() {
		return nil, nil
	}
	r := &Rank{World: c.World, closeFn: func() error { return nil }}
	cfg := cluster.Config{World: c.World, RunID: c.RunID, StartAt: c.StartAt, Heartbeat: c.Heartbeat, Timeout: c.Timeout, Where: c.Rendezvous}
	if c.Rendezvous != "" {
		loc, err := storeurl.Parse(c.Rendezvous)
		if err != nil {
			return nil, fmt.Errorf("%s=%q: %w", cases.Rendezvous, c.Rendezvous, err)
		}
		store, closeFn, err := loc.Open(ctx, e.S3Config, true)
		if err != nil {
			return nil, fmt.Errorf("%s=%q: %w", cases.Rendezvous, c.Rendezvous, err)
		}
		cfg.Store, r.closeFn = store, closeFn
	}
	if cfg.Store != nil || c.World.Size > 1 || !c.StartAt.IsZero() {
		s, err := cluster.Join(ctx, cfg)
		if err != nil {
			r.closeFn()
			return nil, err
		}
		r.session = s
	}
	if c.Timeline != "" {
		tl, err := cluster.CreateTimeline(c.Timeline, c.World, c.RunID)
		if err != nil {
			r.Close(ctx, err)
			return nil, fmt.Errorf("%s: %w", cases.Timeline, err)
		}
		r.timeline = tl
	}
	return r, nil
}

// Close ends the rank's part: its last heartbeat says done, or failed
// with err, which ends the run on the other ranks; the timeline is
// flushed.
func (r *Rank) Close(ctx context.Context, err error) error {
	if r == nil {
		return nil
	}
	var errs []error
	if r.session != nil {
		errs = append(errs, r.session.Close(ctx, err))
	}
	if r.timeline != nil {
		errs = append(errs, r.timeline.Close())
	}
	errs = append(errs, r.closeFn())
	return errors.Join(errs...)
}

// world returns r's place in the run, that of a run of one for nil.
func (r *Rank) world() cluster.World {
	if r == nil {
		return cluster.World{Size: 1}
	}
	return r.World
}

// distributed reports whether r shares its runs with other ranks.
func (r *Rank) distributed() bool { return r != nil && r.World.Size > 1 }

// shard returns the rank's share of every epoch, the whole index for a
// run of one.
func (r *Rank) shard() loader.Shard {
	if !r.distributed() {
		return loader.Shard{}
	}
	return loader.Shard{Rank: r.World.Rank, World: r.World.Size}
}

// Bind returns a context that ends, with the cause, when the run must
// end on every rank (another rank died or failed), and a function to call
// when the timed run called name is over: with its error, which then ends
// the run on the other ranks, or nil.
func (r *Rank) Bind(ctx context.Context, name string) (context.Context, func(err error)) {
	if r == nil || r.session == nil {
		return ctx, func(error) {}
	}
	ctx, cancel := context.WithCancelCause(ctx)
	stop := context.AfterFunc(r.session.Context(), func() { cancel(context.Cause(r.session.Context())) })
	return ctx, func(err error) {
		if err != nil {
			r.session.Abort(context.Background(), fmt.Errorf("%s failed: %w", name, err))
		}
		stop()
		cancel(nil)
	}
}

// barrier waits at the barrier before the timed run called name until
// every rank is there, and then until the start they agreed on.
func (r *Rank) barrier(ctx context.Context, name string) error {
	if r == nil || r.session == nil {
		return nil
	}
	if _, err := r.session.Barrier(ctx, name); err != nil {
		return fmt.Errorf("rank %d of %d: %w", r.World.Rank, r.World.Size, err)
	}
	return nil
}

// cause returns the error to report for err, met while running under
// ctx: the reason ctx ended, when it did (another rank died), else err.
func cause(ctx context.Context, err error) error {
	if c := context.Cause(ctx); c != nil {
		return c
	}
	return err
}

// A tracker tells a rank's timeline what a timed run consumed: the items
// and bytes as they come, and what each epoch held, from the loaders'
// start. A nil *tracker tracks nothing.
type tracker struct {
	tl  *cluster.Timeline
	c   cluster.Counter
	cov *cluster.Coverage
	run *cluster.Run
}

// tracker returns a tracker of a run whose shards hold what plan says
// (see [plan]); nil without a timeline.
func (r *Rank) tracker(plan func(epoch int) (share, want int64, wantSum uint64)) *tracker {
	if r == nil || r.timeline == nil {
		return nil
	}
	return &tracker{tl: r.timeline, cov: cluster.NewCoverage(plan)}
}

// epoch counts a batch of epoch e towards its coverage.
func (t *tracker) epoch(e int, items []loader.Item) {
	if t == nil {
		return
	}
	idx := make([]int, len(items))
	for i := range items {
		idx[i] = items[i].Index
	}
	t.cov.Add(e, idx...)
}

// count counts items consumed, of nbytes bytes in all.
func (t *tracker) count(items, nbytes int64) {
	if t != nil {
		t.c.Add(items, nbytes)
	}
}

// start marks the start of the timed run called name: what was counted
// so far is not its.
func (t *tracker) start(name string) {
	if t == nil {
		return
	}
	t.run = t.tl.Start(name, &t.c)
}

// abandon stops the samples of a run that failed before its end.
func (t *tracker) abandon() {
	if t != nil && t.run != nil {
		t.run.Abandon()
	}
}

// end marks its end after n iterations, timed at elapsed from the start,
// as the result line times it.
func (t *tracker) end(n int, elapsed time.Duration) error {
	if t == nil || t.run == nil {
		return nil
	}
	return t.run.End(n, elapsed)
}

// epochs writes what each epoch held, after the end.
func (t *tracker) epochs() error {
	if t == nil || t.run == nil {
		return nil
	}
	return t.run.Epochs(t.cov)
}

// plan returns the coverage plan of shards of an index of n items, read
// in the order that order gives an epoch (nil for the identity); with
// batch > 0 each shard's last short batch is dropped, as DataLoader's
// drop_last drops it. mine are the shards of this rank.
func plan(order func(epoch int) []int, n int, shards []loader.Shard, mine []int, batch int) func(epoch int) (share, want int64, wantSum uint64) {
	return func(epoch int) (share, want int64, wantSum uint64) {
		var o []int
		if order != nil {
			o = order(epoch)
		}
		for g, sh := range shards {
			pos := sh.Positions(o, n)
			if batch > 0 {
				pos = pos[:len(pos)/batch*batch]
			}
			want += int64(len(pos))
			for _, p := range pos {
				wantSum += cluster.HashIndex(p)
			}
			for _, m := range mine {
				if m == g {
					share += int64(len(pos))
				}
			}
		}
		return share, want, wantSum
	}
}

// shards returns every rank's shard of the world sh belongs to; for the
// zero Shard, the whole index.
func shards(sh loader.Shard) []loader.Shard {
	if sh.IsZero() {
		return []loader.Shard{{}}
	}
	out := make([]loader.Shard, sh.World)
	for r := range out {
		out[r] = loader.Shard{Rank: r, World: sh.World, DropLast: sh.DropLast}
	}
	return out
}

// dropped returns the batch size when opts drop each epoch's last short
// batch, and else 0: the batch argument of [plan].
func dropped(opts loader.Options) int {
	if opts.DropLast {
		return opts.BatchSize
	}
	return 0
}
