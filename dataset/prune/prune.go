// Package prune makes a writable [dataset.Store] hold exactly what one run
// wrote into it, as "storagebench gen" needs of its destination: a run
// first refuses a store that already holds objects ([CheckEmpty]) or, when
// told to write there anyway, afterwards finds the objects it did not write
// ([Others]) and removes them ([Delete]).
//
// It works through Store's List and Delete alone, so it serves every
// backend that can list and delete, and it shows nothing itself: a caller
// that shows progress passes a callback to Delete.
package prune

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/storagebench/storagebench/dataset"
)

// defaultConcurrency is how many objects Delete removes at a time when
// its caller does not say.
const defaultConcurrency = 8

// A NotEmptyError reports that a store expected to be empty holds objects.
type NotEmptyError struct {
	Objects int    // how many objects the store holds
	Key     string // the key of one of them, the first listed
}

// Error says how many objects the store holds and names one.
func (e *NotEmptyError) Error() string {
	return fmt.Sprintf("already holds %d objects, such as %q", e.Objects, e.Key)
}

// CheckEmpty returns a [*NotEmptyError] when store holds any object, and
// the error of the listing when it fails.
func CheckEmpty(ctx context.Context, store *dataset.Store) error {
	entries, err := store.List(ctx, "")
	if err != nil {
		return err
	}
	if len(entries) > 0 {
		return &NotEmptyError{Objects: len(entries), Key: entries[0].Key}
	}
	return nil
}

// Others returns, sorted, the keys of the objects in store that are not in
// keep.
func Others(ctx context.Context, store *dataset.Store, keep map[string]bool) ([]string, error) {
	entries, err := store.List(ctx, "")
	if err != nil {
		return nil, err
	}
	var others []string
	for _, e := range entries {
		if !keep[e.Key] {
			others = append(others, e.Key)
		}
	}
	return others, nil
}

// Delete removes the objects named by keys from store, concurrency at a
// time (8 when concurrency <= 0). An object that is already gone is not an
// error. The first error stops the rest and is returned, naming its key;
// so is ctx's error when ctx is done first. When removed is not nil, it is
// called after each object is removed with the number removed so far; calls
// come one at a time, with counts that increase by one, and should return
// promptly.
func Delete(ctx context.Context, store *dataset.Store, keys []string, concurrency int, removed func(n int)) error {
	if concurrency <= 0 {
		concurrency = defaultConcurrency
	}
	var (
		mu sync.Mutex
		n  int
	)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(concurrency)
	for _, k := range keys {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error {
			if err := store.Delete(gctx, k); err != nil && !errors.Is(err, dataset.ErrNotFound) {
				return err
			}
			if removed != nil {
				mu.Lock()
				n++
				removed(n)
				mu.Unlock()
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return ctx.Err()
}
