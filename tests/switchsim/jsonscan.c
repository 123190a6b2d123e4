#include "jsonscan.h"

#include <string.h>

static const char *skip_ws(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	return p;
}

/* p is at an opening quote; returns just past the closing one, or NULL. */
static const char *skip_string(const char *p)
{
	for (p++; *p; p++) {
		if (*p == '\\') {
			if (!*++p)
				return NULL;
		} else if (*p == '"') {
			return p + 1;
		}
	}
	return NULL;
}

/* Returns just past the value starting at p, or NULL if the text ends first. */
static const char *skip_value(const char *p)
{
	if (*p == '"')
		return skip_string(p);
	if (*p == '{' || *p == '[') {
		int depth = 0;
		while (*p) {
			if (*p == '"') {
				p = skip_string(p);
				if (!p)
					return NULL;
				continue;
			}
			if (*p == '{' || *p == '[')
				depth++;
			else if ((*p == '}' || *p == ']') && --depth == 0)
				return p + 1;
			p++;
		}
		return NULL;
	}
	/* number, true, false, null */
	const char *start = p;
	while (*p && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\t' && *p != '\n' &&
	       *p != '\r')
		p++;
	return p == start ? NULL : p;
}

int json_member(const char *obj, const char *key, const char **val, size_t *len)
{
	size_t keylen = strlen(key);
	const char *p = skip_ws(obj);
	if (*p != '{')
		return 0;
	p = skip_ws(p + 1);
	while (*p == '"') {
		const char *kend = skip_string(p);
		if (!kend)
			return 0;
		/* Keys with escapes never equal the plain ASCII keys asked for. */
		int match = (size_t)(kend - p - 2) == keylen && memcmp(p + 1, key, keylen) == 0;
		p = skip_ws(kend);
		if (*p != ':')
			return 0;
		p = skip_ws(p + 1);
		const char *vend = skip_value(p);
		if (!vend)
			return 0;
		if (match) {
			*val = p;
			*len = (size_t)(vend - p);
			return 1;
		}
		p = skip_ws(vend);
		if (*p != ',')
			return 0;
		p = skip_ws(p + 1);
	}
	return 0;
}

void json_write_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"': fputs("\\\"", f); break;
		case '\\': fputs("\\\\", f); break;
		case '\n': fputs("\\n", f); break;
		case '\r': fputs("\\r", f); break;
		case '\t': fputs("\\t", f); break;
		default:
			if (*p < 0x20)
				fprintf(f, "\\u%04x", *p);
			else
				fputc(*p, f);
		}
	}
	fputc('"', f);
}
