package dataset

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"
)

// slowBackend serves one object, and is not Immediate: its reads have
// deadlines.
type slowBackend struct{ data []byte }

func (b slowBackend) Open(ctx context.Context, key string) (io.ReadCloser, int64, error) {
	return io.NopCloser(bytes.NewReader(b.data)), int64(len(b.data)), nil
}

// TestStreamDeadlineBetweenReads checks that a stream's idle deadline runs
// only while a Read waits on the store: stopped once OpenStream returns
// and after each Read, never firing while the caller holds the stream, and
// stopped for good by Close.
func TestStreamDeadlineBetweenReads(t *testing.T) {
	st, err := NewStore(slowBackend{bytes.Repeat([]byte("x"), 3*firstRead)}).WithPolicy(Policy{FirstByteTimeout: time.Hour, IdleTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	s, err := st.OpenStream(t.Context(), "k", 0)
	if err != nil {
		t.Fatal(err)
	}
	armed := func(when string) {
		t.Helper()
		if s.dl == nil || s.dl.timer == nil {
			t.Fatalf("%s: the stream has no deadline timer, want one", when)
		}
		if s.dl.timer.Stop() {
			t.Errorf("%s: the deadline is armed, want it stopped", when)
		}
	}
	armed("after OpenStream")
	buf := make([]byte, firstRead)
	for i := range 3 {
		if _, err := io.ReadFull(s, buf); err != nil {
			t.Fatalf("Read %d: %v", i, err)
		}
		armed("after a Read")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	armed("after Close")
	if s.dl.ctx.Err() == nil {
		t.Error("the deadline's context is live after Close, want it released")
	}
}
