/*
 * abi_test: checks liblisten.so against the contract in listen.h, loaded the
 * way a switch loads it (dlopen). One line per check; exit status 1 if any
 * failed.
 *
 * usage: abi_test /path/to/liblisten.so
 */
#define _GNU_SOURCE /* pthread_condattr_setclock, strdup */

#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "switchsim/jsonscan.h"
#include "switchsim/listen_api.h"

#define MAX_EVENTS 64
#define STOP_WAIT_S 10

static struct listen_api api;
static int failures;

/* What the engine threads report about one of the test's streams; its
 * address is the stream's user pointer. */
struct rec {
	char *name[MAX_EVENTS], *json[MAX_EVENTS];
	int n, nstops, after_stop;
};
static pthread_mutex_t ev_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ev_cv;
static struct rec rec_stop_first, rec_destroy_first, rec_racing, rec_quiet, rec_beep, rec_beside_slow, rec_hook_hangs,
	rec_listed;
/* The user pointer of refused creates: no stream was created, so it must
 * never come back in a callback. */
static int refused_tag;
static int refused_callbacks;
/* The user pointer of the streams created and destroyed in a burst, and
 * their "stop" events. */
static int churn_tag;
static int churn_stops;

static void check(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void check(int ok, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("%s ", ok ? "ok  " : "FAIL");
	vprintf(fmt, ap);
	putchar('\n');
	va_end(ap);
	if (!ok)
		failures++;
}

static void check_rc(int got, int want, const char *what)
{
	check(got == want, "%s -> %d (want %d)", what, got, want);
}

static struct rec *rec_of(void *stream_user)
{
	if (stream_user == &rec_stop_first)
		return &rec_stop_first;
	if (stream_user == &rec_destroy_first)
		return &rec_destroy_first;
	if (stream_user == &rec_racing)
		return &rec_racing;
	if (stream_user == &rec_quiet)
		return &rec_quiet;
	if (stream_user == &rec_beep)
		return &rec_beep;
	if (stream_user == &rec_beside_slow)
		return &rec_beside_slow;
	if (stream_user == &rec_hook_hangs)
		return &rec_hook_hangs;
	if (stream_user == &rec_listed)
		return &rec_listed;
	return NULL;
}

/* Caller holds ev_mu. */
static void note_callback(void *stream_user)
{
	struct rec *r = rec_of(stream_user);
	if (r && r->nstops)
		r->after_stop++;
	refused_callbacks += stream_user == &refused_tag;
}

static void on_log(void *host_user, void *stream_user, int level, const char *line)
{
	(void)host_user;
	pthread_mutex_lock(&ev_mu);
	note_callback(stream_user);
	pthread_mutex_unlock(&ev_mu);
	fprintf(stderr, "  log[%d] %s\n", level, line);
}

static void on_event(void *host_user, void *stream_user, const char *name, const char *json)
{
	(void)host_user;
	pthread_mutex_lock(&ev_mu);
	note_callback(stream_user);
	struct rec *r = rec_of(stream_user);
	if (r) {
		if (r->n < MAX_EVENTS) {
			r->name[r->n] = strdup(name);
			r->json[r->n] = strdup(json ? json : "");
			r->n++;
		}
		if (strcmp(name, "stop") == 0) {
			r->nstops++;
			pthread_cond_broadcast(&ev_cv);
		}
	}
	if (stream_user == &churn_tag && strcmp(name, "stop") == 0) {
		churn_stops++;
		pthread_cond_broadcast(&ev_cv);
	}
	pthread_mutex_unlock(&ev_mu);
}

/* create must refuse config/codec_rate with 0 and an error text naming the
 * problem: each of want[] must occur in it. */
static void check_create_refused(const char *config, int codec_rate, const char *const *want)
{
	char err[1024] = "";
	listen_stream_t h = api.stream_create(config, NULL, codec_rate, 0, &refused_tag, err, sizeof err);
	check(h == 0, "create(%s, rate %d) refused (handle %llu)", config, codec_rate,
	      (unsigned long long)h);
	for (; *want; want++)
		check(strstr(err, *want) != NULL, "  error text contains '%s': %s", *want, err);
	if (h)
		api.stream_destroy(h);
}

static void check_bad_handle(listen_stream_t h)
{
	int16_t frame[160] = {0};
	char buf[256], err[256];
	char what[64];
#define BAD(call, name)                                                               \
	do {                                                                          \
		snprintf(what, sizeof what, "%s(0x%llx)", name, (unsigned long long)h); \
		check_rc(call, LISTEN_EBADHANDLE, what);                              \
	} while (0)
	BAD(api.stream_push_read(h, frame, 160), "push_read");
	BAD(api.stream_push_write(h, frame, 160), "push_write");
	BAD(api.stream_pull_play(h, frame, 160), "pull_play");
	BAD(api.stream_dtmf(h, '1', 1600), "dtmf");
	BAD(api.stream_pending(h), "pending");
	BAD(api.stream_pause(h, 1), "pause");
	BAD(api.stream_stop(h, "hangup"), "stop");
	BAD(api.stream_send_text(h, "{}", err, sizeof err), "send_text");
	BAD(api.stream_status(h, buf, sizeof buf), "status");
	BAD(api.stream_destroy(h), "destroy");
#undef BAD
}

static int wait_for_stop(struct rec *r)
{
	struct timespec deadline;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += STOP_WAIT_S;
	pthread_mutex_lock(&ev_mu);
	while (!r->nstops && pthread_cond_timedwait(&ev_cv, &ev_mu, &deadline) != ETIMEDOUT)
		;
	int got = r->nstops;
	pthread_mutex_unlock(&ev_mu);
	return got;
}

/* Prints what arrived and checks it; the stop event's reason (raw JSON, ""
 * if none) goes to reason for the caller to judge. A listen that failed to
 * connect says so in a "connect_failed" event; one the host ended while it
 * was still dialling must not. */
static void check_events(struct rec *r, char *reason, size_t len)
{
	pthread_mutex_lock(&ev_mu);
	int saw_connect_failed = 0;
	for (int i = 0; i < r->n; i++) {
		printf("     event %s %s\n", r->name[i], r->json[i]);
		saw_connect_failed |= strcmp(r->name[i], "connect_failed") == 0;
	}
	reason[0] = 0;
	if (r->n > 0 && strcmp(r->name[r->n - 1], "stop") == 0) {
		const char *stop = r->json[r->n - 1], *v;
		size_t n;
		if (json_member(stop, "reason", &v, &n))
			snprintf(reason, len, "%.*s", (int)n, v);
		int failed = strcmp(reason, "\"connect_failed\"") == 0;
		check(saw_connect_failed == failed, "\"connect_failed\" event %s (reason %s)",
		      failed ? "present" : "absent", reason);
		check(json_member(stop, "durationMs", &v, &n), "stop has durationMs");
		check(json_member(stop, "framesDropped", &v, &n), "stop has framesDropped");
	}
	pthread_mutex_unlock(&ev_mu);
}

/* A stream to a port where nothing listens: it must fail to connect, report
 * it, and follow the lifetime contract whichever comes first, its "stop"
 * event or the host's destroy. */
static void check_stream_lifetime(struct rec *r, int destroy_first)
{
	char err[1024] = "", buf[4096], reason[64];
	const char *config = "{\"url\":\"ws://127.0.0.1:1\"}";
	printf("---- stream to %s, %s\n", config,
	       destroy_first ? "destroyed at once" : "destroyed after its \"stop\" event");
	listen_stream_t h =
		api.stream_create(config, "{\"callSid\":\"abi-test\"}", 8000, 0, r, err, sizeof err);
	check(h != 0, "create -> handle %llu %s", (unsigned long long)h, err);
	if (!h)
		return;

	int16_t frame[160] = {0};
	/* The refused connection may end the listen before these. */
	for (int i = 0; i < 3; i++) {
		int rc = api.stream_push_read(h, frame, 160);
		check(rc == LISTEN_OK || rc == LISTEN_ENDED, "push_read(frame) -> %d (want %d or %d)", rc,
		      LISTEN_OK, LISTEN_ENDED);
	}
	check_rc(api.stream_push_read(h, NULL, 160), LISTEN_EINVAL, "push_read(NULL samples)");
	check_rc(api.stream_push_write(h, NULL, 160), LISTEN_EINVAL, "push_write(NULL samples)");
	check_rc(api.stream_dtmf(h, 'x', 1600), LISTEN_EINVAL, "dtmf('x')");
	int pending = api.stream_pending(h);
	check(pending >= 0, "pending -> %d (want >= 0)", pending);
	int n = api.stream_status(h, buf, sizeof buf);
	check(n > 0 && buf[0] == '{', "status -> %d: %s", n, n > 0 ? buf : "");
	err[0] = 0;
	check_rc(api.stream_send_text(h, "{\"text\":\"\xff\xfe\"}", err, sizeof err), LISTEN_EINVAL,
	         "send_text(invalid UTF-8)");
	check(strstr(err, "UTF-8") != NULL, "send_text(invalid UTF-8) says why: %s", err);
	check_rc(api.stream_send_text(h, "{\"text\":\"caf\xc3\xa9\"}", err, sizeof err), LISTEN_OK,
	         "send_text(valid UTF-8)");
	static char big[70 * 1024];
	memset(big, 'x', sizeof big - 1);
	memcpy(big, "{\"text\":\"", 9);
	memcpy(big + sizeof big - 3, "\"}", 3);
	err[0] = 0;
	check_rc(api.stream_send_text(h, big, err, sizeof err), LISTEN_EINVAL, "send_text(70 KiB)");
	check(strstr(err, "larger") != NULL, "send_text(70 KiB) says why: %s", err);

	if (destroy_first) {
		check_rc(api.stream_destroy(h), LISTEN_OK, "destroy");
		check_rc(api.stream_push_read(h, frame, 160), LISTEN_EBADHANDLE, "push_read after destroy");
		check_rc(api.stream_destroy(h), LISTEN_EBADHANDLE, "destroy after destroy");
		check(wait_for_stop(r), "\"stop\" event within %d s", STOP_WAIT_S);
		/* destroy races the failing connect: either may end the stream. */
		check_events(r, reason, sizeof reason);
		check(strcmp(reason, "\"connect_failed\"") == 0 || strcmp(reason, "\"hangup\"") == 0,
		      "stop reason is \"connect_failed\" or \"hangup\": %s", reason);
	} else {
		check(wait_for_stop(r), "\"stop\" event within %d s", STOP_WAIT_S);
		check_events(r, reason, sizeof reason);
		check(strcmp(reason, "\"connect_failed\"") == 0, "stop reason is \"connect_failed\": %s",
		      reason);
		/* The handle stays valid until destroy; the per-frame calls say the
		 * listen has ended. */
		check_rc(api.stream_push_read(h, frame, 160), LISTEN_ENDED, "push_read after \"stop\"");
		check_rc(api.stream_push_write(h, frame, 160), LISTEN_ENDED, "push_write after \"stop\"");
		check_rc(api.stream_dtmf(h, '1', 1600), LISTEN_ENDED, "dtmf after \"stop\"");
		n = api.stream_pull_play(h, frame, 160);
		check(n >= 0, "pull_play after \"stop\" -> %d (want >= 0)", n);
		check_rc(api.stream_destroy(h), LISTEN_OK, "destroy after \"stop\"");
		check_rc(api.stream_push_read(h, frame, 160), LISTEN_EBADHANDLE, "push_read after destroy");
	}
}

/* Two host threads pushing to (and pulling from) one stream at once break
 * the header's one-thread-per-direction rule. The engine must garble that
 * stream's audio at worst and never write outside its rings: under the
 * AddressSanitizer build (scripts/test) an overflow fails the run. */
struct racer {
	listen_stream_t h;
	int seed, failed;
};

static void *race(void *arg)
{
	struct racer *r = arg;
	int16_t in[700], out[700];
	for (size_t i = 0; i < sizeof in / sizeof in[0]; i++)
		in[i] = (int16_t)(i * 37);
	for (int i = 0; i < 200000; i++) {
		/* Odd sizes, some over a 20 ms slot, so pushes straddle slots. */
		size_t n = 1 + (size_t)((i * 7919 + r->seed) % 699);
		if (api.stream_push_read(r->h, in, n) != LISTEN_OK ||
		    api.stream_push_write(r->h, in, n) != LISTEN_OK ||
		    api.stream_pull_play(r->h, out, n) < 0)
			r->failed++;
	}
	return NULL;
}

static void check_racing_threads(void)
{
	/* A listening socket that never answers: the stream stays in its
	 * connect while the threads push. */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof a;
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) || listen(fd, 4) ||
	    getsockname(fd, (struct sockaddr *)&a, &alen)) {
		check(0, "racing threads: a listening socket: %s", strerror(errno));
		return;
	}
	char config[128], err[1024] = "";
	snprintf(config, sizeof config, "{\"url\":\"ws://127.0.0.1:%d\",\"mixType\":\"stereo\"}",
	         ntohs(a.sin_port));
	printf("---- two threads pushing and pulling on one stream (%s)\n", config);
	listen_stream_t h = api.stream_create(config, NULL, 8000, 0, &rec_racing, err, sizeof err);
	check(h != 0, "create -> handle %llu %s", (unsigned long long)h, err);
	if (h) {
		struct racer r[2] = {{.h = h, .seed = 1}, {.h = h, .seed = 500}};
		pthread_t t[2];
		for (int i = 0; i < 2; i++)
			pthread_create(&t[i], NULL, race, &r[i]);
		for (int i = 0; i < 2; i++)
			pthread_join(t[i], NULL);
		check(r[0].failed == 0 && r[1].failed == 0,
		      "every racing push and pull returned OK (%d, %d failed)", r[0].failed, r[1].failed);
		check_rc(api.stream_destroy(h), LISTEN_OK, "destroy after the race");
		check(wait_for_stop(&rec_racing), "\"stop\" event within %d s", STOP_WAIT_S);
	}
	close(fd);
}

