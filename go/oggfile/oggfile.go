// Package oggfile writes an Ogg/Opus file (RFC 3533 pages, RFC 7845 Opus in
// Ogg) while its packets arrive, so that a process killed at any moment
// leaves a file of whole pages, playable up to the last page written, that
// Repair turns into a complete stream.
package oggfile

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"syscall"

	"github.com/modlisten/mod_listen/go/oggopus"
)

// Rate is the rate of granule positions (RFC 7845 4: always 48 kHz).
const Rate = 48000

const (
	flagFirst  = 0x02 // beginning of stream
	flagLast   = 0x04 // end of stream
	headerLen  = 27
	maxLacing  = 255
	maxSegment = 255
	// pageBody bounds what a page holds before it is written, whatever
	// the flushes: about 2 s of 32 kbit/s speech.
	pageBody = 8 << 10
)

// MaxPacketBytes is the largest packet a page can hold whole (255 lacing
// values of 255 bytes, less one for the packet's end).
const MaxPacketBytes = maxLacing*maxSegment - 1

// Writer appends Opus packets to an Ogg/Opus file, one logical stream.
// Packets wait in memory until Flush (or a full page) writes them as one
// page with one write, so the file only ever grows by whole pages.
type Writer struct {
	f       *os.File
	serial  uint32
	seq     uint32
	granule int64 // after the packets written and pending

	lacing  []byte
	body    []byte
	size    int64  // bytes of the file
	last    []byte // the last page written, to mark it the stream's end on Close
	lastAt  int64
	packets int64
}

// Create makes path (which must not exist) and writes the stream's two
// header pages, OpusHead and OpusTags (RFC 7845 5). inputRate is the rate
// of the audio before it was encoded (informational); preSkip is the
// samples at 48 kHz the decoder drops at the start (the encoder's delay).
func Create(path string, inputRate, channels, preSkip int, vendor string) (*Writer, error) {
	if channels < 1 || channels > 2 || preSkip < 0 || preSkip > 0xffff {
		return nil, fmt.Errorf("oggfile: unsupported stream: %d channels, pre-skip %d", channels, preSkip)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return nil, err
	}
	var s [4]byte
	rand.Read(s[:])
	w := &Writer{f: f, serial: binary.LittleEndian.Uint32(s[:])}
	head := make([]byte, 19)
	copy(head, "OpusHead")
	head[8] = 1 // version
	head[9] = byte(channels)
	binary.LittleEndian.PutUint16(head[10:], uint16(preSkip))
	binary.LittleEndian.PutUint32(head[12:], uint32(inputRate))
	// output gain 0, channel mapping family 0 (mono or stereo)
	tags := []byte("OpusTags")
	tags = binary.LittleEndian.AppendUint32(tags, uint32(len(vendor)))
	tags = append(tags, vendor...)
	tags = binary.LittleEndian.AppendUint32(tags, 0) // no comments
	// Each header packet is alone on its page (RFC 7845 3), granule 0.
	for i, p := range [][]byte{head, tags} {
		w.add(p)
		flags := byte(0)
		if i == 0 {
			flags = flagFirst
		}
		if err := w.writePage(flags, 0); err != nil {
			f.Close()
			os.Remove(path)
			return nil, err
		}
	}
	return w, nil
}

// add puts a packet on the page being made.
func (w *Writer) add(p []byte) {
	n := len(p)
	for ; n >= maxSegment; n -= maxSegment {
		w.lacing = append(w.lacing, maxSegment)
	}
	w.lacing = append(w.lacing, byte(n))
	w.body = append(w.body, p...)
}

// WritePacket appends one packet holding samples (at 48 kHz) of audio.
func (w *Writer) WritePacket(p []byte, samples int) error {
	if len(p) == 0 || len(p) > MaxPacketBytes {
		return fmt.Errorf("oggfile: a packet of %d bytes (from 1 to %d)", len(p), MaxPacketBytes)
	}
	if len(w.lacing)+len(p)/maxSegment+1 > maxLacing {
		if err := w.Flush(); err != nil {
			return err
		}
	}
	w.add(p)
	w.granule += int64(samples)
	w.packets++
	if len(w.body) >= pageBody {
		return w.Flush()
	}
	return nil
}

// writePage writes the pending packets as one page.
func (w *Writer) writePage(flags byte, granule int64) error {
	page := make([]byte, headerLen, headerLen+len(w.lacing)+len(w.body))
	copy(page, "OggS")
	page[5] = flags
	binary.LittleEndian.PutUint64(page[6:], uint64(granule))
	binary.LittleEndian.PutUint32(page[14:], w.serial)
	binary.LittleEndian.PutUint32(page[18:], w.seq)
	page[26] = byte(len(w.lacing))
	page = append(page, w.lacing...)
	page = append(page, w.body...)
	binary.LittleEndian.PutUint32(page[22:], oggopus.CRC(page))
	if _, err := w.f.WriteAt(page, w.size); err != nil {
		return err
	}
	w.last, w.lastAt = page, w.size
	w.size += int64(len(page))
	w.seq++
	w.lacing, w.body = w.lacing[:0], w.body[:0]
	return nil
}

