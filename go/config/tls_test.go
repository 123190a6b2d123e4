package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestListenTLSHeadersReconnect(t *testing.T) {
	l := parse(t, `{"url":"wss://h","tls":{"caFile":"/ca.pem","certFile":"/c.pem","keyFile":"/k.pem","verify":"false"},
		"headers":{"Authorization":"Bearer x","X-Call":"1"},"reconnect":{"attempts":3,"backoffMs":"250"}}`)
	if want := (TLS{CAFile: "/ca.pem", CertFile: "/c.pem", KeyFile: "/k.pem", Verify: false}); l.TLS != want {
		t.Fatalf("TLS %+v, want %+v", l.TLS, want)
	}
	if want := map[string]string{"Authorization": "Bearer x", "X-Call": "1"}; !reflect.DeepEqual(l.Headers, want) {
		t.Fatalf("Headers %v", l.Headers)
	}
	if want := (Reconnect{Attempts: 3, Backoff: 250 * time.Millisecond}); l.Reconnect != want {
		t.Fatalf("Reconnect %+v", l.Reconnect)
	}
	// As strings holding the object (XML attributes, dialplan variables).
	l = parse(t, `{"url":"wss://h","tls":"{\"verify\":false}","headers":"{\"A\":\"b\"}","reconnect":"{\"attempts\":1}"}`)
	if l.TLS.Verify || l.Headers["A"] != "b" || l.Reconnect.Attempts != 1 || l.Reconnect.Backoff != 500*time.Millisecond {
		t.Fatalf("%+v", l)
	}
}

func TestHeadersOverSettings(t *testing.T) {
	s, err := ParseSettings([]byte(`{"headers":{"A":"settings","B":"settings"},"tlsVerify":false,"caFile":"/s.pem"}`))
	if err != nil {
		t.Fatal(err)
	}
	l, err := ParseListen([]byte(`{"url":"wss://h","headers":{"B":"listen","C":"listen"},"tls":{"certFile":"/c","keyFile":"/k"}}`), s)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"A": "settings", "B": "listen", "C": "listen"}; !reflect.DeepEqual(l.Headers, want) {
		t.Fatalf("Headers %v, want %v", l.Headers, want)
	}
	if want := map[string]string{"A": "settings", "B": "settings"}; !reflect.DeepEqual(s.Headers, want) {
		t.Fatalf("the settings' headers were changed: %v", s.Headers)
	}
	if want := (TLS{CAFile: "/s.pem", CertFile: "/c", KeyFile: "/k", Verify: false}); l.TLS != want {
		t.Fatalf("TLS %+v, want %+v (settings as defaults)", l.TLS, want)
	}
	// Without keys of its own a listen takes the settings as they are.
	l, _ = ParseListen([]byte(`{"url":"wss://h"}`), s)
	if l.TLS != s.TLS || !reflect.DeepEqual(l.Headers, s.Headers) {
		t.Fatalf("%+v", l)
	}
}

func TestTLSHeadersReconnectRefusals(t *testing.T) {
	cases := []struct{ in, want string }{
		{`{"url":"wss://h","tls":true}`, `listen: "tls" must be an object {"caFile", "certFile", "keyFile", "verify"}`},
		{`{"url":"wss://h","tls":{"ca":"x"}}`, `listen: unknown key "tls.ca"`},
		{`{"url":"wss://h","tls":{"verify":"sometimes"}}`, `listen: "tls.verify" must be true or false`},
		{`{"url":"wss://h","tls":{"certFile":"/c"}}`, `listen: "tls.certFile" and "tls.keyFile" go together`},
		{`{"url":"wss://h","tls":{"keyFile":"/k"}}`, `listen: "tls.certFile" and "tls.keyFile" go together`},
		{`{"url":"wss://h","tls":{"caFile":5}}`, `listen: "tls.caFile" must be a string`},
		{`{"url":"wss://h","headers":["A: b"]}`, `listen: "headers" must be an object of strings`},
		{`{"url":"wss://h","headers":{"A":1}}`, `listen: "headers" must be an object of strings`},
		{`{"url":"wss://h","headers":{"Bad Name":"x"}}`, `listen: "headers": "Bad Name" is not a valid header`},
		{`{"url":"wss://h","headers":{"A:":"x"}}`, `listen: "headers": "A:" is not a valid header`},
		{`{"url":"wss://h","headers":{"":"x"}}`, `listen: "headers": "" is not a valid header`},
		{`{"url":"wss://h","headers":{"X-Inject":"a\r\nHost: evil"}}`, `listen: "headers": "X-Inject" is not a valid header`},
		{`{"url":"wss://h","reconnect":3}`, `listen: "reconnect" must be an object {"attempts", "backoffMs"}`},
		{`{"url":"wss://h","reconnect":{"tries":3}}`, `listen: unknown key "reconnect.tries"`},
		{`{"url":"wss://h","reconnect":{"attempts":101}}`, `listen: "reconnect.attempts" must be between 0 and 100 (got 101)`},
		{`{"url":"wss://h","reconnect":{"backoffMs":-1}}`, `listen: "reconnect.backoffMs" must be between 0 and 60000 (got -1)`},
		{`{"url":"wss://h","reconnect":{"attempts":1.5}}`, `listen: "reconnect.attempts" must be a whole number (got 1.5)`},
	}
	for _, c := range cases {
		if got := parseErr(t, c.in); got != c.want {
			t.Errorf("ParseListen(%s):\n got %s\nwant %s", c.in, got, c.want)
		}
	}
}

func TestSettingsTLSHeadersLimits(t *testing.T) {
	s, err := ParseSettings([]byte(`{"caFile":"/ca","certFile":"/c","keyFile":"/k","tlsVerify":true,
		"headers":{"X-A":"1"},"maxClipSeconds":"60","maxQueuedSeconds":120.5}`))
	if err != nil {
		t.Fatal(err)
	}
	if s.TLS != (TLS{CAFile: "/ca", CertFile: "/c", KeyFile: "/k", Verify: true}) || s.Headers["X-A"] != "1" ||
		s.MaxClipSeconds != 60 || s.MaxQueuedSeconds != 120.5 {
		t.Fatalf("%+v", s)
	}
	cases := []struct{ in, want string }{
		{`{"maxClipSeconds":0}`, `listen: "maxClipSeconds" must be between 1 and 3600 (got 0)`},
		{`{"maxQueuedSeconds":36001}`, `listen: "maxQueuedSeconds" must be between 1 and 36000 (got 36001)`},
		{`{"headers":{"a b":"c"}}`, `listen: "headers": "a b" is not a valid header`},
		{`{"certFile":3}`, `listen: "certFile" must be a string`},
	}
	for _, c := range cases {
		if _, err := ParseSettings([]byte(c.in)); err == nil || err.Error() != c.want {
			t.Errorf("ParseSettings(%s): %v, want %s", c.in, err, c.want)
		}
	}
}

func TestSettingsCertWithoutKey(t *testing.T) {
	// A client certificate without its key (or the reverse) in the settings
	// is refused at load, as it is in a listen's "tls".
	for _, in := range []string{`{"certFile":"/c.pem"}`, `{"keyFile":"/k.pem"}`} {
		_, err := ParseSettings([]byte(in))
		if err == nil || !strings.Contains(err.Error(), "certFile") || !strings.Contains(err.Error(), "keyFile") {
			t.Errorf("ParseSettings(%s): %v, want a refusal naming certFile and keyFile", in, err)
		}
	}
}
