/*
 * mod_listen: the FreeSWITCH side of liblisten.so (include/listen.h).
 *
 * The module parses dialplan and API arguments, hands each media frame to the
 * engine's per-frame functions, writes the engine's playback into the call,
 * and turns the engine's events into CUSTOM events and channel variables.
 * Everything about the listen protocol lives in the engine.
 */
#include <switch.h>
#include <signal.h>
#include <stdatomic.h>

#include "listen.h"

SWITCH_MODULE_LOAD_FUNCTION(mod_listen_load);
SWITCH_MODULE_SHUTDOWN_FUNCTION(mod_listen_shutdown);
SWITCH_MODULE_RUNTIME_FUNCTION(mod_listen_runtime);
SWITCH_MODULE_DEFINITION(mod_listen, mod_listen_load, mod_listen_shutdown, mod_listen_runtime);

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define LISTEN_PRIVATE "mod_listen"
/* Time the streams get to flush and call their hooks once a shutdown has
 * stopped them, beyond the drain's shutdown-grace-seconds. */
#define LISTEN_SHUTDOWN_MS 5000
#define LISTEN_ARG_SYNTAX \
	"[name=NAME] <listen JSON> | [name=NAME] profile=NAME [key=value ...] | [name=NAME] profile=NAME {JSON overrides}"
#define UUID_LISTEN_SYNTAX                                                                                  \
	"<uuid> start " LISTEN_ARG_SYNTAX " | <uuid> stop [NAME] | <uuid> pause [NAME] | <uuid> resume [NAME] | " \
	"<uuid> send_text [name=NAME] <JSON>"
#define LISTEN_DEFAULT_NAME "listen"
#define LISTEN_NAME_MAX 32
/* The upper bound of the engine's max-listens-per-channel setting. */
#define LISTEN_MAX_PER_CHANNEL 64

/* The engine's event names; each becomes the CUSTOM subclass listen::<name>. */
static const char *const engine_events[] = {
	"connect", "connect_failed", "disconnect", "dtmf", "play_start", "play_done", "kill_audio",
	"buffer_overrun", "message", "error", "stop", "hook_response", "hook_failed", "mark", "reconnecting",
	"suppressed",
	"transcription", "transcription_error",
};
#define START_SUBCLASS "listen::start"

/* A live listen for the switch-wide listen_status: copies, never pointers
 * into a session, so a record that outlives its session is only stale. */
typedef struct listen_entry {
	char uuid[SWITCH_UUID_FORMATTED_LENGTH + 1];
	char name[LISTEN_NAME_MAX + 1];
	listen_stream_t handle;
	struct listen_entry *prev, *next;
} listen_entry_t;

static struct {
	switch_loadable_module_interface_t *module;
	switch_mutex_t *claim_mutex; /* makes "is this name free here? if so, mine" one step; guards entries */
	listen_entry_t *entries;
	atomic_int running;
	atomic_int max_per_channel; /* max-listens-per-channel */
	atomic_int grace_seconds;   /* shutdown-grace-seconds */
} globals;

/*
 * The engine's user pointer of one stream. It must stay valid until the
 * stream's "stop" event, which may come after the session is gone, so it is
 * malloc'd, holds the uuid rather than the session, and is freed by that event.
 */
typedef struct listen_tag {
	char uuid[SWITCH_UUID_FORMATTED_LENGTH + 1];
	char name[LISTEN_NAME_MAX + 1];
} listen_tag_t;

typedef enum { LISTEN_BLOCKING, LISTEN_BACKGROUND } listen_mode_t;

/*
 * One listen on one channel, from the session's pool and so valid for as long
 * as the session: API threads and engine callbacks reach it through the
 * channel private while they hold the session's read lock.
 */
typedef struct listen_call {
	_Atomic listen_stream_t handle; /* 0 until created */
	const listen_tag_t *tag;        /* identifies the stream in engine callbacks; compared, not read */
	atomic_int attached;            /* the bug is on the channel: the API may act on the listen */
	atomic_int ended;               /* the stream's "stop" event has come */
	listen_mode_t mode;
	char name[LISTEN_NAME_MAX + 1];
	listen_entry_t *entry; /* in globals.entries once the stream exists */
	int plays;     /* the stream plays the server's audio into the call */
	int tap_write; /* the other party's audio goes to the engine (stereo, mixed) */
	int playback;  /* the bug replaces written frames with the server's audio */
	int idle_silence; /* this listen set send_silence_when_idle on the channel */
	switch_media_bug_t *bug;
	int16_t play[SWITCH_RECOMMENDED_BUFFER_SIZE / sizeof(int16_t)];
} listen_call_t;

/*
 * The listens of one channel (its private LISTEN_PRIVATE), from the session's
 * pool. Slots are written under globals.claim_mutex and read without it by
 * the engine's callbacks: a callback that waited for a host mutex could hold
 * up listen_shutdown, which waits for the streams' last callbacks.
 */
typedef struct listen_channel {
	_Atomic(listen_call_t *) calls[LISTEN_MAX_PER_CHANNEL];
	_Atomic(listen_call_t *) player; /* the one listen that plays into the call */
	int dtmf_users;                  /* background listens sharing the DTMF hook */
} listen_channel_t;

/* ---- signals ---------------------------------------------------------- */

/*
 * The Go runtime inside liblisten.so needs every signal handler of the process
 * to run on the alternate signal stack: a signal can land on a thread Go owns,
 * whose stack is too small for a C handler. FreeSWITCH installs handlers with
 * plain signal() after it has loaded the modules, and again before each
 * system(), so this runs at load and then once a second from the module's
 * runtime thread. Every installed handler is covered, not only SIGSEGV, SIGBUS,
 * SIGFPE, SIGPIPE, SIGCHLD, SIGURG and SIGPROF, because any asynchronous
 * signal may be delivered to a Go thread.
 */
static void signals_onstack(void)
{
	for (int sig = 1; sig < NSIG; sig++) {
		struct sigaction sa;

		if (sig == SIGKILL || sig == SIGSTOP || sigaction(sig, NULL, &sa) != 0) {
			continue;
		}
		if (sa.sa_handler == SIG_DFL || sa.sa_handler == SIG_IGN || (sa.sa_flags & SA_ONSTACK)) {
			continue;
		}
		sa.sa_flags |= SA_ONSTACK;
		sigaction(sig, &sa, NULL);
	}
}

SWITCH_MODULE_RUNTIME_FUNCTION(mod_listen_runtime)
{
	signals_onstack();
	for (int i = 0; i < 10 && atomic_load(&globals.running); i++) {
		switch_yield(100000);
	}
	return atomic_load(&globals.running) ? SWITCH_STATUS_SUCCESS : SWITCH_STATUS_TERM;
}

/* ---- engine callbacks (engine threads) -------------------------------- */

static void on_log(void *host_user, void *stream_user, int level, const char *line)
{
	const listen_tag_t *tag = stream_user;
	size_t len = strlen(line);
	switch_log_level_t fs_level;

	(void)host_user;
	switch (level) {
	case LISTEN_LOG_DEBUG: fs_level = SWITCH_LOG_DEBUG; break;
	case LISTEN_LOG_INFO: fs_level = SWITCH_LOG_INFO; break;
	case LISTEN_LOG_NOTICE: fs_level = SWITCH_LOG_NOTICE; break;
	case LISTEN_LOG_WARNING: fs_level = SWITCH_LOG_WARNING; break;
	default: fs_level = level < LISTEN_LOG_ERROR ? SWITCH_LOG_CRIT : SWITCH_LOG_ERROR; break;
	}
	switch_log_printf(SWITCH_CHANNEL_UUID_LOG(tag ? tag->uuid : NULL), fs_level, "%s%s", line,
					  len && line[len - 1] == '\n' ? "" : "\n");
}

