package dataset

import "context"

// Dataset is an [Index] read through a [Store]: item i is the object named
// by the index's key i, or, for a dataset made by [NewItems], what its
// [Items] say. It is safe for concurrent use.
type Dataset struct {
	store *Store
	index Index
	items Items // nil: item i is the object index[i]
}

// Items say what a dataset's items are when they are not whole objects
// named by its index: samples read as parts of the objects the index
// names, such as the samples of tar shards, each read with one ranged
// read. Implementations must be safe for concurrent use.
type Items interface {
	// Len returns the number of items.
	Len() int
	// Key names item i, for errors and listings of what was read.
	Key(i int) string
	// Read reads item i through s into buf, reusing its capacity, calling
	// trace's hooks (nil for none) as [Store.ReadTraced] does, and returns
	// the item's bytes and how the read went.
	Read(ctx context.Context, s *Store, i int, buf []byte, trace *ReadTrace) ([]byte, Timing, error)
}

// New returns the dataset of index read through store. The index is not
// copied and must not change afterwards.
func New(store *Store, index Index) *Dataset {
	return &Dataset{store: store, index: index}
}

// NewItems returns the dataset whose items are items, read through store
// from the objects index names (which a loader may also read whole, as a
// stream of tar shards does).
func NewItems(store *Store, index Index, items Items) *Dataset {
	return &Dataset{store: store, index: index, items: items}
}

// Len returns the number of items.
func (d *Dataset) Len() int {
	if d.items != nil {
		return d.items.Len()
	}
	return len(d.index)
}

// Key returns the key of item i: the key of its object, or what its Items
// name it.
func (d *Dataset) Key(i int) string {
	if d.items != nil {
		return d.items.Key(i)
	}
	return d.index[i]
}

// Index returns the dataset's index: the keys of the objects it reads.
// Callers must not modify it.
func (d *Dataset) Index() Index { return d.index }

// Items returns the dataset's Items, nil when item i is the object named
// by key i of its index.
func (d *Dataset) Items() Items { return d.items }

// Store returns the store the dataset reads through.
func (d *Dataset) Store() *Store { return d.store }

// WithRetryBudget returns the dataset read through d's store given budget
// ([Store.WithRetryBudget]), so that its reads share budget. The index is
// shared, not copied.
func (d *Dataset) WithRetryBudget(budget *RetryBudget) *Dataset {
	return &Dataset{store: d.store.WithRetryBudget(budget), index: d.index, items: d.items}
}

// Read reads item i into buf as [Store.Read] does.
func (d *Dataset) Read(ctx context.Context, i int, buf []byte) ([]byte, Timing, error) {
	if d.items != nil {
		return d.items.Read(ctx, d.store, i, buf, nil)
	}
	return d.store.read(ctx, d.index[i], whole, buf, nil)
}

// ReadTraced reads item i into buf as [Store.ReadTraced] does, calling the
// hooks of trace for this read in addition to the store's own.
func (d *Dataset) ReadTraced(ctx context.Context, i int, buf []byte, trace *ReadTrace) ([]byte, Timing, error) {
	if d.items != nil {
		return d.items.Read(ctx, d.store, i, buf, trace)
	}
	return d.store.read(ctx, d.index[i], whole, buf, trace)
}
