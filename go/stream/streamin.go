package stream

import (
	"sync"
	"time"

	"github.com/modlisten/mod_listen/go/opus"
	"github.com/modlisten/mod_listen/go/pcm"
	"github.com/modlisten/mod_listen/go/resample"
)

// idleFlush: streamed audio that stops for this long has reached a pause,
// and the resampler's held-back tail is played rather than kept for audio
// that may never come.
const idleFlush = 250 * time.Millisecond

// streamInput converts the server's binary frames into audio at the call's
// rate, aligned: the resampler's start-up delay is dropped, and its tail is
// flushed at a mark (so the mark follows all the audio sent before it), at a
// pause, and discarded by a kill. The reader goroutine and the pause timer
// share it.
type streamInput struct {
	mu    sync.Mutex
	r     *resample.Resampler
	skip  int    // output samples still to drop at the start of a stretch
	dirty bool   // audio went in since the last flush
	odd   []byte // half a sample left by the last frame
	idle  *time.Timer
	done  bool          // closed: the pause timer must not play any more
	play  func([]int16) // refuses, to the server, what it cannot take
	dec   *opus.Decoder // when the frames are Opus packets
}

// guard is deferred by the pause timer's goroutine: it must recover a panic.
func newStreamInput(from, to int, play func([]int16), guard func(where string)) (*streamInput, error) {
	r, err := resample.New(from, to)
	if err != nil {
		return nil, err
	}
	in := &streamInput{r: r, skip: r.Delay(), play: play}
	in.idle = time.AfterFunc(time.Hour, func() {
		defer guard("streamed playback")
		in.flush()
	})
	in.idle.Stop()
	return in, nil
}

// frame takes one binary frame of 16-bit little-endian PCM.
func (in *streamInput) frame(data []byte) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if len(in.odd) > 0 {
		data = append(in.odd, data...)
		in.odd = in.odd[:0]
	}
	if len(data)%2 == 1 {
		in.odd = append(in.odd[:0], data[len(data)-1])
		data = data[:len(data)-1]
	}
	in.add(pcm.FromLE(make([]int16, 0, len(data)/2), data))
}

// samples takes audio already decoded.
func (in *streamInput) samples(samples []int16) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.add(samples)
}

// packet takes one binary frame holding an Opus packet. An empty frame
// stands for a packet lost before it reached the server (a gap in the RTP
// it relays, say), and a packet that does not decode is lost too: either is
// replaced by libopus's concealment, so the audio goes on instead of
// falling silent. The error says what was wrong with an invalid packet.
func (in *streamInput) packet(p []byte) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	samples, invalid := in.dec.Decode(p)
	if invalid != nil {
		var err error
		if samples, err = in.dec.Conceal(); err != nil {
			return err
		}
	}
	in.add(samples)
	if len(p) == 0 {
		return nil // a loss announced, not an error
	}
	return invalid
}

// add resamples and plays samples at the stream's rate.
func (in *streamInput) add(samples []int16) {
	out := in.align(in.r.Process(make([]int16, 0, in.r.MaxOut(len(samples))), samples))
	in.dirty = true
	in.idle.Reset(idleFlush)
	in.play(out)
}

// align drops what is left of the start-up delay.
func (in *streamInput) align(out []int16) []int16 {
	k := min(in.skip, len(out))
	in.skip -= k
	return out[k:]
}

// flush plays the resampler's tail and starts a new stretch.
func (in *streamInput) flush() {
	in.mu.Lock()
	defer in.mu.Unlock()
	if !in.dirty || in.done {
		return
	}
	out := in.align(in.r.Flush(nil))
	in.restart()
	in.play(out)
}

// discard forgets everything held (killAudio, clear).
func (in *streamInput) discard() {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.odd = in.odd[:0]
	in.r.Reset()
	in.restart()
}

func (in *streamInput) restart() {
	in.skip = in.r.Delay()
	in.dirty = false
	in.idle.Stop()
}

// close stops the pause timer. A flush already running holds mu, so once
// close returns no more audio is played: the host's memory may go.
func (in *streamInput) close() {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.done = true
	in.idle.Stop()
}
