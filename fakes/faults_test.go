package fakes_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/storagebench/storagebench/dataset"
	"github.com/storagebench/storagebench/dataset/mem"
	"github.com/storagebench/storagebench/dataset/s3blob"
	"github.com/storagebench/storagebench/fakes"
	"github.com/storagebench/storagebench/fakes/fakestest"
)

func TestParseFaults(t *testing.T) {
	for _, tc := range []struct {
		in, want string // want: String() of the result, or an error substring
		err      bool
	}{
		{"", "none", false},
		{"none", "none", false},
		{"slowdown:0.05+stall:0.01", "slowdown:0.05+stall:0.01", false},
		{" reset:0.1 + short:0.2 ", "reset:0.1+short:0.2", false},
		{"internal:1", "internal:1", false},
		{"trickle:0.5+slowdown:0.5", "trickle:0.5+slowdown:0.5", false},
		{"slowdown", `term "slowdown": want fault:rate`, true},
		{"timeout:0.1", `unknown fault "timeout", want one of slowdown, internal, reset, short, stall, trickle`, true},
		{"reset:0", `rate "0" of reset`, true},
		{"reset:1.5", `rate "1.5" of reset`, true},
		{"reset:x", `rate "x" of reset`, true},
		{"reset:0.1+reset:0.2", `fault "reset" given twice`, true},
		{"reset:0.6+stall:0.6", "rates add up to 1.2", true},
	} {
		f, err := fakes.ParseFaults(tc.in)
		switch {
		case tc.err && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("ParseFaults(%q) error = %v, want one containing %q", tc.in, err, tc.want)
		case !tc.err && err != nil:
			t.Errorf("ParseFaults(%q) = %v", tc.in, err)
		case !tc.err && f.String() != tc.want:
			t.Errorf("ParseFaults(%q).String() = %q, want %q", tc.in, f.String(), tc.want)
		}
	}
}

// TestInjectorDraws checks that the fault of a read is a function of the
// seed, the key and the attempt: two injectors of one seed agree whatever
// the order of reads, a retry draws anew, and rates hold.
func TestInjectorDraws(t *testing.T) {
	f, err := fakes.ParseFaults("slowdown:0.05+reset:0.1")
	if err != nil {
		t.Fatal(err)
	}
	const n = 20000
	objs := map[string][]byte{}
	var keys []string
	for i := range n {
		k := fmt.Sprintf("k%05d", i)
		objs[k], keys = []byte("x"), append(keys, k)
	}
	outcome := func(in *fakes.Injector, order []string) map[string]string {
		b := in.Backend(mem.New(objs))
		out := map[string]string{}
		for _, k := range order {
			for attempt := range 2 {
				rc, _, err := b.Open(context.Background(), k)
				if err == nil {
					rc.Close()
				}
				out[k] += fmt.Sprintf("%d:%v;", attempt, err)
			}
		}
		return out
	}
	reversed := make([]string, n)
	for i, k := range keys {
		reversed[n-1-i] = k
	}
	a, b := outcome(fakes.NewInjector(f, 1), keys), outcome(fakes.NewInjector(f, 1), reversed)
	c := outcome(fakes.NewInjector(f, 2), keys)
	same, retryDiffers := 0, 0
	for _, k := range keys {
		if a[k] != b[k] {
			t.Fatalf("key %s: %q in one order, %q in the other", k, a[k], b[k])
		}
		if a[k] == c[k] {
			same++
		}
		if first, second, _ := strings.Cut(a[k], ";"); strings.TrimPrefix(first, "0:") != strings.TrimPrefix(second, "1:") {
			retryDiffers++
		}
	}
	if same == n {
		t.Errorf("seeds 1 and 2 draw the same faults")
	}
	if retryDiffers == 0 {
		t.Errorf("no retry drew differently from its first attempt")
	}
	in := fakes.NewInjector(f, 7)
	outcome(in, keys)
	got := in.Injected()
	for _, r := range f {
		want := r.Rate * 2 * n
		if d := math.Abs(float64(got[r.Fault]) - want); d > 5*math.Sqrt(want) {
			t.Errorf("%s: %d of %d reads, want about %.0f", r.Fault, got[r.Fault], 2*n, want)
		}
	}
}

// faultBackends are the two ways faults reach a reader: the backend
// wrapper on mem, and the middleware of the fake S3, over real TCP through
// the S3 backend.
var faultBackends = []struct {
	name string
	make func(t *testing.T, in *fakes.Injector, objs map[string][]byte) dataset.Backend
}{
	{"mem", func(t *testing.T, in *fakes.Injector, objs map[string][]byte) dataset.Backend {
		return in.Backend(mem.New(objs))
	}},
	{"fakes3", func(t *testing.T, in *fakes.Injector, objs map[string][]byte) dataset.Backend {
		fake := fakestest.NewS3(t, fakes.S3Options{Buckets: []string{"faults"}})
		b, err := s3blob.Open(fake.Client, "faults", "")
		if err != nil {
			t.Fatal(err)
		}
		st := dataset.NewStore(b)
		for k, v := range objs {
			if err := st.Put(context.Background(), k, v); err != nil {
				t.Fatal(err)
			}
		}
		fake.SetFaults(in)
		return b
	}},
}

