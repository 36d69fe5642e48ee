package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/storagebench/storagebench/dataset"
)

// Names of the variables that configure a run of many ranks.
const (
	EnvStartAt           = "STORAGEBENCH_START_AT"
	EnvRendezvous        = "STORAGEBENCH_RENDEZVOUS"
	EnvRunID             = "STORAGEBENCH_RUN_ID"
	EnvHeartbeat         = "STORAGEBENCH_HEARTBEAT"
	EnvRendezvousTimeout = "STORAGEBENCH_RENDEZVOUS_TIMEOUT"
	EnvTimeline          = "STORAGEBENCH_TIMELINE"
)

// Defaults of a [Config].
const (
	DefaultHeartbeat = time.Second
	DefaultTimeout   = 10 * time.Minute
	// DeadAfter is how many heartbeat intervals a rank may stay silent
	// before the rank watching it declares it dead.
	DeadAfter = 5
)

// Config is how a rank joins a run.
type Config struct {
	// World is the rank and world size.
	World World
	// Store is the rendezvous, a folder or a bucket where the ranks write
	// their markers and heartbeats; nil for none, when the ranks start
	// only at StartAt and nothing watches for a dead rank.
	Store *dataset.Store
	// Where names the rendezvous in messages, e.g. s3://bucket/prefix.
	Where string
	// RunID names the run: a rank reads and writes only markers under
	// it. Letters, digits, '.', '_' and '-', at most 128. Required with a
	// Store.
	RunID string
	// StartAt, when not zero, is the earliest the first timed run starts,
	// on every rank.
	StartAt time.Time
	// Heartbeat is how often a rank writes its heartbeat and checks the
	// rank it watches; 0 means DefaultHeartbeat.
	Heartbeat time.Duration
	// Timeout bounds how long a barrier waits for every rank to arrive;
	// 0 means DefaultTimeout.
	Timeout time.Duration
}

// Session is a rank's part in a run: its barriers, and its heartbeats
// while it lasts. Its methods are safe for concurrent use.
type Session struct {
	cfg    Config
	ctx    context.Context // cancelled, with the cause, when the run must end
	cancel context.CancelCauseFunc
	halt   context.CancelFunc // stops the heartbeats
	done   chan struct{}      // closed when the heartbeat goroutine has returned
	poll   time.Duration

	mu      sync.Mutex
	seq     int // barriers entered
	closed  bool
	aborted bool
}

// validRunID is what a run id may hold: one segment of a key or a path.
var validRunID = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)

// RunIDFromEnv returns the run id getenv's variables give:
// STORAGEBENCH_RUN_ID, or else torchrun's TORCHELASTIC_RUN_ID (unless it is
// torchrun's default "none"), or else Slurm's SLURM_JOB_ID with
// SLURM_STEP_ID when set (so that two srun steps of one job are two runs),
// or else "". Kubernetes gives a pod no run id of its own: the Job's
// manifest sets STORAGEBENCH_RUN_ID from its controller-uid label.
func RunIDFromEnv(getenv func(string) string) string {
	if id := getenv(EnvRunID); id != "" {
		return id
	}
	if id := getenv("TORCHELASTIC_RUN_ID"); id != "" && id != "none" {
		return id
	}
	if id := getenv("SLURM_JOB_ID"); id != "" {
		if step := getenv("SLURM_STEP_ID"); step != "" {
			id += "." + step
		}
		return id
	}
	return ""
}

// ParseStartAt parses STORAGEBENCH_START_AT: Unix seconds (fractions
// allowed) or an RFC 3339 time.
func ParseStartAt(s string) (time.Time, error) {
	if f, err := strconv.ParseFloat(s, 64); err == nil && f > 0 {
		sec := int64(f)
		return time.Unix(sec, int64((f-float64(sec))*1e9)), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s=%q: want Unix seconds or an RFC 3339 time such as 2026-01-02T15:04:05Z", EnvStartAt, s)
	}
	return t, nil
}

