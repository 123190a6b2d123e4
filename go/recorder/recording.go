package recorder

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/modlisten/mod_listen/go/wavfile"
)

// replayMs is how much audio a resumed listen sends again before new audio
// (the README's Reconnect: "the last 100 ms sent before the drop"). Audio it
// lost during the outage sits right after those.
const replayMs = 100

// handOverWait bounds how long a resumption waits for the dropped
// connection's reader to finish the audio the socket still holds.
const handOverWait = 2 * time.Second

var (
	errSizeLimit = errors.New("recording size limit reached")
	errFinished  = errors.New("the recording is finished")
)

// recording is one call's file, written by one connection at a time. Audio
// is placed by the stream's wire position (in sample frames): what a
// resumption sends again is dropped, what it says was lost becomes silence.
type recording struct {
	mu       sync.Mutex
	base     string // path without the endings
	ext      string // of the audio file: doneWAV or doneOpus
	w        track
	side     Sidecar
	maxBytes int64

	owner     int64           // the connection writing; audio from any other is ignored
	ownerConn *websocket.Conn // and its socket
	ownerDone chan struct{}   // closed when its reader has returned
	wire      int64           // wire position of the next sample frame expected
	skip      int64           // sample frames the owner will send again, to drop
	lost      []pendingLoss
	full      bool // the size limit was reached

	// resumeTimer finalises a dropped stream that does not come back.
	resumeTimer *time.Timer
	done        bool
}

type pendingLoss struct{ at, frames int64 }

// Who may finish a recording besides its writer (see finish).
const (
	anyone  int64 = 0
	unowned int64 = -1
)

// maxDigits bounds the DTMF digits kept for the sidecar.
const maxDigits = 256

// createRecording starts a recording in format (FormatWAV, or FormatOgg
// for a stream at a rate Opus takes).
func createRecording(dir string, start time.Time, side Sidecar, maxBytes int64, format string) (*recording, error) {
	id := newID(start)
	base := filepath.Join(dir, filepath.FromSlash(id))
	if err := os.MkdirAll(filepath.Dir(base), 0o750); err != nil {
		return nil, err
	}
	var w track
	ext := doneWAV
	if format == FormatOgg && oggTakes(side.SampleRate) {
		ext = doneOpus
		t, err := createOgg(base+ext+partial, side.SampleRate, side.Channels)
		if err != nil {
			return nil, err
		}
		w = t
	} else {
		t, err := wavfile.Create(base+ext+partial, side.SampleRate, side.Channels)
		if err != nil {
			return nil, err
		}
		w = wavTrack{t, int64(2 * side.Channels)}
	}
	side.ID, side.File, side.Start = id, filepath.Base(base)+ext, start.UTC()
	rec := &recording{base: base, ext: ext, w: w, side: side, maxBytes: maxBytes}
	if err := writeJSON(base+partJSON, &rec.side); err != nil {
		w.Close()
		os.Remove(base + ext + partial)
		return nil, err
	}
	syncDir(filepath.Dir(base))
	return rec, nil
}

func (r *recording) msToFrames(ms int64) int64 { return ms * int64(r.side.SampleRate) / 1000 }
func (r *recording) framesToMs(n int64) int64  { return n * 1000 / int64(r.side.SampleRate) }