/* Sets the channel variable listen_<what> for the default listen, and
 * listen_<name>_<what> for a named one. */
static void set_listen_var(switch_channel_t *channel, const char *name, const char *what, const char *value)
{
	char var[LISTEN_NAME_MAX + 64];

	if (!strcmp(name, LISTEN_DEFAULT_NAME)) {
		switch_snprintf(var, sizeof(var), "listen_%s", what);
	} else {
		switch_snprintf(var, sizeof(var), "listen_%s_%s", name, what);
	}
	switch_channel_set_variable(channel, var, value);
}

/* The outcome of a listen, for the dialplan that follows it. */
static void set_outcome(switch_channel_t *channel, const char *name, const char *json)
{
	cJSON *stop = cJSON_Parse(json);
	cJSON *ms = stop ? cJSON_GetObjectItem(stop, "durationMs") : NULL;
	char num[32];

	set_listen_var(channel, name, "reason", stop ? cJSON_GetObjectCstr(stop, "reason") : "error");
	if (ms && cJSON_IsNumber(ms)) {
		switch_snprintf(num, sizeof(num), "%.0f", ms->valuedouble);
		set_listen_var(channel, name, "duration_ms", num);
	} else {
		set_listen_var(channel, name, "duration_ms", NULL);
	}
	/* Unset when absent, so a value never lingers from an earlier listen. */
	set_listen_var(channel, name, "digits", stop ? cJSON_GetObjectCstr(stop, "digits") : NULL);
	set_listen_var(channel, name, "error", stop ? cJSON_GetObjectCstr(stop, "error") : NULL);
	cJSON_Delete(stop);
}

static listen_channel_t *channel_state(switch_channel_t *channel)
{
	return switch_channel_get_private(channel, LISTEN_PRIVATE);
}

static void fire_event(const char *subclass, const char *json, switch_core_session_t *session, const char *uuid,
					   const char *name, const char *mode)
{
	switch_event_t *event;

	if (switch_event_create_subclass(&event, SWITCH_EVENT_CUSTOM, subclass) != SWITCH_STATUS_SUCCESS) {
		return;
	}
	if (session) {
		switch_channel_event_set_data(switch_core_session_get_channel(session), event);
	} else if (uuid) {
		switch_event_add_header_string(event, SWITCH_STACK_BOTTOM, "Unique-ID", uuid);
	}
	switch_event_add_header_string(event, SWITCH_STACK_BOTTOM, "Listen-Name", name);
	if (mode) {
		switch_event_add_header_string(event, SWITCH_STACK_BOTTOM, "Listen-Mode", mode);
	}
	switch_event_add_body(event, "%s", json);
	switch_event_fire(&event);
}

static void on_event(void *host_user, void *stream_user, const char *name, const char *json)
{
	listen_tag_t *tag = stream_user;
	switch_core_session_t *session = tag ? switch_core_session_locate(tag->uuid) : NULL;
	int stop = !strcmp(name, "stop");
	char subclass[64];

	(void)host_user;
	if (session && stop) {
		switch_channel_t *channel = switch_core_session_get_channel(session);
		listen_channel_t *ch = channel_state(channel);

		/* Before the event, so whoever reacts to it finds the variables set. */
		set_outcome(channel, tag->name, json);
		for (int i = 0; ch && i < LISTEN_MAX_PER_CHANNEL; i++) {
			listen_call_t *call = atomic_load(&ch->calls[i]);

			if (call && call->tag == tag) {
				atomic_store(&call->ended, 1);
			}
		}
	}
	switch_snprintf(subclass, sizeof(subclass), "listen::%s", name);
	fire_event(subclass, json, session, tag ? tag->uuid : NULL, tag ? tag->name : LISTEN_DEFAULT_NAME, NULL);
	if (session) {
		switch_core_session_rwunlock(session);
	}
	if (stop) {
		free(tag); /* the engine's last callback for this stream */
	}
}

/* ---- per-frame path (media threads) ----------------------------------- */

static void report_dtmf(switch_core_session_t *session, listen_call_t *call, const switch_dtmf_t *dtmf)
{
	if (listen_stream_dtmf(atomic_load(&call->handle), dtmf->digit, dtmf->duration) == LISTEN_ELIMIT) {
		switch_log_printf(SWITCH_CHANNEL_SESSION_LOG(session), SWITCH_LOG_WARNING,
						  "listen: DTMF %c not passed on: the engine has 32 digits waiting\n", dtmf->digit);
	}
}

/* Every background listen of the channel gets the digit; one hook serves them. */
static switch_status_t on_recv_dtmf(switch_core_session_t *session, const switch_dtmf_t *dtmf,
									switch_dtmf_direction_t direction)
{
	listen_channel_t *ch = channel_state(switch_core_session_get_channel(session));

	for (int i = 0; ch && direction == SWITCH_DTMF_RECV && i < LISTEN_MAX_PER_CHANNEL; i++) {
		listen_call_t *call = atomic_load(&ch->calls[i]);

		if (call && call->mode == LISTEN_BACKGROUND && atomic_load(&call->attached) && !atomic_load(&call->ended)) {
			report_dtmf(session, call, dtmf);
		}
	}
	return SWITCH_STATUS_SUCCESS;
}

/* Frees the listen's name on the channel, unless a new listen of that name
 * has taken it already, and drops it from listen_status. */
static void release_channel(switch_channel_t *channel, listen_call_t *call)
{
	listen_channel_t *ch = channel_state(channel);

	switch_mutex_lock(globals.claim_mutex);
	for (int i = 0; ch && i < LISTEN_MAX_PER_CHANNEL; i++) {
		if (atomic_load(&ch->calls[i]) == call) {
			atomic_store(&ch->calls[i], NULL);
		}
	}
	if (ch && atomic_load(&ch->player) == call) {
		atomic_store(&ch->player, NULL);
	}
	if (call->entry) {
		if (call->entry->prev) {
			call->entry->prev->next = call->entry->next;
		} else {
			globals.entries = call->entry->next;
		}
		if (call->entry->next) {
			call->entry->next->prev = call->entry->prev;
		}
		free(call->entry);
		call->entry = NULL;
	}
	switch_mutex_unlock(globals.claim_mutex);
}

/* The background listens share one DTMF hook on the channel: the first adds
 * it, the last removes it. */
static void dtmf_hook(switch_core_session_t *session, int add)
{
	listen_channel_t *ch = channel_state(switch_core_session_get_channel(session));
	int users;

	if (!ch) {
		return;
	}
	switch_mutex_lock(globals.claim_mutex);
	users = ch->dtmf_users += add ? 1 : -1;
	if (add && users == 1) {
		switch_core_event_hook_add_recv_dtmf(session, on_recv_dtmf);
	} else if (!add && users == 0) {
		switch_core_event_hook_remove_recv_dtmf(session, on_recv_dtmf);
	}
	switch_mutex_unlock(globals.claim_mutex);
}

