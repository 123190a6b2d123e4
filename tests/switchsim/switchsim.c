/*
 * switchsim: a simulated telephone switch that drives liblisten.so the way
 * FreeSWITCH's mod_listen does, to test and measure the engine without a
 * switch: each call on its own thread, one 20 ms frame at a time, paced in
 * real time on an absolute schedule.
 *
 * Output (stdout, after every call ended): a timeline per call in media time
 * for people, or with --json one JSON line per call; the run's figures with
 * --stats or --calls > 1. See usage().
 */
#define _GNU_SOURCE /* open_memstream, getrandom, pthread_condattr_setclock */

#include <dlfcn.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "hist.h"
#include "jsonscan.h"
#include "listen_api.h"
#include "timeline.h"
#include "wav.h"

#define FRAME_MS 20
#define FRAME_NS (FRAME_MS * 1000000LL)
#define MAX_RATE 192000
#define MAX_FRAME (MAX_RATE / (1000 / FRAME_MS))
#define CALL_STACK (256 * 1024) /* small, so that thousands of calls fit */
#define FAST_MAX_PENDING 8
#define ERRLEN 1024

struct dtmf {
	char digit;
	uint32_t duration;
	int64_t at_ms;
};

/* What the host does to a stream at a media time (--pause, --send-text, ...). */
enum action_kind { A_PAUSE, A_RESUME, A_SEND_TEXT, A_STOP, A_KILL_SERVER, A_DRAIN };

struct action {
	int64_t at_ms;
	enum action_kind kind;
	char *arg; /* the text of --send-text, the reason of --stop, the seconds of --drain */
};

static struct {
	const char *lib;
	char *settings;
	char *config;
	char *call_json;
	int rate;
	const char *caller, *callee, *played;
	struct dtmf *dtmf;
	size_t ndtmf;
	double hangup_s; /* < 0: not given */
	int calls;
	double ramp_s;
	int fast;
	uint32_t flags;
	double wait_s;
	int quiet_log;
	int no_stream; /* the baseline: the same calls, no listen streams */
	int repeat;    /* rounds: each call thread runs this many calls in sequence */
	const char *stop_reason; /* what the host says when it stops a stream */
	int json;                /* --json: machine lines instead of the timeline */
	int stats;               /* --stats: the run's figures */
	int wire;                /* --wire: LISTEN_FLAG_WIRE_EVENTS, shown in the timeline */
	const char *played_map;
	struct action *actions; /* sorted by time, stable */
	size_t nactions;
	char **expect; /* reasons that count as success; NULL: the one switchsim causes */
	size_t nexpect;
	int expect_any;
	double tone_hz, tone_dbfs; /* --caller-tone; tone_hz 0: none */
	int caller_silence;
	double linger_s; /* --linger: how long the engine stays up after the calls */
	char *also;      /* --also: the config of a second listen on each call */
	double also_stop_s; /* --also-stop: when that listen is stopped; < 0: at the hangup */
} opt = {.rate = 8000, .hangup_s = -1, .calls = 1, .wait_s = 30, .repeat = 1, .stop_reason = "hangup", .also_stop_s = -1};

#define MAX_REASONS 8

/* One reading of the process's memory and the engine's figures (--repeat). */
struct sample {
	int round; /* rounds completed when taken; 0: after listen_init */
	long rss_kib;
	char *engine; /* listen_stats JSON, or NULL */
};

struct call {
	int index;
	int64_t offset_ns; /* start, relative to the common start */
	char *call_json;
	int has_played;
	struct wav_out played;
	FILE *played_map;

	/* Written by the call's own thread only. */
	int64_t t0_ns; /* the call's start */
	struct hist hist;
	uint64_t frames_in, frames_played;
	int unexpected; /* rounds that ended for a reason not expected */
	int64_t max_late_ns;
	char *create_err;
	char fail[256]; /* the first thing that went wrong besides create */
	/* --repeat: stop reasons of the rounds so far (raw JSON strings; "null"
	 * when the stop event did not say, "no stop" when it never came). */
	int rounds, create_failures;
	char *reasons[MAX_REASONS];
	int reason_n[MAX_REASONS];
	int other_reasons;

	/* Shared with the engine's callback threads, under mu. */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	atomic_int stopped; /* also polled, without mu, once per frame */
	int nstop, after_stop;
	struct event *ev;
	size_t nev, cap_ev;
	char *reason, *duration_ms, *frames_dropped, *digits, *samples_played, *frames_sent; /* raw JSON */

	/* The media clock, read by the callbacks to time events: the media time
	 * of the frame being pushed, and when (wall clock) the loop reached it.
	 * In real time the clock runs on between frames and after the loop; in
	 * --fast runs it moves only with the frames, and the engine may be up to
	 * FAST_MAX_PENDING frames behind it. */
	_Atomic int64_t clock_ms, clock_wall_ns;
	atomic_int clock_free; /* the media loop is over: no frame bounds the clock */
	int64_t frame_ms;      /* the media loop's frame, for the call's thread */

	/* --also: the second listen on this call, fed the same frames, reported
	 * as a call of its own (index + --calls); NULL without --also. */
	struct call *also;
};

static struct listen_api api;
static struct wav_in caller_wav, callee_wav;
static size_t frame_n;
static uint64_t hangup_frames;

static pthread_mutex_t go_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t go_cv = PTHREAD_COND_INITIALIZER;
static int go;
static int64_t go_ns;

/* listen_stats, when the library has it (resolved optionally). */
static int (*stats_fn)(char *buf, size_t len);

