package freeswitch_test

import (
	"fmt"
	"math/rand"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/modlisten/mod_listen/tests/freeswitch/fsconfig"
)

// installation is an installed FreeSWITCH.
type installation struct {
	binary     string // bin/freeswitch
	modulesDir string // its modulesdir: the stock modules the test loads
}

const skipMessage = "FreeSWITCH not installed: set FREESWITCH_PREFIX or install freeswitch.pc; skipping"

// skipTest skips, except on CI with FreeSWITCH installed: there every
// FreeSWITCH test must run, and one that would skip fails instead.
func skipTest(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("CI") != "" && freeswitchInstalled() {
		t.Fatalf("CI is set and FreeSWITCH is installed (pkg-config freeswitch, or /usr/local/freeswitch), so this test may not skip; it would have skipped because: %s", why)
	}
	t.Skip(why)
}

// freeswitchInstalled: pkg-config knows it, or it is where ../shared/freeswitch/install puts it.
func freeswitchInstalled() bool {
	if exec.Command("pkg-config", "--exists", "freeswitch").Run() == nil {
		return true
	}
	_, err := os.Stat("/usr/local/freeswitch/bin/freeswitch")
	return err == nil
}

// findFreeSWITCH asks pkg-config (with $FREESWITCH_PREFIX/lib/pkgconfig first
// when that is set) where FreeSWITCH is, and skips the test when it is not.
func findFreeSWITCH(t *testing.T) installation {
	t.Helper()
	prefix := os.Getenv("FREESWITCH_PREFIX")
	env := os.Environ()
	if prefix != "" {
		env = append(env, "PKG_CONFIG_PATH="+filepath.Join(prefix, "lib", "pkgconfig")+":"+os.Getenv("PKG_CONFIG_PATH"))
	}
	variable := func(name string) string {
		cmd := exec.Command("pkg-config", "--variable="+name, "freeswitch")
		cmd.Env = env
		out, err := cmd.Output()
		if err != nil {
			return ""
		}
		return strings.TrimSpace(string(out))
	}
	inst := installation{modulesDir: variable("modulesdir")}
	if bindir := variable("bindir"); bindir != "" {
		inst.binary = filepath.Join(bindir, "freeswitch")
	}
	if prefix != "" {
		if inst.modulesDir == "" {
			inst.modulesDir = filepath.Join(prefix, "lib", "freeswitch", "mod")
		}
		if inst.binary == "" {
			inst.binary = filepath.Join(prefix, "bin", "freeswitch")
		}
	}
	if inst.binary == "" || inst.modulesDir == "" {
		skipTest(t, skipMessage)
	}
	if _, err := os.Stat(inst.binary); err != nil {
		if prefix != "" {
			t.Fatalf("FREESWITCH_PREFIX=%s but %v", prefix, err)
		}
		skipTest(t, skipMessage)
	}
	for _, m := range requiredModules {
		if _, err := os.Stat(filepath.Join(inst.modulesDir, m+".so")); err != nil {
			t.Fatalf("FreeSWITCH at %s lacks a module the test needs: %v", inst.binary, err)
		}
	}
	return inst
}

// The stock modules the test's calls use.
var requiredModules = []string{"mod_console", "mod_event_socket", "mod_commands", "mod_dptools",
	"mod_dialplan_xml", "mod_loopback", "mod_sndfile", "mod_tone_stream", "mod_sofia", "mod_opus"}

// buildDir is where mod_listen.so and liblisten.so were built:
// $LISTEN_BUILD_DIR, else ../../build. A missing module is a failure, since
// FreeSWITCH is installed: configure with -DFREESWITCH_PREFIX and build.
func buildDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("LISTEN_BUILD_DIR")
	if dir == "" {
		dir = filepath.Join("..", "..", "build")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"mod_listen.so", "liblisten.so"} {
		if _, err := os.Stat(filepath.Join(abs, f)); err != nil {
			t.Fatalf("%v: build with cmake -S . -B build -DFREESWITCH_PREFIX=<prefix> && cmake --build build "+
				"(or set LISTEN_BUILD_DIR)", err)
		}
	}
	return abs
}

