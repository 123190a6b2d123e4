package protocol

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"os"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/modlisten/mod_listen/go/g711"
	"github.com/modlisten/mod_listen/go/wav"
)

func mustObject(t *testing.T, s string) *Object {
	t.Helper()
	o, err := ParseObject([]byte(s))
	if err != nil {
		t.Fatalf("ParseObject(%s): %v", s, err)
	}
	return o
}

func marshal(t *testing.T, o *Object) string {
	t.Helper()
	b, err := o.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(b) {
		t.Fatalf("invalid JSON: %s", b)
	}
	return string(b)
}

func TestParseObjectKeepsOrder(t *testing.T) {
	in := `{"zeta": 1, "alpha": {"b": [1, 2], "a": null}, "mid": "x y", "beta": true}`
	o := mustObject(t, in)
	if got, want := marshal(t, o), `{"zeta":1,"alpha":{"b":[1,2],"a":null},"mid":"x y","beta":true}`; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	if v, ok := o.Get("mid"); !ok || string(v) != `"x y"` {
		t.Fatalf("Get(mid) = %s, %v", v, ok)
	}
	if _, ok := o.Get("nope"); ok {
		t.Fatal("Get(nope) found")
	}
	// Via encoding/json too.
	b, err := json.Marshal(o)
	if err != nil || string(b) != `{"zeta":1,"alpha":{"b":[1,2],"a":null},"mid":"x y","beta":true}` {
		t.Fatalf("json.Marshal: %s %v", b, err)
	}
}

func TestParseObjectEdgeCases(t *testing.T) {
	for _, in := range []string{"", "  \n"} {
		if got := marshal(t, mustObject(t, in)); got != "{}" {
			t.Fatalf("ParseObject(%q) = %s", in, got)
		}
	}
	if got := marshal(t, mustObject(t, `{"a":1,"b":2,"a":3}`)); got != `{"a":3,"b":2}` {
		t.Fatalf("duplicate key: %s", got)
	}
	for _, in := range []string{`[1]`, `"s"`, `null`, `42`} {
		if _, err := ParseObject([]byte(in)); err == nil || err.Error() != "not a JSON object" {
			t.Errorf("ParseObject(%s): %v, want 'not a JSON object'", in, err)
		}
	}
	if _, err := ParseObject([]byte(`{"a":1} {"b":2}`)); err == nil || err.Error() != "trailing data after the JSON object" {
		t.Errorf("trailing object: %v", err)
	}
	for _, in := range []string{`{"a":1`, `{"a":}`, `{"a" 1}`} {
		if _, err := ParseObject([]byte(in)); err == nil {
			t.Errorf("ParseObject(%s) accepted", in)
		}
	}
}

func TestSetAndClone(t *testing.T) {
	o := mustObject(t, `{"a":1,"b":2}`)
	c := o.Clone()
	c.Set("a", json.RawMessage(`"x"`))
	c.Set("c", json.RawMessage(`3`))
	if got := marshal(t, o); got != `{"a":1,"b":2}` {
		t.Fatalf("clone changed the original: %s", got)
	}
	if got := marshal(t, c); got != `{"a":"x","b":2,"c":3}` {
		t.Fatalf("clone: %s", got)
	}
}

