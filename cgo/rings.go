package main

/*
#include "rings.h"

static int lr_take_overrun(lr_stream_t *s) { return atomic_exchange(&s->overrun, 0); }
// Frames of the call lost: a moment dropped in both directions counts once.
static uint64_t lr_dropped(lr_stream_t *s) { uint64_t r = atomic_load(&s->read.dropped), w = atomic_load(&s->write.dropped); return r > w ? r : w; }
static void lr_end(lr_stream_t *s) { atomic_store(&s->ended, 1); }
static uint64_t lr_play_consumed(lr_play_t *p) { return atomic_load(&p->tail); }
static uint64_t lr_play_written(lr_play_t *p) { return atomic_load(&p->head); }
static uint64_t lr_play_played(lr_play_t *p) { return atomic_load(&p->played); }
static uint64_t lr_captured(lr_stream_t *s) { return atomic_load(&s->read.head); }
// loud_end first: head only grows, so the difference is never negative.
static uint64_t lr_silent_run(lr_stream_t *s) { uint64_t l = atomic_load(&s->loud_end); return atomic_load(&s->read.head) - l; }
// The out-parameters stay in C memory: a Go variable passed to C by address
// escapes to the heap, an allocation per call, several per frame.
static size_t lr_drain_stamped(lr_capture_t *r, int16_t *dst, uint32_t max_frames) { return lr_drain(r, dst, max_frames, &r->drained_stamp); }
// A digit and its duration, packed; -1 when none waits.
static int64_t lr_dtmf_next(lr_stream_t *s) { char d; uint32_t dur; return lr_dtmf_pop(s, &d, &dur) ? (int64_t)(unsigned char)d << 32 | dur : -1; }
*/
import "C"

import (
	"unsafe"

	"github.com/modlisten/mod_listen/go/playback"
)

// rings is stream.Media over one stream's C rings: the Go ends of them.
type rings struct{ c *C.lr_stream_t }

func (r *rings) drain(cap_ *C.lr_capture_t, dst []int16) (int, int64) {
	frames := len(dst) / int(r.c.frame_samples)
	if frames == 0 {
		return 0, 0
	}
	n := C.lr_drain_stamped(cap_, (*C.int16_t)(unsafe.Pointer(&dst[0])), C.uint32_t(frames))
	return int(n), int64(cap_.drained_stamp)
}

func (r *rings) DrainRead(dst []int16) (int, int64) { return r.drain(&r.c.read, dst) }

func (r *rings) DrainWrite(dst []int16) (int, int64) {
	if r.c.has_write == 0 {
		return 0, 0
	}
	return r.drain(&r.c.write, dst)
}

func (r *rings) peek(cap_ *C.lr_capture_t, dst []int16) (int, uint64) {
	frames := len(dst) / int(r.c.frame_samples)
	if frames == 0 || cap_.has_peeker == 0 {
		return 0, 0
	}
	n := C.lr_peek(cap_, (*C.int16_t)(unsafe.Pointer(&dst[0])), C.uint32_t(frames))
	return int(n), uint64(cap_.peek_lost)
}

func (r *rings) PeekRead(dst []int16) (int, uint64) { return r.peek(&r.c.read, dst) }

func (r *rings) PeekWrite(dst []int16) (int, uint64) {
	if r.c.has_write == 0 {
		return 0, 0
	}
	return r.peek(&r.c.write, dst)
}

func (r *rings) KeepAhead() {
	C.lr_capture_keep_ahead(&r.c.read)
	if r.c.has_write != 0 {
		C.lr_capture_keep_ahead(&r.c.write)
	}
}

func (r *rings) PopDTMF() (byte, uint32, bool) {
	v := int64(C.lr_dtmf_next(r.c))
	if v < 0 {
		return 0, 0, false
	}
	return byte(v >> 32), uint32(v), true
}

func (r *rings) Captured() uint64  { return uint64(C.lr_captured(r.c)) }
func (r *rings) SilentRun() uint64 { return uint64(C.lr_silent_run(r.c)) }
func (r *rings) Dropped() uint64   { return uint64(C.lr_dropped(r.c)) }
func (r *rings) TakeOverrun() bool { return C.lr_take_overrun(r.c) != 0 }
func (r *rings) End()              { C.lr_end(r.c) }
func (r *rings) Now() int64        { return int64(C.lr_now_ns()) }

func (r *rings) Played() uint64 { return uint64(C.lr_play_played(&r.c.play)) }

func (r *rings) Play() playback.Ring {
	if r.c.play.size == 0 {
		return nil
	}
	return playRing{&r.c.play}
}

// playRing is the producer end of the playback ring.
type playRing struct{ p *C.lr_play_t }

func (p playRing) Space() int { return int(C.lr_play_space(p.p)) }

func (p playRing) Write(src []int16) int {
	if len(src) == 0 {
		return 0
	}
	return int(C.lr_play_write(p.p, (*C.int16_t)(unsafe.Pointer(&src[0])), C.size_t(len(src))))
}

func (p playRing) Consumed() uint64 { return uint64(C.lr_play_consumed(p.p)) }
func (p playRing) Written() uint64  { return uint64(C.lr_play_written(p.p)) }
func (p playRing) Discard()         { C.lr_play_discard(p.p) }
