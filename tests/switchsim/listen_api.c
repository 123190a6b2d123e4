#include "listen_api.h"

#include <dlfcn.h>
#include <stdio.h>

int listen_api_load(const char *path, struct listen_api *api, char *err, size_t errlen)
{
	void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!lib) {
		snprintf(err, errlen, "dlopen %s: %s", path, dlerror());
		return -1;
	}

#define RESOLVE(field)                                                                     \
	do {                                                                               \
		api->field = (__typeof__(api->field))dlsym(lib, "listen_" #field);        \
		if (!api->field) {                                                         \
			snprintf(err, errlen, "%s: missing symbol listen_" #field, path); \
			return -1;                                                         \
		}                                                                          \
	} while (0)

	RESOLVE(abi_version);
	RESOLVE(init);
	RESOLVE(config_resolve);
	RESOLVE(stream_create);
	RESOLVE(stream_push_read);
	RESOLVE(stream_push_write);
	RESOLVE(stream_pull_play);
	RESOLVE(stream_dtmf);
	RESOLVE(stream_pending);
	RESOLVE(stream_pause);
	RESOLVE(stream_media);
	RESOLVE(stream_stop);
	RESOLVE(stream_send_text);
	RESOLVE(stream_status);
	RESOLVE(stream_destroy);
	RESOLVE(status_all);
	RESOLVE(resample);
	RESOLVE(drain);
	RESOLVE(version);
	RESOLVE(shutdown);
#undef RESOLVE

	int v = api->abi_version();
	if (v != LISTEN_ABI_VERSION) {
		snprintf(err, errlen, "%s: ABI version %d, this host was built for %d (listen.h)", path, v,
		         LISTEN_ABI_VERSION);
		return -1;
	}
	return 0;
}
