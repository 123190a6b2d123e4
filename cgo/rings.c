#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS */
#include "rings.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* The table is a fixed array so the media thread can index it without a lock;
 * the generation in the upper half of a handle tells a reused slot from the
 * stream a stale handle once named. */
static _Atomic(lr_stream_t *) *table;
static uint32_t *generation;
static uint32_t table_cap;
static uint32_t *free_list;
static uint32_t free_count;
static _Atomic uint64_t *ready;
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;

static _Atomic uint64_t capture_bytes, play_bytes, play_rings;

void lr_ring_usage(uint64_t *capture, uint64_t *play, uint64_t *rings)
{
	*capture = atomic_load_explicit(&capture_bytes, memory_order_relaxed);
	*play = atomic_load_explicit(&play_bytes, memory_order_relaxed);
	*rings = atomic_load_explicit(&play_rings, memory_order_relaxed);
}

int64_t lr_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int lr_table_init(uint32_t capacity)
{
	int rc = 0;
	pthread_mutex_lock(&table_lock);
	if (table) {
		/* The table lives as long as the process: live handles must stay
		 * valid across a re-init (module reload). */
		goto out;
	}
	table = calloc(capacity, sizeof(*table));
	generation = calloc(capacity, sizeof(*generation));
	free_list = calloc(capacity, sizeof(*free_list));
	ready = calloc((capacity + 63) / 64, sizeof(*ready));
	if (!table || !generation || !free_list || !ready) {
		free(table), free(generation), free(free_list), free(ready);
		table = NULL;
		rc = -1;
		goto out;
	}
	table_cap = capacity;
	for (uint32_t i = 0; i < capacity; i++)
		free_list[i] = capacity - 1 - i;
	free_count = capacity;
out:
	pthread_mutex_unlock(&table_lock);
	return rc;
}

uint32_t lr_table_capacity(void)
{
	return table_cap;
}

/* How far ahead of the producer lr_capture_keep_ahead keeps the ring
 * resident: 60 ms, some thirty pacer ticks. Not more: at 48 kHz a slot is
 * half a page, and every slot kept ahead is memory every stream holds. */
#define LR_AHEAD_SLOTS 3
/* Slots a new ring has resident from the start, written here on the control
 * thread: the host's first push and the slots ahead of it, so a ring drained
 * as it goes never faults a page in on the media thread, nor asks for more. */
#define LR_WARM_SLOTS (1 + LR_AHEAD_SLOTS)

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif
/* Cleared when the kernel refuses MADV_POPULATE_WRITE: then pages are
 * faulted in by their first write, wherever it happens. */
static _Atomic int populate_works = 1;

static size_t page_up(size_t n)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	return (n + page - 1) / page * page;
}

static int capture_init(lr_capture_t *r, uint32_t nslots, uint32_t slot_samples)
{
	r->nslots = nslots;
	r->slot_samples = slot_samples;
	r->slot_bytes = (sizeof(int64_t) + (size_t)slot_samples * sizeof(int16_t) + 7) & ~(size_t)7;
	size_t bytes = (size_t)nslots * r->slot_bytes;
	void *m = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return -1;
	r->slots = m;
	r->mapped = bytes;
	size_t warm = (size_t)(nslots < LR_WARM_SLOTS ? nslots : LR_WARM_SLOTS) * r->slot_bytes;
	memset(r->slots, 0, warm);
	r->resident = page_up(warm) < bytes ? page_up(warm) : bytes;
	atomic_fetch_add_explicit(&capture_bytes, bytes, memory_order_relaxed);
	return 0;
}

static void capture_free(lr_capture_t *r)
{
	if (!r->slots)
		return;
	munmap(r->slots, r->mapped);
	atomic_fetch_sub_explicit(&capture_bytes, r->mapped, memory_order_relaxed);
}

