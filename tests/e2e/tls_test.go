package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// tlsPKI is a test certificate authority and the certificates it signed,
// made fresh for each test with crypto/x509; the PEM files are in Dir.
type tlsPKI struct {
	Dir    string
	CAFile string // the CA certificate, PEM
	CA     *x509.CertPool

	Server     tls.Certificate // for 127.0.0.1 and localhost
	WrongName  tls.Certificate // signed by the CA, for other.example only
	SelfSigned tls.Certificate // a self-signed certificate for 127.0.0.1, no CA

	ClientCert, ClientKey string // PEM files of a client certificate the CA signed
	RogueCert, RogueKey   string // a self-signed client certificate (not from the CA)
}

var tlsSerial atomic.Int64

type tlsCert struct {
	cert *x509.Certificate
	der  []byte
	key  *ecdsa.PrivateKey
}

// tlsIssue makes a certificate for template, signed by parent (self-signed
// when parent is nil).
func tlsIssue(t testing.TB, tmpl *x509.Certificate, parent *tlsCert) *tlsCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl.SerialNumber = big.NewInt(tlsSerial.Add(1) + time.Now().UnixNano()%1000000*1000)
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().Add(24 * time.Hour)
	signer, signerKey := tmpl, key
	if parent != nil {
		signer, signerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &tlsCert{cert: cert, der: der, key: key}
}

func (c *tlsCert) tls() tls.Certificate {
	return tls.Certificate{Certificate: [][]byte{c.der}, PrivateKey: c.key, Leaf: c.cert}
}