// freePort is a TCP port nobody listens on now (the switch binds it moments later).
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// freeUDPPort is a port free for both TCP and UDP (SIP uses both).
func freeUDPPort(t testing.TB) int {
	t.Helper()
	for i := 0; i < 50; i++ {
		port := freePort(t)
		if c, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			c.Close()
			return port
		}
	}
	t.Fatal("no port free for both TCP and UDP")
	return 0
}

// Switch is a FreeSWITCH started by the tests, shared by all of them.
type Switch struct {
	Dir     string // its configuration, logs, databases and recordings
	Module  string // mod_listen.so it loaded
	Media   string // WAV files the dialplan plays
	UASPort int    // SIP port of the "uas" profile, which runs the listens
	ESL     *ESL   // the first connection, which saw the switch come up
	Events  *ESL   // connection subscribed to the events the tests watch
	addr    string // the event socket
	api     chan *ESL
	logger  *ESL // connection receiving the log
	logFile *os.File
	cmd     *exec.Cmd
	outPath string // FreeSWITCH's stdout and stderr
	logPath string // its log at debug level, through the event socket
	exited  chan struct{}
}

// RTP ranges for the tests' FreeSWITCH: above the default range (16384 to
// 32768) that other FreeSWITCHes on the machine use, one per test run at a
// time. FreeSWITCH binds RTP ports without checking that no other process
// has them, and the newest socket on a port takes its packets: two switches
// with one range steal each other's audio.
const (
	rtpBase   = 33000
	rtpPorts  = 2000
	rtpRanges = 15
)

// rtpRange claims a range no other run of these tests on the machine holds,
// with a lock kept until the process ends, and returns its first port.
func rtpRange(t testing.TB) int {
	t.Helper()
	for _, k := range rand.Perm(rtpRanges) {
		f, err := os.OpenFile(filepath.Join(os.TempDir(), fmt.Sprintf("listen-freeswitch-rtp-%d.lock", k)), os.O_CREATE|os.O_RDWR, 0o666)
		if err != nil {
			t.Fatal(err)
		}
		if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil {
			rtpLock = f // held, open, for the life of the process
			return rtpBase + k*rtpPorts
		}
		f.Close()
	}
	t.Fatalf("all %d RTP ranges from %d are held by other runs of these tests", rtpRanges, rtpBase)
	return 0
}

var rtpLock *os.File

// The switch and the WebSocket server every test shares: starting a
// FreeSWITCH takes seconds, and calls in parallel on one switch are what it
// is built for.
var shared struct {
	once   sync.Once
	fs     *Switch
	srv    *WSServer
	failed string // why the start failed, for every test that asks
}

// TestMain shuts the shared switch down once every test has run.
func TestMain(m *testing.M) {
	code := m.Run()
	if shared.fs != nil {
		shared.fs.stop(code != 0)
	}
	if shared.srv != nil {
		shared.srv.Close()
	}
	os.Exit(code)
}

// env is the shared switch and server, started by the first test that asks;
// without FreeSWITCH the test is skipped.
func env(t *testing.T) (*Switch, *WSServer) {
	t.Helper()
	inst := findFreeSWITCH(t)
	build := buildDir(t)
	shared.once.Do(func() {
		boot := &bootT{}
		func() {
			defer func() {
				if r := recover(); r != nil && r != errBootFailed {
					panic(r)
				}
			}()
			shared.srv = newWSServer()
			shared.fs = startSwitch(boot, inst, build, shared.srv.URL)
		}()
		shared.failed = boot.failure
	})
	if shared.failed != "" {
		t.Fatalf("FreeSWITCH did not start: %s", shared.failed)
	}
	return shared.fs, shared.srv
}

// bootT is the testing.TB the shared start reports to: its failure is told
// to each test that needs the switch.
type bootT struct {
	testing.TB
	failure string
}

var errBootFailed = fmt.Errorf("FreeSWITCH start failed")

func (b *bootT) Helper()                         {}
func (b *bootT) Logf(format string, args ...any) {}
func (b *bootT) Fatal(args ...any)               { b.failure = fmt.Sprint(args...); panic(errBootFailed) }
func (b *bootT) Fatalf(format string, args ...any) {
	b.failure = fmt.Sprintf(format, args...)
	panic(errBootFailed)
}
func (b *bootT) TempDir() string {
	dir, err := os.MkdirTemp("", "listen-freeswitch-")
	if err != nil {
		b.Fatal(err)
	}
	return dir
}

