/*
 * rings.h: the engine's C side of the media path (internal, not installed).
 *
 * Every stream owns preallocated single-producer/single-consumer rings in C
 * memory: the host's media thread produces captured audio and consumes
 * playback audio; Go goroutines do the opposite ends. The media thread side
 * never blocks, allocates, locks or enters Go. A stream is reached from the
 * host through a handle table, so a stale handle is refused rather than
 * dereferenced.
 */
#ifndef LISTEN_RINGS_H
#define LISTEN_RINGS_H

#include <stdatomic.h>
#include <stdint.h>
#include <stddef.h>

/* Captured audio: fixed-size slots of one 20 ms frame each. When full, the
 * producer drops the oldest slot by advancing the tail itself (compare and
 * swap), so the consumer must copy a slot first and then claim it. */
typedef struct lr_capture {
	_Atomic uint64_t head; /* next slot the producer fills */
	_Atomic uint64_t tail; /* next slot the consumer takes */
	_Atomic uint64_t dropped;
	uint32_t nslots;
	uint32_t slot_samples;
	int16_t *samples; /* nslots * slot_samples */
	uint32_t *lens;   /* samples used in each slot */
	int64_t *stamps;  /* CLOCK_MONOTONIC ns of each push, for latency figures */
	/* Producer-only: a partly filled slot waits here until it is whole, so
	 * odd-sized host frames still travel as 20 ms slots. Atomic only so
	 * that a host breaking the one-producer rule races on a defined value,
	 * which lr_push clamps. */
	_Atomic uint32_t partial;
} lr_capture_t;

/* Playback audio: a power-of-two sample ring; Go produces, the media thread
 * consumes. Go never overwrites: it waits for room. To kill playback at once
 * Go moves discard_to ahead and the consumer skips to it. */
typedef struct lr_play {
	_Atomic uint64_t head;       /* samples written by Go */
	_Atomic uint64_t tail;       /* samples consumed by the host */
	_Atomic uint64_t discard_to; /* consumer skips up to here */
	_Atomic uint64_t played;     /* samples actually played (not skipped) */
	uint32_t mask;
	int16_t *samples;
} lr_play_t;

#define LR_DTMF_SLOTS 32
typedef struct lr_dtmf {
	_Atomic uint32_t head, tail;
	char digit[LR_DTMF_SLOTS];
	uint32_t duration[LR_DTMF_SLOTS];
} lr_dtmf_t;

typedef struct lr_stream {
	uint64_t handle;
	uint32_t index;
	uint32_t frame_samples; /* 20 ms at the codec rate */
	_Atomic int ended;      /* engine finished: pushes are ignored */
	_Atomic int paused;
	_Atomic int overrun;        /* set by the first drop; Go reports it */
	int has_write;
	/* Silence on the caller's audio, for the listen's timeout: a whole read
	 * slot whose sum of squares is at most silence_max is silent. Set before
	 * the handle is handed out, when track_silence is wanted. */
	int track_silence;
	uint64_t silence_max;
	_Atomic uint64_t loud_end; /* read slots committed up to the last loud one */
	lr_capture_t read, write;
	lr_play_t play;
	lr_dtmf_t dtmf;
} lr_stream_t;

/* Handle table; control thread. capacity is the maximum of live streams. */
int lr_table_init(uint32_t capacity);
uint32_t lr_table_capacity(void);

/* Allocates a stream and registers it; NULL when out of memory or slots.
 * play_samples is rounded up to a power of two (0: no playback ring). */
lr_stream_t *lr_stream_new(uint32_t frame_samples, uint32_t capture_slots, int has_write,
                           uint32_t play_samples);
/* Unregisters the handle; the memory stays until lr_stream_free. */
void lr_stream_unregister(lr_stream_t *s);
void lr_stream_free(lr_stream_t *s);
/* The live stream behind a handle, or NULL. */
lr_stream_t *lr_lookup(uint64_t handle);

/* Media thread side. */
int lr_push(lr_stream_t *s, lr_capture_t *r, const int16_t *in, size_t n);
int lr_pull(lr_stream_t *s, int16_t *out, size_t n);
int lr_dtmf_push(lr_stream_t *s, char digit, uint32_t duration);
int lr_pending(lr_stream_t *s);

/* Go side. */
/* Copies up to max_frames whole slots into dst (max_frames * slot_samples
 * samples); returns the samples copied and the oldest push stamp. */
size_t lr_drain(lr_capture_t *r, int16_t *dst, uint32_t max_frames, int64_t *oldest_stamp);
/* A second reader of a capture ring that never claims a slot (the
 * recognizer's): copies up to max_frames whole slots from *pos on into dst
 * and moves *pos past them. Slots the producer overwrote before they could be
 * copied are skipped and counted in *lost. Returns the samples copied. One
 * caller per pos at a time. */
size_t lr_peek(lr_capture_t *r, uint64_t *pos, int16_t *dst, uint32_t max_frames, uint64_t *lost);
/* Writes up to n samples; returns how many fitted. */
size_t lr_play_write(lr_play_t *p, const int16_t *src, size_t n);
size_t lr_play_space(lr_play_t *p);
void lr_play_discard(lr_play_t *p);
int lr_dtmf_pop(lr_stream_t *s, char *digit, uint32_t *duration);
/* Collects the indexes of streams with news since the last call (audio,
 * playback consumed, DTMF) into out; returns the count. One caller at a time. */
uint32_t lr_collect_ready(uint32_t *out, uint32_t max);
lr_stream_t *lr_at(uint32_t index);

int64_t lr_now_ns(void);

#endif