/*
 * A write-replace bug only sees frames the channel writes, and park, sleep
 * and the like write none: the server's audio would wait forever. FreeSWITCH
 * has one switch for this, the channel variable send_silence_when_idle: park,
 * sleep and originate's ringback write silence at the codec's frame time
 * while it is set, and the core sets it itself on SRTP channels (switch_rtp.c)
 * so that their media never has gaps. -1 is digital silence (zeros). A
 * value the dialplan set is left alone. It takes effect for the applications
 * that start after the listen: listen_start comes before park in the dialplan.
 */
static void idle_silence_on(switch_channel_t *channel, listen_call_t *call)
{
	if (!switch_channel_get_variable(channel, SWITCH_SEND_SILENCE_WHEN_IDLE_VARIABLE)) {
		switch_channel_set_variable(channel, SWITCH_SEND_SILENCE_WHEN_IDLE_VARIABLE, "-1");
		call->idle_silence = 1;
	}
}

static void idle_silence_off(switch_channel_t *channel, listen_call_t *call)
{
	const char *v = switch_channel_get_variable(channel, SWITCH_SEND_SILENCE_WHEN_IDLE_VARIABLE);

	if (call->idle_silence && v && !strcmp(v, "-1")) {
		switch_channel_set_variable(channel, SWITCH_SEND_SILENCE_WHEN_IDLE_VARIABLE, NULL);
	}
	call->idle_silence = 0;
}

/* The bug closes on hangup, on listen_stop, and when the engine has ended the
 * listen (a per-frame call returned LISTEN_ENDED). */
static void bug_closed(switch_media_bug_t *bug, listen_call_t *call)
{
	switch_core_session_t *session = switch_core_media_bug_get_session(bug);
	switch_channel_t *channel = switch_core_session_get_channel(session);
	listen_stream_t h = atomic_load(&call->handle);

	listen_stream_stop(h, switch_channel_down(channel) ? "hangup" : "stop");
	listen_stream_destroy(h);
	idle_silence_off(channel, call);
	if (call->mode == LISTEN_BACKGROUND) {
		dtmf_hook(session, 0);
		release_channel(channel, call);
		switch_thread_rwlock_unlock(globals.module->rwlock);
	}
}

/*
 * The bug taps frames with the *_REPLACE types: they hand over the decoded
 * frame itself, where READ_STREAM/WRITE_STREAM would copy it into the bug's
 * own buffers for switch_core_media_bug_read to merge the two directions,
 * which the engine does better (it keeps stereo channels in step).
 */
static switch_bool_t bug_callback(switch_media_bug_t *bug, void *user_data, switch_abc_type_t type)
{
	listen_call_t *call = user_data;
	listen_stream_t h = atomic_load(&call->handle);
	switch_frame_t *frame;
	int rc = LISTEN_OK;

	switch (type) {
	case SWITCH_ABC_TYPE_READ_REPLACE:
		frame = switch_core_media_bug_get_read_replace_frame(bug);
		rc = listen_stream_push_read(h, frame->data, frame->datalen / sizeof(int16_t));
		break;
	case SWITCH_ABC_TYPE_WRITE_REPLACE: {
		size_t n;

		frame = switch_core_media_bug_get_write_replace_frame(bug);
		n = frame->datalen / sizeof(int16_t);
		/* In a bridge this runs on the other party's thread, beside the
		 * read tap: listen.h lets the two directions run concurrently. */
		if (call->tap_write) {
			rc = listen_stream_push_write(h, frame->data, n);
		}
		/* Nothing to play leaves the frame as it was. */
		if (rc == LISTEN_OK && call->playback && n <= ARRAY_LEN(call->play) &&
			listen_stream_pull_play(h, call->play, n) > 0) {
			memcpy(frame->data, call->play, n * sizeof(int16_t));
		}
		break;
	}
	case SWITCH_ABC_TYPE_CLOSE:
		bug_closed(bug, call);
		break;
	default:
		break;
	}
	return rc == LISTEN_ENDED ? SWITCH_FALSE : SWITCH_TRUE;
}

/* ---- starting and stopping (control threads) -------------------------- */

/* A JSON string the engine fills: status of one stream (h) or of all (h == 0). */
static char *engine_status(listen_stream_t h)
{
	char small[2048], *out;
	int n = h ? listen_stream_status(h, small, sizeof(small)) : listen_status_all(small, sizeof(small));

	if (n < 0) {
		return NULL;
	}
	if ((size_t)n < sizeof(small)) {
		return strdup(small);
	}
	out = malloc((size_t)n + 1);
	if (out && (h ? listen_stream_status(h, out, (size_t)n + 1) : listen_status_all(out, (size_t)n + 1)) < 0) {
		switch_safe_free(out);
	}
	return out;
}

/* The argument as the engine resolves it (profiles, overrides), with the
 * channel's variables expanded; free() the result. */
static char *resolve_config(switch_channel_t *channel, const char *arg, char *err, size_t errlen)
{
	char small[4096], *resolved = small, *expanded;
	int n = listen_config_resolve(arg, small, sizeof(small), err, errlen);

	if (n < 0) {
		return NULL;
	}
	if ((size_t)n >= sizeof(small)) {
		if (!(resolved = malloc((size_t)n + 1)) || listen_config_resolve(arg, resolved, (size_t)n + 1, err, errlen) < 0) {
			switch_safe_free(resolved);
			return NULL;
		}
	}
	expanded = switch_channel_expand_variables(channel, resolved);
	if (expanded == resolved) {
		expanded = resolved == small ? strdup(small) : resolved;
	} else if (resolved != small) {
		free(resolved);
	}
	return expanded;
}

/* The call's attributes for the first frame the server receives. */
static char *call_attributes(switch_core_session_t *session)
{
	switch_channel_t *channel = switch_core_session_get_channel(session);
	switch_caller_profile_t *profile = switch_channel_get_caller_profile(channel);
	const char *sip_call_id = switch_channel_get_variable(channel, "sip_call_id");
	cJSON *attrs = cJSON_CreateObject();
	char *json;

	cJSON_AddStringToObject(attrs, "callSid", switch_core_session_get_uuid(session));
	if (profile) {
		cJSON_AddStringToObject(attrs, "from", switch_str_nil(profile->caller_id_number));
		cJSON_AddStringToObject(attrs, "to", switch_str_nil(profile->destination_number));
	}
	cJSON_AddStringToObject(attrs, "direction",
							switch_channel_direction(channel) == SWITCH_CALL_DIRECTION_INBOUND ? "inbound" : "outbound");
	if (sip_call_id) {
		cJSON_AddStringToObject(attrs, "callId", sip_call_id);
	}
	json = cJSON_PrintUnformatted(attrs);
	cJSON_Delete(attrs);
	return json;
}

/* Splits "name=NAME rest" into NAME and rest; without "name=" the name is
 * the default. Returns rest, or NULL with err filled for a bad name. */
static const char *split_name(const char *arg, char *name, size_t len, char *err, size_t errlen)
{
	size_t n = 0;

	switch_copy_string(name, LISTEN_DEFAULT_NAME, len);
	if (!arg || strncmp(arg, "name=", 5)) {
		return arg;
	}
	arg += 5;
	while (arg[n] && arg[n] != ' ') {
		if (!isalnum((unsigned char)arg[n]) && arg[n] != '_' && arg[n] != '-') {
			break;
		}
		n++;
	}
	if (n == 0 || n >= len || n > LISTEN_NAME_MAX || (arg[n] && arg[n] != ' ')) {
		switch_snprintf(err, errlen, "listen: bad name=: a name is 1 to %d letters, digits, '_' or '-'", LISTEN_NAME_MAX);
		return NULL;
	}
	memcpy(name, arg, n);
	name[n] = '\0';
	for (arg += n; *arg == ' '; arg++) {
	}
	return arg;
}