// TestFaultKinds checks what each fault does to a reader, on both paths,
// with every read taking it (no retries), and that with retries every
// fault at 30% still reads every object's exact bytes.
func TestFaultKinds(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), 1024) // 16 KiB
	objs := map[string][]byte{"val/a.bin": data}
	for i := range 40 {
		objs[fmt.Sprintf("val/%02d.bin", i)] = data[:1000+i*300]
	}
	once := dataset.Policy{Attempts: 1, FirstByteTimeout: 200 * time.Millisecond, IdleTimeout: 200 * time.Millisecond}
	for _, be := range faultBackends {
		for _, tc := range []struct {
			fault fakes.Fault
			check func(err error) string // "" when err is as the fault should make it
		}{
			{fakes.FaultSlowDown, func(err error) string {
				if !dataset.Throttled(err) || !dataset.Retryable(err) {
					return "want a retryable throttling error"
				}
				return ""
			}},
			{fakes.FaultInternal, func(err error) string {
				if dataset.Throttled(err) || !dataset.Retryable(err) || !strings.Contains(err.Error(), "InternalError") {
					return "want a retryable InternalError, not throttling"
				}
				return ""
			}},
			{fakes.FaultReset, func(err error) string {
				if !dataset.Retryable(err) || !errors.Is(err, syscall.ECONNRESET) && !strings.Contains(err.Error(), "connection reset") && !strings.Contains(err.Error(), "EOF") {
					return "want a retryable connection reset"
				}
				return ""
			}},
			{fakes.FaultShort, func(err error) string {
				if !dataset.Retryable(err) || !strings.Contains(err.Error(), "unexpected EOF") {
					return "want a retryable short body"
				}
				return ""
			}},
			{fakes.FaultStall, func(err error) string {
				if !errors.Is(err, dataset.ErrTimeout) || !strings.Contains(err.Error(), "no first byte within 200ms") {
					return "want the first-byte timeout"
				}
				return ""
			}},
			{fakes.FaultTrickle, nil},
		} {
			t.Run(be.name+"/"+string(tc.fault), func(t *testing.T) {
				in := fakes.NewInjector(fakes.Faults{{Fault: tc.fault, Rate: 1}}, 1)
				b := be.make(t, in, objs)
				st, err := dataset.NewStore(b).WithPolicy(once)
				if err != nil {
					t.Fatal(err)
				}
				start := time.Now()
				got, tm, err := st.Read(context.Background(), "val/a.bin", nil)
				elapsed := time.Since(start)
				if tc.check == nil {
					min := time.Duration(float64(len(data)) / fakes.TrickleRate * float64(time.Second) * 0.8)
					if err != nil || !bytes.Equal(got, data) || elapsed < min {
						t.Errorf("trickle: read %d bytes in %v, error %v; want the %d stored, in at least %v", len(got), elapsed, err, len(data), min)
					}
					return
				}
				if err == nil {
					t.Fatalf("read succeeded, want the %s fault", tc.fault)
				}
				if msg := tc.check(err); msg != "" {
					t.Errorf("error %q: %s", err, msg)
				}
				if tm.Attempts != 1 || elapsed > 2*time.Second {
					t.Errorf("%d attempts over %v, want one, promptly", tm.Attempts, elapsed)
				}
				if in.Injected()[tc.fault] == 0 {
					t.Errorf("Injected() = %v, want a %s", in.Injected(), tc.fault)
				}
			})
		}
		t.Run(be.name+"/retried", func(t *testing.T) {
			var f fakes.Faults
			for _, k := range fakes.AllFaults {
				f = append(f, fakes.FaultRate{Fault: k, Rate: 0.05})
			}
			in := fakes.NewInjector(f, 5)
			b := be.make(t, in, objs)
			p := once
			p.Attempts, p.Backoff, p.ThrottleBackoff, p.MaxBackoff = 12, time.Millisecond, time.Millisecond, 5*time.Millisecond
			st, err := dataset.NewStore(b).WithPolicy(p)
			if err != nil {
				t.Fatal(err)
			}
			retries := 0
			for k, want := range objs {
				got, tm, err := st.Read(context.Background(), k, nil)
				if err != nil || !bytes.Equal(got, want) {
					t.Errorf("%s: read %d bytes, error %v; want the %d stored", k, len(got), err, len(want))
				}
				retries += tm.Attempts - 1
			}
			if retries == 0 {
				t.Errorf("no retries at a 30%% fault rate over %d reads (injected %v)", len(objs), in.Injected())
			}
		})
	}
}
