package recorder

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/modlisten/mod_listen/go/wavfile"
)

// Repair finishes the recordings a recorder killed mid-call left in dir
// (which the caller has locked): each unfinished WAV gets the header of the
// audio on disk and goes into place with its sidecar, marked "repaired". It
// returns the IDs repaired; one file that cannot be repaired does not stop
// the others (the error names it).
func Repair(dir string) ([]string, error) {
	var ids []string
	var errs []error
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(path, partWAV) && !strings.HasSuffix(path, partJSON) {
			return nil
		}
		base := strings.TrimSuffix(strings.TrimSuffix(path, partWAV), partJSON)
		rel, rerr := filepath.Rel(dir, base)
		id := filepath.ToSlash(rel)
		if rerr != nil || !ValidID(id) {
			return nil // not a file the recorder writes
		}
		if strings.HasSuffix(path, partJSON) {
			if _, err := os.Stat(base + partWAV); err == nil {
				return nil // repaired with its WAV
			}
		}
		if err := repairOne(base, id); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", id, err))
			return nil
		}
		ids = append(ids, id)
		return nil
	})
	if err != nil {
		errs = append(errs, err)
	}
	return ids, errors.Join(errs...)
}

// repairOne finishes one recording: from an unfinished WAV, or, when the
// crash came between the WAV's rename and its sidecar's, from the sidecar.
func repairOne(base, id string) error {
	wavPath := base + doneWAV
	if _, err := os.Stat(base + partWAV); err == nil {
		if _, _, err := wavfile.Repair(base + partWAV); err != nil {
			return err
		}
		if err := os.Rename(base+partWAV, wavPath); err != nil {
			return err
		}
	}
	st, err := os.Stat(wavPath)
	if err != nil {
		return err
	}
	side, err := ReadSidecar(base + partJSON)
	if err != nil {
		side = &Sidecar{}
	}
	data, ft, err := wavfile.Repair(wavPath) // reads the format; a finished file is unchanged
	if err != nil {
		return err
	}
	side.ID, side.File = id, filepath.Base(base)+doneWAV
	rate, channels := ft.Rate, ft.Channels
	side.SampleRate, side.Channels = rate, channels
	if side.MixType == "" {
		side.MixType = map[int]string{1: "mono", 2: "stereo"}[channels]
	}
	if side.Start.IsZero() {
		side.Start = st.ModTime().UTC()
	}
	end := st.ModTime().UTC()
	side.End = &end
	side.Bytes = data
	side.DurationMs = data / int64(2*channels) * 1000 / int64(rate)
	side.Ended = "repaired"
	if side.First == nil {
		side.First = []byte("null")
	}
	if err := writeJSON(base+doneJSON, side); err != nil {
		return err
	}
	os.Remove(base + partJSON)
	syncDir(filepath.Dir(base))
	return nil
}

// Unfinished counts the recordings in dir that Repair would finish.
func Unfinished(dir string) int {
	n := 0
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, partWAV) {
			n++
		}
		return nil
	})
	return n
}