/* --repeat: the call threads meet between rounds; samples are taken there. */
static pthread_barrier_t round_barrier;
static struct sample *samples;
static int nsamples;

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: listen-sim --config JSON|@FILE [options]\n"
	        "Tries a listen WebSocket server without a phone system: simulates a switch driving\n"
	        "liblisten.so, every call on its own thread, one 20 ms frame at a time, in real time.\n"
	        "Prints what happened in media time (seconds since the call started, the clock of\n"
	        "--dtmf, --pause, --hangup, ...): events, the server's commands, and a summary.\n"
	        "\n"
	        "The call\n"
	        "  --config JSON       the listen config, or @FILE (required)\n"
	        "                        --config '{\"url\":\"ws://127.0.0.1:8080/bot\",\"mixType\":\"mono\"}'\n"
	        "  --settings JSON     engine settings for listen_init, or @FILE (default: none)\n"
	        "                                                      --settings '{\"logLevel\":7}'\n"
	        "  --call JSON         call attributes for the first frame, or @FILE (default: generated)\n"
	        "                                                          --call '{\"callSid\":\"abc\"}'\n"
	        "  --rate HZ           codec rate, a multiple of 50 (default 8000)     --rate 16000\n"
	        "  --caller FILE.wav   the caller's audio: 16-bit PCM or 32-bit float, mono or stereo,\n"
	        "                      %d..%d Hz, converted to --rate (stereo averaged); silence after\n"
	        "                      its end                                        --caller hello.wav\n"
	        "  --caller-tone HZ[:DBFS]  a sine as the caller instead (default -10 dBFS)\n"
	        "                                                                     --caller-tone 440:-6\n"
	        "  --caller-silence    silence as the caller (the default without --caller)\n"
	        "                                                                     --caller-silence\n"
	        "  --callee FILE.wav   the other party's audio (write direction), as --caller; without\n"
	        "                      it push_write is never called              --callee agent.wav\n"
	        "  --hangup SECONDS    media time of the hangup (default: the caller file's length, or 5);\n"
	        "                      a call also ends at its \"stop\" event        --hangup 12.5\n"
	        "  --stop-reason TEXT  the reason given to listen_stream_stop at the hangup (default\n"
	        "                      hangup)                                        --stop-reason stop\n"
	        "  --flags LIST        stream flags: no-playback, playback-taken (another stream\n"
	        "                      plays into the call)                           --flags no-playback\n"
	        "\n"
	        "In the call, at media times (seconds)\n"
	        "  --dtmf LIST         digits: D@SECONDS[:DURATION],... (duration in RTP units, default\n"
	        "                      1600)                                          --dtmf '1@1.5,#@3'\n"
	        "  --pause S           pause sending the caller's audio               --pause 1\n"
	        "  --resume S          resume it                                      --resume 2\n"
	        "  --send-text S:JSON  send a text frame (repeatable)     --send-text '2:{\"type\":\"hi\"}'\n"
	        "  --stop S[:REASON]   end the listen, as listen_stop (default reason stop) --stop 4:done\n"
	        "  --drain S:GRACE     listen_drain(GRACE): the engine refuses new listens and stops the\n"
	        "                      live ones GRACE seconds later (reason shutdown)  --drain 1:2\n"
	        "  --kill-server-at S  cut the TCP connection to the server (switchsim shuts the socket\n"
	        "                      down itself), to try reconnecting; --calls 1 only\n"
	        "                                                                     --kill-server-at 3\n"
	        "\n"
	        "Output\n"
	        "  --json              JSON lines instead of the timeline (below)    --json\n"
	        "  --wire              show every text frame both ways, in full (passwords and tokens\n"
	        "                      hidden), and binary frames as counts and sizes per second, the\n"
	        "                      first and any odd-sized one                    --wire\n"
	        "  --stats             the run's figures (hook timings, CPU, memory); always with\n"
	        "                      --calls > 1                                    --stats\n"
	        "  --played FILE.wav   what pull_play returned, one frame per tick, zeros when it\n"
	        "                      returned 0; with --calls > 1, FILE-<i>.wav   --played out.wav\n"
	        "  --played-map F.txt  one line per 20 ms frame: its media time and 1 when the engine\n"
	        "                      supplied audio, 0 when there was nothing to play --played-map m.txt\n"
	        "  --quiet-log         drop the engine's log lines (default: on stderr as [level] line)\n"
	        "                                                                     --quiet-log\n"
	        "  --expect REASON[,REASON...]  the stop reasons that count as success, or 'any'\n"
	        "                      (default: the one switchsim causes: --stop's, else the hangup's)\n"
	        "                                                         --expect connect_failed\n"
	        "\n"
	        "Load and measurement\n"
	        "  --calls N           concurrent calls (default 1), started spread over 20 ms --calls 100\n"
	        "  --ramp SECONDS      spread the call starts over this long instead  --ramp 10\n"
	        "  --fast              no real-time pacing: push as fast as the engine takes frames\n"
	        "                      (waits while listen_stream_pending > %d, so nothing is dropped);\n"
	        "                      events are timed by the audio pushed, which may be that many\n"
	        "                      frames, and the engine's slice of 16, ahead of what it sent\n"
	        "                                                                     --fast\n"
	        "  --repeat K          K rounds: each call thread runs K calls one after the other; the\n"
	        "                      process's RSS and listen_stats are sampled between rounds\n"
	        "                      (after rounds 1, every K/10 and K) for leak checks --repeat 50\n"
	        "  --no-stream         the baseline: the same threads, pacing and frame loop, no\n"
	        "                      listen_stream_create/push/pull (--config is then optional)\n"
	        "                                                                     --no-stream\n"
	        "  --wait SECONDS      how long to wait for each stream's \"stop\" event after destroy\n"
	        "                      (default 30)                                   --wait 5\n"
	        "  --also JSON         a second listen on each call with this config, fed the same\n"
	        "                      frames, created with playback-taken (only the first plays);\n"
	        "                      reported as call <i + --calls>    --also '{\"url\":\"ws://...\"}'\n"
	        "  --also-stop S       stop that second listen at media time S (reason stop), the\n"
	        "                      first going on                                 --also-stop 1\n"
	        "  --linger SECONDS    keep the engine up this long after the last call, before\n"
	        "                      listen_shutdown (to scrape its metrics)       --linger 2\n"
	        "  --lib PATH          liblisten.so to load (default: beside this executable, else\n"
	        "                      through its rpath)              --lib build/liblisten.so\n"
	        "  --help              this text                                      --help\n"
	        "\n"
	        "The timeline: one line per moment, \"0.000 → first frame {...}\" (→ sent, ← received),\n"
	        "\"1.520 ← playAudio id=a 1.00 s raw@16000\", \"2.500 ▶ play_done a\", \"3.000 host pause\"\n"
	        "(what switchsim did), \"2.840 ✎ caller (final): hello world\" (a transcript of a nested\n"
	        "transcribe), then a summary line per call.\n"
	        "\n"
	        "--json: one line per call, in call order:\n"
	        "  {\"call\":i,\"reason\":..,\"durationMs\":..,\"framesIn\":..,\"framesSent\":..,\n"
	        "   \"framesDropped\":..,\"framesPlayed\":..,\"samplesPlayed\":..,[\"digits\":..,][\"error\":..,]\n"
	        "   \"events\":[{\"t\":ms,\"name\":..,\"json\":{..}},..]}\n"
	        "  framesIn: frames push_read accepted; framesPlayed: frames where pull_play supplied\n"
	        "  audio; reason, durationMs, framesSent, framesDropped, samplesPlayed (samples of the\n"
	        "  server's audio played), digits: from the \"stop\" event (null when it did not say, or\n"
	        "  never came); events: t is the media time in ms. With --wire the \"wire\" events are\n"
	        "  there as the engine reports them: {\"dir\":\"out\"|\"in\",\"text\":..|\"bytes\":N}; what\n"
	        "  switchsim did is a \"host\" event: {\"action\":\"pause\"|..,\"detail\":..}.\n"
	        "  With --stats or --calls > 1, then\n"
	        "  {\"summary\":{\"calls\":N,\"hook\":{\"count\":..,\"p50_us\":..,\"p99_us\":..,\"p999_us\":..,\n"
	        "   \"max_us\":..},\"max_late_ms\":..,\"cpu_user_s\":..,\"cpu_sys_s\":..,\"maxrss_kib\":..,\"wall_s\":..\n"
	        "   [,\"engine\":{..}],\"rounds\":K,\"samples\":[{\"round\":r,\"rss_kib\":..[,\"engine\":{..}]},..]}}\n"
	        "  hook: every push_read, push_write and pull_play call; max_late_ms: the latest a\n"
	        "  frame tick woke up; engine: listen_stats() just before listen_shutdown; samples:\n"
	        "  VmRSS and listen_stats after listen_init (round 0) and after rounds. With --repeat > 1\n"
	        "  each call line also has \"rounds\":{\"done\":K,\"createFailed\":..,\"reasons\":{..}}.\n"
	        "\n"
	        "Exit status: 0 when every call ended for an expected reason (--expect); 3 when one\n"
	        "ended otherwise (connect_failed, server_error, ...); 2 for bad arguments or a config\n"
	        "the engine refused; 1 when the engine broke its contract or switchsim failed.\n"
	        "\n"
	        "Examples\n"
	        "  listen-sim --config '{\"url\":\"ws://127.0.0.1:8080\"}' --caller hello.wav --wire\n"
	        "  listen-sim --config @bot.json --caller-tone 440 --hangup 10 --pause 2 --resume 4 \\\n"
	        "             --send-text '5:{\"type\":\"ping\"}' --dtmf '1@6,#@7'\n"
	        "  listen-sim --config @bot.json --expect connect_failed; echo $?\n",
	        WAV_MIN_RATE, WAV_MAX_RATE, FAST_MAX_PENDING);
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static struct timespec to_ts(int64_t ns)
{
	return (struct timespec){.tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000};
}

static void sleep_until(int64_t ns)
{
	struct timespec ts = to_ts(ns);
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

static void fail_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fail_usage(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "%s: ", program_invocation_short_name);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n(%s --help for usage)\n", program_invocation_short_name);
	exit(2);
}

/* A JSON option's value: the text itself, or the contents of the file after @. */
static char *json_arg(const char *arg)
{
	if (arg[0] != '@')
		return strdup(arg);
	FILE *f = fopen(arg + 1, "rb");
	if (!f)
		fail_usage("cannot open %s", arg + 1);
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	char chunk[4096];
	size_t k;
	while ((k = fread(chunk, 1, sizeof chunk, f)) > 0)
		fwrite(chunk, 1, k, m);
	if (ferror(f))
		fail_usage("cannot read %s", arg + 1);
	fclose(f);
	fclose(m);
	return buf;
}

static double num_arg(const char *name, const char *arg, double min)
{
	char *end;
	errno = 0;
	double v = strtod(arg, &end);
	if (errno || end == arg || *end || !(v >= min) || isinf(v))
		fail_usage("--%s: bad value '%s' (a number >= %g)", name, arg, min);
	return v;
}

