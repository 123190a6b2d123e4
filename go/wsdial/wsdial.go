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
	"sync"
	"syscall"
	"time"

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
}

// Write buffers are taken only while a message is being written, so idle
// streams hold none.
var writePool sync.Pool

// Dial connects and completes the upgrade. The error says what failed in
// words an operator can act on, and never includes credentials.
func Dial(ctx context.Context, o Options) (*websocket.Conn, error) {
	d := websocket.Dialer{
		HandshakeTimeout: o.Timeout,
		Subprotocols:     o.Subprotocols,
		ReadBufferSize:   2048,
		WriteBufferSize:  4096,
		WriteBufferPool:  &writePool,
	}
	if o.SendBuffer > 0 {
		nd := &net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
			var serr error
			err := c.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF, o.SendBuffer)
			})
			if err != nil {
				return err
			}
			return serr
		}}
		d.NetDialContext = nd.DialContext
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
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("%s refused the upgrade: HTTP %s", redact.URL(o.URL), resp.Status)
		}
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, fmt.Errorf("%s: no answer within %v", redact.URL(o.URL), o.Timeout)
		}
		return nil, fmt.Errorf("%s: %v", redact.URL(o.URL), err)
	}
	return conn, nil
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
