/*
 * rings.h: the engine's C side of the media path (internal, not installed).
 *
 * Every stream owns single-producer/single-consumer rings in C memory: the
 * host's media thread produces captured audio and consumes playback audio; Go
 * goroutines do the opposite ends. Go's side allocates (the playback ring
 * with its first audio) and keeps the capture rings' pages resident; the
 * media thread side never blocks, allocates, locks or enters Go. A stream is
 * reached from the host through a handle table, so a stale handle is refused
 * rather than dereferenced.
 */
#ifndef LISTEN_RINGS_H
#define LISTEN_RINGS_H

#include <stdatomic.h>
#include <stdint.h>
#include <stddef.h>

/* Captured audio: fixed-size slots of one 20 ms frame each. When full, the
 * producer drops the oldest slot by advancing the tail itself (compare and
 * swap), so the consumer must copy a slot first and then claim it.
 *
 * The slots sit in an anonymous mapping sized for bufferSeconds, of which
 * only the pages written are resident. Whenever the producer opens a slot
 * and finds the ring empty, it starts again from the first slot (base), so a
 * ring drained as fast as the host fills it keeps using its first slots and
 * holds a page or two; the rest becomes resident only when a stall or a
 * reconnect lets audio pile up. */
typedef struct lr_capture {
	_Atomic uint64_t head; /* next slot the producer fills */
	_Atomic uint64_t tail; /* next slot the consumer takes */
	_Atomic uint64_t dropped;
	/* The slot count that sits at the first position: slot n is at
	 * (n - base) % nslots. Moved by the producer only while the ring is
	 * empty, so every slot between tail and head shares one base. */
	_Atomic uint64_t base;
	uint32_t nslots;
	uint32_t slot_samples;
	size_t slot_bytes;     /* a slot: its push stamp, then its samples */
	unsigned char *slots;  /* nslots * slot_bytes, mmap'd */
	size_t mapped;         /* bytes mapped at slots */
	/* Producer-only: a partly filled slot waits here until it is whole, so
	 * odd-sized host frames still travel as 20 ms slots. Atomic only so
	 * that a host breaking the one-producer rule races on a defined value,
	 * which lr_push clamps. */
	_Atomic uint32_t partial;
	/* Consumer-only: the oldest push stamp of the last drain, kept in C
	 * memory so Go passes no pointer of its own (which would escape to the
	 * heap on every drain). */
	int64_t drained_stamp;
	/* Consumer-only: bytes from the first slot known to be resident (see
	 * lr_capture_keep_ahead). */
	size_t resident;
	/* A second reader that never claims a slot (the recognizer's), when
	 * has_peeker is set before the handle is handed out. The ring then
	 * never moves its base, so a position names the same slot until the
	 * producer refills it. Its position and its last losses are here, in C
	 * memory like drained_stamp; Go side, one caller at a time. */
	int has_peeker;
	uint64_t peek_pos, peek_lost;
} lr_capture_t;

/* Playback audio: a power-of-two sample ring; Go produces, the media thread
 * consumes. Go never overwrites: it waits for room. To kill playback at once
 * Go moves discard_to ahead and the consumer skips to it.
 *
 * Most listens never play anything, so the samples are allocated by the
 * first write (Go's side) and published with a release store; until then
 * the consumer finds NULL and plays nothing. */
typedef struct lr_play {
	_Atomic uint64_t head;       /* samples written by Go */
	_Atomic uint64_t tail;       /* samples consumed by the host */
	_Atomic uint64_t discard_to; /* consumer skips up to here */
	_Atomic uint64_t played;     /* samples actually played (not skipped) */
	uint32_t size;               /* samples the ring holds; 0: the stream never plays */
	_Atomic(int16_t *) samples;  /* size samples, or NULL until the first write */
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
 * play_samples is rounded up to a power of two (0: the stream never plays);
 * the playback ring's memory waits for its first write. */
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
/* The second reader of a ring with has_peeker: copies up to max_frames whole
 * slots from peek_pos on into dst and moves peek_pos past them. Slots the
 * producer refilled before they could be copied are skipped and counted in
 * peek_lost. Returns the samples copied. */
size_t lr_peek(lr_capture_t *r, int16_t *dst, uint32_t max_frames);
/* Writes up to n samples; returns how many fitted (0 too when the ring's
 * first allocation fails: the caller tries again later). */
size_t lr_play_write(lr_play_t *p, const int16_t *src, size_t n);
size_t lr_play_space(lr_play_t *p);
void lr_play_discard(lr_play_t *p);
int lr_dtmf_pop(lr_stream_t *s, char *digit, uint32_t *duration);
/* Makes the capture ring's memory resident a few frames beyond the slots the
 * producer has reached since the ring was last empty, so that a backlog
 * growing into memory never used before does not fault pages in on the media
 * thread (it still may when Go falls more than those frames behind, or on a
 * kernel without MADV_POPULATE_WRITE). Consumer side, one goroutine at a
 * time; a system call only when the backlog reaches a page not yet resident. */
void lr_capture_keep_ahead(lr_capture_t *r);
/* Collects the indexes of streams with news since the last call (audio,
 * playback consumed, DTMF) into out; returns the count. One caller at a time. */
uint32_t lr_collect_ready(uint32_t *out, uint32_t max);
lr_stream_t *lr_at(uint32_t index);

int64_t lr_now_ns(void);

/* The C memory of every live stream's rings: capture bytes mapped (resident
 * only as far as written), playback bytes allocated and playback rings
 * allocated. Any thread. */
void lr_ring_usage(uint64_t *capture_bytes, uint64_t *play_bytes, uint64_t *play_rings);

#endif
