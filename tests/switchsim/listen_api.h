/*
 * listen_api.h: liblisten.so resolved at run time, the way FreeSWITCH loads a
 * module (dlopen + dlsym), so the test hosts exercise the same binding path.
 */
#ifndef SWITCHSIM_LISTEN_API_H
#define SWITCHSIM_LISTEN_API_H

#include <stddef.h>

#include "listen.h"

/* __typeof__ ties every pointer to its prototype in listen.h: if the header
 * changes a signature, the hosts stop compiling instead of calling it wrong. */
struct listen_api {
	__typeof__(&listen_abi_version) abi_version;
	__typeof__(&listen_init) init;
	__typeof__(&listen_config_resolve) config_resolve;
	__typeof__(&listen_stream_create) stream_create;
	__typeof__(&listen_stream_push_read) stream_push_read;
	__typeof__(&listen_stream_push_write) stream_push_write;
	__typeof__(&listen_stream_pull_play) stream_pull_play;
	__typeof__(&listen_stream_dtmf) stream_dtmf;
	__typeof__(&listen_stream_pending) stream_pending;
	__typeof__(&listen_stream_pause) stream_pause;
	__typeof__(&listen_stream_media) stream_media;
	__typeof__(&listen_stream_stop) stream_stop;
	__typeof__(&listen_stream_send_text) stream_send_text;
	__typeof__(&listen_stream_status) stream_status;
	__typeof__(&listen_stream_destroy) stream_destroy;
	__typeof__(&listen_status_all) status_all;
	__typeof__(&listen_resample) resample;
	__typeof__(&listen_drain) drain;
	__typeof__(&listen_version) version;
	__typeof__(&listen_shutdown) shutdown;
};

/* Loads path with RTLD_NOW|RTLD_LOCAL, resolves every function and checks
 * listen_abi_version() against LISTEN_ABI_VERSION. Returns 0, or -1 with err
 * filled. The library is never unloaded: the Go runtime cannot be. */
int listen_api_load(const char *path, struct listen_api *api, char *err, size_t errlen);

#endif
