package recordingpage

import (
	"encoding/binary"
	"image/png"
	"io"
	"log"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/modlisten/mod_listen/go/recorder"
)

// record makes one finished stereo recording in dir through a Recorder:
// 1 s of a tone on the left, silence on the right.
func record(t *testing.T, dir, first string) *recorder.Sidecar {
	t.Helper()
	r, err := recorder.New(recorder.Options{Dir: dir, MinFreeBytes: -1, Log: log.New(io.Discard, "", 0)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(r)
	defer func() { srv.Close(); r.Shutdown() }()
	c, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	c.WriteMessage(websocket.TextMessage, []byte(first))
	for f := range 50 {
		b := make([]byte, 160*4)
		for i := range 160 {
			v := int16(10000 * math.Sin(2*math.Pi*500*float64(f*160+i)/8000))
			binary.LittleEndian.PutUint16(b[4*i:], uint16(v))
		}
		c.WriteMessage(websocket.BinaryMessage, b)
	}
	c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		if _, _, err := c.ReadMessage(); err != nil {
			break
		}
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if s, _ := recorder.List(dir, nil, 0); len(s) > 0 {
			return s[0]
		}
	}
	t.Fatal("no recording")
	return nil
}

func get(h http.Handler, path string) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "http://x"+path, nil))
	return w
}

// TestPages: the list, the search, the recording's page, its WAV, sidecar
// and waveforms; paths that are not recordings are 404, hostile ones
// included, and never read a file outside the directory.
func TestPages(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "rec")
	os.WriteFile(filepath.Join(root, "secret.json"), []byte(`{"id":"x"}`), 0o644)
	os.WriteFile(filepath.Join(root, "secret.wav"), []byte("RIFF-secret"), 0o644)
	s := record(t, dir, `{"sampleRate":8000,"mixType":"stereo","callSid":"pg-1","from":"+1555","to":"+1666","meta":{"deal":"Zebra <b>42</b>"}}`)
	h := Handler(dir)

	list := get(h, "/")
	if list.Code != 200 || !strings.Contains(list.Body.String(), "pg-1") || !strings.Contains(list.Body.String(), "/recordings/"+s.ID) {
		t.Errorf("list: HTTP %d\n%s", list.Code, list.Body)
	}
	for q, want := range map[string]bool{"zebra": true, "ZEBRA%2042": false, "%2B1666": true, "nothing-like-it": false, "pg-": true} {
		found := strings.Contains(get(h, "/?q="+q).Body.String(), "pg-1")
		if found != want {
			t.Errorf("search %q found the recording: %v, want %v", q, found, want)
		}
	}
	page := get(h, "/recordings/"+s.ID).Body.String()
	for _, want := range []string{`<audio id="player" controls preload="metadata" src="/recordings/` + s.ID + `.wav">`,
		`wave-0.png`, `wave-1.png`, "Zebra &lt;b&gt;42&lt;/b&gt;", "caller (left)"} {
		if !strings.Contains(page, want) {
			t.Errorf("recording page lacks %q", want)
		}
	}
	if strings.Contains(page, "<b>42</b>") {
		t.Errorf("metadata reached the page unescaped")
	}
	w := get(h, "/recordings/"+s.ID+".wav")
	if w.Code != 200 || w.Header().Get("Content-Type") != "audio/wav" || w.Body.Len() != 44+8000*4 {
		t.Errorf("WAV: HTTP %d %s, %d bytes", w.Code, w.Header().Get("Content-Type"), w.Body.Len())
	}
	for ch, loud := range []bool{true, false} {
		w := get(h, "/recordings/"+s.ID+"/wave-"+string(rune('0'+ch))+".png")
		img, err := png.Decode(w.Body)
		if err != nil {
			t.Fatalf("waveform %d: %v", ch, err)
		}
		mid := img.Bounds().Dy() / 2
		drawn := img.At(10, mid-10) == img.At(10, mid) || img.At(10, mid+10) == img.At(10, mid)
		if drawn != loud {
			t.Errorf("waveform %d at 10 px from the middle drawn: %v, want %v", ch, drawn, loud)
		}
	}
	for _, p := range []string{"/recordings/../secret.json", "/recordings/..%2Fsecret.wav", "/recordings/" + s.ID + "/../../../../../secret.wav",
		"/recordings/2026/01/01/000000-000000000000.wav", "/recordings/" + s.ID + "/wave-2.png", "/recordings/" + s.ID + "/wave--1.png",
		"/recordings//etc/passwd", "/etc/passwd", "/recordings/" + strings.Repeat("../", 8) + "etc/passwd"} {
		if w := get(h, p); w.Code != 404 || strings.Contains(w.Body.String(), "secret") || strings.Contains(w.Body.String(), "root:") {
			t.Errorf("%s: HTTP %d %q, want 404", p, w.Code, w.Body.String())
		}
	}
	if w := get(h, "/recordings/"+s.ID+".json"); w.Code != 200 || !strings.Contains(w.Body.String(), `"callSid": "pg-1"`) {
		t.Errorf("sidecar: HTTP %d %s", w.Code, w.Body)
	}
}
