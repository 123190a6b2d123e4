// Command cgo builds liblisten.so: it translates the C ABI of
// include/listen.h to the engine's Go packages. The per-frame functions are
// C (abi.c, rings.c) and never come here.
package main

/*
#cgo CFLAGS: -I${SRCDIR}/../include -O2 -Wall
#include <stdlib.h>
#include "listen.h"
#include "rings.h"
#include "control.h"

void lr_set_host(const listen_host_t *h);
void lr_emit_event(void *stream_user, const char *name, const char *json);
void lr_emit_log(void *stream_user, int level, const char *line);
*/
import "C"

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	rtmetrics "runtime/metrics"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/modlisten/mod_listen/go/budget"
	"github.com/modlisten/mod_listen/go/config"
	"github.com/modlisten/mod_listen/go/drain"
	"github.com/modlisten/mod_listen/go/engine"
	"github.com/modlisten/mod_listen/go/metrics"
	"github.com/modlisten/mod_listen/go/outbox"
	"github.com/modlisten/mod_listen/go/pcm"
	"github.com/modlisten/mod_listen/go/protocol"
	"github.com/modlisten/mod_listen/go/resample"
	"github.com/modlisten/mod_listen/go/stream"
)

func main() {}

// pacingTick: how often the pacer looks for rings with news. It bounds the
// extra latency of a frame on its way to the socket.
const pacingTick = 2 * time.Millisecond

type entry struct {
	s        *stream.Stream
	c        *C.lr_stream_t
	pacer    *engine.Pacer // the one that wakes s
	released bool          // the host destroyed its handle
	finished bool          // the stream is done with the memory
}

var (
	mu      sync.Mutex
	running bool
	closing bool // a shutdown is in progress: creates are refused
	// listen_status_all calls reading streams outside mu, and the C memory
	// of streams ended meanwhile, freed when the last of them is done.
	statusReaders int
	freeLater     []*C.lr_stream_t
	settings      config.Settings
	pacer         *engine.Pacer
	streams       = map[uint64]*entry{}
	stats         stream.Stats
	logLevel      atomic.Int32 // read by engine-wide logging from any goroutine, without mu

	serverBytes = budget.New(config.DefaultSettings().MaxServerBytes) // shared by every stream

	meters   = metrics.New(metrics.Latencies{Send: &stats.Send, Play: &stats.Play})
	draining drain.Drain
)

// version is the package's version, set by the build (-X main.version).
var version = "unknown"

func setErr(err *C.char, errlen C.size_t, msg string) {
	if err == nil || errlen == 0 {
		return
	}
	b := unsafe.Slice((*byte)(unsafe.Pointer(err)), int(errlen))
	n := copy(b[:len(b)-1], msg)
	b[n] = 0
}

func goString(p *C.char) []byte {
	if p == nil {
		return nil
	}
	return []byte(C.GoString(p))
}

// engineLog sends an engine-wide line to the host.
func engineLog(level int, line string) {
	if level > int(logLevel.Load()) {
		return
	}
	cs := C.CString(line)
	C.lr_emit_log(nil, C.int(level), cs)
	C.free(unsafe.Pointer(cs))
}

