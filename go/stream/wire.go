package stream

import (
	"net/url"
	"strings"

	"github.com/gorilla/websocket"
)

// wire reports one frame that went over the socket ("out": the engine sent
// it, "in": the server did) as a "wire" event, when the host asked for them:
// text frames in full with the listen's secrets hidden, binary frames by
// size. It runs on the writer or the reader goroutine, so a slow host slows
// the stream; it is a debugging aid.
func (s *Stream) wire(dir string, kind int, data []byte) {
	if !s.o.Wire {
		return
	}
	body := map[string]any{"dir": dir}
	if kind == websocket.TextMessage {
		body["text"] = hideSecrets(string(data), s.secrets)
	} else {
		body["bytes"] = len(data)
	}
	s.event("wire", body)
}

// listenSecrets lists what a frame must not show: the passwords and tokens
// the listen was given (a server may echo them).
func listenSecrets(rawURL, password string, headers map[string]string) []string {
	var out []string
	add := func(v string) {
		if len(v) >= 3 { // shorter would hide ordinary words
			out = append(out, v)
		}
	}
	add(password)
	if u, err := url.Parse(rawURL); err == nil {
		if p, ok := u.User.Password(); ok {
			add(p)
		}
		for _, vs := range u.Query() {
			for _, v := range vs {
				add(v)
			}
		}
	}
	for _, v := range headers {
		add(v)
		if _, token, ok := strings.Cut(v, " "); ok {
			add(token)
		}
	}
	return out
}

func hideSecrets(text string, secrets []string) string {
	for _, sec := range secrets {
		text = strings.ReplaceAll(text, sec, "…")
	}
	return text
}
