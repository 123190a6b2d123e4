/*
 * startbench: measures how long a switch waits to start a listen while many
 * are live, through liblisten.so loaded as FreeSWITCH loads it.
 *
 * It creates --streams listens to a server (a local sink), one after the
 * other, feeds each 20 ms of audio every 20 ms from one media thread, waits
 * until they are all connected, then starts --starts more back to back, as a
 * switch answering a burst of calls would: each start is what mod_listen does
 * for uuid_listen start (listen_config_resolve, listen_stream_create,
 * listen_stream_status). Meanwhile other host threads do the rest of a
 * switch's control work: one hangs up the oldest listen for every one started
 * (listen_stream_stop, listen_stream_destroy), one asks for the status of every
 * listen every --status-ms (listen_status_all). --rounds repeats the burst.
 *
 * Prints one JSON line: the latency of each kind of call (ms: p50, p99, max),
 * the time of each burst, and the counts that say whether the run was sound.
 *
 * usage: startbench --lib liblisten.so --url ws://... [--streams N]
 *                   [--starts N] [--rounds N] [--status-ms N]
 */
#define _GNU_SOURCE /* pthread_setname_np */

#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "switchsim/listen_api.h"

#define RATE 8000
#define FRAME (RATE / 50)
#define ERRLEN 512

static struct listen_api api;
static atomic_int connects, stops, failures;

static struct {
	const char *lib, *url;
	int streams, starts, rounds, status_ms;
} opt = { .streams = 1000, .starts = 200, .rounds = 3, .status_ms = 100 };

static int64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* Latencies of one kind of call, kept whole: a few thousand at most. */
struct lat {
	int64_t *ns;
	int n, cap;
	pthread_mutex_t mu;
};

static void lat_add(struct lat *l, int64_t ns)
{
	pthread_mutex_lock(&l->mu);
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 1024;
		l->ns = realloc(l->ns, (size_t)l->cap * sizeof(*l->ns));
		if (!l->ns) {
			fprintf(stderr, "startbench: out of memory\n");
			exit(1);
		}
	}
	l->ns[l->n++] = ns;
	pthread_mutex_unlock(&l->mu);
}

