package e2e

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/modlisten/mod_listen/go/config"
	"github.com/modlisten/mod_listen/go/oggopus"
	"github.com/modlisten/mod_listen/go/opus"
	"github.com/modlisten/mod_listen/go/wav"
)

// opusOgg wraps packets of 20 ms (as a stream sends them) in an Ogg/Opus
// file (RFC 7845), one packet a page, so that opusdec can read them.
func opusOgg(packets [][]byte, channels int) []byte {
	var out []byte
	seq := uint32(0)
	page := func(flags byte, granule int64, packet []byte) {
		h := make([]byte, 27, 27+len(packet)/255+1)
		copy(h, "OggS")
		h[5] = flags
		binary.LittleEndian.PutUint64(h[6:], uint64(granule))
		binary.LittleEndian.PutUint32(h[14:], 0x5eed)
		binary.LittleEndian.PutUint32(h[18:], seq)
		seq++
		n := len(packet)
		for ; n >= 255; n -= 255 {
			h = append(h, 255)
		}
		h = append(h, byte(n))
		h[26] = byte(len(h) - 27)
		p := append(h, packet...)
		binary.LittleEndian.PutUint32(p[22:], oggopus.CRC(p))
		out = append(out, p...)
	}
	head := []byte("OpusHead\x01")
	head = append(head, byte(channels), 0, 0) // pre-skip 0: the server does not know the encoder's
	head = binary.LittleEndian.AppendUint32(head, 48000)
	head = append(head, 0, 0, 0)
	page(0x02, 0, head)
	page(0, 0, []byte("OpusTags\x00\x00\x00\x00\x00\x00\x00\x00"))
	for i, p := range packets {
		flags := byte(0)
		if i == len(packets)-1 {
			flags = 0x04
		}
		page(flags, int64(i+1)*960, p)
	}
	return out
}

