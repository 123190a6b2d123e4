package recorder

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"time"
)

// A recording's ID is its place in the tree: the UTC date of its start, then
// the time and random hex. Nothing in it comes from the client, so no
// callSid or metadata can name a path.
var idPattern = regexp.MustCompile(`^[0-9]{4}/[0-9]{2}/[0-9]{2}/[0-9]{6}-[0-9a-f]{12}$`)

// File name endings: audio (WAV or Ogg/Opus) and sidecar once finished;
// while recording, each with partial after it.
const (
	doneWAV  = ".wav"
	doneOpus = ".opus"
	doneJSON = ".json"
	partial  = ".part"
	partWAV  = doneWAV + partial
	partOpus = doneOpus + partial
	partJSON = doneJSON + partial
)

func newID(t time.Time) string {
	var r [6]byte
	rand.Read(r[:])
	return t.UTC().Format("2006/01/02/150405") + "-" + hex.EncodeToString(r[:])
}

// ValidID says whether id is a well-formed recording ID (and so a safe
// path below the directory).
func ValidID(id string) bool { return idPattern.MatchString(id) }

// SidecarPath returns the sidecar file of a finished recording.
func SidecarPath(dir, id string) (string, error) {
	if !ValidID(id) {
		return "", fmt.Errorf("not a recording ID: %q", id)
	}
	return filepath.Join(dir, filepath.FromSlash(id)) + doneJSON, nil
}

// AudioPath returns the audio file of a finished recording, as its sidecar
// names it: ID.wav or ID.opus.
func AudioPath(dir string, s *Sidecar) (string, error) {
	if !ValidID(s.ID) {
		return "", fmt.Errorf("not a recording ID: %q", s.ID)
	}
	base := filepath.Join(dir, filepath.FromSlash(s.ID))
	for _, ext := range []string{doneWAV, doneOpus} {
		if s.File == filepath.Base(base)+ext {
			return base + ext, nil
		}
	}
	return "", fmt.Errorf("recording %s: its sidecar names no file of it (%q)", s.ID, s.File)
}

// IsOgg says whether a recording is an Ogg/Opus file (else a WAV).
func (s *Sidecar) IsOgg() bool { return strings.HasSuffix(s.File, doneOpus) }

// List returns the sidecars of the finished recordings, newest first, that
// match (nil: all), at most limit of them (0: no limit). The date tree is
// walked newest day first, so a limited listing stops early.
func List(dir string, match func(*Sidecar) bool, limit int) ([]*Sidecar, error) {
	var out []*Sidecar
	days, err := dayDirs(dir)
	if err != nil {
		return nil, err
	}
	for _, day := range days {
		names, err := filepath.Glob(filepath.Join(dir, day, "*"+doneJSON))
		if err != nil {
			return nil, err
		}
		var sides []*Sidecar
		for _, name := range names {
			if s, err := ReadSidecar(name); err == nil && ValidID(s.ID) {
				sides = append(sides, s)
			}
		}
		sort.SliceStable(sides, func(i, j int) bool { return sides[i].Start.After(sides[j].Start) })
		for _, s := range sides {
			if match == nil || match(s) {
				out = append(out, s)
				if limit > 0 && len(out) == limit {
					return out, nil
				}
			}
		}
	}
	return out, nil
}

// dayDirs returns the tree's YYYY/MM/DD directories, newest first.
func dayDirs(dir string) ([]string, error) {
	var out []string
	years, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	level := func(parent string) []string {
		ents, _ := os.ReadDir(filepath.Join(dir, parent))
		var names []string
		for _, e := range ents {
			if e.IsDir() {
				names = append(names, filepath.Join(parent, e.Name()))
			}
		}
		sort.Sort(sort.Reverse(sort.StringSlice(names)))
		return names
	}
	var ys []string
	for _, y := range years {
		if y.IsDir() && len(y.Name()) == 4 {
			ys = append(ys, y.Name())
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(ys)))
	for _, y := range ys {
		for _, m := range level(y) {
			out = append(out, level(m)...)
		}
	}
	return out, nil
}

// Lock takes the directory's lock file: one recorder (or repair) at a time
// per directory. The lock goes with the process, however it ends.
func Lock(dir string) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, ".listen-recorder.lock"), os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s is in use by a running listen-recorder", dir)
	}
	return f, nil
}

// FreeBytes is the space left for an unprivileged writer on dir's filesystem.
func FreeBytes(dir string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}
