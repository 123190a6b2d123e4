package freeswitch_test

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"text/template"
	"time"
)

// installation is an installed FreeSWITCH.
type installation struct {
	binary     string // bin/freeswitch
	modulesDir string // its modulesdir: the stock modules the test loads
}

const skipMessage = "FreeSWITCH not installed: set FREESWITCH_PREFIX or install freeswitch.pc; skipping"

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
		t.Skip(skipMessage)
	}
	if _, err := os.Stat(inst.binary); err != nil {
		if prefix != "" {
			t.Fatalf("FREESWITCH_PREFIX=%s but %v", prefix, err)
		}
		t.Skip(skipMessage)
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
	"mod_dialplan_xml", "mod_loopback", "mod_sndfile", "mod_tone_stream"}

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

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Switch is a FreeSWITCH started by the test.
type Switch struct {
	Dir     string // its configuration, logs, databases and recordings
	Module  string // mod_listen.so it loaded
	ESL     *ESL   // connection for api commands
	Events  *ESL   // connection subscribed to the events the test watches
	logger  *ESL   // connection receiving the log
	logFile *os.File
	cmd     *exec.Cmd
	outPath string // FreeSWITCH's stdout and stderr
	logPath string // its log at debug level, through the event socket
	exited  chan struct{}
}

type configParams struct {
	ESLPort  int
	WSURL    string // ws://127.0.0.1:port of the test's WebSocket server
	Module   string
	Dir      string
	Password string
}

