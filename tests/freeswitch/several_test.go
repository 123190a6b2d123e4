package freeswitch_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestSeveralListensOnOneCall: a recorder (mono, 8 kHz) and a bot (stereo,
// 16 kHz) on one SIP call, started by name with uuid_listen: both get the
// caller's tone in their own format, every event says which listen it is
// about, listen_status lists both, a second player and a fifth listen are
// refused, and stopping the recorder by name leaves the bot streaming.
func TestSeveralListensOnOneCall(t *testing.T) {
	fs, srv := env(t)
	t.Parallel()
	callSlot(t)
	dest := "parked-" + uniqueID(t)
	mark := fs.Events.Mark()
	far := sipCall(t, fs, dest, codecs[0])
	defer fs.API(t, "uuid_kill "+far)
	ans := fs.Events.WaitEvent(t, "the answer of "+dest, mark, 10*time.Second, func(e Event) bool {
		return e.Name() == "CHANNEL_ANSWER" && e.Get("Caller-Destination-Number") == dest && e.Get("Call-Direction") == "inbound"
	})
	near := ans.Get("Unique-ID")
	start := func(name, cfg string) string {
		return fs.API(t, "uuid_listen "+near+" start name="+name+" "+cfg)
	}
	url := func(path string) string { return srv.URL + "/" + dest + "-" + path }
	if out := start("rec", `{"url":"`+url("rec")+`","mixType":"mono","sampleRate":8000}`); !strings.HasPrefix(out, "+OK") {
		t.Fatalf("start rec: %q", out)
	}
	if out := start("bot", `{"url":"`+url("bot")+`","mixType":"stereo","sampleRate":16000,"bidirectionalAudio":{"enabled":true}}`); !strings.HasPrefix(out, "+OK") {
		t.Fatalf("start bot: %q", out)
	}
	rec := srv.Accept(t, "/"+dest+"-rec", 10*time.Second)
	bot := srv.Accept(t, "/"+dest+"-bot", 10*time.Second)
	for _, name := range []string{"rec", "bot"} {
		fs.Events.WaitEvent(t, "listen::connect of "+name, mark, 10*time.Second, func(e Event) bool {
			return named("listen::connect", near)(e) && e.Get("Listen-Name") == name
		})
	}

	// The name is taken; only one listen may play; at most four at once.
	if out := start("rec", `{"url":"`+url("rec2")+`"}`); !strings.HasPrefix(out, "-ERR") || !strings.Contains(out, "a listen named rec is already running") {
		t.Errorf("a second listen named rec: %q", out)
	}
	if out := start("bot2", `{"url":"`+url("bot2")+`","bidirectionalAudio":{"enabled":true}}`); !strings.HasPrefix(out, "-ERR") ||
		!strings.Contains(out, "another listen plays audio into this call already, and only one may") {
		t.Errorf("a second listen that plays: %q, want a refusal", out)
	}
	if out := start("bad/name", `{"url":"`+url("x")+`"}`); !strings.HasPrefix(out, "-ERR") || !strings.Contains(out, "bad name=") {
		t.Errorf("a bad name: %q", out)
	}
	for i, name := range []string{"extra3", "extra4"} {
		if out := start(name, `{"url":"`+url(name)+`"}`); !strings.HasPrefix(out, "+OK") {
			t.Fatalf("listen %d of 4: %q", i+3, out)
		}
	}
	if out := start("extra5", `{"url":"`+url("extra5")+`"}`); !strings.HasPrefix(out, "-ERR") ||
		!strings.Contains(out, "max-listens-per-channel 4") {
		t.Errorf("a fifth listen: %q, want the max-listens-per-channel refusal", out)
	}
	var list []map[string]any
	if err := json.Unmarshal([]byte(fs.API(t, "listen_status "+near)), &list); err != nil {
		t.Fatalf("listen_status %s: %v", near, err)
	}
	names := map[string]bool{}
	for _, st := range list {
		names[st["name"].(string)] = true
	}
	if len(list) != 4 || !names["rec"] || !names["bot"] || !names["extra3"] || !names["extra4"] {
		t.Errorf("listen_status %s: %v, want rec, bot, extra3, extra4", near, list)
	}
	if out := fs.API(t, "uuid_listen "+near+" stop extra3"); !strings.HasPrefix(out, "+OK") {
		t.Errorf("stop extra3: %q", out)
	}
	if out := fs.API(t, "uuid_listen "+near+" stop extra4"); !strings.HasPrefix(out, "+OK") {
		t.Errorf("stop extra4: %q", out)
	}

	WaitFor(t, "a second of audio on both", 10*time.Second, func() bool {
		return len(rec.Binaries()) >= 50 && len(bot.Binaries()) >= 50
	})
	if out := fs.API(t, "uuid_listen "+near+" stop rec"); !strings.HasPrefix(out, "+OK") {
		t.Fatalf("stop rec: %q", out)
	}
	stop := fs.Events.WaitEvent(t, "listen::stop of rec", mark, 10*time.Second, func(e Event) bool {
		return named("listen::stop", near)(e) && e.Get("Listen-Name") == "rec"
	})
	if sb := decodeJSON(t, "listen::stop body", stop.Body); sb["reason"] != "stop" {
		t.Errorf("rec's listen::stop %s, want reason stop", stop.Body)
	}
	if v := getvar(t, fs, near, "listen_rec_reason"); v != "stop" {
		t.Errorf("listen_rec_reason = %q, want stop", v)
	}
	n := len(bot.Binaries())
	WaitFor(t, "the bot streaming on after rec stopped", 10*time.Second, func() bool { return len(bot.Binaries()) >= n+50 })
	if out := fs.API(t, "listen_status "+near+" bot"); !strings.Contains(out, `"name":"bot"`) || !strings.Contains(out, `"state":"streaming"`) {
		t.Errorf("listen_status %s bot: %q", near, out)
	}
	if out := fs.API(t, "listen_status "+near+" rec"); !strings.HasPrefix(out, "-ERR") {
		t.Errorf("listen_status of the stopped rec: %q", out)
	}

	for _, c := range []struct {
		name      string
		bins      [][]byte
		rate, ch  int
		frameSize int
	}{{"rec", rec.Binaries(), 8000, 1, 320}, {"bot", bot.Binaries(), 16000, 2, 1280}} {
		for i, b := range c.bins {
			if len(b) != c.frameSize {
				t.Fatalf("%s: frame %d has %d bytes, want %d", c.name, i, len(b), c.frameSize)
			}
		}
		var audio []float64
		for _, b := range c.bins[len(c.bins)-25:] {
			audio = append(audio, pcm(b)...)
		}
		if c.ch == 2 {
			audio, _ = deinterleave(audio)
		}
		if share := toneShare(audio, c.rate, callerHz); share < 0.9 || rms(audio) < 1000 {
			t.Errorf("%s: %.2f of its energy at %v Hz (rms %.0f), want the caller's tone", c.name, share, callerHz, rms(audio))
		}
	}

	// Without a name, stop ends every listen left.
	if out := fs.API(t, "uuid_listen "+near+" stop"); !strings.HasPrefix(out, "+OK") {
		t.Fatalf("stop all: %q", out)
	}
	fs.Events.WaitEvent(t, "listen::stop of bot", mark, 10*time.Second, func(e Event) bool {
		return named("listen::stop", near)(e) && e.Get("Listen-Name") == "bot"
	})
	if v := getvar(t, fs, near, "listen_bot_reason"); v != "stop" {
		t.Errorf("listen_bot_reason = %q, want stop", v)
	}
	for _, e := range fs.Events.Since(mark) {
		if strings.HasPrefix(e.Name(), "listen::") && e.Get("Unique-ID") == near && e.Get("Listen-Name") == "" {
			t.Errorf("%s without a Listen-Name header", e.Name())
		}
	}
}
