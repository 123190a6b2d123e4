/*
 * abi_test: checks liblisten.so against the contract in listen.h, loaded the
 * way a switch loads it (dlopen). One line per check; exit status 1 if any
 * failed.
 *
 * usage: abi_test /path/to/liblisten.so
 */
#define _GNU_SOURCE /* pthread_condattr_setclock, strdup */

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
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

/* Events of the one stream this test connects, recorded by engine threads. */
static pthread_mutex_t ev_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ev_cv;
static struct {
	char *name, *json;
} events[MAX_EVENTS];
static int nevents, nstops, after_stop, refused_callbacks;
/* Their addresses are user pointers: of the stream, and of refused creates,
 * which must never get a callback (no stream was created). */
static int stream_tag, refused_tag;

static void check(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void check(int ok, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("%s ", ok ? "ok  " : "FAIL");
	vprintf(fmt, ap);
	putchar('\n');
	va_end(ap);
	fflush(stdout);
	if (!ok)
		failures++;
}

static void check_rc(int got, int want, const char *what)
{
	check(got == want, "%s -> %d (want %d)", what, got, want);
}

static void on_log(void *host_user, void *stream_user, int level, const char *line)
{
	(void)host_user;
	pthread_mutex_lock(&ev_mu);
	if (stream_user == &stream_tag && nstops)
		after_stop++;
	refused_callbacks += stream_user == &refused_tag;
	pthread_mutex_unlock(&ev_mu);
	fprintf(stderr, "  log[%d] %s\n", level, line);
}

static void on_event(void *host_user, void *stream_user, const char *name, const char *json)
{
	(void)host_user;
	pthread_mutex_lock(&ev_mu);
	refused_callbacks += stream_user == &refused_tag;
	if (stream_user == &stream_tag) {
		if (nstops)
			after_stop++;
		if (nevents < MAX_EVENTS) {
			events[nevents].name = strdup(name);
			events[nevents].json = strdup(json ? json : "");
			nevents++;
		}
		if (strcmp(name, "stop") == 0) {
			nstops++;
			pthread_cond_broadcast(&ev_cv);
		}
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

static int wait_for_stop(void)
{
	struct timespec deadline;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += STOP_WAIT_S;
	pthread_mutex_lock(&ev_mu);
	while (!nstops && pthread_cond_timedwait(&ev_cv, &ev_mu, &deadline) != ETIMEDOUT)
		;
	int got = nstops;
	pthread_mutex_unlock(&ev_mu);
	return got;
}

/* A stream to a port where nothing listens: it must fail to connect, report
 * it, and still follow the whole lifetime contract. */
static void check_stream_lifetime(void)
{
	char err[1024] = "", buf[4096];
	const char *config = "{\"url\":\"ws://127.0.0.1:1\"}";
	listen_stream_t h = api.stream_create(config, "{\"callSid\":\"abi-test\"}", 8000, 0, &stream_tag,
	                                      err, sizeof err);
	check(h != 0, "create(%s) -> handle %llu %s", config, (unsigned long long)h, err);
	if (!h)
		return;

	int16_t frame[160] = {0};
	for (int i = 0; i < 3; i++)
		check_rc(api.stream_push_read(h, frame, 160), LISTEN_OK, "push_read(frame)");
	check_rc(api.stream_push_read(h, NULL, 160), LISTEN_EINVAL, "push_read(NULL samples)");
	check_rc(api.stream_push_write(h, NULL, 160), LISTEN_EINVAL, "push_write(NULL samples)");
	check_rc(api.stream_dtmf(h, 'x', 1600), LISTEN_EINVAL, "dtmf('x')");
	int pending = api.stream_pending(h);
	check(pending >= 0, "pending -> %d (want >= 0)", pending);
	int n = api.stream_status(h, buf, sizeof buf);
	check(n > 0 && buf[0] == '{', "status -> %d: %s", n, n > 0 ? buf : "");

	check_rc(api.stream_destroy(h), LISTEN_OK, "destroy");
	check_rc(api.stream_push_read(h, frame, 160), LISTEN_EBADHANDLE, "push_read after destroy");
	check_rc(api.stream_destroy(h), LISTEN_EBADHANDLE, "destroy after destroy");

	check(wait_for_stop(), "\"stop\" event within %d s", STOP_WAIT_S);
	pthread_mutex_lock(&ev_mu);
	int saw_connect_failed = 0;
	for (int i = 0; i < nevents; i++) {
		printf("     event %s %s\n", events[i].name, events[i].json);
		saw_connect_failed |= strcmp(events[i].name, "connect_failed") == 0;
	}
	check(saw_connect_failed, "\"connect_failed\" event");
	if (nevents > 0 && strcmp(events[nevents - 1].name, "stop") == 0) {
		const char *stop = events[nevents - 1].json, *v;
		size_t len;
		int r = json_member(stop, "reason", &v, &len);
		check(r && len == strlen("\"connect_failed\"") && memcmp(v, "\"connect_failed\"", len) == 0,
		      "stop reason is \"connect_failed\": %.*s", r ? (int)len : 4, r ? v : "none");
		check(json_member(stop, "durationMs", &v, &len), "stop has durationMs");
		check(json_member(stop, "framesDropped", &v, &len), "stop has framesDropped");
	}
	pthread_mutex_unlock(&ev_mu);
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
	check(api.stream_create("{}", NULL, 8000, 0, &refused_tag, NULL, 0) == 0, "create(bad config, err NULL) refused");

	check_stream_lifetime();

	check_rc(api.shutdown(5000), LISTEN_OK, "shutdown(5000)");
	pthread_mutex_lock(&ev_mu);
	check(nstops == 1, "exactly one \"stop\" event (%d)", nstops);
	check(after_stop == 0, "no callback for the stream after its \"stop\" (%d)", after_stop);
	check(refused_callbacks == 0, "no callback for refused creates (%d)", refused_callbacks);
	pthread_mutex_unlock(&ev_mu);

	printf("%s: %d check(s) failed\n", failures ? "FAILED" : "PASSED", failures);
	return failures ? 1 : 0;
}