static void parse_dtmf(const char *arg)
{
	char *list = strdup(arg), *save = NULL;
	for (char *item = strtok_r(list, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		struct dtmf d = {.digit = item[0], .duration = 1600};
		if (!d.digit || !strchr("0123456789*#ABCD", d.digit) || item[1] != '@')
			fail_usage("--dtmf: '%s' is not DIGIT@SECONDS[:DURATION] with a DTMF key "
			           "(0-9 * # A-D)", item);
		char *dur = strchr(item + 2, ':');
		if (dur) {
			*dur++ = 0;
			char *end;
			errno = 0;
			unsigned long v = strtoul(dur, &end, 10);
			if (errno || end == dur || *end || v == 0 || v > UINT32_MAX)
				fail_usage("--dtmf: bad duration '%s'", dur);
			d.duration = (uint32_t)v;
		}
		d.at_ms = llround(num_arg("dtmf", item + 2, 0) * 1000);
		opt.dtmf = realloc(opt.dtmf, (opt.ndtmf + 1) * sizeof *opt.dtmf);
		/* Insertion keeps digits due at the same time in the order given. */
		size_t i = opt.ndtmf++;
		for (; i > 0 && opt.dtmf[i - 1].at_ms > d.at_ms; i--)
			opt.dtmf[i] = opt.dtmf[i - 1];
		opt.dtmf[i] = d;
	}
	free(list);
}

/* Inserts keeping actions due at the same time in the order given. */
static void add_action(double at_s, enum action_kind kind, char *arg)
{
	struct action a = {.at_ms = llround(at_s * 1000), .kind = kind, .arg = arg};
	opt.actions = realloc(opt.actions, (opt.nactions + 1) * sizeof *opt.actions);
	if (!opt.actions) {
		perror(program_invocation_short_name);
		exit(1);
	}
	size_t i = opt.nactions++;
	for (; i > 0 && opt.actions[i - 1].at_ms > a.at_ms; i--)
		opt.actions[i] = opt.actions[i - 1];
	opt.actions[i] = a;
}

/* "S:REST": the seconds before the first colon and what follows it (NULL
 * without a colon). */
static double timed_arg(const char *name, const char *arg, char **rest)
{
	char *copy = strdup(arg), *colon = strchr(copy, ':');
	*rest = NULL;
	if (colon) {
		*colon = 0;
		*rest = strdup(colon + 1);
	}
	double at = num_arg(name, copy, 0);
	free(copy);
	return at;
}

static void parse_send_text(const char *arg)
{
	char *text;
	double at = timed_arg("send-text", arg, &text);
	if (!text || text[0] != '{')
		fail_usage("--send-text: '%s' is not SECONDS:{JSON object}", arg);
	add_action(at, A_SEND_TEXT, text);
}

static void parse_stop(const char *arg)
{
	char *reason;
	double at = timed_arg("stop", arg, &reason);
	if (reason && !reason[0])
		fail_usage("--stop: empty reason in '%s'", arg);
	add_action(at, A_STOP, reason ? reason : strdup("stop"));
}

static void parse_drain(const char *arg)
{
	char *grace;
	double at = timed_arg("drain", arg, &grace);
	if (!grace)
		fail_usage("--drain: '%s' is not SECONDS:GRACE", arg);
	num_arg("drain", grace, 0);
	add_action(at, A_DRAIN, grace);
}

static void parse_tone(const char *arg)
{
	char *level;
	opt.tone_hz = timed_arg("caller-tone", arg, &level);
	opt.tone_dbfs = -10;
	if (level) {
		char *end;
		errno = 0;
		opt.tone_dbfs = strtod(level, &end);
		if (errno || end == level || *end || !(opt.tone_dbfs <= 0) || opt.tone_dbfs < -120)
			fail_usage("--caller-tone: bad level '%s' (dBFS, -120 to 0)", level);
		free(level);
	}
	if (opt.tone_hz <= 0)
		fail_usage("--caller-tone: bad frequency '%s'", arg);
}

static void parse_expect(const char *arg)
{
	for (size_t i = 0; i < opt.nexpect; i++)
		free(opt.expect[i]);
	opt.nexpect = 0;
	opt.expect_any = strcmp(arg, "any") == 0;
	char *list = strdup(arg), *save = NULL;
	for (char *item = strtok_r(list, ",", &save); item && !opt.expect_any; item = strtok_r(NULL, ",", &save)) {
		opt.expect = realloc(opt.expect, (opt.nexpect + 1) * sizeof *opt.expect);
		opt.expect[opt.nexpect++] = strdup(item);
	}
	free(list);
	if (!opt.nexpect && !opt.expect_any)
		fail_usage("--expect: no reason in '%s'", arg);
}

static void parse_flags(const char *arg)
{
	char *list = strdup(arg), *save = NULL;
	for (char *item = strtok_r(list, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		if (strcmp(item, "no-playback") == 0)
			opt.flags |= LISTEN_FLAG_NO_PLAYBACK;
		else if (strcmp(item, "playback-taken") == 0)
			opt.flags |= LISTEN_FLAG_PLAYBACK_TAKEN;
		else
			fail_usage("--flags: unknown flag '%s' (known: no-playback, playback-taken)", item);
	}
	free(list);
}

static void parse_args(int argc, char **argv)
{
	enum { O_LIB = 256, O_SETTINGS, O_CONFIG, O_CALL, O_RATE, O_CALLER, O_CALLEE, O_PLAYED, O_DTMF,
	       O_HANGUP, O_CALLS, O_RAMP, O_FAST, O_FLAGS, O_WAIT, O_QUIET, O_NO_STREAM, O_REPEAT, O_STOP_REASON,
	       O_JSON, O_STATS, O_WIRE, O_PLAYED_MAP, O_PAUSE, O_RESUME, O_SEND_TEXT, O_STOP, O_KILL_SERVER,
	       O_EXPECT, O_TONE, O_SILENCE, O_DRAIN, O_LINGER, O_ALSO, O_ALSO_STOP, O_HELP };
	static const struct option longopts[] = {
		{"lib", required_argument, NULL, O_LIB},
		{"settings", required_argument, NULL, O_SETTINGS},
		{"config", required_argument, NULL, O_CONFIG},
		{"call", required_argument, NULL, O_CALL},
		{"rate", required_argument, NULL, O_RATE},
		{"caller", required_argument, NULL, O_CALLER},
		{"callee", required_argument, NULL, O_CALLEE},
		{"played", required_argument, NULL, O_PLAYED},
		{"dtmf", required_argument, NULL, O_DTMF},
		{"hangup", required_argument, NULL, O_HANGUP},
		{"stop-reason", required_argument, NULL, O_STOP_REASON},
		{"calls", required_argument, NULL, O_CALLS},
		{"ramp", required_argument, NULL, O_RAMP},
		{"fast", no_argument, NULL, O_FAST},
		{"flags", required_argument, NULL, O_FLAGS},
		{"wait", required_argument, NULL, O_WAIT},
		{"quiet-log", no_argument, NULL, O_QUIET},
		{"no-stream", no_argument, NULL, O_NO_STREAM},
		{"repeat", required_argument, NULL, O_REPEAT},
		{"json", no_argument, NULL, O_JSON},
		{"stats", no_argument, NULL, O_STATS},
		{"wire", no_argument, NULL, O_WIRE},
		{"played-map", required_argument, NULL, O_PLAYED_MAP},
		{"pause", required_argument, NULL, O_PAUSE},
		{"resume", required_argument, NULL, O_RESUME},
		{"send-text", required_argument, NULL, O_SEND_TEXT},
		{"stop", required_argument, NULL, O_STOP},
		{"kill-server-at", required_argument, NULL, O_KILL_SERVER},
		{"expect", required_argument, NULL, O_EXPECT},
		{"caller-tone", required_argument, NULL, O_TONE},
		{"caller-silence", no_argument, NULL, O_SILENCE},
		{"drain", required_argument, NULL, O_DRAIN},
		{"linger", required_argument, NULL, O_LINGER},
		{"also", required_argument, NULL, O_ALSO},
		{"also-stop", required_argument, NULL, O_ALSO_STOP},
		{"help", no_argument, NULL, O_HELP},
		{NULL, 0, NULL, 0},
	};
	int c;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case O_LIB: opt.lib = optarg; break;
		case O_SETTINGS: opt.settings = json_arg(optarg); break;
		case O_CONFIG: opt.config = json_arg(optarg); break;
		case O_CALL: opt.call_json = json_arg(optarg); break;
		case O_RATE: {
			double r = num_arg("rate", optarg, 50);
			if (r != floor(r) || r > MAX_RATE || (int)r % (1000 / FRAME_MS) != 0)
				fail_usage("--rate: %s is not a whole multiple of 50 Hz up to 192000", optarg);
			opt.rate = (int)r;
			break;
		}
		case O_CALLER: opt.caller = optarg; break;
		case O_CALLEE: opt.callee = optarg; break;
		case O_PLAYED: opt.played = optarg; break;
		case O_DTMF: parse_dtmf(optarg); break;
		case O_HANGUP: opt.hangup_s = num_arg("hangup", optarg, 0); break;
		case O_STOP_REASON: opt.stop_reason = optarg; break;
		case O_CALLS: {
			double n = num_arg("calls", optarg, 1);
			if (n != floor(n) || n > 1000000)
				fail_usage("--calls: bad count '%s'", optarg);
			opt.calls = (int)n;
			break;
		}
		case O_RAMP: opt.ramp_s = num_arg("ramp", optarg, 0); break;
		case O_FAST: opt.fast = 1; break;
		case O_FLAGS: parse_flags(optarg); break;
		case O_WAIT: opt.wait_s = num_arg("wait", optarg, 0); break;
		case O_QUIET: opt.quiet_log = 1; break;
		case O_NO_STREAM: opt.no_stream = 1; break;
		case O_REPEAT: {
			double n = num_arg("repeat", optarg, 1);
			if (n != floor(n) || n > 1000000)
				fail_usage("--repeat: bad count '%s'", optarg);
			opt.repeat = (int)n;
			break;
		}
		case O_JSON: opt.json = 1; break;
		case O_STATS: opt.stats = 1; break;
		case O_WIRE: opt.wire = 1; opt.flags |= LISTEN_FLAG_WIRE_EVENTS; break;
		case O_PLAYED_MAP: opt.played_map = optarg; break;
		case O_PAUSE: add_action(num_arg("pause", optarg, 0), A_PAUSE, NULL); break;
		case O_RESUME: add_action(num_arg("resume", optarg, 0), A_RESUME, NULL); break;
		case O_SEND_TEXT: parse_send_text(optarg); break;
		case O_STOP: parse_stop(optarg); break;
		case O_KILL_SERVER: add_action(num_arg("kill-server-at", optarg, 0), A_KILL_SERVER, NULL); break;
		case O_EXPECT: parse_expect(optarg); break;
		case O_TONE: parse_tone(optarg); break;
		case O_SILENCE: opt.caller_silence = 1; break;
		case O_DRAIN: parse_drain(optarg); break;
		case O_LINGER: opt.linger_s = num_arg("linger", optarg, 0); break;
		case O_ALSO: opt.also = optarg; break;
		case O_ALSO_STOP: opt.also_stop_s = num_arg("also-stop", optarg, 0); break;
		case O_HELP: usage(stdout); exit(0);
		default: fail_usage("bad option");
		}
	}
	if (optind < argc)
		fail_usage("unexpected argument '%s'", argv[optind]);
	if (!opt.config && !opt.no_stream)
		fail_usage("--config is required");
	if (opt.also && (opt.repeat > 1 || opt.no_stream))
		fail_usage("--also works without --repeat and --no-stream");
	if (opt.also_stop_s >= 0 && !opt.also)
		fail_usage("--also-stop needs --also");
	if (opt.repeat > 1 && (opt.played || opt.played_map))
		fail_usage("--played and --played-map cannot be used with --repeat");
	if (!!opt.caller + (opt.tone_hz > 0) + opt.caller_silence > 1)
		fail_usage("--caller, --caller-tone and --caller-silence exclude each other");
	int stops = 0, kills = 0;
	for (size_t i = 0; i < opt.nactions; i++) {
		stops += opt.actions[i].kind == A_STOP;
		kills += opt.actions[i].kind == A_KILL_SERVER;
	}
	if (stops > 1)
		fail_usage("--stop given %d times", stops);
	if (kills && opt.calls > 1)
		fail_usage("--kill-server-at works with --calls 1 (it cuts every connection to the server)");
	if (opt.nactions && opt.no_stream)
		fail_usage("--no-stream has no stream to act on");
}

