package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/storagebench/storagebench/dataset"
	"github.com/storagebench/storagebench/dataset/local"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// folder returns a rendezvous store over a new folder.
func folder(t *testing.T) (*dataset.Store, string) {
	t.Helper()
	dir := t.TempDir()
	b, err := local.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return dataset.NewStore(b), dir
}

// join joins rank r of size to run on store, closing it at the end.
func join(t *testing.T, store *dataset.Store, run string, r, size int, hb time.Duration) *Session {
	t.Helper()
	s, err := Join(context.Background(), Config{World: World{Rank: r, Size: size, Source: "test"}, Store: store, Where: "rdv", RunID: run, Heartbeat: hb, Timeout: time.Minute})
	if err != nil {
		t.Fatalf("rank %d: %v", r, err)
	}
	t.Cleanup(func() { s.Close(context.Background(), nil) })
	return s
}

// waitFor polls cond until it holds, failing t after a minute.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(time.Minute)
	for !cond() {
		select {
		case <-deadline:
			t.Fatalf("waited a minute for %s", what)
		case <-tick.C:
		}
	}
}

// TestBarrier checks that a barrier releases every rank at one start
// time, only once the last rank has arrived, with a staggered start and
// the complete markers of an earlier run under the same rendezvous.
func TestBarrier(t *testing.T) {
	store, dir := folder(t)
	const size = 4
	// An earlier run's markers: all four ranks, barriers 0 and 1, starts.
	for r := range size {
		for _, k := range []string{fmt.Sprintf("old/rank-%d", r), fmt.Sprintf("old/barrier/0/rank-%d", r), fmt.Sprintf("old/barrier/1/rank-%d", r)} {
			if err := store.Put(context.Background(), k, []byte(`{"name":"BenchmarkLoad","time":"2020-01-01T00:00:00Z"}`)); err != nil {
				t.Fatal(err)
			}
		}
	}
	store.Put(context.Background(), "old/barrier/0/start", []byte(`{"time":"2020-01-01T00:00:01Z"}`))
	sessions := make([]*Session, size)
	for r := range size - 1 {
		sessions[r] = join(t, store, "new", r, size, 50*time.Millisecond)
	}
	for round := range 2 {
		name := fmt.Sprintf("BenchmarkLoad/round=%d", round)
		starts := make([]time.Time, size)
		errs := make([]error, size)
		var wg sync.WaitGroup
		for r := range size - 1 {
			wg.Go(func() { starts[r], errs[r] = sessions[r].Barrier(context.Background(), name) })
		}
		// The last rank starts late: only once the others wait.
		waitFor(t, "three markers", func() bool {
			m, _ := filepath.Glob(filepath.Join(dir, "new", "barrier", fmt.Sprint(round), "rank-*"))
			return len(m) == size-1
		})
		late := time.Now()
		if round == 0 {
			sessions[size-1] = join(t, store, "new", size-1, size, 50*time.Millisecond)
		}
		starts[size-1], errs[size-1] = sessions[size-1].Barrier(context.Background(), name)
		wg.Wait()
		for r := range size {
			if errs[r] != nil {
				t.Fatalf("round %d: rank %d: %v", round, r, errs[r])
			}
			if !starts[r].Equal(starts[0]) {
				t.Errorf("round %d: rank %d starts at %v, rank 0 at %v", round, r, starts[r], starts[0])
			}
		}
		if !starts[0].After(late) {
			t.Errorf("round %d: start %v is not after the last rank arrived (%v): released on stale markers", round, starts[0], late)
		}
		if time.Now().Before(starts[0]) {
			t.Errorf("round %d: Barrier returned before the start", round)
		}
	}
}

