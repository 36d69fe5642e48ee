package dataset_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/storagebench/storagebench/dataset"
	"github.com/storagebench/storagebench/dataset/mem"
)

// fakeBackend serves one body with a declared size.
type fakeBackend struct {
	body io.Reader
	size int64
}

func (f fakeBackend) Open(ctx context.Context, key string) (io.ReadCloser, int64, error) {
	return io.NopCloser(f.body), f.size, nil
}

func TestStoreReadBodies(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789"), 10_000) // 100 kB
	boom := errors.New("boom")
	for _, tc := range []struct {
		name    string
		body    io.Reader
		size    int64
		wantErr error
	}{
		{"known size", bytes.NewReader(data), int64(len(data)), nil},
		{"unknown size", bytes.NewReader(data), -1, nil},
		{"one byte at a time", iotest.OneByteReader(bytes.NewReader(data[:3000])), 3000, nil},
		{"data with EOF", iotest.DataErrReader(bytes.NewReader(data)), int64(len(data)), nil},
		{"short body", bytes.NewReader(data[:10]), int64(len(data)), io.ErrUnexpectedEOF},
		{"long body", bytes.NewReader(data), 10, nil},
		{"read error", iotest.ErrReader(boom), 5, boom},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := dataset.NewStore(fakeBackend{tc.body, tc.size})
			got, tm, err := store.Read(context.Background(), "k", nil)
			if tc.name == "long body" {
				if err == nil || !strings.Contains(err.Error(), "longer than") {
					t.Fatalf("Read = %d bytes, %v; want a 'body longer than' error", len(got), err)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Read error = %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				var ke *dataset.KeyError
				if !errors.As(err, &ke) || ke.Key != "k" || ke.Op != "read" {
					t.Errorf("Read error = %#v, want a *KeyError for read of k", err)
				}
				return
			}
			want := data[:len(got)]
			if tc.size >= 0 && int64(len(got)) != tc.size || tc.size < 0 && len(got) != len(data) || !bytes.Equal(got, want) {
				t.Errorf("Read = %d bytes, want %d matching bytes", len(got), len(want))
			}
			if tm.TTFB < 0 || tm.Total < tm.TTFB || tm.Transfer() != tm.Total-tm.Retrying-tm.TTFB {
				t.Errorf("Read timing = %+v, want 0 <= TTFB <= Total", tm)
			}
		})
	}
}

func TestStoreReadDoesNotAllocate(t *testing.T) {
	store := dataset.NewStore(mem.New(map[string][]byte{"k": bytes.Repeat([]byte{7}, 100_000)}))
	buf := make([]byte, 0, 200_000)
	ctx := context.Background()
	allocs := testing.AllocsPerRun(100, func() {
		var err error
		if buf, _, err = store.Read(ctx, "k", buf); err != nil || len(buf) != 100_000 {
			t.Fatalf("Read = %d bytes, %v", len(buf), err)
		}
	})
	if allocs > 0 {
		t.Errorf("Read into a large enough buffer allocates %v times, want 0", allocs)
	}
}

func TestStoreOptionalInterfaces(t *testing.T) {
	store := dataset.NewStore(fakeBackend{strings.NewReader(""), 0})
	if err := store.Put(context.Background(), "k", nil); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("Put on a read-only backend: %v, want ErrUnsupported", err)
	}
	if _, err := store.List(context.Background(), ""); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("List on a backend that cannot list: %v, want ErrUnsupported", err)
	}
	if err := store.Put(context.Background(), "", nil); !errors.Is(err, dataset.ErrInvalidKey) {
		t.Errorf("Put with an empty key: %v, want ErrInvalidKey", err)
	}
	err := store.Delete(context.Background(), "k")
	if !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("Delete on a backend that cannot delete: %v, want ErrUnsupported", err)
	}
	if ke := (*dataset.KeyError)(nil); !errors.As(err, &ke) || ke.Op != "delete" || ke.Key != "k" {
		t.Errorf("Delete error = %v, want a *KeyError for op delete of key k", err)
	}
	if err := store.Delete(context.Background(), ""); !errors.Is(err, dataset.ErrInvalidKey) {
		t.Errorf("Delete with an empty key: %v, want ErrInvalidKey", err)
	}
}
