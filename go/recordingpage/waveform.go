package recordingpage

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
	"io"
	"math"
	"os"

	"github.com/modlisten/mod_listen/go/oggopus"
	"github.com/modlisten/mod_listen/go/wavfile"
)

var palette = color.Palette{
	color.RGBA{0xf7, 0xf8, 0xfa, 0xff}, // background
	color.RGBA{0xc8, 0xcd, 0xd4, 0xff}, // zero line
	color.RGBA{0x1f, 0x6f, 0xb5, 0xff}, // audio
}

// maxOggWaveformSeconds bounds the Ogg/Opus recordings drawn: they are
// decoded whole in memory (96 KB a second), a WAV is read as it is drawn.
const maxOggWaveformSeconds = 600

// columns is a waveform being drawn: per pixel column, the lowest and the
// highest sample of the audio the column stands for.
type columns struct {
	lo, hi []int16
	seen   []bool
	frames int64
}

func newColumns(width int, frames int64) *columns {
	return &columns{lo: make([]int16, width), hi: make([]int16, width), seen: make([]bool, width), frames: frames}
}

// add takes sample frame i's value.
func (c *columns) add(i int64, v int16) {
	x := int(i * int64(len(c.lo)) / c.frames)
	if !c.seen[x] || v < c.lo[x] {
		c.lo[x] = v
	}
	if !c.seen[x] || v > c.hi[x] {
		c.hi[x] = v
	}
	c.seen[x] = true
}

func (c *columns) image(height int) image.Image {
	width := len(c.lo)
	img := image.NewPaletted(image.Rect(0, 0, width, height), palette)
	mid := height / 2
	for x := range width {
		img.SetColorIndex(x, mid, 1)
	}
	y := func(v int16) int {
		return mid - int(math.Round(float64(v)/32768*float64(mid-1)))
	}
	for x := range width {
		if !c.seen[x] {
			continue
		}
		for yy := y(c.hi[x]); yy <= y(c.lo[x]); yy++ {
			img.SetColorIndex(x, yy, 2)
		}
	}
	return img
}

// waveform draws one channel of a WAV recording. The file is read once, in
// order, whatever its length.
func waveform(path string, channel, width, height int) (image.Image, error) {
	f, ft, data, err := wavfile.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	frames := data / int64(2*ft.Channels)
	c := newColumns(width, max(frames, 1))
	if channel < 0 || channel >= ft.Channels || frames == 0 {
		return c.image(height), nil
	}
	r := bufio.NewReaderSize(io.NewSectionReader(f, wavfile.HeaderBytes, data), 64<<10)
	frame := make([]byte, 2*ft.Channels)
	for i := int64(0); i < frames; i++ {
		if _, err := io.ReadFull(r, frame); err != nil {
			return nil, err
		}
		c.add(i, int16(binary.LittleEndian.Uint16(frame[2*channel:])))
	}
	return c.image(height), nil
}

// oggWaveform draws an Ogg/Opus recording of durationMs (as its sidecar
// says, checked before the file is read), its channels mixed (as oggopus
// decodes).
func oggWaveform(path string, durationMs int64, width, height int) (image.Image, error) {
	if durationMs > maxOggWaveformSeconds*1000 {
		return nil, fmt.Errorf("a recording of %d s is too long to draw (at most %d s as Ogg/Opus)", durationMs/1000, maxOggWaveformSeconds)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	f, err := oggopus.Parse(b)
	if err != nil {
		return nil, err
	}
	if f.Seconds() > maxOggWaveformSeconds {
		return nil, fmt.Errorf("a recording of %.0f s is too long to draw (at most %d s as Ogg/Opus)", f.Seconds(), maxOggWaveformSeconds)
	}
	pcm, err := f.Decode()
	if err != nil {
		return nil, err
	}
	c := newColumns(width, max(int64(len(pcm)), 1))
	for i, v := range pcm {
		c.add(int64(i), v)
	}
	return c.image(height), nil
}