// Join joins rank cfg.World.Rank to the run and, with a rendezvous,
// starts writing its heartbeats. It fails if the rendezvous already holds
// this rank's marker for the run id: a run id used twice would let a
// barrier pass on the markers of the earlier run. A run of more than one
// rank needs a rendezvous or a start time. The caller must Close the
// session.
func Join(ctx context.Context, cfg Config) (*Session, error) {
	if cfg.World.Size < 1 || cfg.World.Rank < 0 || cfg.World.Rank >= cfg.World.Size {
		return nil, fmt.Errorf("cluster: rank %d of %d", cfg.World.Rank, cfg.World.Size)
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = DefaultHeartbeat
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Store == nil && cfg.World.Size > 1 && cfg.StartAt.IsZero() {
		return nil, fmt.Errorf("a run of %d ranks needs %s (a folder or s3://bucket/prefix every rank reaches) or %s, to start its ranks together",
			cfg.World.Size, EnvRendezvous, EnvStartAt)
	}
	s := &Session{cfg: cfg, done: make(chan struct{}), poll: min(250*time.Millisecond, cfg.Heartbeat/2)}
	s.ctx, s.cancel = context.WithCancelCause(context.Background())
	if cfg.Store == nil {
		close(s.done)
		s.halt = func() {}
		return s, nil
	}
	if !validRunID.MatchString(cfg.RunID) {
		if cfg.RunID == "" {
			return nil, fmt.Errorf("a run with a rendezvous needs a run id: set %s (torchrun's TORCHELASTIC_RUN_ID and Slurm's SLURM_JOB_ID serve when set)", EnvRunID)
		}
		return nil, fmt.Errorf("%s=%q: want letters, digits, '.', '_' and '-', at most 128", EnvRunID, cfg.RunID)
	}
	key := s.key("rank-" + strconv.Itoa(cfg.World.Rank))
	if prev, err := s.read(ctx, key); err == nil {
		return nil, fmt.Errorf("run id %q was used before: %s holds rank %d's marker (%s); give every run its own %s",
			cfg.RunID, s.where(key), cfg.World.Rank, strings.TrimSpace(string(prev)), EnvRunID)
	} else if !errors.Is(err, dataset.ErrNotFound) {
		return nil, fmt.Errorf("rendezvous %s: %w", cfg.Where, err)
	}
	host, _ := os.Hostname()
	if err := s.put(ctx, key, marker{Host: host, PID: os.Getpid(), Time: time.Now()}); err != nil {
		return nil, fmt.Errorf("rendezvous %s: %w", cfg.Where, err)
	}
	var hctx context.Context
	hctx, s.halt = context.WithCancel(context.Background())
	go s.heartbeats(hctx)
	return s, nil
}

// Context returns a context cancelled when the run must end: another rank
// died or failed, or this one aborted. Its cause says which.
func (s *Session) Context() context.Context { return s.ctx }

// A marker is a rank's note that it joined, or arrived at a barrier.
type marker struct {
	Name string    `json:"name,omitempty"` // the barrier's name
	Host string    `json:"host,omitempty"`
	PID  int       `json:"pid,omitempty"`
	Time time.Time `json:"time"`
}

// A heartbeat is what a rank writes every interval.
type heartbeat struct {
	Seq   int64     `json:"seq"`
	State string    `json:"state"` // running, done, failed
	Error string    `json:"error,omitempty"`
	Time  time.Time `json:"time"`
}

// An abort is the note that ends a run.
type abort struct {
	Rank  int    `json:"rank"`
	Error string `json:"error"`
}

// Heartbeat states.
const (
	stateRunning = "running"
	stateDone    = "done"
	stateFailed  = "failed"
)

func (s *Session) key(parts ...string) string {
	return s.cfg.RunID + "/" + strings.Join(parts, "/")
}

func (s *Session) where(key string) string {
	return strings.TrimSuffix(s.cfg.Where, "/") + "/" + key
}

func (s *Session) put(ctx context.Context, key string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return s.cfg.Store.Put(ctx, key, append(data, '\n'))
}

func (s *Session) read(ctx context.Context, key string) ([]byte, error) {
	data, _, err := s.cfg.Store.Read(ctx, key, nil)
	return data, err
}

func (s *Session) get(ctx context.Context, key string, v any) error {
	data, err := s.read(ctx, key)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%s: %w", s.where(key), err)
	}
	return nil
}