/* FreeSWITCH finds modules in its mod directory; switchsim finds the engine
 * beside itself, where the build puts both, and once installed (as
 * listen-sim, in bin/) through its rpath, which the bare name makes dlopen
 * search. */
static char *default_lib(void)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n < 0) {
		perror("switchsim: readlink /proc/self/exe");
		exit(1);
	}
	exe[n] = 0;
	char *slash = strrchr(exe, '/');
	*slash = 0;
	char *lib = malloc(strlen(exe) + sizeof "/liblisten.so");
	sprintf(lib, "%s/liblisten.so", exe);
	if (access(lib, F_OK) != 0) {
		free(lib);
		return strdup("liblisten.so");
	}
	return lib;
}

static const char *level_name(int level)
{
	switch (level) {
	case LISTEN_LOG_ERROR: return "error";
	case LISTEN_LOG_WARNING: return "warning";
	case LISTEN_LOG_NOTICE: return "notice";
	case LISTEN_LOG_INFO: return "info";
	case LISTEN_LOG_DEBUG: return "debug";
	default: return "?";
	}
}

/* The contract says "stop" is the last callback for a stream; count the
 * callbacks that break it. Caller holds c->mu. */
static void check_after_stop(struct call *c)
{
	if (c->nstop)
		c->after_stop++;
}

static void on_log(void *host_user, void *stream_user, int level, const char *line)
{
	(void)host_user;
	struct call *c = stream_user;
	if (c) {
		pthread_mutex_lock(&c->mu);
		check_after_stop(c);
		pthread_mutex_unlock(&c->mu);
	}
	if (!opt.quiet_log)
		fprintf(stderr, "[%s] %s\n", level_name(level), line);
}

static char *member_dup(const char *json, const char *key)
{
	const char *v;
	size_t len;
	return json_member(json, key, &v, &len) ? strndup(v, len) : NULL;
}

/* The engine's JSON is copied as is, but kept on one line so that each call
 * stays one line of output (raw line breaks are never inside JSON strings). */
static void write_raw_json(FILE *f, const char *json)
{
	if (!json || !*json) {
		fputs("null", f);
		return;
	}
	for (const char *p = json; *p; p++)
		fputc(*p == '\n' || *p == '\r' ? ' ' : *p, f);
}

/* The call's media time now, in ms (see struct call). */
static int64_t media_now(struct call *c)
{
	int64_t ms = atomic_load(&c->clock_ms);
	if (opt.fast)
		return ms;
	int64_t ahead = (now_ns() - atomic_load(&c->clock_wall_ns)) / 1000000;
	if (ahead < 0)
		ahead = 0;
	if (!atomic_load(&c->clock_free) && ahead > FRAME_MS)
		ahead = FRAME_MS;
	return ms + ahead;
}

static void set_clock(struct call *c, int64_t ms)
{
	atomic_store(&c->clock_wall_ns, now_ns());
	atomic_store(&c->clock_ms, ms);
	if (c->also)
		set_clock(c->also, ms);
}

/* Caller holds c->mu. */
static void append_event(struct call *c, int64_t t_ms, const char *name, const char *json)
{
	if (c->nev == c->cap_ev) {
		c->cap_ev = c->cap_ev ? 2 * c->cap_ev : 16;
		c->ev = realloc(c->ev, c->cap_ev * sizeof *c->ev);
		if (!c->ev) {
			perror(program_invocation_short_name);
			exit(1);
		}
	}
	c->ev[c->nev++] = (struct event){.t = t_ms, .name = strdup(name), .json = strdup(json ? json : "")};
}

static void on_event(void *host_user, void *stream_user, const char *name, const char *json)
{
	(void)host_user;
	struct call *c = stream_user;
	if (!c) {
		if (!opt.quiet_log)
			fprintf(stderr, "[event] %s %s\n", name, json ? json : "");
		return;
	}
	int64_t t_ms = media_now(c);
	pthread_mutex_lock(&c->mu);
	check_after_stop(c);
	append_event(c, t_ms, name, json);
	if (strcmp(name, "stop") == 0) {
		if (c->nstop++ == 0 && json) {
			c->reason = member_dup(json, "reason");
			c->duration_ms = member_dup(json, "durationMs");
			c->frames_dropped = member_dup(json, "framesDropped");
			c->frames_sent = member_dup(json, "framesSent");
			c->samples_played = member_dup(json, "samplesPlayed");
			c->digits = member_dup(json, "digits");
		}
		atomic_store(&c->stopped, 1);
		pthread_cond_broadcast(&c->cv);
	}
	pthread_mutex_unlock(&c->mu);
}

/* The samples of frame k of a direction: straight from the file while it
 * lasts, the file's tail padded with zeros in edge, then silence. */
static const int16_t *frame_of(const struct wav_in *w, uint64_t k, int16_t *edge)
{
	static const int16_t silence[MAX_FRAME];
	size_t start = (size_t)k * frame_n;
	if (start + frame_n <= w->n)
		return w->samples + start;
	if (start >= w->n)
		return silence;
	size_t have = w->n - start;
	memcpy(edge, w->samples + start, have * sizeof *edge);
	memset(edge + have, 0, (frame_n - have) * sizeof *edge);
	return edge;
}

/* Records the first failure of a call; returns -1 for media_loop to return. */
static int call_failed(struct call *c, const char *what, int rc)
{
	if (!c->fail[0])
		snprintf(c->fail, sizeof c->fail, "%s returned %d", what, rc);
	return -1;
}

/* Waits for the end of frame k on the call's absolute schedule. A call that
 * fell behind catches up without a syscall per frame: an expired
 * clock_nanosleep still costs a context switch, which with thousands of
 * threads keeps them all behind. */
static void pace(struct call *c, uint64_t k)
{
	int64_t due = c->t0_ns + (int64_t)(k + 1) * FRAME_NS, t = now_ns();
	if (t < due) {
		sleep_until(due);
		t = now_ns();
	}
	if (t - due > c->max_late_ns)
		c->max_late_ns = t - due;
}

/* Runs one hook call between two clock readings into the call's histogram. */
#define TIMED(c, rc, expr)                                                                \
	do {                                                                              \
		int64_t t_a_ = now_ns();                                                  \
		(rc) = (expr);                                                            \
		hist_add(&(c)->hist, (uint64_t)(now_ns() - t_a_));                        \
	} while (0)

/* --kill-server-at: the server's address, from the config's url. */
static struct addrinfo *server_addrs;
static char server_port[8];

static void resolve_server(void)
{
	const char *v;
	size_t len;
	if (!opt.config || !json_member(opt.config, "url", &v, &len) || len < 2 || v[0] != '"')
		fail_usage("--kill-server-at: the config has no \"url\" string");
	char *url = strndup(v + 1, len - 2), *p = strstr(url, "://");
	int tls = strncmp(url, "wss", 3) == 0;
	p = p ? p + 3 : url;
	char *end = p + strcspn(p, "/?#");
	*end = 0;
	char *at = strrchr(p, '@');
	if (at)
		p = at + 1; /* user info */
	char *host = p, *port = NULL;
	if (*p == '[') { /* [v6]:port */
		host = p + 1;
		char *close = strchr(host, ']');
		if (!close)
			fail_usage("--kill-server-at: bad host in the url");
		*close = 0;
		if (close[1] == ':')
			port = close + 2;
	} else if ((port = strchr(p, ':')))
		*port++ = 0;
	snprintf(server_port, sizeof server_port, "%s", port && *port ? port : tls ? "443" : "80");
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM};
	int rc = getaddrinfo(host, server_port, &hints, &server_addrs);
	if (rc != 0)
		fail_usage("--kill-server-at: %s: %s", host, gai_strerror(rc));
	free(url);
}

