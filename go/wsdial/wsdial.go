// Package wsdial opens the WebSocket connection a listen streams on: TLS,
// basic auth, subprotocols, timeouts and buffer sizes chosen for thousands of
// small connections.
package wsdial

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gorilla/websocket"

	"github.com/modlisten/mod_listen/go/config"
	"github.com/modlisten/mod_listen/go/redact"
)

// Options say how to reach one server.
type Options struct {
	URL          string
	Username     string
	Password     string
	Subprotocols []string
	Timeout      time.Duration
	TLS          config.TLS
	Header       map[string]string
	// SendBuffer caps the kernel's send buffer (bytes; 0: the kernel's
	// autotuning). Without a cap a server that stops reading can absorb
	// megabytes and many seconds of audio before anyone notices.
	SendBuffer int
	// PingInterval is how often the connection pings the server (0: never).
	// A server heard from neither in a pong nor in anything else for two
	// intervals is taken for gone: the connection's reads and writes fail,
	// saying so.
	PingInterval time.Duration
}

// Write buffers are taken only while a message is being written, so idle
// streams hold none.
var writePool sync.Pool

// Conn is a dialled connection.
type Conn struct {
	*websocket.Conn
	raw *watched
}

// Unblock makes every later write non-blocking, the ones gorilla makes for
// pongs and pings included: what the socket cannot take at once is kept in
// order, for Flush. Call it once, before writing anything more.
func (c *Conn) Unblock() error {
	q, err := newQueue(c.raw)
	if err != nil {
		return err
	}
	c.raw.q.Store(q)
	return nil
}

// Queued is how many bytes written wait for the socket (Unblock).
func (c *Conn) Queued() int { return c.raw.q.Load().queued() }

// Flush waits until the socket has taken every byte written, or the flush
// deadline passes (Unblock). One caller at a time.
func (c *Conn) Flush() error { return c.raw.q.Load().flush() }

// SetFlushDeadline makes Flush give up at t, a Flush blocked now included,
// unless an earlier time is set already (Unblock). Any goroutine.
func (c *Conn) SetFlushDeadline(t time.Time) { c.raw.q.Load().setDeadline(t) }

// Dial connects and completes the upgrade. Cancelling ctx abandons the dial
// at once, whatever stage it is at. The error says what failed in words an
// operator can act on, and never includes credentials.
func Dial(ctx context.Context, o Options) (*Conn, error) {
	parent := ctx
	var raw *watched // the TCP connection, under TLS and WebSocket
	nd := &net.Dialer{}
	if o.SendBuffer > 0 {
		nd.Control = func(_, _ string, c syscall.RawConn) error {
			var serr error
			err := c.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF, o.SendBuffer)
			})
			if err != nil {
				return err
			}
			return serr
		}
	}
	d := websocket.Dialer{
		HandshakeTimeout: o.Timeout,
		Subprotocols:     o.Subprotocols,
		// Held by every stream for its life: 1 KiB takes a server's
		// commands and a 20 ms frame of 16 kHz audio in one read; longer
		// frames are read straight into the stream's own buffer.
		ReadBufferSize:  1024,
		WriteBufferSize: 4096,
		WriteBufferPool: &writePool,
		NetDialContext: func(dctx context.Context, network, addr string) (net.Conn, error) {
			c, err := nd.DialContext(dctx, network, addr)
			if err != nil {
				return nil, err
			}
			raw = watch(c)
			// gorilla reads the upgrade's answer without watching the
			// context: a cancelled dial breaks that read itself. The watch
			// is on our context, not on gorilla's, which ends when the
			// dial returns.
			raw.unwatch = context.AfterFunc(ctx, func() { c.SetDeadline(longAgo) })
			return raw, nil
		},
	}
	if tc, err := tlsConfig(o); err != nil {
		return nil, err
	} else {
		d.TLSClientConfig = tc
	}
	h := http.Header{}
	for k, v := range o.Header {
		h.Set(k, v)
	}
	target, err := url.Parse(o.URL)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", redact.URL(o.URL), err)
	}
	// Credentials in the URL are basic auth, as browsers treat them; the
	// WebSocket client refuses them in the URL itself.
	if target.User != nil && o.Username == "" && o.Password == "" {
		o.Username = target.User.Username()
		o.Password, _ = target.User.Password()
	}
	target.User = nil
	if o.Username != "" || o.Password != "" {
		h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(o.Username+":"+o.Password)))
	}
	if o.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Timeout)
		defer cancel()
	}
	conn, resp, err := d.DialContext(ctx, target.String(), h)
	if raw != nil && !raw.unwatch() && err == nil {
		// Cancelled or timed out as the upgrade completed: the deadline
		// the watch set may have outlived gorilla's reset.
		conn.Close()
		err = ctx.Err()
	}
	shown := redact.URL(o.URL)
	if err != nil {
		switch {
		case parent.Err() != nil:
			return nil, fmt.Errorf("%s: connecting was cancelled: %w", shown, parent.Err())
		case errors.Is(err, websocket.ErrBadHandshake) && resp != nil:
			return nil, upgradeRefused(shown, resp)
		case resp != nil && resp.Header.Get("Sec-WebSocket-Extensions") != "":
			return nil, unofferedExtension(shown, resp)
		case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded):
			return nil, fmt.Errorf("%s: no answer within %v", shown, o.Timeout)
		}
		// A malformed answer's error quotes the server's bytes.
		return nil, fmt.Errorf("%s: %s", shown, plain(err.Error(), 160))
	}
	// RFC 6455 4.1: a subprotocol or an extension the client did not offer
	// fails the connection (gorilla would turn on compression unasked).
	if p := conn.Subprotocol(); p != "" && !slices.Contains(o.Subprotocols, p) {
		conn.Close()
		return nil, fmt.Errorf("%s chose the subprotocol %.64q, which was not offered", shown, p)
	}
	if resp.Header.Get("Sec-WebSocket-Extensions") != "" {
		conn.Close()
		return nil, unofferedExtension(shown, resp)
	}
	if o.PingInterval > 0 {
		raw.keepalive(conn, o.PingInterval)
	}
	return &Conn{Conn: conn, raw: raw}, nil
}

