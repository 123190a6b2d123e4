package redact

import (
	"strings"
	"testing"
)

func TestURL(t *testing.T) {
	cases := []struct{ in, want string }{
		{"http://user:secret@hooks.example.com/listen?token=abc&x=1", "http://hooks.example.com/listen?…"},
		{"wss://bob@rec.example.com:8443/calls", "wss://rec.example.com:8443/calls"},
		{"wss://rec.example.com/calls", "wss://rec.example.com/calls"},
		{"https://h/p?k=v#frag", "https://h/p?…#frag"},
		{"ws://10.0.0.1:9000", "ws://10.0.0.1:9000"},
		{"http://[::1", "(unparsable URL)"},
		{"http://h/%zz", "(unparsable URL)"},
	}
	for _, c := range cases {
		got := URL(c.in)
		if got != c.want {
			t.Errorf("URL(%q) = %q, want %q", c.in, got, c.want)
		}
		for _, secret := range []string{"secret", "token=abc", "user", "bob@"} {
			if strings.Contains(c.in, secret) && strings.Contains(got, secret) {
				t.Errorf("URL(%q) = %q keeps %q", c.in, got, secret)
			}
		}
	}
}
