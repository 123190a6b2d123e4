package recorder

import (
	"bytes"
	"context"
	"fmt"
	"html"
	"image/png"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/modlisten/mod_listen/go/wav"
)

// chromium finds Debian's chromium, or skips the test saying why.
func chromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("chromium is not installed (Debian: apt-get install chromium, which scripts/setup does): " +
		"the page's browser test cannot run")
	return ""
}

// headless runs chromium on url with the extra flags and returns stdout.
func headless(t *testing.T, bin string, url string, flags ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--no-first-run", "--user-data-dir=" + t.TempDir(), "--window-size=1200,900"}, flags...)
	cmd := exec.CommandContext(ctx, bin, append(args, url)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %s: %v\n%s", url, err, stderr.String())
	}
	return stdout.String()
}

// artifacts is where the screenshots go: $LISTEN_ARTIFACTS, else
// artifacts/ in the build directory.
func artifacts(t *testing.T) string {
	dir := os.Getenv("LISTEN_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(buildDir(t), "artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func get(t *testing.T, url string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: HTTP %d %s", url, resp.StatusCode, b)
	}
	return resp, b
}

// TestPageInBrowser: headless Chromium loads the list of recordings and a
// recording's page. The list holds the calls newest first and its search
// finds one by a metadata value; the recording's audio element plays a
// WAV of the call; the waveforms are PNGs showing the audio; screenshots of
// both pages are saved as artifacts.
func TestPageInBrowser(t *testing.T) {
	t.Parallel()
	bin := chromium(t)
	const rate = 8000
	srv := startRecorder(t)
	caller := writeWAV(t, "caller.wav", rate, tone(rate, 440, 1.5))
	for i, customer := range []string{"ACME Rockets", "Globex"} {
		cfg := mustJSON(map[string]any{"url": srv.URL, "metadata": map[string]any{"customer": customer}})
		runSim(t, "--config", cfg, "--caller", caller,
			"--call", fmt.Sprintf(`{"callSid":"page-call-%d","from":"+1555010%d","to":"+15550199"}`, i+1, i+1))
		srv.waitRecordings(t, i+1)
	}

	all := headless(t, bin, srv.HTTP+"/", "--dump-dom")
	first, second := strings.Index(all, "page-call-1"), strings.Index(all, "page-call-2")
	if first < 0 || second < 0 || second > first {
		t.Errorf("the list does not show page-call-2 then page-call-1 (at %d, %d):\n%s", second, first, all)
	}
	found := headless(t, bin, srv.HTTP+"/?q=acme", "--dump-dom")
	if !strings.Contains(found, "page-call-1") || strings.Contains(found, "page-call-2") {
		t.Errorf("searching \"acme\" (a metadata value) does not list page-call-1 alone:\n%s", found)
	}
	headless(t, bin, srv.HTTP+"/", "--screenshot="+filepath.Join(artifacts(t), "recordings-list.png"))

	link := regexp.MustCompile(`href="(/recordings/[0-9/]+-[0-9a-f]+)"`).FindStringSubmatch(found)
	if link == nil {
		t.Fatalf("no recording link in the list:\n%s", found)
	}
	page := headless(t, bin, srv.HTTP+link[1], "--dump-dom")
	src := regexp.MustCompile(`<audio[^>]*\bsrc="([^"]+)"`).FindStringSubmatch(page)
	if src == nil {
		t.Fatalf("no <audio src> on the recording's page:\n%s", page)
	}
	resp, body := get(t, srv.HTTP+html.UnescapeString(src[1]))
	a, err := wav.Parse(body)
	if ct := resp.Header.Get("Content-Type"); ct != "audio/wav" || err != nil || !bytes.HasPrefix(body, []byte("RIFF")) {
		t.Fatalf("the audio source %s is %s, %d bytes (%v): want a WAV", src[1], ct, len(body), err)
	}
	if a.Rate != rate || len(a.Samples) < rate*14/10 || len(a.Samples) > rate*16/10 {
		t.Errorf("the audio source is %d Hz, %d samples: want the 1.5 s call", a.Rate, len(a.Samples))
	}
	for _, want := range []string{"page-call-1", "+15550101", "ACME Rockets", "closed"} {
		if !strings.Contains(page, want) {
			t.Errorf("the recording's page does not show %q", want)
		}
	}
	imgs := regexp.MustCompile(`<img[^>]*\bsrc="([^"]+\.png)"`).FindAllStringSubmatch(page, -1)
	if len(imgs) != 1 {
		t.Fatalf("%d waveform images on a mono recording's page, want 1", len(imgs))
	}
	_, b := get(t, srv.HTTP+html.UnescapeString(imgs[0][1]))
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("waveform: %v", err)
	}
	// The tone (a quarter of full scale) fills the call: every column is
	// drawn from the middle to 10 pixels away, and not near the top.
	bounds := img.Bounds()
	mid := bounds.Dy() / 2
	for x := bounds.Min.X; x < bounds.Max.X; x++ {
		if img.At(x, mid-10) != img.At(x, mid) || img.At(x, 2) == img.At(x, mid) {
			t.Fatalf("waveform column %d does not show the tone: %v at the middle, %v 10 px above, %v at the top",
				x, img.At(x, mid), img.At(x, mid-10), img.At(x, 2))
		}
	}
	shot := filepath.Join(artifacts(t), "recording-page.png")
	headless(t, bin, srv.HTTP+link[1], "--screenshot="+shot)
	for _, p := range []string{shot, filepath.Join(artifacts(t), "recordings-list.png")} {
		f, err := os.Open(p)
		if err != nil {
			t.Fatalf("screenshot: %v", err)
		}
		if _, err := png.Decode(f); err != nil {
			t.Errorf("screenshot %s: %v", p, err)
		}
		f.Close()
		t.Logf("screenshot: %s", p)
	}
}