/* listen_resample: the length it needs, a 44.1 kHz tone at 8 kHz, bad rates. */
static void check_resample(void)
{
	enum { IN = 4410, OUT = 800 };
	static int16_t in[IN], out[OUT + 1];
	char err[256] = "";
	for (int i = 0; i < IN; i++)
		in[i] = (int16_t)lrint(10000 * sin(2 * M_PI * 1000 * i / 44100.0));
	int n = api.resample(in, IN, 44100, NULL, 0, 8000, err, sizeof err);
	check(n == OUT, "resample(44100 -> 8000, no room) needs %d samples (want %d) %s", n, OUT, err);
	out[OUT] = 12345;
	n = api.resample(in, IN, 44100, out, OUT, 8000, err, sizeof err);
	double peak = 0;
	for (int i = 100; i < OUT - 100; i++)
		peak = fmax(peak, fabs((double)out[i]));
	check(n == OUT && out[OUT] == 12345 && fabs(peak - 10000) < 150,
	      "resample(44100 -> 8000) -> %d, peak %.0f (want %d, 10000, nothing past the end)", n, peak, OUT);
	err[0] = 0;
	n = api.resample(in, IN, 4000, out, OUT, 8000, err, sizeof err);
	check(n == LISTEN_EINVAL && strstr(err, "4000"), "resample(4000 -> 8000) -> %d: %s", n, err);
}