/* The channel's listen of that name, live or not yet released; NULL if none. */
static listen_call_t *named_listen(listen_channel_t *ch, const char *name)
{
	for (int i = 0; ch && i < LISTEN_MAX_PER_CHANNEL; i++) {
		listen_call_t *call = atomic_load(&ch->calls[i]);

		if (call && !strcmp(call->name, name)) {
			return call;
		}
	}
	return NULL;
}

/*
 * Claims call->name on the channel for a new listen. A listen of that name
 * whose stream has ended but whose bug has not seen a frame since (so is
 * still attached) gives way. *playback_taken says whether another live listen
 * plays into the call. Returns SWITCH_STATUS_FALSE with err filled when the
 * name is taken or the channel has max-listens-per-channel already.
 */
static switch_status_t claim_channel(switch_core_session_t *session, listen_call_t *call, int *playback_taken,
									 char *err, size_t errlen)
{
	switch_channel_t *channel = switch_core_session_get_channel(session);
	listen_channel_t *ch;
	listen_call_t *old, *player;
	int live = 0, slot = -1, max = atomic_load(&globals.max_per_channel);

	switch_mutex_lock(globals.claim_mutex);
	if (!(ch = channel_state(channel))) {
		ch = switch_core_session_alloc(session, sizeof(*ch));
		switch_channel_set_private(channel, LISTEN_PRIVATE, ch);
	}
	old = named_listen(ch, call->name);
	if (old && !atomic_load(&old->ended)) {
		switch_mutex_unlock(globals.claim_mutex);
		switch_snprintf(err, errlen, "listen: a listen named %s is already running on this channel (uuid_listen %s stop %s ends it)",
						call->name, switch_core_session_get_uuid(session), call->name);
		return SWITCH_STATUS_FALSE;
	}
	for (int i = 0; i < LISTEN_MAX_PER_CHANNEL; i++) {
		listen_call_t *c = atomic_load(&ch->calls[i]);

		if (c == old && old) {
			slot = i;
		} else if (c && !atomic_load(&c->ended)) {
			live++;
		} else if (!c && slot < 0) {
			slot = i;
		}
	}
	if (live >= max || slot < 0) {
		switch_mutex_unlock(globals.claim_mutex);
		switch_snprintf(err, errlen, "listen: this channel runs %d listens already (max-listens-per-channel %d)", live, max);
		return SWITCH_STATUS_FALSE;
	}
	atomic_store(&ch->calls[slot], call);
	player = atomic_load(&ch->player);
	*playback_taken = player && player != old && !atomic_load(&player->ended);
	switch_mutex_unlock(globals.claim_mutex);
	if (old && old->mode == LISTEN_BACKGROUND && atomic_load(&old->attached)) {
		switch_core_media_bug_remove(session, &old->bug);
	}
	return SWITCH_STATUS_SUCCESS;
}

/* Makes call the channel's one player, unless a live listen took the role
 * meanwhile (a start racing this one). */
static switch_status_t take_playback(switch_channel_t *channel, listen_call_t *call)
{
	listen_channel_t *ch = channel_state(channel);
	listen_call_t *player;
	switch_status_t status = SWITCH_STATUS_SUCCESS;

	switch_mutex_lock(globals.claim_mutex);
	player = atomic_load(&ch->player);
	if (player && player != call && !atomic_load(&player->ended)) {
		status = SWITCH_STATUS_FALSE;
	} else {
		atomic_store(&ch->player, call);
	}
	switch_mutex_unlock(globals.claim_mutex);
	return status;
}

/* Lists the stream in listen_status. */
static void add_entry(switch_core_session_t *session, listen_call_t *call, listen_stream_t h)
{
	listen_entry_t *e = calloc(1, sizeof(*e));

	if (!e) {
		return; /* only listen_status misses it */
	}
	switch_copy_string(e->uuid, switch_core_session_get_uuid(session), sizeof(e->uuid));
	switch_copy_string(e->name, call->name, sizeof(e->name));
	e->handle = h;
	switch_mutex_lock(globals.claim_mutex);
	e->next = globals.entries;
	if (e->next) {
		e->next->prev = e;
	}
	globals.entries = e;
	call->entry = e;
	switch_mutex_unlock(globals.claim_mutex);
}

/*
 * Starts a listen on the session: takes its name, resolves the argument,
 * creates the stream and attaches the bug. Returns the call, or NULL with
 * err filled.
 */
