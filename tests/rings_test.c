/*
 * rings_test: the C rings (cgo/rings.c) on their own, compiled into this test
 * so it can look inside them. It checks what the ABI test cannot see: that a
 * ring drained promptly keeps to its first page, that audio piling up still
 * comes out whole and in order (drops counted), and that the playback ring
 * exists only once something is written to it, published so that a media
 * thread pulling at that moment finds either nothing or the ring whole. And
 * the second reader (lr_peek, the recognizer's): exactly the frames still in
 * the ring, the ones it missed counted, never a frame the producer was
 * refilling, the ring's own consumer untouched.
 */
#define _DEFAULT_SOURCE
#include "rings.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static int failures;

static void check(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void check(int ok, const char *fmt, ...)
{
	if (ok)
		return;
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "FAIL: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	failures++;
}

#define FRAME 160 /* 20 ms at 8 kHz */
#define SLOTS 50  /* bufferSeconds 1 */

/* Frame number i carries i in every sample, so a torn or misplaced frame
 * shows. */
static void fill(int16_t *f, size_t n, int value)
{
	for (size_t i = 0; i < n; i++)
		f[i] = (int16_t)value;
}

static int whole(const int16_t *f, int value)
{
	for (int i = 0; i < FRAME; i++)
		if (f[i] != (int16_t)value)
			return 0;
	return 1;
}

static size_t resident_pages(const lr_capture_t *r)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t pages = (r->mapped + (size_t)page - 1) / (size_t)page;
	unsigned char vec[pages];
	if (mincore(r->slots, r->mapped, vec) != 0)
		return (size_t)-1;
	size_t n = 0;
	for (size_t i = 0; i < pages; i++)
		n += vec[i] & 1;
	return n;
}

static size_t drain_one(lr_capture_t *r, int16_t *dst)
{
	int64_t stamp;
	return lr_drain(r, dst, 1, &stamp);
}

/* A ring drained after every push reuses its first slot: its memory beyond
 * the first slots is never touched, keeping ahead included (the pacer asks
 * on every wake): one page at 8 kHz, two at 48 kHz, where a slot is half a
 * page. */
static void check_prompt_drain_stays_small(uint32_t frame, size_t want_pages)
{
	lr_stream_t *s = lr_stream_new(frame, SLOTS, 0, 0);
	check(s != NULL, "lr_stream_new");
	size_t pages = (s->read.mapped + 4095) / 4096;
	check(pages >= 4, "a 1 s ring of %u-sample frames maps %zu pages (want at least 4)", frame, pages);
	int16_t in[960], out[960];
	for (int i = 1; i <= 500; i++) {
		fill(in, frame, i);
		lr_capture_keep_ahead(&s->read);
		lr_push(s, &s->read, in, frame);
		int64_t stamp;
		check(lr_drain(&s->read, out, 1, &stamp) == frame && out[0] == i && out[frame - 1] == i,
		      "prompt drain: frame %d", i);
	}
	check(resident_pages(&s->read) == want_pages,
	      "10 s of %u-sample frames drained promptly left %zu pages resident (want %zu)", frame,
	      resident_pages(&s->read), want_pages);
	lr_stream_unregister(s);
	lr_stream_free(s);
}

/* Audio that piles up (a stall) fills the ring, then comes out in order with
 * the oldest dropped and counted, and the ring goes back to its first slot. */
static void check_backlog_in_order(void)
{
	lr_stream_t *s = lr_stream_new(FRAME, SLOTS, 0, 0);
	int16_t in[FRAME], out[FRAME];
	/* A few frames first, so the backlog starts part way into the ring. */
	for (int i = 1; i <= 3; i++) {
		fill(in, FRAME, i);
		lr_push(s, &s->read, in, FRAME);
	}
	check(drain_one(&s->read, out) == FRAME && whole(out, 1), "first frame");
	for (int i = 4; i <= 3 + SLOTS + 10; i++) {
		/* Odd-sized pushes: a slot fills across calls. */
		fill(in, FRAME, i);
		lr_push(s, &s->read, in, 70);
		lr_push(s, &s->read, in + 70, FRAME - 70);
	}
	check(atomic_load(&s->read.dropped) == 12, "dropped %llu frames (want 12)",
	      (unsigned long long)atomic_load(&s->read.dropped));
	check(atomic_load(&s->overrun) == 1, "overrun flagged");
	check(resident_pages(&s->read) >= 4, "a full ring has %zu pages resident", resident_pages(&s->read));
	int want = 2 + 12;
	while (drain_one(&s->read, out) == FRAME) {
		check(whole(out, want), "backlog frame %d in order and whole", want);
		want++;
	}
	check(want == 3 + SLOTS + 10 + 1, "backlog ended at frame %d (want %d)", want, 3 + SLOTS + 10 + 1);
	fill(in, FRAME, 7777);
	lr_push(s, &s->read, in, FRAME);
	uint64_t head = atomic_load(&s->read.head);
	check(atomic_load(&s->read.base) == head - 1, "an emptied ring starts again at its first slot");
	check(drain_one(&s->read, out) == FRAME && whole(out, 7777), "the frame after the backlog");
	lr_stream_unregister(s);
	lr_stream_free(s);
}

