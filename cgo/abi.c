/*
 * abi.c: the public functions of listen.h. The per-frame ones are complete
 * here, in C, so a media thread never enters Go; the control ones check their
 * arguments and hand over to the Go engine.
 */
#define _POSIX_C_SOURCE 200809L
#include "listen.h"
#include "rings.h"
#include "control.h"
#include "_cgo_export.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

static void set_err(char *err, size_t errlen, const char *msg)
{
	if (err && errlen) {
		strncpy(err, msg, errlen - 1);
		err[errlen - 1] = 0;
	}
}

/*
 * Control calls run on engine threads: the host's threads hand them over and
 * wait, and never enter Go themselves. A host thread's first entry into Go
 * binds a runtime thread record to it for the thread's life (with a 32 KiB
 * signal stack), and a burst of first entries (a thousand calls starting)
 * makes the runtime spin for each: measured at ~2.5 ms of CPU a create,
 * enough to starve the media threads for seconds.
 *
 * Two lanes, each with its own thread: the calls about one stream (create,
 * stop, destroy, status, send_text, and resolving a config for a create)
 * take tens of microseconds; the engine-wide ones can take milliseconds (the
 * status of a thousand streams, resampling a clip) or seconds (shutdown).
 * A start must not queue behind them.
 */
typedef struct ctl {
	void (*run)(struct ctl *);
	const char *s1, *s2;
	int i;
	uint32_t u;
	void *user;
	listen_stream_t h;
	char *buf, *err;
	size_t len, errlen;
	const int16_t *in; /* listen_resample */
	int16_t *out;
	size_t n;
	uint64_t rc;
	int done;
	struct ctl *next;
} ctl_t;

typedef struct lane {
	pthread_mutex_t lock;
	pthread_cond_t wake; /* a call waits */
	pthread_cond_t done; /* a call was served */
	ctl_t *head, *tail;
} lane_t;

static lane_t lanes[LR_LANES] = {
	[0 ... LR_LANES - 1] = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER,
	                         NULL, NULL },
};
static atomic_int ctl_open;

void lr_ctl_open(void)
{
	atomic_store(&ctl_open, 1);
}

void lr_ctl_serve(int lane)
{
	lane_t *l = &lanes[lane];
	pthread_mutex_lock(&l->lock);
	for (;;) {
		while (!l->head)
			pthread_cond_wait(&l->wake, &l->lock);
		ctl_t *c = l->head;
		l->head = c->next;
		if (!l->head)
			l->tail = NULL;
		pthread_mutex_unlock(&l->lock);
		c->run(c);
		pthread_mutex_lock(&l->lock);
		c->done = 1;
		pthread_cond_broadcast(&l->done);
	}
}

/* Runs c on the lane's control thread and waits for it. 0 if the engine has
 * never been initialised (the caller reports LISTEN_ESTATE). */
static int control(int lane, ctl_t *c)
{
	if (!atomic_load(&ctl_open)) {
		set_err(c->err, c->errlen, "listen: the engine is not initialised (listen_init)");
		return 0;
	}
	lane_t *l = &lanes[lane];
	pthread_mutex_lock(&l->lock);
	c->next = NULL;
	if (l->tail)
		l->tail->next = c;
	else
		l->head = c;
	l->tail = c;
	pthread_cond_signal(&l->wake);
	while (!c->done)
		pthread_cond_wait(&l->done, &l->lock);
	pthread_mutex_unlock(&l->lock);
	return 1;
}

static listen_host_t host;
static pthread_rwlock_t host_lock = PTHREAD_RWLOCK_INITIALIZER;

void lr_set_host(const listen_host_t *h)
{
	pthread_rwlock_wrlock(&host_lock);
	if (h)
		host = *h;
	else
		memset(&host, 0, sizeof(host));
	pthread_rwlock_unlock(&host_lock);
}

void lr_emit_event(void *stream_user, const char *name, const char *json)
{
	pthread_rwlock_rdlock(&host_lock);
	if (host.event)
		host.event(host.user, stream_user, name, json);
	pthread_rwlock_unlock(&host_lock);
}

void lr_emit_log(void *stream_user, int level, const char *line)
{
	pthread_rwlock_rdlock(&host_lock);
	if (host.log)
		host.log(host.user, stream_user, level, line);
	pthread_rwlock_unlock(&host_lock);
}

