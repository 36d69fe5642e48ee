package local

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestDirectOpensODirect checks that a direct read's file is open with
// O_DIRECT, as the kernel reports its flags, and a cold or unset one is
// not.
func TestDirectOpensODirect(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f"), make([]byte, 10000), 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	const oDirect = 0o40000 // O_DIRECT on amd64 and arm64
	for _, tc := range []struct {
		cache  Cache
		direct bool
	}{{CacheOS, false}, {CacheCold, false}, {CacheDirect, true}} {
		cb, err := b.WithCache(tc.cache)
		if err != nil {
			t.Fatal(err)
		}
		rc, _, err := cb.Open(context.Background(), "f")
		if err != nil {
			t.Skipf("cache=%s: %v", tc.cache, err)
		}
		var f *os.File
		switch r := rc.(type) {
		case *os.File:
			f = r
		case coldFile:
			f = r.f
		case *directFile:
			f = r.f
		}
		info, err := os.ReadFile("/proc/self/fdinfo/" + strconv.Itoa(int(f.Fd())))
		if err != nil {
			t.Fatal(err)
		}
		var flags uint64
		for line := range strings.Lines(string(info)) {
			if v, ok := strings.CutPrefix(line, "flags:"); ok {
				flags, _ = strconv.ParseUint(strings.TrimSpace(v), 8, 64)
			}
		}
		if got := flags&oDirect != 0; got != tc.direct {
			t.Errorf("cache=%q: O_DIRECT %v (flags %o), want %v", tc.cache, got, flags, tc.direct)
		}
		io.Copy(io.Discard, rc)
		rc.Close()
	}
}

// TestResidentMincore measures residency through mincore, as on kernels
// without cachestat, and checks it agrees with cachestat.
func TestResidentMincore(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f"), make([]byte, 300000), 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := context.Background()
	keys := []string{"f"}
	for _, warm := range []bool{true, false} {
		if warm {
			err = b.Warm(ctx, keys)
		} else {
			err = b.Drop(ctx, keys)
		}
		if err != nil {
			t.Fatal(err)
		}
		viaStat, err := b.Resident(ctx, keys)
		if err != nil {
			t.Fatal(err)
		}
		was := noCachestat.Swap(true)
		viaMincore, err := b.Resident(ctx, keys)
		noCachestat.Store(was)
		if err != nil {
			t.Fatal(err)
		}
		if viaStat != viaMincore {
			t.Errorf("warm=%v: cachestat says %+v, mincore %+v", warm, viaStat, viaMincore)
		}
		if want := map[bool]int64{true: viaStat.Pages, false: 0}[warm]; viaMincore.Resident != want {
			t.Errorf("warm=%v: %d of %d pages resident, want %d", warm, viaMincore.Resident, viaMincore.Pages, want)
		}
	}
}

// TestDirectCloseTwice checks that a direct reader closed twice says so
// and is put back for reuse once: two later reads never share a buffer.
func TestDirectCloseTwice(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("direct"), 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	db, err := b.WithCache(CacheDirect)
	if err != nil {
		t.Fatal(err)
	}
	rc, _, err := db.Open(context.Background(), "f")
	if err != nil {
		t.Skipf("O_DIRECT: %v", err)
	}
	if err := rc.Close(); err != nil {
		t.Fatal(err)
	}
	if err := rc.Close(); err != os.ErrClosed {
		t.Errorf("second Close: %v, want os.ErrClosed", err)
	}
	a, _, errA := db.Open(context.Background(), "f")
	c, _, errC := db.Open(context.Background(), "f")
	if errA != nil || errC != nil {
		t.Fatal(errA, errC)
	}
	defer a.Close()
	defer c.Close()
	if a.(*directFile) == c.(*directFile) {
		t.Error("two open readers share one buffer")
	}
}