/* A producer and a consumer at once, the consumer pausing now and then so the
 * ring empties, fills and overflows: every frame taken is whole and newer
 * than the last, and taken + dropped = pushed. */
struct pc {
	lr_stream_t *s;
	int frames;
	_Atomic int done;
};

static void *producer(void *arg)
{
	struct pc *pc = arg;
	int16_t in[FRAME];
	unsigned x = 12345;
	for (int i = 1; i <= pc->frames; i++) {
		fill(in, FRAME, i);
		x = x * 1103515245 + 12345;
		size_t cut = (x >> 8) % FRAME;
		lr_push(pc->s, &pc->s->read, in, cut);
		lr_push(pc->s, &pc->s->read, in + cut, FRAME - cut);
		if ((x >> 20) % 8 == 0)
			usleep(50);
	}
	atomic_store(&pc->done, 1);
	return NULL;
}

static void check_concurrent_capture(void)
{
	struct pc pc = { .s = lr_stream_new(FRAME, SLOTS, 0, 0), .frames = 20000 };
	pthread_t t;
	pthread_create(&t, NULL, producer, &pc);
	int16_t out[2 * FRAME];
	int last = 0, taken = 0, bad = 0;
	unsigned x = 999;
	for (;;) {
		int done = atomic_load(&pc.done);
		int64_t stamp;
		size_t n = lr_drain(&pc.s->read, out, 2, &stamp);
		for (size_t f = 0; f < n / FRAME; f++) {
			int v = out[f * FRAME];
			if (!whole(out + f * FRAME, v) || v <= last)
				bad++;
			last = v;
			taken++;
		}
		if (n == 0 && done)
			break;
		x = x * 1103515245 + 12345;
		if ((x >> 16) % 64 == 0)
			usleep(3000); /* a stall: the producer fills the ring */
	}
	pthread_join(t, NULL);
	uint64_t dropped = atomic_load(&pc.s->read.dropped);
	check(bad == 0, "concurrent capture: %d frames torn or out of order", bad);
	check((uint64_t)taken + dropped == (uint64_t)pc.frames, "taken %d + dropped %llu = %d pushed", taken,
	      (unsigned long long)dropped, pc.frames);
	check(last == pc.frames, "the last frame taken is %d (want %d)", last, pc.frames);
	lr_stream_unregister(pc.s);
	lr_stream_free(pc.s);
}

/* Whether every page holding bytes [from, to) of the ring is resident. */
static int resident_range(const lr_capture_t *r, size_t from, size_t to)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t first = from / page, last = (to - 1) / page;
	unsigned char vec[last - first + 1];
	if (mincore(r->slots + first * page, (last - first + 1) * page, vec) != 0)
		return 0;
	for (size_t i = 0; i <= last - first; i++)
		if (!(vec[i] & 1))
			return 0;
	return 1;
}

/* With Go keeping ahead (as the pacer does every tick), a backlog growing
 * through the ring finds every slot's page resident before the producer
 * writes it: the media thread faults nothing in. Without the keeping ahead,
 * the fifth frame or so would reach a page never touched. */
static void check_keep_ahead(void)
{
	void *probe = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int supported = madvise(probe, 4096, MADV_POPULATE_WRITE) == 0;
	munmap(probe, 4096);
	if (!supported) {
		printf("rings_test: the kernel lacks MADV_POPULATE_WRITE: keeping ahead not checked\n");
		return;
	}
	lr_stream_t *s = lr_stream_new(FRAME, SLOTS, 0, 0);
	int16_t in[FRAME];
	int cold = -1;
	for (int i = 0; i < SLOTS; i++) {
		lr_capture_keep_ahead(&s->read);
		size_t at = (size_t)i * s->read.slot_bytes;
		if (cold < 0 && !resident_range(&s->read, at, at + s->read.slot_bytes))
			cold = i;
		fill(in, FRAME, i + 1);
		lr_push(s, &s->read, in, FRAME);
	}
	check(cold < 0, "slot %d was not resident when the producer reached it", cold);
	check(resident_pages(&s->read) == (s->read.mapped + 4095) / 4096, "a full ring is all resident");
	lr_stream_unregister(s);
	lr_stream_free(s);
}

