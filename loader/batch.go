package loader

import (
	"image"
	"sync/atomic"
	"time"
)

// Item is one item of a batch.
type Item struct {
	// Index is the item's position in the dataset's index.
	Index int
	// Data holds the item's bytes. It is valid until the batch is released
	// (by the next call to Next, or Close); the loader then reuses it.
	Data []byte
	// Image is the decoded grayscale image with DecodeJPEG, nil otherwise.
	// It is reused like Data.
	Image *image.Gray
	// Err is the item's read or decode error. It is set only with
	// Options.TolerateErrors; otherwise an error ends the run.
	Err error
}

// Batch is a batch of items, delivered in sampler order.
type Batch struct {
	Epoch int    // the epoch, from 0
	Index int    // the batch's position in its epoch, from 0
	Items []Item // the items, in sampler order

	seq     int           // position among all batches of the run
	free    chan<- *Batch // its owner's free slots, where release returns it
	pending atomic.Int32  // items not yet read
	done    chan struct{} // receives one value when the batch is complete
	start   time.Time     // when its first read started
}

// release returns b's slot to its owner, which then reuses its items. It
// never blocks: a slot goes back to the channel it came from.
func (b *Batch) release() { b.free <- b }
