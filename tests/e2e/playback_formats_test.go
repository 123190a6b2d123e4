package e2e

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
	"github.com/modlisten/mod_listen/go/wav"
)

// pbPlayAny is a playAudio message of any content type (rate left out when nil).
func pbPlayAny(ctype string, content []byte, rate any, id string) []byte {
	d := map[string]any{"audioContent": base64.StdEncoding.EncodeToString(content), "audioContentType": ctype, "id": id}
	if rate != nil {
		d["sampleRate"] = rate
	}
	b, _ := json.Marshal(map[string]any{"type": "playAudio", "data": d})
	return b
}

// TestPlayClipFormats: the clip formats a server may send all play at their
// pitch and level, in order and gap-free: a stereo 16 kHz WAV (mixed to
// mono), "wave" at 24 kHz, raw at "32000" (a string), a WAV with an extra
// chunk of odd size before its data, raw at 48000 and at "64000".
func TestPlayClipFormats(t *testing.T) {
	t.Parallel()
	script := newPBScript()
	stereo := func(rate int, hz float64, sec float64) []byte {
		m := Sine(rate, hz, pbLevel, sec)
		st := make([]int16, 2*len(m))
		for i, v := range m {
			st[2*i], st[2*i+1] = v, v
		}
		return wav.Encode(rate, 2, st)
	}
	withList := func(rate int, hz, sec float64) []byte {
		w := wav.Encode(rate, 1, Sine(rate, hz, pbLevel, sec))
		list := append([]byte("LIST"), 0, 0, 0, 0)
		binary.LittleEndian.PutUint32(list[4:], 5)
		list = append(list, 'a', 'b', 'c', 'd', 'e', 0) // odd size + pad
		out := append([]byte{}, w[:36]...)
		out = append(out, list...)
		out = append(out, w[36:]...)
		binary.LittleEndian.PutUint32(out[4:], uint32(len(out)-8))
		return out
	}
	srv := NewWSServer(t, func(c *WSConn) {
		done, ok := pbAfterFirstFrame(c, script)
		if ok {
			script.send(c, "1", websocket.TextMessage, pbPlayAny("wav", stereo(16000, 500, 0.2), nil, "stereo16k"))
			script.send(c, "2", websocket.TextMessage, pbPlayAny("wave", wav.Encode(24000, 1, Sine(24000, 600, pbLevel, 0.2)), nil, "wave24k"))
			script.send(c, "3", websocket.TextMessage, pbPlayAny("raw", pbLE(Sine(32000, 700, pbLevel, 0.2)), "32000", "raw32k"))
			script.send(c, "4", websocket.TextMessage, pbPlayAny("wav", withList(8000, 800, 0.2), nil, "list"))
			script.send(c, "5", websocket.TextMessage, pbPlayAny("raw", pbLE(Sine(48000, 900, pbLevel, 0.2)), 48000, "raw48k"))
			script.send(c, "6", websocket.TextMessage, pbPlayAny("raw", pbLE(Sine(64000, 1000, pbLevel, 0.2)), "64000", "raw64k"))
		}
		<-done
	})
	_, c, desc, x := runPB(t, srv, script, Sim{Config: pbConfig(t, srv.URL, nil), Hangup: 1.8})
	ids := []string{"stereo16k", "wave24k", "raw32k", "list", "raw48k", "raw64k"}
	var got []string
	for _, m := range pbOfType(pbText(c), "playDone") {
		got = append(got, m.str("id"))
	}
	if strings.Join(got, " ") != strings.Join(ids, " ") {
		t.Fatalf("playDone ids %q, want %q\n%s", got, ids, desc)
	}
	s := pbNonZeroFrom(x, 0)
	if s < 0 {
		t.Fatalf("nothing played\n%s", desc)
	}
	_, e := pbSpan(x, s, pbThreshold)
	if n := e + 1 - s; n < 6*1600-pbFrame || n > 6*1600+pbFrame {
		t.Errorf("%d samples played, want %d ± %d (six 0.2 s clips)", n, 6*1600, pbFrame)
	}
	pbCheckGapless(t, x, s+1, e, pbLevel, "six clips")
	for i, hz := range []float64{500, 600, 700, 800, 900, 1000} {
		seg := x[s+i*1600+100 : s+(i+1)*1600-100]
		if f, l := DominantFreq(seg, pbRate), RMSdBFS(seg); math.Abs(f-hz) > 3 || math.Abs(l-pbLevel) > 1 {
			t.Errorf("clip %s: %.2f Hz at %.2f dBFS, want %.0f Hz at %.0f dBFS", ids[i], f, l, hz, pbLevel)
		}
	}
}