static void usage(uint64_t *play_bytes, uint64_t *play_rings)
{
	uint64_t capture;
	lr_ring_usage(&capture, play_bytes, play_rings);
}

/* No playback ring until something is written; then the audio plays whole. */
static void check_play_ring_lazy(void)
{
	uint64_t bytes, rings;
	lr_stream_t *s = lr_stream_new(FRAME, SLOTS, 0, 2000);
	check(s->play.size == 2048, "playback ring of %u samples (want 2048)", s->play.size);
	check(atomic_load(&s->play.samples) == NULL, "no playback memory before audio");
	usage(&bytes, &rings);
	check(rings == 0 && bytes == 0, "usage before audio: %llu rings, %llu bytes", (unsigned long long)rings,
	      (unsigned long long)bytes);
	int16_t out[FRAME];
	fill(out, FRAME, 55);
	check(lr_pull(s, out, FRAME) == 0 && whole(out, 55), "pull before audio plays nothing, leaves the frame");
	check(lr_play_space(&s->play) == 2048, "room before audio: %zu", lr_play_space(&s->play));
	lr_play_discard(&s->play); /* a killAudio before any audio */
	check(lr_play_write(&s->play, out, 0) == 0 && atomic_load(&s->play.samples) == NULL,
	      "an empty write allocates nothing");
	int16_t clip[3000];
	for (int i = 0; i < 3000; i++)
		clip[i] = (int16_t)(i + 1);
	size_t w = lr_play_write(&s->play, clip, 3000);
	check(w == 2048, "first write took %zu samples (want 2048)", w);
	usage(&bytes, &rings);
	check(rings == 1 && bytes == 2048 * sizeof(int16_t), "usage after audio: %llu rings, %llu bytes",
	      (unsigned long long)rings, (unsigned long long)bytes);
	/* The host pulls a frame, Go tops the ring up: the last frame comes
	 * zero-padded. */
	int16_t got[3000 + FRAME];
	size_t n = 0;
	while (n < 3000) {
		int k = lr_pull(s, got + n, FRAME);
		check(k == FRAME, "pull at %zu returned %d (want %d)", n, k, FRAME);
		if (k != FRAME)
			break;
		n += (size_t)k;
		w += lr_play_write(&s->play, clip + w, 3000 - w);
	}
	check(memcmp(got, clip, sizeof clip) == 0, "played audio equals the clip");
	lr_stream_unregister(s);
	lr_stream_free(s);
	usage(&bytes, &rings);
	check(rings == 0 && bytes == 0, "usage after free: %llu rings, %llu bytes", (unsigned long long)rings,
	      (unsigned long long)bytes);
}

/* A media thread pulling while the first write allocates and publishes the
 * ring: it gets nothing, or the audio from its first sample. */
struct puller {
	lr_stream_t *s;
	int16_t got[FRAME * 4];
	int n;
};

static void *pull_until(void *arg)
{
	struct puller *p = arg;
	while (p->n < FRAME * 4) {
		int k = lr_pull(p->s, p->got + p->n, FRAME);
		if (k > 0)
			p->n += k;
	}
	return NULL;
}

static void check_play_ring_publication(void)
{
	int16_t clip[FRAME * 4];
	for (int i = 0; i < FRAME * 4; i++)
		clip[i] = (int16_t)(1000 + i);
	int bad = 0;
	for (int round = 0; round < 300; round++) {
		struct puller p = { .s = lr_stream_new(FRAME, 4, 0, FRAME * 4) };
		pthread_t t;
		pthread_create(&t, NULL, pull_until, &p);
		if (round % 3)
			usleep((useconds_t)(round % 7) * 10);
		check(lr_play_write(&p.s->play, clip, FRAME * 4) == FRAME * 4, "round %d: write", round);
		pthread_join(t, NULL);
		bad += memcmp(p.got, clip, sizeof clip) != 0;
		lr_stream_unregister(p.s);
		lr_stream_free(p.s);
	}
	check(bad == 0, "%d of 300 rounds pulled audio other than what was written", bad);
}

/* The n frames in dst are numbered from first on. */
static int peeked_are(const int16_t *dst, uint64_t first, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!whole(dst + i * FRAME, (int)(first + i)))
			return 0;
	return 1;
}

