// Command listen-recorder is the call-recording server: it takes listen
// streams over WebSocket, writes each call to a WAV (or Ogg/Opus) file with a JSON sidecar
// in a date tree, and serves a page to find and play the recordings.
//
//	listen-recorder [flags]          record (see -h)
//	listen-recorder repair -dir D    finish the recordings a killed recorder left
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/modlisten/mod_listen/go/httpauth"
	"github.com/modlisten/mod_listen/go/recorder"
	"github.com/modlisten/mod_listen/go/recordingpage"
)

func main() {
	log.SetFlags(log.LstdFlags | log.LUTC)
	if len(os.Args) > 1 && os.Args[1] == "repair" {
		os.Exit(repair(os.Args[2:]))
	}
	os.Exit(serve(os.Args[1:]))
}

func repair(args []string) int {
	fs := flag.NewFlagSet("listen-recorder repair", flag.ExitOnError)
	dir := fs.String("dir", "recordings", "the recordings' directory")
	fs.Parse(args)
	lock, err := recorder.Lock(*dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "listen-recorder repair:", err)
		return 1
	}
	defer lock.Close()
	ids, err := recorder.Repair(*dir)
	for _, id := range ids {
		fmt.Println("repaired", id)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "listen-recorder repair:", err)
		return 1
	}
	fmt.Printf("%d recordings repaired\n", len(ids))
	return 0
}

// size reads a byte count: a number with an optional KiB/MiB/GiB/TiB (or
// K/M/G/T) suffix.
type size int64

func (s *size) String() string { return strconv.FormatInt(int64(*s), 10) }
func (s *size) Set(v string) error {
	mult := int64(1)
	t := strings.TrimSuffix(strings.TrimSpace(v), "B")
	t = strings.TrimSuffix(t, "i")
	for i, u := range []string{"K", "M", "G", "T"} {
		if strings.HasSuffix(t, u) {
			mult = 1 << (10 * (i + 1))
			t = strings.TrimSuffix(t, u)
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(t), 10, 64)
	if err != nil {
		return fmt.Errorf("%q is not a size (e.g. 500MiB, 2GiB, 1048576)", v)
	}
	*s = size(n * mult)
	return nil
}

func serve(args []string) int {
	fs := flag.NewFlagSet("listen-recorder", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:8080", "address to listen on (host:port; port 0 picks one)")
	dir := fs.String("dir", "recordings", "where recordings go: DIR/YYYY/MM/DD/HHMMSS-ID.wav (or .opus) and .json")
	format := fs.String("format", recorder.FormatWAV, "recordings' format: wav (16-bit PCM) or ogg (Ogg/Opus: Opus streams' packets as received, PCM streams encoded)")
	htpasswd := fs.String("htpasswd", "", "htpasswd file of users allowed (bcrypt hashes: htpasswd -B); guards streams and pages")
	tokenFile := fs.String("token-file", "", "file whose first line is a bearer token allowed (Authorization: Bearer …)")
	cert := fs.String("tls-cert", "", "PEM certificate: serve wss:// and https:// (with -tls-key)")
	key := fs.String("tls-key", "", "PEM private key of -tls-cert")
	maxStreams := fs.Int("max-streams", 1000, "concurrent streams; more are refused with HTTP 503")
	maxBytes := size(0)
	fs.Var(&maxBytes, "max-stream-bytes", "audio bytes per recording, then the stream is closed (code 1008) and the recording kept (default: a WAV's 4 GiB)")
	minFree := size(256 << 20)
	fs.Var(&minFree, "min-free-disk", "free disk space under which new streams are refused with HTTP 507 (0: no check)")
	syncEvery := fs.Duration("sync", time.Second, "fsync each recording this often while audio arrives")
	resumeWait := fs.Duration("resume-wait", time.Minute, "how long the file of a dropped stream waits for its reconnection")
	prompt := fs.String("prompt", "", "a 16-bit PCM WAV clip sent back to the stream as playAudio (see -prompt-on)")
	promptOn := fs.String("prompt-on", "start", "when the prompt plays: a comma-separated list of start, dtmf, text")
	page := fs.Bool("page", true, "serve the recordings' web page on the same port")
	fs.Parse(args)

	if (*cert == "") != (*key == "") {
		log.Print("-tls-cert and -tls-key go together")
		return 2
	}
	if minFree == 0 {
		minFree = -1
	}
	opts := recorder.Options{Dir: *dir, Format: *format, SyncEvery: *syncEvery, ResumeWait: *resumeWait, MaxStreams: *maxStreams,
		MaxStreamBytes: int64(maxBytes), MinFreeBytes: int64(minFree)}
	if *prompt != "" {
		b, err := os.ReadFile(*prompt)
		if err != nil {
			log.Print(err)
			return 2
		}
		opts.Prompt = b
		for _, w := range strings.Split(*promptOn, ",") {
			switch strings.TrimSpace(w) {
			case "start":
				opts.PromptOn.Start = true
			case "dtmf":
				opts.PromptOn.DTMF = true
			case "text":
				opts.PromptOn.Text = true
			default:
				log.Printf("-prompt-on: %q is not start, dtmf or text", w)
				return 2
			}
		}
	}
	auth, err := httpauth.New(*htpasswd, *tokenFile, "listen-recorder")
	if err != nil {
		log.Print(err)
		return 2
	}
	lock, err := recorder.Lock(*dir)
	if err != nil {
		log.Print(err)
		return 1
	}
	defer lock.Close()
	if n := recorder.Unfinished(*dir); n > 0 {
		log.Printf("%d unfinished recordings in %s from a recorder that did not stop cleanly: "+
			"stop this one and run `listen-recorder repair -dir %s`", n, *dir, *dir)
	}
	rec, err := recorder.New(opts)
	if err != nil {
		log.Print(err)
		return 2
	}
	var pages http.Handler = http.NotFoundHandler()
	if *page {
		pages = recordingpage.Handler(*dir)
	}
	// One port: upgrades are streams, everything else is the page.
	mux := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if strings.EqualFold(req.Header.Get("Upgrade"), "websocket") {
			rec.ServeHTTP(w, req)
			return
		}
		pages.ServeHTTP(w, req)
	})
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Print(err)
		return 1
	}
	scheme := "ws"
	if *cert != "" {
		scheme = "wss"
	}
	// The first line is for scripts: where to point the listen.
	fmt.Printf("listening %s://%s/\n", scheme, ln.Addr())
	if !auth.Enabled() {
		log.Print("no -htpasswd or -token-file: anyone who can reach the port can record and listen")
	}
	srv := &http.Server{Handler: auth.Wrap(mux), ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() {
		if *cert != "" {
			done <- srv.ServeTLS(ln, *cert, *key)
		} else {
			done <- srv.Serve(ln)
		}
	}()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	select {
	case s := <-sig:
		log.Printf("%v: closing the streams and finishing the recordings", s)
	case err := <-done:
		if !errors.Is(err, http.ErrServerClosed) {
			log.Print(err)
			rec.Shutdown()
			return 1
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(ctx) // upgraded connections are not the server's: Shutdown below ends them
	rec.Shutdown()
	return 0
}
