package recordingpage

import (
	"bufio"
	"encoding/binary"
	"image"
	"image/color"
	"io"
	"math"

	"github.com/modlisten/mod_listen/go/wavfile"
)

var palette = color.Palette{
	color.RGBA{0xf7, 0xf8, 0xfa, 0xff}, // background
	color.RGBA{0xc8, 0xcd, 0xd4, 0xff}, // zero line
	color.RGBA{0x1f, 0x6f, 0xb5, 0xff}, // audio
}

// waveform draws one channel of a recording: per pixel column, a line from
// the lowest to the highest sample of the audio the column stands for.
// The file is read once, in order, whatever its length.
func waveform(path string, channel, width, height int) (image.Image, error) {
	f, ft, data, err := wavfile.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	img := image.NewPaletted(image.Rect(0, 0, width, height), palette)
	mid := height / 2
	for x := range width {
		img.SetColorIndex(x, mid, 1)
	}
	frames := data / int64(2*ft.Channels)
	if channel < 0 || channel >= ft.Channels || frames == 0 {
		return img, nil
	}
	lo := make([]int16, width)
	hi := make([]int16, width)
	seen := make([]bool, width)
	r := bufio.NewReaderSize(io.NewSectionReader(f, wavfile.HeaderBytes, data), 64<<10)
	frame := make([]byte, 2*ft.Channels)
	for i := int64(0); i < frames; i++ {
		if _, err := io.ReadFull(r, frame); err != nil {
			return nil, err
		}
		v := int16(binary.LittleEndian.Uint16(frame[2*channel:]))
		x := int(i * int64(width) / frames)
		if !seen[x] || v < lo[x] {
			lo[x] = v
		}
		if !seen[x] || v > hi[x] {
			hi[x] = v
		}
		seen[x] = true
	}
	y := func(v int16) int {
		return mid - int(math.Round(float64(v)/32768*float64(mid-1)))
	}
	for x := range width {
		if !seen[x] {
			continue
		}
		for yy := y(hi[x]); yy <= y(lo[x]); yy++ {
			img.SetColorIndex(x, yy, 2)
		}
	}
	return img, nil
}