static void push_numbered(lr_stream_t *s, uint64_t i)
{
	int16_t f[FRAME];
	fill(f, FRAME, (int)i);
	lr_push(s, &s->read, f, FRAME);
}

/* In order, past the consumer's drains (which must not make the ring start
 * again at its first slot under the peeker), and past an overrun: the
 * peeker gets what is still whole and counts the rest. */
static void check_peek_sequence(void)
{
	enum { slots = 4 };
	lr_stream_t *s = lr_stream_new(FRAME, slots, 0, 0);
	s->read.has_peeker = 1;
	int16_t dst[slots * FRAME];
	push_numbered(s, 0);
	push_numbered(s, 1);
	int64_t stamp;
	check(lr_drain(&s->read, dst, slots, &stamp) == 2 * FRAME, "the consumer drains two frames");
	push_numbered(s, 2);
	size_t n = lr_peek(&s->read, dst, slots);
	check(n == 3 * FRAME && s->read.peek_pos == 3 && s->read.peek_lost == 0,
	      "peek after the consumer emptied the ring: %zu samples, position %llu, %llu lost; want 480, 3, 0", n,
	      (unsigned long long)s->read.peek_pos, (unsigned long long)s->read.peek_lost);
	check(peeked_are(dst, 0, 3), "the peeked frames are 0..2 in order");
	n = lr_peek(&s->read, dst, slots);
	check(n == 0 && s->read.peek_lost == 0, "nothing new: %zu samples", n);

	/* Eleven more: only the last slots - 1 are safe from the producer's
	 * next frame, so 3..10 are gone for the peeker. */
	for (uint64_t i = 3; i < 14; i++)
		push_numbered(s, i);
	n = lr_peek(&s->read, dst, slots);
	check(n == 3 * FRAME && s->read.peek_lost == 8 && s->read.peek_pos == 14,
	      "after an overrun: %zu samples, %llu lost, position %llu; want 480, 8, 14", n,
	      (unsigned long long)s->read.peek_lost, (unsigned long long)s->read.peek_pos);
	check(peeked_are(dst, 11, 3), "the newest three frames, 11..13");
	check(lr_drain(&s->read, dst, slots, &stamp) == slots * FRAME && peeked_are(dst, 10, slots),
	      "the consumer still drains its own last four, 10..13");
	lr_stream_unregister(s);
	lr_stream_free(s);
}

/* A producer racing the peeker round a small ring (producer above: frames
 * numbered from 1, pushed in odd pieces, with pauses): every frame handed out
 * is whole, and every frame is either handed out or counted lost. */
static void check_peek_race(void)
{
	enum { slots = 4 };
	struct pc pc = { .s = lr_stream_new(FRAME, slots, 0, 0), .frames = 100000 };
	pc.s->read.has_peeker = 1;
	pthread_t t;
	pthread_create(&t, NULL, producer, &pc);
	int16_t dst[slots * FRAME];
	uint64_t got = 0, lost = 0, torn = 0;
	for (;;) {
		int finished = atomic_load(&pc.done);
		size_t n = lr_peek(&pc.s->read, dst, slots) / FRAME;
		if (!peeked_are(dst, pc.s->read.peek_pos - n + 1, n))
			torn++;
		got += n;
		lost += pc.s->read.peek_lost;
		if (finished && n == 0 && pc.s->read.peek_lost == 0)
			break;
	}
	pthread_join(t, NULL);
	check(torn == 0, "%llu peeks handed out a torn frame", (unsigned long long)torn);
	check(got + lost == (uint64_t)pc.frames, "%llu frames peeked and %llu lost, want %d in all",
	      (unsigned long long)got, (unsigned long long)lost, pc.frames);
	printf("peek race: %llu frames peeked, %llu lost, none torn\n", (unsigned long long)got,
	       (unsigned long long)lost);
	lr_stream_unregister(pc.s);
	lr_stream_free(pc.s);
}

int main(void)
{
	if (lr_table_init(16) != 0) {
		fprintf(stderr, "FAIL: lr_table_init\n");
		return 1;
	}
	check_prompt_drain_stays_small(FRAME, 1);
	check_prompt_drain_stays_small(960, 2);
	check_backlog_in_order();
	check_concurrent_capture();
	check_keep_ahead();
	check_play_ring_lazy();
	check_play_ring_publication();
	check_peek_sequence();
	check_peek_race();
	if (failures) {
		fprintf(stderr, "rings_test: %d failures\n", failures);
		return 1;
	}
	printf("rings_test: ok\n");
	return 0;
}