// writePEM writes the certificate and its key as PEM files in dir.
func (c *tlsCert) writePEM(t testing.TB, dir, name string) (certFile, keyFile string) {
	t.Helper()
	certFile = filepath.Join(dir, name+".pem")
	keyFile = filepath.Join(dir, name+"-key.pem")
	kb, err := x509.MarshalECPrivateKey(c.key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func tlsNewPKI(t testing.TB) *tlsPKI {
	t.Helper()
	dir := t.TempDir()
	ca := tlsIssue(t, &x509.Certificate{
		Subject:               pkix.Name{CommonName: "mod_listen test CA"},
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}, nil)
	p := &tlsPKI{Dir: dir, CA: x509.NewCertPool()}
	p.CA.AddCert(ca.cert)
	p.CAFile, _ = ca.writePEM(t, dir, "ca")
	server := func(cn string, ips []net.IP, names []string, parent *tlsCert) *tlsCert {
		return tlsIssue(t, &x509.Certificate{
			Subject:     pkix.Name{CommonName: cn},
			IPAddresses: ips, DNSNames: names,
			KeyUsage:    x509.KeyUsageDigitalSignature,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		}, parent)
	}
	loop := []net.IP{net.ParseIP("127.0.0.1")}
	p.Server = server("127.0.0.1", loop, []string{"localhost"}, ca).tls()
	p.WrongName = server("other.example", nil, []string{"other.example"}, ca).tls()
	p.SelfSigned = server("127.0.0.1", loop, []string{"localhost"}, nil).tls()
	client := func(cn string, parent *tlsCert) *tlsCert {
		return tlsIssue(t, &x509.Certificate{
			Subject:     pkix.Name{CommonName: cn},
			KeyUsage:    x509.KeyUsageDigitalSignature,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		}, parent)
	}
	p.ClientCert, p.ClientKey = client("switch-1", ca).writePEM(t, dir, "client")
	p.RogueCert, p.RogueKey = client("rogue", nil).writePEM(t, dir, "rogue")
	return p
}

// tlsServerConfig serves cert; with mutual, it requires a client
// certificate signed by the PKI's CA.
func (p *tlsPKI) tlsServerConfig(cert tls.Certificate, mutual bool) *tls.Config {
	c := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if mutual {
		c.ClientAuth = tls.RequireAndVerifyClientCert
		c.ClientCAs = p.CA
	}
	return c
}

// TestTLS: wss:// servers. A certificate from an unknown CA (or a
// self-signed one, or one for another name) is refused by default with a
// connect_failed naming the certificate; the configured CA (listen config
// "tls":{"caFile"} or the caFile setting) makes it trusted; "verify": false
// (or the tlsVerify setting) connects and logs a warning. Mutual TLS: a
// server that requires a client certificate refuses a listen without one
// (or with one it does not trust) and accepts the configured certFile/keyFile.
func TestTLS(t *testing.T) {
	t.Parallel()
	pki := tlsNewPKI(t)
	plain := fltNewServer(t, pki.tlsServerConfig(pki.Server, false))
	self := fltNewServer(t, pki.tlsServerConfig(pki.SelfSigned, false))
	wrong := fltNewServer(t, pki.tlsServerConfig(pki.WrongName, false))
	mutual := fltNewServer(t, pki.tlsServerConfig(pki.Server, true))
	clientTLS := map[string]any{"caFile": pki.CAFile, "certFile": pki.ClientCert, "keyFile": pki.ClientKey}
	cases := []struct {
		name     string
		srv      *fltServer
		tls      map[string]any // the listen config's "tls" (nil: none)
		settings map[string]any
		accept   bool
		want     []string // in the connect_failed error, when refused
		warning  bool     // the verification-off warning is logged
	}{
		{name: "unknown-ca-refused", srv: plain, want: []string{"certificate"}},
		{name: "self-signed-refused", srv: self, want: []string{"certificate"}},
		{name: "config-caFile", srv: plain, tls: map[string]any{"caFile": pki.CAFile}, accept: true},
		{name: "settings-caFile", srv: plain, settings: map[string]any{"caFile": pki.CAFile}, accept: true},
		{name: "wrong-name-refused", srv: wrong, tls: map[string]any{"caFile": pki.CAFile}, want: []string{"certificate", "127.0.0.1"}},
		{name: "config-verify-false", srv: self, tls: map[string]any{"verify": false}, accept: true, warning: true},
		{name: "settings-tlsVerify-false", srv: wrong, settings: map[string]any{"tlsVerify": false}, accept: true, warning: true},
		{name: "mtls-no-client-cert-refused", srv: mutual, tls: map[string]any{"caFile": pki.CAFile}, want: []string{"certificate"}},
		{name: "mtls-untrusted-client-cert-refused", srv: mutual,
			tls:  map[string]any{"caFile": pki.CAFile, "certFile": pki.RogueCert, "keyFile": pki.RogueKey},
			want: []string{"certificate"}},
		{name: "mtls-config-client-cert", srv: mutual, tls: clientTLS, accept: true},
		{name: "mtls-settings-client-cert", srv: mutual,
			settings: map[string]any{"caFile": pki.CAFile, "certFile": pki.ClientCert, "keyFile": pki.ClientKey}, accept: true},
	}
	sims := make([]Sim, len(cases))
	for i, tc := range cases {
		// A header names the case, so a server shared by cases tells them apart.
		cfg := map[string]any{"url": tc.srv.URLFor("ok"), "headers": map[string]string{"X-Test-Case": tc.name}}
		if tc.tls != nil {
			cfg["tls"] = tc.tls
		}
		sims[i] = Sim{Config: mustJSON(t, cfg), Hangup: 1, Timeout: 60 * time.Second}
		if tc.settings != nil {
			sims[i].Settings = mustJSON(t, tc.settings)
		}
	}
	results := RunSims(t, sims)
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := results[i]
			r.MustSucceed(t, 1)
			call := r.Call(t, 0)
			failed := call.EventsNamed("connect_failed")
			warned := strings.Contains(r.Stderr, "[warning] TLS certificate verification is OFF")
			if warned != tc.warning {
				t.Errorf("verification-off warning logged: %v, want %v\nstderr:\n%s", warned, tc.warning, r.Stderr)
			}
			if tc.accept {
				if len(failed) != 0 || call.ReasonString() != "hangup" {
					t.Fatalf("refused: stop reason %s, connect_failed %v, want a connection\n%s",
						call.ReasonString(), fltJSONs(failed), r.Describe())
				}
				if n := len(call.EventsNamed("connect")); n != 1 {
					t.Errorf("%d connect events, want 1", n)
				}
				if frames := len(tlsConnFor(t, tc.srv, tc.name).BinaryFrames()); frames < 49 {
					t.Errorf("the server received %d audio frames over TLS, want about 50", frames)
				}
				if tc.srv == mutual {
					cn := ""
					for _, q := range tc.srv.Requests() {
						if q.Header.Get("X-Test-Case") == tc.name {
							cn = q.PeerCN
						}
					}
					if cn != "switch-1" {
						t.Errorf("the server saw client certificate %q, want switch-1", cn)
					}
				}
				return
			}
			if len(failed) != 1 {
				t.Fatalf("%d connect_failed events, want 1 (stop reason %s)\n%s", len(failed), call.ReasonString(), r.Describe())
			}
			text := failed[0].String("error")
			for _, w := range tc.want {
				if !strings.Contains(text, w) {
					t.Errorf("connect_failed error %q does not mention %q", text, w)
				}
			}
			if call.ReasonString() != "connect_failed" {
				t.Errorf("stop reason %s, want connect_failed", call.ReasonString())
			}
			t.Logf("refused: %s", text)
		})
	}
}

// tlsConnFor finds the connection a case made, by its X-Test-Case header,
// once the server has finished with it.
func tlsConnFor(t *testing.T, srv *fltServer, name string) *WSConn {
	t.Helper()
	for _, c := range srv.Conns() {
		if c.Header.Get("X-Test-Case") == name {
			select {
			case <-c.Done():
			case <-time.After(5 * time.Second):
				t.Errorf("connection of case %s still open 5 s after the call", name)
			}
			return c
		}
	}
	t.Fatalf("no connection for case %s", name)
	return nil
}