// attach makes conn the writer. For a resumption, the audio that follows
// starts at startMs of the wire: what the recording has past it is dropped
// as it comes again, audio between what it has and startMs never arrived
// (silence, a "missing" gap), and lostMs of silence goes after the replayed
// 100 ms.
func (r *recording) attach(conn int64, ws *websocket.Conn, done chan struct{}, res *Resumption) error {
	if res != nil {
		r.handOver()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done {
		return errFinished
	}
	if r.resumeTimer != nil {
		r.resumeTimer.Stop()
		r.resumeTimer = nil
	}
	r.owner, r.ownerConn, r.ownerDone = conn, ws, done
	r.skip = 0
	r.side.Connections++
	if res == nil {
		return nil
	}
	start := r.msToFrames(res.StartMs)
	if start > r.wire {
		if err := r.advance(start, "missing"); err != nil {
			return err
		}
	}
	r.skip = r.wire - start
	res.DuplicateMs = r.framesToMs(r.skip)
	if res.LostMs > 0 {
		at := r.wire
		if start > 0 {
			at = start + r.msToFrames(replayMs)
		}
		r.lost = append(r.lost, pendingLoss{at: max(at, r.wire), frames: r.msToFrames(res.LostMs)})
	}
	r.side.LostMs += res.LostMs
	r.side.Resumptions = append(r.side.Resumptions, *res)
	return r.checkpoint()
}

// handOver waits until the previous connection's reader has written what
// its socket still held (the recorder may notice a drop after the listen
// has redialled). A socket that stays half-open is closed.
func (r *recording) handOver() {
	r.mu.Lock()
	ws, done := r.ownerConn, r.ownerDone
	r.mu.Unlock()
	if done == nil {
		return
	}
	select {
	case <-done:
		return
	case <-time.After(handOverWait):
	}
	ws.UnderlyingConn().Close()
	<-done
}

// advance fills the wire up to position to with silence, placing pending
// losses on the way; cause names the silence that is not a declared loss.
func (r *recording) advance(to int64, cause string) error {
	for r.wire < to {
		next := to
		if len(r.lost) > 0 && r.lost[0].at < next {
			next = r.lost[0].at
		}
		if next > r.wire {
			if err := r.silence(next-r.wire, cause); err != nil {
				return err
			}
			r.wire = next
		}
		if err := r.placeLoss(); err != nil {
			return err
		}
	}
	return r.placeLoss()
}

// placeLoss writes the silence of losses due at the current wire position.
func (r *recording) placeLoss() error {
	for len(r.lost) > 0 && r.lost[0].at <= r.wire {
		l := r.lost[0]
		r.lost = r.lost[1:]
		if err := r.silence(l.frames, "lost"); err != nil {
			return err
		}
	}
	return nil
}

func (r *recording) silence(frames int64, cause string) error {
	if frames <= 0 {
		return nil
	}
	at := r.w.Frames()
	room := r.w.room(r.maxBytes)
	err := r.w.Silence(min(frames, max(room, 0)))
	if err == nil && frames > room {
		r.full = true
		err = errSizeLimit
	}
	r.side.Gaps = append(r.side.Gaps, Gap{AtMs: r.framesToMs(at), Ms: r.framesToMs(frames), Cause: cause})
	return err
}

// audio writes a binary frame from conn, as PCM; packet is the Opus packet
// it was decoded from (nil for PCM streams), and invalid says it stands in
// for a packet that could not be decoded. It returns errSizeLimit once the
// recording is full (what fits is kept).
func (r *recording) audio(conn int64, pcm, packet []byte, invalid bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if conn != r.owner || r.done {
		return nil
	}
	if invalid {
		r.side.InvalidPackets++
	}
	if r.full {
		return errSizeLimit
	}
	fb := int64(2 * r.side.Channels)
	whole := len(pcm)
	if r.skip > 0 {
		n := min(r.skip, int64(len(pcm))/fb)
		r.skip -= n
		pcm = pcm[n*fb:]
	}
	for len(pcm) > 0 {
		if err := r.placeLoss(); err != nil {
			return r.limit(err)
		}
		n := int64(len(pcm)) / fb
		if len(r.lost) > 0 {
			n = min(n, r.lost[0].at-r.wire)
		}
		room := r.w.room(r.maxBytes)
		if n > room {
			r.w.Write(pcm[:room*fb], nil)
			r.wire += room
			return r.limit(errSizeLimit)
		}
		// The packet goes with its audio only when all of it is written
		// at once: a part of a packet is re-encoded.
		var kept []byte
		if int(n*fb) == whole {
			kept = packet
		}
		if err := r.w.Write(pcm[:n*fb], kept); err != nil {
			return err
		}
		r.wire += n
		pcm = pcm[n*fb:]
	}
	return nil
}

// flush hands what is buffered to the file, for the recorder's periodic
// sync of the filesystem.
func (r *recording) flush() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done {
		return nil
	}
	return r.w.Flush()
}

func (r *recording) limit(err error) error {
	if errors.Is(err, errSizeLimit) {
		r.full = true
	}
	return err
}

func (r *recording) text(conn int64, digit string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if conn != r.owner {
		return
	}
	r.side.TextFrames++
	if len(r.side.Digits) < maxDigits {
		r.side.Digits += digit
	}
}

// checkpoint puts the audio on disk and the sidecar so far beside it, for
// repair after a crash.
func (r *recording) checkpoint() error {
	if err := r.w.Sync(); err != nil {
		return err
	}
	return writeJSON(r.base+partJSON, &r.side)
}

// suspend is a dropped stream's recording, waiting for the resumption:
// synced now, finalised by wait's end unless attach comes first.
func (r *recording) suspend(conn int64, wait time.Duration, code int, reason string, final func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if conn != r.owner || r.done {
		return
	}
	r.owner = 0
	r.side.CloseCode, r.side.CloseReason = code, reason
	r.checkpoint()
	r.resumeTimer = time.AfterFunc(wait, final)
}

// finish closes the WAV and moves it and its sidecar into place. Only the
// owning connection may, or anyone with conn anyone (shutdown), or with
// conn unowned only while no connection writes (the resume wait, which
// must not end a recording a resumption took over as the wait ran out).
func (r *recording) finish(conn int64, ended string, code int, reason string) (finished bool, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done || (conn == unowned && r.owner != 0) || (conn > 0 && conn != r.owner) {
		return false, nil
	}
	r.done = true
	if r.resumeTimer != nil {
		r.resumeTimer.Stop()
	}
	if code != 0 || reason != "" {
		r.side.CloseCode, r.side.CloseReason = code, reason
	}
	r.side.Ended = ended
	end := time.Now().UTC()
	r.side.End = &end
	err = r.w.Close()
	r.side.Bytes = r.w.Bytes()
	r.side.DurationMs = r.framesToMs(r.w.Frames())
	if rerr := os.Rename(r.base+r.ext+partial, r.base+r.ext); err == nil {
		err = rerr
	}
	if jerr := writeJSON(r.base+doneJSON, &r.side); err == nil {
		err = jerr
	}
	os.Remove(r.base + partJSON)
	syncDir(filepath.Dir(r.base))
	return true, err
}
