// Package recordingpage is the recorder's web page: the list of recordings,
// newest first, with search by caller, callee and metadata; per recording,
// a waveform of each channel, an audio player and the sidecar's facts.
// Plain server-rendered HTML: no script, nothing fetched from elsewhere.
package recordingpage

import (
	"bytes"
	"encoding/json"
	"html/template"
	"image"
	"image/png"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/modlisten/mod_listen/go/recorder"
)

// listLimit is the most recordings one list page shows.
const listLimit = 200

// Handler serves the pages of the recordings in dir:
//
//	/                              the list (?q= searches)
//	/recordings/ID                 a recording's page
//	/recordings/ID.wav             its audio (or ID.opus: Ogg/Opus)
//	/recordings/ID.json            its sidecar
//	/recordings/ID/wave-N.png      channel N's waveform
func Handler(dir string) http.Handler {
	return &handler{dir: dir}
}

type handler struct{ dir string }

func (h *handler) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	p := req.URL.Path
	if p == "/" {
		h.list(w, req)
		return
	}
	rest, ok := strings.CutPrefix(p, "/recordings/")
	if !ok {
		http.NotFound(w, req)
		return
	}
	id, what := rest, "page"
	switch {
	case strings.HasSuffix(rest, ".wav"):
		id, what = strings.TrimSuffix(rest, ".wav"), ".wav"
	case strings.HasSuffix(rest, ".opus"):
		id, what = strings.TrimSuffix(rest, ".opus"), ".opus"
	case strings.HasSuffix(rest, ".json"):
		id, what = strings.TrimSuffix(rest, ".json"), "json"
	default:
		if i := strings.LastIndex(rest, "/wave-"); i > 0 && strings.HasSuffix(rest, ".png") {
			id, what = rest[:i], rest[i+len("/wave-"):len(rest)-len(".png")]
		}
	}
	jsonPath, err := recorder.SidecarPath(h.dir, id)
	if err != nil {
		http.NotFound(w, req)
		return
	}
	side, err := recorder.ReadSidecar(jsonPath)
	if err != nil {
		http.NotFound(w, req)
		return
	}
	audioPath, err := recorder.AudioPath(h.dir, side)
	if err != nil {
		http.NotFound(w, req)
		return
	}
	f := audioFormat(side)
	switch what {
	case "page":
		h.recording(w, side)
	case ".wav", ".opus":
		file, err := os.Open(audioPath)
		if what != f.Ext || err != nil {
			http.NotFound(w, req)
			return
		}
		defer file.Close()
		st, _ := file.Stat()
		w.Header().Set("Content-Type", f.Type)
		http.ServeContent(w, req, side.File, st.ModTime(), file)
	case "json":
		w.Header().Set("Content-Type", "application/json")
		http.ServeFile(w, req, jsonPath)
	default:
		ch, err := strconv.Atoi(what)
		if err != nil || ch < 0 || ch >= len(waveforms(side)) {
			http.NotFound(w, req)
			return
		}
		var img image.Image
		if side.IsOgg() {
			img, err = oggWaveform(audioPath, side.DurationMs, 900, 120)
		} else {
			img, err = waveform(audioPath, ch, 900, 120)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		var b bytes.Buffer
		png.Encode(&b, img)
		w.Header().Set("Content-Type", "image/png")
		w.Write(b.Bytes())
	}
}

// row is a recording as the templates show it.
type row struct {
	*recorder.Sidecar
	Started  string
	Duration string
}

func newRow(s *recorder.Sidecar) row {
	d := time.Duration(s.DurationMs) * time.Millisecond
	return row{Sidecar: s, Started: s.Start.Format("2006-01-02 15:04:05 MST"), Duration: d.Round(10 * time.Millisecond).String()}
}

// matches says whether the query is in the caller, the callee or any value
// of the first frame (the call's attributes and the listen's metadata),
// ignoring case.
func matches(s *recorder.Sidecar, q string) bool {
	q = strings.ToLower(q)
	if strings.Contains(strings.ToLower(s.From), q) || strings.Contains(strings.ToLower(s.To), q) ||
		strings.Contains(strings.ToLower(s.CallSid), q) {
		return true
	}
	var first map[string]any
	json.Unmarshal(s.First, &first)
	var in func(v any) bool
	in = func(v any) bool {
		switch v := v.(type) {
		case string:
			return strings.Contains(strings.ToLower(v), q)
		case float64, bool:
			return strings.Contains(toString(v), q)
		case map[string]any:
			for _, x := range v {
				if in(x) {
					return true
				}
			}
		case []any:
			for _, x := range v {
				if in(x) {
					return true
				}
			}
		}
		return false
	}
	return in(first)
}

func toString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func (h *handler) list(w http.ResponseWriter, req *http.Request) {
	q := strings.TrimSpace(req.URL.Query().Get("q"))
	var match func(*recorder.Sidecar) bool
	if q != "" {
		match = func(s *recorder.Sidecar) bool { return matches(s, q) }
	}
	sides, err := recorder.List(h.dir, match, listLimit)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	rows := make([]row, len(sides))
	for i, s := range sides {
		rows[i] = newRow(s)
	}
	render(w, listPage, map[string]any{"Q": q, "Rows": rows, "Limit": listLimit})
}

func (h *handler) recording(w http.ResponseWriter, s *recorder.Sidecar) {
	var first bytes.Buffer
	if json.Indent(&first, s.First, "", "  ") != nil {
		first.Write(s.First)
	}
	render(w, recordingPage, map[string]any{"R": newRow(s), "First": first.String(), "Waveforms": waveforms(s),
		"Format": audioFormat(s)})
}

