#include "wav.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define WAVE_FORMAT_PCM 0x0001
#define WAVE_FORMAT_IEEE_FLOAT 0x0003
#define WAVE_FORMAT_EXTENSIBLE 0xFFFE
#define WAV_OUT_BUFSIZE (64 * 1024)

/* Byte-wise so the files are read and written little-endian on any host. */
static uint32_t le16(const unsigned char *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t le32(const unsigned char *p) { return le16(p) | le16(p + 2) << 16; }

static void put16(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
}

static void put32(unsigned char *p, uint32_t v)
{
	put16(p, v);
	put16(p + 2, v >> 16);
}

/* One sample of a frame as float in [-1, 1]. */
static float sample_at(const unsigned char *p, int is_float)
{
	if (is_float) {
		uint32_t u = le32(p);
		float v;
		memcpy(&v, &u, sizeof v);
		return isfinite(v) ? v : 0;
	}
	return (float)(int16_t)le16(p) / 32768.0f;
}

int wav_read(const char *path, struct wav_in *out, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	unsigned char riff[12];
	if (fread(riff, 1, sizeof riff, f) != sizeof riff || memcmp(riff, "RIFF", 4) != 0 ||
	    memcmp(riff + 8, "WAVE", 4) != 0) {
		snprintf(err, errlen, "%s: not a RIFF/WAVE file", path);
		goto fail;
	}

	int have_fmt = 0, is_float = 0;
	uint32_t channels = 0, width = 0;
	for (;;) {
		unsigned char ch[8];
		if (fread(ch, 1, sizeof ch, f) != sizeof ch) {
			snprintf(err, errlen, "%s: no %s chunk", path, have_fmt ? "data" : "fmt");
			goto fail;
		}
		uint32_t size = le32(ch + 4);
		if (memcmp(ch, "fmt ", 4) == 0) {
			unsigned char fmt[40];
			if (size < 16 || size > sizeof fmt || fread(fmt, 1, size, f) != size) {
				snprintf(err, errlen, "%s: bad fmt chunk", path);
				goto fail;
			}
			uint32_t tag = le16(fmt), srate = le32(fmt + 4), bits = le16(fmt + 14);
			channels = le16(fmt + 2);
			if (tag == WAVE_FORMAT_EXTENSIBLE && size >= 26)
				tag = le16(fmt + 24); /* the sub-format GUID starts with the tag */
			is_float = tag == WAVE_FORMAT_IEEE_FLOAT;
			if (!((tag == WAVE_FORMAT_PCM && bits == 16) || (is_float && bits == 32)) ||
			    channels < 1 || channels > 2 || srate < WAV_MIN_RATE || srate > WAV_MAX_RATE) {
				snprintf(err, errlen,
				         "%s: format tag 0x%04x, %u bit, %u channel(s), %u Hz; need 16-bit PCM "
				         "or 32-bit float, mono or stereo, %d to %d Hz",
				         path, tag, bits, channels, srate, WAV_MIN_RATE, WAV_MAX_RATE);
				goto fail;
			}
			out->rate = (int)srate;
			out->channels = (int)channels;
			width = bits / 8 * channels;
			if (size & 1)
				fgetc(f);
			have_fmt = 1;
		} else if (memcmp(ch, "data", 4) == 0) {
			if (!have_fmt) {
				snprintf(err, errlen, "%s: data chunk before fmt chunk", path);
				goto fail;
			}
			/* Streaming writers leave the size at 0 or 0xFFFFFFFF: trust the
			 * file's length over the header. */
			long here = ftell(f);
			if (fseek(f, 0, SEEK_END) != 0) {
				snprintf(err, errlen, "%s: %s", path, strerror(errno));
				goto fail;
			}
			long left = ftell(f) - here;
			if (size == 0 || size > (uint64_t)left)
				size = (uint32_t)left;
			fseek(f, here, SEEK_SET);
			size_t n = size / width;
			unsigned char *raw = malloc(size ? size : 1);
			out->samples = malloc((n ? n : 1) * sizeof *out->samples);
			if (!raw || !out->samples || fread(raw, 1, n * width, f) != n * width) {
				snprintf(err, errlen, "%s: cannot read %zu frames", path, n);
				free(raw);
				free(out->samples);
				goto fail;
			}
			/* Stereo is averaged, the way the engine downmixes a stereo clip. */
			size_t step = width / channels;
			for (size_t i = 0; i < n; i++) {
				float v = 0;
				for (uint32_t c = 0; c < channels; c++)
					v += sample_at(raw + i * width + c * step, is_float);
				v = v / (float)channels * 32768.0f;
				out->samples[i] = (int16_t)(v >= 32767.0f ? 32767 : v <= -32768.0f ? -32768 : lrintf(v));
			}
			free(raw);
			out->n = n;
			fclose(f);
			return 0;
		} else if (fseek(f, (long)size + (size & 1), SEEK_CUR) != 0) {
			snprintf(err, errlen, "%s: truncated chunk", path);
			goto fail;
		}
	}
fail:
	fclose(f);
	return -1;
}

static void header(unsigned char h[44], int rate, uint64_t n)
{
	uint32_t bytes = n > (UINT32_MAX - 36) / 2 ? UINT32_MAX - 36 : (uint32_t)(n * 2);
	memcpy(h, "RIFF", 4);
	put32(h + 4, 36 + bytes);
	memcpy(h + 8, "WAVEfmt ", 8);
	put32(h + 16, 16);
	put16(h + 20, WAVE_FORMAT_PCM);
	put16(h + 22, 1);
	put32(h + 24, (uint32_t)rate);
	put32(h + 28, (uint32_t)rate * 2);
	put16(h + 32, 2);
	put16(h + 34, 16);
	memcpy(h + 36, "data", 4);
	put32(h + 40, bytes);
}

int wav_create(const char *path, int rate, struct wav_out *w, char *err, size_t errlen)
{
	unsigned char h[44];
	w->n = 0;
	w->rate = rate;
	w->buf = malloc(WAV_OUT_BUFSIZE);
	w->f = fopen(path, "wb");
	if (!w->buf || !w->f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		free(w->buf);
		if (w->f)
			fclose(w->f);
		return -1;
	}
	setvbuf(w->f, w->buf, _IOFBF, WAV_OUT_BUFSIZE);
	header(h, rate, 0);
	fwrite(h, 1, sizeof h, w->f);
	return 0;
}

int wav_write(struct wav_out *w, const int16_t *samples, size_t n)
{
	unsigned char b[512];
	size_t done = 0;
	while (done < n) {
		size_t k = n - done < sizeof b / 2 ? n - done : sizeof b / 2;
		for (size_t i = 0; i < k; i++)
			put16(b + 2 * i, (uint16_t)samples[done + i]);
		if (fwrite(b, 2, k, w->f) != k)
			return -1;
		done += k;
	}
	w->n += n;
	return 0;
}

int wav_close(struct wav_out *w)
{
	unsigned char h[44];
	header(h, w->rate, w->n);
	int bad = fflush(w->f) != 0 || fseek(w->f, 0, SEEK_SET) != 0 ||
	          fwrite(h, 1, sizeof h, w->f) != sizeof h || ferror(w->f);
	bad |= fclose(w->f) != 0;
	free(w->buf);
	return bad ? -1 : 0;
}
