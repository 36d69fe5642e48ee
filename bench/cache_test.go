package bench

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/storagebench/storagebench/cases"
	"github.com/storagebench/storagebench/dataset"
	"github.com/storagebench/storagebench/dataset/local"
	"github.com/storagebench/storagebench/results"
)

// directRefused reports why the file system of the temporary folder, where
// the local backend writes its dataset, refuses O_DIRECT reads; "" when it
// takes them.
func directRefused(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "probe"), []byte("probe"), 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := local.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	db, err := b.WithCache(local.CacheDirect)
	if err != nil {
		return err.Error()
	}
	if _, _, err := dataset.NewStore(db).Read(context.Background(), "probe", nil); errors.Is(err, errors.ErrUnsupported) {
		return err.Error()
	} else if err != nil {
		t.Fatal(err)
	}
	return ""
}

// TestCacheLines runs BenchmarkRaw, BenchmarkLoad and BenchmarkTrain on
// mem and local (200 files of their own over 50 bodies) in every cache
// setting, every item's bytes checked, and
// checks what the lines say of the page cache: the setting in the names
// of folder lines only, the resident fractions on every folder line (warm
// at least 0.99 before its run; cold and direct at most 0.01 before and
// after), and the note before the warm lines, whose dataset fits in
// memory.
func TestCacheLines(t *testing.T) {
	settings := []string{"warm", "cold", "direct"}
	if why := directRefused(t); why != "" {
		t.Logf("cache=direct left out: %s", why)
		settings = settings[:2]
	}
	out := runBenchmarks(t, map[string]string{
		cases.Items:           "200",
		cases.Bodies:          "50",
		cases.LocalFiles:      "distinct",
		cases.Backend.Var:     "mem,local",
		cases.Cache.Var:       strings.Join(settings, ","),
		cases.Profile.Var:     "none",
		cases.Mode.Var:        "async",
		cases.Workers.Var:     "2",
		cases.Batch.Var:       "10",
		cases.Concurrency.Var: "4",
		cases.Workload.Var:    "compute-1ms",
		cases.Accel.Var:       "1",
	}, false, "-test.bench=^Benchmark(Raw|Load|Train)$", "-test.benchtime=1200x", "-deep")
	if out.config[results.ConfigDatasetFiles] != "distinct" {
		t.Errorf("no %s: distinct line, with %s=distinct", results.ConfigDatasetFiles, cases.LocalFiles)
	}
	seen := map[string]int{}
	for _, r := range out.results {
		name := string(r.Name.Full())
		backend, setting := namePart(r, "backend"), namePart(r, "cache")
		_, before := value(r, results.CacheResident)
		_, after := value(r, results.CacheResidentEnd)
		note := r.GetConfig(results.ConfigPageCache)
		if backend == "mem" {
			if setting != "" || before || after || note != "" {
				t.Errorf("%s: a memory line says cache=%q, resident fractions %v %v, note %q", name, setting, before, after, note)
			}
			continue
		}
		seen[setting]++
		if !before || !after {
			t.Errorf("%s: no %s and %s", name, results.CacheResident, results.CacheResidentEnd)
			continue
		}
		f0, _ := value(r, results.CacheResident)
		f1, _ := value(r, results.CacheResidentEnd)
		switch setting {
		case "warm":
			if f0 < 0.99 {
				t.Errorf("%s: %s %.3f, want >= 0.99 after warming", name, results.CacheResident, f0)
			}
			if !strings.Contains(note, "fit in available memory") {
				t.Errorf("%s: %s line %q, want one saying the dataset fits in memory", name, results.ConfigPageCache, note)
			}
		case "cold", "direct":
			if f0 > 0.01 || f1 > 0.01 {
				t.Errorf("%s: %s %.3f and %s %.3f, want both <= 0.01", name, results.CacheResident, f0, results.CacheResidentEnd, f1)
			}
			if note != "" {
				t.Errorf("%s: %s line %q on a %s line", name, results.ConfigPageCache, note, setting)
			}
		default:
			t.Errorf("%s: a local line without its cache setting", name)
		}
	}
	for _, s := range settings {
		if seen[s] != 3 {
			t.Errorf("cache=%s: %d local lines, want 3 (Raw, Load, Train)", s, seen[s])
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", out.stdout)
	}
}

// TestCachedSource checks the source of a folder in a cache setting: made
// once a setting, the setting unset or on another backend giving the
// source itself, and a setting refused on tmpfs before any read.
func TestCachedSource(t *testing.T) {
	ctx := context.Background()
	env := Env{Items: 30}
	f := NewFixture(env)
	defer f.Close()
	src, err := f.Source(ctx, "local")
	if err != nil {
		t.Fatal(err)
	}
	mem, err := f.Source(ctx, "mem")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		src   *Source
		cache local.Cache
		same  bool
	}{{src, local.CacheOS, true}, {mem, local.CacheCold, true}, {src, local.CacheCold, false}, {src, local.CacheWarm, false}} {
		got, err := tc.src.Cached(ctx, tc.cache)
		if err != nil {
			t.Fatal(err)
		}
		again, _ := tc.src.Cached(ctx, tc.cache)
		if (got == tc.src) != tc.same || got != again {
			t.Errorf("%s, cache=%q: the source itself %v, made again %v; want itself %v, once", tc.src.Name, tc.cache, got == tc.src, got != again, tc.same)
		}
	}
	if _, err := os.Stat("/dev/shm"); err == nil {
		dir, err := os.MkdirTemp("/dev/shm", "storagebench-")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(dir)
		if err := os.WriteFile(filepath.Join(dir, "a.JPEG"), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		sf := NewFixture(Env{Items: 1, ScratchRoot: dir})
		defer sf.Close()
		s, err := sf.Source(ctx, "scratch")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Cached(ctx, local.CacheCold); err == nil || !strings.Contains(err.Error(), "tmpfs") {
			t.Errorf("cache=cold on tmpfs: %v, want an error naming tmpfs", err)
		}
	}
}