static int same_addr(const struct sockaddr *a, const struct sockaddr *b)
{
	if (a->sa_family != b->sa_family)
		return 0;
	if (a->sa_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->sa_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
		return x->sin6_port == y->sin6_port && memcmp(&x->sin6_addr, &y->sin6_addr, sizeof x->sin6_addr) == 0;
	}
	return 0;
}

/* Cuts this process's TCP connections to the server, as a network fault
 * would: the engine's socket is in this process, so shutting it down here
 * is what the engine sees of a server gone away. Returns how many. */
static int cut_server_connections(void)
{
	DIR *d = opendir("/proc/self/fd");
	int cut = 0;
	for (struct dirent *e; d && (e = readdir(d));) {
		int fd = atoi(e->d_name);
		struct sockaddr_storage peer;
		socklen_t len = sizeof peer;
		int type;
		socklen_t tlen = sizeof type;
		if (e->d_name[0] == '.' || fd == dirfd(d) ||
		    getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) != 0 || type != SOCK_STREAM ||
		    getpeername(fd, (struct sockaddr *)&peer, &len) != 0)
			continue;
		for (struct addrinfo *ai = server_addrs; ai; ai = ai->ai_next)
			if (same_addr((struct sockaddr *)&peer, ai->ai_addr)) {
				cut += shutdown(fd, SHUT_RDWR) == 0;
				break;
			}
	}
	if (d)
		closedir(d);
	return cut;
}

/* Records what the host did to the stream at media time t_ms, as a "host"
 * event in the timeline. */
static void host_did(struct call *c, int64_t t_ms, const char *what, const char *detail)
{
	char *json = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&json, &len);
	fputs("{\"action\":", m);
	json_write_string(m, what);
	if (detail) {
		fputs(",\"detail\":", m);
		json_write_string(m, detail);
	}
	fputc('}', m);
	fclose(m);
	pthread_mutex_lock(&c->mu);
	append_event(c, t_ms, "host", json);
	pthread_mutex_unlock(&c->mu);
	free(json);
}

/* Runs the actions due by media_ms. Returns 0, 2 when the host stopped the
 * listen, 1 when the listen had ended (LISTEN_ENDED), -1 on failure. */
static int run_actions(struct call *c, listen_stream_t h, size_t *next, int64_t media_ms)
{
	char err[ERRLEN] = "";
	for (; *next < opt.nactions && opt.actions[*next].at_ms <= media_ms; (*next)++) {
		const struct action *a = &opt.actions[*next];
		int rc = LISTEN_OK;
		switch (a->kind) {
		case A_PAUSE:
		case A_RESUME:
			host_did(c, media_ms, a->kind == A_PAUSE ? "pause" : "resume", NULL);
			rc = api.stream_pause(h, a->kind == A_PAUSE);
			break;
		case A_SEND_TEXT:
			host_did(c, media_ms, "send_text", a->arg);
			rc = api.stream_send_text(h, a->arg, err, sizeof err);
			if (rc == LISTEN_EINVAL) {
				snprintf(c->fail, sizeof c->fail, "--send-text refused: %s", err);
				return -1;
			}
			break;
		case A_STOP:
			host_did(c, media_ms, "stop", a->arg);
			if ((rc = api.stream_stop(h, a->arg)) == LISTEN_OK)
				return 2;
			break;
		case A_DRAIN:
			host_did(c, media_ms, "drain", a->arg);
			if ((rc = api.drain(atoi(a->arg), err, sizeof err)) != LISTEN_OK) {
				snprintf(c->fail, sizeof c->fail, "listen_drain refused: %s", err);
				return -1;
			}
			break;
		case A_KILL_SERVER: {
			char n[32];
			snprintf(n, sizeof n, "%d connection(s) cut", cut_server_connections());
			host_did(c, media_ms, "kill_server", n);
			break;
		}
		}
		if (rc == LISTEN_ENDED)
			return 1;
		if (rc != LISTEN_OK)
			return call_failed(c, a->kind == A_SEND_TEXT ? "listen_stream_send_text" : "a mid-call action", rc);
	}
	return 0;
}

/* Returns 0 at the hangup or the "stop" event, 1 when a hook said
 * LISTEN_ENDED (the listen ended by itself), 2 when the host stopped it
 * (--stop), -1 if a hook failed. */
/* --also: hands the frame of each direction to the second listen, which
 * ends (*ha = 0) at --also-stop or when it says LISTEN_ENDED. Returns -1
 * on failure. */
static int feed_also(struct call *c, listen_stream_t *ha, int64_t media_ms, const int16_t *caller,
                     const int16_t *callee)
{
	if (!*ha)
		return 0;
	int rc;
	if (opt.also_stop_s >= 0 && media_ms >= (int64_t)(opt.also_stop_s * 1000)) {
		host_did(c->also, media_ms, "stop", "stop");
		if ((rc = api.stream_stop(*ha, "stop")) != LISTEN_OK)
			return call_failed(c, "listen_stream_stop (--also)", rc);
		*ha = 0;
		return 0;
	}
	rc = api.stream_push_read(*ha, caller, frame_n);
	if (rc == LISTEN_OK && callee)
		rc = api.stream_push_write(*ha, callee, frame_n);
	if (rc == LISTEN_ENDED)
		*ha = 0;
	else if (rc != LISTEN_OK)
		return call_failed(c, "listen_stream_push_read (--also)", rc);
	return 0;
}

static int media_loop(struct call *c, listen_stream_t h, listen_stream_t ha)
{
	int16_t edge[MAX_FRAME], edge2[MAX_FRAME], play[MAX_FRAME];
	size_t next_dtmf = 0, next_action = 0;
	int rc;
	uint64_t k = 0;

	for (; k < hangup_frames && !atomic_load(&c->stopped); k++) {
		int64_t media_ms = (int64_t)k * FRAME_MS;
		c->frame_ms = media_ms;
		set_clock(c, media_ms);
		if ((rc = run_actions(c, h, &next_action, media_ms)) != 0)
			return rc;
		for (; next_dtmf < opt.ndtmf && opt.dtmf[next_dtmf].at_ms <= media_ms; next_dtmf++) {
			rc = api.stream_dtmf(h, opt.dtmf[next_dtmf].digit, opt.dtmf[next_dtmf].duration);
			if (rc == LISTEN_ENDED)
				return 1;
			if (rc != LISTEN_OK)
				return call_failed(c, "listen_stream_dtmf", rc);
		}
		if (opt.fast) {
			rc = 0;
			while (!atomic_load(&c->stopped) && (rc = api.stream_pending(h)) > FAST_MAX_PENDING)
				sleep_until(now_ns() + 1000000);
			if (rc < 0)
				return call_failed(c, "listen_stream_pending", rc);
		}

		const int16_t *caller = frame_of(&caller_wav, k, edge);
		TIMED(c, rc, api.stream_push_read(h, caller, frame_n));
		if (rc == LISTEN_ENDED)
			return 1;
		if (rc != LISTEN_OK)
			return call_failed(c, "listen_stream_push_read", rc);
		c->frames_in++;
		const int16_t *callee = NULL;
		if (opt.callee) {
			callee = frame_of(&callee_wav, k, edge2);
			TIMED(c, rc, api.stream_push_write(h, callee, frame_n));
			if (rc == LISTEN_ENDED)
				return 1;
			if (rc != LISTEN_OK)
				return call_failed(c, "listen_stream_push_write", rc);
		}
		if (c->also && feed_also(c, &ha, media_ms, caller, callee) != 0)
			return -1;

		TIMED(c, rc, api.stream_pull_play(h, play, frame_n));
		if (rc < 0 || (size_t)rc > frame_n)
			return call_failed(c, "listen_stream_pull_play", rc);
		c->frames_played += rc > 0;
		if (c->played_map &&
		    fprintf(c->played_map, "%.3f %d\n", (double)media_ms / 1000, rc > 0) < 0)
			return call_failed(c, "writing --played-map", -1);
		if (c->has_played) {
			memset(play + rc, 0, (frame_n - (size_t)rc) * sizeof *play);
			if (wav_write(&c->played, play, frame_n) != 0)
				return call_failed(c, "writing --played", -1);
		}

		if (!opt.fast)
			pace(c, k);
	}
	return 0;
}

/* The media loop of --no-stream: the same schedule and frame reading as
 * media_loop, without the engine. The frames go to a volatile pointer so the
 * reads are not optimised away. */
static void baseline_loop(struct call *c)
{
	static const int16_t *volatile seen __attribute__((unused));
	int16_t edge[MAX_FRAME], play[MAX_FRAME];

	memset(play, 0, sizeof play);
	for (uint64_t k = 0; k < hangup_frames; k++) {
		seen = frame_of(&caller_wav, k, edge);
		c->frames_in++;
		if (opt.callee)
			seen = frame_of(&callee_wav, k, edge);
		if (c->has_played && wav_write(&c->played, play, frame_n) != 0) {
			call_failed(c, "writing --played", -1);
			return;
		}
		if (!opt.fast)
			pace(c, k);
	}
}