static int cmp_ns(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

static void lat_json(const char *name, struct lat *l)
{
	qsort(l->ns, (size_t)l->n, sizeof(*l->ns), cmp_ns);
#define Q(q) (l->n ? l->ns[(int)((l->n - 1) * (q))] / 1e6 : 0)
	printf("\"%s\":{\"count\":%d,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f}", name, l->n, Q(0.5), Q(0.99),
	       Q(1.0));
#undef Q
}

static struct lat ramp_create, create, start, hangup, status_all;

static void on_event(void *host_user, void *stream_user, const char *name, const char *json)
{
	(void)host_user, (void)stream_user, (void)json;
	if (!strcmp(name, "connect"))
		atomic_fetch_add(&connects, 1);
	else if (!strcmp(name, "stop"))
		atomic_fetch_add(&stops, 1);
	else if (!strcmp(name, "connect_failed"))
		atomic_fetch_add(&failures, 1);
}

/* The live listens, oldest first: a ring the starter appends to and the
 * hangup thread takes from. The media thread reads every slot. */
static _Atomic listen_stream_t *live;
static int live_cap;
static atomic_int live_head, live_tail; /* counters; slot = counter % live_cap */
static atomic_int running = 1;

static void *media_thread(void *arg)
{
	(void)arg;
	static int16_t frame[FRAME];
	for (int i = 0; i < FRAME; i++)
		frame[i] = (int16_t)((i % 40 - 20) * 300); /* not silence */
	struct timespec next;
	clock_gettime(CLOCK_MONOTONIC, &next);
	while (atomic_load(&running)) {
		for (int i = 0; i < live_cap; i++) {
			listen_stream_t h = atomic_load_explicit(&live[i], memory_order_relaxed);
			if (h)
				api.stream_push_read(h, frame, FRAME);
		}
		next.tv_nsec += 20000000;
		if (next.tv_nsec >= 1000000000) {
			next.tv_nsec -= 1000000000;
			next.tv_sec++;
		}
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
	}
	return NULL;
}

/* Hangs up the oldest listens while more than --streams are live, as calls
 * ending on their own session threads would. */
static void *hangup_thread(void *arg)
{
	(void)arg;
	while (atomic_load(&running)) {
		int head = atomic_load(&live_head), tail = atomic_load(&live_tail);
		if (tail - head <= opt.streams) {
			usleep(200);
			continue;
		}
		int slot = head % live_cap;
		listen_stream_t h = atomic_exchange(&live[slot], 0);
		atomic_store(&live_head, head + 1);
		int64_t t0 = now_ns();
		api.stream_stop(h, "hangup");
		api.stream_destroy(h);
		lat_add(&hangup, now_ns() - t0);
	}
	return NULL;
}

static void *status_thread(void *arg)
{
	(void)arg;
	size_t len = 1 << 20;
	char *buf = malloc(len);
	while (atomic_load(&running) && buf) {
		int64_t t0 = now_ns();
		int n = api.status_all(buf, len);
		lat_add(&status_all, now_ns() - t0);
		if (n >= (int)len) {
			len = (size_t)n + 4096;
			free(buf);
			buf = malloc(len);
		}
		usleep((useconds_t)opt.status_ms * 1000);
	}
	free(buf);
	return NULL;
}

static const char *call_json =
	"{\"callSid\":\"5f1b2c3d-0000-4000-8000-00000000beef\",\"from\":\"+15551230000\",\"to\":\"+15557650000\","
	"\"direction\":\"inbound\",\"callerName\":\"bench\",\"accountSid\":\"acc-1\",\"applicationSid\":\"app-1\"}";
static char config_json[1024];

/* One listen started: appended to the live ring. With full, as mod_listen's
 * uuid_listen start; otherwise the create alone (the ramp). */
static int start_one(int full, struct lat *create_lat)
{
	char err[ERRLEN], resolved[2048], status[2048];
	int64_t t0 = now_ns();
	const char *cfg = config_json;
	if (full) {
		int n = api.config_resolve(config_json, resolved, sizeof(resolved), err, sizeof(err));
		if (n < 0 || n >= (int)sizeof(resolved)) {
			fprintf(stderr, "startbench: listen_config_resolve: %d %s\n", n, n < 0 ? err : "(too long)");
			return -1;
		}
		cfg = resolved;
	}
	int64_t t1 = now_ns();
	listen_stream_t h = api.stream_create(cfg, call_json, RATE, 0, NULL, err, sizeof(err));
	int64_t t2 = now_ns();
	if (!h) {
		fprintf(stderr, "startbench: listen_stream_create: %s\n", err);
		return -1;
	}
	api.stream_media(h);
	if (full && api.stream_status(h, status, sizeof(status)) < 0) {
		fprintf(stderr, "startbench: listen_stream_status failed\n");
		return -1;
	}
	int64_t t3 = now_ns();
	lat_add(create_lat, t2 - t1);
	if (full)
		lat_add(&start, t3 - t0);
	int tail = atomic_load(&live_tail);
	atomic_store(&live[tail % live_cap], h);
	atomic_store(&live_tail, tail + 1);
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: startbench --lib liblisten.so --url ws://... [--streams N] [--starts N] [--rounds N] "
	                "[--status-ms N]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "lib", required_argument, 0, 'l' },     { "url", required_argument, 0, 'u' },
		{ "streams", required_argument, 0, 'n' }, { "starts", required_argument, 0, 's' },
		{ "rounds", required_argument, 0, 'r' },  { "status-ms", required_argument, 0, 'm' },
		{ 0, 0, 0, 0 }
	};
	int c;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'l': opt.lib = optarg; break;
		case 'u': opt.url = optarg; break;
		case 'n': opt.streams = atoi(optarg); break;
		case 's': opt.starts = atoi(optarg); break;
		case 'r': opt.rounds = atoi(optarg); break;
		case 'm': opt.status_ms = atoi(optarg); break;
		default: usage();
		}
	}
	if (!opt.lib || !opt.url || opt.streams < 1 || opt.starts < 1 || opt.rounds < 1 || opt.status_ms < 1)
		usage();
	snprintf(config_json, sizeof(config_json),
	         "{\"url\":\"%s\",\"sampleRate\":8000,\"mixType\":\"mono\",\"metadata\":{\"bench\":\"start\"}}", opt.url);

	char err[ERRLEN];
	if (listen_api_load(opt.lib, &api, err, sizeof(err)) != 0) {
		fprintf(stderr, "startbench: %s\n", err);
		return 1;
	}
	listen_host_t host = { .abi_version = LISTEN_ABI_VERSION, .event = on_event };
	if (api.init(&host, NULL, err, sizeof(err)) != LISTEN_OK) {
		fprintf(stderr, "startbench: listen_init: %s\n", err);
		return 1;
	}
	live_cap = opt.streams + opt.starts + 1;
	live = calloc((size_t)live_cap, sizeof(*live));
	if (!live)
		return 1;

	pthread_t media, hangups, statuses;
	pthread_create(&media, NULL, media_thread, NULL);
	pthread_setname_np(media, "sbmedia");

	int created = 0;
	for (int i = 0; i < opt.streams; i++, created++)
		if (start_one(0, &ramp_create) != 0)
			return 1;
	for (int64_t until = now_ns() + 30 * 1000000000LL;
	     atomic_load(&connects) + atomic_load(&failures) < opt.streams && now_ns() < until;)
		usleep(10000);
	int connected = atomic_load(&connects);

	pthread_create(&hangups, NULL, hangup_thread, NULL);
	pthread_create(&statuses, NULL, status_thread, NULL);
	double *burst_ms = calloc((size_t)opt.rounds, sizeof(double));
	for (int r = 0; r < opt.rounds; r++) {
		sleep(1); /* the last burst's listens connect, its hangups finish */
		int64_t t0 = now_ns();
		for (int i = 0; i < opt.starts; i++, created++)
			if (start_one(1, &create) != 0)
				return 1;
		burst_ms[r] = (double)(now_ns() - t0) / 1e6;
	}
	atomic_store(&running, 0);
	pthread_join(hangups, NULL);
	pthread_join(statuses, NULL);
	pthread_join(media, NULL);

	for (int i = 0; i < live_cap; i++) {
		listen_stream_t h = atomic_exchange(&live[i], 0);
		if (h) {
			api.stream_stop(h, "hangup");
			api.stream_destroy(h);
		}
	}
	for (int64_t until = now_ns() + 30 * 1000000000LL; atomic_load(&stops) < created && now_ns() < until;)
		usleep(10000);
	int stopped = atomic_load(&stops);
	int shut = api.shutdown(10000);

	printf("{\"streams\":%d,\"starts\":%d,\"rounds\":%d,\"status_ms\":%d,\"connected\":%d,\"connect_failed\":%d,"
	       "\"created\":%d,\"stops\":%d,\"shutdown\":%d,\"bursts_ms\":[",
	       opt.streams, opt.starts, opt.rounds, opt.status_ms, connected, atomic_load(&failures), created, stopped,
	       shut);
	for (int r = 0; r < opt.rounds; r++)
		printf("%s%.1f", r ? "," : "", burst_ms[r]);
	printf("],");
	lat_json("ramp_create", &ramp_create);
	putchar(',');
	lat_json("create", &create);
	putchar(',');
	lat_json("start", &start);
	putchar(',');
	lat_json("hangup", &hangup);
	putchar(',');
	lat_json("status_all", &status_all);
	printf("}\n");
	return stopped == created && shut == LISTEN_OK ? 0 : 3;
}
