package peertext

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestShow(t *testing.T) {
	cases := []struct{ in, want string }{
		{"hello", "hello"},
		{"a\r\nINFO forged line", `a\r\nINFO forged line`},
		{"tab\there\x00nul\x1b[31m", `tab\there\x00nul\x1b[31m`},
		{"bad \xff\xfe utf8", "bad \uFFFD\uFFFD utf8"},
		{"line\u2028sep", `line\u2028sep`},
		{"é", "é"},
		{strings.Repeat("x", 64), strings.Repeat("x", 64)},
		{strings.Repeat("x", 65), strings.Repeat("x", 64) + "…(65 bytes)"},
		// A character is never cut in half.
		{strings.Repeat("x", 63) + "é", strings.Repeat("x", 63) + "…(65 bytes)"},
		{strings.Repeat("\n", 40), strings.Repeat(`\n`, 32) + "…(40 bytes)"},
	}
	for _, c := range cases {
		if got := Show(c.in); got != c.want {
			t.Errorf("Show(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestShowIsBoundedAndClean(t *testing.T) {
	in := strings.Repeat("\r\n\xff\x00é", 1<<20)
	got := Show(in)
	if len(got) > MaxBytes+32 {
		t.Errorf("Show of %d bytes gave %d bytes", len(in), len(got))
	}
	if !utf8.ValidString(got) {
		t.Errorf("Show gave invalid UTF-8: %q", got)
	}
	for _, r := range got {
		if r < 0x20 || r == 0x7f {
			t.Fatalf("Show left a control character: %q", got)
		}
	}
}