//export listenGoInit
func listenGoInit(h *C.listen_host_t, settingsJSON *C.char, cerr *C.char, errlen C.size_t) (rc C.int) {
	defer recoverTo(&rc, cerr, errlen)
	set, err := config.ParseSettings(goString(settingsJSON))
	if err != nil {
		setErr(cerr, errlen, err.Error())
		return C.LISTEN_EINVAL
	}
	if C.lr_table_init(C.uint32_t(set.MaxStreams)) != 0 {
		setErr(cerr, errlen, "listen: out of memory for the stream table")
		return C.LISTEN_EINVAL
	}
	C.lr_set_host(h)
	mu.Lock()
	defer mu.Unlock()
	settings = set
	logLevel.Store(int32(set.LogLevel))
	serverBytes.SetMax(set.MaxServerBytes)
	if !running {
		// A library inside a switch must not let its heap grow unchecked.
		// The engine allocates little per frame (a few small objects), so
		// collecting at a quarter of the default growth costs little CPU
		// and memory per stream follows its live data: 300 calls, 50 % vs
		// 25 %, the collector 3.3 vs 7.0 ms of CPU a second (0.011 vs 0.023
		// cores per 1000 streams) and ~4 KiB less RSS a stream.
		debug.SetMemoryLimit(1 << 30)
		if os.Getenv("GOGC") == "" {
			debug.SetGCPercent(25)
		}
		pacer = engine.NewPacer(collectReady, pacingTick, int(C.lr_table_capacity()))
		running = true
		controlOnce.Do(func() {
			C.lr_ctl_open()
			for lane := range C.LR_LANES {
				go serveControl(C.int(lane))
			}
		})
	}
	// Metrics off is better than a switch without its module.
	if err := meters.Listen(set.MetricsListen); err != nil {
		engineLog(3, err.Error())
	}
	if int(C.lr_table_capacity()) < set.MaxStreams {
		engineLog(4, fmt.Sprintf("maxStreams %d takes effect after a restart; the limit stays %d",
			set.MaxStreams, int(C.lr_table_capacity())))
	}
	return C.LISTEN_OK
}

var controlOnce sync.Once

// serveControl is one of the engine's control threads (see abi.c): the
// host's control calls run here, so host threads never enter Go.
func serveControl(lane C.int) {
	runtime.LockOSThread()
	C.lr_ctl_serve(lane)
}

func collectReady(out []uint32) int {
	return int(C.lr_collect_ready((*C.uint32_t)(unsafe.Pointer(&out[0])), C.uint32_t(len(out))))
}

// recoverTo keeps a panic in a control call from unwinding into the host.
func recoverTo(rc *C.int, cerr *C.char, errlen C.size_t) {
	if r := recover(); r != nil {
		msg := fmt.Sprintf("listen: internal error: %v", r)
		engineLog(3, msg+"\n"+string(debug.Stack()))
		setErr(cerr, errlen, msg)
		*rc = C.LISTEN_EINVAL
	}
}

//export listenGoCreate
func listenGoCreate(cfgJSON, callJSON *C.char, rate C.int, flags C.uint32_t, user unsafe.Pointer,
	cerr *C.char, errlen C.size_t) (handle C.uint64_t) {
	var rc C.int
	defer func() {
		if rc != 0 {
			handle = 0
		}
	}()
	defer recoverTo(&rc, cerr, errlen)
	h, err := create(goString(cfgJSON), goString(callJSON), int(rate), uint32(flags), user)
	if err != nil {
		setErr(cerr, errlen, err.Error())
		return 0
	}
	return C.uint64_t(h)
}

