package freeswitch_test

import (
	"encoding/base64"
	"fmt"
	"math"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// A codec forced on a SIP call, and the rate the channel runs at.
type codec struct {
	name  string // as absolute_codec_string takes it
	label string // as failures name it
	rate  int
}

var codecs = []codec{
	{"PCMU", "PCMU@8000", 8000},
	{"L16@16000h", "L16@16000", 16000},
	{"OPUS@48000h", "OPUS@48000", 48000},
}

// sipCall places a SIP call from the "uac" profile to dest on the "uas"
// profile with only the codec offered; the calling leg runs "far" (it plays
// far-<rate>.wav and records what it hears). It returns the calling leg's
// uuid.
func sipCall(t testing.TB, fs *Switch, dest string, c codec) string {
	t.Helper()
	out := fs.API(t, fmt.Sprintf("originate {absolute_codec_string=%s,origination_caller_id_number=15550100}"+
		"sofia/uac/%s@127.0.0.1:%d far XML uac", c.name, dest, fs.UASPort))
	if !strings.HasPrefix(out, "+OK ") {
		t.Fatalf("originate %s with %s: %q", dest, c.label, out)
	}
	return strings.TrimSpace(strings.TrimPrefix(out, "+OK "))
}

// nearLeg is the uuid of the answering leg of the call to dest, from its
// listen::start event.
func nearLeg(t testing.TB, fs *Switch, since int, dest string) string {
	t.Helper()
	start := fs.Events.WaitEvent(t, "listen::start of "+dest, since, 10*time.Second, func(e Event) bool {
		return e.Name() == "listen::start" && e.Get("Caller-Destination-Number") == dest
	})
	return start.Get("Unique-ID")
}

// callSlots bounds the SIP calls the tests run at once: enough to keep the
// run short, few enough that two cores carry them in real time.
var callSlots = make(chan struct{}, 10)

func callSlot(t *testing.T) {
	callSlots <- struct{}{}
	t.Cleanup(func() { <-callSlots })
}

// uniqueID names one call: its WebSocket path and dialled number.
func uniqueID(t *testing.T) string {
	return strings.NewReplacer("/", ".", "@", "", "_", "").Replace(t.Name()) + fmt.Sprint(time.Now().UnixNano()%1e6)
}

// TestSIPMatrix: for each codec, each mixType and each sampleRate, a SIP
// call whose far end plays a 1 kHz tone while the answering leg plays a
// 600 Hz one to it; the server checks the frequency, level and channel of
// each, and the 20 ms framing. The mono and stereo calls also play a clip
// (raw at a rate other than the codec's, and a WAV) that the far end must
// hear at its pitch and length, with playDone after it.
func TestSIPMatrix(t *testing.T) {
	fs, srv := env(t)
	for _, c := range codecs {
		for _, mix := range []string{"mono", "stereo", "mixed"} {
			for _, rate := range []int{8000, 16000, 48000} {
				c, mix, rate := c, mix, rate
				t.Run(fmt.Sprintf("%s/%s/%d", c.label, mix, rate), func(t *testing.T) {
					t.Parallel()
					callSlot(t)
					toneCall(t, fs, srv, c, mix, rate)
				})
			}
		}
	}
}

func toneCall(t *testing.T, fs *Switch, srv *WSServer, c codec, mix string, rate int) {
	what := fmt.Sprintf("%s %s→%d", c.label, mix, rate)
	dest := fmt.Sprintf("tone-%s-%s-%d", uniqueID(t), mix, rate)
	path := "/" + dest

	// The clip: raw at a rate that is not the codec's, or a WAV.
	var clip string
	clipRate := 16000
	if c.rate == 16000 {
		clipRate = 8000
	}
	samples := tone(clipHz, clipRate, clipRate*clipMs/1000, toneAmp)
	switch {
	case mix == "mono" && rate == 8000:
		clip = fmt.Sprintf(`{"type":"playAudio","data":{"audioContent":%q,"audioContentType":"raw","sampleRate":%d,"id":"raw1"}}`,
			base64.StdEncoding.EncodeToString(toPCM(samples)), clipRate)
	case mix == "stereo" && rate == 16000:
		clip = fmt.Sprintf(`{"type":"playAudio","data":{"audioContent":%q,"audioContentType":"wav","id":"wav1"}}`,
			base64.StdEncoding.EncodeToString(wavBytes(clipRate, samples)))
	}
	var sentAt atomic.Int64
	if clip != "" {
		srv.Handle(path, func(conn *Conn, f Frame) {
			if !f.Text && len(conn.Binaries()) == 120 {
				sentAt.Store(time.Now().UnixNano())
				conn.WriteText(clip)
			}
		})
	}

	mark := fs.Events.Mark()
	far := sipCall(t, fs, dest, c)
	defer fs.API(t, "uuid_kill "+far)
	conn := srv.Accept(t, path, 10*time.Second)
	near := nearLeg(t, fs, mark, dest)
	WaitFor(t, what+": 2 s of audio", 15*time.Second, func() bool { return len(conn.Binaries()) >= 100 })
	if clip != "" {
		WaitFor(t, what+": playDone", 15*time.Second, func() bool { return containsText(conn.Texts(), `"playDone"`) })
		// playDone follows the clip's last sample, not its arrival.
		if d := time.Since(time.Unix(0, sentAt.Load())); d < (clipMs-100)*time.Millisecond {
			t.Errorf("%s: playDone came %v after the %d ms clip was sent", what, d, clipMs)
		}
	}
	heard, heardRate := hangUpAndListen(t, fs, far, mark)
	stop := fs.Events.WaitEvent(t, what+": listen::stop", mark, 10*time.Second, named("listen::stop", near))
	sb := decodeJSON(t, "listen::stop body", stop.Body)
	if sb["reason"] != "hangup" {
		t.Errorf("%s: listen::stop %s, want reason hangup", what, stop.Body)
	}
	WaitFor(t, what+": the socket to close", 5*time.Second, func() bool { return conn.CloseCode() != 0 })
	if code := conn.CloseCode(); code != 1000 {
		t.Errorf("%s: close code %d, want 1000", what, code)
	}

	bins := conn.Binaries()
	// Everything the listen captured reached the server before the close.
	if sent, _ := sb["framesSent"].(float64); int(sent) != len(bins) {
		t.Errorf("%s: the server got %d frames, the listen sent %v (listen::stop %s)", what, len(bins), sb["framesSent"], stop.Body)
	}
	if ms, _ := sb["durationMs"].(float64); math.Abs(ms-float64(20*len(bins))) > 20 {
		t.Errorf("%s: %d frames (%d ms) reached the server, the listen lasted %v ms", what, len(bins), 20*len(bins), sb["durationMs"])
	}

	texts := conn.Texts()
	first := decodeJSON(t, "the first frame", texts[0])
	if first["mixType"] != mix || first["sampleRate"] != float64(rate) {
		t.Errorf("%s: first frame %s, want mixType %s and sampleRate %d", what, texts[0], mix, rate)
	}
	channels := 1
	if mix == "stereo" {
		channels = 2
	}
	for i, b := range bins {
		if want := rate / 50 * channels * 2; len(b) != want {
			t.Fatalf("%s: binary frame %d has %d bytes, want %d (20 ms)", what, i, len(b), want)
		}
	}
	// One second from the second on: past the call's start, before the clip.
	var audio []float64
	for _, b := range bins[50:100] {
		audio = append(audio, pcm(b)...)
	}
	checkTone := func(where string, s []float64, hz float64) {
		t.Helper()
		if peak := peakHz(s, rate); math.Abs(peak-hz) > 10 {
			t.Errorf("%s: %s peak %.0f Hz, expected %.0f Hz", what, where, peak, hz)
		}
		if db := levelDB(goertzelAmp(s, rate, hz)); math.Abs(db) > levelSlack {
			t.Errorf("%s: %s level of the %.0f Hz tone %+.2f dB, expected 0 ± %.0f dB", what, where, hz, db, levelSlack)
		}
	}
	checkAbsent := func(where string, s []float64, hz float64) {
		t.Helper()
		if db := levelDB(goertzelAmp(s, rate, hz)); db > -30 {
			t.Errorf("%s: %s has the %.0f Hz tone at %+.1f dB, expected none (below -30 dB)", what, where, hz, db)
		}
	}
	switch mix {
	case "mono":
		checkTone("audio", audio, farHz)
		checkAbsent("audio", audio, nearHz)
	case "stereo":
		left, right := deinterleave(audio)
		checkTone("left channel", left, farHz)
		checkAbsent("left channel", left, nearHz)
		checkTone("right channel", right, nearHz)
		checkAbsent("right channel", right, farHz)
	case "mixed":
		if a, b := goertzelAmp(audio, rate, farHz), goertzelAmp(audio, rate, nearHz); math.Abs(levelDB(a)) > levelSlack ||
			math.Abs(levelDB(b)) > levelSlack {
			t.Errorf("%s: the %.0f Hz tone at %+.2f dB and the %.0f Hz one at %+.2f dB, expected both 0 ± %.0f dB",
				what, farHz, levelDB(a), nearHz, levelDB(b), levelSlack)
		}
	}

	// The far end heard the near end's tone, and the clip in its place.
	if clip == "" {
		return
	}
	ms := 0
	for i := 0; i+heardRate/50 <= len(heard); i += heardRate / 50 {
		if block := heard[i : i+heardRate/50]; rms(block) > 1000 && toneShare(block, heardRate, clipHz) > 0.8 {
			ms += 20
		}
	}
	if ms < clipMs-40 || ms > clipMs+40 {
		t.Errorf("%s: the far end heard %d ms of the %.0f Hz clip, expected %d ms", what, ms, clipHz, clipMs)
	}
	if !containsText(texts, `"playDone"`) || !containsText(texts, `"id":"`) {
		t.Errorf("%s: no playDone with the clip's id: %v", what, texts)
	}
}
