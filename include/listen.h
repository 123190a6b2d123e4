/*
 * listen.h: the C ABI of liblisten.so, the engine of mod_listen.
 *
 * The engine streams a call's audio to a WebSocket server and plays what the
 * server sends back into the call. A host (FreeSWITCH's mod_listen, or the
 * switchsim test host) drives it one media frame at a time.
 *
 * Threads
 *   "media thread"   a thread that carries one stream's audio. The per-frame
 *                    functions form three groups, each with its own rings:
 *                    listen_stream_push_read; listen_stream_push_write with
 *                    listen_stream_pull_play; listen_stream_dtmf. One thread at
 *                    a time may call into a group, and the groups may run
 *                    concurrently (a switch's read and write paths are
 *                    different threads in a bridge). They are plain C: they never block,
 *                    never allocate, never take a lock, never enter the Go
 *                    runtime. They copy into or out of preallocated lock-free
 *                    rings and return. A host that breaks the one-thread rule
 *                    garbles that stream's audio; the engine still never
 *                    reads or writes outside its rings.
 *   "control thread" any host thread that is not inside a host callback. The
 *                    other functions are served by the engine's own control
 *                    threads while the caller waits, so host threads do not
 *                    enter the Go runtime (listen_init alone runs on the
 *                    caller's thread). The calls about one stream (create,
 *                    stop, send_text, status, destroy, and
 *                    listen_config_resolve and listen_version) are served one
 *                    at a time on one thread, the engine-wide ones
 *                    (listen_status_all, listen_stats, listen_resample,
 *                    listen_drain, listen_shutdown) one at a time on another,
 *                    so a create never queues behind them. They never wait
 *                    for the network (listen_shutdown waits up to its
 *                    timeout).
 *   Callbacks (log, event) arrive on engine threads, never on a media thread,
 *   concurrently with each other. They must not call back into this ABI.
 *
 * Memory
 *   Strings passed in are borrowed for the duration of the call: the engine
 *   copies what it keeps. Strings passed to callbacks are owned by the engine
 *   and valid only during the callback. Handles are integers, not pointers: a
 *   handle that was destroyed, or never existed, is refused with
 *   LISTEN_EBADHANDLE, never dereferenced.
 *
 * Lifetime of a stream
 *   create -> push/pull per frame -> stop (optional) -> destroy.
 *   Exactly one "stop" event is delivered for every stream that was created,
 *   always the last callback carrying that stream's user pointer; the host
 *   keeps the user pointer valid until then. destroy may come before or after
 *   the "stop" event.
 *
 * Errors
 *   Functions returning int return LISTEN_OK (0) or a negative LISTEN_E* code;
 *   the per-frame functions may also return LISTEN_ENDED (1).
 *   Functions that can fail for a reason worth reading fill the caller's err
 *   buffer (NUL-terminated, truncated to errlen) when err is not NULL.
 */
#ifndef LISTEN_H
#define LISTEN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped on every incompatible change of this header. A host compares it with
 * listen_abi_version() before calling anything else.
 *   1  the first version.
 *   2  LISTEN_FLAG_WIRE_EVENTS and listen_resample; listen_stream_create
 *      refuses flags it does not know (version 1 ignored them), so a host
 *      never believes a flag was honoured when it was not.
 *   3  listen_drain, listen_version and LISTEN_FLAG_PLAYBACK_TAKEN; listen_stats reports "version" and
 *      "drain"; listen_shutdown lets a drain in progress run to its
 *      deadline first; the settings "metrics-listen",
 *      "max-listens-per-channel" and "shutdown-grace-seconds". */
#define LISTEN_ABI_VERSION 3

#define LISTEN_OK 0
#define LISTEN_ENDED 1       /* per-frame calls: the listen has ended, the frame was
                              * ignored; the host may detach (a "stop" event follows
                              * or has come) */
#define LISTEN_EINVAL -1     /* bad argument (NULL pointer, bad size, bad JSON) */
#define LISTEN_EBADHANDLE -2 /* handle unknown or already destroyed */
#define LISTEN_ESTATE -3     /* engine not initialised, or shutting down */
#define LISTEN_ELIMIT -4     /* a configured limit (e.g. streams) is reached */

/* Log levels, as syslog orders them. */
#define LISTEN_LOG_ERROR 3
#define LISTEN_LOG_WARNING 4
#define LISTEN_LOG_NOTICE 5
#define LISTEN_LOG_INFO 6
#define LISTEN_LOG_DEBUG 7