static listen_call_t *listen_begin(switch_core_session_t *session, const char *arg, listen_mode_t mode, char *err,
								   size_t errlen)
{
	switch_channel_t *channel = switch_core_session_get_channel(session);
	switch_codec_implementation_t read_impl = { 0 }, write_impl = { 0 };
	listen_call_t *call;
	listen_tag_t *tag;
	char *config_json = NULL, *attrs, *status;
	listen_stream_t h;
	int media, one_rate = 1; /* the channel reads and writes at one rate */
	int playback_taken = 0;
	char name[LISTEN_NAME_MAX + 1];
	/* In the background form (a listen nested in a dial) the server's audio
	 * is played only when the config asks for it in so many words. */
	uint32_t flags = mode == LISTEN_BACKGROUND ? LISTEN_FLAG_PLAYBACK_OPT_IN : 0;
	switch_media_bug_flag_t bug_flags = SMBF_READ_REPLACE;

	if (!(arg = split_name(arg, name, sizeof(name), err, errlen))) {
		return NULL;
	}
	if (zstr(arg)) {
		switch_snprintf(err, errlen, "listen: no argument; expected %s", LISTEN_ARG_SYNTAX);
		return NULL;
	}
	if (switch_channel_pre_answer(channel) != SWITCH_STATUS_SUCCESS) {
		switch_snprintf(err, errlen, "listen: the channel has no media");
		return NULL;
	}
	switch_core_session_get_read_impl(session, &read_impl);
	switch_core_session_get_write_impl(session, &write_impl);

	call = switch_core_session_alloc(session, sizeof(*call));
	call->mode = mode;
	switch_copy_string(call->name, name, sizeof(call->name));
	if (claim_channel(session, call, &playback_taken, err, errlen) != SWITCH_STATUS_SUCCESS) {
		return NULL;
	}
	if (playback_taken) {
		flags |= LISTEN_FLAG_PLAYBACK_TAKEN;
	}

	if (!(config_json = resolve_config(channel, arg, err, errlen))) {
		goto fail;
	}

	if (!(tag = malloc(sizeof(*tag)))) {
		switch_snprintf(err, errlen, "listen: out of memory");
		goto fail;
	}
	switch_copy_string(tag->uuid, switch_core_session_get_uuid(session), sizeof(tag->uuid));
	switch_copy_string(tag->name, name, sizeof(tag->name));
	call->tag = tag;
	attrs = call_attributes(session);
	/* The engine takes one rate for both directions. A channel that writes
	 * at another rate than it reads (asymmetric codecs) leaves the written
	 * direction out: not sent, and in the background form not played into,
	 * so the engine refuses the server's clips (each refusal naming the clip)
	 * rather than accept audio that would never play. The blocking form
	 * plays from its own loop, at the read rate. */
	if (write_impl.actual_samples_per_second != read_impl.actual_samples_per_second) {
		one_rate = 0;
		if (mode == LISTEN_BACKGROUND) {
			flags |= LISTEN_FLAG_NO_PLAYBACK;
		}
	}
	h = listen_stream_create(config_json, attrs, (int)read_impl.actual_samples_per_second, flags, tag, err, errlen);
	switch_safe_free(attrs);
	if (!h) {
		free(tag); /* no stream, so no stop event to free it */
		goto fail;
	}
	atomic_store(&call->handle, h);
	media = listen_stream_media(h);
	call->plays = (media & LISTEN_MEDIA_PLAYBACK) != 0;
	if (call->plays && take_playback(channel, call) != SWITCH_STATUS_SUCCESS) {
		listen_stream_stop(h, "error");
		listen_stream_destroy(h);
		switch_snprintf(err, errlen, "listen: another listen plays audio into this call already, and only one may");
		goto fail;
	}
	/* Before the bug: its close, which may come at once, takes the entry out. */
	add_entry(session, call, h);
	if (!one_rate && (media & LISTEN_MEDIA_WRITE)) {
		switch_log_printf(SWITCH_CHANNEL_SESSION_LOG(session), SWITCH_LOG_WARNING,
						  "listen: the channel writes at %u Hz and reads at %u Hz; the written direction is left out "
						  "(not sent%s)\n", write_impl.actual_samples_per_second, read_impl.actual_samples_per_second,
						  mode == LISTEN_BACKGROUND ? ", the server's audio refused" : "");
	}
	call->tap_write = one_rate && (media & LISTEN_MEDIA_WRITE) != 0;
	/* The blocking form plays the server's audio from its own loop. */
	call->playback = one_rate && mode == LISTEN_BACKGROUND && (media & LISTEN_MEDIA_PLAYBACK);
	if (call->tap_write || call->playback) {
		bug_flags |= SMBF_WRITE_REPLACE;
	}
	if (call->playback) {
		idle_silence_on(channel, call);
	}

	if (mode == LISTEN_BACKGROUND) {
		/* Held while the bug and the hook point into this module: unload
		 * waits. The bug's close undoes both, so both come first. */
		switch_thread_rwlock_rdlock(globals.module->rwlock);
		dtmf_hook(session, 1);
	}
	if (switch_core_media_bug_add(session, "listen", NULL, bug_callback, call, 0, bug_flags, &call->bug) !=
		SWITCH_STATUS_SUCCESS) {
		if (mode == LISTEN_BACKGROUND) {
			dtmf_hook(session, 0);
			switch_thread_rwlock_unlock(globals.module->rwlock);
		}
		listen_stream_stop(h, "error");
		listen_stream_destroy(h);
		switch_snprintf(err, errlen, "listen: cannot attach a media bug to the channel");
		goto fail;
	}
	atomic_store(&call->attached, 1);

	if ((status = engine_status(h))) {
		fire_event(START_SUBCLASS, status, session, NULL, name, mode == LISTEN_BLOCKING ? "blocking" : "background");
		free(status);
	}
	free(config_json);
	return call;

fail:
	switch_safe_free(config_json);
	release_channel(channel, call);
	return NULL;
}

/* The stream of a listen the API may act on: started and not ended; else 0. */
static listen_stream_t live_handle(listen_call_t *call)
{
	return call && atomic_load(&call->attached) && !atomic_load(&call->ended) ? atomic_load(&call->handle) : 0;
}

/* Ends the channel's listen: the engine sends what it holds and closes. */
static switch_status_t listen_halt(switch_core_session_t *session, listen_call_t *call)
{
	listen_stream_t h = live_handle(call);

	if (!h) {
		return SWITCH_STATUS_FALSE;
	}
	listen_stream_stop(h, "stop");
	/* A blocking listen ends when its application sees the stop event. */
	if (call->mode == LISTEN_BACKGROUND) {
		switch_core_media_bug_remove(session, &call->bug);
	}
	return SWITCH_STATUS_SUCCESS;
}

/* Stops the channel's listen of that name, or all of them when name is
 * empty. Returns how many were stopped. */
static int halt_named(switch_core_session_t *session, const char *name)
{
	listen_channel_t *ch = channel_state(switch_core_session_get_channel(session));
	listen_call_t *calls[LISTEN_MAX_PER_CHANNEL];
	int n = 0, stopped = 0;

	/* A copy: halting removes bugs, whose close empties slots. */
	for (int i = 0; ch && i < LISTEN_MAX_PER_CHANNEL; i++) {
		listen_call_t *call = atomic_load(&ch->calls[i]);

		if (call && (zstr(name) || !strcmp(call->name, name))) {
			calls[n++] = call;
		}
	}
	for (int i = 0; i < n; i++) {
		stopped += listen_halt(session, calls[i]) == SWITCH_STATUS_SUCCESS;
	}
	return stopped;
}

/* The live streams of the channel's listens named name (all when empty). */
static int live_handles(switch_core_session_t *session, const char *name, listen_stream_t *out, listen_call_t **calls)
{
	listen_channel_t *ch = channel_state(switch_core_session_get_channel(session));
	int n = 0;

	for (int i = 0; ch && i < LISTEN_MAX_PER_CHANNEL; i++) {
		listen_call_t *call = atomic_load(&ch->calls[i]);
		listen_stream_t h = live_handle(call);

		if (h && (zstr(name) || !strcmp(call->name, name))) {
			if (calls) {
				calls[n] = call;
			}
			out[n++] = h;
		}
	}
	return n;
}

/* ---- dialplan applications -------------------------------------------- */

/*
 * The blocking form owns the channel: it reads frames (which drives the bug),
 * takes DTMF from the channel's queue, and writes the server's audio itself.
 */
