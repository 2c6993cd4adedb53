#define _POSIX_C_SOURCE 200809L
#include <libavcodec/avcodec.h>
#include <libavutil/hwcontext.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libyuv.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "codec.h"

static void fail(char *err, size_t errlen, const char *fmt, ...) {
	if (!err || !errlen) return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static void averr(char *err, size_t errlen, const char *what, int code) {
	char buf[128];
	av_strerror(code, buf, sizeof(buf));
	fail(err, errlen, "%s: %s", what, buf);
}

/* Rectangles for 4:2:0 must start and end on even coordinates. */
static void align_even(int32_t *x, int32_t *y, int32_t *w, int32_t *h, int fw, int fh) {
	int x1 = *x & ~1, y1 = *y & ~1;
	int x2 = (*x + *w + 1) & ~1, y2 = (*y + *h + 1) & ~1;
	if (x2 > fw) x2 = fw;
	if (y2 > fh) y2 = fh;
	*x = x1;
	*y = y1;
	*w = x2 - x1;
	*h = y2 - y1;
}

/* ---------- encoder ---------- */

struct wd_encoder {
	AVCodecContext *ctx;
	AVFrame *frame;    /* I420 in system memory, updated only inside damage */
	AVFrame *hwframe;  /* VAAPI surface, when encoding on the GPU */
	AVBufferRef *hwdev;
	AVPacket *pkt;
	int width, height; /* the picture's size; the coded size is rounded up to even */
	int64_t pts;
	/* The rate cap and the rate it is spread over (see spread_cap). */
	int64_t cap_bps;
	int fps;
	int64_t last_at_us;
	double interval_us; /* smoothed time between pictures */
	double applied_us;  /* the interval the current VBV settings assume */
	char name[32];
};

/* What both encoders share: even coded size, frame rate, no B-frames, no lookahead. */
static AVCodecContext *alloc_ctx(wd_encoder *e, const AVCodec *codec, const wd_enc_config *cfg, enum AVPixelFormat fmt) {
	AVCodecContext *c = avcodec_alloc_context3(codec);
	if (!c) return NULL;
	int fps = cfg->fps > 0 ? cfg->fps : 60;
	c->width = (e->width + 1) & ~1;
	c->height = (e->height + 1) & ~1;
	c->time_base = (AVRational){1, fps};
	c->framerate = (AVRational){fps, 1};
	e->fps = fps;
	e->interval_us = e->applied_us = 1e6 / fps;
	e->last_at_us = -1;
	c->pix_fmt = fmt;
	c->max_b_frames = 0;
	c->gop_size = cfg->intra_refresh ? fps : 100000; /* keyframes on request only */
	c->flags |= AV_CODEC_FLAG_LOW_DELAY;
	e->ctx = c;
	return c;
}

/* The VBV cap for pictures that come `interval_us` apart, with two pictures' worth of buffer: a
 * burst is spread, never queued. */
static void set_vbv(wd_encoder *e, AVCodecContext *c, double interval_us) {
	double per_frame = (double)e->cap_bps * interval_us / 1e6;
	double rate = per_frame * e->fps, buf = per_frame * 2;
	c->rc_max_rate = (int64_t)(rate < (double)INT32_MAX * 1000 ? rate : (double)INT32_MAX * 1000);
	c->rc_buffer_size = buf < INT32_MAX ? (int)buf : INT32_MAX;
	e->applied_us = interval_us;
}

/* zerolatency makes x264 take every picture as 1/fps after the previous one, so its cap is a cap
 * per picture: video at 30 fps on a 60 Hz output got half the rate. Its variable-frame-rate mode
 * would take real timestamps but holds a picture back to learn its duration. So the cap is
 * rescaled to the rate pictures really come at (libavcodec hands the change to
 * x264_encoder_reconfig on the next picture). Only gaps of up to three frame periods count (24
 * and 30 fps video on a 60 Hz output): a longer one is a pause, and the first frames after it
 * must not be bigger for it. Pictures held back by the network come with at_us < 0: their gaps
 * are the network's pace, and counting them would let frames grow as the link slows. */
static void spread_cap(wd_encoder *e, int64_t at_us) {
	if (at_us < 0) {
		e->last_at_us = -1;
		return;
	}
	double lo = 1e6 / e->fps;
	if (e->last_at_us >= 0 && at_us > e->last_at_us && (double)(at_us - e->last_at_us) <= 3 * lo) {
		double d = (double)(at_us - e->last_at_us);
		e->interval_us += ((d < lo ? lo : d) - e->interval_us) / 8;
		double r = e->interval_us / e->applied_us;
		if (r > 1.1 || r < 0.9) set_vbv(e, e->ctx, e->interval_us);
	}
	e->last_at_us = at_us;
}

static bool open_x264(wd_encoder *e, const wd_enc_config *cfg, char *err, size_t errlen) {
	const AVCodec *codec = avcodec_find_encoder_by_name("libx264");
	if (!codec) {
		fail(err, errlen, "libavcodec has no libx264 encoder (install libavcodec with x264 support)");
		return false;
	}
	AVCodecContext *c = alloc_ctx(e, codec, cfg, AV_PIX_FMT_YUV420P);
	if (!c) {
		fail(err, errlen, "out of memory");
		return false;
	}
	c->thread_count = 1;
	c->profile = FF_PROFILE_H264_CONSTRAINED_BASELINE;
	av_opt_set(c->priv_data, "preset", cfg->preset && cfg->preset[0] ? cfg->preset : "ultrafast", 0);
	av_opt_set(c->priv_data, "tune", "zerolatency", 0);
	av_opt_set(c->priv_data, "profile", "baseline", 0);
	av_opt_set_int(c->priv_data, "forced-idr", 1, 0);
	av_opt_set_double(c->priv_data, "crf", cfg->crf > 0 ? cfg->crf : 23, 0);
	if (cfg->max_kbps > 0) {
		e->cap_bps = (int64_t)cfg->max_kbps * 1000;
		set_vbv(e, c, e->applied_us);
	}
	if (cfg->intra_refresh) av_opt_set_int(c->priv_data, "intra-refresh", 1, 0);
	int r = avcodec_open2(c, codec, NULL);
	if (r < 0) {
		averr(err, errlen, "opening libx264", r);
		return false;
	}
	e->frame = av_frame_alloc();
	e->frame->format = AV_PIX_FMT_YUV420P;
	e->frame->width = c->width;
	e->frame->height = c->height;
	if (av_frame_get_buffer(e->frame, 32) < 0) {
		fail(err, errlen, "out of memory for the I420 picture");
		return false;
	}
	/* Start black, so that the first (keyframe) encode of a partial update is still sane. */
	memset(e->frame->data[0], 16, (size_t)e->frame->linesize[0] * c->height);
	memset(e->frame->data[1], 128, (size_t)e->frame->linesize[1] * (c->height / 2));
	memset(e->frame->data[2], 128, (size_t)e->frame->linesize[2] * (c->height / 2));
	snprintf(e->name, sizeof(e->name), "libx264");
	return true;
}

static bool open_vaapi(wd_encoder *e, const wd_enc_config *cfg, char *err, size_t errlen) {
	const AVCodec *codec = avcodec_find_encoder_by_name("h264_vaapi");
	if (!codec) {
		fail(err, errlen, "libavcodec was built without h264_vaapi");
		return false;
	}
	int r = av_hwdevice_ctx_create(&e->hwdev, AV_HWDEVICE_TYPE_VAAPI, cfg->vaapi_device, NULL, 0);
	if (r < 0) {
		averr(err, errlen, "no VAAPI device", r);
		return false;
	}
	AVCodecContext *c = alloc_ctx(e, codec, cfg, AV_PIX_FMT_VAAPI);
	if (!c) {
		fail(err, errlen, "out of memory");
		return false;
	}
	if (cfg->max_kbps > 0) {
		c->rc_max_rate = (int64_t)cfg->max_kbps * 1000;
		c->bit_rate = c->rc_max_rate;
	}
	AVBufferRef *frames = av_hwframe_ctx_alloc(e->hwdev);
	AVHWFramesContext *fc = (AVHWFramesContext *)frames->data;
	fc->format = AV_PIX_FMT_VAAPI;
	fc->sw_format = AV_PIX_FMT_NV12;
	fc->width = c->width;
	fc->height = c->height;
	fc->initial_pool_size = 4;
	if ((r = av_hwframe_ctx_init(frames)) < 0) {
		av_buffer_unref(&frames);
		averr(err, errlen, "VAAPI surfaces", r);
		return false;
	}
	c->hw_frames_ctx = av_buffer_ref(frames);
	av_buffer_unref(&frames);
	/* One frame in, one packet out: no encoder-side queue. */
	av_opt_set_int(c->priv_data, "async_depth", 1, 0);
	if ((r = avcodec_open2(c, codec, NULL)) < 0) {
		averr(err, errlen, "opening h264_vaapi", r);
		return false;
	}
	e->frame = av_frame_alloc();
	if (!e->frame) return false;
	e->frame->format = AV_PIX_FMT_NV12;
	e->frame->width = c->width;
	e->frame->height = c->height;
	if (av_frame_get_buffer(e->frame, 32) < 0) return false;
	memset(e->frame->data[0], 16, (size_t)e->frame->linesize[0] * c->height);
	memset(e->frame->data[1], 128, (size_t)e->frame->linesize[1] * (c->height / 2));
	e->hwframe = av_frame_alloc();
	snprintf(e->name, sizeof(e->name), "h264_vaapi");
	return true;
}

void wd_encoder_destroy(wd_encoder *e) {
	if (!e) return;
	avcodec_free_context(&e->ctx);
	av_frame_free(&e->frame);
	av_frame_free(&e->hwframe);
	av_packet_free(&e->pkt);
	av_buffer_unref(&e->hwdev);
	free(e);
	/* x264 frees tens of MB that glibc would keep in the heap (its mmap threshold rises after
	 * the first big free): an idle session should not hold its last video's memory. */
#ifdef __GLIBC__
	malloc_trim(0);
#endif
}

wd_encoder *wd_encoder_create(const wd_enc_config *cfg, char *err, size_t errlen) {
	if (cfg->width < 16 || cfg->height < 16 || cfg->width > cfg->max_width || cfg->height > cfg->max_height) {
		fail(err, errlen, "encoder size %dx%d outside 16x16..%dx%d", cfg->width, cfg->height, cfg->max_width, cfg->max_height);
		return NULL;
	}
	wd_encoder *e = calloc(1, sizeof(*e));
	if (!e) return NULL;
	e->width = cfg->width;
	e->height = cfg->height;
	e->pkt = av_packet_alloc();
	av_log_set_level(AV_LOG_ERROR);
	bool ok = cfg->vaapi_device && cfg->vaapi_device[0] ? open_vaapi(e, cfg, err, errlen) : open_x264(e, cfg, err, errlen);
	if (!ok) {
		wd_encoder_destroy(e);
		return NULL;
	}
	return e;
}

const char *wd_encoder_name(wd_encoder *e) {
	return e->name;
}

bool wd_encoder_encode(wd_encoder *e, const uint8_t *src, size_t stride, const int32_t *rects, int nrects, bool keyframe,
	int64_t at_us, const uint8_t **out, size_t *out_len, bool *is_keyframe, char *err, size_t errlen) {
	AVFrame *f = e->frame;
	int r = av_frame_make_writable(f);
	if (r < 0) {
		averr(err, errlen, "encoder picture", r);
		return false;
	}
	int32_t all[4] = {0, 0, e->width, e->height};
	if (nrects == 0) {
		rects = all;
		nrects = 1;
	}
	for (int i = 0; i < nrects; i++) {
		int32_t x = rects[i * 4], y = rects[i * 4 + 1], w = rects[i * 4 + 2], h = rects[i * 4 + 3];
		if (x < 0 || y < 0 || w <= 0 || h <= 0 || (int64_t)x + w > e->width || (int64_t)y + h > e->height) {
			fail(err, errlen, "rectangle %d,%d %dx%d outside the %dx%d picture", x, y, w, h, e->width, e->height);
			return false;
		}
		align_even(&x, &y, &w, &h, e->width, e->height);
		const uint8_t *s = src + (size_t)y * stride + (size_t)x * 4;
		if (f->format == AV_PIX_FMT_NV12) {
			ARGBToNV12(s, (int)stride, f->data[0] + (size_t)y * f->linesize[0] + x, f->linesize[0],
				f->data[1] + (size_t)(y / 2) * f->linesize[1] + x, f->linesize[1], w, h);
		} else {
			ARGBToI420(s, (int)stride, f->data[0] + (size_t)y * f->linesize[0] + x, f->linesize[0],
				f->data[1] + (size_t)(y / 2) * f->linesize[1] + x / 2, f->linesize[1],
				f->data[2] + (size_t)(y / 2) * f->linesize[2] + x / 2, f->linesize[2], w, h);
		}
	}
	if (e->cap_bps > 0) spread_cap(e, at_us);
	f->pts = e->pts++;
	f->pict_type = keyframe ? AV_PICTURE_TYPE_I : AV_PICTURE_TYPE_NONE;
	f->key_frame = keyframe;
	AVFrame *send = f;
	if (e->hwdev) {
		av_frame_unref(e->hwframe);
		if ((r = av_hwframe_get_buffer(e->ctx->hw_frames_ctx, e->hwframe, 0)) < 0 ||
			(r = av_hwframe_transfer_data(e->hwframe, f, 0)) < 0) {
			averr(err, errlen, "uploading to the GPU", r);
			return false;
		}
		e->hwframe->pts = f->pts;
		e->hwframe->pict_type = f->pict_type;
		send = e->hwframe;
	}
	if ((r = avcodec_send_frame(e->ctx, send)) < 0) {
		averr(err, errlen, "encoding", r);
		return false;
	}
	av_packet_unref(e->pkt);
	r = avcodec_receive_packet(e->ctx, e->pkt);
	if (r < 0) {
		/* zerolatency with no B-frames emits one packet per frame; anything else is a bug */
		averr(err, errlen, "the encoder held a frame back", r);
		return false;
	}
	*out = e->pkt->data;
	*out_len = (size_t)e->pkt->size;
	*is_keyframe = (e->pkt->flags & AV_PKT_FLAG_KEY) != 0;
	return true;
}

/* ---------- decoder ---------- */

struct wd_decoder {
	AVCodecContext *ctx;
	AVFrame *frame;
	AVPacket *pkt;
};

wd_decoder *wd_decoder_create(char *err, size_t errlen) {
	const AVCodec *codec = avcodec_find_decoder(AV_CODEC_ID_H264);
	if (!codec) {
		fail(err, errlen, "libavcodec has no H.264 decoder");
		return NULL;
	}
	wd_decoder *d = calloc(1, sizeof(*d));
	if (!d) return NULL;
	av_log_set_level(AV_LOG_ERROR);
	d->ctx = avcodec_alloc_context3(codec);
	d->ctx->thread_count = 1;
	d->ctx->flags |= AV_CODEC_FLAG_LOW_DELAY;
	int r = avcodec_open2(d->ctx, codec, NULL);
	if (r < 0) {
		averr(err, errlen, "opening the H.264 decoder", r);
		wd_decoder_destroy(d);
		return NULL;
	}
	d->frame = av_frame_alloc();
	d->pkt = av_packet_alloc();
	return d;
}

void wd_decoder_destroy(wd_decoder *d) {
	if (!d) return;
	avcodec_free_context(&d->ctx);
	av_frame_free(&d->frame);
	av_packet_free(&d->pkt);
	free(d);
}

bool wd_decoder_decode(wd_decoder *d, const uint8_t *data, size_t len, uint8_t *dst, int dst_w, int dst_h,
	const int32_t *box, const int32_t *rects, int nrects, char *err, size_t errlen) {
	/* The decoded picture covers `box` of dst (x, y, width, height; NULL: all of dst). */
	int32_t whole[4] = {0, 0, dst_w, dst_h};
	if (!box) box = whole;
	int bx = box[0], by = box[1], bw = box[2], bh = box[3];
	if (bx < 0 || by < 0 || bw < 2 || bh < 2 || (bx & 1) || (by & 1) || bx >= dst_w || by >= dst_h ||
		(int64_t)bx + bw > (int64_t)dst_w + 1 || (int64_t)by + bh > (int64_t)dst_h + 1) {
		fail(err, errlen, "video box %dx%d at %d,%d does not fit the %dx%d screen", bw, bh, bx, by, dst_w, dst_h);
		return false;
	}
	av_packet_unref(d->pkt);
	if (len == 0 || len > 64 * 1024 * 1024) {
		fail(err, errlen, "packet of %zu bytes is not a plausible H.264 access unit", len);
		return false;
	}
	/* A hostile stream may announce a huge picture: never decode much more than the screen.
	 * libavcodec counts the buffer's width rounded up to its stride alignment (800 -> 832),
	 * so an exact bound refused pictures whose width is not a multiple of 64. */
	d->ctx->max_pixels = (int64_t)((bw + 127) & ~127) * ((bh + 127) & ~127);
	if (av_new_packet(d->pkt, (int)len) < 0) {
		fail(err, errlen, "out of memory");
		return false;
	}
	memcpy(d->pkt->data, data, len);
	int r = avcodec_send_packet(d->ctx, d->pkt);
	if (r < 0) {
		averr(err, errlen, "decoding", r);
		return false;
	}
	av_frame_unref(d->frame);
	r = avcodec_receive_frame(d->ctx, d->frame);
	if (r < 0) {
		averr(err, errlen, "the decoder produced no picture", r);
		return false;
	}
	AVFrame *f = d->frame;
	if (f->width > bw || f->height > bh || f->width < bw - 1 || f->height < bh - 1) {
		fail(err, errlen, "decoded picture %dx%d does not match its %dx%d box", f->width, f->height, bw, bh);
		return false;
	}
	if (f->format != AV_PIX_FMT_YUV420P && f->format != AV_PIX_FMT_YUVJ420P) {
		fail(err, errlen, "unexpected decoded pixel format %d", f->format);
		return false;
	}
	/* What of the picture lies on the screen (a box may end one pixel past an odd edge). */
	int w = f->width < dst_w - bx ? f->width : dst_w - bx;
	int h = f->height < dst_h - by ? f->height : dst_h - by;
	int32_t all[4] = {bx, by, w, h};
	if (nrects == 0) {
		rects = all;
		nrects = 1;
	}
	size_t stride = (size_t)dst_w * 4;
	for (int i = 0; i < nrects; i++) {
		/* Rectangles are in screen coordinates; the picture's own start at the box. */
		int32_t x = rects[i * 4] - bx, y = rects[i * 4 + 1] - by, rw = rects[i * 4 + 2], rh = rects[i * 4 + 3];
		if (x < 0 || y < 0 || rw <= 0 || rh <= 0 || (int64_t)x + rw > w || (int64_t)y + rh > h) {
			fail(err, errlen, "rectangle %d,%d %dx%d outside the decoded %dx%d picture at %d,%d", rects[i * 4], rects[i * 4 + 1], rw, rh, w, h, bx, by);
			return false;
		}
		align_even(&x, &y, &rw, &rh, w, h);
		I420ToARGB(f->data[0] + (size_t)y * f->linesize[0] + x, f->linesize[0],
			f->data[1] + (size_t)(y / 2) * f->linesize[1] + x / 2, f->linesize[1],
			f->data[2] + (size_t)(y / 2) * f->linesize[2] + x / 2, f->linesize[2],
			dst + (size_t)(y + by) * stride + (size_t)(x + bx) * 4, (int)stride, rw, rh);
	}
	return true;
}

/* ---------- lossless tiles ---------- */

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
