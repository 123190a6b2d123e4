package httpauth

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func TestAuth(t *testing.T) {
	dir := t.TempDir()
	hash, _ := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	htpasswd := filepath.Join(dir, "htpasswd")
	os.WriteFile(htpasswd, []byte("# users\nfs:"+string(hash)+"\n"), 0o600)
	token := filepath.Join(dir, "token")
	os.WriteFile(token, []byte("tok-123\n"), 0o600)
	a, err := New(htpasswd, token, "rec")
	if err != nil {
		t.Fatal(err)
	}
	h := a.Wrap(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok")) }))
	for _, tc := range []struct {
		name   string
		set    func(*http.Request)
		status int
	}{
		{"none", func(*http.Request) {}, 401},
		{"right password", func(r *http.Request) { r.SetBasicAuth("fs", "s3cret") }, 200},
		{"right password again (remembered)", func(r *http.Request) { r.SetBasicAuth("fs", "s3cret") }, 200},
		{"wrong password", func(r *http.Request) { r.SetBasicAuth("fs", "s3cret!") }, 401},
		{"unknown user", func(r *http.Request) { r.SetBasicAuth("root", "s3cret") }, 401},
		{"token", func(r *http.Request) { r.Header.Set("Authorization", "Bearer tok-123") }, 200},
		{"wrong token", func(r *http.Request) { r.Header.Set("Authorization", "Bearer tok-12") }, 401},
	} {
		req := httptest.NewRequest("GET", "/", nil)
		tc.set(req)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tc.status {
			t.Errorf("%s: HTTP %d, want %d", tc.name, rec.Code, tc.status)
		}
		if rec.Code == 401 && rec.Header().Get("WWW-Authenticate") != `Basic realm="rec", charset="UTF-8"` {
			t.Errorf("%s: WWW-Authenticate %q", tc.name, rec.Header().Get("WWW-Authenticate"))
		}
	}

	os.WriteFile(htpasswd, []byte("fs:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n"), 0o600)
	if _, err := New(htpasswd, "", "rec"); err == nil || err.Error() == "" {
		t.Errorf("a SHA1 htpasswd line was accepted")
	} else {
		t.Log(err)
	}
	open, _ := New("", "", "rec")
	if open.Enabled() || !open.Allowed(httptest.NewRequest("GET", "/", nil)) {
		t.Errorf("with no credentials configured, requests must pass")
	}
}