void lr_stream_free(lr_stream_t *s)
{
	if (!s)
		return;
	capture_free(&s->read);
	capture_free(&s->write);
	int16_t *play = atomic_load(&s->play.samples);
	if (play) {
		free(play);
		atomic_fetch_sub_explicit(&play_bytes, (uint64_t)s->play.size * sizeof(int16_t), memory_order_relaxed);
		atomic_fetch_sub_explicit(&play_rings, 1, memory_order_relaxed);
	}
	free(s);
}

lr_stream_t *lr_stream_new(uint32_t frame_samples, uint32_t capture_slots, int has_write,
                           uint32_t play_samples)
{
	lr_stream_t *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->frame_samples = frame_samples;
	s->has_write = has_write;
	int bad = capture_init(&s->read, capture_slots, frame_samples);
	if (has_write)
		bad |= capture_init(&s->write, capture_slots, frame_samples);
	if (play_samples) {
		uint32_t cap = 1;
		while (cap < play_samples)
			cap <<= 1;
		s->play.size = cap;
	}
	if (bad) {
		lr_stream_free(s);
		return NULL;
	}
	pthread_mutex_lock(&table_lock);
	if (!table || free_count == 0) {
		pthread_mutex_unlock(&table_lock);
		lr_stream_free(s);
		return NULL;
	}
	uint32_t idx = free_list[--free_count];
	uint32_t gen = ++generation[idx];
	if (gen == 0)
		gen = ++generation[idx];
	s->index = idx;
	s->handle = ((uint64_t)gen << 32) | (uint64_t)(idx + 1);
	atomic_store(&table[idx], s);
	pthread_mutex_unlock(&table_lock);
	return s;
}

void lr_stream_unregister(lr_stream_t *s)
{
	pthread_mutex_lock(&table_lock);
	if (atomic_load(&table[s->index]) == s) {
		atomic_store(&table[s->index], NULL);
		free_list[free_count++] = s->index;
	}
	pthread_mutex_unlock(&table_lock);
}

lr_stream_t *lr_lookup(uint64_t handle)
{
	uint32_t low = (uint32_t)handle;
	if (!table || low == 0 || low > table_cap)
		return NULL;
	lr_stream_t *s = atomic_load_explicit(&table[low - 1], memory_order_acquire);
	if (!s || s->handle != handle)
		return NULL;
	return s;
}

lr_stream_t *lr_at(uint32_t index)
{
	return index < table_cap ? atomic_load(&table[index]) : NULL;
}

static void mark_ready(uint32_t index)
{
	uint64_t bit = (uint64_t)1 << (index & 63);
	_Atomic uint64_t *word = &ready[index >> 6];
	/* A plain load first keeps the cache line shared when the bit is set
	 * already, which it usually is between two collections. */
	if (!(atomic_load_explicit(word, memory_order_relaxed) & bit))
		atomic_fetch_or_explicit(word, bit, memory_order_release);
}

uint32_t lr_collect_ready(uint32_t *out, uint32_t max)
{
	uint32_t n = 0;
	uint32_t words = (table_cap + 63) / 64;
	for (uint32_t w = 0; w < words && n < max; w++) {
		if (!atomic_load_explicit(&ready[w], memory_order_relaxed))
			continue;
		uint64_t bits = atomic_exchange_explicit(&ready[w], 0, memory_order_acquire);
		while (bits) {
			uint32_t b = (uint32_t)__builtin_ctzll(bits);
			bits &= bits - 1;
			if (n < max)
				out[n++] = w * 64 + b;
			else /* no room: leave it for the next collection */
				atomic_fetch_or(&ready[w], (uint64_t)1 << b);
		}
	}
	return n;
}

static int16_t *slot_pcm(unsigned char *slot)
{
	return (int16_t *)(slot + sizeof(int64_t));
}

/* The slot of count n; every offset is taken modulo the ring, so even a
 * stale base gives a slot inside it. */
static unsigned char *slot_at(lr_capture_t *r, uint64_t n, uint64_t base)
{
	return r->slots + (size_t)((n - base) % r->nslots) * r->slot_bytes;
}