/* One call: create, the media loop, stop, destroy, and the wait for its
 * "stop" event. Returns 0, or 1 if the create failed. */
static int run_call(struct call *c)
{
	if (opt.no_stream) {
		baseline_loop(c);
		return 0;
	}

	char err[ERRLEN] = "";
	atomic_store(&c->clock_free, 0);
	c->frame_ms = 0;
	set_clock(c, 0);
	listen_stream_t h =
		api.stream_create(opt.config, c->call_json, opt.rate, opt.flags, c, err, sizeof err);
	if (!h) {
		c->create_failures++;
		if (c->also && !c->also->create_err)
			c->also->create_err = strdup("not created: the call's first listen was not");
		if (!c->create_err) {
			c->create_err = strdup(err[0] ? err : "listen_stream_create returned 0 without a message");
			fprintf(stderr, "%s: call %d: listen_stream_create: %s\n", program_invocation_short_name, c->index, c->create_err);
		}
		return 1;
	}

	listen_stream_t ha = 0;
	if (c->also) {
		char aerr[ERRLEN] = "";
		c->also->t0_ns = c->t0_ns;
		ha = api.stream_create(opt.also, c->call_json, opt.rate, opt.flags | LISTEN_FLAG_PLAYBACK_TAKEN, c->also,
		                       aerr, sizeof aerr);
		if (!ha) {
			c->also->create_err = strdup(aerr[0] ? aerr : "listen_stream_create returned 0 without a message");
			fprintf(stderr, "%s: call %d: listen_stream_create: %s\n", program_invocation_short_name,
			        c->also->index, c->also->create_err);
		}
	}

	/* After a hook failure (noted in c->fail) the call still ends properly. */
	int r = media_loop(c, h, ha);
	int ended = r == 1 || r == 2;
	set_clock(c, c->frame_ms + (r == 0 ? FRAME_MS : 0));
	atomic_store(&c->clock_free, 1);
	if (c->also)
		atomic_store(&c->also->clock_free, 1);

	int rc;
	if (!ended && !atomic_load(&c->stopped) && (rc = api.stream_stop(h, opt.stop_reason)) != LISTEN_OK)
		call_failed(c, "listen_stream_stop", rc);
	if ((rc = api.stream_destroy(h)) != LISTEN_OK)
		call_failed(c, "listen_stream_destroy", rc);
	if (ha) {
		/* Stopped at --also-stop or ended already: destroy alone says hangup
		 * only to a listen still going. */
		if (!atomic_load(&c->also->stopped) && (rc = api.stream_stop(ha, opt.stop_reason)) != LISTEN_OK)
			call_failed(c, "listen_stream_stop (--also)", rc);
		if ((rc = api.stream_destroy(ha)) != LISTEN_OK)
			call_failed(c, "listen_stream_destroy (--also)", rc);
	}

	struct timespec deadline = to_ts(now_ns() + (int64_t)(opt.wait_s * 1e9));
	for (struct call *w = c; w; w = w == c ? c->also : NULL) {
		if (w->create_err)
			continue;
		pthread_mutex_lock(&w->mu);
		while (!w->nstop && pthread_cond_timedwait(&w->cv, &w->mu, &deadline) != ETIMEDOUT)
			;
		pthread_mutex_unlock(&w->mu);
	}
	return 0;
}

/* The reason the host causes: --stop's, else the hangup's. */
static const char *caused_reason(void)
{
	for (size_t i = 0; i < opt.nactions; i++)
		if (opt.actions[i].kind == A_STOP)
			return opt.actions[i].arg;
	return opt.stop_reason;
}

/* Whether the round's stop reason is one --expect allows. Caller holds c->mu. */
static int reason_expected(const struct call *c)
{
	if (opt.expect_any)
		return 1;
	if (!c->reason || c->reason[0] != '"')
		return 0;
	size_t len = strlen(c->reason) - 2;
	const char *r = c->reason + 1;
	if (!opt.nexpect)
		return strlen(caused_reason()) == len && strncmp(r, caused_reason(), len) == 0;
	for (size_t i = 0; i < opt.nexpect; i++)
		if (strlen(opt.expect[i]) == len && strncmp(r, opt.expect[i], len) == 0)
			return 1;
	return 0;
}

/* Counts the round's stop reason (and, with --repeat, tallies it). */
static void tally_round(struct call *c, int create_failed)
{
	pthread_mutex_lock(&c->mu);
	const char *r = create_failed ? "\"(create failed)\""
	                : !c->nstop   ? "\"(no stop)\""
	                : c->reason   ? c->reason
	                              : "\"(null)\"";
	int i = 0;
	while (i < MAX_REASONS && c->reasons[i] && strcmp(c->reasons[i], r) != 0)
		i++;
	if (!create_failed && !opt.no_stream && !reason_expected(c))
		c->unexpected++;
	if (i == MAX_REASONS)
		c->other_reasons++;
	else {
		if (!c->reasons[i])
			c->reasons[i] = strdup(r);
		c->reason_n[i]++;
	}
	pthread_mutex_unlock(&c->mu);
}

/* --repeat: forgets the last round's events before the next round. The
 * stream of that round sent its "stop", its last callback. */
static void reset_call(struct call *c)
{
	pthread_mutex_lock(&c->mu);
	for (size_t i = 0; i < c->nev; i++) {
		free(c->ev[i].name);
		free(c->ev[i].json);
	}
	c->nev = 0;
	c->nstop = 0; /* a second "stop" was counted in after_stop already */
	free(c->reason);
	free(c->duration_ms);
	free(c->frames_dropped);
	free(c->frames_sent);
	free(c->samples_played);
	free(c->digits);
	c->reason = c->duration_ms = c->frames_dropped = c->frames_sent = c->samples_played = c->digits = NULL;
	atomic_store(&c->stopped, 0);
	pthread_mutex_unlock(&c->mu);
}

/* A line of /proc/self/status, in KiB ("VmRSS: %ld kB"), or -1. */
static long status_kib(const char *format)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kib = -1;
	while (f && fgets(line, sizeof line, f))
		if (sscanf(line, format, &kib) == 1)
			break;
	if (f)
		fclose(f);
	return kib;
}

static long vm_rss_kib(void) { return status_kib("VmRSS: %ld kB"); }

/* The peak RSS of this process alone. getrusage's ru_maxrss is not: exec
 * folds in the peak of the address space it replaces, which after a
 * vfork-style spawn (Go's os/exec) is the parent's. */
static long vm_hwm_kib(void)
{
	long kib = status_kib("VmHWM: %ld kB");
	if (kib < 0) {
		struct rusage ru;
		getrusage(RUSAGE_SELF, &ru);
		kib = ru.ru_maxrss;
	}
	return kib;
}

/* listen_stats' JSON (malloc'd), or NULL when the library lacks it. */
static char *fetch_stats(void)
{
	char *json = NULL;
	if (!stats_fn)
		return NULL;
	size_t len = 4096;
	for (int tries = 0; tries < 3; tries++) {
		free(json);
		json = malloc(len);
		int need = json ? stats_fn(json, len) : -1;
		if (need < 0) {
			free(json);
			return NULL;
		}
		if ((size_t)need < len)
			break;
		len = (size_t)need + 1;
	}
	return json;
}

static void take_sample(int round)
{
	/* The round's streams have sent "stop"; let their goroutines finish
	 * (only for --repeat, whose samples are compared). */
	if (round > 0 && opt.repeat > 1)
		sleep_until(now_ns() + 100000000);
	samples = realloc(samples, (size_t)(nsamples + 1) * sizeof *samples);
	if (!samples) {
		perror(program_invocation_short_name);
		exit(1);
	}
	samples[nsamples++] = (struct sample){.round = round, .rss_kib = vm_rss_kib(), .engine = fetch_stats()};
}

/* --repeat: every call thread waits here after each round but the last;
 * one of them takes a sample on the rounds that are sampled. */
static void end_of_round(int round)
{
	int step = opt.repeat / 10 > 1 ? opt.repeat / 10 : 1;
	if (pthread_barrier_wait(&round_barrier) == PTHREAD_BARRIER_SERIAL_THREAD &&
	    (round == 1 || round % step == 0))
		take_sample(round);
	pthread_barrier_wait(&round_barrier);
}

static void *call_thread(void *arg)
{
	struct call *c = arg;

	/* Named so that a profiler (or the benchmark, through /proc) can tell
	 * the media threads from the engine's. */
	pthread_setname_np(pthread_self(), "sscall");

	pthread_mutex_lock(&go_mu);
	while (!go)
		pthread_cond_wait(&go_cv, &go_mu);
	pthread_mutex_unlock(&go_mu);

	/* Set before create: the engine may report events before create returns. */
	c->t0_ns = go_ns + c->offset_ns;
	sleep_until(c->t0_ns);

	for (int round = 1;; round++) {
		int create_failed = run_call(c);
		c->rounds++;
		tally_round(c, create_failed);
		if (round >= opt.repeat)
			break;
		end_of_round(round);
		reset_call(c);
		c->t0_ns = now_ns();
	}
	return NULL;
}

