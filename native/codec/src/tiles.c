#define _POSIX_C_SOURCE 200809L
/* Lossless tiles through zstd: both sides (the compositor encodes, terminals decode). */
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "codec.h"

/* One zstd stream per link, flushed after every update: the window keeps what was sent
 * lately, so a glyph typed again costs a back-reference instead of its pixels (what zlib's
 * shared stream does for VNC's ZRLE). Short rectangles go column by column: a line of text
 * then lays each glyph's pixels out contiguously, the same bytes wherever it is typed. */
#define WD_TILES_COLUMN_MAX_H 64
/* fzstd (the browser's decoder) parses a stream's header only once 18 bytes are there. */
#define WD_TILES_MIN_START 18
/* The size of a zstd block header (RFC 8878, 3.1.1.2). */
#define WD_ZSTD_BLOCK_HEADER 3

struct wd_tiler {
	ZSTD_CCtx *cctx;
	ZSTD_DCtx *dctx;
	uint8_t *raw;
	size_t cap;
	bool enc_open; /* a stream is under way on the sending side */
	bool dec_open; /* the receiving side has the stream's state */
};

wd_tiler *wd_tiler_create(int window_log) {
	wd_tiler *t = calloc(1, sizeof(*t));
	if (!t) return NULL;
	t->cctx = ZSTD_createCCtx();
	t->dctx = ZSTD_createDCtx();
	if (!t->cctx || !t->dctx) {
		wd_tiler_destroy(t);
		return NULL;
	}
	ZSTD_CCtx_setParameter(t->cctx, ZSTD_c_compressionLevel, 1);
	ZSTD_CCtx_setParameter(t->cctx, ZSTD_c_checksumFlag, 0);
	ZSTD_CCtx_setParameter(t->cctx, ZSTD_c_windowLog, window_log);
	/* A hostile sender may announce a huge window: refuse more than the sender uses. */
	ZSTD_DCtx_setParameter(t->dctx, ZSTD_d_windowLogMax, window_log);
	return t;
}

void wd_tiler_destroy(wd_tiler *t) {
	if (!t) return;
	ZSTD_freeCCtx(t->cctx);
	ZSTD_freeDCtx(t->dctx);
	free(t->raw);
	free(t);
}

/* A whole picture needs megabytes once per attach; typing needs a few hundred bytes: do not
 * keep the big buffer around between them. */
#define WD_TILES_KEEP (256 * 1024)

static void release_big(wd_tiler *t) {
	if (t->cap <= WD_TILES_KEEP) return;
	free(t->raw);
	t->raw = NULL;
	t->cap = 0;
}

static bool ensure(wd_tiler *t, size_t n) {
	if (t->cap >= n) return true;
	uint8_t *a = realloc(t->raw, n);
	if (!a) return false;
	t->raw = a;
	t->cap = n;
	return true;
}

size_t wd_tiles_bound(size_t pixels) {
	return 1 + WD_TILES_MIN_START + ZSTD_compressBound(pixels * 3) + 64;
}

static size_t rects_pixels(const int32_t *rects, int n) {
	size_t px = 0;
	for (int i = 0; i < n; i++) px += (size_t)rects[i * 4 + 2] * (size_t)rects[i * 4 + 3];
	return px;
}

static inline bool same_px(const uint8_t *a, const uint8_t *b) {
	return a[0] == b[0] && a[1] == b[1] && a[2] == b[2];
}

int wd_tiles_shrink(const uint8_t *cur, const uint8_t *prev, size_t stride, int32_t *rects, int n) {
	int out = 0;
	for (int i = 0; i < n; i++) {
		int x = rects[i * 4], y = rects[i * 4 + 1], w = rects[i * 4 + 2], h = rects[i * 4 + 3];
		int x0 = x + w, y0 = y + h, x1 = -1, y1 = -1;
		for (int r = y; r < y + h; r++) {
			const uint8_t *a = cur + (size_t)r * stride + (size_t)x * 4, *b = prev + (size_t)r * stride + (size_t)x * 4;
			for (int c = x; c < x + w; c++, a += 4, b += 4) {
				if (same_px(a, b)) continue;
				if (c < x0) x0 = c;
				if (c > x1) x1 = c;
				if (r < y0) y0 = r;
				y1 = r;
			}
		}
		if (x1 < 0) continue;
		rects[out * 4] = x0;
		rects[out * 4 + 1] = y0;
		rects[out * 4 + 2] = x1 - x0 + 1;
		rects[out * 4 + 3] = y1 - y0 + 1;
		out++;
	}
	return out;
}

static bool column_major(int h) {
	return h <= WD_TILES_COLUMN_MAX_H;
}

