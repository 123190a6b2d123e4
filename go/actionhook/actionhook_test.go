package actionhook

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modlisten/mod_listen/go/config"
)

type seen struct {
	method, path, contentType, body string
	user, pass                      string
	hasAuth                         bool
}

// recorder answers every request with status and answer, remembering what it got.
func recorder(t *testing.T, status int, answer string) (*httptest.Server, *[]seen, *sync.Mutex) {
	t.Helper()
	var mu sync.Mutex
	var got []seen
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		u, p, ok := r.BasicAuth()
		mu.Lock()
		got = append(got, seen{r.Method, r.URL.Path, r.Header.Get("Content-Type"), string(b), u, p, ok})
		mu.Unlock()
		w.WriteHeader(status)
		io.WriteString(w, answer)
	}))
	t.Cleanup(srv.Close)
	return srv, &got, &mu
}

const payload = `{"reason":"hangup","duration":12.5,"digits":"#"}`

func TestPostsJSONOnce(t *testing.T) {
	srv, got, _ := recorder(t, 200, `{"ok":true}`)
	h := &config.Hook{URL: srv.URL + "/hook/listen", Method: "POST"}
	res, err := Post(context.Background(), h, []byte(payload), 2*time.Second, 2)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != 200 || string(res.Body) != `{"ok":true}` || res.Attempts != 1 {
		t.Fatalf("result %+v (body %s)", res, res.Body)
	}
	if len(*got) != 1 {
		t.Fatalf("%d requests, want 1", len(*got))
	}
	r := (*got)[0]
	if r.method != "POST" || r.path != "/hook/listen" || r.contentType != "application/json" || r.body != payload || r.hasAuth {
		t.Fatalf("request %+v", r)
	}
}

func TestBasicAuth(t *testing.T) {
	srv, got, _ := recorder(t, 200, "")
	h := &config.Hook{URL: srv.URL, Method: "POST", Username: "app", Password: "pa:ss"}
	if _, err := Post(context.Background(), h, []byte(payload), 2*time.Second, 0); err != nil {
		t.Fatal(err)
	}
	if r := (*got)[0]; !r.hasAuth || r.user != "app" || r.pass != "pa:ss" {
		t.Fatalf("auth %+v", r)
	}
}

func TestPut(t *testing.T) {
	srv, got, _ := recorder(t, 204, "")
	h := &config.Hook{URL: srv.URL, Method: "PUT"}
	res, err := Post(context.Background(), h, []byte(payload), 2*time.Second, 0)
	if err != nil {
		t.Fatal(err)
	}
	if r := (*got)[0]; r.method != "PUT" || r.body != payload {
		t.Fatalf("request %+v", r)
	}
	if res.Status != 204 || len(res.Body) != 0 {
		t.Fatalf("%+v", res)
	}
}

func TestHTTPErrorIsAnAnswer(t *testing.T) {
	srv, got, _ := recorder(t, 500, "boom")
	h := &config.Hook{URL: srv.URL, Method: "POST"}
	res, err := Post(context.Background(), h, []byte(payload), 2*time.Second, 3)
	if err != nil {
		t.Fatalf("HTTP 500 gave an error: %v", err)
	}
	if res.Status != 500 || string(res.Body) != "boom" || res.Attempts != 1 || len(*got) != 1 {
		t.Fatalf("result %+v, %d requests", res, len(*got))
	}
}

func TestRedirectNotFollowed(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/elsewhere" {
			t.Error("redirect was followed")
		}
		http.Redirect(w, r, "/elsewhere", http.StatusFound)
	}))
	defer srv.Close()
	res, err := Post(context.Background(), &config.Hook{URL: srv.URL + "/x", Method: "POST"}, []byte(payload), 2*time.Second, 0)
	if err != nil || res.Status != 302 {
		t.Fatalf("%+v %v", res, err)
	}
}

// flaky closes the connection without an answer for the first `fail` requests.
func flaky(t *testing.T, fail int32) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body)
		if n.Add(1) <= fail {
			c, _, err := w.(http.Hijacker).Hijack()
			if err != nil {
				t.Error(err)
				return
			}
			c.Close()
			return
		}
		io.WriteString(w, "finally")
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func TestRetriesNetworkErrors(t *testing.T) {
	srv, n := flaky(t, 2)
	res, err := Post(context.Background(), &config.Hook{URL: srv.URL, Method: "POST"}, []byte(payload), 5*time.Second, 2)
	if err != nil {
		t.Fatalf("after 2 dropped connections and 2 retries: %v", err)
	}
	if res.Status != 200 || string(res.Body) != "finally" || res.Attempts != 3 || n.Load() != 3 {
		t.Fatalf("result %+v, server saw %d", res, n.Load())
	}
}

