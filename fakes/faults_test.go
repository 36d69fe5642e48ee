package fakes_test

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
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
// with every read taking it (no retries): the kind a Store records on the
// error is the same whether the fault came as an S3 answer over HTTP or as
// an injected error. With retries every fault at 30% still reads every
// object's exact bytes.
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
			kind  dataset.ErrorKind      // of the read's error
			check func(err error) string // "" when err is as the fault should make it
			rate  float64                // of a trickle, bytes/s; 0: TrickleRate
		}{
			{fakes.FaultSlowDown, dataset.KindThrottled, func(err error) string { return "" }, 0},
			{fakes.FaultInternal, dataset.KindTransient, func(err error) string {
				if !strings.Contains(err.Error(), "InternalError") {
					return "want an InternalError"
				}
				return ""
			}, 0},
			{fakes.FaultReset, dataset.KindTransient, func(err error) string {
				if !errors.Is(err, syscall.ECONNRESET) && !strings.Contains(err.Error(), "connection reset") && !strings.Contains(err.Error(), "EOF") {
					return "want a connection reset"
				}
				return ""
			}, 0},
			{fakes.FaultShort, dataset.KindTransient, func(err error) string {
				if !strings.Contains(err.Error(), "unexpected EOF") {
					return "want a short body"
				}
				return ""
			}, 0},
			{fakes.FaultStall, dataset.KindTransient, func(err error) string {
				if !errors.Is(err, dataset.ErrTimeout) || !strings.Contains(err.Error(), "no first byte within 200ms") {
					return "want the first-byte timeout"
				}
				return ""
			}, 0},
			{fakes.FaultTrickle, dataset.KindUnknown, nil, 0},
			{fakes.FaultTrickle, dataset.KindUnknown, nil, 64 << 10},
		} {
			name := be.name + "/" + string(tc.fault)
			if tc.rate > 0 {
				name += fmt.Sprintf("@%.0fB/s", tc.rate)
			}
			t.Run(name, func(t *testing.T) {
				in := fakes.NewInjector(fakes.Faults{{Fault: tc.fault, Rate: 1}}, 1)
				if tc.rate > 0 {
					in.SetTrickleRate(tc.rate)
				}
				b := be.make(t, in, objs)
				st, err := dataset.NewStore(b).WithPolicy(once)
				if err != nil {
					t.Fatal(err)
				}
				start := time.Now()
				got, tm, err := st.Read(context.Background(), "val/a.bin", nil)
				elapsed := time.Since(start)
				if tc.check == nil {
					min := time.Duration(float64(len(data)) / cmp.Or(tc.rate, fakes.TrickleRate) * float64(time.Second) * 0.8)
					if err != nil || !bytes.Equal(got, data) || elapsed < min {
						t.Errorf("trickle: read %d bytes in %v, error %v; want the %d stored, in at least %v", len(got), elapsed, err, len(data), min)
					}
					return
				}
				if err == nil {
					t.Fatalf("read succeeded, want the %s fault", tc.fault)
				}
				if got := dataset.KindOf(err); got != tc.kind {
					t.Errorf("error %q of kind %v, want %v", err, got, tc.kind)
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

// TestInjectorErrorKind checks that the injector's backend classifies
// each fault it injects as the fault's kind, and passes the errors of the
// backend it wraps to that backend's classification.
func TestInjectorErrorKind(t *testing.T) {
	objs := map[string][]byte{"k": bytes.Repeat([]byte("x"), 1000)}
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	// read opens key and reads it whole.
	read := func(ctx context.Context, b dataset.Backend, key string) error {
		rc, _, err := b.Open(ctx, key)
		if err != nil {
			return err
		}
		defer rc.Close()
		_, err = io.ReadAll(rc)
		return err
	}
	for _, tc := range []struct {
		name  string
		fault fakes.Fault
		ctx   context.Context
		key   string
		want  dataset.ErrorKind
	}{
		{"slowdown", fakes.FaultSlowDown, context.Background(), "k", dataset.KindThrottled},
		{"internal", fakes.FaultInternal, context.Background(), "k", dataset.KindTransient},
		{"reset", fakes.FaultReset, context.Background(), "k", dataset.KindTransient},
		{"short", fakes.FaultShort, context.Background(), "k", dataset.KindTransient},
		{"stall, context ended", fakes.FaultStall, canceled, "k", dataset.KindCanceled},
		{"missing key, the wrapped backend's", fakes.FaultShort, context.Background(), "missing", dataset.KindNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := fakes.NewInjector(fakes.Faults{{Fault: tc.fault, Rate: 1}}, 1).Backend(mem.New(objs))
			err := read(tc.ctx, b, tc.key)
			if err == nil {
				t.Fatal("no error")
			}
			c, ok := b.(dataset.Classifier)
			if !ok {
				t.Fatalf("%T is not a dataset.Classifier", b)
			}
			if got := c.ErrorKind(err); got != tc.want {
				t.Errorf("ErrorKind(%v) = %v, want %v", err, got, tc.want)
			}
		})
	}
	for _, f := range fakes.AllFaults {
		want := dataset.KindTransient
		if f == fakes.FaultSlowDown {
			want = dataset.KindThrottled
		}
		if got := (&fakes.FaultError{Fault: f}).Kind(); got != want {
			t.Errorf("FaultError{%s}.Kind() = %v, want %v", f, got, want)
		}
	}
}
