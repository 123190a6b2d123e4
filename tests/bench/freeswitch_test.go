package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestFSReport: saturated runs count in no mean and no ratio of the clean
// runs, and the ratios are to the better anchor of each figure (lower CPU,
// lower memory, higher delivery), read from the report's last line.
func TestFSReport(t *testing.T) {
	cell := func(mod string, run int, cpu, rss, delivered float64, saturated bool) *fsCell {
		c := &fsCell{Module: mod, Calls: 100, Run: run, Saturated: saturated, BusyCores: 1}
		if mod != fsBaseline {
			c.CPUPctPerStream, c.RSSKiBPerStream, c.DeliveredPct = num(cpu), num(rss), num(delivered)
			c.StartP99Ms = num(10)
		}
		return c
	}
	cells := []*fsCell{
		cell(fsBaseline, 1, 0, 0, 0, false),
		cell("mod_listen", 1, 0.1, 60, 100, false),
		cell("mod_listen", 2, 0.2, 80, 100, false),
		cell("mod_listen", 3, 5, 500, 50, true), // saturated: in no clean figure
		cell("mod_audio_fork", 1, 0.4, 100, 99, false),
		cell("mod_audio_stream", 1, 0.3, 120, 98, false),
	}
	var out bytes.Buffer
	fsReport(&out, fsOptions{calls: []int{100}, runs: 3, window: time.Second}, fsModules, cells, nil)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var got struct {
		Summary map[string]map[string]map[string]any `json:"summary"`
		Clean   map[string]map[string]struct {
			Anchor     string   `json:"anchor"`
			Ratio      *float64 `json:"ratio"`
			Difference *float64 `json:"difference"`
		} `json:"mod_listen_vs_best_anchor"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &got); err != nil {
		t.Fatalf("last line is not the JSON: %v\n%s", err, out.String())
	}
	listen := got.Summary["100"]["mod_listen"]
	if listen["runs_clean"] != 2.0 || listen["runs_saturated"] != 1.0 {
		t.Errorf("mod_listen runs clean/saturated: %v/%v, want 2/1", listen["runs_clean"], listen["runs_saturated"])
	}
	if m := listen["extra_cpu_pct_per_stream"].(map[string]any)["mean"]; m != 0.15 {
		t.Errorf("mod_listen CPU mean %v, want 0.15 (the saturated run left out)", m)
	}
	r := got.Clean["100"]
	check := func(fig, anchor string, v *float64, want float64) {
		t.Helper()
		if r[fig].Anchor != anchor || v == nil || *v != want {
			t.Errorf("%s: %+v, want anchor %s and %v", fig, r[fig], anchor, want)
		}
	}
	check("extra_cpu_pct_per_stream", "mod_audio_stream", r["extra_cpu_pct_per_stream"].Ratio, 0.5)
	check("extra_rss_kib_per_stream", "mod_audio_fork", r["extra_rss_kib_per_stream"].Ratio, 0.7)
	check("delivered_pct", "mod_audio_fork", r["delivered_pct"].Difference, 1)
}
