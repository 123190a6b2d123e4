/*
 * abi.c: the public functions of listen.h. The per-frame ones are complete
 * here, in C, so a media thread never enters Go; the control ones check their
 * arguments and hand over to the Go engine.
 */
#define _POSIX_C_SOURCE 200809L
#include "listen.h"
#include "rings.h"
#include "_cgo_export.h"

#include <pthread.h>
#include <string.h>

/* Host threads enter Go one at a time. A thread's first entry needs a runtime
 * thread slot, and a burst of first entries (a thousand calls starting) makes
 * the runtime spin for each instead of sleeping: measured at ~2.5 ms of CPU a
 * create, enough to starve the media threads for seconds. */
static pthread_mutex_t go_entry = PTHREAD_MUTEX_INITIALIZER;

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

int listen_abi_version(void)
{
	return LISTEN_ABI_VERSION;
}

static void set_err(char *err, size_t errlen, const char *msg)
{
	if (err && errlen) {
		strncpy(err, msg, errlen - 1);
		err[errlen - 1] = 0;
	}
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
	int rc;
	pthread_mutex_lock(&go_entry);
	rc = listenGoInit((listen_host_t *)h, (char *)settings_json, err, errlen);
	pthread_mutex_unlock(&go_entry);
	return rc;
}

listen_stream_t listen_stream_create(const char *config_json, const char *call_json, int codec_rate,
                                     uint32_t flags, void *user, char *err, size_t errlen)
{
	if (!config_json) {
		set_err(err, errlen, "listen: config is NULL");
		return 0;
	}
	listen_stream_t h;
	pthread_mutex_lock(&go_entry);
	h = listenGoCreate((char *)config_json, (char *)call_json, codec_rate, flags, user, err, errlen);
	pthread_mutex_unlock(&go_entry);
	return h;
}

int listen_config_resolve(const char *arg, char *buf, size_t len, char *err, size_t errlen)
{
	if (!arg || (!buf && len)) {
		set_err(err, errlen, "listen: argument is NULL");
		return LISTEN_EINVAL;
	}
	int rc;
	pthread_mutex_lock(&go_entry);
	rc = listenGoResolve((char *)arg, buf, len, err, errlen);
	pthread_mutex_unlock(&go_entry);
	return rc;
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
	lr_dtmf_push(s, digit, duration);
	return LISTEN_OK;
}

int listen_stream_media(listen_stream_t h)
{
	lr_stream_t *s = lr_lookup(h);
	if (!s)
		return LISTEN_EBADHANDLE;
	return (s->has_write ? LISTEN_MEDIA_WRITE : 0) | (s->play.samples ? LISTEN_MEDIA_PLAYBACK : 0);
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
	int rc;
	pthread_mutex_lock(&go_entry);
	rc = listenGoStop(h, (char *)(reason ? reason : "stop"));
	pthread_mutex_unlock(&go_entry);
	return rc;
}

int listen_stream_send_text(listen_stream_t h, const char *json, char *err, size_t errlen)
{
	if (!json) {
		set_err(err, errlen, "listen: text is NULL");
		return LISTEN_EINVAL;
	}
	int rc;
	pthread_mutex_lock(&go_entry);
	rc = listenGoSendText(h, (char *)json, err, errlen);
	pthread_mutex_unlock(&go_entry);
	return rc;
}

int listen_stream_status(listen_stream_t h, char *buf, size_t len)
{
	if (h == 0) /* the engine reads 0 as "every stream" */
		return LISTEN_EBADHANDLE;
	if (!buf && len)
		return LISTEN_EINVAL;
	int rc;
	pthread_mutex_lock(&go_entry);
	rc = listenGoStatus(h, buf, len);
	pthread_mutex_unlock(&go_entry);
	return rc;
}

int listen_status_all(char *buf, size_t len)
{
	if (!buf && len)
		return LISTEN_EINVAL;
	int rc;
	pthread_mutex_lock(&go_entry);
	rc = listenGoStatus(0, buf, len);
	pthread_mutex_unlock(&go_entry);
	return rc;
}

int listen_stream_destroy(listen_stream_t h)
{
	lr_stream_t *s = lr_lookup(h);
	if (!s)
		return LISTEN_EBADHANDLE;
	/* From here the handle is refused; the engine still holds the memory. */
	lr_stream_unregister(s);
	int rc;
	pthread_mutex_lock(&go_entry);
	rc = listenGoRelease(h);
	pthread_mutex_unlock(&go_entry);
	return rc;
}

int listen_stats(char *buf, size_t len)
{
	if (!buf && len)
		return LISTEN_EINVAL;
	int rc;
	pthread_mutex_lock(&go_entry);
	rc = listenGoStats(buf, len);
	pthread_mutex_unlock(&go_entry);
	return rc;
}

int listen_shutdown(int timeout_ms)
{
	int rc;
	pthread_mutex_lock(&go_entry);
	rc = listenGoShutdown(timeout_ms);
	pthread_mutex_unlock(&go_entry);
	return rc;
}