func TestInitial(t *testing.T) {
	call := mustObject(t, `{"callSid":"abc-123","from":"+15551230000","to":"+15559870000","direction":"inbound"}`)
	meta := json.RawMessage(`{"from": "overridden", "custom": {"k": [1, 2]}}`)
	b, err := Initial(16000, "stereo", "l16", call, nil, meta)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"sampleRate":16000,"mixType":"stereo","callSid":"abc-123","from":"overridden","to":"+15559870000","direction":"inbound","custom":{"k":[1,2]}}`
	if string(b) != want {
		t.Fatalf("Initial:\n got %s\nwant %s", b, want)
	}
	// The call's attributes were not changed by the merge.
	if v, _ := call.Get("from"); string(v) != `"+15551230000"` {
		t.Fatalf("Initial changed the call object: from = %s", v)
	}
}

func TestInitialExtraAndMetadataOrder(t *testing.T) {
	call := mustObject(t, `{"callSid":"c","sampleRate":"bogus"}`)
	extra := mustObject(t, `{"resumed":true,"callSid":"c2"}`)
	b, err := Initial(8000, "mono", "l16", call, extra, json.RawMessage(`{"resumed":false,"mixType":"custom"}`))
	if err != nil {
		t.Fatal(err)
	}
	// Attributes and metadata merge in order, but never restate the audio format.
	want := `{"sampleRate":8000,"mixType":"mono","callSid":"c2","resumed":false}`
	if string(b) != want {
		t.Fatalf("got %s\nwant %s", b, want)
	}
}

func TestInitialNoCallNoMetadata(t *testing.T) {
	b, err := Initial(8000, "mono", "l16", nil, nil, nil)
	if err != nil || string(b) != `{"sampleRate":8000,"mixType":"mono"}` {
		t.Fatalf("got %s %v", b, err)
	}
}

func TestInitialBadMetadata(t *testing.T) {
	if _, err := Initial(8000, "mono", "l16", nil, nil, json.RawMessage(`[1]`)); err == nil || err.Error() != "metadata: not a JSON object" {
		t.Fatalf("got %v", err)
	}
}

func TestFrames(t *testing.T) {
	cases := []struct{ got, want string }{
		{string(DTMF('2', 1600)), `{"event":"dtmf","dtmf":"2","duration":"1600"}`},
		{string(DTMF('#', 0)), `{"event":"dtmf","dtmf":"#","duration":"0"}`},
		{string(DTMF('*', 4294967295)), `{"event":"dtmf","dtmf":"*","duration":"4294967295"}`},
		{string(PlayDone(nil)), `{"type":"playDone"}`},
		{string(PlayDone(json.RawMessage(`"clip-7"`))), `{"type":"playDone","data":{"id":"clip-7"}}`},
		{string(PlayDone(json.RawMessage(`42`))), `{"type":"playDone","data":{"id":42}}`},
		{string(MarkEvent(json.RawMessage(`"m1"`), "playout")), `{"type":"mark","data":{"name":"m1","event":"playout"}}`},
		{string(MarkEvent(json.RawMessage(`"m1"`), "cleared")), `{"type":"mark","data":{"name":"m1","event":"cleared"}}`},
		{string(Error(`bad "sampleRate"`)), `{"type":"error","data":{"error":"bad \"sampleRate\""}}`},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("got  %s\nwant %s", c.got, c.want)
		}
		if !json.Valid([]byte(c.got)) {
			t.Errorf("not valid JSON: %s", c.got)
		}
	}
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func playFrame(data string) []byte {
	return []byte(`{"type":"playAudio","data":` + data + `}`)
}

func mustParse(t *testing.T, frame []byte) Message {
	t.Helper()
	m, err := Parse(frame)
	if err != nil {
		t.Fatalf("Parse(%.200s): %v", frame, err)
	}
	return m
}

func mustDecode(t *testing.T, c *Clip) []int16 {
	t.Helper()
	samples, err := c.Decode()
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if len(samples) != c.Frames*c.Channels {
		t.Fatalf("decoded %d samples, the lengths said %d frames of %d channels", len(samples), c.Frames, c.Channels)
	}
	return samples
}

func TestPlayAudioRaw(t *testing.T) {
	pcm := []byte{0x01, 0x00, 0xff, 0xff, 0x00, 0x80, 0xff, 0x7f}
	want := []int16{1, -1, -32768, 32767}
	for _, rate := range []string{`16000`, `"16000"`} {
		f := playFrame(`{"audioContent":"` + b64(pcm) + `","audioContentType":"raw","sampleRate":` + rate + `,"id":"c1"}`)
		m := mustParse(t, f)
		if m.Type != PlayAudio || m.Clip == nil {
			t.Fatalf("sampleRate %s: %+v", rate, m)
		}
		c := m.Clip
		if c.Rate != 16000 || c.Channels != 1 || !reflect.DeepEqual(mustDecode(t, c), want) || string(c.ID) != `"c1"` {
			t.Fatalf("sampleRate %s: clip %+v", rate, c)
		}
		if string(m.Raw) != string(f) {
			t.Fatal("Raw is not the frame")
		}
	}
}

func TestPlayAudioEveryPlayRate(t *testing.T) {
	for _, r := range []int{8000, 16000, 24000, 32000, 48000, 64000} {
		b, _ := json.Marshal(r)
		m := mustParse(t, playFrame(`{"audioContent":"AAA=","audioContentType":"raw","sampleRate":`+string(b)+`}`))
		if m.Clip.Rate != r {
			t.Errorf("rate %d gave %d", r, m.Clip.Rate)
		}
	}
}

func TestPlayAudioIDNullIsNoID(t *testing.T) {
	m := mustParse(t, playFrame(`{"audioContent":"","audioContentType":"raw","sampleRate":8000,"id":null}`))
	if m.Clip.ID != nil {
		t.Fatalf("id null gave %s", m.Clip.ID)
	}
	m = mustParse(t, playFrame(`{"audioContent":"","audioContentType":"raw","sampleRate":8000}`))
	if m.Clip.ID != nil {
		t.Fatalf("no id gave %s", m.Clip.ID)
	}
}

func TestPlayAudioWav(t *testing.T) {
	samples := []int16{0, 100, -100, 32767, -32768, 7}
	file := wav.Encode(24000, 1, samples)
	for _, typ := range []string{"wav", "wave"} {
		m := mustParse(t, playFrame(`{"audioContent":"`+b64(file)+`","audioContentType":"`+typ+`","id":5}`))
		c := m.Clip
		if c.Rate != 24000 || c.Channels != 1 || !reflect.DeepEqual(mustDecode(t, c), samples) || string(c.ID) != "5" {
			t.Fatalf("%s: %+v", typ, c)
		}
	}
}

func TestPlayAudioStereoWav(t *testing.T) {
	samples := []int16{1, -1, 2, -2, 3, -3}
	m := mustParse(t, playFrame(`{"audioContent":"`+b64(wav.Encode(8000, 2, samples))+`","audioContentType":"wav"}`))
	if c := m.Clip; c.Rate != 8000 || c.Channels != 2 || !reflect.DeepEqual(mustDecode(t, c), samples) {
		t.Fatalf("%+v", c)
	}
}

// header builds a 44-byte WAV header by hand.
func header(format, channels, rate, bits, dataBytes int) []byte {
	h := make([]byte, 44)
	copy(h, "RIFF")
	binary.LittleEndian.PutUint32(h[4:], uint32(36+dataBytes))
	copy(h[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(h[16:], 16)
	binary.LittleEndian.PutUint16(h[20:], uint16(format))
	binary.LittleEndian.PutUint16(h[22:], uint16(channels))
	binary.LittleEndian.PutUint32(h[24:], uint32(rate))
	binary.LittleEndian.PutUint32(h[28:], uint32(rate*channels*bits/8))
	binary.LittleEndian.PutUint16(h[32:], uint16(channels*bits/8))
	binary.LittleEndian.PutUint16(h[34:], uint16(bits))
	copy(h[36:], "data")
	binary.LittleEndian.PutUint32(h[40:], uint32(dataBytes))
	return h
}

func parseErr(t *testing.T, frame []byte) string {
	t.Helper()
	_, err := Parse(frame)
	if err == nil {
		t.Fatalf("Parse(%.200s) accepted", frame)
	}
	return err.Error()
}

func TestPlayAudioRefusals(t *testing.T) {
	eight := append(header(1, 1, 8000, 8, 4), 1, 2, 3, 4)
	float := append(header(3, 1, 8000, 32, 8), make([]byte, 8)...)
	cases := []struct{ frame, want string }{
		{`{"type":"playAudio"}`, `playAudio: "data" must be an object`},
		{`{"type":"playAudio","data":"x"}`, `playAudio: "data" must be an object`},
		{`{"type":"playAudio","data":{"audioContentType":"raw","sampleRate":8000}}`, `playAudio: "data.audioContent" is missing`},
		{`{"type":"playAudio","data":{"audioContent":"AAA=","sampleRate":8000}}`, `playAudio: "data.audioContentType" is missing ("raw", "mulaw", "alaw", "wav", "wave", "ogg" or "opus")`},
		{`{"type":"playAudio","data":{"audioContent":"AAA=","audioContentType":"mp3"}}`, `playAudio: unknown "data.audioContentType" "mp3" ("raw", "mulaw", "alaw", "wav", "wave", "ogg" or "opus")`},
		{`{"type":"playAudio","data":{"audioContent":"AAA=","audioContentType":"raw"}}`, `playAudio: "data.sampleRate" is missing (required for raw audio)`},
		{`{"type":"playAudio","data":{"audioContent":"AAA=","audioContentType":"raw","sampleRate":12345}}`, `playAudio: "data.sampleRate" must be one of 8000, 16000, 24000, 32000, 48000, 64000 (got 12345)`},
		{`{"type":"playAudio","data":{"audioContent":"AAA=","audioContentType":"raw","sampleRate":"fast"}}`, `playAudio: "data.sampleRate" must be a number, got "fast"`},
		{`{"type":"playAudio","data":{"audioContent":"AAA=","audioContentType":"raw","sampleRate":true}}`, `playAudio: "data.sampleRate" must be a number, got true`},
		{`{"type":"playAudio","data":{"audioContent":"` + b64(eight) + `","audioContentType":"wav"}}`, `playAudio: wav: only 16-bit PCM is supported (format 1, 8 bits)`},
		{`{"type":"playAudio","data":{"audioContent":"` + b64(float) + `","audioContentType":"wave"}}`, `playAudio: wav: only 16-bit PCM is supported (format 3, 32 bits)`},
		{`{"type":"playAudio","data":{"audioContent":"` + b64(wav.Encode(44100, 1, []int16{1})) + `","audioContentType":"wav"}}`, `playAudio: WAV sample rate must be one of 8000, 16000, 24000, 32000, 48000, 64000 (got 44100)`},
		{`{"type":"playAudio","data":{"audioContent":"` + b64([]byte("not a wav file")) + `","audioContentType":"wav"}}`, `playAudio: wav: not a RIFF/WAVE file`},
	}
	for _, c := range cases {
		if got := parseErr(t, []byte(c.frame)); got != c.want {
			t.Errorf("Parse(%.120s):\n got %s\nwant %s", c.frame, got, c.want)
		}
	}
	for _, bad := range []string{"A", "!!!!", "AAA=AAA="} {
		m, err := Parse(playFrame(`{"audioContent":"` + bad + `","audioContentType":"raw","sampleRate":8000}`))
		if err == nil {
			_, err = m.Clip.Decode()
		}
		if err == nil || !strings.HasPrefix(err.Error(), `playAudio: "data.audioContent" is not valid base64: `) {
			t.Errorf("base64 %q: %v", bad, err)
		}
	}
	for _, f := range [][]byte{eight, float} {
		got := parseErr(t, playFrame(`{"audioContent":"`+b64(f)+`","audioContentType":"wav"}`))
		if !strings.Contains(got, "16-bit PCM") {
			t.Errorf("non-16-bit WAV: %s", got)
		}
	}
}

func TestParseEnvelope(t *testing.T) {
	if got := parseErr(t, []byte(`{"type":`)); !strings.HasPrefix(got, "invalid JSON: ") {
		t.Errorf("truncated: %s", got)
	}
	if got := parseErr(t, []byte(`hello`)); !strings.HasPrefix(got, "invalid JSON: ") {
		t.Errorf("not JSON: %s", got)
	}
	if got := parseErr(t, []byte(`{"data":{}}`)); got != `message has no "type"` {
		t.Errorf("no type: %s", got)
	}
	for _, f := range []string{`{"type":"mark"}`, `{"type":"mark","data":{}}`, `{"type":"mark","data":{"name":null}}`, `{"type":"mark","data":"m"}`} {
		if got := parseErr(t, []byte(f)); got != `mark: "data.name" is missing` {
			t.Errorf("%s: %s", f, got)
		}
	}
}

// Lengths and durations are known from the header and the base64 length
// alone, before any decoding: a 600 s clip is measured, not decoded.
func TestClipLengthBeforeDecoding(t *testing.T) {
	const seconds = 100
	pcm := make([]byte, 2*48000*seconds)
	m := mustParse(t, playFrame(`{"audioContent":"`+b64(pcm)+`","audioContentType":"raw","sampleRate":48000}`))
	if m.Clip.Frames != 48000*seconds || m.Clip.Seconds() != seconds {
		t.Errorf("raw: %d frames, %g s", m.Clip.Frames, m.Clip.Seconds())
	}
	file := append(wav.Header(16000, 2, 2*2*16000*seconds), make([]byte, 2*2*16000*seconds)...)
	m = mustParse(t, playFrame(`{"audioContent":"`+b64(file)+`","audioContentType":"wav"}`))
	if m.Clip.Frames != 16000*seconds || m.Clip.Channels != 2 || m.Clip.Seconds() != seconds {
		t.Errorf("wav: %d frames of %d channels, %g s", m.Clip.Frames, m.Clip.Channels, m.Clip.Seconds())
	}
	// Parsing allocates about one copy of the base64 text (the JSON
	// string), never the decoded audio.
	frame := playFrame(`{"audioContent":"` + b64(file) + `","audioContentType":"wav"}`)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	Parse(frame)
	runtime.ReadMemStats(&after)
	if allocs := after.TotalAlloc - before.TotalAlloc; allocs > uint64(len(frame))*5/4 {
		t.Errorf("Parse of a %d-byte frame allocated %d bytes", len(frame), allocs)
	}
	// Line breaks in the base64 are skipped, as the decoder does.
	wrapped := b64([]byte{1, 0, 2, 0, 3, 0})
	wrapped = wrapped[:4] + "\\r\\n" + wrapped[4:]
	m = mustParse(t, playFrame(`{"audioContent":"`+wrapped+`","audioContentType":"raw","sampleRate":8000}`))
	if got := mustDecode(t, m.Clip); !reflect.DeepEqual(got, []int16{1, 2, 3}) {
		t.Errorf("wrapped base64 gave %v", got)
	}
}

// Decoding goes chunk by chunk into the samples: every length, across
// chunk boundaries, gives the samples a whole decode gives; padding before
// the end is refused as a whole decode would.
func TestDecodeInChunks(t *testing.T) {
	for _, n := range []int{0, 2, 3070, 3072, 3074, 6144, 10001, 1 << 16} {
		pcm := make([]byte, n)
		for i := range pcm {
			pcm[i] = byte(i*31 + 7)
		}
		m := mustParse(t, playFrame(`{"audioContent":"`+b64(pcm)+`","audioContentType":"raw","sampleRate":8000}`))
		if got, want := mustDecode(t, m.Clip), wav.Samples(pcm); !reflect.DeepEqual(got, want) {
			t.Errorf("%d bytes: decoded differently", n)
		}
		file := wav.Encode(16000, 2, wav.Samples(pcm[:n/4*4]))
		m = mustParse(t, playFrame(`{"audioContent":"`+b64(file)+`","audioContentType":"wav"}`))
		if got, want := mustDecode(t, m.Clip), wav.Samples(pcm[:n/4*4]); !reflect.DeepEqual(got, want) {
			t.Errorf("%d bytes of WAV: decoded differently", n)
		}
	}
	early := b64(make([]byte, 3070)) + "AAAA" // "==" ends the first chunk
	m := mustParse(t, playFrame(`{"audioContent":"`+early+`","audioContentType":"raw","sampleRate":8000}`))
	if _, err := m.Clip.Decode(); err == nil || !strings.Contains(err.Error(), "not valid base64") {
		t.Errorf("padding before the end: %v", err)
	}
}

func TestNamesAreLimited(t *testing.T) {
	long := strings.Repeat("n", MaxNameBytes+1)
	if got := parseErr(t, []byte(`{"type":"mark","data":{"name":"`+long+`"}}`)); got != `mark: "data.name" is longer than 256 bytes` {
		t.Errorf("long mark name: %s", got)
	}
	mustParse(t, []byte(`{"type":"mark","data":{"name":"`+long[1:]+`"}}`))
	if got := parseErr(t, playFrame(`{"audioContent":"","audioContentType":"raw","sampleRate":8000,"id":"`+long+`"}`)); got != `playAudio: "data.id" is longer than 256 bytes` {
		t.Errorf("long clip id: %s", got)
	}
}

func TestServerValuesInErrorsAreShortAndEscaped(t *testing.T) {
	got := parseErr(t, []byte(`{"type":"playAudio","data":{"audioContent":"","audioContentType":"raw\r\nFORGED`+strings.Repeat("x", 5000)+`"}}`))
	if strings.ContainsAny(got, "\r\n") || len(got) > 200 {
		t.Errorf("error text %q", got)
	}
	got = parseErr(t, []byte(`{"type":["\r\n`+strings.Repeat("x", 5000)+`"]}`))
	if strings.ContainsAny(got, "\r\n") || len(got) > 200 {
		t.Errorf("error text %q", got)
	}
	if got := parseErr(t, []byte("{\"type\":\"transcription\",\"text\":\"\xff\xfe\"}")); got != "message is not valid UTF-8" {
		t.Errorf("invalid UTF-8: %s", got)
	}
}

func TestParseMark(t *testing.T) {
	m := mustParse(t, []byte(`{"type":"mark","data":{"name":"greeting-end"}}`))
	if m.Type != Mark || string(m.Name) != `"greeting-end"` {
		t.Fatalf("%+v", m)
	}
}

func TestParseOtherTypes(t *testing.T) {
	for _, typ := range []string{KillAudio, Disconnect, Clear, ErrorType, "transcription", "somethingNew"} {
		f := []byte(`{"type":"` + typ + `","data":{"x":1}}`)
		m := mustParse(t, f)
		if m.Type != typ || string(m.Data) != `{"x":1}` || string(m.Raw) != string(f) || m.Clip != nil || m.Name != nil {
			t.Errorf("%s: %+v", typ, m)
		}
	}
	m := mustParse(t, []byte(`{"type":"killAudio"}`))
	if m.Type != KillAudio || m.Data != nil {
		t.Fatalf("%+v", m)
	}
}

func TestRate(t *testing.T) {
	for in, want := range map[string]int{`8000`: 8000, `"8000"`: 8000, `32000`: 32000, `"64000"`: 64000, `16000.0`: 16000} {
		if got, err := Rate(json.RawMessage(in)); err != nil || got != want {
			t.Errorf("Rate(%s) = %d, %v", in, got, err)
		}
	}
	for _, in := range []string{`44100`, `"11025"`, `0`, `-8000`, `"8000x"`, `null`, `[8000]`} {
		if got, err := Rate(json.RawMessage(in)); err == nil {
			t.Errorf("Rate(%s) = %d, accepted", in, got)
		}
	}
}

// A refused clip is named: the server learns which of its clips will never
// be heard, even when the message did not parse.
func TestClipErrorNamesTheClip(t *testing.T) {
	if got, want := string(ClipError(json.RawMessage(`"c1"`), `bad "clip"`)),
		`{"type":"error","data":{"error":"bad \"clip\"","id":"c1"}}`; got != want {
		t.Errorf("ClipError = %s, want %s", got, want)
	}
	if got, want := string(ClipError(nil, "bad")), string(Error("bad")); got != want {
		t.Errorf("ClipError without an id = %s, want %s", got, want)
	}
	for in, want := range map[string]string{
		`{"type":"playAudio","data":{"audioContent":"!!","id":"c2"}}`:                      `"c2"`,
		`{"type":"playAudio","data":{"id":7,"sampleRate":"x"}}`:                            `7`,
		`{"type":"playAudio","data":{"audioContent":"AAAA"}}`:                              ``,
		`{"type":"playAudio","data":{"id":null}}`:                                          ``,
		`{"type":"mark","data":{"id":"c3"}}`:                                               ``,
		`{"type":"playAudio",`:                                                             ``,
		`{"type":"playAudio","data":{"id":"` + strings.Repeat("i", MaxNameBytes+1) + `"}}`: ``,
	} {
		if got := string(ClipID([]byte(in))); got != want {
			t.Errorf("ClipID(%s) = %q, want %q", in, got, want)
		}
	}
}

func TestInitialSaysTheEncoding(t *testing.T) {
	b, err := Initial(8000, "mono", "mulaw", nil, nil, json.RawMessage(`{"encoding":"l16","x":1}`))
	if err != nil || string(b) != `{"sampleRate":8000,"mixType":"mono","encoding":"mulaw","x":1}` {
		t.Fatalf("got %s %v", b, err)
	}
}

// A G.711 clip is one byte a sample at 8 kHz: its length is known before
// decoding, and it decodes through the standard tables.
func TestPlayG711(t *testing.T) {
	codes := make([]byte, 5000) // over one decoding chunk
	for i := range codes {
		codes[i] = byte(i * 7)
	}
	for _, c := range []struct {
		typ, rate string
		dec       func(byte) int16
	}{{"mulaw", "", g711.DecodeMulaw}, {"alaw", `,"sampleRate":"8000"`, g711.DecodeAlaw}} {
		m := mustParse(t, playFrame(`{"audioContent":"`+b64(codes)+`","audioContentType":"`+c.typ+`"`+c.rate+`}`))
		if m.Clip.Rate != 8000 || m.Clip.Frames != len(codes) || m.Clip.Channels != 1 {
			t.Fatalf("%s: clip %+v", c.typ, m.Clip)
		}
		got, err := m.Clip.Decode()
		if err != nil {
			t.Fatal(err)
		}
		for i, code := range codes {
			if got[i] != c.dec(code) {
				t.Fatalf("%s: sample %d = %d, want %d", c.typ, i, got[i], c.dec(code))
			}
		}
	}
	_, err := Parse(playFrame(`{"audioContent":"AAA=","audioContentType":"mulaw","sampleRate":16000}`))
	if err == nil || err.Error() != `playAudio: "data.sampleRate" must be 8000 for mulaw audio (got 16000)` {
		t.Fatalf("mulaw at 16 kHz: %v", err)
	}
}

func TestInitialSaysOpus(t *testing.T) {
	call := mustObject(t, `{"callSid":"c","encoding":"l16"}`)
	b, err := Initial(16000, "mono", "opus", call, nil, json.RawMessage(`{"encoding":"mp3"}`))
	want := `{"sampleRate":16000,"mixType":"mono","encoding":"opus","callSid":"c"}`
	if err != nil || string(b) != want {
		t.Fatalf("got %s %v\nwant %s", b, err, want)
	}
}

func oggClipFrame(t *testing.T, file []byte, contentType string) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"type": "playAudio", "data": map[string]any{
		"audioContent": base64.StdEncoding.EncodeToString(file), "audioContentType": contentType, "id": "tts"}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// An Ogg/Opus clip's length is known from its pages before its audio is
// decoded; it decodes to mono at 48 kHz.
func TestPlayAudioOggOpus(t *testing.T) {
	file, err := os.ReadFile("../oggopus/testdata/stereo48k.opus")
	if err != nil {
		t.Fatal(err)
	}
	for _, ct := range []string{"ogg", "opus"} {
		m, err := Parse(oggClipFrame(t, file, ct))
		if err != nil {
			t.Fatal(err)
		}
		c := m.Clip
		if c.Rate != 48000 || c.Channels != 1 || c.Frames != 48000 || c.Seconds() != 1 || c.DecodeBytes() != len(file)+96000 {
			t.Fatalf("%s: clip %d Hz, %d channels, %d frames, %d bytes to decode", ct, c.Rate, c.Channels, c.Frames, c.DecodeBytes())
		}
		pcm, err := c.Decode()
		if err != nil || len(pcm) != 48000 {
			t.Fatalf("%s: decoded %d samples, %v", ct, len(pcm), err)
		}
	}
	_, err = Parse(oggClipFrame(t, file[:len(file)-10], "ogg"))
	if err == nil || err.Error() != "playAudio: Ogg/Opus: truncated: page 3 is cut short" {
		t.Errorf("a truncated file: %v", err)
	}
	_, err = Parse([]byte(`{"type":"playAudio","data":{"audioContent":"T2dn!","audioContentType":"ogg"}}`))
	if err == nil || !strings.HasPrefix(err.Error(), `playAudio: "data.audioContent" is not valid base64`) {
		t.Errorf("bad base64: %v", err)
	}
}