/* Stream flags for listen_stream_create. */
#define LISTEN_FLAG_NO_PLAYBACK 0x1u /* refuse audio from the server (listen nested in a dial) */
#define LISTEN_FLAG_PLAYBACK_OPT_IN 0x2u /* play the server's audio only if the config enables
                                          * it in so many words (bidirectionalAudio.enabled) */
/* A debugging aid: report every WebSocket frame the stream sends or receives
 * as a "wire" event, {"dir":"out"|"in","text":"..."} for a text frame (in
 * full, the listen's passwords, tokens and header values replaced by "…") or
 * {"dir":..,"bytes":N} for a binary one. One event per frame (50 a second of
 * audio each way), delivered on the stream's socket goroutines: a slow event
 * callback slows that stream's socket. Off unless a host asks; mod_listen
 * never does. */
#define LISTEN_FLAG_WIRE_EVENTS 0x4u
/* Another stream already plays audio into this call: a config that would
 * play too is refused (create fails, err says so), since two streams writing
 * into one call would garble each other. A host running several streams on
 * one call sets it on every stream after the one that plays. */
#define LISTEN_FLAG_PLAYBACK_TAKEN 0x8u

/* What a stream needs from the host's media path (listen_stream_media). */
#define LISTEN_MEDIA_WRITE 0x1u    /* the other party's audio: call listen_stream_push_write */
#define LISTEN_MEDIA_PLAYBACK 0x2u /* audio to play: call listen_stream_pull_play */

typedef uint64_t listen_stream_t; /* 0 is never a valid handle */

/* A line for the host's logger. stream_user is the user pointer of the stream
 * the line is about, or NULL for engine-wide lines. */
typedef void (*listen_log_fn)(void *host_user, void *stream_user, int level, const char *line);

/* An event: name is one of the names listed in README.md ("connect",
 * "connect_failed", "buffer_overrun", "error", "stop", ...), json is a JSON
 * object describing it. */
typedef void (*listen_event_fn)(void *host_user, void *stream_user, const char *name, const char *json);

typedef struct listen_host {
	uint32_t abi_version; /* set to LISTEN_ABI_VERSION */
	listen_log_fn log;    /* may be NULL: lines are discarded */
	listen_event_fn event;/* may be NULL: events are discarded */
	void *user;           /* passed back as host_user */
} listen_host_t;

/* Returns LISTEN_ABI_VERSION as the library was built. Any thread; never fails. */
int listen_abi_version(void);

/* Starts the engine, or, when it is running already, replaces the callbacks and
 * settings (so loading a module twice, or reloading its configuration, is
 * harmless). settings_json: engine-wide settings and defaults as a JSON object,
 * or NULL for the built-in defaults (README.md lists the keys).
 * Control thread. Returns LISTEN_OK, LISTEN_EINVAL (err says why). */
int listen_init(const listen_host_t *host, const char *settings_json, char *err, size_t errlen);

/* Resolves a dialplan argument into a listen config: arg is either the listen
 * JSON (returned as it is) or "profile=NAME" followed by overrides, given as a
 * JSON object or as key=value pairs separated by spaces; NAME is a profile of
 * the settings' "profiles". buf (owned by the caller) receives the JSON,
 * NUL-terminated and truncated to len. Control thread; does not block.
 * Returns the length the JSON needs (excluding NUL), or LISTEN_EINVAL with
 * err filled, or LISTEN_ESTATE before listen_init. */
int listen_config_resolve(const char *arg, char *buf, size_t len, char *err, size_t errlen);

/* Creates a stream and starts connecting to its server in the background.
 * config_json: the listen verb's JSON (url, mixType, sampleRate, ...).
 * call_json:   a JSON object of call attributes sent in the first frame, or NULL.
 * codec_rate:  the call's sample rate in Hz: 8000, 16000, 24000, 32000 or 48000;
 *              every pushed and pulled frame is mono 16-bit PCM at this rate.
 * flags:       LISTEN_FLAG_*; an unknown bit is refused (0, err names it).
 * user:        the host's pointer for this stream, handed back in callbacks.
 * Control thread. Returns a handle, or 0 with err filled (the message names
 * the offending key or value). Connection failures are reported later, by
 * the "connect_failed" and "stop" events. */