// startSwitch writes a configuration into a temporary directory and starts
// FreeSWITCH on it.
func startSwitch(t testing.TB, inst installation, build, wsURL string) *Switch {
	t.Helper()
	dir := t.TempDir()
	for _, sub := range []string{"conf", "log", "db", "run", "temp", "storage", "cache", "recordings", "media"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	rtp := rtpRange(t)
	p := fsconfig.Params{ESLPort: freePort(t), UASPort: freeUDPPort(t), UACPort: freeUDPPort(t), RTPStart: rtp, RTPEnd: rtp + rtpPorts - 1,
		WSURL: wsURL, Module: filepath.Join(build, "mod_listen.so"), Modules: requiredModules, Dir: dir,
		Media: filepath.Join(dir, "media"), Password: "ClueCon"}
	p.Profiles = map[string]int{"uas": p.UASPort, "uac": p.UACPort}
	if err := writeMedia(p.Media); err != nil {
		t.Fatal(err)
	}
	if err := fsconfig.Write(filepath.Join(dir, "conf"), p); err != nil {
		t.Fatal(err)
	}

	s := &Switch{Dir: dir, Module: p.Module, Media: p.Media, UASPort: p.UASPort, outPath: filepath.Join(dir, "freeswitch.out"),
		logPath: filepath.Join(dir, "freeswitch.log"), exited: make(chan struct{}), api: make(chan *ESL, 128)}
	out, err := os.Create(s.outPath)
	if err != nil {
		t.Fatal(err)
	}
	s.cmd = exec.Command(inst.binary, "-nonat", "-nc", "-nf",
		"-mod", inst.modulesDir,
		"-conf", filepath.Join(dir, "conf"), "-log", filepath.Join(dir, "log"), "-db", filepath.Join(dir, "db"),
		"-run", filepath.Join(dir, "run"), "-temp", filepath.Join(dir, "temp"),
		"-storage", filepath.Join(dir, "storage"), "-cache", filepath.Join(dir, "cache"),
		"-recordings", filepath.Join(dir, "recordings"))
	s.cmd.Stdout, s.cmd.Stderr = out, out
	// liblisten.so must be found through mod_listen.so's rpath alone.
	s.cmd.Env = withoutEnv(os.Environ(), "LD_LIBRARY_PATH")
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start FreeSWITCH: %v", err)
	}
	go func() {
		s.cmd.Wait()
		out.Close()
		close(s.exited)
	}()
	// A start that fails half way leaves no FreeSWITCH behind.
	started := false
	defer func() {
		if !started {
			s.kill()
		}
	}()

	s.addr = fmt.Sprintf("127.0.0.1:%d", p.ESLPort)
	deadline := time.Now().Add(60 * time.Second)
	for {
		if s.ESL, err = dialESL(s.addr, p.Password, nil); err == nil {
			break
		}
		select {
		case <-s.exited:
			t.Fatalf("FreeSWITCH exited at start: %v\n%s", s.cmd.ProcessState, s.logTail(60))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("FreeSWITCH's event socket did not come up at %s: %v\n%s", s.addr, err, s.logTail(60))
		}
		time.Sleep(200 * time.Millisecond)
	}
	if s.logFile, err = os.Create(s.logPath); err != nil {
		t.Fatal(err)
	}
	if s.logger, err = dialESL(s.addr, p.Password, s.logFile); err != nil {
		t.Fatal(err)
	}
	if reply, err := s.logger.command("log 7"); err != nil || !strings.HasPrefix(reply, "+OK") {
		t.Fatalf("log 7: %q %v", reply, err)
	}
	if s.Events, err = dialESL(s.addr, p.Password, nil); err != nil {
		t.Fatal(err)
	}
	subs := "event plain CHANNEL_ANSWER CHANNEL_HANGUP_COMPLETE RECORD_STOP CUSTOM listen::start listen::connect listen::connect_failed " +
		"listen::disconnect listen::dtmf listen::play_start listen::play_done listen::kill_audio listen::buffer_overrun " +
		"listen::message listen::error listen::stop listen::hook_response listen::hook_failed listen::mark " +
		"listen::transcription listen::transcription_error"
	if reply, err := s.Events.command(subs); err != nil || !strings.HasPrefix(reply, "+OK") {
		t.Fatalf("subscribe: %q %v", reply, err)
	}
	// Both profiles up, or no call can be placed.
	for deadline := time.Now().Add(20 * time.Second); ; {
		out, _ := s.ESL.command("api sofia status")
		if strings.Contains(out, "uas") && strings.Contains(out, "uac") && strings.Count(out, "RUNNING") >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the sofia profiles did not start:\n%s\n%s", out, s.logTail(80))
		}
		time.Sleep(200 * time.Millisecond)
	}
	started = true
	return s
}

