#define _POSIX_C_SOURCE 200809L
/* The terminal's H.264 decoder: Cisco's openh264 (Debian's libopenh264, about 1 MB), which
 * decodes what the server sends (constrained baseline from x264; main/high from VAAPI) and
 * fits a netboot image, where libavcodec and its dependencies would not. */
#include <libyuv.h>
#include <stdlib.h>
#include <string.h>
#include <wels/codec_api.h>

#include "codec.h"
#include "util.h"

struct wd_decoder {
	ISVCDecoder *dec;
};

wd_decoder *wd_decoder_create(char *err, size_t errlen) {
	wd_decoder *d = calloc(1, sizeof(*d));
	if (!d) {
		fail(err, errlen, "out of memory");
		return NULL;
	}
	if (WelsCreateDecoder(&d->dec) != 0 || !d->dec) {
		fail(err, errlen, "openh264 could not make a decoder");
		free(d);
		return NULL;
	}
	int quiet = WELS_LOG_QUIET;
	(*d->dec)->SetOption(d->dec, DECODER_OPTION_TRACE_LEVEL, &quiet);
	SDecodingParam p;
	memset(&p, 0, sizeof(p));
	p.sVideoProperty.eVideoBsType = VIDEO_BITSTREAM_AVC;
	/* A damaged picture must fail (the terminal asks for a keyframe), not be patched over and
	 * shown as if it were right. */
	p.eEcActiveIdc = ERROR_CON_DISABLE;
	if ((*d->dec)->Initialize(d->dec, &p) != 0) {
		fail(err, errlen, "openh264 refused its parameters");
		WelsDestroyDecoder(d->dec);
		free(d);
		return NULL;
	}
	return d;
}

void wd_decoder_destroy(wd_decoder *d) {
	if (!d) return;
	(*d->dec)->Uninitialize(d->dec);
	WelsDestroyDecoder(d->dec);
	free(d);
}

/* ---- the picture size a sequence parameter set announces, read before the decoder sees it:
 * openh264 allocates for whatever size and reference count a stream asks (up to level 5.2's
 * 9 Mpixels × 16 frames), and a terminal has 512 MB. */

typedef struct {
	uint8_t b[64]; /* the SPS without emulation-prevention bytes: its size fields come early */
	size_t n, bit;
	bool bad;
} bits;

static unsigned u(bits *r, int n) {
	unsigned v = 0;
	while (n--) {
		if (r->bit >= r->n * 8) {
			r->bad = true;
			return 0;
		}
		v = (v << 1) | ((r->b[r->bit / 8] >> (7 - r->bit % 8)) & 1);
		r->bit++;
	}
	return v;
}

static unsigned ue(bits *r) {
	int zeros = 0;
	while (!r->bad && u(r, 1) == 0)
		if (++zeros > 31) r->bad = true;
	if (r->bad) return 0;
	return (1u << zeros) - 1 + u(r, zeros);
}

static void skip_scaling_list(bits *r, int size) {
	int last = 8, next = 8;
	for (int j = 0; j < size && !r->bad; j++) {
		if (next != 0) {
			unsigned k = ue(r);
			int delta = (k & 1) ? (int)((k + 1) / 2) : -(int)(k / 2);
			next = (last + delta + 256) % 256;
		}
		last = next == 0 ? last : next;
	}
}

/* Width and height in pixels (before cropping) and the reference frames an SPS asks for;
 * false if it cannot be read. */
