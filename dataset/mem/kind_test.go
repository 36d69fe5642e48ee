package mem_test

import (
	"context"
	"errors"
	"io"
	"testing"

	"github.com/storagebench/storagebench/dataset"
	"github.com/storagebench/storagebench/dataset/datasettest"
	"github.com/storagebench/storagebench/dataset/mem"
)

// classifying is a backend of package mem.
type classifying interface {
	dataset.Backend
	dataset.Classifier
}

// TestErrorKind checks that each failure of the package's backends maps
// to its kind, alone and through a Store.
func TestErrorKind(t *testing.T) {
	objects := map[string][]byte{"k": []byte("hello")}
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	backends := []struct {
		name string
		b    classifying
	}{
		{"Backend", mem.New(objects)},
		{"View", datasettest.MapView(t, objects)},
	}
	// midRead returns the error of a Read after the reader's context ended.
	midRead := func(b dataset.Backend) error {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		rc, _, err := b.Open(ctx, "k")
		if err != nil {
			return err
		}
		defer rc.Close()
		cancel()
		_, err = io.ReadAll(rc)
		return err
	}
	for _, bk := range backends {
		for _, tc := range []struct {
			name string
			err  func(b dataset.Backend) error
			want dataset.ErrorKind
		}{
			{"missing key", func(b dataset.Backend) error { _, _, err := b.Open(context.Background(), "missing"); return err }, dataset.KindNotFound},
			{"range past the end", func(b dataset.Backend) error {
				_, _, err := b.(dataset.RangeOpener).OpenRange(context.Background(), "k", 6, -1)
				return err
			}, dataset.KindPermanent},
			{"context ended before Open", func(b dataset.Backend) error { _, _, err := b.Open(canceled, "k"); return err }, dataset.KindCanceled},
			{"context ended while reading", midRead, dataset.KindCanceled},
			{"not the backend's error", func(dataset.Backend) error { return errors.New("elsewhere") }, dataset.KindUnknown},
		} {
			t.Run(bk.name+"/"+tc.name, func(t *testing.T) {
				err := tc.err(bk.b)
				if err == nil {
					t.Fatal("no error")
				}
				if got := bk.b.ErrorKind(err); got != tc.want {
					t.Errorf("ErrorKind(%v) = %v, want %v", err, got, tc.want)
				}
			})
		}
		t.Run(bk.name+"/store", func(t *testing.T) {
			_, tm, err := dataset.NewStore(bk.b).Read(context.Background(), "missing", nil)
			if got := dataset.KindOf(err); got != dataset.KindNotFound || tm.Attempts != 1 {
				t.Errorf("Store.Read(missing) = %v after %d attempts: kind %v, want %v after 1", err, tm.Attempts, got, dataset.KindNotFound)
			}
		})
	}
	b := mem.New(nil)
	if err := b.Delete(context.Background(), "missing"); b.ErrorKind(err) != dataset.KindNotFound {
		t.Errorf("Delete(missing) = %v, kind %v; want %v", err, b.ErrorKind(err), dataset.KindNotFound)
	}
}
