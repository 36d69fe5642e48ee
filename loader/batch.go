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
	// OnErrorDeliver; otherwise an error ends the run, or, with
	// OnErrorSkip, the item is left out of its batch.
	Err error
}

// Batch is a batch of items, delivered in sampler order.
type Batch struct {
	Epoch int    // the epoch, from 0
	Index int    // the batch's position in its epoch, from 0
	Items []Item // the items, in sampler order; fewer when OnErrorSkip left some out
	full  int    // with items left out, how many the batch has; else 0

	seq     int           // position among all batches of the run
	last    bool          // the last batch of its epoch
	owner   recycler      // the scheduler that laid it out, where release returns it
	pending atomic.Int32  // items not yet read
	done    chan struct{} // receives one value when the batch is complete
	start   time.Time     // when its first read started
	seen    bool          // the consumer has received from done

	// Under the item scheduler: when its first read started, in Unix
	// nanoseconds (0 before), and each item's read state.
	firstRead atomic.Int64
	states    []itemState
}

// A recycler takes back the batches it laid out, once consumed.
type recycler interface {
	recycle(b *Batch)
}

// release returns b to its owner, which then reuses its items. It never
// blocks.
func (b *Batch) release() {
	if b.full > 0 {
		b.Items, b.full = b.Items[:b.full], 0
	}
	b.owner.recycle(b)
}

// skipFailed moves b's failed items behind its others, keeping both in
// sampler order and every item's buffers, shortens Items to the others,
// and returns how many it left out.
func (b *Batch) skipFailed() int {
	k := 0
	for i := range b.Items {
		if b.Items[i].Err == nil {
			if i != k {
				b.Items[i], b.Items[k] = b.Items[k], b.Items[i]
			}
			k++
		}
	}
	n := len(b.Items) - k
	if n > 0 {
		b.full = len(b.Items)
		b.Items = b.Items[:k]
	}
	return n
}
