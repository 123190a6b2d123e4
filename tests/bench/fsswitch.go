package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/modlisten/mod_listen/tests/freeswitch/fsconfig"
)

// fsSwitch is the FreeSWITCH the benchmark starts, with a configuration of
// its own in a scratch directory.
type fsSwitch struct {
	dir    string
	cmd    *exec.Cmd
	addr   string // event socket
	exited chan struct{}
}

// fsInstallation finds the installed FreeSWITCH: $FREESWITCH_PREFIX, then
// pkg-config, then /usr/local/freeswitch (where ../shared/freeswitch/install puts it).
func fsInstallation() (binary, modulesDir string, err error) {
	prefix := os.Getenv("FREESWITCH_PREFIX")
	if prefix == "" {
		if out, err := exec.Command("pkg-config", "--variable=prefix", "freeswitch").Output(); err == nil {
			prefix = strings.TrimSpace(string(out))
		}
	}
	if prefix == "" {
		prefix = "/usr/local/freeswitch"
	}
	binary = filepath.Join(prefix, "bin", "freeswitch")
	modulesDir = filepath.Join(prefix, "lib", "freeswitch", "mod")
	if _, err := os.Stat(binary); err != nil {
		return "", "", fmt.Errorf("no FreeSWITCH (set FREESWITCH_PREFIX, or run ../shared/freeswitch/install): %v", err)
	}
	return binary, modulesDir, nil
}

// freeTCPUDPPort is a port free for both TCP and UDP now (SIP uses both).
func freeTCPUDPPort() (int, error) {
	for i := 0; i < 50; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if c, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			c.Close()
			return port, nil
		}
	}
	return 0, fmt.Errorf("no port free for both TCP and UDP")
}

// benchRTPStart is the RTP range of the benchmark's switch, away from the
// tests' ranges (33000 to 63000) and the default one (16384 to 32768): its
// loopback calls use no RTP, but a switch needs a range.
const benchRTPStart, benchRTPPorts = 10000, 4000

// startFreeSWITCH writes the configuration (the tests' one, with the anchor
// modules added and logging at warning) and starts the switch.
func startFreeSWITCH(scratch, build string, anchors []string) (*fsSwitch, error) {
	binary, modulesDir, err := fsInstallation()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(scratch, "freeswitch")
	for _, sub := range []string{"conf", "log", "db", "run", "temp", "storage", "cache", "recordings", "media"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return nil, err
		}
	}
	p := fsconfig.Params{RTPStart: benchRTPStart, RTPEnd: benchRTPStart + benchRTPPorts - 1,
		WSURL: "ws://127.0.0.1:1", Module: filepath.Join(build, "mod_listen.so"), Dir: dir,
		Media: filepath.Join(dir, "media"), Password: "ClueCon", LogLevel: "warning", ListenLogLevel: 4,
		Modules: append([]string{"mod_console", "mod_event_socket", "mod_commands", "mod_dptools",
			"mod_dialplan_xml", "mod_loopback", "mod_tone_stream", "mod_sofia"}, anchors...)}
	ports := make([]int, 3)
	for i := range ports {
		if ports[i], err = freeTCPUDPPort(); err != nil {
			return nil, err
		}
	}
	p.ESLPort, p.UASPort, p.UACPort = ports[0], ports[1], ports[2]
	p.Profiles = map[string]int{"uas": p.UASPort, "uac": p.UACPort}
	if err := fsconfig.Write(filepath.Join(dir, "conf"), p); err != nil {
		return nil, err
	}
	out, err := os.Create(filepath.Join(dir, "freeswitch.out"))
	if err != nil {
		return nil, err
	}
	s := &fsSwitch{dir: dir, addr: fmt.Sprintf("127.0.0.1:%d", p.ESLPort), exited: make(chan struct{})}
	s.cmd = exec.Command(binary, "-nonat", "-nc", "-nf", "-mod", modulesDir,
		"-conf", filepath.Join(dir, "conf"), "-log", filepath.Join(dir, "log"), "-db", filepath.Join(dir, "db"),
		"-run", filepath.Join(dir, "run"), "-temp", filepath.Join(dir, "temp"),
		"-storage", filepath.Join(dir, "storage"), "-cache", filepath.Join(dir, "cache"),
		"-recordings", filepath.Join(dir, "recordings"))
	s.cmd.Stdout, s.cmd.Stderr = out, out
	// A benchmark interrupted leaves no switch behind.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		s.cmd.Wait()
		out.Close()
		close(s.exited)
	}()
	for deadline := time.Now().Add(60 * time.Second); ; {
		c, err := dialESL(s.addr)
		if err == nil {
			c.close()
			break
		}
		select {
		case <-s.exited:
			return nil, fmt.Errorf("FreeSWITCH exited at start (%s): see %s", s.cmd.ProcessState, out.Name())
		default:
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("FreeSWITCH's event socket did not come up: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	return s, nil
}

func (s *fsSwitch) pid() int { return s.cmd.Process.Pid }

// stop shuts the switch down, and kills it if it has not ended in 20 s.
func (s *fsSwitch) stop() {
	if c, err := dialESL(s.addr); err == nil {
		fmt.Fprintf(c.conn, "api fsctl shutdown\n\n")
		defer c.close()
	}
	select {
	case <-s.exited:
	case <-time.After(20 * time.Second):
		syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.exited
	}
}

// eslConn is an event-socket connection that only runs api commands, one
// at a time: it subscribes to no event, so every message is a reply.
type eslConn struct {
	conn net.Conn
	r    *textproto.Reader
}

func dialESL(addr string) (*eslConn, error) {
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return nil, err
	}
	c := &eslConn{conn: conn, r: textproto.NewReader(bufio.NewReader(conn))}
	if h, _, err := c.read(); err != nil || h.Get("Content-Type") != "auth/request" {
		conn.Close()
		return nil, fmt.Errorf("no auth request from the event socket (%v)", err)
	}
	fmt.Fprintf(conn, "auth ClueCon\n\n")
	if h, _, err := c.read(); err != nil || !strings.HasPrefix(h.Get("Reply-Text"), "+OK") {
		conn.Close()
		return nil, fmt.Errorf("event socket auth: %q %v", h.Get("Reply-Text"), err)
	}
	return c, nil
}

func (c *eslConn) read() (textproto.MIMEHeader, string, error) {
	h, err := c.r.ReadMIMEHeader()
	if err != nil {
		return nil, "", err
	}
	var body []byte
	if n, _ := strconv.Atoi(h.Get("Content-Length")); n > 0 {
		body = make([]byte, n)
		if _, err := io.ReadFull(c.r.R, body); err != nil {
			return nil, "", err
		}
	}
	return h, string(body), nil
}

// api runs one api command and returns its output.
func (c *eslConn) api(cmd string) (string, error) {
	c.conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := fmt.Fprintf(c.conn, "api %s\n\n", cmd); err != nil {
		return "", err
	}
	for {
		h, body, err := c.read()
		if err != nil {
			return "", fmt.Errorf("api %s: %v", cmd, err)
		}
		if h.Get("Content-Type") == "api/response" {
			return body, nil
		}
	}
}

func (c *eslConn) close() { c.conn.Close() }
