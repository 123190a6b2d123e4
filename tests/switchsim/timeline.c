#include "timeline.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "jsonscan.h"

const char *json_text(const char *json, const char *key, char *buf, size_t len)
{
	const char *v;
	size_t n;
	buf[0] = 0;
	if (!json || !json_member(json, key, &v, &n))
		return buf;
	char *text = json_string_dup(v, n);
	snprintf(buf, len, "%s", text ? text : "");
	free(text);
	return buf;
}

static void stamp(FILE *f, int64_t t) { fprintf(f, "%7.3f ", (double)t / 1000); }

/* The binary frames of one direction over one media second. */
struct binary_run {
	const char *arrow;
	int64_t second, last_t; /* second -1: nothing counted yet */
	long frames, bytes, usual;
	int packets; /* Opus: every packet has its own size, so sizes are not told */
};

static void flush_run(FILE *f, struct binary_run *r)
{
	if (r->frames) {
		stamp(f, r->last_t);
		fprintf(f, "%s audio %ld frames, %ld bytes in %" PRId64 "-%" PRId64 " s\n", r->arrow, r->frames,
		        r->bytes, r->second, r->second + 1);
	}
	r->frames = r->bytes = 0;
}

/* One frame of audio: a binary frame, or a Twilio media message (what tells
 * its kind), counted by its audio's bytes. */
static void audio_frame(FILE *f, struct binary_run *r, int64_t t, long bytes, const char *what)
{
	if (r->second >= 0 && t / 1000 != r->second)
		flush_run(f, r);
	if (r->usual == 0 || (bytes != r->usual && !r->packets)) {
		stamp(f, t);
		fprintf(f, "%s %s of %ld bytes%s\n", r->arrow, what, bytes,
		        r->usual != 0 ? " (another size)" : r->packets ? " (the first Opus packet)" : " (the first)");
		if (r->usual == 0)
			r->usual = bytes;
	}
	r->second = t / 1000;
	r->last_t = t;
	r->frames++;
	r->bytes += bytes;
}

static int b64_value(char c)
{
	const char *digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const char *p = c ? strchr(digits, c) : NULL;
	return p ? (int)(p - digits) : -1;
}

/* The seconds of a base64 WAV clip, from its header (a plain 44-byte one:
 * "fmt " then "data"); 0 when it is not one. */
static double wav_seconds(const char *b64, size_t len, int *rate)
{
	unsigned char h[45];
	size_t n = 0;
	for (size_t i = 0; i + 3 < len && n + 3 <= sizeof h; i += 4) {
		int a = b64_value(b64[i]), b = b64_value(b64[i + 1]), c = b64_value(b64[i + 2]), d = b64_value(b64[i + 3]);
		if (a < 0 || b < 0 || c < 0 || d < 0)
			break;
		uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | (uint32_t)d;
		h[n++] = (unsigned char)(v >> 16);
		h[n++] = (unsigned char)(v >> 8);
		h[n++] = (unsigned char)v;
	}
	if (n < 44 || memcmp(h, "RIFF", 4) || memcmp(h + 8, "WAVEfmt ", 8) || memcmp(h + 36, "data", 4))
		return 0;
	uint32_t byte_rate = (uint32_t)h[28] | (uint32_t)h[29] << 8 | (uint32_t)h[30] << 16 | (uint32_t)h[31] << 24;
	uint32_t size = (uint32_t)h[40] | (uint32_t)h[41] << 8 | (uint32_t)h[42] << 16 | (uint32_t)h[43] << 24;
	*rate = (int)((uint32_t)h[24] | (uint32_t)h[25] << 8 | (uint32_t)h[26] << 16 | (uint32_t)h[27] << 24);
	return byte_rate ? (double)size / byte_rate : 0;
}

/* The server's playAudio, without its audio: "playAudio id=a 1.00 s raw@16000". */
static void play_audio(FILE *f, const char *text)
{
	const char *v;
	size_t n;
	char id[64], type[32], rate[16];
	char *data = json_member(text, "data", &v, &n) ? strndup(v, n) : NULL;
	json_text(data, "id", id, sizeof id);
	json_text(data, "audioContentType", type, sizeof type);
	json_text(data, "sampleRate", rate, sizeof rate);
	const char *content = data && json_member(data, "audioContent", &v, &n) && n >= 2 ? v + 1 : "";
	long b64 = content[0] ? (long)n - 2 : 0;
	long bytes = b64 / 4 * 3;
	int wav_rate = 0;
	double wav_s = strncmp(type, "wav", 3) == 0 ? wav_seconds(content, (size_t)b64, &wav_rate) : 0;
	fprintf(f, "playAudio");
	if (id[0])
		fprintf(f, " id=%s", id);
	if (strcmp(type, "raw") == 0 && atoi(rate) > 0)
		fprintf(f, " %.2f s raw@%s", (double)bytes / 2 / atoi(rate), rate);
	else if (wav_s > 0)
		fprintf(f, " %.2f s %s@%d", wav_s, type, wav_rate);
	else
		fprintf(f, " %s, %ld bytes", type[0] ? type : "(no type)", bytes);
	fputc('\n', f);
	free(data);
}

