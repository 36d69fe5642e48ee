package fakestest

import (
	"errors"
	"maps"
	"slices"
	"syscall"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/storagebench/storagebench/dataset"
	"github.com/storagebench/storagebench/fakes"
)

// TestNewS3Closes checks that the server NewS3 starts serves during the
// test and is closed by the test's cleanup.
func TestNewS3Closes(t *testing.T) {
	var f *fakes.S3
	t.Run("inner", func(t *testing.T) {
		f = NewS3(t, fakes.S3Options{Buckets: []string{"data"}})
		if err := f.CreateBucket(t.Context(), "more"); err != nil {
			t.Fatalf("CreateBucket during the test: %v", err)
		}
	})
	if _, err := f.Client.ListBuckets(t.Context(), &s3.ListBucketsInput{}); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("ListBuckets after the test ended: got %v, want connection refused", err)
	}
}

func TestNewS3Backend(t *testing.T) {
	tests := []struct {
		name    string
		objects map[string][]byte
	}{
		{"empty", nil},
		{"one", map[string][]byte{"a": []byte("alpha")}},
		{"nested and empty object", map[string][]byte{"val/x.JPEG": []byte("jpeg"), "val/empty": {}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, b := NewS3Backend(t, tc.objects)
			if f == nil || b == nil {
				t.Fatalf("NewS3Backend = %v, %v, want a server and a backend", f, b)
			}
			store := dataset.NewStore(b)
			entries, err := store.List(t.Context(), "")
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range entries {
				got = append(got, e.Key)
			}
			if want := slices.Sorted(maps.Keys(tc.objects)); !slices.Equal(got, want) {
				t.Errorf("listed %q, want %q", got, want)
			}
			for k, want := range tc.objects {
				data, _, err := store.Read(t.Context(), k, nil)
				if err != nil {
					t.Fatal(err)
				}
				if string(data) != string(want) {
					t.Errorf("read %q = %q, want %q", k, data, want)
				}
			}
		})
	}
}
