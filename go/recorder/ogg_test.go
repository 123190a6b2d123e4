package recorder

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/modlisten/mod_listen/go/oggopus"
)

// readOgg parses and decodes (mono, 48 kHz) a recording's Ogg/Opus file.
func readOgg(t *testing.T, dir string, s *Sidecar) (*oggopus.File, []int16, []byte) {
	t.Helper()
	p, err := AudioPath(dir, s)
	if err != nil || !strings.HasSuffix(p, ".opus") {
		t.Fatalf("recording's file %q (%v), want an .opus", p, err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(b)) != s.Bytes {
		t.Errorf("file of %d bytes, sidecar says %d", len(b), s.Bytes)
	}
	f, err := oggopus.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	pcm, err := f.Decode()
	if err != nil {
		t.Fatal(err)
	}
	return f, pcm, b
}

// TestOggOpusStream: with FormatOgg an Opus stream's packets go into the
// Ogg/Opus file as received; an invalid packet's 20 ms is encoded
// concealment, a resumption's lost audio encoded silence. The file parses
// (every page's CRC and sequence, OpusHead, OpusTags), lasts the media
// time exactly, and decodes to the tone.
func TestOggOpusStream(t *testing.T) {
	_, dir, url := newRecorder(t, Options{Format: FormatOgg})
	packets := opusPackets(t, newOpusEncoder(t), 0, 150)
	c := dial(t, url)
	send(t, c, websocket.TextMessage, []byte(`{"callSid":"ogg-1","sampleRate":16000,"mixType":"mono","encoding":"opus"}`))
	for i, p := range packets[:100] {
		if i == 60 {
			p = []byte{0xff, 0xff, 0xff}
		}
		send(t, c, websocket.BinaryMessage, p)
	}
	c.UnderlyingConn().Close()
	waitParts(t, dir, 1)
	c = dial(t, url)
	send(t, c, websocket.TextMessage, []byte(`{"callSid":"ogg-1","sampleRate":16000,"mixType":"mono","encoding":"opus",`+
		`"resumed":true,"reconnects":1,"startMs":1900,"lostMs":200}`))
	for _, p := range append(packets[95:100:100], packets[110:]...) {
		send(t, c, websocket.BinaryMessage, p)
	}
	closeNormal(c)

	side := waitRecordings(t, dir, 1)[0]
	f, pcm, file := readOgg(t, dir, side)
	if f.Channels != 1 || f.InputRate != 16000 || f.PreSkip != 312 || side.InvalidPackets != 1 {
		t.Errorf("OpusHead: %d channels, input %d Hz, pre-skip %d; %d invalid packets", f.Channels, f.InputRate, f.PreSkip, side.InvalidPackets)
	}
	if f.Samples != 150*960 || side.DurationMs != 3000 {
		t.Errorf("file lasts %d samples at 48 kHz (sidecar %d ms), want %d (3 s)", f.Samples, side.DurationMs, 150*960)
	}
	for _, i := range []int{0, 59, 61, 99, 110, 149} {
		if !bytes.Contains(file, packets[i]) {
			t.Errorf("packet %d is not in the file as it was sent", i)
		}
	}
	for _, span := range []struct{ from, to int }{{10, 59}, {64, 99}, {112, 149}} {
		if db := goertzelDB(pcm[span.from*960:span.to*960], 48000, 1000); db < -1 || db > 1 {
			t.Errorf("packets %d to %d: the 1 kHz tone at %+.2f dB, want 0 ± 1 dB", span.from, span.to, db)
		}
	}
	// The lost 200 ms (2000 to 2200 ms) is silence, its edges aside.
	if db := goertzelDB(pcm[2020*48:2180*48], 48000, 1000); db > -40 {
		t.Errorf("the lost gap holds the tone at %+.1f dB, want silence", db)
	}
}

// TestOggPCMStream: a PCM stream is encoded; the file lasts its media time
// exactly and decodes to its tone. Killed mid-call, its unfinished file
// holds whole pages up to the last sync, and Repair makes it a complete
// stream of them.
func TestOggPCMStream(t *testing.T) {
	_, dir, url := newRecorder(t, Options{Format: FormatOgg, SyncEvery: 20 * time.Millisecond})
	tone := func(f int) []byte {
		b := make([]byte, 320)
		for i := range 160 {
			binary.LittleEndian.PutUint16(b[2*i:], uint16(int16(8000*math.Sin(2*math.Pi*440*float64(f*160+i)/8000))))
		}
		return b
	}
	c := dial(t, url)
	send(t, c, websocket.TextMessage, []byte(`{"callSid":"ogg-2","sampleRate":8000,"mixType":"mono"}`))
	for f := range 100 {
		send(t, c, websocket.BinaryMessage, tone(f))
	}
	// Copy the unfinished files once a second of audio is in whole pages,
	// as a kill would leave them.
	var part string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		m, _ := filepath.Glob(filepath.Join(dir, "*", "*", "*", "*"+partOpus))
		if len(m) == 1 {
			if b, _ := os.ReadFile(m[0]); bytes.Count(b, []byte("OggS")) >= 3 {
				part = m[0]
				break
			}
		}
	}
	if part == "" {
		t.Fatalf("no unfinished Ogg/Opus file with an audio page")
	}
	crashed := t.TempDir()
	rel, _ := filepath.Rel(dir, part)
	base := strings.TrimSuffix(rel, partOpus)
	for _, ext := range []string{partOpus, partJSON} {
		b, err := os.ReadFile(filepath.Join(dir, base+ext))
		if err != nil {
			t.Fatal(err)
		}
		if ext == partOpus {
			b = append(b, "OggS\x00\x00torn"...) // a page half written at the kill
		}
		os.MkdirAll(filepath.Dir(filepath.Join(crashed, base)), 0o755)
		os.WriteFile(filepath.Join(crashed, base+ext), b, 0o644)
	}
	for f := 100; f < 150; f++ {
		send(t, c, websocket.BinaryMessage, tone(f))
	}
	closeNormal(c)

	side := waitRecordings(t, dir, 1)[0]
	f, pcm, _ := readOgg(t, dir, side)
	if f.Samples != 150*160*6 || side.DurationMs != 3000 || side.Encoding != "l16" {
		t.Errorf("file lasts %d samples at 48 kHz (sidecar %d ms, encoding %q), want %d (3 s)", f.Samples, side.DurationMs, side.Encoding, 150*160*6)
	}
	if db := goertzelDB(pcm[4800:f.Samples-4800], 48000, 440); db < -1 || db > 1 {
		t.Errorf("the 440 Hz tone at %+.2f dB, want 0 ± 1 dB", db)
	}

	ids, err := Repair(crashed)
	if err != nil || len(ids) != 1 {
		t.Fatalf("Repair: %v %v", ids, err)
	}
	rs := waitRecordings(t, crashed, 1)[0]
	rf, rpcm, _ := readOgg(t, crashed, rs)
	if rs.Ended != "repaired" || rs.CallSid != "ogg-2" || rf.Samples <= 0 || rf.Samples%960 != 960-312 ||
		rs.DurationMs != int64(rf.Samples/48) {
		t.Errorf("repaired: ended %q, callSid %q, %d samples, sidecar %d ms", rs.Ended, rs.CallSid, rf.Samples, rs.DurationMs)
	}
	if db := goertzelDB(rpcm[4800:], 48000, 440); db < -1 || db > 1 {
		t.Errorf("repaired: the 440 Hz tone at %+.2f dB, want 0 ± 1 dB", db)
	}
	if n := Unfinished(crashed); n != 0 {
		t.Errorf("after Repair, %d unfinished", n)
	}
}