SWITCH_STANDARD_APP(listen_app)
{
	switch_channel_t *channel = switch_core_session_get_channel(session);
	switch_codec_implementation_t read_impl = { 0 };
	switch_codec_t codec = { 0 };
	switch_frame_t write_frame = { 0 };
	listen_call_t *call;
	char err[1024] = "", name[LISTEN_NAME_MAX + 1];

	if (!(call = listen_begin(session, data, LISTEN_BLOCKING, err, sizeof(err)))) {
		char ignored[8];

		switch_log_printf(SWITCH_CHANNEL_SESSION_LOG(session), SWITCH_LOG_ERROR, "%s\n", err);
		split_name(data, name, sizeof(name), ignored, sizeof(ignored));
		set_listen_var(channel, name, "reason", "error");
		set_listen_var(channel, name, "error", err);
		return;
	}
	switch_core_session_get_read_impl(session, &read_impl);
	if (switch_core_codec_init(&codec, "L16", NULL, NULL, read_impl.actual_samples_per_second,
							   read_impl.microseconds_per_packet / 1000, 1,
							   SWITCH_CODEC_FLAG_ENCODE | SWITCH_CODEC_FLAG_DECODE, NULL,
							   switch_core_session_get_pool(session)) != SWITCH_STATUS_SUCCESS) {
		switch_log_printf(SWITCH_CHANNEL_SESSION_LOG(session), SWITCH_LOG_ERROR, "listen: no L16 codec at %u Hz\n",
						  read_impl.actual_samples_per_second);
		listen_halt(session, call);
	}
	write_frame.codec = &codec;
	write_frame.data = call->play;
	write_frame.buflen = sizeof(call->play);
	write_frame.samples = read_impl.samples_per_packet;
	write_frame.datalen = read_impl.samples_per_packet * sizeof(int16_t);
	write_frame.channels = 1;
	write_frame.rate = read_impl.actual_samples_per_second;

	while (!atomic_load(&call->ended) && switch_channel_ready(channel)) {
		switch_frame_t *read_frame;
		switch_dtmf_t dtmf = { 0 };
		int n;

		if (!SWITCH_READ_ACCEPTABLE(switch_core_session_read_frame(session, &read_frame, SWITCH_IO_FLAG_NONE, 0))) {
			break;
		}
		if (switch_channel_test_flag(channel, CF_BREAK)) {
			switch_channel_clear_flag(channel, CF_BREAK);
			listen_halt(session, call);
		}
		while (switch_channel_has_dtmf(channel) && switch_channel_dequeue_dtmf(channel, &dtmf) == SWITCH_STATUS_SUCCESS) {
			report_dtmf(session, call, &dtmf);
		}
		if (!switch_core_codec_ready(&codec) || write_frame.samples > ARRAY_LEN(call->play)) {
			continue;
		}
		n = listen_stream_pull_play(atomic_load(&call->handle), call->play, write_frame.samples);
		/* Silence when there is nothing to play: the far end keeps getting a
		 * steady stream (no media timeout, no jitter-buffer resync at each
		 * clip, recordings keep time). */
		if (n <= 0) {
			memset(call->play, 0, write_frame.datalen);
		}
		switch_core_session_write_frame(session, &write_frame, SWITCH_IO_FLAG_NONE, 0);
	}

	switch_core_media_bug_remove(session, &call->bug);
	release_channel(channel, call);
	if (switch_core_codec_ready(&codec)) {
		switch_core_codec_destroy(&codec);
	}
}

SWITCH_STANDARD_APP(listen_start_app)
{
	char err[1024] = "";

	if (!listen_begin(session, data, LISTEN_BACKGROUND, err, sizeof(err))) {
		switch_log_printf(SWITCH_CHANNEL_SESSION_LOG(session), SWITCH_LOG_ERROR, "%s\n", err);
	}
}

SWITCH_STANDARD_APP(listen_stop_app)
{
	if (!halt_named(session, data)) {
		switch_log_printf(SWITCH_CHANNEL_SESSION_LOG(session), SWITCH_LOG_WARNING, "listen_stop: no listen%s%s is running\n",
						  zstr(data) ? "" : " named ", zstr(data) ? "" : data);
	}
}

/* ---- API --------------------------------------------------------------- */

SWITCH_STANDARD_API(uuid_listen_api)
{
	char *mycmd = NULL, *uuid, *action, *rest = NULL;
	switch_core_session_t *lsession = NULL;
	listen_stream_t handles[LISTEN_MAX_PER_CHANNEL];
	char err[1024] = "", name[LISTEN_NAME_MAX + 1];
	int n;

	(void)session;
	if (zstr(cmd) || !(mycmd = strdup(cmd))) {
		goto usage;
	}
	uuid = mycmd;
	if (!(action = strchr(uuid, ' '))) {
		goto usage;
	}
	*action++ = '\0';
	while (*action == ' ') {
		action++;
	}
	if ((rest = strchr(action, ' '))) {
		*rest++ = '\0';
		while (*rest == ' ') {
			rest++;
		}
	}
	if (!(lsession = switch_core_session_locate(uuid))) {
		stream->write_function(stream, "-ERR no such channel %s\n", uuid);
		goto done;
	}

	if (!strcasecmp(action, "start")) {
		if (zstr(rest)) {
			goto usage;
		}
		if (listen_begin(lsession, rest, LISTEN_BACKGROUND, err, sizeof(err))) {
			stream->write_function(stream, "+OK\n");
		} else {
			stream->write_function(stream, "-ERR %s\n", err);
		}
	} else if (!strcasecmp(action, "stop")) {
		if (halt_named(lsession, rest)) {
			stream->write_function(stream, "+OK\n");
		} else {
			stream->write_function(stream, "-ERR no listen%s%s is running on %s\n", zstr(rest) ? "" : " named ",
								   zstr(rest) ? "" : rest, uuid);
		}
	} else if (!strcasecmp(action, "pause") || !strcasecmp(action, "resume")) {
		if (!(n = live_handles(lsession, rest, handles, NULL))) {
			stream->write_function(stream, "-ERR no listen%s%s is running on %s\n", zstr(rest) ? "" : " named ",
								   zstr(rest) ? "" : rest, uuid);
		} else {
			for (int i = 0; i < n; i++) {
				listen_stream_pause(handles[i], !strcasecmp(action, "pause"));
			}
			stream->write_function(stream, "+OK\n");
		}
	} else if (!strcasecmp(action, "send_text")) {
		const char *json = split_name(rest, name, sizeof(name), err, sizeof(err));
		int named = !zstr(rest) && !strncmp(rest, "name=", 5);

		if (!json) {
			stream->write_function(stream, "-ERR %s\n", err);
			goto done;
		}
		if (zstr(json)) {
			goto usage;
		}
		/* Without name=: the channel's only listen, else the default one. */
		n = live_handles(lsession, named ? name : NULL, handles, NULL);
		if (n > 1) {
			n = live_handles(lsession, LISTEN_DEFAULT_NAME, handles, NULL);
		}
		if (!n) {
			stream->write_function(stream, "-ERR no listen%s%s is running on %s\n", named ? " named " : "",
								   named ? name : "", uuid);
		} else if (listen_stream_send_text(handles[0], json, err, sizeof(err)) == LISTEN_OK) {
			stream->write_function(stream, "+OK\n");
		} else {
			stream->write_function(stream, "-ERR %s\n", err);
		}
	} else {
		goto usage;
	}
	goto done;

usage:
	stream->write_function(stream, "-USAGE: uuid_listen %s\n", UUID_LISTEN_SYNTAX);
done:
	if (lsession) {
		switch_core_session_rwunlock(lsession);
	}
	switch_safe_free(mycmd);
	return SWITCH_STATUS_SUCCESS;
}

/* The engine's status of h as a cJSON object with the listen's name (and
 * uuid, when given) first; NULL when the stream is gone. */
static cJSON *named_status(listen_stream_t h, const char *uuid, const char *name)
{
	char *json = engine_status(h);
	cJSON *st = json ? cJSON_Parse(json) : NULL, *out;

	free(json);
	if (!st) {
		return NULL;
	}
	out = cJSON_CreateObject();
	if (uuid) {
		cJSON_AddStringToObject(out, "uuid", uuid);
	}
	cJSON_AddStringToObject(out, "name", name);
	for (cJSON *item = st->child; item; item = item->next) {
		cJSON_AddItemToObject(out, item->string, cJSON_Duplicate(item, 1));
	}
	cJSON_Delete(st);
	return out;
}

/* The engine's figures (version, drain) as a cJSON object, or NULL. */
static cJSON *engine_stats(void)
{
	char small[4096];
	int n = listen_stats(small, sizeof(small));

	return n >= 0 && (size_t)n < sizeof(small) ? cJSON_Parse(small) : NULL;
}