/* A slow engine-wide call (resampling a long clip) on one host thread must
 * not hold up a create, status and destroy on another: they are served on
 * another lane. */
struct slow_call {
	int16_t *in, *out;
	size_t n;
	atomic_int done;
};

static void *slow_resample(void *arg)
{
	struct slow_call *c = arg;
	char err[256];
	api.resample(c->in, c->n, 44100, c->out, c->n * 2, 48000, err, sizeof err);
	atomic_store(&c->done, 1);
	return NULL;
}

static void check_create_beside_slow_call(void)
{
	enum { SECONDS = 120 };
	struct slow_call c = {.n = 44100 * SECONDS};
	c.in = calloc(c.n, sizeof *c.in);
	c.out = calloc(c.n * 2, sizeof *c.out);
	if (!c.in || !c.out) {
		check(0, "memory for the slow call");
		return;
	}
	for (size_t i = 0; i < c.n; i++)
		c.in[i] = (int16_t)(i * 37);
	pthread_t t;
	pthread_create(&t, NULL, slow_resample, &c);
	usleep(100 * 1000); /* the resample is under way */
	int busy_before = !atomic_load(&c.done);
	char err[256] = "", buf[1024];
	listen_stream_t h =
		api.stream_create("{\"url\":\"ws://127.0.0.1:1\"}", NULL, 8000, 0, &rec_beside_slow, err, sizeof err);
	int n = h ? api.stream_status(h, buf, sizeof buf) : -1;
	int destroyed = h ? api.stream_destroy(h) : -1;
	int busy_after = !atomic_load(&c.done);
	check(h != 0 && n > 0 && destroyed == LISTEN_OK, "create, status, destroy beside a resample -> %llu, %d, %d %s",
	      (unsigned long long)h, n, destroyed, err);
	check(busy_before, "the resample of %d s of 44.1 kHz audio was still running after 100 ms", SECONDS);
	check(busy_after, "create, status and destroy returned before the resample did");
	pthread_join(t, NULL);
	if (h)
		check(wait_for_stop(&rec_beside_slow), "\"stop\" event within %d s", STOP_WAIT_S);
	free(c.in);
	free(c.out);
}