static uint64_t splitmix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* Random per run, distinct per call: splitmix64 is a bijection, so distinct
 * call indexes give distinct high halves. */
static char *generated_call_json(int i)
{
	static uint64_t seed[2];
	if (!seed[0] && getrandom(seed, sizeof seed, 0) != sizeof seed) {
		seed[0] = (uint64_t)now_ns();
		seed[1] = (uint64_t)getpid();
	}
	uint64_t hi = splitmix64(seed[0] + (uint64_t)i), lo = splitmix64(seed[1] ^ hi);
	hi = (hi & ~(uint64_t)0xf000) | 0x4000; /* version 4 */
	lo = (lo & ~((uint64_t)0xc000 << 48)) | ((uint64_t)0x8000 << 48); /* variant 1 */
	char *s;
	if (asprintf(&s,
	             "{\"callSid\":\"%08" PRIx64 "-%04" PRIx64 "-%04" PRIx64 "-%04" PRIx64 "-%012" PRIx64
	             "\",\"from\":\"+15550100\",\"to\":\"+15550199\",\"direction\":\"inbound\","
	             "\"callId\":\"%d\"}",
	             hi >> 32, (hi >> 16) & 0xffff, hi & 0xffff, lo >> 48, lo & (uint64_t)0xffffffffffff, i) < 0) {
		perror(program_invocation_short_name);
		exit(1);
	}
	return s;
}

/* An output file's name for call i: as given for one call, else with -i
 * before the extension. */
static char *numbered_path(const char *path, const char *ext, int i)
{
	if (opt.calls == 1)
		return strdup(path);
	size_t len = strlen(path), elen = strlen(ext);
	if (len >= elen && strcasecmp(path + len - elen, ext) == 0)
		len -= elen;
	char *s;
	if (asprintf(&s, "%.*s-%d%s", (int)len, path, i, ext) < 0) {
		perror(program_invocation_short_name);
		exit(1);
	}
	return s;
}

static void setup_call(struct call *c, int i)
{
	c->index = i;
	double spread_ns = opt.ramp_s > 0 ? opt.ramp_s * 1e9 : (double)FRAME_NS;
	c->offset_ns = (int64_t)(spread_ns * i / opt.calls);
	c->call_json = opt.call_json ? opt.call_json : generated_call_json(i);

	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->cv, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&c->mu, NULL);

	if (opt.played_map) {
		char *path = numbered_path(opt.played_map, ".txt", i);
		if (!(c->played_map = fopen(path, "w"))) {
			fprintf(stderr, "%s: --played-map: %s: %s\n", program_invocation_short_name, path, strerror(errno));
			exit(1);
		}
		free(path);
	}
	if (opt.played) {
		char err[ERRLEN], *path = numbered_path(opt.played, ".wav", i);
		if (wav_create(path, opt.rate, &c->played, err, sizeof err) != 0) {
			fprintf(stderr, "%s: --played: %s\n", program_invocation_short_name, err);
			exit(1);
		}
		free(path);
		c->has_played = 1;
	}
}

/* The second listen of call c (--also): same call attributes, its own
 * events. */
static void setup_also(struct call *c, struct call *a)
{
	a->index = opt.calls + c->index;
	a->call_json = c->call_json;
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&a->cv, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&a->mu, NULL);
	c->also = a;
}

static void print_or_null(const char *raw) { fputs(raw ? raw : "null", stdout); }

/* Checks the call against the engine's contract; returns 0, or -1 if the
 * call failed (said on stderr). */
static int check_call(struct call *c)
{
	int bad = 0;
	if (c->has_played && wav_close(&c->played) != 0) {
		fprintf(stderr, "%s: call %d: writing --played failed\n", program_invocation_short_name, c->index);
		bad = 1;
	}
	if (c->played_map && fclose(c->played_map) != 0) {
		fprintf(stderr, "%s: call %d: writing --played-map failed\n", program_invocation_short_name, c->index);
		bad = 1;
	}
	if (c->fail[0]) {
		fprintf(stderr, "%s: call %d: %s\n", program_invocation_short_name, c->index, c->fail);
		bad = 1;
	}
	for (int i = 0; opt.repeat > 1 && i < MAX_REASONS && c->reasons[i]; i++)
		if (strcmp(c->reasons[i], "\"(no stop)\"") == 0) {
			fprintf(stderr, "%s: call %d: %d rounds without a \"stop\" event within %g s (--wait)\n", program_invocation_short_name,
			        c->index, c->reason_n[i], opt.wait_s);
			bad = 1;
		}
	if (!c->create_err && c->nstop == 0 && !opt.no_stream) {
		fprintf(stderr, "%s: call %d: no \"stop\" event within %g s of destroy (--wait)\n", program_invocation_short_name,
		        c->index, opt.wait_s);
		bad = 1;
	}
	if (c->nstop > 1 || c->after_stop) {
		fprintf(stderr, "%s: call %d: %d \"stop\" events, %d callbacks after the first\n", program_invocation_short_name,
		        c->index, c->nstop, c->after_stop);
		bad = 1;
	}
	return bad ? -1 : 0;
}

static void report_json(struct call *c)
{
	printf("{\"call\":%d,\"reason\":", c->index);
	print_or_null(c->reason);
	fputs(",\"durationMs\":", stdout);
	print_or_null(c->duration_ms);
	printf(",\"framesIn\":%" PRIu64 ",\"framesSent\":", c->frames_in);
	print_or_null(c->frames_sent);
	fputs(",\"framesDropped\":", stdout);
	print_or_null(c->frames_dropped);
	printf(",\"framesPlayed\":%" PRIu64 ",\"samplesPlayed\":", c->frames_played);
	print_or_null(c->samples_played);
	if (c->digits) {
		fputs(",\"digits\":", stdout);
		fputs(c->digits, stdout);
	}
	if (c->create_err) {
		fputs(",\"error\":", stdout);
		json_write_string(stdout, c->create_err);
	}
	if (opt.repeat > 1) {
		printf(",\"rounds\":{\"done\":%d,\"createFailed\":%d,\"reasons\":{", c->rounds,
		       c->create_failures);
		for (int i = 0; i < MAX_REASONS && c->reasons[i]; i++)
			printf("%s%s:%d", i ? "," : "", c->reasons[i], c->reason_n[i]);
		if (c->other_reasons)
			printf("%s\"(other)\":%d", c->reasons[0] ? "," : "", c->other_reasons);
		fputs("}}", stdout);
	}
	fputs(",\"events\":[", stdout);
	for (size_t i = 0; i < c->nev; i++) {
		printf("%s{\"t\":%" PRId64 ",\"name\":", i ? "," : "", c->ev[i].t);
		json_write_string(stdout, c->ev[i].name);
		fputs(",\"json\":", stdout);
		write_raw_json(stdout, c->ev[i].json);
		fputc('}', stdout);
	}
	fputs("]}\n", stdout);
}

/* The reasons --expect allows, for the summary line. */
static void print_expected(void)
{
	if (!opt.nexpect) {
		fputs(caused_reason(), stdout);
		return;
	}
	for (size_t i = 0; i < opt.nexpect; i++)
		printf("%s%s", i ? " or " : "", opt.expect[i]);
}

static void report_timeline(struct call *c)
{
	printf("call %d\n", c->index);
	timeline_print(stdout, c->ev, c->nev);
	printf("call %d: ", c->index);
	if (c->create_err) {
		printf("refused: %s\n", c->create_err);
		return;
	}
	if (opt.no_stream) {
		printf("%" PRIu64 " frames, no stream (--no-stream)\n", c->frames_in);
		return;
	}
	if (!c->reason) {
		printf("no stop event\n");
		return;
	}
	printf("%.*s", c->reason[0] == '"' ? (int)strlen(c->reason) - 2 : (int)strlen(c->reason),
	       c->reason + (c->reason[0] == '"'));
	if (c->unexpected) {
		fputs(" (expected ", stdout);
		print_expected();
		fputs(")", stdout);
	} else if (!opt.expect_any)
		fputs(" (as expected)", stdout);
	double played_s = c->samples_played ? atof(c->samples_played) / opt.rate : 0;
	printf(", %.2f s, %s frames sent, %s dropped, %.2f s of audio played",
	       c->duration_ms ? atof(c->duration_ms) / 1000 : 0, c->frames_sent ? c->frames_sent : "?",
	       c->frames_dropped ? c->frames_dropped : "?", played_s);
	if (c->digits && strcmp(c->digits, "\"\"") != 0)
		printf(", digits %s", c->digits);
	if (opt.repeat > 1)
		printf(", %d rounds, %d not as expected", c->rounds, c->unexpected);
	fputc('\n', stdout);
}

