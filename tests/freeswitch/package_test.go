package freeswitch_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestPackage: scripts/package builds mod-listen_<version>_<arch>.deb, which
// holds the two libraries in FreeSWITCH's modulesdir and the sample
// listen.conf.xml as a conffile. dpkg installs it (into a root of the
// test's own, never the machine's), keeps an edited listen.conf.xml when the
// package is installed again, and a FreeSWITCH loads the installed module,
// which reports the package's version.
func TestPackage(t *testing.T) {
	inst := findFreeSWITCH(t)
	build := buildDir(t)
	t.Parallel()
	run := func(name string, args ...string) string {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Env = append(os.Environ(), "LISTEN_BUILD_DIR="+build, "PATH="+os.Getenv("PATH")+":/usr/sbin:/sbin")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, out, stderr.String())
		}
		return string(out)
	}
	deb := strings.TrimSpace(run(filepath.Join("..", "..", "scripts", "package")))
	m := regexp.MustCompile(`/mod-listen_([0-9][0-9A-Za-z.+~-]*)_[a-z0-9]+\.deb$`).FindStringSubmatch(deb)
	if m == nil {
		t.Fatalf("scripts/package printed %q, want the path of mod-listen_<version>_<arch>.deb", deb)
	}
	version := m[1]

	contents := run("dpkg-deb", "-c", deb)
	for _, f := range []string{"mod_listen.so", "liblisten.so"} {
		if !strings.Contains(contents, " ."+filepath.Join(inst.modulesDir, f)+"\n") {
			t.Errorf("the package has no %s in the modulesdir %s:\n%s", f, inst.modulesDir, contents)
		}
	}
	conffiles := strings.TrimSpace(run("dpkg-deb", "--info", deb, "conffiles"))
	if !strings.HasSuffix(conffiles, "/autoload_configs/listen.conf.xml") || !strings.Contains(contents, " ."+conffiles+"\n") {
		t.Fatalf("conffiles %q: want the packaged autoload_configs/listen.conf.xml\n%s", conffiles, contents)
	}
	if control := run("dpkg-deb", "-f", deb, "Depends"); !strings.Contains(control, "libc6") || !strings.Contains(control, "libopus0") {
		t.Errorf("Depends: %q, want libc6 and libopus0 (liblisten.so links libopus)", control)
	}

	root := t.TempDir()
	admin := filepath.Join(root, "var", "lib", "dpkg")
	for _, d := range []string{"info", "updates", "triggers"} {
		if err := os.MkdirAll(filepath.Join(admin, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(admin, "status"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	install := func() {
		run("dpkg", "--instdir="+root, "--admindir="+admin, "--force-depends", "--force-not-root",
			"--force-confold", "-i", deb)
	}
	install()
	conf := filepath.Join(root, conffiles)
	sample, err := os.ReadFile(conf)
	if err != nil || !bytes.Contains(sample, []byte(`<configuration name="listen.conf"`)) {
		t.Fatalf("the installed listen.conf.xml: %v\n%s", err, sample)
	}
	edited := bytes.Replace(sample, []byte("<settings>"), []byte("<settings>\n    <!-- edited by the operator -->"), 1)
	if err := os.WriteFile(conf, edited, 0o644); err != nil {
		t.Fatal(err)
	}
	install()
	if now, _ := os.ReadFile(conf); !bytes.Equal(now, edited) {
		t.Errorf("installing the package again replaced the edited listen.conf.xml")
	}

	srv := newWSServer()
	defer srv.Close()
	fs := startSwitch(t, inst, filepath.Join(root, inst.modulesDir), srv.URL)
	defer func() { fs.stop(t.Failed()) }()
	if out := strings.TrimSpace(fs.API(t, "listen_abi_version")); out != "3 "+version {
		t.Errorf("listen_abi_version: %q, want \"3 %s\"", out, version)
	}
	if st := switchStatus(t, fs); st.Version != version {
		t.Errorf("listen_status version %q, want %q", st.Version, version)
	}
	// A drain is switch-wide, so it runs here rather than on the switch the
	// other tests share.
	testDrain(t, fs, srv)
}

// testDrain: during listen_drain a new listen is refused and a live one
// keeps streaming; listen_status shows the drain; at the deadline the live
// one ends with reason shutdown, its socket closed with 1000;
// listen_drain off lets listens start again.
func testDrain(t *testing.T, fs *Switch, srv *WSServer) {
	dest := "parked-" + uniqueID(t)
	mark := fs.Events.Mark()
	far := sipCall(t, fs, dest, codecs[0])
	defer fs.API(t, "uuid_kill "+far)
	ans := fs.Events.WaitEvent(t, "the answer of "+dest, mark, 10*time.Second, func(e Event) bool {
		return e.Name() == "CHANNEL_ANSWER" && e.Get("Caller-Destination-Number") == dest && e.Get("Call-Direction") == "inbound"
	})
	near := ans.Get("Unique-ID")
	if out := fs.API(t, "uuid_listen "+near+` start name=rec {"url":"`+srv.URL+"/"+dest+`"}`); !strings.HasPrefix(out, "+OK") {
		t.Fatalf("start: %q", out)
	}
	conn := srv.Accept(t, "/"+dest, 10*time.Second)
	WaitFor(t, "audio before the drain", 10*time.Second, func() bool { return len(conn.Binaries()) >= 10 })

	if out := fs.API(t, "listen_drain 3"); !strings.HasPrefix(out, "+OK draining") {
		t.Fatalf("listen_drain 3: %q", out)
	}
	if st := switchStatus(t, fs); st.Drain["on"] != true || len(st.Listens) != 1 {
		t.Errorf("listen_status during the drain: %+v, want the drain on and the listen", st)
	}
	if out := fs.API(t, "uuid_listen "+near+` start name=late {"url":"`+srv.URL+"/"+dest+`-late"}`); !strings.HasPrefix(out, "-ERR") ||
		!strings.Contains(out, "the engine is draining: new listens are refused") {
		t.Errorf("a listen during the drain: %q, want the drain's refusal", out)
	}
	n := len(conn.Binaries())
	WaitFor(t, "audio during the drain", 10*time.Second, func() bool { return len(conn.Binaries()) >= n+25 })

	stop := fs.Events.WaitEvent(t, "listen::stop at the drain's deadline", mark, 15*time.Second, func(e Event) bool {
		return named("listen::stop", near)(e) && e.Get("Listen-Name") == "rec"
	})
	sb := decodeJSON(t, "listen::stop body", stop.Body)
	if sb["reason"] != "shutdown" {
		t.Errorf("listen::stop %s, want reason shutdown", stop.Body)
	}
	WaitFor(t, "the socket to close", 5*time.Second, func() bool { return conn.CloseCode() != 0 })
	if code := conn.CloseCode(); code != 1000 {
		t.Errorf("close code %d, want 1000", code)
	}
	if sent, _ := sb["framesSent"].(float64); int(sent) != len(conn.Binaries()) {
		t.Errorf("the server got %d frames, the listen sent %v", len(conn.Binaries()), sb["framesSent"])
	}
	if v := getvar(t, fs, near, "listen_rec_reason"); v != "shutdown" {
		t.Errorf("listen_rec_reason = %q, want shutdown", v)
	}

	if out := fs.API(t, "listen_drain off"); !strings.HasPrefix(out, "+OK") {
		t.Fatalf("listen_drain off: %q", out)
	}
	if out := fs.API(t, "listen_drain off"); !strings.HasPrefix(out, "-ERR") || !strings.Contains(out, "no drain is on") {
		t.Errorf("listen_drain off with no drain: %q", out)
	}
	if out := fs.API(t, "listen_drain soon"); !strings.HasPrefix(out, "-USAGE") {
		t.Errorf("listen_drain soon: %q", out)
	}
	if out := fs.API(t, "uuid_listen "+near+` start {"url":"`+srv.URL+"/"+dest+`-after"}`); !strings.HasPrefix(out, "+OK") {
		t.Errorf("a listen after listen_drain off: %q", out)
	}
	srv.Accept(t, "/"+dest+"-after", 10*time.Second)
}
