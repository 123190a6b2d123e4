package freeswitch_test

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// sipCall places a SIP call from the "uac" profile to dest on the "uas"
// profile with only codec offered; the calling leg runs "far" (it plays
// far.wav and records what it hears). It returns the calling leg's uuid.
func sipCall(t testing.TB, fs *Switch, dest, codec string) string {
	t.Helper()
	out := fs.API(t, fmt.Sprintf("originate {absolute_codec_string=%s,origination_caller_id_number=15550100}"+
		"sofia/uac/%s@127.0.0.1:%d far XML uac", codec, dest, fs.UASPort))
	if !strings.HasPrefix(out, "+OK ") {
		t.Fatalf("originate %s with %s: %q", dest, codec, out)
	}
	return strings.TrimSpace(strings.TrimPrefix(out, "+OK "))
}

func TestSIPProbe(t *testing.T) {
	fs, srv := env(t)
	out := fs.API(t, fmt.Sprintf("originate {absolute_codec_string=PCMU}sofia/uac/tone-parked-mono-8000@127.0.0.1:%d &park", fs.UASPort))
	t.Logf("parked caller: %s", out)
	conn0 := srv.Accept(t, "/tone-parked-mono-8000", 10*time.Second)
	far := sipCall(t, fs, "tone-probe-mono-8000", "PCMU")
	conn := srv.Accept(t, "/tone-probe-mono-8000", 10*time.Second)
	time.Sleep(3 * time.Second)
	t.Logf("frames %d, from the parked caller %d", len(conn.Binaries()), len(conn0.Binaries()))
	var a []float64
	for _, b := range conn.Binaries()[50:100] { a = append(a, pcm(b)...) }
	for i, b := range conn.Binaries()[40:70] {
		x := pcm(b)
		t.Logf("block %d: share %.2f rms %.0f first %v", i+40, toneShare(x, 8000, farHz), rms(x), x[:6])
	}
	t.Logf("server: share %.2f rms %.0f dbfs %.2f", toneShare(a, 8000, farHz), rms(a), dbfs(rms(a)))
	fs.API(t, "hupall")
	mark := 0
	heard, rate := hangUpAndListen(t, fs, far, mark)
	t.Logf("heard %d samples at %d share %.2f dbfs %.2f", len(heard), rate, toneShare(heard[8000:16000], rate, nearHz), dbfs(rms(heard[8000:16000])))
}
