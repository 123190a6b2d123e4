package recorder

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/modlisten/mod_listen/go/oggfile"
	"github.com/modlisten/mod_listen/go/wavfile"
)

// Repair finishes the recordings a recorder killed mid-call left in dir
// (which the caller has locked): each unfinished WAV gets the header of the
// audio on disk, each unfinished Ogg/Opus file is cut after its last whole
// page and that page marked the stream's end; it goes into place with its
// sidecar, marked "repaired". It returns the IDs repaired; one file that
// cannot be repaired does not stop the others (the error names it).
func Repair(dir string) ([]string, error) {
	var ids []string
	var errs []error
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		ext := ""
		for _, e := range []string{partWAV, partOpus, partJSON} {
			if strings.HasSuffix(path, e) {
				ext = e
			}
		}
		if d.IsDir() || ext == "" {
			return nil
		}
		base := strings.TrimSuffix(path, ext)
		rel, rerr := filepath.Rel(dir, base)
		id := filepath.ToSlash(rel)
		if rerr != nil || !ValidID(id) {
			return nil // not a file the recorder writes
		}
		if ext == partJSON && (exists(base+partWAV) || exists(base+partOpus)) {
			return nil // repaired with its audio
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

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// repairOne finishes one recording: from an unfinished audio file, or,
// when the crash came between the audio's rename and its sidecar's, from
// the sidecar.
func repairOne(base, id string) error {
	ext := doneWAV
	if exists(base+partOpus) || !exists(base+partWAV) && exists(base+doneOpus) {
		ext = doneOpus
	}
	audioPath := base + ext
	if exists(audioPath + partial) {
		if err := os.Rename(audioPath+partial, audioPath); err != nil {
			return err
		}
	}
	st, err := os.Stat(audioPath)
	if err != nil {
		return err
	}
	side, err := ReadSidecar(base + partJSON)
	if err != nil {
		side = &Sidecar{}
	}
	// A finished file is unchanged by its repair: it reads the format.
	if ext == doneOpus {
		size, granule, head, err := oggfile.Repair(audioPath)
		if err != nil {
			return err
		}
		side.Channels, side.Bytes = head.Channels, size
		if side.SampleRate == 0 {
			side.SampleRate = head.InputRate
		}
		side.DurationMs = max(granule-int64(head.PreSkip), 0) * 1000 / oggfile.Rate
	} else {
		data, ft, err := wavfile.Repair(audioPath)
		if err != nil {
			return err
		}
		side.SampleRate, side.Channels, side.Bytes = ft.Rate, ft.Channels, data
		side.DurationMs = data / int64(2*ft.Channels) * 1000 / int64(ft.Rate)
	}
	side.ID, side.File = id, filepath.Base(base)+ext
	if side.MixType == "" {
		side.MixType = map[int]string{1: "mono", 2: "stereo"}[side.Channels]
	}
	if side.Start.IsZero() {
		side.Start = st.ModTime().UTC()
	}
	end := st.ModTime().UTC()
	side.End = &end
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
		if err == nil && !d.IsDir() && (strings.HasSuffix(path, partWAV) || strings.HasSuffix(path, partOpus)) {
			n++
		}
		return nil
	})
	return n
}
