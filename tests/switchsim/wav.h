/*
 * wav.h: WAV files in, 16-bit PCM mono WAV files out (the codec hands the
 * engine 16-bit PCM mono).
 */
#ifndef SWITCHSIM_WAV_H
#define SWITCHSIM_WAV_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define WAV_MIN_RATE 8000
#define WAV_MAX_RATE 48000

struct wav_in {
	int16_t *samples; /* mono */
	size_t n;
	int rate;     /* the file's */
	int channels; /* the file's, before the downmix */
};

/* Reads a whole file of 16-bit PCM or 32-bit float, mono or stereo, at
 * WAV_MIN_RATE..WAV_MAX_RATE Hz, as mono 16-bit samples at the file's rate
 * (stereo averaged). Returns 0, or -1 with err filled (saying what the file
 * is instead). */
int wav_read(const char *path, struct wav_in *out, char *err, size_t errlen);

/* A WAV being written frame by frame; the sizes in its header are patched by
 * wav_close. */
struct wav_out {
	FILE *f;
	uint64_t n;
	int rate;
	char *buf;
};

/* Opens path for writing. The stdio buffer is allocated here, so that writing
 * from a media loop never allocates. Returns 0, or -1 with err filled. */
int wav_create(const char *path, int rate, struct wav_out *w, char *err, size_t errlen);

/* Appends n samples. Returns 0, or -1 on a write error. */
int wav_write(struct wav_out *w, const int16_t *samples, size_t n);

/* Patches the header and closes. Returns 0, or -1 if anything written was
 * lost. */
int wav_close(struct wav_out *w);

#endif
