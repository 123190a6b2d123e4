package stream

import "testing"

func TestHideSecrets(t *testing.T) {
	sec := listenSecrets("ws://bob:urlpw@127.0.0.1:9/x?token=tk123&a=b", "wspass",
		map[string]string{"Authorization": "Bearer tok-s3cr3t"})
	got := hideSecrets(`{"echo":"urlpw wspass tk123 Bearer tok-s3cr3t a=b"}`, sec)
	want := `{"echo":"… … … … a=b"}`
	if got != want {
		t.Errorf("hideSecrets: %s, want %s", got, want)
	}
}