// heartbeats writes this rank's heartbeat every interval, reads the abort
// note, and watches the next rank that has not finished, round the ring:
// each rank is watched by one other, and a rank silent for DeadAfter
// intervals is declared dead in the abort note, which every rank reads.
func (s *Session) heartbeats(ctx context.Context) {
	defer close(s.done)
	w := &watch{rank: (s.cfg.World.Rank + 1) % s.cfg.World.Size, lastSeq: -1}
	var seq int64
	tick := time.NewTicker(s.cfg.Heartbeat)
	defer tick.Stop()
	for {
		// Each round's requests end within two intervals: a store that
		// retries a slow request must not hold this rank's own heartbeat
		// back for as long as its watcher waits.
		rctx, cancel := context.WithTimeout(ctx, 2*s.cfg.Heartbeat)
		seq++
		s.round(rctx, seq, w)
		cancel()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// watch is what a rank knows of the rank it watches.
type watch struct {
	rank         int
	lastSeq      int64     // its last heartbeat's number; -1 before the first
	lastSeen     time.Time // when that number last changed
	lastErr      error     // the last read's error, while reads fail
	failingSince time.Time // when reads began to fail
}

// unreachableAfter is how many heartbeat intervals a rank's reads of the
// heartbeat it watches may keep failing before it ends the run.
const unreachableAfter = 4 * DeadAfter

// round is one round of [Session.heartbeats]: write heartbeat seq, read
// the abort note, check the watched rank.
func (s *Session) round(ctx context.Context, seq int64, w *watch) {
	me := s.cfg.World.Rank
	s.put(ctx, s.key("heartbeat", "rank-"+strconv.Itoa(me)), heartbeat{Seq: seq, State: stateRunning, Time: time.Now()}) // a lost write shows as silence, judged by the watcher
	var ab abort
	if err := s.get(ctx, s.key("abort"), &ab); err == nil && ab.Rank != me {
		s.cancel(errors.New(ab.Error))
	}
	for w.rank != me && s.ctx.Err() == nil {
		key := s.key("heartbeat", "rank-"+strconv.Itoa(w.rank))
		var hb heartbeat
		err := s.get(ctx, key, &hb)
		now := time.Now()
		switch {
		case errors.Is(err, dataset.ErrNotFound) && w.lastSeq < 0:
			// Not started yet: the barriers wait for it.
		case err != nil:
			// The rendezvous, not the rank, may be failing: only reads
			// that succeed judge the rank, and reads that keep failing
			// end the run as the rendezvous's fault.
			if w.lastErr == nil {
				w.failingSince = now
			}
			w.lastErr = err
			if now.Sub(w.failingSince) > unreachableAfter*s.cfg.Heartbeat {
				s.end(ctx, fmt.Sprintf("rank %d cannot read rank %d's heartbeat %s: the rendezvous %s has failed for %v: %v",
					me, w.rank, s.where(key), s.cfg.Where, now.Sub(w.failingSince).Round(100*time.Millisecond), err))
			}
			return
		case hb.State == stateDone:
			*w = watch{rank: (w.rank + 1) % s.cfg.World.Size, lastSeq: -1}
			continue // it finished: watch the next
		case hb.State == stateFailed:
			s.end(ctx, fmt.Sprintf("rank %d failed: %s", w.rank, hb.Error))
		case hb.Seq != w.lastSeq:
			w.lastSeq, w.lastSeen, w.lastErr = hb.Seq, now, nil
		}
		w.lastErr = nil
		if w.lastSeq >= 0 && now.Sub(w.lastSeen) > DeadAfter*s.cfg.Heartbeat {
			s.end(ctx, fmt.Sprintf("rank %d is dead: its heartbeat %s has not changed for %v (last changed at %s)",
				w.rank, s.where(key), now.Sub(w.lastSeen).Round(100*time.Millisecond), w.lastSeen.UTC().Format(time.RFC3339Nano)))
		}
		return
	}
}

// Abort ends the run on every rank: it cancels this session's context
// with err and writes the abort note, "rank R: err", that the other ranks
// read within a heartbeat interval and end with. Only the first abort or
// end of a session counts, and none after the run began to end (another
// rank's abort or death): its cause stands.
func (s *Session) Abort(ctx context.Context, err error) {
	s.end(ctx, fmt.Sprintf("rank %d: %v", s.cfg.World.Rank, err))
}

// end ends the run on every rank with the message msg, which names the
// rank it is about.
func (s *Session) end(ctx context.Context, msg string) {
	s.mu.Lock()
	first := !s.aborted && s.ctx.Err() == nil
	s.aborted = true
	s.mu.Unlock()
	if !first {
		// The run is ending already, for the cause the others read: a
		// rank's failure that follows from it must not overwrite it.
		return
	}
	if s.cfg.Store != nil {
		// The note first: once this rank's context ends, its benchmark
		// fails and the process may close the session at once. The write
		// outlives ctx (the heartbeats' round, which Close ends) by up to
		// two intervals.
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*s.cfg.Heartbeat)
		s.put(wctx, s.key("abort"), abort{Rank: s.cfg.World.Rank, Error: msg})
		cancel()
	}
	s.cancel(errors.New(msg))
}

// Close stops the heartbeats and writes the rank's last one: done when
// err is nil, so that the rank watching it watches the next; failed with
// err otherwise, and then it ends the run on every rank, as Abort does.
func (s *Session) Close(ctx context.Context, err error) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.halt()
	<-s.done
	defer s.cancel(errors.New("cluster: session closed"))
	if s.cfg.Store == nil {
		return nil
	}
	hb := heartbeat{Seq: 1 << 62, State: stateDone, Time: time.Now()}
	if err != nil {
		hb.State, hb.Error = stateFailed, err.Error()
		if cause := context.Cause(s.ctx); cause != nil {
			// It failed because the run ended: the run's cause is its
			// cause, for a watcher that reads this before the abort note.
			hb.Error = cause.Error()
		}
		s.end(ctx, fmt.Sprintf("rank %d failed: %v", s.cfg.World.Rank, err))
	}
	if perr := s.put(ctx, s.key("heartbeat", "rank-"+strconv.Itoa(s.cfg.World.Rank)), hb); perr != nil {
		return fmt.Errorf("rendezvous %s: %w", s.cfg.Where, perr)
	}
	return nil
}