/* Reads a WAV and converts it to the call's rate with the engine's resampler. */
static void load_audio(const char *path, struct wav_in *w)
{
	char err[ERRLEN] = "";
	if (wav_read(path, w, err, sizeof err) != 0)
		fail_usage("%s", err);
	if (w->rate == opt.rate)
		return;
	size_t want = (size_t)((uint64_t)w->n * (uint64_t)opt.rate / (uint64_t)w->rate) + 1;
	int16_t *out = malloc(want * sizeof *out);
	int n = out ? api.resample(w->samples, w->n, w->rate, out, want, opt.rate, err, sizeof err) : -1;
	if (n < 0 || (size_t)n > want)
		fail_usage("%s: cannot convert %d Hz to %d Hz: %s", path, w->rate, opt.rate, err);
	free(w->samples);
	w->samples = out;
	w->n = (size_t)n;
	w->rate = opt.rate;
}

/* --caller-tone: a sine at the call's rate, as long as the call. */
static void make_tone(struct wav_in *w)
{
	double seconds = opt.hangup_s >= 0 ? opt.hangup_s : 5;
	w->n = (size_t)ceil(seconds * opt.rate);
	w->rate = opt.rate;
	w->channels = 1;
	w->samples = malloc((w->n ? w->n : 1) * sizeof *w->samples);
	if (!w->samples) {
		perror(program_invocation_short_name);
		exit(1);
	}
	double amp = 32767 * pow(10, opt.tone_dbfs / 20), step = 2 * M_PI * opt.tone_hz / opt.rate;
	for (size_t i = 0; i < w->n; i++)
		w->samples[i] = (int16_t)lrint(amp * sin(step * (double)i));
}

static double tv_s(struct timeval tv) { return (double)tv.tv_sec + (double)tv.tv_usec / 1e6; }

int main(int argc, char **argv)
{
	char err[ERRLEN];
	int status = 0;

	parse_args(argc, argv);
	frame_n = (size_t)opt.rate / (1000 / FRAME_MS);
	if (opt.nactions)
		for (size_t i = 0; i < opt.nactions; i++)
			if (opt.actions[i].kind == A_KILL_SERVER) {
				resolve_server();
				break;
			}

	const char *lib = opt.lib ? opt.lib : default_lib();
	if (listen_api_load(lib, &api, err, sizeof err) != 0) {
		fprintf(stderr, "%s: %s\n", program_invocation_short_name, err);
		return 1;
	}
	listen_host_t host = {.abi_version = LISTEN_ABI_VERSION, .log = on_log, .event = on_event};
	{
		/* listen_stats is optional: an older library lacks it. The
		 * library is loaded already; this only takes another reference. */
		void *lib_handle = dlopen(lib, RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);
		if (lib_handle)
			*(void **)&stats_fn = dlsym(lib_handle, "listen_stats");
	}
	int rc = api.init(&host, opt.settings, err, sizeof err);
	if (rc != LISTEN_OK) {
		fprintf(stderr, "%s: listen_init returned %d: %s\n", program_invocation_short_name, rc, err);
		return rc == LISTEN_EINVAL ? 2 : 1;
	}
	if (opt.caller)
		load_audio(opt.caller, &caller_wav);
	if (opt.callee)
		load_audio(opt.callee, &callee_wav);
	if (opt.tone_hz > 0)
		make_tone(&caller_wav);
	if (opt.hangup_s >= 0)
		hangup_frames = (uint64_t)ceil(opt.hangup_s * 1000 / FRAME_MS - 1e-9);
	else if (opt.caller)
		hangup_frames = (caller_wav.n + frame_n - 1) / frame_n;
	else
		hangup_frames = 5000 / FRAME_MS;
	take_sample(0);

	/* With --also, the second listens follow the calls in the array. */
	int nreport = opt.also ? 2 * opt.calls : opt.calls;
	struct call *calls = calloc((size_t)nreport, sizeof *calls);
	pthread_t *threads = calloc((size_t)opt.calls, sizeof *threads);
	if (!calls || !threads) {
		perror(program_invocation_short_name);
		return 1;
	}
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, CALL_STACK);
	int started = 0;
	for (; started < opt.calls; started++) {
		setup_call(&calls[started], started);
		if (opt.also)
			setup_also(&calls[started], &calls[opt.calls + started]);
		if ((rc = pthread_create(&threads[started], &attr, call_thread, &calls[started])) != 0) {
			fprintf(stderr, "%s: starting call %d: %s; running %d calls\n", program_invocation_short_name, started,
			        strerror(rc), started);
			status = 1;
			break;
		}
	}
	pthread_attr_destroy(&attr);
	if (started > 0 && (rc = pthread_barrier_init(&round_barrier, NULL, (unsigned)started)) != 0) {
		fprintf(stderr, "%s: pthread_barrier_init: %s\n", program_invocation_short_name, strerror(rc));
		return 1;
	}

	/* Every thread exists before the clock starts, so that no call begins
	 * behind its schedule because others were still being spawned. */
	pthread_mutex_lock(&go_mu);
	go_ns = now_ns() + 1000000;
	go = 1;
	pthread_cond_broadcast(&go_cv);
	pthread_mutex_unlock(&go_mu);

	struct hist all = {0};
	int64_t max_late_ns = 0;
	for (int i = 0; i < started; i++) {
		pthread_join(threads[i], NULL);
		hist_merge(&all, &calls[i].hist);
		if (calls[i].max_late_ns > max_late_ns)
			max_late_ns = calls[i].max_late_ns;
	}
	double wall_s = (double)(now_ns() - go_ns) / 1e9;
	free(threads);

	if (opt.linger_s > 0)
		sleep_until(now_ns() + (int64_t)(opt.linger_s * 1e9));

	/* The engine's figures, before shutdown. */
	take_sample(opt.repeat);
	char *engine_json = fetch_stats();

	/* No callback comes after listen_shutdown returns, so the events are
	 * final when printed below. */
	if ((rc = api.shutdown(5000)) != LISTEN_OK) {
		fprintf(stderr, "%s: listen_shutdown(5000) returned %d\n", program_invocation_short_name, rc);
		status = 1;
	}

	int create_failed = 0, unexpected = 0;
	for (int j = 0; j < (opt.also ? 2 * started : started); j++) {
		int i = j < started ? j : opt.calls + j - started;
		if (check_call(&calls[i]) != 0)
			status = 1;
		create_failed |= calls[i].create_err != NULL;
		unexpected |= calls[i].unexpected != 0;
		if (opt.json)
			report_json(&calls[i]);
		else
			report_timeline(&calls[i]);
	}
	/* A refused config is the user's to fix (2); a listen that ended
	 * otherwise than expected is the server's outcome (3), told apart from
	 * switchsim or the engine failing (1). */
	int exit_status = create_failed ? 2 : status ? status : unexpected ? 3 : 0;
	if (!opt.stats && opt.calls == 1) {
		fflush(stdout);
		free(engine_json);
		return exit_status;
	}

	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	if (!opt.json) {
		printf("stats: %d calls; hook calls %" PRIu64 ": p50 %.1f us, p99 %.1f us, p99.9 %.1f us, max %.1f us; "
		       "latest frame tick %.1f ms; cpu %.2f s user, %.2f s sys; max rss %ld KiB; wall %.1f s\n",
		       started, all.count, (double)hist_quantile(&all, 0.50) / 1e3, (double)hist_quantile(&all, 0.99) / 1e3,
		       (double)hist_quantile(&all, 0.999) / 1e3, (double)all.max_ns / 1e3, (double)max_late_ns / 1e6,
		       tv_s(ru.ru_utime), tv_s(ru.ru_stime), ru.ru_maxrss, wall_s);
		if (engine_json && engine_json[0] == '{')
			printf("engine: %s\n", engine_json);
		fflush(stdout);
		free(engine_json);
		return exit_status;
	}
	printf("{\"summary\":{\"calls\":%d,\"hook\":{\"count\":%" PRIu64
	       ",\"p50_us\":%.3f,\"p99_us\":%.3f,\"p999_us\":%.3f,\"max_us\":%.3f},"
	       "\"max_late_ms\":%.3f,\"cpu_user_s\":%.3f,\"cpu_sys_s\":%.3f,\"maxrss_kib\":%ld,"
	       "\"wall_s\":%.3f",
	       started, all.count, (double)hist_quantile(&all, 0.50) / 1e3,
	       (double)hist_quantile(&all, 0.99) / 1e3, (double)hist_quantile(&all, 0.999) / 1e3,
	       (double)all.max_ns / 1e3, (double)max_late_ns / 1e6, tv_s(ru.ru_utime), tv_s(ru.ru_stime),
	       vm_hwm_kib(), wall_s);
	if (engine_json && engine_json[0] == '{') {
		fputs(",\"engine\":", stdout);
		write_raw_json(stdout, engine_json);
	}
	free(engine_json);
	printf(",\"rounds\":%d,\"samples\":[", opt.repeat);
	for (int i = 0; i < nsamples; i++) {
		printf("%s{\"round\":%d,\"rss_kib\":%ld", i ? "," : "", samples[i].round, samples[i].rss_kib);
		if (samples[i].engine && samples[i].engine[0] == '{') {
			fputs(",\"engine\":", stdout);
			write_raw_json(stdout, samples[i].engine);
		}
		fputc('}', stdout);
	}
	fputs("]}}\n", stdout);
	fflush(stdout);
	return exit_status;
}
