package freeswitch_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// ESL is one inbound event-socket connection. Replies to commands and events
// arrive on the same socket; a reader goroutine sorts them.
type ESL struct {
	conn    net.Conn
	replies chan eslMessage // command/reply and api/response, in order
	log     io.Writer       // receives log/data lines, after a "log" command

	mu     sync.Mutex
	events []Event
	closed error
}

type eslMessage struct {
	header textproto.MIMEHeader
	body   string
}

// Event is one event as FreeSWITCH sends it in plain format.
type Event struct {
	Headers map[string]string
	Body    string
}

func (e Event) Get(name string) string { return e.Headers[name] }

// Name is the event's subclass for CUSTOM events, its name otherwise.
func (e Event) Name() string {
	if e.Get("Event-Name") == "CUSTOM" {
		return e.Get("Event-Subclass")
	}
	return e.Get("Event-Name")
}

func (e Event) String() string {
	return fmt.Sprintf("%s uuid=%s body=%s", e.Name(), e.Get("Unique-ID"), e.Body)
}

// dialESL connects and authenticates. log, if not nil, receives the log
// lines that a "log" command asks for.
func dialESL(addr, password string, log io.Writer) (*ESL, error) {
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return nil, err
	}
	e := &ESL{conn: conn, replies: make(chan eslMessage, 16), log: log}
	r := textproto.NewReader(bufio.NewReader(conn))
	first, err := readESL(r)
	if err != nil || first.header.Get("Content-Type") != "auth/request" {
		conn.Close()
		return nil, fmt.Errorf("no auth request from the event socket (%v)", err)
	}
	go e.read(r)
	reply, err := e.command("auth " + password)
	if err != nil || !strings.HasPrefix(reply, "+OK") {
		conn.Close()
		return nil, fmt.Errorf("auth: %q %v", reply, err)
	}
	return e, nil
}

func readESL(r *textproto.Reader) (eslMessage, error) {
	h, err := r.ReadMIMEHeader()
	if err != nil {
		return eslMessage{}, err
	}
	m := eslMessage{header: h}
	if cl := h.Get("Content-Length"); cl != "" {
		n, err := strconv.Atoi(cl)
		if err != nil {
			return m, fmt.Errorf("bad Content-Length %q", cl)
		}
		b := make([]byte, n)
		if _, err := io.ReadFull(r.R, b); err != nil {
			return m, err
		}
		m.body = string(b)
	}
	return m, nil
}

func (e *ESL) read(r *textproto.Reader) {
	defer close(e.replies)
	for {
		m, err := readESL(r)
		if err != nil {
			e.mu.Lock()
			e.closed = err
			e.mu.Unlock()
			return
		}
		switch m.header.Get("Content-Type") {
		case "command/reply", "api/response":
			e.replies <- m
		case "log/data":
			if e.log != nil {
				io.WriteString(e.log, m.body)
			}
		case "text/event-plain":
			ev := parsePlainEvent(m.body)
			e.mu.Lock()
			e.events = append(e.events, ev)
			e.mu.Unlock()
		}
	}
}

// parsePlainEvent reads "Name: url-encoded value" lines, a blank line, and
// the event's own body when it has a Content-Length.
func parsePlainEvent(s string) Event {
	ev := Event{Headers: map[string]string{}}
	head, body, _ := strings.Cut(s, "\n\n")
	for _, line := range strings.Split(head, "\n") {
		k, v, ok := strings.Cut(line, ": ")
		if !ok {
			continue
		}
		if u, err := url.QueryUnescape(v); err == nil {
			v = u
		}
		ev.Headers[k] = v
	}
	if n, err := strconv.Atoi(ev.Headers["Content-Length"]); err == nil && n <= len(body) {
		ev.Body = body[:n]
	}
	return ev
}

func (e *ESL) command(cmd string) (string, error) {
	if _, err := fmt.Fprintf(e.conn, "%s\n\n", cmd); err != nil {
		return "", err
	}
	select {
	case m, ok := <-e.replies:
		if !ok {
			return "", fmt.Errorf("event socket closed")
		}
		if m.header.Get("Content-Type") == "api/response" {
			return m.body, nil
		}
		return m.header.Get("Reply-Text"), nil
	case <-time.After(30 * time.Second):
		return "", fmt.Errorf("no reply to %q", cmd)
	}
}

// Mark is the number of events received so far, for WaitEvent's since.
func (e *ESL) Mark() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.events)
}

// WaitEvent returns the first event after the since'th that match accepts,
// or fails the test after timeout.
func (e *ESL) WaitEvent(t testing.TB, what string, since int, timeout time.Duration, match func(Event) bool) Event {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		e.mu.Lock()
		for _, ev := range e.events[since:] {
			if match(ev) {
				e.mu.Unlock()
				return ev
			}
		}
		closed := e.closed
		e.mu.Unlock()
		if closed != nil || time.Now().After(deadline) {
			t.Fatalf("no %s within %v (event socket: %v); events seen:\n%s", what, timeout, closed, e.eventLog())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (e *ESL) eventLog() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var b strings.Builder
	evs := e.events
	if len(evs) > 40 {
		fmt.Fprintf(&b, "  (%d before)\n", len(evs)-40)
		evs = evs[len(evs)-40:]
	}
	for _, ev := range evs {
		fmt.Fprintf(&b, "  %s\n", shorten(ev.String(), 300))
	}
	return b.String()
}

func (e *ESL) Close() { e.conn.Close() }

// named matches an event by name and channel.
func named(name, uuid string) func(Event) bool {
	return func(ev Event) bool {
		return ev.Name() == name && (uuid == "" || ev.Get("Unique-ID") == uuid)
	}
}

func shorten(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// Since is the events received after the since'th.
func (e *ESL) Since(since int) []Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Event(nil), e.events[since:]...)
}