// API runs an api command on a connection of its own, so that tests running
// in parallel do not wait for each other's commands (an originate blocks its
// connection until the call is answered).
func (s *Switch) API(t testing.TB, cmd string) string {
	t.Helper()
	out, err := s.tryAPI(cmd)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// tryAPI is API for goroutines that are not the test's.
func (s *Switch) tryAPI(cmd string) (string, error) {
	var c *ESL
	select {
	case c = <-s.api:
	default:
		var err error
		if c, err = dialESL(s.addr, "ClueCon", nil); err != nil {
			return "", fmt.Errorf("event socket: %v", err)
		}
	}
	out, err := c.command("api " + cmd)
	if err != nil {
		c.Close()
		return "", fmt.Errorf("api %s: %v", cmd, err)
	}
	select {
	case s.api <- c:
	default:
		c.Close()
	}
	return out, nil
}

// kill ends the switch's process group, unless it has exited already.
func (s *Switch) kill() {
	select {
	case <-s.exited:
		return
	default:
	}
	syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	<-s.exited
}

// stop shuts the switch down through its event socket (which unloads
// mod_listen, stopping the engine) and kills it if it does not end in time.
// It reports on stderr: no test is running any more.
func (s *Switch) stop(failed bool) {
	if c, err := dialESL(s.addr, "ClueCon", nil); err == nil {
		fmt.Fprintf(c.conn, "api fsctl shutdown\n\n")
		defer c.Close()
	}
	select {
	case <-s.exited:
	case <-time.After(20 * time.Second):
		fmt.Fprintf(os.Stderr, "FAIL: FreeSWITCH did not shut down within 20 s; killed\n")
		failed = true
		s.kill()
	}
	if st := s.cmd.ProcessState; st != nil && !st.Success() {
		if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() != syscall.SIGKILL {
			fmt.Fprintf(os.Stderr, "FAIL: FreeSWITCH ended by signal %v\n%s", ws.Signal(), s.logTail(80))
			failed = true
			defer os.Exit(1)
		}
	}
	for _, c := range []*ESL{s.ESL, s.Events, s.logger} {
		if c != nil {
			c.Close()
		}
	}
	close(s.api)
	for c := range s.api {
		c.Close()
	}
	if s.logFile != nil {
		s.logFile.Close()
	}
	if failed {
		fmt.Fprintf(os.Stderr, "FreeSWITCH log (%s), last lines:\n%s", s.logPath, s.logTail(150))
	}
	if keep := os.Getenv("LISTEN_FS_LOG"); keep != "" {
		if data, err := os.ReadFile(s.logPath); err == nil {
			os.WriteFile(keep, data, 0o644)
		}
	}
	if !failed {
		os.RemoveAll(s.Dir)
	}
}

// logTail is the end of the log and of FreeSWITCH's own output.
func (s *Switch) logTail(n int) string {
	var b strings.Builder
	for _, path := range []string{s.logPath, s.outPath} {
		data, _ := os.ReadFile(path)
		lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
		if len(lines) > n {
			lines = lines[len(lines)-n:]
		}
		fmt.Fprintf(&b, "--- %s\n%s\n", path, strings.Join(lines, "\n"))
	}
	return b.String()
}

func withoutEnv(env []string, name string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, name+"=") {
			out = append(out, kv)
		}
	}
	return out
}