/* Publishes the producer's current (whole) slot and opens the next. */
static void capture_commit(lr_stream_t *s, lr_capture_t *r, unsigned char *slot, int64_t now)
{
	uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	memcpy(slot, &now, sizeof now);
	if (r == &s->read && s->track_silence) {
		const int16_t *x = slot_pcm(slot);
		uint64_t sum = 0;
		for (uint32_t i = 0; i < r->slot_samples; i++)
			sum += (uint64_t)((int32_t)x[i] * (int32_t)x[i]);
		if (sum > s->silence_max)
			atomic_store_explicit(&s->loud_end, head + 1, memory_order_relaxed);
	}
	atomic_store_explicit(&r->head, head + 1, memory_order_release);
}

/* The slot the producer fills, dropping the oldest when the ring is full.
 * fresh: no part of the slot is written yet. */
static unsigned char *capture_open(lr_stream_t *s, lr_capture_t *r, int fresh)
{
	uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	uint64_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
	if (fresh && head == tail && !r->has_peeker) {
		/* Empty, and only the consumer's claim empties it: nothing is
		 * being copied, so the ring may start again at its first slot.
		 * The consumer reads base after head, whose release publishes it. */
		atomic_store_explicit(&r->base, head, memory_order_relaxed);
	}
	while (head - tail >= r->nslots) {
		/* Full: drop the oldest. The consumer claims slots by CAS too, so
		 * exactly one of us takes it. */
		if (atomic_compare_exchange_weak(&r->tail, &tail, tail + 1)) {
			atomic_fetch_add_explicit(&r->dropped, 1, memory_order_relaxed);
			atomic_store_explicit(&s->overrun, 1, memory_order_relaxed);
			break;
		}
	}
	return slot_at(r, head, atomic_load_explicit(&r->base, memory_order_relaxed));
}

int lr_push(lr_stream_t *s, lr_capture_t *r, const int16_t *in, size_t n)
{
	int64_t now = lr_now_ns();
	int done_frame = 0;
	while (n > 0) {
		/* One producer per ring is the contract. A host that breaks it
		 * must garble its audio at worst, never write outside the ring:
		 * every offset comes from this local copy, clamped to the slot. */
		uint32_t partial = atomic_load_explicit(&r->partial, memory_order_relaxed);
		if (partial >= r->slot_samples)
			partial = 0;
		unsigned char *slot = capture_open(s, r, partial == 0);
		size_t room = r->slot_samples - partial;
		size_t k = n < room ? n : room;
		memcpy(slot_pcm(slot) + partial, in, k * sizeof(int16_t));
		partial += (uint32_t)k;
		in += k;
		n -= k;
		if (partial == r->slot_samples) {
			capture_commit(s, r, slot, now);
			partial = 0;
			done_frame = 1;
		}
		atomic_store_explicit(&r->partial, partial, memory_order_relaxed);
	}
	if (done_frame)
		mark_ready(s->index);
	return 0;
}

size_t lr_drain(lr_capture_t *r, int16_t *dst, uint32_t max_frames, int64_t *oldest_stamp)
{
	size_t copied = 0;
	*oldest_stamp = 0;
	for (uint32_t f = 0; f < max_frames;) {
		uint64_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
		uint64_t head = atomic_load_explicit(&r->head, memory_order_acquire);
		if (tail == head)
			break;
		const unsigned char *slot = slot_at(r, tail, atomic_load_explicit(&r->base, memory_order_relaxed));
		int64_t stamp;
		memcpy(&stamp, slot, sizeof stamp);
		memcpy(dst + copied, slot + sizeof(int64_t), r->slot_samples * sizeof(int16_t));
		/* If the producer dropped this slot meanwhile, the copy may be torn:
		 * the failed claim discards it. */
		if (!atomic_compare_exchange_strong(&r->tail, &tail, tail + 1))
			continue;
		if (!*oldest_stamp)
			*oldest_stamp = stamp;
		copied += r->slot_samples;
		f++;
	}
	return copied;
}

/* The slots from pos the producer cannot be refilling: it writes slot head
 * while it is partly filled, which is slot head - nslots. */