// opusdec decodes an Ogg/Opus file with opus-tools, at rate, and returns the
// samples (channels interleaved).
func opusdec(t *testing.T, ogg []byte, rate int) wav.Audio {
	t.Helper()
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.opus"), filepath.Join(dir, "out.wav")
	if err := os.WriteFile(in, ogg, 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command("opusdec", "--quiet", "--no-dither", "--rate", itoa(rate), in, out).CombinedOutput(); err != nil {
		t.Fatalf("opusdec: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	a, err := wav.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// opusFrameMs is the audio a packet holds, from its TOC byte (RFC 6716
// 3.1): frames of the configuration's size, one (code 0), two (1, 2) or
// as many as its frame count byte says (3).
func opusFrameMs(p []byte) float64 {
	cfg := int(p[0] >> 3)
	var ms float64
	switch {
	case cfg < 12: // SILK
		ms = []float64{10, 20, 40, 60}[cfg%4]
	case cfg < 16: // hybrid
		ms = []float64{10, 20}[cfg%2]
	default: // CELT
		ms = []float64{2.5, 5, 10, 20}[cfg%4]
	}
	switch p[0] & 3 {
	case 0:
		return ms
	case 1, 2:
		return 2 * ms
	}
	if len(p) < 2 {
		return 0
	}
	return ms * float64(p[1]&0x3f)
}

// TestOpusStreamTone: the caller's 1 kHz tone at -6 dBFS, sent as Opus at
// 8, 16 and 48 kHz from an 8 kHz call, decoded by opus-tools' opusdec from
// the packets as they arrived: the first frame says "encoding":"opus", every
// binary frame is one packet of 20 ms and they come every 20 ms, the tone
// is at 1 kHz and its level within 1 dB, from start to end.
func TestOpusStreamTone(t *testing.T) {
	t.Parallel()
	const callSeconds = 2.0
	rates := []int{8000, 16000, 48000}
	caller := WriteWAV(t, "tone.wav", 8000, Sine(8000, 1000, -6, callSeconds))
	var srvs []*WSServer
	var sims []Sim
	for _, rate := range rates {
		srv := NewWSServer(t, nil)
		srvs = append(srvs, srv)
		sims = append(sims, Sim{Config: mustJSON(t, map[string]any{"url": srv.URL, "sampleRate": rate, "encoding": "opus"}),
			Rate: 8000, Caller: caller, QuietLog: true})
	}
	results := RunSims(t, sims)
	for i, rate := range rates {
		t.Run(itoa(rate), func(t *testing.T) {
			results[i].MustSucceed(t, 1)
			c := srvs[i].WaitDone(t, 1, 5*time.Second)[0]
			frames := c.Frames()
			want := `{"sampleRate":` + itoa(rate) + `,"mixType":"mono","encoding":"opus",`
			if len(frames) == 0 || !strings.HasPrefix(string(frames[0].Data), want) {
				t.Fatalf("first frame %q, want it to start %s", frames[0].Data, want)
			}
			var packets [][]byte
			var first, last time.Time
			bytes := 0
			for _, f := range frames[1:] {
				if f.Kind != websocket.BinaryMessage {
					continue
				}
				if ms := opusFrameMs(f.Data); ms != 20 {
					t.Fatalf("packet %d holds %.1f ms of audio, want 20 (TOC 0x%02x)", len(packets), ms, f.Data[0])
				}
				if first.IsZero() {
					first = f.At
				}
				last = f.At
				packets = append(packets, f.Data)
				bytes += len(f.Data)
			}
			if n := len(packets); n < callSeconds*50-1 || n > callSeconds*50+1 {
				t.Errorf("%d packets for a %.0f s call, want %d ± 1", n, callSeconds, int(callSeconds*50))
			}
			// The call runs in real time: the packets' mean spacing is the
			// 20 ms of audio each holds (a generous margin for a busy machine).
			if gap := last.Sub(first).Seconds() * 1000 / float64(len(packets)-1); gap < 15 || gap > 25 {
				t.Errorf("packets arrived every %.1f ms on average, want 20", gap)
			}
			a := opusdec(t, opusOgg(packets, 1), rate)
			if a.Channels != 1 || a.Rate != rate {
				t.Fatalf("opusdec gave %d channels at %d Hz", a.Channels, a.Rate)
			}
			mid := Trim(a.Samples, rate, 0.2, 0.2)
			if f := DominantFreq(mid, rate); math.Abs(f-1000) > 2 {
				t.Errorf("dominant frequency %.2f Hz, want 1000 ± 2", f)
			}
			if l := ToneDBFS(mid, rate, 1000); math.Abs(l+6) > 1 {
				t.Errorf("1 kHz at %.2f dBFS, want -6 ± 1", l)
			}
			checkContinuous(t, Trim(a.Samples, rate, 0.04, 0.04), rate, -6)
			t.Logf("%d packets, %d bytes/s of Opus, %.2f dBFS at %.2f Hz", len(packets), bytes*50/len(packets),
				ToneDBFS(mid, rate, 1000), DominantFreq(mid, rate))
		})
	}
}

// TestOpusStereoSeparation: a stereo Opus stream (16 kHz, from an 8 kHz
// call) keeps the caller's 1 kHz on the left and the callee's 600 Hz on the
// right: decoded by opusdec, each tone is at least 30 dB weaker on the other
// channel.
func TestOpusStereoSeparation(t *testing.T) {
	t.Parallel()
	const dur = 2.0
	srv := NewWSServer(t, nil)
	r := RunSim(t, Sim{Config: mustJSON(t, map[string]any{"url": srv.URL, "sampleRate": 16000, "mixType": "stereo", "encoding": "opus"}),
		Rate: 8000, QuietLog: true,
		Caller: WriteWAV(t, "caller.wav", 8000, Sine(8000, 1000, -6, dur)),
		Callee: WriteWAV(t, "callee.wav", 8000, Sine(8000, 600, -6, dur))})
	r.MustSucceed(t, 1)
	c := srv.WaitDone(t, 1, 5*time.Second)[0]
	if !strings.Contains(c.TextFrames()[0], `"mixType":"stereo","encoding":"opus"`) {
		t.Fatalf("first frame %s", c.TextFrames()[0])
	}
	a := opusdec(t, opusOgg(c.BinaryFrames(), 2), 16000)
	if a.Channels != 2 {
		t.Fatalf("opusdec gave %d channels, want 2", a.Channels)
	}
	ch := Deinterleave(a.Samples, 2)
	left, right := Trim(ch[0], 16000, 0.2, 0.2), Trim(ch[1], 16000, 0.2, 0.2)
	for _, x := range []struct {
		name       string
		own, other []int16
		hz         float64
	}{{"left (caller, 1 kHz)", left, right, 1000}, {"right (callee, 600 Hz)", right, left, 600}} {
		own, other := ToneDBFS(x.own, 16000, x.hz), ToneDBFS(x.other, 16000, x.hz)
		if math.Abs(own+6) > 1 {
			t.Errorf("%s: %.2f dBFS, want -6 ± 1", x.name, own)
		}
		if own-other < 30 {
			t.Errorf("%s: the other channel has it at %.1f dBFS, only %.1f dB below (want ≥ 30)", x.name, other, own-other)
		}
		t.Logf("%s: %.2f dBFS, separation %.1f dB", x.name, own, own-other)
	}
}

// opusenc encodes samples (channels interleaved) with opus-tools.
func opusenc(t *testing.T, rate, channels int, samples []int16) []byte {
	t.Helper()
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.wav"), filepath.Join(dir, "out.opus")
	if err := os.WriteFile(in, wav.Encode(rate, channels, samples), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command("opusenc", "--quiet", "--bitrate", "64", in, out).CombinedOutput(); err != nil {
		t.Fatalf("opusenc: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestOpusClipIntoNarrowbandCall: an Ogg/Opus clip made by opusenc from
// 1.5 s of 48 kHz stereo (a 700 Hz tone at -6 dBFS on both channels),
// played into an 8 kHz call: it plays at 700 Hz, -6 dBFS, for 1.5 s (± a
// frame), gap-free, then playDone with its id.
func TestOpusClipIntoNarrowbandCall(t *testing.T) {
	t.Parallel()
	mono := Sine(48000, 700, pbLevel, 1.5)
	st := make([]int16, 2*len(mono))
	for i, v := range mono {
		st[2*i], st[2*i+1] = v, v
	}
	clip := opusenc(t, 48000, 2, st)
	script := newPBScript()
	srv := NewWSServer(t, func(c *WSConn) {
		done, ok := pbAfterFirstFrame(c, script)
		if ok {
			script.send(c, "clip", websocket.TextMessage, pbPlayAny("ogg", clip, nil, "tts"))
		}
		<-done
	})
	_, c, desc, x := runPB(t, srv, script, Sim{Config: pbConfig(t, srv.URL, nil), Hangup: 2.5})
	if d := pbOfType(pbText(c), "playDone"); len(d) != 1 || d[0].str("id") != "tts" {
		t.Fatalf("playDone frames %v, want one with id tts\n%s", d, desc)
	}
	if errs := fltErrorFrames(c); len(errs) != 0 {
		t.Fatalf("error frames %q", errs)
	}
	s, e := pbSpan(x, 0, pbThreshold)
	if s < 0 {
		t.Fatalf("nothing played\n%s", desc)
	}
	if n := e + 1 - s; n < 12000-pbFrame || n > 12000+pbFrame {
		t.Errorf("%d samples played, want 12000 ± %d (1.5 s at 8 kHz)", n, pbFrame)
	}
	pbCheckGapless(t, x, s+1, e, pbLevel, "the Ogg/Opus clip")
	mid := x[s+800 : e-800]
	if f, l := DominantFreq(mid, pbRate), RMSdBFS(mid); math.Abs(f-700) > 3 || math.Abs(l-pbLevel) > 1 {
		t.Errorf("played %.2f Hz at %.2f dBFS, want 700 Hz at %.0f dBFS", f, l, pbLevel)
	}
}

// TestOpusCorruptClips: Ogg clips that are truncated, damaged (a bad CRC),
// Vorbis, empty (zero pages) or not Ogg at all are refused with an error
// frame naming what is wrong, and one longer than maxClipSeconds (1 s here)
// by its length; nothing of them is played, and the call goes on: a good
// clip sent after them plays.
func TestOpusCorruptClips(t *testing.T) {
	t.Parallel()
	good := opusenc(t, 48000, 1, Sine(48000, 500, pbLevel, 0.4))
	long := opusenc(t, 16000, 1, Sine(16000, 500, pbLevel, 1.5))
	badCRC := append([]byte(nil), good...)
	badCRC[len(badCRC)-20] ^= 0xff
	vorbis, err := os.ReadFile("../../go/oggopus/testdata/vorbis.ogg")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"truncated", good[:len(good)/2], "playAudio: Ogg/Opus: truncated: page 2 is cut short"},
		{"bad CRC", badCRC, "playAudio: Ogg/Opus: page 2 has a bad CRC (the file is damaged)"},
		{"vorbis", vorbis, "playAudio: Ogg/Opus: not Opus: the Ogg file holds Vorbis, not Opus"},
		{"zero pages", nil, "playAudio: Ogg/Opus: the file is empty: zero pages"},
		{"wav", wav.Encode(8000, 1, Sine(8000, 500, pbLevel, 0.1)), `playAudio: Ogg/Opus: not an Ogg file (it does not start with "OggS"; it is a RIFF/WAVE file: send it as "wav")`},
		{"too long", long, "playAudio refused: the clip is 1.5 s long, over the limit of 1 s"},
	}
	script := newPBScript()
	srv := NewWSServer(t, func(c *WSConn) {
		done, ok := pbAfterFirstFrame(c, script)
		if ok {
			for _, k := range cases {
				script.send(c, k.name, websocket.TextMessage, pbPlayAny("opus", k.data, nil, k.name))
			}
			script.send(c, "good", websocket.TextMessage, pbPlayAny("opus", good, nil, "good"))
		}
		<-done
	})
	_, c, desc, x := runPB(t, srv, script, Sim{Config: pbConfig(t, srv.URL, nil), Hangup: 1.5, Settings: `{"maxClipSeconds":1}`})
	_, texts := hosRefusalsTold(t, c)
	var want []string
	for _, k := range cases {
		want = append(want, k.want)
	}
	if strings.Join(texts, "\n") != strings.Join(want, "\n") {
		t.Errorf("error frames:\n%s\nwant:\n%s", strings.Join(texts, "\n"), strings.Join(want, "\n"))
	}
	if d := pbOfType(pbText(c), "playDone"); len(d) != 1 || d[0].str("id") != "good" {
		t.Errorf("playDone frames %v, want the good clip's alone\n%s", d, desc)
	}
	s, e := pbSpan(x, 0, pbThreshold)
	if n := e + 1 - s; s < 0 || n < 3200-pbFrame || n > 3200+pbFrame {
		t.Errorf("%d samples played, want the good clip's 3200 ± %d", n, pbFrame)
	}
	if f := DominantFreq(x[s+400:e-400], pbRate); math.Abs(f-500) > 3 {
		t.Errorf("played %.2f Hz, want 500", f)
	}
}

// TestOpusStreamedPlaybackConceals: with bidirectionalAudio.streaming and
// encoding opus, a server sends a 1 kHz tone as one Opus packet per 20 ms,
// in real time, and two packets of it are lost (sent as empty frames): the
// call hears the tone throughout, each lost 20 ms concealed with sound
// (libopus's concealment fades: within 15 dB of the tone, where silence
// would be 60 dB below it); a packet that is not Opus is refused with an
// error frame and concealed too.
func TestOpusStreamedPlaybackConceals(t *testing.T) {
	t.Parallel()
	const packets = 75
	enc, err := opus.NewEncoder(16000, 1, config.Opus{Bitrate: 32000, Application: config.OpusVoIP, Complexity: 5})
	if err != nil {
		t.Fatal(err)
	}
	tone := Sine(16000, 1000, pbLevel, packets*0.02)
	script := newPBScript()
	srv := NewWSServer(t, func(c *WSConn) {
		done, ok := pbAfterFirstFrame(c, script)
		if ok {
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
			for i := 0; i < packets; i++ {
				p, err := enc.Encode(tone[i*320 : (i+1)*320])
				if err != nil {
					script.failf("encoding: %v", err)
					return
				}
				switch i {
				case 30, 42:
					p = nil // lost
				case 50:
					p = []byte{0x03, 0x00} // code 3 with no frames: invalid
				}
				script.send(c, itoa(i), websocket.BinaryMessage, p)
				<-tick.C
			}
		}
		<-done
	})
	cfg := pbConfig(t, srv.URL, map[string]any{"bidirectionalAudio": map[string]any{"enabled": true, "streaming": true, "encoding": "opus"}})
	_, c, desc, x := runPB(t, srv, script, Sim{Config: cfg, Hangup: 2.5})
	_, texts := hosRefusalsTold(t, c)
	if want := "streamed audio: opus: invalid packet (opus: corrupted stream); concealed"; strings.Join(texts, "\n") != want {
		t.Errorf("error frames %q, want %q", texts, want)
	}
	s, e := pbSpan(x, 0, pbThreshold)
	if s < 0 {
		t.Fatalf("nothing played\n%s", desc)
	}
	if n := e + 1 - s; n < packets*160-2*pbFrame || n > packets*160+2*pbFrame {
		t.Errorf("%d samples played, want %d ± %d", n, packets*160, 2*pbFrame)
	}
	w := pbFrame
	quietest := 0.0
	for k := s + w; k+w <= e-w; k += w {
		l := RMSdBFS(x[k : k+w])
		quietest = min(quietest, l)
		if l < pbLevel-15 || l > pbLevel+3 {
			t.Errorf("20 ms at %.3f s is at %.1f dBFS, want %.0f (-15, +3): a gap", float64(k)/pbRate, l, pbLevel)
		}
	}
	t.Logf("the quietest 20 ms: %.1f dBFS", quietest)
	if f := DominantFreq(x[s+w:e-w], pbRate); math.Abs(f-1000) > 3 {
		t.Errorf("played %.2f Hz, want 1000", f)
	}
}

// TestOpusTimeline: listen-sim's --wire timeline of an Opus stream shows the
// first packet and the packets per second, not a line for each packet of
// another size (each has its own).
func TestOpusTimeline(t *testing.T) {
	t.Parallel()
	srv := NewWSServer(t, nil)
	r := RunSim(t, Sim{Config: mustJSON(t, map[string]any{"url": srv.URL, "sampleRate": 16000, "encoding": "opus"}),
		Hangup: 2, QuietLog: true, Readable: true, Expect: "hangup", Extra: []string{"--wire", "--caller-tone", "440"}})
	if r.ExitCode != 0 {
		t.Fatalf("exit %d\n%s", r.ExitCode, r.Describe())
	}
	out := r.Stdout
	timelineLine(t, out, `→ first frame \{"sampleRate":16000,"mixType":"mono","encoding":"opus"`)
	timelineLine(t, out, `→ binary frame of [0-9]+ bytes \(the first Opus packet\)$`)
	timelineLine(t, out, `→ audio 50 frames, [0-9]+ bytes in 1-2 s$`)
	if strings.Contains(out, "another size") {
		t.Errorf("the timeline reports packets of another size:\n%s", out)
	}
}
