package fakes

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"github.com/storagebench/storagebench/dataset"
)

// synthBodies returns the distinct bodies of s, failing tb if it cannot.
func synthBodies(tb testing.TB, s Synth) [][]byte {
	tb.Helper()
	bodies, err := s.DistinctBodies(tb.Context())
	if err != nil {
		tb.Fatal(err)
	}
	return bodies
}

func TestSynthView(t *testing.T) {
	t.Parallel()
	s := Synth{N: 2500, Seed: 1, Bodies: 7, Prefix: "train/"}
	v, err := s.View(synthBodies(t, s))
	if err != nil {
		t.Fatal(err)
	}
	store := dataset.NewStore(v)
	ctx := t.Context()
	for _, i := range []int{0, 6, 7, 1234, 2499} {
		got, _, err := store.Read(ctx, s.Key(i), nil)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, s.Item(i)) {
			t.Errorf("Read(%q) differs from Item(%d)", s.Key(i), i)
		}
	}
	for _, key := range []string{"train/ILSVRC2012_val_00002501.JPEG", "val/ILSVRC2012_val_00000001.JPEG", "train/"} {
		if _, _, err := store.Read(ctx, key, nil); !errors.Is(err, dataset.ErrNotFound) {
			t.Errorf("Read(%q) error = %v, want ErrNotFound", key, err)
		}
	}
	tests := []struct {
		prefix string
		want   []int // positions listed
	}{
		{"", seq(0, 2500)},
		{"train/", seq(0, 2500)},
		{"train/ILSVRC2012_val_0000010", seq(99, 109)}, // keys 100 to 109
		{"train/ILSVRC2012_val_00002500", []int{2499}},
		{"train/ILSVRC2012_val_00002501", nil},
		{"val/", nil},
	}
	for _, tc := range tests {
		entries, err := store.List(ctx, tc.prefix)
		if err != nil {
			t.Fatal(err)
		}
		var got []int
		for _, e := range entries {
			i, ok := s.Position(e.Key)
			if !ok {
				t.Fatalf("List(%q) listed %q, not a key of the dataset", tc.prefix, e.Key)
			}
			if e.Size != int64(s.Size(i)) {
				t.Errorf("List(%q): %q has size %d, want %d", tc.prefix, e.Key, e.Size, s.Size(i))
			}
			got = append(got, i)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("List(%q) listed %d keys, want %d, in position order", tc.prefix, len(got), len(tc.want))
		}
	}
}

// seq returns the integers from lo to hi, hi excluded.
func seq(lo, hi int) []int {
	var out []int
	for i := lo; i < hi; i++ {
		out = append(out, i)
	}
	return out
}

func TestSynthViewErrors(t *testing.T) {
	t.Parallel()
	s := Synth{N: 30, Seed: 1, Bodies: 3}
	bodies := synthBodies(t, s)
	tests := []struct {
		name   string
		s      Synth
		bodies [][]byte
	}{
		{"too few bodies", s, bodies[:2]},
		{"too many bodies", s, append(slices.Clone(bodies), bodies[0])},
		{"bodies of another seed", Synth{N: 30, Seed: 2, Bodies: 3}, bodies},
		{"bodies out of order", s, [][]byte{bodies[1], bodies[0], bodies[2]}},
		{"no items", Synth{Bodies: 3}, bodies},
		{"keys past eight digits", Synth{N: 100_000_000, Seed: 1, Bodies: 3}, bodies},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tc.s.View(tc.bodies); err == nil {
				t.Errorf("View succeeded, want an error")
			}
		})
	}
}
