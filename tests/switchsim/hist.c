#include "hist.h"

#include <math.h>

void hist_merge(struct hist *into, const struct hist *from)
{
	for (unsigned i = 0; i < HIST_N; i++)
		into->b[i] += from->b[i];
	into->count += from->count;
	if (from->max_ns > into->max_ns)
		into->max_ns = from->max_ns;
}

static uint64_t upper_edge(unsigned i, uint64_t max_ns)
{
	if (i < HIST_LIN)
		return (uint64_t)(i + 1) * HIST_LIN_NS;
	if (i == HIST_N - 1)
		return max_ns;
	unsigned msb = (i - HIST_LIN) / HIST_LOG_SUB + HIST_LOG_FIRST;
	uint64_t sub = (i - HIST_LIN) % HIST_LOG_SUB;
	return (HIST_LOG_SUB + sub + 1) << (msb - 4);
}

uint64_t hist_quantile(const struct hist *h, double q)
{
	if (h->count == 0)
		return 0;
	uint64_t rank = (uint64_t)ceil(q * (double)h->count);
	if (rank < 1)
		rank = 1;
	uint64_t seen = 0;
	for (unsigned i = 0; i < HIST_N; i++) {
		seen += h->b[i];
		if (seen >= rank) {
			uint64_t v = upper_edge(i, h->max_ns);
			return v < h->max_ns ? v : h->max_ns;
		}
	}
	return h->max_ns;
}