// upgradeRefused says why the server's answer to the upgrade is not one,
// in the order RFC 6455 4.1 has the client check it. The server's own texts
// are not repeated: the status code says enough.
func upgradeRefused(shown string, resp *http.Response) error {
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return fmt.Errorf("%s refused the upgrade: %s", shown, strings.TrimSpace(fmt.Sprintf("HTTP %d %s", resp.StatusCode, http.StatusText(resp.StatusCode))))
	}
	var why string
	switch {
	case !hasToken(resp.Header, "Upgrade", "websocket"):
		why = `without "Upgrade: websocket"`
	case !hasToken(resp.Header, "Connection", "upgrade"):
		why = `without "Connection: Upgrade"`
	case resp.Header.Get("Sec-WebSocket-Accept") == "":
		why = "without Sec-WebSocket-Accept"
	default:
		why = "with a wrong Sec-WebSocket-Accept"
	}
	return fmt.Errorf("%s answered the upgrade (HTTP 101) %s: not a WebSocket server, or a proxy in the way", shown, why)
}

// unofferedExtension refuses an answer that turns on an extension: none is
// offered.
func unofferedExtension(shown string, resp *http.Response) error {
	return fmt.Errorf("%s answered with the extension %.64q, which was not offered", shown, resp.Header.Get("Sec-WebSocket-Extensions"))
}

// plain makes text that may quote a server fit for a log line: control
// characters and invalid UTF-8 escaped, and at most max bytes of it kept.
func plain(text string, max int) string {
	var b strings.Builder
	for i, r := range text {
		var piece string
		switch {
		case r == utf8.RuneError && !strings.HasPrefix(text[i:], "\uFFFD"):
			piece = fmt.Sprintf(`\x%02x`, text[i])
		case !unicode.IsPrint(r):
			q := strconv.QuoteRune(r)
			piece = q[1 : len(q)-1]
		default:
			piece = string(r)
		}
		if b.Len()+len(piece) > max {
			b.WriteString("…")
			break
		}
		b.WriteString(piece)
	}
	return b.String()
}

// hasToken tells whether a comma-separated header holds the token, in any case.
func hasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

func tlsConfig(o Options) (*tls.Config, error) {
	t := o.TLS
	tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: !t.Verify}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("CA file: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s holds no PEM certificate", t.CAFile)
		}
		tc.RootCAs = pool
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("client certificate: %v", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}
