/*
 * The streaming codec: H.264 encoding through libavcodec (libx264, or h264_vaapi where a VA
 * driver works; h264_encoder.c, the server's addon), decoding through openh264
 * (h264_decoder.c), BGRX<->I420 through libyuv, and lossless zstd tiles (tiles.c). Pure C API;
 * the N-API layers (encoder_addon.cc, addon.cc) only convert arguments.
 *
 * Pixels are BGRX/BGRA in memory (libyuv calls that "ARGB"), stride width*4.
 * Rectangles are x, y, width, height int32 quadruples.
 */
#ifndef WAYDESK_CODEC_H
#define WAYDESK_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct wd_encoder wd_encoder;
typedef struct wd_decoder wd_decoder;
typedef struct wd_tiler wd_tiler;

typedef struct {
	int width, height;
	/* Largest picture (from protocol/src/limits.ts via the wrapper). */
	int max_width, max_height;
	int fps;
	int crf;          /* quality for x264's rate control (lower = better) */
	int max_kbps;     /* VBV cap: a burst never exceeds this rate */
	bool intra_refresh; /* spread intra blocks over frames instead of periodic keyframes */
	const char *preset; /* "ultrafast" or "superfast" */
	const char *vaapi_device; /* NULL or "": x264; else a render node to try h264_vaapi on */
} wd_enc_config;

wd_encoder *wd_encoder_create(const wd_enc_config *cfg, char *err, size_t errlen);
void wd_encoder_destroy(wd_encoder *e);
const char *wd_encoder_name(wd_encoder *e);
/* Converts the rectangles of `frame` (a whole BGRX picture) into the encoder's I420 picture,
 * then encodes one frame. On success *out points to an Annex B access unit owned by the
 * encoder until the next call. `at_us` is when the picture was made (any monotonic clock, µs), so
 * that the rate cap holds at whatever rate pictures come; below 0 (unknown, or the picture was
 * held back by the network) the gap before it is not counted. */
bool wd_encoder_encode(wd_encoder *e, const uint8_t *frame, size_t stride, const int32_t *rects, int nrects,
	bool keyframe, int64_t at_us, const uint8_t **out, size_t *out_len, bool *is_keyframe, char *err, size_t errlen);

wd_decoder *wd_decoder_create(char *err, size_t errlen);
void wd_decoder_destroy(wd_decoder *d);
/* Decodes one access unit and writes the rectangles (all of the picture if nrects is 0)
 * into dst (BGRX, dst_w x dst_h). */
bool wd_decoder_decode(wd_decoder *d, const uint8_t *pkt, size_t len, uint8_t *dst, int dst_w, int dst_h,
	const int32_t *box, const int32_t *rects, int nrects, char *err, size_t errlen);

/* Lossless updates: the BGR bytes of every rectangle (no X byte), concatenated, through one
 * zstd stream per link that is flushed after each update. A rectangle at most 64 rows high
 * goes column by column, a taller one row by row. Output: a byte (1 when the stream starts
 * over with this update, 0 when it continues), then the stream's bytes for this update. */
/* window_log: the zstd window of the tile stream (protocol/src/frame-format.ts, TILE_WINDOW_LOG). */
wd_tiler *wd_tiler_create(int window_log);
void wd_tiler_destroy(wd_tiler *t);
/* Shrinks each rectangle to the pixels that differ between cur and prev and drops those
 * with none; returns how many remain (rects is rewritten in place). */
int wd_tiles_shrink(const uint8_t *cur, const uint8_t *prev, size_t stride, int32_t *rects, int nrects);
/* restart: begin a new stream (the receiver has nothing). Returns bytes written, 0 on error. */
size_t wd_tiles_encode(wd_tiler *t, const uint8_t *cur, size_t stride, const int32_t *rects, int nrects, bool restart,
	uint8_t *out, size_t cap);
size_t wd_tiles_bound(size_t pixels);
/* Applies an update to fb (stride width*4); false if corrupt, not matching the rectangles, or
 * continuing a stream this side never saw start. */
bool wd_tiles_decode(wd_tiler *t, const uint8_t *in, size_t len, uint8_t *fb, size_t stride, const int32_t *rects, int nrects);
/* An update was refused before it reached the decoder: the stream can no longer continue. */
void wd_tiles_lost(wd_tiler *t);

#ifdef __cplusplus
}
#endif
#endif
