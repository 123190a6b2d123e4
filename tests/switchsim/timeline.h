/*
 * timeline.h: a call's events as lines for people, in media time.
 */
#ifndef SWITCHSIM_TIMELINE_H
#define SWITCHSIM_TIMELINE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* One callback as recorded (or one thing the host did, named "host"). */
struct event {
	int64_t t; /* media time, ms */
	char *name, *json;
};

/* Prints one line per moment: "1.520 ← playAudio id=a 1.00 s raw@16000".
 * "wire" events become the text frames in full (the first one sent is
 * "first frame") and, for binary frames, a line per direction and media
 * second with their count and bytes, plus the first and any of another
 * size; a playAudio's audio is summed up, not printed. */
void timeline_print(FILE *f, const struct event *ev, size_t nev);

/* A member's value as text (a string unescaped), copied into buf
 * (truncated); "" when absent. */
const char *json_text(const char *json, const char *key, char *buf, size_t len);

#endif