func TestRetriesAreBounded(t *testing.T) {
	srv, n := flaky(t, 100)
	res, err := Post(context.Background(), &config.Hook{URL: srv.URL, Method: "POST"}, []byte(payload), 5*time.Second, 1)
	if err == nil {
		t.Fatalf("no error: %+v", res)
	}
	if res.Attempts != 2 || n.Load() != 2 {
		t.Fatalf("attempts %d, server saw %d; want 2 (1 + 1 retry)", res.Attempts, n.Load())
	}
	if !strings.HasPrefix(err.Error(), "action hook "+srv.URL) || !strings.HasSuffix(err.Error(), "(2 attempts)") {
		t.Fatalf("error %q", err)
	}
	if strings.Contains(err.Error(), "no answer within") {
		t.Fatalf("a refused/dropped connection is not a timeout: %q", err)
	}
}

func TestNoRetries(t *testing.T) {
	srv, n := flaky(t, 100)
	res, err := Post(context.Background(), &config.Hook{URL: srv.URL, Method: "POST"}, []byte(payload), 5*time.Second, 0)
	if err == nil || res.Attempts != 1 || n.Load() != 1 {
		t.Fatalf("retries 0: %+v %v, server saw %d", res, err, n.Load())
	}
}

// silent accepts requests and never answers (until the test ends).
func silent(t *testing.T) *httptest.Server {
	t.Helper()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(func() { close(release); srv.Close() })
	return srv
}

func TestTimeout(t *testing.T) {
	srv := silent(t)
	const timeout = 300 * time.Millisecond
	start := time.Now()
	res, err := Post(context.Background(), &config.Hook{URL: srv.URL, Method: "POST"}, []byte(payload), timeout, 2)
	took := time.Since(start)
	if err == nil {
		t.Fatalf("a hook that never answers gave %+v", res)
	}
	if took > 3*timeout {
		t.Fatalf("returned after %v, timeout %v", took, timeout)
	}
	if !strings.Contains(err.Error(), "no answer within 300ms") {
		t.Fatalf("error %q does not say 'no answer within 300ms'", err)
	}
	if res.Attempts != 1 {
		t.Fatalf("attempts %d: a timed-out attempt is not retried", res.Attempts)
	}
}

func TestParentContextCancel(t *testing.T) {
	srv := silent(t)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, err := Post(ctx, &config.Hook{URL: srv.URL, Method: "POST"}, []byte(payload), 10*time.Second, 2)
	if err == nil || time.Since(start) > 3*time.Second {
		t.Fatalf("cancel: %v after %v", err, time.Since(start))
	}
}

func TestBodyLimit(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 100<<10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(big) }))
	defer srv.Close()
	res, err := Post(context.Background(), &config.Hook{URL: srv.URL, Method: "POST"}, nil, 2*time.Second, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Body) != 64<<10 {
		t.Fatalf("kept %d bytes of the answer, want %d", len(res.Body), 64<<10)
	}
}

func TestErrorsHidePassword(t *testing.T) {
	secretURL := func(srvURL string) string {
		return strings.Replace(srvURL, "http://", "http://user:secret@", 1) + "/hook?token=tok123"
	}
	check := func(name string, err error) {
		t.Helper()
		if err == nil {
			t.Fatalf("%s: no error", name)
		}
		for _, s := range []string{"secret", "tok123", "user:"} {
			if strings.Contains(err.Error(), s) {
				t.Errorf("%s: error %q contains %q", name, err, s)
			}
		}
	}
	// Dropped connections.
	srv, _ := flaky(t, 100)
	_, err := Post(context.Background(), &config.Hook{URL: secretURL(srv.URL), Method: "POST"}, nil, 5*time.Second, 1)
	check("dropped", err)
	// Timeout.
	_, err = Post(context.Background(), &config.Hook{URL: secretURL(silent(t).URL), Method: "POST"}, nil, 200*time.Millisecond, 0)
	check("timeout", err)
	// Connection refused: a port nobody listens on.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	_, err = Post(context.Background(), &config.Hook{URL: "http://user:secret@" + addr + "/?token=tok123", Method: "POST"}, nil, 2*time.Second, 0)
	check("refused", err)
	if err != nil && !strings.HasPrefix(err.Error(), "action hook http://"+addr+"/?…: ") {
		t.Errorf("refused: %q", err)
	}
}

func TestURLCredentialsUsedForAuth(t *testing.T) {
	// Not set by Hook.Username: the URL's own user info still authenticates.
	srv, got, _ := recorder(t, 200, "")
	u := strings.Replace(srv.URL, "http://", "http://u1:p1@", 1)
	if _, err := Post(context.Background(), &config.Hook{URL: u, Method: "POST"}, nil, 2*time.Second, 0); err != nil {
		t.Fatal(err)
	}
	if r := (*got)[0]; !r.hasAuth || r.user != "u1" || r.pass != "p1" {
		t.Fatalf("auth %+v", r)
	}
}

func TestCancelIsNotCalledATimeout(t *testing.T) {
	// A cancelled request is not a slow hook: the error must not say "no answer within".
	srv := silent(t)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	_, err := Post(ctx, &config.Hook{URL: srv.URL, Method: "POST"}, nil, 10*time.Second, 2)
	if err == nil || err.Error() != "action hook "+srv.URL+": cancelled (1 attempts)" {
		t.Fatalf("cancelled after 100ms, error says %v", err)
	}
}
