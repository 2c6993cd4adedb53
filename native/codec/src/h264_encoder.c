#define _POSIX_C_SOURCE 200809L
/* The H.264 encoder (libavcodec: libx264, or h264_vaapi where a VA driver works): the server's
 * side only, so the terminal's addon does not link libavcodec. */
#include <libavcodec/avcodec.h>
#include <libavutil/hwcontext.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libyuv.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "util.h"

static void averr(char *err, size_t errlen, const char *what, int code) {
	char buf[128];
	av_strerror(code, buf, sizeof(buf));
	fail(err, errlen, "%s: %s", what, buf);
}

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