/* A transcript: "✎ caller (final): hello world". */
static void transcription(FILE *f, const char *json)
{
	const char *v;
	size_t n;
	char party[32], text[1024];
	int final = json_member(json, "is_final", &v, &n) && n == 4 && !strncmp(v, "true", 4);
	fprintf(f, "✎ %s (%s): %s\n", json_text(json, "party", party, sizeof party), final ? "final" : "interim",
	        json_text(json, "transcript", text, sizeof text));
}

static void wire(FILE *f, const struct event *e, struct binary_run *out, struct binary_run *in, int *first_out)
{
	char dir[8], bytes[24];
	json_text(e->json, "dir", dir, sizeof dir);
	int sent = strcmp(dir, "out") == 0;
	const char *v;
	size_t n;
	/* Whatever comes in a later second follows the audio counted before it,
	 * in both directions. */
	if (out->second >= 0 && e->t / 1000 > out->second)
		flush_run(f, out);
	if (in->second >= 0 && e->t / 1000 > in->second)
		flush_run(f, in);
	if (!json_member(e->json, "text", &v, &n)) {
		audio_frame(f, sent ? out : in, e->t, atol(json_text(e->json, "bytes", bytes, sizeof bytes)), "binary frame");
		return;
	}
	char *text = json_string_dup(v, n), type[32] = "";
	/* Twilio Media Streams: 50 media messages a second are counted, like
	 * binary frames, by their payload's bytes. */
	if (text && strcmp(json_text(text, "event", type, sizeof type), "media") == 0 &&
	    json_member(text, "media", &v, &n)) {
		char *media = strndup(v, n);
		long payload = 0;
		if (media && json_member(media, "payload", &v, &n) && n >= 2) {
			payload = (long)(n - 2) / 4 * 3;
			for (size_t i = n - 2; i > 0 && payload > 0 && v[i] == '='; i--)
				payload--; /* v[n-1] is the closing quote */
		}
		free(media);
		audio_frame(f, sent ? out : in, e->t, payload, "media message with a payload");
		free(text);
		return;
	}
	type[0] = 0;
	stamp(f, e->t);
	fputs(sent ? "→ " : "← ", f);
	if (sent && !*first_out) {
		char enc[16];
		fputs("first frame ", f);
		*first_out = 1;
		out->packets = strcmp(json_text(text, "encoding", enc, sizeof enc), "opus") == 0;
	}
	if (!sent && strcmp(json_text(text, "type", type, sizeof type), "playAudio") == 0)
		play_audio(f, text);
	else
		fprintf(f, "%s\n", text);
	free(text);
}

void timeline_print(FILE *f, const struct event *ev, size_t nev)
{
	struct binary_run out = {.arrow = "→", .second = -1}, in = {.arrow = "←", .second = -1};
	int first_out = 0;
	for (size_t i = 0; i < nev; i++) {
		const struct event *e = &ev[i];
		char a[256], b[256];
		/* A second of binary frames is told before what came after it. */
		if (out.second >= 0 && e->t / 1000 > out.second && strcmp(e->name, "wire") != 0)
			flush_run(f, &out);
		if (in.second >= 0 && e->t / 1000 > in.second && strcmp(e->name, "wire") != 0)
			flush_run(f, &in);
		if (strcmp(e->name, "wire") == 0) {
			wire(f, e, &out, &in, &first_out);
			continue;
		}
		if (strcmp(e->name, "stop") == 0) { /* the last line of the call */
			flush_run(f, &out);
			flush_run(f, &in);
		}
		stamp(f, e->t);
		if (strcmp(e->name, "host") == 0) {
			json_text(e->json, "detail", b, sizeof b);
			fprintf(f, "host %s%s%s\n", json_text(e->json, "action", a, sizeof a), b[0] ? " " : "", b);
		} else if (!strcmp(e->name, "play_start") || !strcmp(e->name, "play_done")) {
			fprintf(f, "▶ %s %s\n", e->name, json_text(e->json, "id", a, sizeof a));
		} else if (!strcmp(e->name, "mark")) {
			fprintf(f, "▶ mark %s\n", json_text(e->json, "name", a, sizeof a));
		} else if (!strcmp(e->name, "connect") || !strcmp(e->name, "connect_failed")) {
			json_text(e->json, "error", b, sizeof b);
			fprintf(f, "%s %s%s%s\n", e->name, json_text(e->json, "url", a, sizeof a), b[0] ? ": " : "", b);
		} else if (!strcmp(e->name, "transcription")) {
			transcription(f, e->json);
		} else if (!strcmp(e->name, "transcription_error")) {
			fprintf(f, "✎ transcription error: %s\n", json_text(e->json, "error", b, sizeof b));
		} else if (!strcmp(e->name, "dtmf")) {
			fprintf(f, "dtmf %s\n", json_text(e->json, "dtmf", a, sizeof a));
		} else if (!strcmp(e->name, "stop")) {
			json_text(e->json, "error", b, sizeof b);
			fprintf(f, "stop %s%s%s\n", json_text(e->json, "reason", a, sizeof a), b[0] ? ": " : "", b);
		} else {
			fprintf(f, "%s %s\n", e->name, e->json);
		}
	}
	flush_run(f, &out);
	flush_run(f, &in);
}
