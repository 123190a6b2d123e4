/*
 * rings_test: the capture ring's second reader (lr_peek), built against the
 * engine's C rings directly. It must copy exactly the frames still in the
 * ring, count the ones it missed, never hand out a frame the producer was
 * refilling, and leave the ring's own consumer untouched.
 */
#define _POSIX_C_SOURCE 200809L
#include "rings.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define FRAME 160
#define SLOTS 4

static int failures;

static void check(int ok, const char *what, long got, long want)
{
	if (!ok) {
		fprintf(stderr, "FAIL: %s: got %ld, want %ld\n", what, got, want);
		failures++;
	}
}

/* Frame i is FRAME samples of the value i (mod 32768). */
static void push_frame(lr_stream_t *s, uint64_t i)
{
	int16_t f[FRAME];
	for (int k = 0; k < FRAME; k++)
		f[k] = (int16_t)(i % 32768);
	lr_push(s, &s->read, f, FRAME);
}

/* Frames [first, first + n) of dst hold their own index throughout. */
static int frames_are(const int16_t *dst, uint64_t first, size_t n)
{
	for (size_t i = 0; i < n; i++)
		for (int k = 0; k < FRAME; k++)
			if (dst[i * FRAME + k] != (int16_t)((first + i) % 32768))
				return 0;
	return 1;
}

static void test_sequence(lr_stream_t *s)
{
	int16_t dst[SLOTS * FRAME];
	uint64_t pos = 0, lost = 99;
	push_frame(s, 0);
	push_frame(s, 1);
	size_t n = lr_peek(&s->read, &pos, dst, SLOTS, &lost);
	check(n == 2 * FRAME && pos == 2 && lost == 0, "two frames peeked", (long)n, 2 * FRAME);
	check(frames_are(dst, 0, 2), "their content", 0, 1);
	n = lr_peek(&s->read, &pos, dst, SLOTS, &lost);
	check(n == 0 && pos == 2 && lost == 0, "nothing new", (long)n, 0);

	/* Ten more: the ring keeps the last SLOTS - 1 whole ones safe from the
	 * producer's next frame, so frames 2..8 are gone for the peeker. */
	for (uint64_t i = 2; i < 12; i++)
		push_frame(s, i);
	n = lr_peek(&s->read, &pos, dst, SLOTS, &lost);
	check(n == 3 * FRAME, "frames after an overrun", (long)n, 3 * FRAME);
	check(lost == 7, "frames lost to the overrun", (long)lost, 7);
	check(pos == 12, "position after the overrun", (long)pos, 12);
	check(frames_are(dst, 9, 3), "the newest three", 0, 1);

	/* The consumer's view is its own: it drains the ring's last SLOTS. */
	int64_t stamp;
	n = lr_drain(&s->read, dst, SLOTS, &stamp);
	check(n == SLOTS * FRAME && frames_are(dst, 8, SLOTS), "the consumer's drain after peeks", (long)n,
	      SLOTS * FRAME);
}

struct race {
	lr_stream_t *s;
	uint64_t frames;
	_Atomic int done;
};

static void *producer(void *arg)
{
	struct race *r = arg;
	for (uint64_t i = 0; i < r->frames; i++)
		push_frame(r->s, i);
	atomic_store(&r->done, 1);
	return NULL;
}

/* A producer racing the peeker round a small ring: every frame handed out is
 * whole, and every frame is either handed out or counted lost. */
static void test_race(lr_stream_t *s)
{
	struct race r = { .s = s, .frames = 200000 };
	pthread_t t;
	pthread_create(&t, NULL, producer, &r);
	int16_t dst[SLOTS * FRAME];
	uint64_t pos = 0, got = 0, lost_total = 0, torn = 0;
	for (;;) {
		int finished = atomic_load(&r.done);
		uint64_t lost;
		size_t n = lr_peek(&s->read, &pos, dst, SLOTS, &lost) / FRAME;
		if (!frames_are(dst, pos - n, n))
			torn++;
		got += n;
		lost_total += lost;
		if (finished && n == 0 && lost == 0)
			break;
	}
	pthread_join(t, NULL);
	check(torn == 0, "torn frames handed out", (long)torn, 0);
	check(got + lost_total == r.frames, "frames peeked or lost", (long)(got + lost_total), (long)r.frames);
	check(pos == r.frames, "final position", (long)pos, (long)r.frames);
	printf("race: %llu frames peeked, %llu lost, none torn\n", (unsigned long long)got,
	       (unsigned long long)lost_total);
}

int main(void)
{
	if (lr_table_init(4) != 0) {
		fprintf(stderr, "table init failed\n");
		return 1;
	}
	lr_stream_t *a = lr_stream_new(FRAME, SLOTS, 0, 0);
	lr_stream_t *b = lr_stream_new(FRAME, SLOTS, 0, 0);
	if (!a || !b) {
		fprintf(stderr, "stream allocation failed\n");
		return 1;
	}
	test_sequence(a);
	test_race(b);
	lr_stream_unregister(a);
	lr_stream_free(a);
	lr_stream_unregister(b);
	lr_stream_free(b);
	if (failures)
		return 1;
	printf("rings_test: ok\n");
	return 0;
}
