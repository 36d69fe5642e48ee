package s3blob

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/storagebench/storagebench/dataset"
)

// FetchIndex returns the index at the s3://bucket/key URL. When cache is
// not empty, the index is read from that local file if it exists; otherwise
// it is downloaded once, checked, and saved there for next time (the seed's
// behaviour). Errors name the URL or the file.
func FetchIndex(ctx context.Context, client *s3.Client, url, cache string) (dataset.Index, error) {
	if cache != "" {
		idx, err := dataset.LoadIndex(cache)
		if err == nil || !errors.Is(err, fs.ErrNotExist) {
			return idx, err
		}
	}
	bucket, key, err := ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("fetch index: %w", err)
	}
	// Read as the dataset's items are, under dataset.Store's deadlines
	// and retries: a stalled or faulty store fails within seconds.
	b, err := Open(client, bucket, "")
	if err != nil {
		return nil, fmt.Errorf("fetch index %s: %w", url, err)
	}
	data, _, err := dataset.NewStore(b).Read(ctx, key, nil)
	if err != nil {
		return nil, fmt.Errorf("fetch index %s: %w", url, err)
	}
	idx, err := dataset.ParseIndex(url, data)
	if err != nil {
		return nil, err
	}
	if cache != "" {
		if err := writeAtomic(cache, data); err != nil {
			return nil, fmt.Errorf("fetch index %s: cache: %w", url, err)
		}
	}
	return idx, nil
}

// writeAtomic writes data to a temporary file beside path and renames it
// into place, so a concurrent reader never sees a partial index.
func writeAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}
