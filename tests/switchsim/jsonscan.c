#include "jsonscan.h"

#include <stdlib.h>
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

static void put_utf8(char **w, unsigned cp)
{
	char *p = *w;
	if (cp < 0x80) {
		*p++ = (char)cp;
	} else if (cp < 0x800) {
		*p++ = (char)(0xC0 | cp >> 6);
		*p++ = (char)(0x80 | (cp & 0x3F));
	} else if (cp < 0x10000) {
		*p++ = (char)(0xE0 | cp >> 12);
		*p++ = (char)(0x80 | (cp >> 6 & 0x3F));
		*p++ = (char)(0x80 | (cp & 0x3F));
	} else {
		*p++ = (char)(0xF0 | cp >> 18);
		*p++ = (char)(0x80 | (cp >> 12 & 0x3F));
		*p++ = (char)(0x80 | (cp >> 6 & 0x3F));
		*p++ = (char)(0x80 | (cp & 0x3F));
	}
	*w = p;
}

static int hex4(const char *p, unsigned *v)
{
	*v = 0;
	for (int i = 0; i < 4; i++) {
		char c = p[i];
		int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
		if (d < 0)
			return 0;
		*v = *v << 4 | (unsigned)d;
	}
	return 1;
}

char *json_string_dup(const char *val, size_t len)
{
	if (len < 2 || val[0] != '"')
		return strndup(val, len);
	/* UTF-8 is never longer than the escape it comes from. */
	char *out = malloc(len), *w = out;
	if (!out)
		return NULL;
	const char *p = val + 1, *end = val + len - 1;
	while (p < end) {
		if (*p != '\\' || p + 1 >= end) {
			*w++ = *p++;
			continue;
		}
		char e = p[1];
		p += 2;
		switch (e) {
		case 'n': *w++ = '\n'; break;
		case 't': *w++ = '\t'; break;
		case 'r': *w++ = '\r'; break;
		case 'b': *w++ = '\b'; break;
		case 'f': *w++ = '\f'; break;
		case 'u': {
			unsigned cp, lo;
			if (p + 4 > end || !hex4(p, &cp))
				break;
			p += 4;
			if (cp >= 0xD800 && cp < 0xDC00 && p + 6 <= end && p[0] == '\\' && p[1] == 'u' &&
			    hex4(p + 2, &lo) && lo >= 0xDC00 && lo < 0xE000) {
				cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
				p += 6;
			}
			put_utf8(&w, cp);
			break;
		}
		default: *w++ = e; /* " \ / */
		}
	}
	*w = 0;
	return out;
}