listen_stream_t listen_stream_create(const char *config_json, const char *call_json, int codec_rate,
                                     uint32_t flags, void *user, char *err, size_t errlen);

/* Hands one frame of the caller's audio (the channel's read direction) to the
 * engine. samples: borrowed, n mono samples at the codec rate (any n; 20 ms is
 * the usual). When the engine is behind, the oldest buffered audio is dropped
 * and counted, and one "buffer_overrun" event reports it.
 * Media thread. Never blocks, never allocates, never enters Go.
 * Returns LISTEN_OK, LISTEN_ENDED, LISTEN_EINVAL, LISTEN_EBADHANDLE. */
int listen_stream_push_read(listen_stream_t s, const int16_t *samples, size_t n);

/* The same for the other party's audio (the channel's write direction), used
 * by stereo and mixed streams and ignored by mono ones. Media thread; never
 * blocks, never allocates, never enters Go.
 * Returns LISTEN_OK, LISTEN_ENDED, LISTEN_EINVAL, LISTEN_EBADHANDLE. */
int listen_stream_push_write(listen_stream_t s, const int16_t *samples, size_t n);

/* Fills out (n mono samples at the codec rate, owned by the caller) with audio
 * the server sent for playback into the call. Returns the number of samples
 * written (always n: zero-padded when the audio ends inside the frame), or 0 when
 * there is nothing to play (out is left as it was): the host then leaves its
 * frame untouched. Negative
 * on error (LISTEN_EINVAL, LISTEN_EBADHANDLE). Media thread. Never blocks, never allocates, never enters Go. */
int listen_stream_pull_play(listen_stream_t s, int16_t *out, size_t n);

/* Reports a DTMF digit ('0'-'9', '*', '#', 'A'-'D') and its duration in RTP
 * timestamp units. Media thread (or the thread that reports DTMF, serialised
 * with the other per-frame calls). Never blocks, never enters Go.
 * Returns LISTEN_OK, LISTEN_ENDED, LISTEN_EINVAL (not a DTMF key),
 * LISTEN_ELIMIT (32 digits wait for the engine already: this one is not
 * taken), LISTEN_EBADHANDLE. */
int listen_stream_dtmf(listen_stream_t s, char digit, uint32_t duration);

/* Tells which per-frame calls the stream needs beyond push_read, as
 * LISTEN_MEDIA_* bits decided by its config and flags, so the host taps only
 * what is used. LISTEN_MEDIA_PLAYBACK says the stream may play: its ring is
 * allocated only when the first audio to play arrives (pull_play returns 0
 * until then), so a host taps from the start and pays only a call per frame.
 * Any thread; never blocks, never enters Go.
 * Returns the bits (>= 0), or LISTEN_EBADHANDLE. */
int listen_stream_media(listen_stream_t s);

/* Returns how many frames wait in the stream's capture rings for the engine
 * (the larger of the two directions): a host running faster than real time
 * uses it to wait for the engine instead of overrunning it. Any thread; never
 * blocks, never enters Go. A count >= 0, or LISTEN_EBADHANDLE. */
int listen_stream_pending(listen_stream_t s);

/* Pauses (paused != 0) or resumes sending the caller's audio. While paused,
 * pushed frames are discarded, not counted as dropped. Any thread; never
 * blocks, never enters Go. Returns LISTEN_OK or LISTEN_EBADHANDLE. */
int listen_stream_pause(listen_stream_t s, int paused);

/* Asks the stream to end with the given reason ("hangup", "stop", ... NULL
 * means "stop"). Audio already pushed is still sent, then the socket closes
 * with code 1000 and the action hook is called; the "stop" event follows.
 * Control thread; returns at once. LISTEN_OK or LISTEN_EBADHANDLE. */
int listen_stream_stop(listen_stream_t s, const char *reason);

/* Sends a text frame (JSON, borrowed) to the stream's server, after any audio
 * already pushed. Control thread; returns at once.
 * LISTEN_OK; LISTEN_EINVAL (not valid UTF-8, not a JSON object, or over
 * 64 KiB; err says which); LISTEN_ELIMIT (the server is not reading and the
 * frames waiting for it fill their 64 KiB queue: this one is not sent, err
 * says so); LISTEN_EBADHANDLE. */
int listen_stream_send_text(listen_stream_t s, const char *json, char *err, size_t errlen);