// startSwitch writes a configuration into a temporary directory and starts
// FreeSWITCH on it; the switch is shut down (killed if need be) when the
// test ends.
func startSwitch(t *testing.T, inst installation, build, wsURL string) *Switch {
	t.Helper()
	dir := t.TempDir()
	for _, sub := range []string{"conf", "log", "db", "run", "temp", "storage", "cache", "recordings"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	p := configParams{ESLPort: freePort(t), WSURL: wsURL, Module: filepath.Join(build, "mod_listen.so"), Dir: dir,
		Password: "ClueCon"}
	for name, tmpl := range map[string]*template.Template{"freeswitch.xml": configTemplate, "listen.conf.xml": listenConf} {
		var conf bytes.Buffer
		if err := tmpl.Execute(&conf, p); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "conf", name), conf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	s := &Switch{Dir: dir, Module: p.Module, outPath: filepath.Join(dir, "freeswitch.out"),
		logPath: filepath.Join(dir, "freeswitch.log"), exited: make(chan struct{})}
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
	t.Cleanup(func() { s.stop(t) })

	addr := fmt.Sprintf("127.0.0.1:%d", p.ESLPort)
	deadline := time.Now().Add(60 * time.Second)
	for {
		if s.ESL, err = dialESL(addr, p.Password, nil); err == nil {
			break
		}
		select {
		case <-s.exited:
			t.Fatalf("FreeSWITCH exited at start: %v\n%s", s.cmd.ProcessState, s.logTail(60))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("FreeSWITCH's event socket did not come up at %s: %v\n%s", addr, err, s.logTail(60))
		}
		time.Sleep(200 * time.Millisecond)
	}
	if s.logFile, err = os.Create(s.logPath); err != nil {
		t.Fatal(err)
	}
	if s.logger, err = dialESL(addr, p.Password, s.logFile); err != nil {
		t.Fatal(err)
	}
	if reply, err := s.logger.command("log 7"); err != nil || !strings.HasPrefix(reply, "+OK") {
		t.Fatalf("log 7: %q %v", reply, err)
	}
	if s.Events, err = dialESL(addr, p.Password, nil); err != nil {
		t.Fatal(err)
	}
	subs := "event plain CHANNEL_HANGUP_COMPLETE RECORD_STOP CUSTOM listen::start listen::connect listen::connect_failed " +
		"listen::disconnect listen::dtmf listen::play_start listen::play_done listen::kill_audio listen::buffer_overrun " +
		"listen::message listen::error listen::stop listen::hook_response listen::hook_failed listen::mark"
	if reply, err := s.Events.command(subs); err != nil || !strings.HasPrefix(reply, "+OK") {
		t.Fatalf("subscribe: %q %v", reply, err)
	}
	return s
}

// stop shuts the switch down through its event socket (which unloads
// mod_listen, stopping the engine) and kills it if it does not end in time.
func (s *Switch) stop(t *testing.T) {
	if s.ESL != nil {
		fmt.Fprintf(s.ESL.conn, "api fsctl shutdown\n\n")
	}
	select {
	case <-s.exited:
	case <-time.After(20 * time.Second):
		t.Errorf("FreeSWITCH did not shut down within 20 s; killed")
		syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.exited
	}
	if st := s.cmd.ProcessState; st != nil && !st.Success() {
		if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			t.Errorf("FreeSWITCH ended by signal %v\n%s", ws.Signal(), s.logTail(80))
		}
	}
	if s.ESL != nil {
		s.ESL.Close()
	}
	for _, c := range []*ESL{s.Events, s.logger} {
		if c != nil {
			c.Close()
		}
	}
	if s.logFile != nil {
		s.logFile.Close()
	}
	if t.Failed() {
		t.Logf("FreeSWITCH log (%s), last lines:\n%s", s.logPath, s.logTail(150))
	}
	if keep := os.Getenv("LISTEN_FS_LOG"); keep != "" {
		if data, err := os.ReadFile(s.logPath); err == nil {
			os.WriteFile(keep, data, 0o644)
		}
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

// listen.conf.xml, included by freeswitch.xml from the same directory.
var listenConf = template.Must(template.New("listen.conf.xml").Parse(`<configuration name="listen.conf" description="mod_listen">
  <settings>
    <param name="logLevel" value="7"/>
    <param name="connectTimeoutMs" value="3000"/>
    <param name="hookTimeoutMs" value="1000"/>
  </settings>
  <profiles>
    <profile name="bot">
      <param name="url" value="{{.WSURL}}/bot"/>
      <param name="sampleRate" value="16000"/>
      <param name="passDtmf" value="true"/>
      <param name="metadata" value='{"case":"blocking","tag":"${listen_test_tag}"}'/>
    </profile>
  </profiles>
</configuration>
`))

// The configuration: the stock modules from the installation, mod_listen by
// its absolute path in the build directory, and the test's dialplan.
//
//	bot      answers and runs the blocking listen with the "bot" profile,
//	         which ends on '#'; then records the outcome and parks
//	opusbot  answers and runs the blocking listen, sending Opus at 16 kHz
//	caller   records what it hears and plays a 1 kHz tone
//	rec      runs listen_start in stereo, with the server's audio played,
//	         and bridges to "agent"
//	agent    plays a 600 Hz tone
var configTemplate = template.Must(template.New("freeswitch.xml").Parse(`<?xml version="1.0"?>
<document type="freeswitch/xml">
  <section name="configuration" description="Various Configuration">
    <configuration name="switch.conf" description="Core Configuration">
      <settings>
        <param name="colorize-console" value="false"/>
        <param name="max-sessions" value="50"/>
        <param name="sessions-per-second" value="50"/>
        <param name="loglevel" value="debug"/>
        <param name="dump-cores" value="no"/>
      </settings>
    </configuration>
    <configuration name="modules.conf" description="Modules">
      <modules>
        <load module="mod_console"/>
        <load module="mod_event_socket"/>
        <load module="mod_commands"/>
        <load module="mod_dptools"/>
        <load module="mod_dialplan_xml"/>
        <load module="mod_loopback"/>
        <load module="mod_sndfile"/>
        <load module="mod_tone_stream"/>
        <load module="{{.Module}}"/>
      </modules>
    </configuration>
    <configuration name="console.conf" description="Console Logger">
      <mappings><map name="all" value="console,debug,info,notice,warning,err,crit,alert"/></mappings>
      <settings><param name="colorize" value="false"/><param name="loglevel" value="debug"/></settings>
    </configuration>
    <configuration name="event_socket.conf" description="Socket Client">
      <settings>
        <param name="nat-map" value="false"/>
        <param name="listen-ip" value="127.0.0.1"/>
        <param name="listen-port" value="{{.ESLPort}}"/>
        <param name="password" value="{{.Password}}"/>
      </settings>
    </configuration>
    <X-PRE-PROCESS cmd="include" data="listen.conf.xml"/>
  </section>
  <section name="dialplan" description="Regex/XML Dialplan">
    <context name="default">
      <extension name="bot">
        <condition field="destination_number" expression="^bot$">
          <action application="answer"/>
          <action application="set" data="listen_test_tag=tag-${uuid}"/>
          <action application="listen" data="profile=bot finishOnKey=#"/>
          <action application="set" data="listen_after=${listen_reason}/${listen_digits}"/>
          <action application="park"/>
        </condition>
      </extension>
      <extension name="opusbot">
        <condition field="destination_number" expression="^opusbot$">
          <action application="answer"/>
          <action application="listen" data='{"url":"{{.WSURL}}/opus","sampleRate":16000,"encoding":"opus"}'/>
          <action application="park"/>
        </condition>
      </extension>
      <extension name="caller">
        <condition field="destination_number" expression="^caller$">
          <action application="set" data="RECORD_READ_ONLY=true"/>
          <action application="record_session" data="{{.Dir}}/recordings/heard-${uuid}.wav"/>
          <action application="playback" data="tone_stream://%(1000,0,1000);loops=-1"/>
        </condition>
      </extension>
      <extension name="rec">
        <condition field="destination_number" expression="^rec$">
          <action application="answer"/>
          <action application="listen_start" data='{"url":"{{.WSURL}}/rec","mixType":"stereo","sampleRate":8000,"passDtmf":true,"bidirectionalAudio":{"enabled":true}}'/>
          <action application="bridge" data="{loopback_bowout=false}loopback/agent/default"/>
        </condition>
      </extension>
      <extension name="agent">
        <condition field="destination_number" expression="^agent$">
          <action application="answer"/>
          <action application="playback" data="tone_stream://%(1000,0,600);loops=-1"/>
        </condition>
      </extension>
    </context>
  </section>
</document>
`))