/* listen_status_all reads every stream on one control thread while, on the
 * other, streams end and are destroyed (their memory freed): the listing
 * stays whole, and lists a live stream under its handle. */
struct status_poller {
	atomic_int stop;
	int calls, bad;
};

static void *poll_status_all(void *arg)
{
	struct status_poller *p = arg;
	static char buf[1 << 17];
	while (!atomic_load(&p->stop)) {
		int n = api.status_all(buf, sizeof buf);
		p->calls++;
		if (n < 2 || buf[0] != '[' || (n < (int)sizeof buf && buf[n - 1] != ']'))
			p->bad++;
	}
	return NULL;
}

static void check_status_all_while_streams_end(void)
{
	enum { N = 200 };
	static listen_stream_t hs[N];
	char err[256], buf[4096], want[64], config[128];
	printf("---- listen_status_all while %d streams end and are destroyed\n", N);
	/* A listening socket that never answers keeps streams connecting. */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof a;
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) || listen(fd, 4) ||
	    getsockname(fd, (struct sockaddr *)&a, &alen)) {
		check(0, "status_all: a listening socket: %s", strerror(errno));
		return;
	}
	snprintf(config, sizeof config, "{\"url\":\"ws://127.0.0.1:%d\"}", ntohs(a.sin_port));
	int created = 0;
	for (int i = 0; i < N; i++)
		if ((hs[i] = api.stream_create(config, NULL, 8000, 0, &churn_tag, err, sizeof err)))
			created++;

	listen_stream_t h = api.stream_create(config, NULL, 8000, 0, &rec_listed, err, sizeof err);
	static char all[1 << 17];
	int n = h ? api.status_all(all, sizeof all) : -1;
	snprintf(want, sizeof want, "\"handle\":%llu,", (unsigned long long)h);
	check(h && n > 0 && all[0] == '[' && strstr(all, want) && strstr(all, "\"state\":\"connecting\""),
	      "status_all lists a live stream under its handle");
	n = h ? api.stream_status(h, buf, sizeof buf) : -1;
	check(n > 0, "status of that stream: %s", n > 0 ? buf : "");

	/* Every stream is released while the listing reads them all. */
	struct status_poller p = {0};
	pthread_t t;
	pthread_create(&t, NULL, poll_status_all, &p);
	usleep(20 * 1000);
	for (int i = 0; i < N; i++)
		if (hs[i])
			api.stream_destroy(hs[i]);
	struct timespec until;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += STOP_WAIT_S;
	pthread_mutex_lock(&ev_mu);
	while (churn_stops < created && pthread_cond_timedwait(&ev_cv, &ev_mu, &until) == 0)
		;
	int stops = churn_stops;
	pthread_mutex_unlock(&ev_mu);
	usleep(20 * 1000);
	atomic_store(&p.stop, 1);
	pthread_join(t, NULL);
	check(created == N && stops == N, "%d streams created, %d \"stop\" events (want %d)", created, stops, N);
	check(p.calls > 0 && p.bad == 0, "%d listen_status_all calls meanwhile, %d not a JSON array", p.calls, p.bad);
	if (h) {
		check_rc(api.stream_destroy(h), LISTEN_OK, "destroy the listed stream");
		check(wait_for_stop(&rec_listed), "\"stop\" event within %d s", STOP_WAIT_S);
	}
	close(fd);
}