// TestOggSizeLimit: an Ogg/Opus recording reaching MaxStreamBytes ends the
// stream (1008) as a WAV does; the file, finished, parses, and passes the
// limit by no more than a packet and the pages' headers.
func TestOggSizeLimit(t *testing.T) {
	const limit = 2000
	_, dir, url := newRecorder(t, Options{Format: FormatOgg, MaxStreamBytes: limit})
	packets := opusPackets(t, newOpusEncoder(t), 0, 100)
	c := dial(t, url)
	send(t, c, websocket.TextMessage, []byte(`{"callSid":"big","sampleRate":16000,"mixType":"mono","encoding":"opus"}`))
	go func() {
		for _, p := range packets {
			if c.WriteMessage(websocket.BinaryMessage, p) != nil {
				return
			}
		}
	}()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var ce *websocket.CloseError
	for {
		if _, _, err := c.ReadMessage(); err != nil {
			ce, _ = err.(*websocket.CloseError)
			break
		}
	}
	if ce == nil || ce.Code != websocket.ClosePolicyViolation || ce.Text != "recording size limit of 2000 bytes reached" {
		t.Errorf("closed with %v, want 1008 and the reason", ce)
	}
	s := waitRecordings(t, dir, 1)[0]
	f, _, _ := readOgg(t, dir, s)
	t.Logf("%d bytes, %d ms", s.Bytes, s.DurationMs)
	if s.Ended != "size_limit" || s.Bytes < limit || s.Bytes > limit+1275+2*(27+255) || f.Samples != int(s.DurationMs)*48 || s.DurationMs >= 2000 {
		t.Errorf("sidecar: ended %q, %d bytes, %d ms (file %d samples)", s.Ended, s.Bytes, s.DurationMs, f.Samples)
	}
}
