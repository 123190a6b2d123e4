package freeswitch_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
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
	if control := run("dpkg-deb", "-f", deb, "Depends"); !strings.Contains(control, "libc6") {
		t.Errorf("Depends: %q, want libc6", control)
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
}