// Barrier waits until every rank has arrived at barrier number k, the
// k-th call on this session, and returns the start time the ranks agreed
// on, having waited until it. name says what starts (a benchmark's name):
// rank 0 checks that every rank arrived with the same, so that ranks that
// run different benchmarks fail at once. Rank 0 waits until all the
// world's markers are there, then sets the start a little ahead (and not
// before StartAt at the first barrier), so that the ranks, which poll for
// it, start within their clocks' skew. Without a rendezvous the first
// barrier waits until StartAt and the others return at once.
//
// It fails when the session ends (a rank died or failed: the error says
// which), when ctx ends, and after the timeout, naming the ranks that did
// not arrive.
func (s *Session) Barrier(ctx context.Context, name string) (time.Time, error) {
	s.mu.Lock()
	k := s.seq
	s.seq++
	s.mu.Unlock()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := context.AfterFunc(s.ctx, func() { cancel(context.Cause(s.ctx)) })
	defer stop()
	if err := context.Cause(ctx); err != nil {
		return time.Time{}, err
	}
	if s.cfg.Store == nil {
		start := time.Now()
		if k == 0 && s.cfg.StartAt.After(start) {
			start = s.cfg.StartAt
		}
		return start, sleepUntil(ctx, start)
	}
	dir := s.key("barrier", strconv.Itoa(k)) + "/"
	w := s.cfg.World
	if err := s.put(ctx, dir+"rank-"+strconv.Itoa(w.Rank), marker{Name: name, Time: time.Now()}); err != nil {
		if cerr := context.Cause(ctx); cerr != nil {
			// The session ended while the marker was written (a rank
			// finished or failed): say why, not that the write was
			// canceled.
			return time.Time{}, cerr
		}
		return time.Time{}, fmt.Errorf("barrier %d (%s): rendezvous %s: %w", k, name, s.cfg.Where, err)
	}
	deadline := time.Now().Add(s.cfg.Timeout)
	tick := time.NewTicker(s.poll)
	defer tick.Stop()
	var lastErr error
	lastCheck := time.Now()
	for {
		var (
			start time.Time
			err   error
		)
		if w.Rank == 0 {
			// Once a heartbeat, it also reads the heartbeats of the ranks
			// still missing: one that finished or failed never comes.
			check := time.Since(lastCheck) >= s.cfg.Heartbeat
			if check {
				lastCheck = time.Now()
			}
			start, err = s.release(ctx, k, dir, name, check)
		} else {
			var m marker
			if err = s.get(ctx, dir+"start", &m); err == nil {
				start = m.Time
			} else if errors.Is(err, dataset.ErrNotFound) {
				err = nil
			}
		}
		if cerr := context.Cause(ctx); cerr != nil {
			return time.Time{}, cerr
		}
		var mismatch *mismatchError
		if errors.As(err, &mismatch) {
			s.Abort(ctx, err)
			return time.Time{}, err
		}
		if err != nil {
			lastErr = err // a rendezvous error may pass: retried until the timeout
		}
		if !start.IsZero() {
			return start, sleepUntil(ctx, start)
		}
		if time.Now().After(deadline) {
			return time.Time{}, s.timeout(ctx, k, dir, name, lastErr)
		}
		select {
		case <-ctx.Done():
			return time.Time{}, context.Cause(ctx)
		case <-tick.C:
		}
	}
}