func create(cfgJSON, callJSON []byte, rate int, flags uint32, user unsafe.Pointer) (uint64, error) {
	mu.Lock()
	set, err := settings, refusal()
	mu.Unlock()
	if err != nil {
		return 0, err
	}
	if err := draining.Refusal(); err != nil {
		return 0, err
	}
	cfg, err := config.ParseListen(cfgJSON, set)
	if err != nil {
		return 0, err
	}
	if err := config.CheckCodecRate(rate); err != nil {
		return 0, err
	}
	call, err := protocol.ParseObject(callJSON)
	if err != nil {
		return 0, fmt.Errorf("listen: call attributes: %v", err)
	}
	if unknown := flags &^ (C.LISTEN_FLAG_NO_PLAYBACK | C.LISTEN_FLAG_PLAYBACK_OPT_IN | C.LISTEN_FLAG_WIRE_EVENTS |
		C.LISTEN_FLAG_PLAYBACK_TAKEN); unknown != 0 {
		return 0, fmt.Errorf("listen: unknown stream flags 0x%x (this engine is LISTEN_ABI_VERSION %d)", unknown, C.LISTEN_ABI_VERSION)
	}
	playback := cfg.Playback && flags&C.LISTEN_FLAG_NO_PLAYBACK == 0 &&
		(flags&C.LISTEN_FLAG_PLAYBACK_OPT_IN == 0 || cfg.PlaybackAsked)
	if playback && flags&C.LISTEN_FLAG_PLAYBACK_TAKEN != 0 {
		return 0, errors.New("listen: another listen plays audio into this call already, and only one may; " +
			`this config asks for playback too (set "bidirectionalAudio":{"enabled":false} on it)`)
	}
	frame := rate / 50
	slots := max(int(set.BufferSeconds*50), 4)
	playSamples := 0
	if playback {
		playSamples = rate / 4 // 250 ms ahead of the media thread
	}
	c := C.lr_stream_new(C.uint32_t(frame), C.uint32_t(slots), boolInt(cfg.HearsOther()),
		C.uint32_t(playSamples))
	if c == nil {
		return 0, fmt.Errorf("listen: no room for another stream (maxStreams %d reached, or out of memory)", set.MaxStreams)
	}
	if cfg.Transcribe != nil {
		c.read.has_peeker, c.write.has_peeker = 1, 1
	}
	if cfg.Timeout > 0 {
		c.track_silence = 1
		c.silence_max = C.uint64_t(pcm.SilenceLimit(frame, cfg.SilenceDb))
	}
	h := uint64(c.handle)
	hst := &host{user: user, id: h}
	e := &entry{c: c}
	s, err := stream.New(stream.Options{Config: cfg, Settings: set, Call: call, CodecRate: rate,
		Stats: &stats, Budget: serverBytes, Finished: func() { reap(h, e) }, Wire: flags&C.LISTEN_FLAG_WIRE_EVENTS != 0},
		&rings{c: c}, hst)
	if err != nil {
		C.lr_stream_unregister(c)
		C.lr_stream_free(c)
		return 0, err
	}
	e.s = s
	// A shutdown may have begun meanwhile (it runs on another control
	// thread): then the stream never starts, and the shutdown never sees it.
	mu.Lock()
	if err := refusal(); err != nil {
		mu.Unlock()
		C.lr_stream_unregister(c)
		C.lr_stream_free(c)
		return 0, err
	}
	streams[h] = e
	e.pacer = pacer
	pacer.Add(uint32(c.index), s)
	mu.Unlock()
	channels := 1
	if cfg.MixType == config.Stereo {
		channels = 2
	}
	meters.Track(h, counts{s}, cfg.SampleRate/50*2*channels)
	s.Start()
	return h, nil
}

// refusal says why a create cannot go ahead now, or nil. Under mu.
func refusal() error {
	switch {
	case !running:
		return errors.New("listen: the engine is not initialised (listen_init)")
	case closing:
		return errors.New("listen: the engine is shutting down")
	}
	return nil
}

// counts shows a stream to the metrics.
type counts struct{ s *stream.Stream }

func (c counts) Figures() metrics.Figures {
	state, sent, dropped := c.s.Counts()
	return metrics.Figures{State: state, FramesSent: sent, FramesDropped: dropped}
}

// reap runs when the stream has finished, and frees its C memory once the
// host has released the handle too.
func reap(h uint64, e *entry) {
	// Outside mu: it waits for the pacer's pass, and a create must not.
	e.pacer.Remove(uint32(e.c.index), e.s)
	mu.Lock()
	defer mu.Unlock()
	e.finished = true
	if e.released {
		delete(streams, h)
		freeStream(e.c)
	}
}

// freeStream frees a stream's C memory, or, while listen_status_all reads
// the streams' figures outside mu, leaves it to the last such reader. Under mu.
func freeStream(c *C.lr_stream_t) {
	if statusReaders > 0 {
		freeLater = append(freeLater, c)
		return
	}
	C.lr_stream_free(c)
}