/* Every listen of the switch, with the engine's version and drain. */
static char *switch_status(void)
{
	cJSON *out = cJSON_CreateObject(), *stats = engine_stats(), *list = cJSON_CreateArray();
	listen_entry_t *copy = NULL;
	size_t n = 0, cap = 0;
	char *json;

	cJSON_AddItemToObject(out, "version", stats && cJSON_GetObjectItem(stats, "version")
											   ? cJSON_Duplicate(cJSON_GetObjectItem(stats, "version"), 1)
											   : cJSON_CreateNull());
	cJSON_AddItemToObject(out, "drain", stats && cJSON_GetObjectItem(stats, "drain")
											 ? cJSON_Duplicate(cJSON_GetObjectItem(stats, "drain"), 1)
											 : cJSON_CreateNull());
	cJSON_Delete(stats);
	/* Copied under the mutex, asked of the engine outside it. */
	switch_mutex_lock(globals.claim_mutex);
	for (listen_entry_t *e = globals.entries; e; e = e->next) {
		if (n == cap) {
			listen_entry_t *grown = realloc(copy, (cap = cap ? cap * 2 : 64) * sizeof(*copy));

			if (!grown) {
				break;
			}
			copy = grown;
		}
		copy[n++] = *e;
	}
	switch_mutex_unlock(globals.claim_mutex);
	for (size_t i = 0; i < n; i++) {
		cJSON *st = named_status(copy[i].handle, copy[i].uuid, copy[i].name);

		if (st) {
			cJSON_AddItemToArray(list, st);
		}
	}
	free(copy);
	cJSON_AddItemToObject(out, "listens", list);
	json = cJSON_PrintUnformatted(out);
	cJSON_Delete(out);
	return json;
}

SWITCH_STANDARD_API(listen_status_api)
{
	char *mycmd = NULL, *uuid, *name = NULL, *status = NULL;
	switch_core_session_t *lsession;

	(void)session;
	if (zstr(cmd)) {
		status = switch_status();
		goto out;
	}
	if (!(mycmd = strdup(cmd))) {
		return SWITCH_STATUS_SUCCESS;
	}
	uuid = mycmd;
	if ((name = strchr(uuid, ' '))) {
		*name++ = '\0';
		if (zstr(name) || strchr(name, ' ')) {
			stream->write_function(stream, "-USAGE: listen_status [<uuid> [NAME]]\n");
			free(mycmd);
			return SWITCH_STATUS_SUCCESS;
		}
	}
	if ((lsession = switch_core_session_locate(uuid))) {
		listen_stream_t handles[LISTEN_MAX_PER_CHANNEL];
		listen_call_t *calls[LISTEN_MAX_PER_CHANNEL];
		int n = live_handles(lsession, name, handles, calls);

		if (n && name) {
			cJSON *st = named_status(handles[0], NULL, calls[0]->name);

			status = st ? cJSON_PrintUnformatted(st) : NULL;
			cJSON_Delete(st);
		} else if (n) {
			cJSON *list = cJSON_CreateArray();

			for (int i = 0; i < n; i++) {
				cJSON *st = named_status(handles[i], NULL, calls[i]->name);

				if (st) {
					cJSON_AddItemToArray(list, st);
				}
			}
			status = cJSON_PrintUnformatted(list);
			cJSON_Delete(list);
		}
		switch_core_session_rwunlock(lsession);
	}
out:
	if (status) {
		stream->write_function(stream, "%s\n", status);
		free(status);
	} else {
		stream->write_function(stream, "-ERR no listen%s%s on %s\n", name ? " named " : "", name ? name : "",
							   zstr(cmd) ? "this switch" : mycmd);
	}
	switch_safe_free(mycmd);
	return SWITCH_STATUS_SUCCESS;
}

SWITCH_STANDARD_API(listen_drain_api)
{
	char err[1024] = "";
	int seconds = atomic_load(&globals.grace_seconds);

	(void)session;
	if (!zstr(cmd) && !strcasecmp(cmd, "off")) {
		if (listen_drain(-1, err, sizeof(err)) == LISTEN_OK) {
			stream->write_function(stream, "+OK drain cancelled: new listens are accepted\n");
		} else {
			stream->write_function(stream, "-ERR %s\n", err);
		}
		return SWITCH_STATUS_SUCCESS;
	}
	if (!zstr(cmd)) {
		char *end;
		long v = strtol(cmd, &end, 10);

		if (*end || v < 0 || v > 86400) {
			stream->write_function(stream, "-USAGE: listen_drain [SECONDS (0 to 86400) | off]\n");
			return SWITCH_STATUS_SUCCESS;
		}
		seconds = (int)v;
	}
	if (listen_drain(seconds, err, sizeof(err)) == LISTEN_OK) {
		stream->write_function(stream, "+OK draining: new listens are refused; the live ones are stopped in %d s\n",
							   seconds);
	} else {
		stream->write_function(stream, "-ERR %s\n", err);
	}
	return SWITCH_STATUS_SUCCESS;
}

SWITCH_STANDARD_API(listen_abi_version_api)
{
	char version[64] = "";

	(void)cmd;
	(void)session;
	listen_version(version, sizeof(version));
	stream->write_function(stream, "%d %s\n", listen_abi_version(), version);
	return SWITCH_STATUS_SUCCESS;
}

/* ---- configuration ----------------------------------------------------- */

/* Each <param name value> becomes a key of obj. Values stay strings (the
 * engine reads numbers and booleans from strings), except a value written as
 * a JSON object or list, which is passed as one. */
static void add_params(cJSON *obj, switch_xml_t parent)
{
	for (switch_xml_t param = switch_xml_child(parent, "param"); param; param = param->next) {
		const char *name = switch_xml_attr_soft(param, "name");
		const char *value = switch_xml_attr_soft(param, "value");
		cJSON *json = NULL;

		if (zstr(name)) {
			continue;
		}
		if (*value == '{' || *value == '[') {
			json = cJSON_Parse(value);
		}
		cJSON_AddItemToObject(obj, name, json ? json : cJSON_CreateString(value));
	}
}

/* listen.conf.xml as the engine's settings JSON; free() it. */
static char *read_settings(void)
{
	switch_xml_t cfg, xml, section, profile;
	cJSON *settings = cJSON_CreateObject();
	char *json;

	if ((xml = switch_xml_open_cfg("listen.conf", &cfg, NULL))) {
		if ((section = switch_xml_child(cfg, "settings"))) {
			add_params(settings, section);
		}
		if ((section = switch_xml_child(cfg, "profiles"))) {
			cJSON *profiles = cJSON_CreateObject();

			for (profile = switch_xml_child(section, "profile"); profile; profile = profile->next) {
				cJSON *one = cJSON_CreateObject();

				add_params(one, profile);
				cJSON_AddItemToObject(profiles, switch_xml_attr_soft(profile, "name"), one);
			}
			cJSON_AddItemToObject(settings, "profiles", profiles);
		}
		switch_xml_free(xml);
	} else {
		switch_log_printf(SWITCH_CHANNEL_LOG, SWITCH_LOG_NOTICE, "listen: no listen.conf, using the engine's defaults\n");
	}
	json = cJSON_PrintUnformatted(settings);
	cJSON_Delete(settings);
	return json;
}

/* A whole-number setting the engine has validated, or def when absent. */
static int setting_int(cJSON *settings, const char *key, int def)
{
	cJSON *v = cJSON_GetObjectItem(settings, key);

	if (v && cJSON_IsNumber(v)) {
		return v->valueint;
	}
	return v && cJSON_IsString(v) ? atoi(v->valuestring) : def;
}

