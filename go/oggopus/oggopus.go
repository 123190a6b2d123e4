// Package oggopus reads Ogg/Opus files (RFC 3533 pages, RFC 7845 Opus in
// Ogg), the clips text-to-speech services return. Parse checks the whole
// container and learns the clip's length before any audio is decoded, so
// limits are applied first; Decode then decodes no more than that length.
package oggopus

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/modlisten/mod_listen/go/opus"
)

// Rate is the rate of Opus's granule positions and of the decoded audio.
const Rate = 48000

// File is a parsed Ogg/Opus file: its header and its audio packets, not yet
// decoded.
type File struct {
	Channels  int // in the stream; Decode mixes them to one
	InputRate int // of the audio before it was encoded, for information only
	PreSkip   int // samples at 48 kHz to drop at the start (encoder delay)
	Gain      int // output gain, Q7.8 dB
	// Samples is the playable length at 48 kHz: the last granule position
	// less the pre-skip.
	Samples int
	packets [][]byte
}

// Seconds is the clip's length.
func (f *File) Seconds() float64 { return float64(f.Samples) / Rate }

const (
	flagContinued = 0x01
	flagFirst     = 0x02 // beginning of stream
	flagLast      = 0x04 // end of stream
	headerLen     = 27
)

var errPrefix = "Ogg/Opus: "

func fail(format string, a ...any) error { return errors.New(errPrefix + fmt.Sprintf(format, a...)) }

// Parse checks an Ogg/Opus file: every page's framing and CRC, one logical
// stream from its first page to its last, an OpusHead and an OpusTags
// header, and the length from the last granule position. data is kept (the
// packets point into it).
func Parse(data []byte) (*File, error) {
	if len(data) == 0 {
		return nil, fail("the file is empty: zero pages")
	}
	if !bytes.HasPrefix(data, []byte("OggS")) {
		return nil, fail("not an Ogg file (it does not start with \"OggS\"%s)", knownFormat(data))
	}
	var (
		f       File
		serial  uint32
		pending []byte // a packet continued on the next page
		partial bool
		granule int64
		pages   int
		ended   bool
		nextSeq uint32
		headers int // OpusHead and OpusTags seen
	)
	for p := 0; p < len(data); pages++ {
		if ended {
			return nil, fail("data after the last page (chained or appended Ogg streams are not supported)")
		}
		page, next, err := readPage(data, p, pages)
		if err != nil {
			return nil, err
		}
		p = next
		switch {
		case pages == 0 && page.flags&flagFirst == 0:
			return nil, fail("the first page does not begin a stream")
		case pages == 0:
			serial = page.serial
		case page.serial != serial:
			return nil, fail("page %d belongs to another logical stream (multiplexed Ogg streams are not supported)", pages)
		case page.flags&flagFirst != 0:
			return nil, fail("page %d begins a second stream", pages)
		case page.seq != nextSeq:
			return nil, fail("page %d is out of sequence (number %d, want %d): pages are missing", pages, page.seq, nextSeq)
		}
		nextSeq = page.seq + 1
		if page.flags&flagContinued != 0 != partial {
			return nil, fail("page %d breaks a packet's continuation", pages)
		}
		body := page.body
		for _, n := range page.lacing {
			seg := body[:n]
			body = body[n:]
			if partial || n == 255 {
				pending = append(pending, seg...)
			}
			if n == 255 {
				partial = true
				continue
			}
			packet := seg
			if partial {
				packet, pending, partial = pending, nil, false
			}
			switch headers {
			case 0:
				if err := f.head(packet); err != nil {
					return nil, err
				}
				headers++
			case 1:
				if !bytes.HasPrefix(packet, []byte("OpusTags")) {
					return nil, fail("the second packet is not OpusTags")
				}
				headers++
			default:
				f.packets = append(f.packets, packet)
			}
		}
		if page.granule != -1 {
			if page.granule < granule {
				return nil, fail("page %d has a granule position before the previous page's", pages)
			}
			granule = page.granule
		}
		ended = page.flags&flagLast != 0
	}
	switch {
	case headers == 0:
		return nil, fail("truncated: no OpusHead")
	case !ended || partial:
		return nil, fail("truncated: the stream has no last page (it was cut short)")
	case len(f.packets) == 0:
		return nil, fail("the stream has no audio packets")
	}
	length := granule - int64(f.PreSkip)
	if length < 0 {
		return nil, fail("the last granule position (%d) does not fit the pre-skip (%d)", granule, f.PreSkip)
	}
	f.Samples = int(length)
	return &f, nil
}

type page struct {
	flags   byte
	granule int64
	serial  uint32
	seq     uint32
	lacing  []byte
	body    []byte
}