/* listen_drain: refusals during a drain, cancelling; listen_version. */
static void check_drain_and_version(void)
{
	char err[256] = "", v[64] = "";
	int rc = api.drain(-1, err, sizeof err);
	check(rc == LISTEN_ESTATE && strstr(err, "no drain is on"), "drain(-1) with no drain -> %d: %s", rc, err);
	check_rc(api.drain(60, err, sizeof err), LISTEN_OK, "drain(60)");
	err[0] = 0;
	check(api.stream_create("{\"url\":\"ws://127.0.0.1:1\"}", NULL, 8000, 0, &refused_tag, err, sizeof err) == 0 &&
	          strstr(err, "draining"),
	      "create during a drain refused: %s", err);
	check_rc(api.drain(-1, err, sizeof err), LISTEN_OK, "drain(-1) cancels");

	int n = api.version(v, sizeof v);
	check(n > 0 && (size_t)n == strlen(v) && strcmp(v, "unknown") != 0, "version -> %d: %s", n, v);
	check(api.version(NULL, 0) == n, "version(NULL, 0) -> the length");
	check_rc(api.version(NULL, 8), LISTEN_EINVAL, "version(NULL, 8)");
}

/* listen_stats, resolved from the library already loaded. */
static int (*stats_fn)(char *buf, size_t len);