/* The calls as the control thread runs them. */
static void run_create(ctl_t *c)
{
	c->rc = listenGoCreate((char *)c->s1, (char *)c->s2, c->i, c->u, c->user, c->err, c->errlen);
}
static void run_resample(ctl_t *c)
{
	c->rc = (uint64_t)(int64_t)listenGoResample((int16_t *)c->in, c->n, c->i, c->out, c->len, (int)c->u,
	                                             c->err, c->errlen);
}
static void run_resolve(ctl_t *c)
{
	c->rc = (uint64_t)(int64_t)listenGoResolve((char *)c->s1, c->buf, c->len, c->err, c->errlen);
}
static void run_stop(ctl_t *c)
{
	c->rc = (uint64_t)(int64_t)listenGoStop(c->h, (char *)c->s1);
}
static void run_send_text(ctl_t *c)
{
	c->rc = (uint64_t)(int64_t)listenGoSendText(c->h, (char *)c->s1, c->err, c->errlen);
}
static void run_status(ctl_t *c)
{
	c->rc = (uint64_t)(int64_t)listenGoStatus(c->h, c->buf, c->len);
}
static void run_release(ctl_t *c)
{
	c->rc = (uint64_t)(int64_t)listenGoRelease(c->h);
}
static void run_stats(ctl_t *c)
{
	c->rc = (uint64_t)(int64_t)listenGoStats(c->buf, c->len);
}
static void run_drain(ctl_t *c)
{
	c->rc = (uint64_t)(int64_t)listenGoDrain(c->i, c->err, c->errlen);
}

static void run_version(ctl_t *c)
{
	c->rc = (uint64_t)(int64_t)listenGoVersion(c->buf, c->len);
}

static void run_shutdown(ctl_t *c)
{
	c->rc = (uint64_t)(int64_t)listenGoShutdown(c->i);
}

int listen_abi_version(void)
{
	return LISTEN_ABI_VERSION;
}


int listen_drain(int seconds, char *err, size_t errlen)
{
	ctl_t c = { .run = run_drain, .i = seconds, .err = err, .errlen = errlen };
	return control(LR_LANE_ENGINE, &c) ? (int)c.rc : LISTEN_ESTATE;
}

int listen_version(char *buf, size_t len)
{
	if (!buf && len)
		return LISTEN_EINVAL;
	ctl_t c = { .run = run_version, .buf = buf, .len = len };
	return control(LR_LANE_STREAMS, &c) ? (int)c.rc : LISTEN_ESTATE;
}

int listen_init(const listen_host_t *h, const char *settings_json, char *err, size_t errlen)
{
	if (!h) {
		set_err(err, errlen, "listen_init: host is NULL");
		return LISTEN_EINVAL;
	}
	if (h->abi_version != LISTEN_ABI_VERSION) {
		set_err(err, errlen, "listen_init: the host was built for another LISTEN_ABI_VERSION");
		return LISTEN_EINVAL;
	}
	return listenGoInit((listen_host_t *)h, (char *)settings_json, err, errlen);
}

listen_stream_t listen_stream_create(const char *config_json, const char *call_json, int codec_rate,
                                     uint32_t flags, void *user, char *err, size_t errlen)
{
	if (!config_json) {
		set_err(err, errlen, "listen: config is NULL");
		return 0;
	}
	ctl_t c = { .run = run_create, .s1 = config_json, .s2 = call_json, .i = codec_rate, .u = flags,
	            .user = user, .err = err, .errlen = errlen };
	return control(LR_LANE_STREAMS, &c) ? c.rc : 0;
}

int listen_config_resolve(const char *arg, char *buf, size_t len, char *err, size_t errlen)
{
	if (!arg || (!buf && len)) {
		set_err(err, errlen, "listen: argument is NULL");
		return LISTEN_EINVAL;
	}
	ctl_t c = { .run = run_resolve, .s1 = arg, .buf = buf, .len = len, .err = err, .errlen = errlen };
	return control(LR_LANE_STREAMS, &c) ? (int)c.rc : LISTEN_ESTATE;
}

int listen_resample(const int16_t *in, size_t n, int from_rate, int16_t *out, size_t len, int to_rate,
                    char *err, size_t errlen)
{
	if ((!in && n) || (!out && len)) {
		set_err(err, errlen, "listen_resample: argument is NULL");
		return LISTEN_EINVAL;
	}
	ctl_t c = { .run = run_resample, .in = in, .n = n, .i = from_rate, .out = out, .len = len,
	            .u = (uint32_t)to_rate, .err = err, .errlen = errlen };
	return control(LR_LANE_ENGINE, &c) ? (int)c.rc : LISTEN_ESTATE;
}

/* The two capture directions differ only in their ring; a mono stream has no
 * write ring and ignores that direction. */
static int push(listen_stream_t h, int write, const int16_t *samples, size_t n)
{
	lr_stream_t *s = lr_lookup(h);
	if (!s)
		return LISTEN_EBADHANDLE;
	if (!samples && n)
		return LISTEN_EINVAL;
	if (atomic_load_explicit(&s->ended, memory_order_relaxed))
		return LISTEN_ENDED;
	if ((write && !s->has_write) || atomic_load_explicit(&s->paused, memory_order_relaxed))
		return LISTEN_OK;
	lr_push(s, write ? &s->write : &s->read, samples, n);
	return LISTEN_OK;
}