func TestJoinErrors(t *testing.T) {
	store, _ := folder(t)
	join(t, store, "run1", 1, 2, time.Second)
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"reused run id", Config{World: World{Rank: 1, Size: 2}, Store: store, Where: "rdv", RunID: "run1"}, `run id "run1" was used before: rdv/run1/rank-1 holds rank 1's marker`},
		{"no run id", Config{World: World{Rank: 0, Size: 2}, Store: store}, "needs a run id: set STORAGEBENCH_RUN_ID"},
		{"bad run id", Config{World: World{Rank: 0, Size: 2}, Store: store, RunID: "a/b"}, `STORAGEBENCH_RUN_ID="a/b"`},
		{"no rendezvous", Config{World: World{Rank: 0, Size: 2}}, "needs STORAGEBENCH_RENDEZVOUS"},
		{"bad rank", Config{World: World{Rank: 2, Size: 2}}, "rank 2 of 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Join(context.Background(), tc.cfg)
			if err == nil {
				s.Close(context.Background(), nil)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Join = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// TestDeadRank checks that ranks waiting at a barrier for a rank that
// stopped writing heartbeats (killed) end with an error naming it, within
// DeadAfter intervals and a few more, and that a rank that closes with an
// error makes the others end naming it and its error.
func TestDeadRank(t *testing.T) {
	for _, tc := range []struct {
		name string
		end  func(s *Session)
		want string
	}{
		{"killed", func(s *Session) { s.halt(); <-s.done }, "rank 1 is dead: its heartbeat rdv/run/heartbeat/rank-1 has not changed"},
		{"failed", func(s *Session) { s.Close(context.Background(), errors.New("read val/3.JPEG: boom")) }, "rank 1 failed: read val/3.JPEG: boom"},
		{"aborted", func(s *Session) { s.Abort(context.Background(), errors.New("BenchmarkLoad failed")) }, "rank 1: BenchmarkLoad failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store, _ := folder(t)
			const hb = 20 * time.Millisecond
			ss := []*Session{join(t, store, "run", 0, 3, hb), join(t, store, "run", 1, 3, hb), join(t, store, "run", 2, 3, hb)}
			var wg sync.WaitGroup
			for _, s := range ss {
				wg.Go(func() {
					if _, err := s.Barrier(context.Background(), "first"); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			tc.end(ss[1])
			t0 := time.Now()
			for _, r := range []int{0, 2} {
				wg.Go(func() {
					_, err := ss[r].Barrier(context.Background(), "second")
					if err == nil || !strings.Contains(err.Error(), tc.want) {
						t.Errorf("rank %d: Barrier = %v, want an error containing %q", r, err, tc.want)
					}
				})
			}
			wg.Wait()
			if d := time.Since(t0); d > 40*DeadAfter*hb+5*time.Second {
				t.Errorf("the ranks took %v to end", d)
			}
		})
	}
}

// TestBarrierMismatch checks that ranks at barriers of different names
// fail at once, naming both.
func TestBarrierMismatch(t *testing.T) {
	store, _ := folder(t)
	a, b := join(t, store, "run", 0, 2, 20*time.Millisecond), join(t, store, "run", 1, 2, 20*time.Millisecond)
	var wg sync.WaitGroup
	var errA, errB error
	wg.Go(func() { _, errA = a.Barrier(context.Background(), "BenchmarkLoad/workers=2") })
	wg.Go(func() { _, errB = b.Barrier(context.Background(), "BenchmarkLoad/workers=4") })
	wg.Wait()
	want := `rank 1 is at "BenchmarkLoad/workers=4", rank 0 at "BenchmarkLoad/workers=2"`
	for i, err := range []error{errA, errB} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("rank %d: %v, want an error containing %q", i, err, want)
		}
	}
}

// TestBarrierTimeout checks that a barrier that some rank never reaches
// fails after the timeout, naming the missing rank.
func TestBarrierTimeout(t *testing.T) {
	store, _ := folder(t)
	s, err := Join(context.Background(), Config{World: World{Rank: 0, Size: 3}, Store: store, Where: "rdv", RunID: "run", Heartbeat: 20 * time.Millisecond, Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background(), nil)
	other := join(t, store, "run", 2, 3, 20*time.Millisecond)
	go other.Barrier(context.Background(), "x")
	_, err = s.Barrier(context.Background(), "x")
	if want := "rank 1 missing under rdv/run/barrier/0/"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Barrier = %v, want an error containing %q", err, want)
	}
	other.Abort(context.Background(), errors.New("done"))
}

// TestStartAt checks the first barrier of a run without rendezvous: it
// waits until the start time, and later barriers do not.
func TestStartAt(t *testing.T) {
	at := time.Now().Add(100 * time.Millisecond)
	s, err := Join(context.Background(), Config{World: World{Rank: 1, Size: 2}, StartAt: at})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background(), nil)
	start, err := s.Barrier(context.Background(), "a")
	if err != nil || !start.Equal(at) || time.Now().Before(at) {
		t.Errorf("first Barrier = %v, %v at %v; want %v after it", start, err, time.Now(), at)
	}
	if start, err := s.Barrier(context.Background(), "b"); err != nil || start.Before(at) {
		t.Errorf("second Barrier = %v, %v", start, err)
	}
	for _, tc := range []struct {
		in   string
		want time.Time
	}{
		{"1767225600", time.Unix(1767225600, 0)},
		{"1767225600.5", time.Unix(1767225600, 5e8)},
		{"2026-01-01T00:00:00Z", time.Unix(1767225600, 0)},
	} {
		got, err := ParseStartAt(tc.in)
		if err != nil || !got.Equal(tc.want) {
			t.Errorf("ParseStartAt(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	if _, err := ParseStartAt("tomorrow"); err == nil || !strings.Contains(err.Error(), `STORAGEBENCH_START_AT="tomorrow"`) {
		t.Errorf("ParseStartAt(tomorrow) = %v", err)
	}
}

func TestRunIDFromEnv(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{nil, ""},
		{map[string]string{"STORAGEBENCH_RUN_ID": "a", "TORCHELASTIC_RUN_ID": "b"}, "a"},
		{map[string]string{"TORCHELASTIC_RUN_ID": "b", "SLURM_JOB_ID": "7"}, "b"},
		{map[string]string{"TORCHELASTIC_RUN_ID": "none", "SLURM_JOB_ID": "7"}, "7"},
		{map[string]string{"SLURM_JOB_ID": "7", "SLURM_STEP_ID": "2"}, "7.2"},
	} {
		if got := RunIDFromEnv(func(k string) string { return tc.env[k] }); got != tc.want {
			t.Errorf("RunIDFromEnv(%v) = %q, want %q", tc.env, got, tc.want)
		}
	}
}

// TestBarrierRankFinished checks that ranks waiting at a barrier that a
// rank will never reach, because it finished (it ran fewer benchmarks) or
// failed, end at once, naming it, instead of waiting out the timeout.
func TestBarrierRankFinished(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"finished", nil, "barrier 0 (x): rank 2 finished its benchmarks without reaching it"},
		{"failed", errors.New("no such key val/1.JPEG"), "rank 2 failed: no such key val/1.JPEG"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store, _ := folder(t)
			a, b := join(t, store, "run", 0, 3, 20*time.Millisecond), join(t, store, "run", 1, 3, 20*time.Millisecond)
			join(t, store, "run", 2, 3, 20*time.Millisecond).Close(context.Background(), tc.err)
			var wg sync.WaitGroup
			for i, s := range []*Session{a, b} {
				wg.Go(func() {
					_, err := s.Barrier(context.Background(), "x")
					if err == nil || !strings.Contains(err.Error(), tc.want) {
						t.Errorf("rank %d: Barrier = %v, want an error containing %q", i, err, tc.want)
					}
				})
			}
			wg.Wait()
		})
	}
}