/* A member of listen_stats' "rings" object, or -1. */
static long long ring_figure(const char *key)
{
	char buf[4096];
	const char *v;
	size_t n;
	if (!stats_fn || stats_fn(buf, sizeof buf) >= (int)sizeof buf || !json_member(buf, "rings", &v, &n))
		return -1;
	char rings[512];
	snprintf(rings, sizeof rings, "%.*s", (int)n, v);
	if (!json_member(rings, key, &v, &n))
		return -1;
	return strtoll(v, NULL, 10);
}

/* The beep as the engine makes it (stream.Beep): 400 ms of 1 kHz at
 * -12 dBFS with 10 ms ramps. */
static int beep_sample(int i, int rate)
{
	int n = rate * 400 / 1000, ramp = rate / 100;
	double g = i < ramp ? (double)i / ramp : i >= n - ramp ? (double)(n - 1 - i) / ramp : 1.0;
	return (int)(int16_t)(32767 * pow(10, -12.0 / 20) * g * sin(2 * M_PI * 1000 * i / rate));
}

/* The playback ring exists only once there is audio to play: a listen the
 * server never sends audio to holds none, and the host pulls nothing; one
 * with playBeep gets its ring for the beep, which plays whole. Both dial a
 * port where nothing listens, so no server audio comes; their rings live
 * until the host destroys them. */