int listen_stream_push_read(listen_stream_t h, const int16_t *samples, size_t n)
{
	return push(h, 0, samples, n);
}

int listen_stream_push_write(listen_stream_t h, const int16_t *samples, size_t n)
{
	return push(h, 1, samples, n);
}

int listen_stream_pull_play(listen_stream_t h, int16_t *out, size_t n)
{
	lr_stream_t *s = lr_lookup(h);
	if (!s)
		return LISTEN_EBADHANDLE;
	if (!out && n)
		return LISTEN_EINVAL;
	return lr_pull(s, out, n);
}

int listen_stream_dtmf(listen_stream_t h, char digit, uint32_t duration)
{
	lr_stream_t *s = lr_lookup(h);
	if (!s)
		return LISTEN_EBADHANDLE;
	if (!((digit >= '0' && digit <= '9') || digit == '*' || digit == '#' || (digit >= 'A' && digit <= 'D')))
		return LISTEN_EINVAL;
	if (atomic_load_explicit(&s->ended, memory_order_relaxed))
		return LISTEN_ENDED;
	return lr_dtmf_push(s, digit, duration) == 0 ? LISTEN_OK : LISTEN_ELIMIT;
}

int listen_stream_media(listen_stream_t h)
{
	lr_stream_t *s = lr_lookup(h);
	if (!s)
		return LISTEN_EBADHANDLE;
	return (s->has_write ? LISTEN_MEDIA_WRITE : 0) | (s->play.size ? LISTEN_MEDIA_PLAYBACK : 0);
}

int listen_stream_pending(listen_stream_t h)
{
	lr_stream_t *s = lr_lookup(h);
	return s ? lr_pending(s) : LISTEN_EBADHANDLE;
}

int listen_stream_pause(listen_stream_t h, int paused)
{
	lr_stream_t *s = lr_lookup(h);
	if (!s)
		return LISTEN_EBADHANDLE;
	atomic_store(&s->paused, paused != 0);
	return LISTEN_OK;
}

int listen_stream_stop(listen_stream_t h, const char *reason)
{
	ctl_t c = { .run = run_stop, .h = h, .s1 = reason ? reason : "stop" };
	return control(LR_LANE_STREAMS, &c) ? (int)c.rc : LISTEN_EBADHANDLE;
}

int listen_stream_send_text(listen_stream_t h, const char *json, char *err, size_t errlen)
{
	if (!json) {
		set_err(err, errlen, "listen: text is NULL");
		return LISTEN_EINVAL;
	}
	ctl_t c = { .run = run_send_text, .h = h, .s1 = json, .err = err, .errlen = errlen };
	return control(LR_LANE_STREAMS, &c) ? (int)c.rc : LISTEN_EBADHANDLE;
}

int listen_stream_status(listen_stream_t h, char *buf, size_t len)
{
	if (h == 0) /* the engine reads 0 as "every stream" */
		return LISTEN_EBADHANDLE;
	if (!buf && len)
		return LISTEN_EINVAL;
	ctl_t c = { .run = run_status, .h = h, .buf = buf, .len = len };
	return control(LR_LANE_STREAMS, &c) ? (int)c.rc : LISTEN_EBADHANDLE;
}

int listen_status_all(char *buf, size_t len)
{
	if (!buf && len)
		return LISTEN_EINVAL;
	ctl_t c = { .run = run_status, .h = 0, .buf = buf, .len = len };
	return control(LR_LANE_ENGINE, &c) ? (int)c.rc : LISTEN_ESTATE;
}

int listen_stream_destroy(listen_stream_t h)
{
	lr_stream_t *s = lr_lookup(h);
	if (!s)
		return LISTEN_EBADHANDLE;
	/* From here the handle is refused; the engine still holds the memory. */
	lr_stream_unregister(s);
	ctl_t c = { .run = run_release, .h = h };
	return control(LR_LANE_STREAMS, &c) ? (int)c.rc : LISTEN_EBADHANDLE;
}

int listen_stats(char *buf, size_t len)
{
	if (!buf && len)
		return LISTEN_EINVAL;
	ctl_t c = { .run = run_stats, .buf = buf, .len = len };
	return control(LR_LANE_ENGINE, &c) ? (int)c.rc : LISTEN_ESTATE;
}

int listen_shutdown(int timeout_ms)
{
	ctl_t c = { .run = run_shutdown, .i = timeout_ms };
	return control(LR_LANE_ENGINE, &c) ? (int)c.rc : LISTEN_OK;
}