func boolInt(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

// live returns the entry of a handle the host still holds.
func live(h C.uint64_t) *entry {
	mu.Lock()
	defer mu.Unlock()
	if e := streams[uint64(h)]; e != nil && !e.released {
		return e
	}
	return nil
}

//export listenGoStop
func listenGoStop(h C.uint64_t, reason *C.char) (rc C.int) {
	defer recoverTo(&rc, nil, 0)
	e := live(h)
	if e == nil {
		return C.LISTEN_EBADHANDLE
	}
	e.s.Stop(C.GoString(reason))
	return C.LISTEN_OK
}

//export listenGoRelease
func listenGoRelease(h C.uint64_t) (rc C.int) {
	defer recoverTo(&rc, nil, 0)
	mu.Lock()
	e := streams[uint64(h)]
	if e == nil || e.released {
		mu.Unlock()
		return C.LISTEN_EBADHANDLE
	}
	e.released = true
	if e.finished {
		delete(streams, uint64(h))
		freeStream(e.c)
	}
	mu.Unlock()
	e.s.Stop(stream.ReasonHangup)
	return C.LISTEN_OK
}

//export listenGoSendText
func listenGoSendText(h C.uint64_t, text *C.char, cerr *C.char, errlen C.size_t) (rc C.int) {
	defer recoverTo(&rc, cerr, errlen)
	e := live(h)
	if e == nil {
		return C.LISTEN_EBADHANDLE
	}
	b := goString(text)
	// The JSON decoder would let invalid UTF-8 through, replaced: refuse it.
	if !utf8.Valid(b) {
		setErr(cerr, errlen, "listen: send_text needs valid UTF-8")
		return C.LISTEN_EINVAL
	}
	var probe map[string]json.RawMessage
	if json.Unmarshal(b, &probe) != nil || probe == nil {
		setErr(cerr, errlen, "listen: send_text needs a JSON object")
		return C.LISTEN_EINVAL
	}
	if err := e.s.SendText(b); err != nil {
		setErr(cerr, errlen, "listen: send_text refused: "+err.Error())
		if errors.Is(err, outbox.ErrTooLarge) {
			return C.LISTEN_EINVAL
		}
		return C.LISTEN_ELIMIT
	}
	return C.LISTEN_OK
}

//export listenGoResample
func listenGoResample(in *C.int16_t, n C.size_t, from C.int, out *C.int16_t, outLen C.size_t, to C.int,
	cerr *C.char, errlen C.size_t) (rc C.int) {
	defer recoverTo(&rc, cerr, errlen)
	src := unsafe.Slice((*int16)(unsafe.Pointer(in)), int(n))
	res, err := resample.Clip(src, int(from), int(to))
	if err != nil {
		setErr(cerr, errlen, err.Error())
		return C.LISTEN_EINVAL
	}
	if len(res) > math.MaxInt32 {
		setErr(cerr, errlen, "listen_resample: the result is too long")
		return C.LISTEN_EINVAL
	}
	if len(res) <= int(outLen) {
		copy(unsafe.Slice((*int16)(unsafe.Pointer(out)), int(outLen)), res)
	}
	return C.int(len(res))
}

//export listenGoResolve
func listenGoResolve(arg *C.char, buf *C.char, size C.size_t, cerr *C.char, errlen C.size_t) (rc C.int) {
	defer recoverTo(&rc, cerr, errlen)
	mu.Lock()
	set, ok := settings, running
	mu.Unlock()
	if !ok {
		setErr(cerr, errlen, "listen: the engine is not initialised (listen_init)")
		return C.LISTEN_ESTATE
	}
	b, err := config.Resolve(C.GoString(arg), set)
	if err != nil {
		setErr(cerr, errlen, err.Error())
		return C.LISTEN_EINVAL
	}
	return putString(buf, size, b)
}

// putString copies b into the caller's buffer, NUL-terminated and truncated,
// and returns the length the whole of it needs.
func putString(buf *C.char, size C.size_t, b []byte) C.int {
	if buf != nil && size > 0 {
		out := unsafe.Slice((*byte)(unsafe.Pointer(buf)), int(size))
		n := copy(out[:len(out)-1], b)
		out[n] = 0
	}
	return C.int(len(b))
}

//export listenGoStatus
func listenGoStatus(h C.uint64_t, buf *C.char, size C.size_t) (rc C.int) {
	defer recoverTo(&rc, nil, 0)
	var v any
	if h == 0 {
		v = statusAll()
	} else {
		e := live(h)
		if e == nil {
			return C.LISTEN_EBADHANDLE
		}
		v = e.s.Status()
	}
	b, _ := json.Marshal(v)
	return putString(buf, size, b)
}

// statusAll is the status of every live stream. The statuses are built
// outside mu (for a thousand streams that takes milliseconds, and creates
// must not wait for it), so the C memory of streams that end meanwhile is
// freed after them.
func statusAll() []stream.Status {
	type listed struct {
		h uint64
		s *stream.Stream
	}
	mu.Lock()
	live := make([]listed, 0, len(streams))
	for h, e := range streams {
		if !e.finished {
			live = append(live, listed{h, e.s})
		}
	}
	statusReaders++
	mu.Unlock()
	defer func() {
		mu.Lock()
		if statusReaders--; statusReaders == 0 {
			for _, c := range freeLater {
				C.lr_stream_free(c)
			}
			freeLater = nil
		}
		mu.Unlock()
	}()
	all := make([]stream.Status, len(live))
	for i, l := range live {
		all[i] = l.s.Status()
		all[i].Handle = l.h
	}
	return all
}

//export listenGoStats
func listenGoStats(buf *C.char, size C.size_t) (rc C.int) {
	defer recoverTo(&rc, nil, 0)
	mu.Lock()
	live := 0
	for _, e := range streams {
		if !e.finished {
			live++
		}
	}
	mu.Unlock()
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b, _ := json.Marshal(map[string]any{
		"streams":              live,
		"goroutines":           runtime.NumGoroutine(),
		"memory":               memoryKiB(),
		"sendLatencyCount":     stats.Send.Count(),
		"sendLatencyP50Ms":     ms(stats.Send.Quantile(0.5)),
		"sendLatencyP99Ms":     ms(stats.Send.Quantile(0.99)),
		"playbackLatencyCount": stats.Play.Count(),
		"playbackLatencyP50Ms": ms(stats.Play.Quantile(0.5)),
		"playbackLatencyP99Ms": ms(stats.Play.Quantile(0.99)),
		"serverBytes":          serverBytes.Used(),
		"rings":                ringUsage(),
		"version":              version,
		"drain":                drainStatus(),
	})
	return putString(buf, size, b)
}

// ringUsage is the C memory of the live streams' rings, as listen_stats
// reports it: capture bytes mapped (resident only as far as audio has piled
// up), playback bytes allocated, and how many streams have a playback ring
// (only those the server has sent audio to, or that beeped).
func ringUsage() map[string]uint64 {
	var capture, play, rings C.uint64_t
	C.lr_ring_usage(&capture, &play, &rings)
	return map[string]uint64{"captureBytes": uint64(capture), "playbackBytes": uint64(play),
		"playbackRings": uint64(rings)}
}

// drainStatus is the drain as listen_stats reports it.
func drainStatus() map[string]any {
	on, left := draining.Status()
	if !on {
		return map[string]any{"on": false}
	}
	return map[string]any{"on": true, "secondsLeft": left.Seconds()}
}

//export listenGoDrain
func listenGoDrain(seconds C.int, cerr *C.char, errlen C.size_t) (rc C.int) {
	defer recoverTo(&rc, cerr, errlen)
	mu.Lock()
	ok := running
	mu.Unlock()
	if !ok {
		setErr(cerr, errlen, "listen: the engine is not initialised (listen_init)")
		return C.LISTEN_ESTATE
	}
	if seconds < 0 {
		if !draining.Cancel() {
			setErr(cerr, errlen, "listen: no drain is on")
			return C.LISTEN_ESTATE
		}
		engineLog(5, "drain cancelled: new listens are accepted again")
		return C.LISTEN_OK
	}
	draining.Start(time.Duration(seconds)*time.Second, func() { stopLive(stream.ReasonShutdown) })
	engineLog(5, fmt.Sprintf("draining: new listens are refused; the live ones are stopped in %d s", int(seconds)))
	return C.LISTEN_OK
}

// stopLive asks every live stream to end for reason, and returns them.
func stopLive(reason string) []*entry {
	mu.Lock()
	all := make([]*entry, 0, len(streams))
	for _, e := range streams {
		all = append(all, e)
	}
	mu.Unlock()
	for _, e := range all {
		e.s.Stop(reason)
	}
	return all
}

// memoryKiB splits the Go runtime's memory by use, for sizing and benchmarks.
func memoryKiB() map[string]uint64 {
	names := map[string]string{
		"/memory/classes/heap/objects:bytes":   "heapObjects",
		"/memory/classes/heap/unused:bytes":    "heapUnused",
		"/memory/classes/heap/free:bytes":      "heapFree",
		"/memory/classes/heap/stacks:bytes":    "stacks",
		"/memory/classes/os-stacks:bytes":      "osStacks",
		"/memory/classes/metadata/other:bytes": "metadata",
		"/memory/classes/total:bytes":          "total",
	}
	samples := make([]rtmetrics.Sample, 0, len(names))
	for n := range names {
		samples = append(samples, rtmetrics.Sample{Name: n})
	}
	rtmetrics.Read(samples)
	out := make(map[string]uint64, len(samples))
	for _, s := range samples {
		if s.Value.Kind() == rtmetrics.KindUint64 {
			out[names[s.Name]] = s.Value.Uint64() >> 10
		}
	}
	return out
}

//export listenGoVersion
func listenGoVersion(buf *C.char, size C.size_t) C.int { return putString(buf, size, []byte(version)) }

//export listenGoShutdown
func listenGoShutdown(timeoutMs C.int) (rc C.int) {
	defer recoverTo(&rc, nil, 0)
	mu.Lock()
	if !running {
		mu.Unlock()
		return C.LISTEN_OK
	}
	closing = true
	mu.Unlock()
	deadline := time.After(time.Duration(timeoutMs) * time.Millisecond)
	// A drain goes on to its own deadline first: the live listens may end
	// by themselves meanwhile.
	if passed := draining.Deadline(); passed != nil {
		select {
		case <-passed:
		case <-allFinished():
		case <-deadline:
		}
	}
	all := stopLive(stream.ReasonShutdown)
	rc = C.LISTEN_OK
	for _, e := range all {
		select {
		case <-e.s.Done():
		case <-deadline:
			rc = C.LISTEN_ESTATE
		}
		if rc != C.LISTEN_OK {
			break
		}
	}
	for _, e := range all {
		e.s.Abort()
	}
	mu.Lock()
	pacer.Close()
	running, closing = false, false
	mu.Unlock()
	draining.Cancel()
	meters.Close()
	// Nothing may call the host once shutdown returns.
	C.lr_set_host(nil)
	return rc
}

// allFinished is closed once every stream live now has finished (a drain
// refuses new ones meanwhile).
func allFinished() <-chan struct{} {
	mu.Lock()
	all := make([]*entry, 0, len(streams))
	for _, e := range streams {
		all = append(all, e)
	}
	mu.Unlock()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, e := range all {
			<-e.s.Done()
		}
	}()
	return done
}

// host delivers one stream's events and log lines to the host's callbacks.
// The stop event is the stream's last callback: the host may free its user
// pointer as soon as it has it, so callbacks are serialised and none follows it.
type host struct {
	user    unsafe.Pointer
	id      uint64 // the stream's handle, for the metrics
	mu      sync.Mutex
	stopped bool
}

func (h *host) Event(name string, body []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stopped {
		return
	}
	h.stopped = name == "stop"
	meters.Event(h.id, name, body)
	cn := C.CString(name)
	cb := C.CString(string(body))
	C.lr_emit_event(h.user, cn, cb)
	C.free(unsafe.Pointer(cn))
	C.free(unsafe.Pointer(cb))
}

func (h *host) Log(level int, line string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stopped {
		return
	}
	cs := C.CString(line)
	C.lr_emit_log(h.user, C.int(level), cs)
	C.free(unsafe.Pointer(cs))
}