static uint64_t peek_skip(const lr_capture_t *r, uint64_t head, uint64_t pos)
{
	uint64_t oldest = head >= r->nslots ? head - r->nslots + 1 : 0;
	return pos < oldest ? oldest - pos : 0;
}

size_t lr_peek(lr_capture_t *r, int16_t *dst, uint32_t max_frames)
{
	uint64_t head = atomic_load_explicit(&r->head, memory_order_acquire);
	uint64_t p = r->peek_pos;
	uint64_t base = atomic_load_explicit(&r->base, memory_order_relaxed); /* fixed: has_peeker */
	r->peek_lost = peek_skip(r, head, p);
	p += r->peek_lost;
	uint64_t n = head - p;
	if (n > max_frames)
		n = max_frames;
	for (uint64_t i = 0; i < n; i++)
		memcpy(dst + i * r->slot_samples, slot_pcm(slot_at(r, p + i, base)), r->slot_samples * sizeof(int16_t));
	/* Seqlock-style: what the producer started to refill while we copied is
	 * torn, and is dropped from the front. */
	atomic_thread_fence(memory_order_acquire);
	uint64_t torn = peek_skip(r, atomic_load_explicit(&r->head, memory_order_relaxed), p);
	if (torn > n)
		torn = n;
	if (torn) {
		memmove(dst, dst + torn * r->slot_samples, (n - torn) * r->slot_samples * sizeof(int16_t));
		r->peek_lost += torn;
	}
	r->peek_pos = p + n;
	return (size_t)((n - torn) * r->slot_samples);
}

void lr_capture_keep_ahead(lr_capture_t *r)
{
	if (!r->slots || r->resident >= r->mapped || !atomic_load_explicit(&populate_works, memory_order_relaxed))
		return;
	/* base first: head has only grown since base was set. */
	uint64_t base = atomic_load_explicit(&r->base, memory_order_acquire);
	uint64_t head = atomic_load_explicit(&r->head, memory_order_acquire);
	uint64_t reached = head > base ? head - base : 0;
	if (reached > r->nslots)
		reached = r->nslots;
	size_t need = (size_t)(reached + LR_AHEAD_SLOTS) * r->slot_bytes;
	if (need <= r->resident)
		return;
	size_t to = page_up(need);
	if (to > r->mapped)
		to = r->mapped;
	/* Faults the pages in as a write would, without writing: the producer
	 * may be filling them this instant. */
	if (madvise(r->slots + r->resident, to - r->resident, MADV_POPULATE_WRITE) != 0) {
		if (errno == EINVAL) /* an older kernel: no use asking again */
			atomic_store_explicit(&populate_works, 0, memory_order_relaxed);
		return;
	}
	r->resident = to;
}

int lr_pull(lr_stream_t *s, int16_t *out, size_t n)
{
	lr_play_t *p = &s->play;
	/* Acquire: a ring seen is a ring allocated. The samples it holds are
	 * published by head's release, as before. */
	int16_t *ring = atomic_load_explicit(&p->samples, memory_order_acquire);
	if (!ring)
		return 0;
	uint64_t tail = atomic_load_explicit(&p->tail, memory_order_relaxed);
	uint64_t discard = atomic_load_explicit(&p->discard_to, memory_order_acquire);
	if (discard > tail) {
		tail = discard;
		atomic_store_explicit(&p->tail, tail, memory_order_release);
		mark_ready(s->index);
	}
	uint64_t head = atomic_load_explicit(&p->head, memory_order_acquire);
	size_t avail = (size_t)(head - tail);
	size_t cap = p->size;
	if (avail == 0 || avail > cap) /* > cap: two hosts pulling at once */
		return 0;
	size_t k = avail < n ? avail : n;
	size_t at = (size_t)(tail & (cap - 1));
	size_t first = k < cap - at ? k : cap - at;
	memcpy(out, ring + at, first * sizeof(int16_t));
	memcpy(out + first, ring, (k - first) * sizeof(int16_t));
	if (k < n)
		memset(out + k, 0, (n - k) * sizeof(int16_t));
	atomic_fetch_add_explicit(&p->played, k, memory_order_relaxed);
	atomic_store_explicit(&p->tail, tail + k, memory_order_release);
	mark_ready(s->index);
	return (int)n;
}

