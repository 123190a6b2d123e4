// Package wavfile writes a WAV file while its audio arrives, so that a
// process killed at any moment leaves a file that Repair turns into a valid
// WAV holding everything written up to the kill.
package wavfile

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"syscall"

	"github.com/modlisten/mod_listen/go/wav"
)

// HeaderBytes is the size of the header Create writes; the audio follows it.
const HeaderBytes = 44

// MaxDataBytes is the most audio a WAV file can describe: its sizes are
// 32-bit, and the RIFF size counts the 36 header bytes after it.
const MaxDataBytes = 0xFFFFFFFF - 36

// Writer appends 16-bit PCM to a WAV file. The header's sizes are rewritten
// at every Flush and Sync, so the file is a valid WAV as of the last one even
// without Repair.
type Writer struct {
	f        *os.File
	buf      *bufio.Writer
	rate     int
	channels int
	data     int64 // audio bytes written (buffered or not)
}

// Create makes path (which must not exist) and writes the header of an
// empty WAV.
func Create(path string, rate, channels int) (*Writer, error) {
	if rate <= 0 || channels < 1 || channels > 2 {
		return nil, fmt.Errorf("wavfile: unsupported format: %d Hz, %d channels", rate, channels)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return nil, err
	}
	if _, err := f.Write(wav.Header(rate, channels, 0)); err != nil {
		f.Close()
		os.Remove(path)
		return nil, err
	}
	// 16 KiB holds half a second of 16 kHz mono: one write syscall per
	// many frames instead of one per frame.
	return &Writer{f: f, buf: bufio.NewWriterSize(f, 16<<10), rate: rate, channels: channels}, nil
}

// Write appends little-endian 16-bit PCM, whole sample frames only.
func (w *Writer) Write(pcm []byte) error {
	if len(pcm)%(2*w.channels) != 0 {
		return fmt.Errorf("wavfile: %d bytes is not a whole number of %d-channel samples", len(pcm), w.channels)
	}
	if w.data+int64(len(pcm)) > MaxDataBytes {
		return errors.New("wavfile: a WAV file cannot hold more than 4 GiB of audio")
	}
	if _, err := w.buf.Write(pcm); err != nil {
		return err
	}
	w.data += int64(len(pcm))
	return nil
}

// Silence appends n sample frames of digital silence.
func (w *Writer) Silence(n int64) error {
	var zeros [4096]byte
	left := n * int64(2*w.channels)
	for left > 0 {
		k := min(left, int64(len(zeros)))
		if err := w.Write(zeros[:k]); err != nil {
			return err
		}
		left -= k
	}
	return nil
}

// DataBytes is the audio written so far.
func (w *Writer) DataBytes() int64 { return w.data }

// Frames is the sample frames (samples per channel) written so far.
func (w *Writer) Frames() int64 { return w.data / int64(2*w.channels) }

// Flush writes out what is buffered and sets the header's sizes to it: a
// process killed after Flush leaves a valid WAV of everything written (an
// operating system crash needs Sync, or a sync of the filesystem).
func (w *Writer) Flush() error {
	if err := w.buf.Flush(); err != nil {
		return err
	}
	_, err := w.f.WriteAt(wav.Header(w.rate, w.channels, int(w.data)), 0)
	return err
}

// Sync flushes and puts the file's data on the disk.
func (w *Writer) Sync() error {
	if err := w.Flush(); err != nil {
		return err
	}
	// fdatasync: the file's times need not reach the disk, its data and
	// size must.
	return syscall.Fdatasync(int(w.f.Fd()))
}

// Close syncs and closes the file.
func (w *Writer) Close() error {
	err := w.Sync()
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	return err
}

func setSizes(f *os.File, data int64) error {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], uint32(36+data))
	if _, err := f.WriteAt(b[:], 4); err != nil {
		return err
	}
	binary.LittleEndian.PutUint32(b[:], uint32(data))
	_, err := f.WriteAt(b[:], 40)
	return err
}

// Format is what a Writer's header says.
type Format struct {
	Rate, Channels int
}

// readHeader checks that f starts with the header a Writer writes.
func readHeader(f *os.File) (Format, error) {
	h := make([]byte, HeaderBytes)
	if _, err := f.ReadAt(h, 0); err != nil {
		return Format{}, fmt.Errorf("wavfile: %s: no complete header: %v", f.Name(), err)
	}
	if string(h[0:4]) != "RIFF" || string(h[8:16]) != "WAVEfmt " || string(h[36:40]) != "data" ||
		binary.LittleEndian.Uint32(h[16:]) != 16 || binary.LittleEndian.Uint16(h[20:]) != 1 ||
		binary.LittleEndian.Uint16(h[34:]) != 16 {
		return Format{}, fmt.Errorf("wavfile: %s: not a 16-bit PCM WAV of this writer's layout", f.Name())
	}
	ft := Format{Rate: int(binary.LittleEndian.Uint32(h[24:])), Channels: int(binary.LittleEndian.Uint16(h[22:]))}
	if ft.Channels < 1 || ft.Channels > 2 || ft.Rate <= 0 {
		return Format{}, fmt.Errorf("wavfile: %s: unsupported format: %d Hz, %d channels", f.Name(), ft.Rate, ft.Channels)
	}
	return ft, nil
}

// Open opens a file a Writer wrote for reading its audio, which starts at
// HeaderBytes and is dataBytes long (as much as the file holds, whatever
// its header says).
func Open(path string) (f *os.File, ft Format, dataBytes int64, err error) {
	f, err = os.Open(path)
	if err != nil {
		return nil, ft, 0, err
	}
	if ft, err = readHeader(f); err == nil {
		var st os.FileInfo
		if st, err = f.Stat(); err == nil {
			dataBytes = st.Size() - HeaderBytes
			dataBytes -= dataBytes % int64(2*ft.Channels)
			return f, ft, dataBytes, nil
		}
	}
	f.Close()
	return nil, ft, 0, err
}

// Repair makes a file left by a Writer that was never closed a valid WAV:
// a partly written last sample frame is cut off and the header's sizes are
// set to the audio on disk. It returns the audio's size in bytes and the
// format. Files not written by a Writer are refused, untouched.
func Repair(path string) (dataBytes int64, ft Format, err error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return 0, ft, err
	}
	defer f.Close()
	if ft, err = readHeader(f); err != nil {
		return 0, ft, err
	}
	st, err := f.Stat()
	if err != nil {
		return 0, ft, err
	}
	fb := int64(2 * ft.Channels)
	dataBytes = st.Size() - HeaderBytes
	dataBytes -= dataBytes % fb
	dataBytes = min(dataBytes, MaxDataBytes-MaxDataBytes%fb)
	if err := f.Truncate(HeaderBytes + dataBytes); err != nil {
		return 0, ft, err
	}
	if err := setSizes(f, dataBytes); err != nil {
		return 0, ft, err
	}
	return dataBytes, ft, f.Sync()
}
