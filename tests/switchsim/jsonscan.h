/*
 * jsonscan.h: just enough JSON for a test host: find a member of an object the
 * engine produced, and write strings escaped. Not a validator.
 */
#ifndef SWITCHSIM_JSONSCAN_H
#define SWITCHSIM_JSONSCAN_H

#include <stddef.h>
#include <stdio.h>

/* Finds the top-level member key of the JSON object obj (members of nested
 * objects never match). On success *val points at the value's raw text (a
 * string value includes its quotes and escapes, so it can be copied into other
 * JSON as is), *len is its length, and 1 is returned; 0 if absent. */
int json_member(const char *obj, const char *key, const char **val, size_t *len);

/* Writes s as a JSON string literal, quotes included. */
void json_write_string(FILE *f, const char *s);

/* A JSON value as text, malloc'd: a string unescaped (\uXXXX as UTF-8,
 * surrogate pairs joined), anything else copied as it is. */
char *json_string_dup(const char *val, size_t len);

#endif