/* (Re)reads the configuration into the engine; live streams carry on. */
static switch_status_t engine_configure(char *err, size_t errlen)
{
	listen_host_t host = { LISTEN_ABI_VERSION, on_log, on_event, NULL };
	char *settings = read_settings();
	int rc = listen_init(&host, settings, err, errlen);

	/* The two settings the module itself applies; the engine checked them. */
	if (rc == LISTEN_OK) {
		cJSON *parsed = cJSON_Parse(settings);

		atomic_store(&globals.max_per_channel, setting_int(parsed, "max-listens-per-channel", 4));
		atomic_store(&globals.grace_seconds, setting_int(parsed, "shutdown-grace-seconds", 5));
		cJSON_Delete(parsed);
	}
	switch_safe_free(settings);
	return rc == LISTEN_OK ? SWITCH_STATUS_SUCCESS : SWITCH_STATUS_FALSE;
}

SWITCH_STANDARD_API(listen_reload_api)
{
	char err[1024] = "";

	(void)cmd;
	(void)session;
	if (engine_configure(err, sizeof(err)) == SWITCH_STATUS_SUCCESS) {
		stream->write_function(stream, "+OK listen.conf reloaded\n");
	} else {
		switch_log_printf(SWITCH_CHANNEL_LOG, SWITCH_LOG_ERROR, "listen_reload: %s\n", err);
		stream->write_function(stream, "-ERR %s (the previous settings stay)\n", err);
	}
	return SWITCH_STATUS_SUCCESS;
}

/* ---- load and shutdown ------------------------------------------------- */

static void free_subclasses(void)
{
	char subclass[64];

	switch_event_free_subclass(START_SUBCLASS);
	for (size_t i = 0; i < ARRAY_LEN(engine_events); i++) {
		switch_snprintf(subclass, sizeof(subclass), "listen::%s", engine_events[i]);
		switch_event_free_subclass(subclass);
	}
}

SWITCH_MODULE_LOAD_FUNCTION(mod_listen_load)
{
	switch_application_interface_t *app_interface;
	switch_api_interface_t *api_interface;
	char err[1024] = "", subclass[64];

	if (listen_abi_version() != LISTEN_ABI_VERSION) {
		switch_log_printf(SWITCH_CHANNEL_LOG, SWITCH_LOG_ERROR,
						  "mod_listen: liblisten.so has ABI %d, the module was built for %d: install both from one build\n",
						  listen_abi_version(), LISTEN_ABI_VERSION);
		return SWITCH_STATUS_FALSE;
	}
	signals_onstack();

	if (switch_event_reserve_subclass(START_SUBCLASS) != SWITCH_STATUS_SUCCESS) {
		switch_log_printf(SWITCH_CHANNEL_LOG, SWITCH_LOG_WARNING, "mod_listen: cannot reserve %s\n", START_SUBCLASS);
	}
	for (size_t i = 0; i < ARRAY_LEN(engine_events); i++) {
		switch_snprintf(subclass, sizeof(subclass), "listen::%s", engine_events[i]);
		if (switch_event_reserve_subclass(subclass) != SWITCH_STATUS_SUCCESS) {
			switch_log_printf(SWITCH_CHANNEL_LOG, SWITCH_LOG_WARNING, "mod_listen: cannot reserve %s\n", subclass);
		}
	}

	/* The engine may have outlived an earlier load of this module (the Go
	 * runtime cannot be unloaded); listen_init takes over its callbacks. */
	if (engine_configure(err, sizeof(err)) != SWITCH_STATUS_SUCCESS) {
		switch_log_printf(SWITCH_CHANNEL_LOG, SWITCH_LOG_ERROR, "mod_listen: listen.conf: %s\n", err);
		free_subclasses();
		return SWITCH_STATUS_FALSE;
	}

	switch_mutex_init(&globals.claim_mutex, SWITCH_MUTEX_NESTED, pool);
	switch_log_printf(SWITCH_CHANNEL_LOG, SWITCH_LOG_INFO, "mod_listen %s (engine ABI %d)\n", MOD_LISTEN_VERSION,
					  listen_abi_version());
	*module_interface = switch_loadable_module_create_module_interface(pool, modname);
	globals.module = *module_interface;
	atomic_store(&globals.running, 1);

	SWITCH_ADD_APP(app_interface, "listen", "Stream the call's audio to a WebSocket server and play its answers",
				   "Blocks until the listen ends, then sets listen_reason, listen_duration_ms, listen_digits.",
				   listen_app, LISTEN_ARG_SYNTAX, SAF_NONE);
	SWITCH_ADD_APP(app_interface, "listen_start", "Stream the call's audio in the background",
				   "Lasts through bridges until listen_stop or hangup.", listen_start_app, LISTEN_ARG_SYNTAX, SAF_NONE);
	SWITCH_ADD_APP(app_interface, "listen_stop", "End the channel's listen of that name, or all of them", "",
				   listen_stop_app, "[NAME]", SAF_NONE);
	SWITCH_ADD_API(api_interface, "uuid_listen", "Control a channel's listen", uuid_listen_api, UUID_LISTEN_SYNTAX);
	SWITCH_ADD_API(api_interface, "listen_status", "Status of listens as JSON", listen_status_api, "[<uuid> [NAME]]");
	SWITCH_ADD_API(api_interface, "listen_reload", "Re-read listen.conf", listen_reload_api, "");
	SWITCH_ADD_API(api_interface, "listen_drain", "Refuse new listens; stop the live ones after SECONDS", listen_drain_api,
				   "[SECONDS | off]");
	SWITCH_ADD_API(api_interface, "listen_abi_version", "The engine's ABI version and mod_listen's version",
				   listen_abi_version_api, "");
	switch_console_set_complete("add uuid_listen ::console::list_uuid start");
	switch_console_set_complete("add uuid_listen ::console::list_uuid stop");
	switch_console_set_complete("add uuid_listen ::console::list_uuid pause");
	switch_console_set_complete("add uuid_listen ::console::list_uuid resume");
	switch_console_set_complete("add uuid_listen ::console::list_uuid send_text");
	switch_console_set_complete("add listen_status ::console::list_uuid");
	switch_console_set_complete("add listen_drain off");
	return SWITCH_STATUS_SUCCESS;
}

SWITCH_MODULE_SHUTDOWN_FUNCTION(mod_listen_shutdown)
{
	atomic_store(&globals.running, 0);
	switch_console_set_complete("del uuid_listen");
	switch_console_set_complete("del listen_status");
	switch_console_set_complete("del listen_drain");
	/* The live listens get shutdown-grace-seconds to end by themselves;
	 * then they are stopped, and have LISTEN_SHUTDOWN_MS more to flush and
	 * call their hooks. After this no engine callback runs, so the module's
	 * code may go. */
	int grace = atomic_load(&globals.grace_seconds), limit = grace * 1000 + LISTEN_SHUTDOWN_MS;
	char err[256] = "";

	if (listen_drain(grace, err, sizeof(err)) != LISTEN_OK) {
		switch_log_printf(SWITCH_CHANNEL_LOG, SWITCH_LOG_WARNING, "mod_listen: %s\n", err);
	}
	if (listen_shutdown(limit) != LISTEN_OK) {
		switch_log_printf(SWITCH_CHANNEL_LOG, SWITCH_LOG_WARNING,
						  "mod_listen: some streams did not finish within %d ms and were abandoned\n", limit);
	}
	free_subclasses();
	return SWITCH_STATUS_SUCCESS;
}
