// Package simsummary reads switchsim's last output line, the run's summary,
// for the end-to-end tests and the benchmark.
package simsummary

import "fmt"

// Summary is the object under "summary".
type Summary struct {
	Calls int `json:"calls"`
	Hook  struct {
		Count uint64  `json:"count"`
		P50   float64 `json:"p50_us"`
		P99   float64 `json:"p99_us"`
		P999  float64 `json:"p999_us"`
		Max   float64 `json:"max_us"`
	} `json:"hook"`
	MaxLateMs float64 `json:"max_late_ms"`
	UserS     float64 `json:"cpu_user_s"`
	SysS      float64 `json:"cpu_sys_s"`
	MaxRSSKiB float64 `json:"maxrss_kib"`
	WallS     float64 `json:"wall_s"`
	Engine    *Engine `json:"engine"` // listen_stats, when the library has it
}

// Engine is listen_stats' JSON.
type Engine struct {
	Streams              int     `json:"streams"`
	Goroutines           int     `json:"goroutines"`
	SendLatencyCount     int64   `json:"sendLatencyCount"`
	SendLatencyP50Ms     float64 `json:"sendLatencyP50Ms"`
	SendLatencyP99Ms     float64 `json:"sendLatencyP99Ms"`
	PlaybackLatencyCount int64   `json:"playbackLatencyCount"`
	PlaybackLatencyP50Ms float64 `json:"playbackLatencyP50Ms"`
	PlaybackLatencyP99Ms float64 `json:"playbackLatencyP99Ms"`
	ServerBytes          int64   `json:"serverBytes"` // of maxServerBytes, in use
}

// String is one line of the figures, for test logs.
func (s *Summary) String() string {
	return fmt.Sprintf("%d calls: hook %d calls, p50 %.1f µs, p99 %.1f µs, p99.9 %.1f µs, max %.1f µs; max late %.1f ms; cpu %.2f+%.2f s; maxrss %.0f KiB; wall %.1f s",
		s.Calls, s.Hook.Count, s.Hook.P50, s.Hook.P99, s.Hook.P999, s.Hook.Max, s.MaxLateMs, s.UserS, s.SysS, s.MaxRSSKiB, s.WallS)
}
