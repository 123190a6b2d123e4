package recorder

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
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// selfSigned writes a certificate for 127.0.0.1 and its key, PEM.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "listen-recorder test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// TestTLSAndToken: over wss:// with a bearer token, a call is recorded;
// a wrong token is refused with 401, and the page needs the token too.
func TestTLSAndToken(t *testing.T) {
	t.Parallel()
	certFile, keyFile, pool := selfSigned(t)
	token := filepath.Join(t.TempDir(), "token")
	os.WriteFile(token, []byte("tok-7f3a\n"), 0o600)
	srv := startRecorder(t, "-tls-cert", certFile, "-tls-key", keyFile, "-token-file", token)
	if !strings.HasPrefix(srv.URL, "wss://") {
		t.Fatalf("listen-recorder with a certificate listens on %s, want wss://", srv.URL)
	}
	cfg := func(tok string) string {
		return mustJSON(map[string]any{"url": srv.URL, "tls": map[string]any{"caFile": certFile},
			"headers": map[string]any{"Authorization": "Bearer " + tok}})
	}
	good := runSim(t, "--config", cfg("tok-7f3a"), "--hangup", "1", "--call", `{"callSid":"tls-1"}`)
	bad := runSim(t, "--config", cfg("tok-7f3b"), "--hangup", "1")
	if good.reason() != "hangup" {
		t.Errorf("with the token the call ended with %s, want hangup", good.reason())
	}
	if f := bad.events("connect_failed"); bad.reason() != "connect_failed" || len(f) != 1 || !strings.Contains(string(f[0]), "HTTP 401") {
		t.Errorf("with a wrong token: %s, %s; want connect_failed with HTTP 401", bad.reason(), f)
	}
	side := srv.waitRecordings(t, 1)[0]
	if side.CallSid != "tls-1" || side.DurationMs < 980 || side.DurationMs > 1020 {
		t.Errorf("recorded callSid %q, %d ms; want tls-1, 1 s", side.CallSid, side.DurationMs)
	}

	https := "https" + strings.TrimPrefix(srv.HTTP, "http")
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 10 * time.Second}
	for _, tc := range []struct {
		auth   string
		status int
	}{{"", 401}, {"Bearer nope", 401}, {"Bearer tok-7f3a", 200}} {
		req, _ := http.NewRequest("GET", https+"/", nil)
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", https, err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("page with Authorization %q: HTTP %d, want %d", tc.auth, resp.StatusCode, tc.status)
		}
	}
}