// Flush writes the pending packets as a page: a process killed after it
// leaves a file playable up to them (an operating system crash needs Sync,
// or a sync of the filesystem).
func (w *Writer) Flush() error {
	if len(w.lacing) == 0 {
		return nil
	}
	return w.writePage(0, w.granule)
}

// Sync flushes and puts the file's data on the disk.
func (w *Writer) Sync() error {
	if err := w.Flush(); err != nil {
		return err
	}
	return syscall.Fdatasync(int(w.f.Fd()))
}

// Bytes is the size of the file, pending packets included.
func (w *Writer) Bytes() int64 {
	if len(w.lacing) == 0 {
		return w.size
	}
	return w.size + int64(headerLen+len(w.lacing)+len(w.body))
}

// Samples is the audio at 48 kHz of the packets written, pending included.
func (w *Writer) Samples() int64 { return w.granule }

// Packets is the audio packets written.
func (w *Writer) Packets() int64 { return w.packets }

// Close writes the last page, marked the end of the stream, with end as
// its granule position (RFC 7845 4.5: a final granule below the packets'
// samples trims the audio past it; it is capped at those samples), then
// syncs and closes the file.
func (w *Writer) Close(end int64) error {
	end = max(min(end, w.granule), 0)
	var err error
	if len(w.lacing) > 0 || w.packets == 0 {
		err = w.writePage(flagLast, end)
	} else {
		err = markLast(w.f, w.last, w.lastAt, end)
	}
	if err == nil {
		err = syscall.Fdatasync(int(w.f.Fd()))
	}
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// markLast rewrites the page at off as the stream's last page, with
// granule position granule.
func markLast(f *os.File, page []byte, off int64, granule int64) error {
	page = bytes.Clone(page)
	page[5] |= flagLast
	binary.LittleEndian.PutUint64(page[6:], uint64(granule))
	binary.LittleEndian.PutUint32(page[22:], oggopus.CRC(page))
	_, err := f.WriteAt(page, off)
	return err
}

// Head is what a file's OpusHead says.
type Head struct {
	Channels, InputRate, PreSkip int
}

// Repair makes a file left by a Writer that was never closed a complete
// Ogg/Opus stream: pages are read while whole and their CRC right; what
// follows the last good one (a page torn by a crash) is cut off, and that
// page is marked the stream's end. It returns the file's size, the
// granule position of its end (audio at 48 kHz, pre-skip included) and
// its head. Files that do not start with this writer's two header pages
// are refused, untouched.
func Repair(path string) (size, granule int64, head Head, err error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return 0, 0, head, err
	}
	defer f.Close()
	var (
		off, lastAt int64
		last        []byte
		pages       int
	)
	for {
		page, ok := pageAt(f, off)
		if !ok {
			break
		}
		if pages == 0 {
			if head, err = readHead(page); err != nil {
				return 0, 0, head, fmt.Errorf("oggfile: %s: %v", path, err)
			}
		}
		granule = int64(binary.LittleEndian.Uint64(page[6:]))
		last, lastAt = page, off
		off += int64(len(page))
		pages++
	}
	if pages < 2 {
		return 0, 0, head, fmt.Errorf("oggfile: %s: not an Ogg/Opus file this writer began (%d whole pages)", path, pages)
	}
	if err := f.Truncate(off); err != nil {
		return 0, 0, head, err
	}
	if pages > 2 { // a stream of headers only stays unmarked: no reader takes it either way
		if err := markLast(f, last, lastAt, granule); err != nil {
			return 0, 0, head, err
		}
	}
	return off, granule, head, f.Sync()
}

// pageAt reads the page at off if it is whole and intact. One
// page at a time: a page is at most 27+255+255·255 bytes, whatever the
// file's size.
func pageAt(f *os.File, off int64) ([]byte, bool) {
	h := make([]byte, headerLen+maxLacing)
	n, _ := f.ReadAt(h, off)
	h = h[:n]
	if len(h) < headerLen || string(h[:4]) != "OggS" || h[4] != 0 || len(h) < headerLen+int(h[26]) {
		return nil, false
	}
	size := headerLen + int(h[26])
	for _, l := range h[headerLen:size] {
		size += int(l)
	}
	page := make([]byte, size)
	if k, _ := f.ReadAt(page, off); k < size || oggopus.CRC(page) != binary.LittleEndian.Uint32(page[22:]) {
		return nil, false
	}
	return page, true
}

func readHead(page []byte) (Head, error) {
	if page[5]&flagFirst == 0 || page[26] != 1 {
		return Head{}, errors.New("the first page is not a stream's OpusHead page")
	}
	p := page[headerLen+1:]
	if len(p) < 19 || string(p[:8]) != "OpusHead" || p[9] < 1 || p[9] > 2 {
		return Head{}, errors.New("no mono or stereo OpusHead")
	}
	return Head{Channels: int(p[9]), PreSkip: int(binary.LittleEndian.Uint16(p[10:])),
		InputRate: int(binary.LittleEndian.Uint32(p[12:]))}, nil
}