static void check_playback_ring_on_demand(void)
{
	char err[1024] = "";
	printf("---- playback ring only for audio to play\n");
	check(ring_figure("playbackRings") == 0, "no playback ring before any listen plays (%lld)",
	      ring_figure("playbackRings"));
	listen_stream_t quiet =
		api.stream_create("{\"url\":\"ws://127.0.0.1:1\"}", NULL, 8000, 0, &rec_quiet, err, sizeof err);
	check(quiet != 0, "create(quiet) %s", err);
	check(wait_for_stop(&rec_quiet), "quiet: stop event");
	check(ring_figure("playbackRings") == 0 && ring_figure("playbackBytes") == 0,
	      "a listen that never got audio holds no playback ring (%lld rings, %lld bytes)",
	      ring_figure("playbackRings"), ring_figure("playbackBytes"));
	int16_t frame[160];
	for (int i = 0; i < 160; i++)
		frame[i] = 55;
	int rc = api.stream_pull_play(quiet, frame, 160);
	check(rc == 0 && frame[0] == 55 && frame[159] == 55, "quiet: pull_play -> %d, the frame left as it was", rc);

	listen_stream_t beep = api.stream_create("{\"url\":\"ws://127.0.0.1:1\",\"playBeep\":true}", NULL, 8000, 0,
	                                         &rec_beep, err, sizeof err);
	check(beep != 0, "create(playBeep) %s", err);
	check(wait_for_stop(&rec_beep), "playBeep: stop event");
	check(ring_figure("playbackRings") == 1 && ring_figure("playbackBytes") == 2048 * 2,
	      "the beep's listen holds one playback ring of 2048 samples (%lld rings, %lld bytes)",
	      ring_figure("playbackRings"), ring_figure("playbackBytes"));
	/* The writer filled the ring with the beep's start before dialling. */
	int pulled = 0, wrong = -1;
	while (pulled < 2048 && api.stream_pull_play(beep, frame, 160) == 160) {
		for (int i = 0; i < 160 && pulled + i < 2048; i++)
			if (wrong < 0 && abs(frame[i] - beep_sample(pulled + i, 8000)) > 1)
				wrong = pulled + i;
		pulled += 160;
	}
	check(pulled >= 2048 && wrong < 0, "playBeep: pulled %d samples of the beep, first wrong at %d", pulled,
	      wrong);

	check_rc(api.stream_destroy(quiet), LISTEN_OK, "destroy(quiet)");
	check_rc(api.stream_destroy(beep), LISTEN_OK, "destroy(playBeep)");
	/* Freed in the background once the stream has finished too. */
	for (int i = 0; i < 500 && ring_figure("playbackRings") != 0; i++)
		usleep(10000);
	check(ring_figure("playbackRings") == 0 && ring_figure("playbackBytes") == 0,
	      "destroyed: the playback ring is freed (%lld rings, %lld bytes)", ring_figure("playbackRings"),
	      ring_figure("playbackBytes"));
}

/* A create during a shutdown is refused at once, not served after it: the
 * shutdown waits here for a stream whose action hook never answers. */
struct shutdown_call {
	int timeout_ms, rc;
	atomic_int done;
};

static void *slow_shutdown(void *arg)
{
	struct shutdown_call *c = arg;
	c->rc = api.shutdown(c->timeout_ms);
	atomic_store(&c->done, 1);
	return NULL;
}

static void check_create_during_shutdown(const listen_host_t *host)
{
	char err[1024] = "", config[256];
	printf("---- a create during a shutdown\n");
	check_rc(api.init(host, NULL, err, sizeof err), LISTEN_OK, "init again");
	/* The hook's server takes the connection and never answers. */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof a;
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) || listen(fd, 4) ||
	    getsockname(fd, (struct sockaddr *)&a, &alen)) {
		check(0, "a create during a shutdown: a listening socket: %s", strerror(errno));
		return;
	}
	snprintf(config, sizeof config, "{\"url\":\"ws://127.0.0.1:1\",\"actionHook\":\"http://127.0.0.1:%d/hook\"}",
	         ntohs(a.sin_port));
	listen_stream_t h = api.stream_create(config, NULL, 8000, 0, &rec_hook_hangs, err, sizeof err);
	check(h != 0, "create (its hook never answers) -> handle %llu %s", (unsigned long long)h, err);
	struct shutdown_call c = {.timeout_ms = 3000};
	pthread_t t;
	pthread_create(&t, NULL, slow_shutdown, &c);
	usleep(300 * 1000); /* the shutdown waits for the hook */
	int busy_before = !atomic_load(&c.done);
	err[0] = 0;
	listen_stream_t refused = api.stream_create("{\"url\":\"ws://127.0.0.1:1\"}", NULL, 8000, 0, &refused_tag, err,
	                                            sizeof err);
	int busy_after = !atomic_load(&c.done);
	check(busy_before, "the shutdown was still waiting for the hook after 300 ms");
	check(refused == 0 && strstr(err, "shutting down"), "create during the shutdown refused: %s", err);
	check(busy_after, "the refusal came before the shutdown returned");
	pthread_join(t, NULL);
	check_rc(c.rc, LISTEN_ESTATE, "shutdown(3000) with the hook unanswered");
	if (h)
		check_rc(api.stream_destroy(h), LISTEN_OK, "destroy after the shutdown (the host still releases its handle)");
	close(fd);
}

