package report

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/storagebench/storagebench/results"
)

// The size of a figure, like the seed's, and the resolution of its PNG:
// 150 dpi makes 1800x900 pixels, in which 20 bars per worker group stay
// several pixels wide.
const (
	Width  = 12 * vg.Inch
	Height = 6 * vg.Inch
	DPI    = 150
)

// A Figure is one chart, drawn on demand in any format.
type Figure struct {
	// Name is the figure's file name without extension, such as
	// "throughput-fakes3-s3"; unique among the figures built together.
	Name string
	// Title says what the figure shows.
	Title string

	paint func(dc draw.Canvas)
}

// SVG returns the figure as an SVG document.
func (f *Figure) SVG() ([]byte, error) {
	c := vgsvg.New(Width, Height)
	f.paint(draw.New(c))
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("figure %s: svg: %w", f.Name, err)
	}
	return buf.Bytes(), nil
}

// PNG returns the figure as a PNG image of Width x Height at DPI.
func (f *Figure) PNG() ([]byte, error) {
	c := vgimg.NewWith(vgimg.UseWH(Width, Height), vgimg.UseDPI(DPI))
	f.paint(draw.New(c))
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: c}).WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("figure %s: png: %w", f.Name, err)
	}
	return buf.Bytes(), nil
}

// WriteFiles writes the figure into dir as Name.svg and Name.png and
// returns the paths written.
func (f *Figure) WriteFiles(dir string) ([]string, error) {
	var paths []string
	for _, format := range []struct {
		ext  string
		draw func() ([]byte, error)
	}{{".svg", f.SVG}, {".png", f.PNG}} {
		data, err := format.draw()
		if err != nil {
			return paths, err
		}
		p := filepath.Join(dir, f.Name+format.ext)
		if err := os.WriteFile(p, data, 0o666); err != nil {
			return paths, fmt.Errorf("figure %s: %w", f.Name, err)
		}
		paths = append(paths, p)
	}
	return paths, nil
}

// fileName maps a name part to characters that are safe in a file name.
func fileName(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9', r == '.', r == '_', r == '-':
			return r
		}
		return '_'
	}, s)
}

// uniqueNames names figures prefix-PART-PART..., from each figure's
// identifying parts ("fakes3", "s3") followed by the parts of its other
// keys ("batch=100") that differ from another figure with the same
// identifying parts, numbering what is still the same.
func uniqueNames(prefix string, ids [][]string, others [][]string) []string {
	names := make([]string, len(ids))
	used := make(map[string]bool)
	for i := range ids {
		parts := append([]string{prefix}, ids[i]...)
		for _, kv := range others[i] {
			for j := range ids {
				if j != i && slices.Equal(ids[j], ids[i]) && !slices.Contains(others[j], kv) {
					parts = append(parts, strings.Replace(kv, "=", "", 1))
					break
				}
			}
		}
		for j := range parts {
			parts[j] = fileName(parts[j])
		}
		stem := strings.Join(parts, "-")
		name := stem
		for n := 2; used[name]; n++ {
			name = fmt.Sprintf("%s-%d", stem, n)
		}
		used[name] = true
		names[i] = name
	}
	return names
}

// Figures returns every figure s can show: the throughput (or
// before/after) figures, the accelerator utilization figures, the
// per-level figures and what a server saw over time, in that order.
func Figures(s *results.Set, opts LevelOptions) ([]*Figure, error) {
	var figs []*Figure
	for _, build := range []func() ([]*Figure, error){
		func() ([]*Figure, error) { return ThroughputFigures(s) },
		func() ([]*Figure, error) { return AUFigures(s) },
		func() ([]*Figure, error) { return LevelFigures(s, opts) },
		func() ([]*Figure, error) { return ServedFigures(s) },
	} {
		f, err := build()
		if err != nil {
			return nil, err
		}
		figs = append(figs, f...)
	}
	return figs, nil
}