// format is how a recording's audio is served.
type format struct {
	Ext, Type, Name, Sample string
}

func audioFormat(s *recorder.Sidecar) format {
	if s.IsOgg() {
		// RFC 7845 9: Ogg/Opus files are audio/ogg.
		return format{Ext: ".opus", Type: "audio/ogg", Name: "Ogg/Opus", Sample: "Opus in Ogg"}
	}
	return format{Ext: ".wav", Type: "audio/wav", Name: "WAV", Sample: "16-bit PCM"}
}

// waveforms names the waveform images of a recording: one per channel of
// a WAV; one of an Ogg/Opus file, its channels mixed.
func waveforms(s *recorder.Sidecar) []string {
	switch {
	case s.IsOgg() && s.Channels == 2:
		return []string{"both parties (mixed)"}
	case s.Channels == 2:
		return []string{"caller (left)", "other party (right)"}
	}
	return []string{s.MixType}
}

func render(w http.ResponseWriter, t *template.Template, data any) {
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(b.Bytes())
}

const style = `<style>
body{font-family:sans-serif;margin:1.5em;color:#222;background:#fff}
table{border-collapse:collapse}td,th{padding:.3em .8em;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}
th{background:#f0f2f5}a{color:#1f6fb5}input{padding:.3em;width:22em}
pre{background:#f7f8fa;padding:.8em;overflow:auto}img{display:block;border:1px solid #ddd;margin:.3em 0 1em}
</style>`

var listPage = template.Must(template.New("list").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>Recordings</title>` + style + `</head><body>
<h1>Recordings</h1>
<form method="get" action="/"><input type="search" name="q" value="{{.Q}}" placeholder="caller, callee or metadata value">
<button type="submit">Search</button>{{if .Q}} <a href="/">all</a>{{end}}</form>
<p>{{len .Rows}} recording{{if ne (len .Rows) 1}}s{{end}}{{if .Q}} matching “{{.Q}}”{{end}}, newest first{{if eq (len .Rows) .Limit}} (the first {{.Limit}}){{end}}.</p>
<table id="recordings">
<tr><th>started</th><th>duration</th><th>caller</th><th>callee</th><th>callSid</th><th>format</th><th>gaps</th><th>ended</th></tr>
{{range .Rows}}<tr class="recording">
<td><a href="/recordings/{{.ID}}">{{.Started}}</a></td><td>{{.Duration}}</td><td>{{.From}}</td><td>{{.To}}</td>
<td class="callsid">{{.CallSid}}</td><td>{{.SampleRate}} Hz {{.MixType}}{{if .IsOgg}}, Ogg/Opus{{end}}</td><td>{{len .Gaps}}</td><td>{{.Ended}}</td>
</tr>
{{end}}</table>
</body></html>
`))

var recordingPage = template.Must(template.New("recording").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>Recording {{.R.CallSid}}</title>` + style + `</head><body>
<p><a href="/">← all recordings</a></p>
<h1>{{.R.From}} → {{.R.To}}</h1>
<audio id="player" controls preload="metadata" src="/recordings/{{.R.ID}}{{.Format.Ext}}"></audio>
<p><a href="/recordings/{{.R.ID}}{{.Format.Ext}}" type="{{.Format.Type}}" download>download {{.Format.Name}}</a> · <a href="/recordings/{{.R.ID}}.json">sidecar JSON</a></p>
{{range $i, $name := .Waveforms}}<h3>{{$name}}</h3>
<img class="waveform" alt="waveform of {{$name}}" width="900" height="120" src="/recordings/{{$.R.ID}}/wave-{{$i}}.png">
{{end}}
<table id="facts">
<tr><th>callSid</th><td>{{.R.CallSid}}</td></tr>
<tr><th>started</th><td>{{.R.Started}}</td></tr>
<tr><th>ended</th><td>{{if .R.End}}{{.R.End.Format "2006-01-02 15:04:05 MST"}}{{end}} ({{.R.Ended}}{{if .R.CloseCode}}, close code {{.R.CloseCode}}{{end}}{{if .R.CloseReason}}: {{.R.CloseReason}}{{end}})</td></tr>
<tr><th>duration</th><td>{{.R.Duration}} ({{.R.Bytes}} bytes of audio)</td></tr>
<tr><th>format</th><td>{{.R.SampleRate}} Hz, {{.R.MixType}}, {{.R.Channels}} channel{{if ne .R.Channels 1}}s{{end}}, {{.Format.Sample}}{{if .R.Encoding}} (the stream's encoding: {{.R.Encoding}}){{end}}{{if .R.InvalidPackets}}; {{.R.InvalidPackets}} invalid Opus packets concealed{{end}}</td></tr>
<tr><th>connections</th><td>{{.R.Connections}}</td></tr>
<tr><th>lost</th><td>{{.R.LostMs}} ms</td></tr>
{{range .R.Resumptions}}<tr><th>resumed</th><td>at startMs {{.StartMs}}, lostMs {{.LostMs}}, bufferedMs {{.BufferedMs}}, {{.DuplicateMs}} ms sent again and dropped</td></tr>
{{end}}{{range .R.Gaps}}<tr><th>gap</th><td>{{.Ms}} ms of silence at {{.AtMs}} ms ({{.Cause}})</td></tr>
{{end}}{{if .R.Digits}}<tr><th>DTMF</th><td>{{.R.Digits}}</td></tr>{{end}}
</table>
<h3>First frame</h3>
<pre>{{.First}}</pre>
</body></html>
`))
