package loader_test

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"testing"

	"github.com/storagebench/storagebench/dataset"
	"github.com/storagebench/storagebench/dataset/mem"
	"github.com/storagebench/storagebench/fakes"
	"github.com/storagebench/storagebench/loader"
)

// TestDecodeJPEG loads real JPEGs with decoding on and checks every image
// against the standard library's decode converted to gray.
func TestDecodeJPEG(t *testing.T) {
	synth := fakes.Synth{N: 12, Seed: 5}
	items, err := synth.Items(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ds := dataset.New(dataset.NewStore(mem.New(items)), synth.Index())
	for _, tc := range []struct {
		mode   loader.Mode
		decode int
	}{{loader.Sync, 0}, {loader.Async, 1}, {loader.Async, 0}} {
		t.Run(fmt.Sprintf("%s/decoders=%d", tc.mode, tc.decode), func(t *testing.T) {
			opts := loader.Options{Mode: tc.mode, Workers: 3, BatchSize: 5, Decode: loader.DecodeJPEG, DecodeConcurrency: tc.decode, Epochs: 2}
			stats, err := load(context.Background(), ds, opts, func(b *loader.Batch) error {
				for _, it := range b.Items {
					want, err := jpeg.Decode(bytes.NewReader(items[ds.Key(it.Index)]))
					if err != nil {
						return err
					}
					if it.Image == nil || it.Image.Bounds().Size() != want.Bounds().Size() {
						return fmt.Errorf("item %d: image %v, want size %v", it.Index, it.Image, want.Bounds().Size())
					}
					r := want.Bounds()
					for _, p := range []image.Point{r.Min, r.Max.Sub(image.Pt(1, 1)), r.Min.Add(r.Max).Div(2)} {
						got := it.Image.GrayAt(p.X-r.Min.X, p.Y-r.Min.Y).Y
						wantY := color.GrayModel.Convert(want.At(p.X, p.Y)).(color.Gray).Y
						if d := int(got) - int(wantY); d < -2 || d > 2 {
							return fmt.Errorf("item %d at %v: gray %d, want %d", it.Index, p, got, wantY)
						}
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if got := stats.Levels[loader.Decode].Count; got != int64(2*synth.N) {
				t.Errorf("decode count = %d, want %d", got, 2*synth.N)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	ds := dataset.New(dataset.NewStore(mem.New(map[string][]byte{"a.JPEG": []byte("not a jpeg")})), dataset.Index{"a.JPEG"})
	_, err := load(context.Background(), ds, loader.Options{Decode: loader.DecodeJPEG, Warmup: -1}, func(*loader.Batch) error { return nil })
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte(`"a.JPEG"`)) {
		t.Errorf("Load of a bad JPEG = %v, want an error naming a.JPEG", err)
	}
	if _, err := loader.New(ds, loader.Options{DecodeConcurrency: -1}); err == nil {
		t.Error("New with a negative decode concurrency succeeded")
	}
}
