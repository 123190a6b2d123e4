package freeswitch_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// baresipConfig: a SIP user agent on 127.0.0.1 that offers PCMU only, sends
// far.wav as its microphone, and dumps what it receives to rec/ (the sndfile
// filter); no sound card.
const baresipConfig = `poll_method		epoll
sip_listen		127.0.0.1:0
sip_trans_def		udp
audio_source		aufile,%[1]s/far.wav
audio_player
audio_alert
ausrc_srate		8000
auplay_srate		8000
ausrc_channels		1
auplay_channels		1
module_path		/usr/lib/baresip/modules
module			g711.so
module			aufile.so
module			sndfile.so
module_app		account.so
module_app		menu.so
snd_path		%[1]s/rec
`

// TestBaresip: a call from baresip (Debian's package), a SIP and RTP stack
// no one here configured, to a listen in stereo: the server gets baresip's
// tone on the left and the near end's on the right, and baresip hears the
// server's clip.
func TestBaresip(t *testing.T) {
	fs, srv := env(t)
	bin, err := exec.LookPath("baresip")
	if err != nil {
		skipTest(t, "baresip is not installed (apt-get install baresip-core); skipping the call from an independent user agent")
	}
	t.Parallel()
	callSlot(t)
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "rec"), 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		"config":   []byte(fmt.Sprintf(baresipConfig, dir)),
		"accounts": []byte("<sip:baresip@127.0.0.1>;regint=0;audio_codecs=PCMU\n"),
		"far.wav":  wavBytes(8000, tone(farHz, 8000, 8000*mediaSecs, toneAmp)),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	const what = "baresip PCMU@8000 stereo→16000"
	dest := fmt.Sprintf("tone-%s-stereo-16000", uniqueID(t))
	clip := fmt.Sprintf(`{"type":"playAudio","data":{"audioContent":%q,"audioContentType":"raw","sampleRate":16000,"id":"bs1"}}`,
		base64.StdEncoding.EncodeToString(toPCM(tone(clipHz, 16000, 16000*clipMs/1000, toneAmp))))
	srv.Handle("/"+dest, func(c *Conn, f Frame) {
		if !f.Text && len(c.Binaries()) == 120 {
			c.WriteText(clip)
		}
	})

	mark := fs.Events.Mark()
	// baresip hangs up when it quits, after 6 s.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-f", dir, "-t", "6", "-e", fmt.Sprintf("/dial sip:%s@127.0.0.1:%d", dest, fs.UASPort))
	out, err := os.Create(filepath.Join(dir, "baresip.out"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	showLog := func() string { b, _ := os.ReadFile(out.Name()); return string(b) }
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("baresip's output:\n%s", showLog())
		}
	})
	conn := srv.Accept(t, "/"+dest, 10*time.Second)
	near := nearLeg(t, fs, mark, dest)
	WaitFor(t, what+": playDone", 15*time.Second, func() bool { return containsText(conn.Texts(), `"playDone"`) })
	if err := cmd.Wait(); err != nil {
		t.Logf("baresip: %v", err)
	}
	stop := fs.Events.WaitEvent(t, what+": listen::stop", mark, 10*time.Second, named("listen::stop", near))
	if sb := decodeJSON(t, "listen::stop body", stop.Body); sb["reason"] != "hangup" {
		t.Errorf("%s: listen::stop %s, want reason hangup", what, stop.Body)
	}

	var audio []float64
	bins := conn.Binaries()
	if len(bins) < 100 {
		t.Fatalf("%s: %d frames, want 2 s at least\n%s", what, len(bins), showLog())
	}
	for _, b := range bins[50:100] {
		audio = append(audio, pcm(b)...)
	}
	left, right := deinterleave(audio)
	for _, ch := range []struct {
		name string
		s    []float64
		hz   float64
	}{{"left channel (baresip)", left, farHz}, {"right channel (near end)", right, nearHz}} {
		if peak := peakHz(ch.s, 16000); math.Abs(peak-ch.hz) > 10 {
			t.Errorf("%s: %s peak %.0f Hz, expected %.0f Hz", what, ch.name, peak, ch.hz)
		}
		if db := levelDB(goertzelAmp(ch.s, 16000, ch.hz)); math.Abs(db) > levelSlack {
			t.Errorf("%s: %s level %+.2f dB, expected 0 ± %.0f dB", what, ch.name, db, levelSlack)
		}
	}

	// What baresip received, decoded: the near end's tone and the clip.
	dumps, _ := filepath.Glob(filepath.Join(dir, "rec", "*dec*.wav"))
	if len(dumps) != 1 {
		t.Fatalf("%s: baresip's dumps of what it received: %v, want one\n%s", what, dumps, showLog())
	}
	heard, rate, err := readWAV(dumps[0])
	if err != nil {
		t.Fatal(err)
	}
	ms := 0
	for i := 0; i+rate/50 <= len(heard); i += rate / 50 {
		if block := heard[i : i+rate/50]; rms(block) > 1000 && toneShare(block, rate, clipHz) > 0.8 {
			ms += 20
		}
	}
	if ms < clipMs-40 || ms > clipMs+40 {
		t.Errorf("%s: baresip heard %d ms of the %.0f Hz clip, expected %d ms", what, ms, clipHz, clipMs)
	}
	if !strings.Contains(showLog(), "PCMU") {
		t.Errorf("%s: baresip's log does not show PCMU:\n%s", what, showLog())
	}
}
