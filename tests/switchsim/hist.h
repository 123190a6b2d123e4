/*
 * hist.h: a latency histogram cheap enough to update after every hook call
 * on a media thread: fixed size, no allocation, no locks (one per thread,
 * merged at the end).
 */
#ifndef SWITCHSIM_HIST_H
#define SWITCHSIM_HIST_H

#include <stdint.h>

/* 10 ns linear buckets below 20 us, where the hooks are expected to live;
 * above, 16 buckets per power of two (< 6.25 % error) up to 2^30 ns, about 1 s;
 * one last bucket for anything longer. */
#define HIST_LIN_NS 10
#define HIST_LIN 2000
#define HIST_LOG_FIRST 14 /* 2^14 <= 20000 ns < 2^15 */
#define HIST_LOG_LAST 29
#define HIST_LOG_SUB 16
#define HIST_N (HIST_LIN + (HIST_LOG_LAST - HIST_LOG_FIRST + 1) * HIST_LOG_SUB + 1)

struct hist {
	uint64_t count;
	uint64_t max_ns;
	uint32_t b[HIST_N];
};

static inline void hist_add(struct hist *h, uint64_t ns)
{
	unsigned i;
	if (ns < HIST_LIN * HIST_LIN_NS) {
		i = (unsigned)(ns / HIST_LIN_NS);
	} else {
		int msb = 63 - __builtin_clzll(ns);
		if (msb > HIST_LOG_LAST)
			i = HIST_N - 1;
		else
			i = HIST_LIN + (unsigned)(msb - HIST_LOG_FIRST) * HIST_LOG_SUB +
			    (unsigned)((ns >> (msb - 4)) & (HIST_LOG_SUB - 1));
	}
	h->b[i]++;
	h->count++;
	if (ns > h->max_ns)
		h->max_ns = ns;
}

void hist_merge(struct hist *into, const struct hist *from);

/* The value at quantile q (0 < q <= 1) in ns: the upper edge of the bucket
 * holding it, never above the maximum seen. 0 when empty. */
uint64_t hist_quantile(const struct hist *h, double q);

#endif
