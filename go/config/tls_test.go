package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestListenTLSHeadersReconnect(t *testing.T) {
	l := parse(t, `{"url":"wss://h","tls":{"caFile":"/ca.pem","certFile":"/c.pem","keyFile":"/k.pem","verify":"false"},
		"headers":{"Authorization":"Bearer x","X-Call":"1"},"reconnect":{"attempts":3,"backoffMs":"250","stableMs":1500}}`)
	if want := (TLS{CAFile: "/ca.pem", CertFile: "/c.pem", KeyFile: "/k.pem", Verify: false}); l.TLS != want {
		t.Fatalf("TLS %+v, want %+v", l.TLS, want)
	}
	if want := map[string]string{"Authorization": "Bearer x", "X-Call": "1"}; !reflect.DeepEqual(l.Headers, want) {
		t.Fatalf("Headers %v", l.Headers)
	}
	if want := (Reconnect{Attempts: 3, Backoff: 250 * time.Millisecond, Stable: 1500 * time.Millisecond}); l.Reconnect != want {
		t.Fatalf("Reconnect %+v", l.Reconnect)
	}
	// As strings holding the object (XML attributes, dialplan variables).
	l = parse(t, `{"url":"wss://h","tls":"{\"verify\":false}","headers":"{\"A\":\"b\"}","reconnect":"{\"attempts\":1}"}`)
	if l.TLS.Verify || l.Headers["A"] != "b" || l.Reconnect.Attempts != 1 || l.Reconnect.Backoff != 500*time.Millisecond || l.Reconnect.Stable != 5*time.Second {
		t.Fatalf("%+v", l)
	}
}

const tokenRule = "only letters, digits and !#$%&'*+-.^_`|~ are allowed"

// TestHeaderValuesAndNames: what HTTP carries as given is accepted (a tab,
// UTF-8, every token character), and names are kept canonical so a
// listen's header replaces the settings' one of another case.
func TestHeaderValuesAndNames(t *testing.T) {
	l := parse(t, `{"url":"wss://h","headers":{"x-a":"one\ttwo","X-B":"é ü","!#$%&'*+-.^_`+"`"+`|~09az":"v"},"pingIntervalMs":0}`)
	want := map[string]string{"X-A": "one\ttwo", "X-B": "é ü", "!#$%&'*+-.^_`|~09az": "v"}
	if !reflect.DeepEqual(l.Headers, want) {
		t.Fatalf("Headers %q, want %q", l.Headers, want)
	}
	if l.PingInterval != 0 {
		t.Fatalf("pingIntervalMs 0 gave %v", l.PingInterval)
	}
	s, err := ParseSettings([]byte(`{"headers":{"X-Token":"settings"}}`))
	if err != nil {
		t.Fatal(err)
	}
	l, err = ParseListen([]byte(`{"url":"ws://h/a%23b?c=%23","headers":{"x-token":"listen"}}`), s)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"X-Token": "listen"}; !reflect.DeepEqual(l.Headers, want) {
		t.Fatalf("Headers %q, want %q", l.Headers, want)
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
		{`{"url":"wss://h","headers":{"Bad Name":"x"}}`, `listen: "headers": "Bad Name" is not a valid header name: ` + tokenRule},
		{`{"url":"wss://h","headers":{"A:":"x"}}`, `listen: "headers": "A:" is not a valid header name: ` + tokenRule},
		{`{"url":"wss://h","headers":{"":"x"}}`, `listen: "headers": "" is not a valid header name`},
		{`{"url":"wss://h","headers":{"X-Call(1)":"x"}}`, `listen: "headers": "X-Call(1)" is not a valid header name: ` + tokenRule},
		{`{"url":"wss://h","headers":{"X-Ünicode":"x"}}`, `listen: "headers": "X-Ünicode" is not a valid header name: ` + tokenRule},
		{`{"url":"wss://h","headers":{"X-Inject":"a\r\nHost: evil"}}`,
			`listen: "headers": the value of "X-Inject" holds a control character (byte 0x0d at 1): CR, LF, NUL and the like cannot be sent`},
		{`{"url":"wss://h","headers":{"X-Token":"sec\u0000ret"}}`,
			`listen: "headers": the value of "X-Token" holds a control character (byte 0x00 at 3): CR, LF, NUL and the like cannot be sent`},
		{`{"url":"wss://h","headers":{"X-Token":"a\nb"}}`,
			`listen: "headers": the value of "X-Token" holds a control character (byte 0x0a at 1): CR, LF, NUL and the like cannot be sent`},
		{`{"url":"wss://h","headers":{"X-Token":"a\u007fb"}}`,
			`listen: "headers": the value of "X-Token" holds a control character (byte 0x7f at 1): CR, LF, NUL and the like cannot be sent`},
		{`{"url":"wss://h","headers":{"X-Token":"a","x-token":"b"}}`, `listen: "headers": "X-Token" and "x-token" are the same header`},
		{`{"url":"wss://h","reconnect":3}`, `listen: "reconnect" must be an object {"attempts", "backoffMs", "stableMs"}`},
		{`{"url":"wss://h","reconnect":{"stableMs":50}}`, `listen: "reconnect.stableMs" must be between 100 and 3600000 (got 50)`},
		{`{"url":"wss://h","pingIntervalMs":50}`, `listen: "pingIntervalMs" must be between 100 and 3600000 (got 50); 0 turns pings off`},
		{`{"url":"wss://h","pingIntervalMs":-1}`, `listen: "pingIntervalMs" must be between 100 and 3600000 (got -1); 0 turns pings off`},
		{`{"url":"wss://h","pingIntervalMs":"often"}`, `listen: "pingIntervalMs" must be a number; 0 turns pings off`},
		{`{"url":"wss://h/calls#part"}`, `listen: "url" must not have a fragment ("#"; write %23 for a "#" in the path or query)`},
		{`{"url":"ws://h/#"}`, `listen: "url" must not have a fragment ("#"; write %23 for a "#" in the path or query)`},
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
		{`{"headers":{"a b":"c"}}`, `listen: "headers": "a b" is not a valid header name: ` + tokenRule},
		{`{"headers":{"X-A":"\u0000"}}`, `listen: "headers": the value of "X-A" holds a control character (byte 0x00 at 0): CR, LF, NUL and the like cannot be sent`},
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