// readPage reads the page at p, the nth, and returns where the next begins.
func readPage(data []byte, p, n int) (page, int, error) {
	var pg page
	if len(data)-p < headerLen {
		return pg, 0, fail("truncated: page %d is cut short", n)
	}
	h := data[p:]
	if string(h[:4]) != "OggS" {
		return pg, 0, fail("page %d does not start with \"OggS\" (the file is damaged)", n)
	}
	if h[4] != 0 {
		return pg, 0, fail("page %d has Ogg version %d (only 0 exists)", n, h[4])
	}
	pg.flags = h[5]
	pg.granule = int64(binary.LittleEndian.Uint64(h[6:14]))
	pg.serial = binary.LittleEndian.Uint32(h[14:18])
	pg.seq = binary.LittleEndian.Uint32(h[18:22])
	segs := int(h[26])
	if len(h) < headerLen+segs {
		return pg, 0, fail("truncated: page %d is cut short", n)
	}
	pg.lacing = h[headerLen : headerLen+segs]
	size := 0
	for _, l := range pg.lacing {
		size += int(l)
	}
	end := headerLen + segs + size
	if len(h) < end {
		return pg, 0, fail("truncated: page %d is cut short", n)
	}
	if got, want := CRC(h[:end]), binary.LittleEndian.Uint32(h[22:26]); got != want {
		return pg, 0, fail("page %d has a bad CRC (the file is damaged)", n)
	}
	pg.body = h[headerLen+segs : end]
	return pg, p + end, nil
}

// head reads the OpusHead packet (RFC 7845 5.1).
func (f *File) head(p []byte) error {
	if !bytes.HasPrefix(p, []byte("OpusHead")) {
		return fail("not Opus: the Ogg file holds %s", codecOf(p))
	}
	if len(p) < 19 {
		return fail("the OpusHead header is too short (%d bytes)", len(p))
	}
	if p[8]&0xf0 != 0 {
		return fail("OpusHead version %d is not supported", p[8])
	}
	f.Channels = int(p[9])
	f.PreSkip = int(binary.LittleEndian.Uint16(p[10:12]))
	f.InputRate = int(binary.LittleEndian.Uint32(p[12:16]))
	f.Gain = int(int16(binary.LittleEndian.Uint16(p[16:18])))
	family := p[18]
	switch {
	case f.Channels == 0:
		return fail("OpusHead says zero channels")
	case family == 0 && f.Channels > 2:
		return fail("OpusHead says %d channels for mapping family 0 (at most 2)", f.Channels)
	case family != 0:
		return fail("channel mapping family %d (%d channels) is not supported: only mono and stereo", family, f.Channels)
	}
	return nil
}

// codecOf names what an Ogg stream's first packet says it holds.
func codecOf(p []byte) string {
	for _, c := range []struct{ magic, name string }{
		{"\x01vorbis", "Vorbis, not Opus"},
		{"Speex   ", "Speex, not Opus"},
		{"\x7fFLAC", "FLAC, not Opus"},
		{"OggFLAC", "FLAC, not Opus"},
		{"\x80theora", "Theora video, not Opus"},
	} {
		if bytes.HasPrefix(p, []byte(c.magic)) {
			return c.name
		}
	}
	return "something other than Opus (no OpusHead)"
}

// knownFormat names a few formats sent by mistake for Ogg.
func knownFormat(data []byte) string {
	switch {
	case bytes.HasPrefix(data, []byte("RIFF")):
		return "; it is a RIFF/WAVE file: send it as \"wav\""
	case bytes.HasPrefix(data, []byte("ID3")) || len(data) > 1 && data[0] == 0xff && data[1]&0xe0 == 0xe0:
		return "; it looks like MP3"
	case bytes.HasPrefix(data, []byte("fLaC")):
		return "; it is a FLAC file"
	}
	return ""
}

// Decode decodes the clip to mono at 48 kHz, exactly Samples long: the
// pre-skip is dropped, and no packet past the length is decoded.
func (f *File) Decode() ([]int16, error) {
	dec, err := opus.NewDecoder(Rate, 1)
	if err != nil {
		return nil, err
	}
	out := make([]int16, 0, f.Samples)
	skip := f.PreSkip
	for i, p := range f.packets {
		if len(out) == f.Samples {
			break
		}
		pcm, err := dec.Decode(p)
		if err != nil {
			return nil, fail("audio packet %d is not valid Opus (%v)", i, err)
		}
		k := min(skip, len(pcm))
		skip -= k
		pcm = pcm[k:]
		out = append(out, pcm[:min(len(pcm), f.Samples-len(out))]...)
	}
	if len(out) < f.Samples {
		return nil, fail("truncated: the packets hold %d samples, the last granule position says %d", len(out), f.Samples)
	}
	applyGain(out, f.Gain)
	return out, nil
}

// applyGain applies OpusHead's output gain (RFC 7845 5.1: Q7.8 dB), with
// saturation.
func applyGain(x []int16, q78 int) {
	if q78 == 0 {
		return
	}
	g := math.Pow(10, float64(q78)/(20*256))
	for i, v := range x {
		x[i] = int16(max(min(math.Round(float64(v)*g), math.MaxInt16), math.MinInt16))
	}
}
