package twilio

import (
	"encoding/base64"
	"encoding/json"
	"regexp"
	"testing"

	"github.com/modlisten/mod_listen/go/protocol"
)

func mustObject(t *testing.T, s string) *protocol.Object {
	t.Helper()
	o, err := protocol.ParseObject([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return o
}

var sidPattern = regexp.MustCompile(`^MZ[0-9a-f]{32}$`)

func TestOpening(t *testing.T) {
	call := mustObject(t, `{"callSid":"0A1B2C3D-0000-4000-8000-00000000abcd","from":"+15550100","to":"+15550199","direction":"inbound","callId":"7"}`)
	s, err := New(call, json.RawMessage(`{"team":"sales","n":1,"to":"override","accountSid":"AC0123456789abcdef0123456789abcdef"}`), true)
	if err != nil {
		t.Fatal(err)
	}
	if !sidPattern.MatchString(s.StreamSid) {
		t.Fatalf("streamSid %q", s.StreamSid)
	}
	if s.CallSid != "CA0a1b2c3d00004000800000000000abcd" {
		t.Fatalf("callSid %q, want the UUID's digits", s.CallSid)
	}
	msgs := s.Opening(nil)
	if string(msgs[0]) != `{"event":"connected","protocol":"Call","version":"1.0.0"}` {
		t.Fatalf("connected: %s", msgs[0])
	}
	want := `{"event":"start","sequenceNumber":"1","start":{"accountSid":"AC0123456789abcdef0123456789abcdef","streamSid":"` + s.StreamSid +
		`","callSid":"CA0a1b2c3d00004000800000000000abcd","tracks":["inbound","outbound"],` +
		`"customParameters":{"from":"+15550100","to":"override","direction":"inbound","callId":"7","team":"sales","n":"1","accountSid":"AC0123456789abcdef0123456789abcdef"},` +
		`"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}},"streamSid":"` + s.StreamSid + `"}`
	if string(msgs[1]) != want {
		t.Fatalf("start:\n got %s\nwant %s", msgs[1], want)
	}
	// Another stream of the same call has its own streamSid.
	if s2, _ := New(call, nil, false); s2.StreamSid == s.StreamSid || s2.CallSid != s.CallSid {
		t.Fatalf("second stream: %s %s", s2.StreamSid, s2.CallSid)
	}
}

func TestCallSid(t *testing.T) {
	for in, want := range map[string]string{
		"CA0123456789abcdef0123456789abcdef": "CA0123456789abcdef0123456789abcdef",
		"abc":                                "CAba7816bf8f01cfea414140de5dae2223",
	} {
		if got := callSid(in); got != want {
			t.Errorf("callSid(%q) = %q, want %q", in, got, want)
		}
	}
	if got := callSid(""); !regexp.MustCompile(`^CA[0-9a-f]{32}$`).MatchString(got) {
		t.Errorf("callSid of no id: %q", got)
	}
}

func TestMediaNumbering(t *testing.T) {
	s, _ := New(nil, nil, true)
	s.Opening(nil)
	frame := make([]byte, 320)
	for i := range frame {
		frame[i] = byte(i % 2) // inbound bytes 0, outbound bytes 1
	}
	for i := uint64(0); i < 3; i++ {
		msgs := s.Media(i, frame)
		if len(msgs) != 2 {
			t.Fatalf("%d messages for a two-track frame", len(msgs))
		}
		for k, track := range []string{"inbound", "outbound"} {
			var m struct {
				Event, SequenceNumber, StreamSid string
				Media                            struct{ Track, Chunk, Timestamp, Payload string }
			}
			if err := json.Unmarshal(msgs[k], &m); err != nil {
				t.Fatal(err)
			}
			payload, _ := base64.StdEncoding.DecodeString(m.Media.Payload)
			wantSeq := []string{"2", "3", "4", "5", "6", "7"}[2*i+uint64(k)]
			if m.Event != "media" || m.SequenceNumber != wantSeq || m.StreamSid != s.StreamSid || m.Media.Track != track ||
				m.Media.Chunk != []string{"1", "2", "3"}[i] || m.Media.Timestamp != []string{"0", "20", "40"}[i] ||
				len(payload) != 160 || payload[0] != byte(k) || payload[159] != byte(k) {
				t.Fatalf("frame %d track %s: %s", i, track, msgs[k])
			}
		}
	}
	// Queued messages are numbered as they are written, after the media.
	d := s.DTMF('5')
	mk := s.Mark(json.RawMessage(`"m1"`))
	if got, want := string(s.Number(d)), `{"event":"dtmf","streamSid":"`+s.StreamSid+`","sequenceNumber":"8","dtmf":{"track":"inbound_track","digit":"5"}}`; got != want {
		t.Fatalf("dtmf:\n got %s\nwant %s", got, want)
	}
	if got, want := string(s.Number(mk)), `{"event":"mark","streamSid":"`+s.StreamSid+`","sequenceNumber":"9","mark":{"name":"m1"}}`; got != want {
		t.Fatalf("mark:\n got %s\nwant %s", got, want)
	}
	if got := string(s.Number([]byte(`{"event":"custom"}`))); got != `{"event":"custom"}` {
		t.Fatalf("a host frame was changed: %s", got)
	}
	if got, want := string(s.Stop()), `{"event":"stop","sequenceNumber":"10","streamSid":"`+s.StreamSid+`","stop":{"accountSid":"AC00000000000000000000000000000000","callSid":"`+s.CallSid+`"}}`; got != want {
		t.Fatalf("stop:\n got %s\nwant %s", got, want)
	}
	// A new connection numbers from 1 again.
	if msgs := s.Opening(nil); !json.Valid(msgs[1]) || string(msgs[1][:40]) != `{"event":"start","sequenceNumber":"1","s` {
		t.Fatalf("start on a new connection: %s", msgs[1])
	}
}

func TestParse(t *testing.T) {
	m, err := Parse([]byte(`{"event":"media","streamSid":"MZ1","media":{"payload":"/38A"}}`))
	if err != nil || m.Event != EventMedia {
		t.Fatal(m, err)
	}
	if n, err := m.PayloadLen(); n != 3 || err != nil {
		t.Fatalf("PayloadLen %d %v", n, err)
	}
	if b, err := m.Payload(make([]byte, 3)); err != nil || string(b) != "\xff\x7f\x00" {
		t.Fatalf("Payload %q %v", b, err)
	}
	for _, c := range []struct{ in, want string }{
		{`{"event":"media","media":{}}`, `media: "media.payload" is missing`},
		{`{"event":"media"}`, `media: "media.payload" is missing`},
		{`{"event":"media","media":{"payload":5}}`, `media: "media.payload" must be a string of base64 (got 5)`},
		{`{"event":"mark","mark":{}}`, `mark: "mark.name" is missing`},
		{`{"streamSid":"x"}`, `message has no "event"`},
		{`{"event":7}`, `"event" must be a string (got 7)`},
		{`{"event":`, `invalid JSON: unexpected end of JSON input`},
	} {
		if _, err := Parse([]byte(c.in)); err == nil || err.Error() != c.want {
			t.Errorf("%s: %v, want %s", c.in, err, c.want)
		}
	}
	m, _ = Parse([]byte(`{"event":"media","media":{"payload":"!!!!"}}`))
	if _, err := m.Payload(make([]byte, 3)); err == nil || err.Error() != `media: "media.payload" is not valid base64: illegal base64 data at input byte 0` {
		t.Errorf("bad base64: %v", err)
	}
	m, _ = Parse([]byte(`{"event":"media","media":{"payload":"abc"}}`))
	if _, err := m.PayloadLen(); err == nil {
		t.Errorf("a payload of 3 characters was given a length")
	}
	m, err = Parse([]byte(`{"event":"mark","streamSid":"MZ1","mark":{"name":"x"}}`))
	if err != nil || string(m.Name) != `"x"` {
		t.Fatal(m, err)
	}
}