// TestTLSHeaders: extra upgrade headers ("headers" in the listen config, and
// the headers setting for every stream) arrive on the upgrade request, over
// ws:// and wss://; the config's keys win over the setting's, the others merge.
func TestTLSHeaders(t *testing.T) {
	t.Parallel()
	pki := tlsNewPKI(t)
	plain := fltNewServer(t, nil)
	secure := fltNewServer(t, pki.tlsServerConfig(pki.Server, false))
	cases := []struct {
		name     string
		srv      *fltServer
		config   map[string]any
		settings map[string]any
		want     map[string]string
	}{
		{name: "config-bearer", srv: plain,
			config: map[string]any{"headers": map[string]string{"Authorization": "Bearer tok123"}},
			want:   map[string]string{"Authorization": "Bearer tok123"}},
		{name: "settings-bearer", srv: plain,
			settings: map[string]any{"headers": map[string]string{"Authorization": "Bearer tok123"}},
			want:     map[string]string{"Authorization": "Bearer tok123"}},
		{name: "merged", srv: plain,
			settings: map[string]any{"headers": map[string]string{"Authorization": "Bearer old", "X-Team": "sales"}},
			config:   map[string]any{"headers": map[string]string{"Authorization": "Bearer tok123"}},
			want:     map[string]string{"Authorization": "Bearer tok123", "X-Team": "sales"}},
		{name: "wss-bearer", srv: secure,
			config: map[string]any{"headers": map[string]string{"Authorization": "Bearer tok123"},
				"tls": map[string]any{"caFile": pki.CAFile}},
			want: map[string]string{"Authorization": "Bearer tok123"}},
	}
	sims := make([]Sim, len(cases))
	for i, tc := range cases {
		cfg := map[string]any{"url": tc.srv.URLFor("ok")}
		for k, v := range tc.config {
			cfg[k] = v
		}
		h, _ := cfg["headers"].(map[string]string)
		hh := map[string]string{"X-Test-Case": tc.name}
		for k, v := range h {
			hh[k] = v
		}
		cfg["headers"] = hh
		sims[i] = Sim{Config: mustJSON(t, cfg), Hangup: 0.5, QuietLog: true}
		if tc.settings != nil {
			sims[i].Settings = mustJSON(t, tc.settings)
		}
	}
	results := RunSims(t, sims)
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := results[i]
			r.MustSucceed(t, 1)
			if call := r.Call(t, 0); call.ReasonString() != "hangup" {
				t.Fatalf("stop reason %s, want hangup\n%s", call.ReasonString(), r.Describe())
			}
			c := tlsConnFor(t, tc.srv, tc.name)
			for k, v := range tc.want {
				if got := c.Header.Values(k); len(got) != 1 || got[0] != v {
					t.Errorf("header %s: %q, want exactly %q", k, got, v)
				}
			}
		})
	}
}

// TestTLSHeadersReserved: headers the WebSocket handshake sets itself
// (Upgrade, Connection, Sec-WebSocket-*) cannot be sent as extra headers
// (the handshake would carry two of each, and the dial refuses it). A config
// or setting that gives one is refused when the listen is created, naming
// the header, like any other invalid key; it is not accepted only to fail
// every connection with connect_failed.
func TestTLSHeadersReserved(t *testing.T) {
	t.Parallel()
	srv := fltNewServer(t, nil)
	reserved := []string{"Upgrade", "Connection", "Sec-WebSocket-Key", "Sec-WebSocket-Version",
		"Sec-WebSocket-Protocol", "Sec-WebSocket-Extensions"}
	var sims []Sim
	for _, h := range reserved {
		sims = append(sims,
			Sim{Config: mustJSON(t, map[string]any{"url": srv.URLFor("ok"), "headers": map[string]string{h: "x"}}),
				Hangup: 0.3, QuietLog: true},
			Sim{Config: mustJSON(t, map[string]any{"url": srv.URLFor("ok")}),
				Settings: mustJSON(t, map[string]any{"headers": map[string]string{h: "x"}}), Hangup: 0.3, QuietLog: true})
	}
	results := RunSims(t, sims)
	for i, r := range results {
		h, where := reserved[i/2], []string{"config", "settings"}[i%2]
		t.Run(where+"-"+h, func(t *testing.T) {
			if r.ExitCode != 2 {
				var events string
				if len(r.Calls) > 0 {
					events = strings.Join(fltJSONs(r.Calls[0].Events), "; ")
				}
				t.Fatalf("switchsim exited %d, want 2 (the %s refused); events: %s", r.ExitCode, where, events)
			}
			text := r.Stderr
			if len(r.Calls) > 0 && r.Calls[0].Error != "" {
				text = r.Calls[0].Error
			}
			if !strings.Contains(text, "headers") || !strings.Contains(strings.ToLower(text), strings.ToLower(h)) {
				t.Errorf("error %q does not name \"headers\" and %s", text, h)
			}
		})
	}
}
