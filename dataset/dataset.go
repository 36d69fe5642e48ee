package dataset

import "context"

// Dataset is an [Index] read through a [Store]: item i is the object named
// by the index's key i. It is safe for concurrent use.
type Dataset struct {
	store *Store
	index Index
}

// New returns the dataset of index read through store. The index is not
// copied and must not change afterwards.
func New(store *Store, index Index) *Dataset {
	return &Dataset{store: store, index: index}
}

// Len returns the number of items.
func (d *Dataset) Len() int { return len(d.index) }

// Key returns the key of item i.
func (d *Dataset) Key(i int) string { return d.index[i] }

// Index returns the dataset's index. Callers must not modify it.
func (d *Dataset) Index() Index { return d.index }

// Store returns the store the dataset reads through.
func (d *Dataset) Store() *Store { return d.store }

// WithRetryBudget returns the dataset read through d's store given budget
// ([Store.WithRetryBudget]), so that its reads share budget. The index is
// shared, not copied.
func (d *Dataset) WithRetryBudget(budget *RetryBudget) *Dataset {
	return &Dataset{store: d.store.WithRetryBudget(budget), index: d.index}
}

// Read reads item i into buf as [Store.Read] does.
func (d *Dataset) Read(ctx context.Context, i int, buf []byte) ([]byte, Timing, error) {
	return d.store.read(ctx, d.index[i], buf, nil)
}

// ReadTraced reads item i into buf as [Store.ReadTraced] does, calling the
// hooks of trace for this read in addition to the store's own.
func (d *Dataset) ReadTraced(ctx context.Context, i int, buf []byte, trace *ReadTrace) ([]byte, Timing, error) {
	return d.store.read(ctx, d.index[i], buf, trace)
}
