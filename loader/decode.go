package loader

import (
	"bytes"
	"fmt"
	"image"
	"image/draw"
	"image/jpeg"
)

// DecodeGray decodes a JPEG and converts it to 8-bit grayscale in dst,
// reusing dst's pixels (dst may be nil), as the loader's DecodeJPEG does.
// The conversion is the ITU-R 601 luma that PIL's convert("L") computes,
// which for a JFIF (YCbCr) image is its Y plane.
func DecodeGray(data []byte, dst *image.Gray) (*image.Gray, error) {
	img, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		return dst, fmt.Errorf("decode jpeg: %w", err)
	}
	r := img.Bounds()
	w, h := r.Dx(), r.Dy()
	if dst == nil {
		dst = new(image.Gray)
	}
	if cap(dst.Pix) < w*h {
		dst.Pix = make([]uint8, w*h)
	}
	dst.Pix, dst.Stride, dst.Rect = dst.Pix[:w*h], w, image.Rect(0, 0, w, h)
	switch m := img.(type) {
	case *image.YCbCr:
		for y := range h {
			copy(dst.Pix[y*w:(y+1)*w], m.Y[y*m.YStride:])
		}
	case *image.Gray:
		for y := range h {
			copy(dst.Pix[y*w:(y+1)*w], m.Pix[y*m.Stride:])
		}
	default:
		draw.Draw(dst, dst.Rect, img, r.Min, draw.Src)
	}
	return dst, nil
}