size_t wd_tiles_encode(wd_tiler *t, const uint8_t *cur, size_t stride, const int32_t *rects, int n, bool restart,
	uint8_t *out, size_t cap) {
	size_t total = rects_pixels(rects, n) * 3;
	if (total == 0 || !ensure(t, total) || cap < wd_tiles_bound(total / 3)) return 0;
	uint8_t *raw = t->raw;
	for (int i = 0; i < n; i++) {
		int x = rects[i * 4], y = rects[i * 4 + 1], w = rects[i * 4 + 2], h = rects[i * 4 + 3];
		if (column_major(h)) {
			for (int c = 0; c < w; c++) {
				const uint8_t *s = cur + (size_t)y * stride + (size_t)(x + c) * 4;
				for (int r = 0; r < h; r++, s += stride, raw += 3) {
					raw[0] = s[0];
					raw[1] = s[1];
					raw[2] = s[2];
				}
			}
		} else {
			for (int r = 0; r < h; r++) {
				const uint8_t *s = cur + (size_t)(y + r) * stride + (size_t)x * 4;
				for (int c = 0; c < w; c++, s += 4, raw += 3) {
					raw[0] = s[0];
					raw[1] = s[1];
					raw[2] = s[2];
				}
			}
		}
	}
	if (restart || !t->enc_open) {
		ZSTD_CCtx_reset(t->cctx, ZSTD_reset_session_only);
		t->enc_open = true;
		restart = true;
	}
	out[0] = restart ? 1 : 0;
	ZSTD_outBuffer ob = {out + 1, cap - 1, 0};
	ZSTD_inBuffer ib = {t->raw, total, 0};
	size_t left;
	do {
		left = ZSTD_compressStream2(t->cctx, &ob, &ib, ZSTD_e_flush);
		if (ZSTD_isError(left)) {
			t->enc_open = false;
			return 0;
		}
	} while (left != 0);
	/* Empty raw blocks (three zero bytes each) carry nothing and let fzstd see the header. */
	while (restart && ob.pos < WD_TILES_MIN_START) {
		memset(out + 1 + ob.pos, 0, 3);
		ob.pos += 3;
	}
	release_big(t);
	return ob.pos + 1;
}

void wd_tiles_lost(wd_tiler *t) {
	t->dec_open = false;
}

bool wd_tiles_decode(wd_tiler *t, const uint8_t *in, size_t len, uint8_t *fb, size_t stride, const int32_t *rects, int n) {
	size_t total = rects_pixels(rects, n) * 3;
	/* Any refused update leaves the stream behind the sender's: nothing after it decodes. */
	if (len < 2 || in[0] > 1 || total == 0 || !ensure(t, total)) {
		t->dec_open = false;
		return false;
	}
	if (in[0] == 1) {
		ZSTD_DCtx_reset(t->dctx, ZSTD_reset_session_only);
		t->dec_open = true;
	}
	if (!t->dec_open) return false;
	ZSTD_outBuffer ob = {t->raw, total, 0};
	ZSTD_inBuffer ib = {in + 1, len - 1, 0};
	while (ib.pos < ib.size) {
		size_t before_in = ib.pos, before_out = ob.pos;
		size_t r = ZSTD_decompressStream(t->dctx, &ob, &ib);
		if (ZSTD_isError(r) || (ib.pos == before_in && ob.pos == before_out)) {
			/* The stream's state is lost: only a restarted stream decodes from here. */
			t->dec_open = false;
			return false;
		}
	}
	/* More data than the rectangles hold stays buffered in the context: ask for one byte more. */
	uint8_t extra;
	ZSTD_outBuffer more = {&extra, 1, 0};
	ZSTD_inBuffer none = {in, 0, 0};
	size_t r = ZSTD_decompressStream(t->dctx, &more, &none);
	/* An update ends on a block boundary: the decoder then wants a 3-byte block header and
	 * holds nothing back. Anything else (a partial block) would garble the next update. */
	if (ob.pos != total || ZSTD_isError(r) || more.pos != 0 || r != WD_ZSTD_BLOCK_HEADER) {
		t->dec_open = false;
		release_big(t);
		return false;
	}
	const uint8_t *s = t->raw;
	for (int i = 0; i < n; i++) {
		int x = rects[i * 4], y = rects[i * 4 + 1], w = rects[i * 4 + 2], h = rects[i * 4 + 3];
		if (column_major(h)) {
			for (int c = 0; c < w; c++) {
				uint8_t *d = fb + (size_t)y * stride + (size_t)(x + c) * 4;
				for (int r = 0; r < h; r++, d += stride, s += 3) {
					d[0] = s[0];
					d[1] = s[1];
					d[2] = s[2];
					d[3] = 0xff;
				}
			}
		} else {
			for (int r = 0; r < h; r++) {
				uint8_t *d = fb + (size_t)(y + r) * stride + (size_t)x * 4;
				for (int c = 0; c < w; c++, d += 4, s += 3) {
					d[0] = s[0];
					d[1] = s[1];
					d[2] = s[2];
					d[3] = 0xff;
				}
			}
		}
	}
	release_big(t);
	return true;
}