/* Writes the stream's status as a JSON object into buf (owned by the caller,
 * NUL-terminated, truncated to len). Control thread.
 * Returns the length the whole JSON needs (excluding NUL), or a LISTEN_E code. */
int listen_stream_status(listen_stream_t s, char *buf, size_t len);

/* Releases the handle. The host calls it once, after its last per-frame call
 * for the stream; the handle is invalid from then on. If the stream was not
 * stopped it is stopped with reason "hangup". The engine finishes sending
 * and frees the stream's memory in the background. Control thread; returns
 * at once. LISTEN_OK or LISTEN_EBADHANDLE. */
int listen_stream_destroy(listen_stream_t s);

/* Writes a JSON array of the status of every live stream into buf (as
 * listen_stream_status). Control thread. */
int listen_status_all(char *buf, size_t len);

/* Writes engine-wide figures as a JSON object into buf (as
 * listen_stream_status): the engine's "version", the "drain" ({"on":false},
 * or {"on":true,"secondsLeft":S}), live streams, and the latency from a captured frame's
 * push to its write on the socket and from streamed playback audio's arrival
 * to its first sample played (counts, p50 and p99 in ms, since the engine
 * started), the engine's goroutine count, its memory by use (KiB), the
 * bytes of maxServerBytes in use (serverBytes), and the C memory of the live
 * streams' rings: "rings":{"captureBytes":..,"playbackBytes":..,
 * "playbackRings":N} (capture rings are mapped for bufferSeconds but resident
 * only as far as audio has piled up in them; a playback ring exists only once
 * its stream has had audio to play).
 * Control thread. */
int listen_stats(char *buf, size_t len);

/* Converts a whole clip of mono 16-bit PCM from from_rate to to_rate (any
 * whole rates from 8000 to 192000 Hz) with the engine's resampler, aligned
 * with the input and its tail included: n*to_rate/from_rate samples. in
 * (n samples) and out (len samples) are owned by the caller. A tool's
 * helper, for files at rates such as 44100 Hz: it costs thousands of
 * multiplies a sample for such rates; never call it per frame.
 * Control thread; does not block on the network.
 * Returns the number of samples the result needs (written to out only when
 * it is <= len), LISTEN_EINVAL with err filled (a rate out of range), or
 * LISTEN_ESTATE before listen_init. */
int listen_resample(const int16_t *in, size_t n, int from_rate, int16_t *out, size_t len, int to_rate,
                    char *err, size_t errlen);

/* Starts a drain (seconds >= 0): from now on listen_stream_create refuses
 * new streams (0, err says the engine is draining), live streams go on, and
 * after seconds those still live are stopped as listen_stream_stop does
 * with reason "shutdown" (their audio is flushed, their hooks called, their
 * sockets closed with 1000). The drain stays on after its deadline. Calling
 * it again during a drain sets a new deadline, counted from now.
 * seconds < 0 cancels a drain: new streams are accepted again and nothing
 * more is stopped. listen_stats reports the drain.
 * Control thread; returns at once. Returns LISTEN_OK, or LISTEN_ESTATE
 * before listen_init or when cancelling with no drain on (err says which). */
int listen_drain(int seconds, char *err, size_t errlen);

/* Writes the engine's version (the package's, e.g. "0.3.0") into buf (owned
 * by the caller, NUL-terminated, truncated to len). Control thread; does not
 * block. Returns the length the version needs (excluding NUL), LISTEN_EINVAL
 * (buf NULL with len > 0), or LISTEN_ESTATE before listen_init. */
int listen_version(char *buf, size_t len);

/* Stops every stream (reason "shutdown"), waits up to timeout_ms for their
 * sockets and hooks to finish, and stops the engine's goroutines. When a
 * drain is on (listen_drain), the live streams first get until its deadline
 * to end by themselves, within the same timeout_ms; the drain and the
 * metrics server end with the engine. From its start, listen_stream_create
 * refuses new streams (0, err says the engine is shutting down). No callback
 * is made after it returns. listen_init may start the engine again.
 * Control thread; blocks up to timeout_ms. Returns LISTEN_OK, or LISTEN_ESTATE
 * if some stream did not finish in time (it was abandoned, its memory kept). */
int listen_shutdown(int timeout_ms);

#ifdef __cplusplus
}
#endif

#endif /* LISTEN_H */