/* Samples the consumer is about to skip still count as taken: it may be
 * copying them this instant, so their room frees only once it has moved on.
 * A ring not allocated yet is all room. */
size_t lr_play_space(lr_play_t *p)
{
	if (!p->size)
		return 0;
	uint64_t head = atomic_load_explicit(&p->head, memory_order_relaxed);
	uint64_t tail = atomic_load_explicit(&p->tail, memory_order_acquire);
	return (size_t)p->size - (size_t)(head - tail);
}

/* The ring's memory, allocated on its first use; NULL when out of memory.
 * Producer only: nobody else stores the pointer. */
static int16_t *play_ring(lr_play_t *p)
{
	int16_t *ring = atomic_load_explicit(&p->samples, memory_order_relaxed);
	if (ring)
		return ring;
	ring = malloc((size_t)p->size * sizeof(int16_t));
	if (!ring)
		return NULL;
	atomic_fetch_add_explicit(&play_bytes, (uint64_t)p->size * sizeof(int16_t), memory_order_relaxed);
	atomic_fetch_add_explicit(&play_rings, 1, memory_order_relaxed);
	/* Release pairs with lr_pull's acquire. The consumer reads only
	 * samples below head, which the first write publishes after this. */
	atomic_store_explicit(&p->samples, ring, memory_order_release);
	return ring;
}

size_t lr_play_write(lr_play_t *p, const int16_t *src, size_t n)
{
	size_t space = lr_play_space(p);
	size_t k = n < space ? n : space;
	if (k == 0)
		return 0;
	int16_t *ring = play_ring(p);
	if (!ring)
		return 0;
	uint64_t head = atomic_load_explicit(&p->head, memory_order_relaxed);
	size_t cap = p->size;
	size_t at = (size_t)(head & (cap - 1));
	size_t first = k < cap - at ? k : cap - at;
	memcpy(ring + at, src, first * sizeof(int16_t));
	memcpy(ring, src + first, (k - first) * sizeof(int16_t));
	atomic_store_explicit(&p->head, head + k, memory_order_release);
	return k;
}

void lr_play_discard(lr_play_t *p)
{
	atomic_store_explicit(&p->discard_to, atomic_load(&p->head), memory_order_release);
}

int lr_dtmf_push(lr_stream_t *s, char digit, uint32_t duration)
{
	lr_dtmf_t *d = &s->dtmf;
	uint32_t head = atomic_load_explicit(&d->head, memory_order_relaxed);
	uint32_t tail = atomic_load_explicit(&d->tail, memory_order_acquire);
	if (head - tail >= LR_DTMF_SLOTS)
		return -1; /* nobody types 32 digits inside one engine wake-up */
	d->digit[head % LR_DTMF_SLOTS] = digit;
	d->duration[head % LR_DTMF_SLOTS] = duration;
	atomic_store_explicit(&d->head, head + 1, memory_order_release);
	mark_ready(s->index);
	return 0;
}

int lr_dtmf_pop(lr_stream_t *s, char *digit, uint32_t *duration)
{
	lr_dtmf_t *d = &s->dtmf;
	uint32_t tail = atomic_load_explicit(&d->tail, memory_order_relaxed);
	uint32_t head = atomic_load_explicit(&d->head, memory_order_acquire);
	if (tail == head)
		return 0;
	*digit = d->digit[tail % LR_DTMF_SLOTS];
	*duration = d->duration[tail % LR_DTMF_SLOTS];
	atomic_store_explicit(&d->tail, tail + 1, memory_order_release);
	return 1;
}

static uint64_t backlog(lr_capture_t *r)
{
	return atomic_load(&r->head) - atomic_load(&r->tail);
}

int lr_pending(lr_stream_t *s)
{
	uint64_t n = backlog(&s->read);
	if (s->has_write && backlog(&s->write) > n)
		n = backlog(&s->write);
	return (int)n;
}