static bool sps_size(const uint8_t *nal, size_t len, unsigned *w, unsigned *h, unsigned *refs) {
	bits r = {.n = 0, .bit = 0, .bad = false};
	for (size_t i = 1, zeros = 0; i < len && r.n < sizeof(r.b); i++) {
		if (zeros >= 2 && nal[i] == 3) {
			zeros = 0;
			continue;
		}
		zeros = nal[i] == 0 ? zeros + 1 : 0;
		r.b[r.n++] = nal[i];
	}
	unsigned profile = u(&r, 8);
	u(&r, 16); /* constraint flags, level */
	ue(&r);    /* seq_parameter_set_id */
	if (profile == 100 || profile == 110 || profile == 122 || profile == 244 || profile == 44 || profile == 83 ||
		profile == 86 || profile == 118 || profile == 128 || profile == 138 || profile == 139 || profile == 134 || profile == 135) {
		unsigned chroma = ue(&r);
		if (chroma == 3) u(&r, 1);
		ue(&r);
		ue(&r); /* bit depths */
		u(&r, 1);
		if (u(&r, 1)) /* seq_scaling_matrix_present_flag */
			for (int i = 0; i < (chroma != 3 ? 8 : 12) && !r.bad; i++)
				if (u(&r, 1)) skip_scaling_list(&r, i < 6 ? 16 : 64);
	}
	ue(&r); /* log2_max_frame_num_minus4 */
	unsigned poc = ue(&r);
	if (poc == 0) {
		ue(&r);
	} else if (poc == 1) {
		u(&r, 1);
		ue(&r);
		ue(&r);
		unsigned cycle = ue(&r);
		if (cycle > 255) return false;
		for (unsigned i = 0; i < cycle && !r.bad; i++) ue(&r);
	}
	*refs = ue(&r);
	u(&r, 1);
	unsigned mbw = ue(&r) + 1, map_h = ue(&r) + 1;
	unsigned frame_mbs_only = u(&r, 1);
	if (r.bad || mbw > 1024 || map_h > 1024) return false;
	*w = mbw * 16;
	*h = map_h * (frame_mbs_only ? 1 : 2) * 16;
	return true;
}

/* Every SPS in the access unit fits the box (rounded up to whole macroblocks) and asks for at
 * most 4 reference frames (the server's encoders use 1). */
static bool sps_fit(const uint8_t *p, size_t len, int bw, int bh, char *err, size_t errlen) {
	for (size_t i = 0; i + 3 < len; i++) {
		if (p[i] != 0 || p[i + 1] != 0 || p[i + 2] != 1) continue;
		size_t s = i + 3;
		/* subset SPS (15) too: openh264 sizes its pictures from either */
		unsigned type = p[s] & 0x1f;
		if (type != 7 && type != 15) continue;
		unsigned w = 0, h = 0, refs = 0;
		if (!sps_size(p + s, len - s, &w, &h, &refs)) {
			fail(err, errlen, "a sequence parameter set that cannot be read");
			return false;
		}
		if (w > (unsigned)((bw + 15) & ~15) || h > (unsigned)((bh + 15) & ~15) || refs > 4) {
			fail(err, errlen, "the stream announces %ux%u pictures with %u references for a %dx%d box", w, h, refs, bw, bh);
			return false;
		}
	}
	return true;
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
	if (len == 0 || len > 64 * 1024 * 1024) {
		fail(err, errlen, "packet of %zu bytes is not a plausible H.264 access unit", len);
		return false;
	}
	if (!sps_fit(data, len, bw, bh, err, errlen)) return false;
	uint8_t *planes[3] = {NULL, NULL, NULL};
	SBufferInfo info;
	memset(&info, 0, sizeof(info));
	DECODING_STATE st = (*d->dec)->DecodeFrameNoDelay(d->dec, data, (int)len, planes, &info);
	if (st != dsErrorFree) {
		fail(err, errlen, "openh264 could not decode the access unit (state 0x%x)", (unsigned)st);
		return false;
	}
	if (info.iBufferStatus != 1 || !planes[0] || !planes[1] || !planes[2]) {
		fail(err, errlen, "the decoder produced no picture");
		return false;
	}
	int fw = info.UsrData.sSystemBuffer.iWidth, fh = info.UsrData.sSystemBuffer.iHeight;
	int ys = info.UsrData.sSystemBuffer.iStride[0], cs = info.UsrData.sSystemBuffer.iStride[1];
	if (fw > bw || fh > bh || fw < bw - 1 || fh < bh - 1) {
		fail(err, errlen, "decoded picture %dx%d does not match its %dx%d box", fw, fh, bw, bh);
		return false;
	}
	/* What of the picture lies on the screen (a box may end one pixel past an odd edge). */
	int w = fw < dst_w - bx ? fw : dst_w - bx;
	int h = fh < dst_h - by ? fh : dst_h - by;
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
		I420ToARGB(planes[0] + (size_t)y * ys + x, ys, planes[1] + (size_t)(y / 2) * cs + x / 2, cs,
			planes[2] + (size_t)(y / 2) * cs + x / 2, cs, dst + (size_t)(y + by) * stride + (size_t)(x + bx) * 4, (int)stride, rw, rh);
	}
	return true;
}