int main(int argc, char **argv)
{
	char err[1024];
	if (argc != 2) {
		fprintf(stderr, "usage: abi_test /path/to/liblisten.so\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);

	if (listen_api_load(argv[1], &api, err, sizeof err) != 0) {
		check(0, "load: %s", err);
		return 1;
	}
	check(1, "loaded %s, listen_abi_version() == %d", argv[1], LISTEN_ABI_VERSION);
	void *lib = dlopen(argv[1], RTLD_NOW | RTLD_NOLOAD);
	*(void **)&stats_fn = lib ? dlsym(lib, "listen_stats") : NULL;
	check(stats_fn != NULL, "listen_stats resolved");

	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&ev_cv, &ca);
	pthread_condattr_destroy(&ca);

	listen_host_t host = {.abi_version = LISTEN_ABI_VERSION, .log = on_log, .event = on_event};
	err[0] = 0;
	int rc = api.init(&host, "{not json", err, sizeof err);
	check(rc == LISTEN_EINVAL && err[0], "init(bad settings JSON) -> %d (want %d): %s", rc,
	      LISTEN_EINVAL, err);
	err[0] = 0;
	rc = api.init(&host, NULL, err, sizeof err);
	check(rc == LISTEN_OK, "init(NULL settings) -> %d %s", rc, err);
	if (rc != LISTEN_OK)
		return 1;

	check_bad_handle(0);
	check_bad_handle(0x12345678);

	check_create_refused("{}", 8000, (const char *const[]){"\"url\"", NULL});
	check_create_refused("{\"url\":\"ws://127.0.0.1:1\",\"sampleRate\":12345}", 8000,
	                     (const char *const[]){"sampleRate", "8000, 16000, 24000, 48000, 64000", NULL});
	check_create_refused("{\"url\":\"ws://127.0.0.1:1\",\"mixType\":\"quad\"}", 8000,
	                     (const char *const[]){"mixType", NULL});
	check_create_refused("{not json", 8000, (const char *const[]){"JSON", NULL});
	check_create_refused("{\"url\":\"ws://127.0.0.1:1\"}", 11025, (const char *const[]){"11025", NULL});
	check(api.stream_create("{}", NULL, 8000, 0, &refused_tag, NULL, 0) == 0,
	      "create(bad config, err NULL) refused");
	err[0] = 0;
	check(api.stream_create("{\"url\":\"ws://127.0.0.1:1\"}", NULL, 8000, 0x80000000u, &refused_tag, err,
	                        sizeof err) == 0 && strstr(err, "0x80000000"),
	      "create(unknown flag) refused, naming it: %s", err);
	check_drain_and_version();
	check_resample();

	check_stream_lifetime(&rec_stop_first, 0);
	check_stream_lifetime(&rec_destroy_first, 1);
	check_racing_threads();
	check_playback_ring_on_demand();
	check_create_beside_slow_call();
	check_status_all_while_streams_end();

	check_rc(api.shutdown(5000), LISTEN_OK, "shutdown(5000)");
	pthread_mutex_lock(&ev_mu);
	struct rec *recs[] = {&rec_stop_first, &rec_destroy_first, &rec_racing, &rec_quiet, &rec_beep, &rec_beside_slow,
	                      &rec_listed};
	for (int i = 0; i < (int)(sizeof recs / sizeof recs[0]); i++) {
		check(recs[i]->nstops == 1, "stream %d: exactly one \"stop\" event (%d)", i, recs[i]->nstops);
		check(recs[i]->after_stop == 0, "stream %d: no callback after its \"stop\" (%d)", i,
		      recs[i]->after_stop);
	}
	check(refused_callbacks == 0, "no callback for refused creates (%d)", refused_callbacks);
	pthread_mutex_unlock(&ev_mu);

	check_create_during_shutdown(&host);
	pthread_mutex_lock(&ev_mu);
	check(refused_callbacks == 0, "no callback for refused creates (%d)", refused_callbacks);
	pthread_mutex_unlock(&ev_mu);

	printf("%s: %d check(s) failed\n", failures ? "FAILED" : "PASSED", failures);
	return failures ? 1 : 0;
}
