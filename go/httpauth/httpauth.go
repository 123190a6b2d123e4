// Package httpauth guards an HTTP server with basic auth, from an
// htpasswd file of bcrypt hashes, and/or a bearer token.
package httpauth

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"

	"golang.org/x/crypto/bcrypt"
)

// Auth accepts a request that carries one of its credentials. With none
// configured it accepts every request.
type Auth struct {
	users map[string][]byte // name -> bcrypt hash
	token []byte
	realm string
	// good remembers credentials that passed: bcrypt costs tens of
	// milliseconds of CPU, and a switch sends the same ones on every call.
	// Only correct ones are kept, so it holds one entry per user at most
	// per password.
	good sync.Map // sha256 of name, NUL, password -> struct{}
}

// New reads the htpasswd file (lines "name:hash", hashes made by
// `htpasswd -B`, i.e. bcrypt; empty path: no users) and the token file (its
// first line is the token; empty path: no token).
func New(htpasswdPath, tokenPath, realm string) (*Auth, error) {
	a := &Auth{users: map[string][]byte{}, realm: realm}
	if htpasswdPath != "" {
		b, err := os.ReadFile(htpasswdPath)
		if err != nil {
			return nil, err
		}
		if err := a.parseHtpasswd(b); err != nil {
			return nil, fmt.Errorf("%s: %v", htpasswdPath, err)
		}
	}
	if tokenPath != "" {
		b, err := os.ReadFile(tokenPath)
		if err != nil {
			return nil, err
		}
		line, _, _ := bytes.Cut(b, []byte("\n"))
		a.token = bytes.TrimSpace(line)
		if len(a.token) == 0 {
			return nil, fmt.Errorf("%s: the token is empty", tokenPath)
		}
	}
	return a, nil
}

func (a *Auth) parseHtpasswd(b []byte) error {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, hash, ok := strings.Cut(line, ":")
		if !ok || name == "" {
			return fmt.Errorf("line %d is not name:hash", n)
		}
		if _, err := bcrypt.Cost([]byte(hash)); err != nil {
			return fmt.Errorf("line %d (%s): only bcrypt hashes are accepted (htpasswd -B): %v", n, name, err)
		}
		a.users[name] = []byte(hash)
	}
	return sc.Err()
}

// Enabled says whether any credential is configured.
func (a *Auth) Enabled() bool { return len(a.users) > 0 || a.token != nil }

// Allowed says whether req carries a valid credential (or none is needed).
func (a *Auth) Allowed(req *http.Request) bool {
	if !a.Enabled() {
		return true
	}
	h := req.Header.Get("Authorization")
	if a.token != nil && len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return subtle.ConstantTimeCompare([]byte(strings.TrimSpace(h[7:])), a.token) == 1
	}
	if name, pass, ok := req.BasicAuth(); ok {
		key := sha256.Sum256([]byte(name + "\x00" + pass))
		if _, ok := a.good.Load(key); ok {
			return true
		}
		if hash, known := a.users[name]; known && bcrypt.CompareHashAndPassword(hash, []byte(pass)) == nil {
			a.good.Store(key, struct{}{})
			return true
		}
	}
	return false
}

// Wrap answers 401 to requests without a valid credential and passes the
// others to next.
func (a *Auth) Wrap(next http.Handler) http.Handler {
	if !a.Enabled() {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if !a.Allowed(req) {
			if len(a.users) > 0 {
				w.Header().Set("WWW-Authenticate", fmt.Sprintf("Basic realm=%q, charset=\"UTF-8\"", a.realm))
			}
			http.Error(w, "401 unauthorized", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, req)
	})
}