// mismatchError is a barrier that some rank reached with another name,
// or will never reach.
type mismatchError struct{ msg string }

func (e *mismatchError) Error() string { return e.msg }

// release, on rank 0, returns the zero time while ranks are missing from
// barrier k, and else sets and returns its start.
func (s *Session) release(ctx context.Context, k int, dir, name string, checkMissing bool) (time.Time, error) {
	arrived, err := s.arrived(ctx, dir)
	if err != nil {
		return time.Time{}, err
	}
	if len(arrived) < s.cfg.World.Size {
		if checkMissing {
			return time.Time{}, s.missing(ctx, k, name, arrived)
		}
		return time.Time{}, nil
	}
	for r := 1; r < s.cfg.World.Size; r++ {
		var m marker
		if err := s.get(ctx, dir+"rank-"+strconv.Itoa(r), &m); err != nil {
			return time.Time{}, err
		}
		if m.Name != name {
			return time.Time{}, &mismatchError{fmt.Sprintf("barrier %d: rank %d is at %q, rank 0 at %q: the ranks run different benchmarks (give every rank the same -test.bench, -test.benchtime and STORAGEBENCH_ variables)", k, r, m.Name, name)}
		}
	}
	// Ahead by a few polls, so that every rank sees the start before it.
	start := time.Now().Add(max(500*time.Millisecond, 3*s.poll))
	if k == 0 && s.cfg.StartAt.After(start) {
		start = s.cfg.StartAt
	}
	if err := s.put(ctx, dir+"start", marker{Name: name, Time: start}); err != nil {
		return time.Time{}, err
	}
	return start, nil
}

// missing returns an error when a rank that has not arrived at barrier k
// never will: its last heartbeat says it finished, or failed.
func (s *Session) missing(ctx context.Context, k int, name string, arrived []int) error {
	for r := range s.cfg.World.Size {
		if _, ok := slices.BinarySearch(arrived, r); ok {
			continue
		}
		var hb heartbeat
		if err := s.get(ctx, s.key("heartbeat", "rank-"+strconv.Itoa(r)), &hb); err != nil {
			continue // not started, or unreadable: the timeout, or its watcher, decides
		}
		switch hb.State {
		case stateDone:
			return &mismatchError{fmt.Sprintf("barrier %d (%s): rank %d finished its benchmarks without reaching it: the ranks run different benchmarks (give every rank the same -test.bench, -test.benchtime and STORAGEBENCH_ variables)", k, name, r)}
		case stateFailed:
			return &mismatchError{fmt.Sprintf("rank %d failed: %s", r, hb.Error)}
		}
	}
	return nil
}

// arrived returns the ranks whose markers barrier dir holds.
func (s *Session) arrived(ctx context.Context, dir string) ([]int, error) {
	entries, err := s.cfg.Store.List(ctx, dir)
	if err != nil {
		return nil, err
	}
	var ranks []int
	for _, e := range entries {
		if r, err := strconv.Atoi(strings.TrimPrefix(e.Key, dir+"rank-")); err == nil && strings.HasPrefix(e.Key, dir+"rank-") && r >= 0 && r < s.cfg.World.Size {
			ranks = append(ranks, r)
		}
	}
	slices.Sort(ranks)
	return slices.Compact(ranks), nil
}

// timeout returns the error of barrier k when its time is up, naming the
// ranks that did not arrive.
func (s *Session) timeout(ctx context.Context, k int, dir, name string, lastErr error) error {
	msg := fmt.Sprintf("barrier %d (%s): not every rank arrived within %v (%s)", k, name, s.cfg.Timeout, EnvRendezvousTimeout)
	if arrived, err := s.arrived(ctx, dir); err == nil {
		var missing []string
		for r := range s.cfg.World.Size {
			if _, ok := slices.BinarySearch(arrived, r); !ok {
				missing = append(missing, strconv.Itoa(r))
			}
		}
		if len(missing) > 0 {
			msg += fmt.Sprintf(": rank %s missing under %s", strings.Join(missing, ", "), s.where(dir))
		} else {
			msg += ": all arrived, but rank 0 set no start"
		}
	}
	if lastErr != nil {
		msg += fmt.Sprintf("; the rendezvous last failed with: %v", lastErr)
	}
	return errors.New(msg)
}

// sleepUntil waits until t or until ctx ends.
func sleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-timer.C:
		return nil
	}
}