// failingReads is a rendezvous backend whose reads of one key fail.
type failingReads struct {
	*local.Backend
	key  string
	fail atomic.Bool
}

func (f *failingReads) Open(ctx context.Context, key string) (io.ReadCloser, int64, error) {
	if f.fail.Load() && key == f.key {
		return nil, 0, errors.New("connection reset by peer")
	}
	return f.Backend.Open(ctx, key)
}

// TestRendezvousUnreadable checks that a rank whose reads of the heartbeat
// it watches keep failing does not call that rank dead, and ends the run
// as the rendezvous's failure once they have failed for long.
func TestRendezvousUnreadable(t *testing.T) {
	b, err := local.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	f := &failingReads{Backend: b, key: "run/heartbeat/rank-1"}
	f.fail.Store(true)
	store, err := dataset.NewStore(f).WithPolicy(dataset.Policy{Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	// Rank 1 reads rank 0's heartbeat, and would call it dead were its
	// writes to stop for DeadAfter intervals: at 20 ms, a rank 0 held up
	// 100 ms on a machine busy with other tests (-race, 2 CPUs) was. At
	// 100 ms, that takes a stall of half a second; the run's failure
	// comes after 2 s.
	const hb = 100 * time.Millisecond
	s0, s1 := join(t, store, "run", 0, 2, hb), join(t, store, "run", 1, 2, hb)
	go s1.Barrier(context.Background(), "x")
	s0.Barrier(context.Background(), "x")
	if _, err = s0.Barrier(context.Background(), "y"); err == nil || !strings.Contains(err.Error(), "rank 0 cannot read rank 1's heartbeat rdv/run/heartbeat/rank-1: the rendezvous rdv has failed for") || strings.Contains(err.Error(), "dead") {
		t.Errorf("Barrier = %v, want the rendezvous's failure, not a dead rank", err)
	}
}
