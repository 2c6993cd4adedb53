#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <xf86drm.h>
#include <xf86drmMode.h>

#include "drm_output.h"

#define MAX_STALE 32
#define HW_CURSOR 64

typedef struct {
	int32_t x, y, w, h;
} rect;

typedef struct {
	uint32_t handle, fb, pitch;
	size_t size;
	uint8_t *map;
	/* What of the picture changed since this buffer was last filled. */
	rect stale[MAX_STALE];
	int nstale;
	/* Where the software cursor was drawn into it (w 0: nowhere). */
	rect cursor_at;
} buffer;

struct wd_drm {
	int fd;
	uint32_t crtc, connector;
	drmModeModeInfo mode;
	drmModeCrtc *saved;
	wd_drm_info info;
	buffer buf[2];
	int front;
	bool pending;
	int pic_w, pic_h; /* the size of the last picture presented */
	/* the cursor */
	uint8_t *cursor;
	int cw, ch, hot_x, hot_y, px, py;
	bool cursor_moved;
	buffer hw;
	bool hw_ok; /* the driver has a cursor plane and this image fits it */
};

static void fail(char *err, size_t errlen, const char *fmt, ...) {
	if (!err || !errlen) return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static bool make_buffer(int fd, int w, int h, bool fb, buffer *b, char *err, size_t errlen) {
	struct drm_mode_create_dumb c = {.width = (uint32_t)w, .height = (uint32_t)h, .bpp = 32};
	if (drmIoctl(fd, DRM_IOCTL_MODE_CREATE_DUMB, &c) < 0) {
		fail(err, errlen, "cannot make a %dx%d dumb buffer: %s", w, h, strerror(errno));
		return false;
	}
	b->handle = c.handle;
	b->pitch = c.pitch;
	b->size = c.size;
	if (fb && drmModeAddFB(fd, (uint32_t)w, (uint32_t)h, 24, 32, c.pitch, c.handle, &b->fb) < 0) {
		fail(err, errlen, "the driver refuses an XRGB8888 framebuffer: %s", strerror(errno));
		return false;
	}
	struct drm_mode_map_dumb m = {.handle = c.handle};
	if (drmIoctl(fd, DRM_IOCTL_MODE_MAP_DUMB, &m) < 0) {
		fail(err, errlen, "cannot map a dumb buffer: %s", strerror(errno));
		return false;
	}
	b->map = mmap(NULL, c.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)m.offset);
	if (b->map == MAP_FAILED) {
		b->map = NULL;
		fail(err, errlen, "cannot map a dumb buffer: %s", strerror(errno));
		return false;
	}
	memset(b->map, 0, c.size);
	return true;
}

static void free_buffer(int fd, buffer *b) {
	if (b->map) munmap(b->map, b->size);
	if (b->fb) drmModeRmFB(fd, b->fb);
	if (b->handle) {
		struct drm_mode_destroy_dumb dd = {.handle = b->handle};
		drmIoctl(fd, DRM_IOCTL_MODE_DESTROY_DUMB, &dd);
	}
	memset(b, 0, sizeof(*b));
}

static int refresh_mhz(const drmModeModeInfo *m) {
	if (!m->htotal || !m->vtotal) return 60000;
	return (int)(((int64_t)m->clock * 1000000LL) / ((int64_t)m->htotal * m->vtotal));
}

static const char *connector_type(uint32_t t) {
	switch (t) {
	case DRM_MODE_CONNECTOR_VGA: return "VGA";
	case DRM_MODE_CONNECTOR_DVII: return "DVI-I";
	case DRM_MODE_CONNECTOR_DVID: return "DVI-D";
	case DRM_MODE_CONNECTOR_DisplayPort: return "DP";
	case DRM_MODE_CONNECTOR_HDMIA: return "HDMI-A";
	case DRM_MODE_CONNECTOR_eDP: return "eDP";
	case DRM_MODE_CONNECTOR_VIRTUAL: return "Virtual";
	case DRM_MODE_CONNECTOR_LVDS: return "LVDS";
	default: return "Unknown";
	}
}

static bool pick(wd_drm *d, int mode_index, char *err, size_t errlen) {
	drmModeRes *res = drmModeGetResources(d->fd);
	if (!res) {
		fail(err, errlen, "not a modesetting device: %s", strerror(errno));
		return false;
	}
	drmModeConnector *conn = NULL;
	for (int i = 0; i < res->count_connectors && !conn; i++) {
		drmModeConnector *c = drmModeGetConnector(d->fd, res->connectors[i]);
		if (c && c->connection == DRM_MODE_CONNECTED && c->count_modes > 0) conn = c;
		else if (c) drmModeFreeConnector(c);
	}
	if (!conn) {
		drmModeFreeResources(res);
		fail(err, errlen, "no monitor connected");
		return false;
	}
	wd_drm_info *in = &d->info;
	snprintf(in->connector, sizeof(in->connector), "%s-%u", connector_type(conn->connector_type), conn->connector_type_id);
	in->mm_width = (int)conn->mmWidth;
	in->mm_height = (int)conn->mmHeight;
	int chosen = -1;
	for (int i = 0; i < conn->count_modes; i++) {
		drmModeModeInfo *m = &conn->modes[i];
		if (i < WD_DRM_MAX_MODES) {
			in->modes[i] = (wd_drm_mode){.width = m->hdisplay, .height = m->vdisplay, .refresh_mhz = refresh_mhz(m),
				.preferred = (m->type & DRM_MODE_TYPE_PREFERRED) != 0};
			in->nmodes = i + 1;
		}
		if (chosen < 0 && (m->type & DRM_MODE_TYPE_PREFERRED)) chosen = i;
	}
	if (mode_index >= 0 && mode_index < conn->count_modes) chosen = mode_index;
	if (chosen < 0) chosen = 0;
	d->mode = conn->modes[chosen];
	in->width = d->mode.hdisplay;
	in->height = d->mode.vdisplay;
	in->refresh_mhz = refresh_mhz(&d->mode);
	d->connector = conn->connector_id;
	/* the CRTC: the one driving it now, else the first its encoders can use */
	uint32_t crtc = 0;
	drmModeEncoder *enc = conn->encoder_id ? drmModeGetEncoder(d->fd, conn->encoder_id) : NULL;
	if (enc && enc->crtc_id) crtc = enc->crtc_id;
	if (enc) drmModeFreeEncoder(enc);
	for (int e = 0; e < conn->count_encoders && !crtc; e++) {
		enc = drmModeGetEncoder(d->fd, conn->encoders[e]);
		if (!enc) continue;
		for (int c = 0; c < res->count_crtcs && !crtc; c++)
			if (enc->possible_crtcs & (1u << c)) crtc = res->crtcs[c];
		drmModeFreeEncoder(enc);
	}
	drmModeFreeConnector(conn);
	drmModeFreeResources(res);
	if (!crtc) {
		fail(err, errlen, "no display controller can drive %s", in->connector);
		return false;
	}
	d->crtc = crtc;
	return true;
}

static bool set_mode(wd_drm *d, char *err, size_t errlen) {
	if (drmModeSetCrtc(d->fd, d->crtc, d->buf[d->front].fb, 0, 0, &d->connector, 1, &d->mode) < 0) {
		fail(err, errlen, "cannot set %dx%d on %s: %s", d->info.width, d->info.height, d->info.connector, strerror(errno));
		return false;
	}
	return true;
}

wd_drm *wd_drm_open(int fd, int mode_index, char *err, size_t errlen) {
	wd_drm *d = calloc(1, sizeof(*d));
	if (!d) return NULL;
	d->fd = fd;
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	drmVersion *v = drmGetVersion(d->fd);
	if (v) {
		snprintf(d->info.driver, sizeof(d->info.driver), "%s", v->name);
		drmFreeVersion(v);
	}
	uint64_t dumb = 0;
	if (drmGetCap(d->fd, DRM_CAP_DUMB_BUFFER, &dumb) < 0 || !dumb) {
		fail(err, errlen, "the %s device has no dumb buffers", d->info.driver);
		goto bad;
	}
	if (!pick(d, mode_index, err, errlen)) goto bad;
	d->saved = drmModeGetCrtc(d->fd, d->crtc);
	for (int i = 0; i < 2; i++)
		if (!make_buffer(d->fd, d->info.width, d->info.height, true, &d->buf[i], err, errlen)) goto bad;
	if (!set_mode(d, err, errlen)) goto bad;
	/* A cursor plane, if the driver has one: a transparent image it must take. */
	if (make_buffer(d->fd, HW_CURSOR, HW_CURSOR, false, &d->hw, NULL, 0) &&
		drmModeSetCursor2(d->fd, d->crtc, d->hw.handle, HW_CURSOR, HW_CURSOR, 0, 0) == 0) {
		d->info.hw_cursor = true;
		drmModeSetCursor(d->fd, d->crtc, 0, 0, 0);
	} else {
		free_buffer(d->fd, &d->hw);
	}
	return d;
bad:
	wd_drm_close(d);
	return NULL;
}

void wd_drm_close(wd_drm *d) {
	if (!d) return;
	if (d->info.hw_cursor) drmModeSetCursor(d->fd, d->crtc, 0, 0, 0);
	if (d->saved) {
		/* give the screen back as it was (a console, on a machine that is not only a terminal) */
		drmModeSetCrtc(d->fd, d->saved->crtc_id, d->saved->buffer_id, d->saved->x, d->saved->y, &d->connector, 1, &d->saved->mode);
		drmModeFreeCrtc(d->saved);
	}
	for (int i = 0; i < 2; i++) free_buffer(d->fd, &d->buf[i]);
	free_buffer(d->fd, &d->hw);
	free(d->cursor);
	free(d);
}

const wd_drm_info *wd_drm_get_info(wd_drm *d) {
	return &d->info;
}

int wd_drm_fd(wd_drm *d) {
	return d->fd;
}

bool wd_drm_flip_pending(wd_drm *d) {
	return d->pending;
}

/* In 64 bits: present() takes any rectangle, and x + w must not wrap into the screen. */
static bool clip(rect *r, int w, int h) {
	int64_t x1 = r->x, y1 = r->y, x2 = x1 + r->w, y2 = y1 + r->h;
	if (x1 < 0) x1 = 0;
	if (y1 < 0) y1 = 0;
	if (x2 > w) x2 = w;
	if (y2 > h) y2 = h;
	if (x2 <= x1 || y2 <= y1) return false;
	*r = (rect){(int)x1, (int)y1, (int)(x2 - x1), (int)(y2 - y1)};
	return true;
}

static void add_stale(buffer *b, rect r) {
	if (b->nstale < MAX_STALE) {
		b->stale[b->nstale++] = r;
		return;
	}
	/* too many to track: their bounding box */
	rect *u = &b->stale[0];
	for (int i = 1; i < b->nstale; i++) {
		rect *s = &b->stale[i];
		int x1 = s->x < u->x ? s->x : u->x, y1 = s->y < u->y ? s->y : u->y;
		int x2 = s->x + s->w > u->x + u->w ? s->x + s->w : u->x + u->w;
		int y2 = s->y + s->h > u->y + u->h ? s->y + s->h : u->y + u->h;
		*u = (rect){x1, y1, x2 - x1, y2 - y1};
	}
	int x1 = r.x < u->x ? r.x : u->x, y1 = r.y < u->y ? r.y : u->y;
	int x2 = r.x + r.w > u->x + u->w ? r.x + r.w : u->x + u->w;
	int y2 = r.y + r.h > u->y + u->h ? r.y + r.h : u->y + u->h;
	*u = (rect){x1, y1, x2 - x1, y2 - y1};
	b->nstale = 1;
}

static void copy_rect(buffer *b, const uint8_t *pic, int pw, int ph, rect r) {
	for (int y = r.y; y < r.y + r.h; y++) {
		uint8_t *dst = b->map + (size_t)y * b->pitch + (size_t)r.x * 4;
		if (y < ph && r.x < pw) {
			int n = r.x + r.w <= pw ? r.w : pw - r.x;
			memcpy(dst, pic + ((size_t)y * pw + r.x) * 4, (size_t)n * 4);
			if (n < r.w) memset(dst + (size_t)n * 4, 0, (size_t)(r.w - n) * 4);
		} else {
			memset(dst, 0, (size_t)r.w * 4);
		}
	}
}

static bool sw_cursor(wd_drm *d) {
	return d->cursor && !d->hw_ok;
}

static rect cursor_rect(wd_drm *d) {
	int64_t x = (int64_t)d->px - d->hot_x, y = (int64_t)d->py - d->hot_y;
	int64_t W = d->info.width, H = d->info.height;
	if (x >= W || y >= H || x + d->cw <= 0 || y + d->ch <= 0) return (rect){0, 0, 0, 0};
	rect r = {(int)x, (int)y, d->cw, d->ch};
	if (!clip(&r, d->info.width, d->info.height)) r = (rect){0, 0, 0, 0};
	return r;
}

static void draw_cursor(wd_drm *d, buffer *b, rect at) {
	int ox = d->px - d->hot_x, oy = d->py - d->hot_y;
	for (int y = at.y; y < at.y + at.h; y++) {
		const uint8_t *s = d->cursor + ((size_t)(y - oy) * d->cw + (at.x - ox)) * 4;
		uint8_t *p = b->map + (size_t)y * b->pitch + (size_t)at.x * 4;
		for (int x = 0; x < at.w; x++, s += 4, p += 4) {
			unsigned a = s[3];
			if (!a) continue;
			for (int k = 0; k < 3; k++) p[k] = (uint8_t)(s[k] + ((p[k] * (255 - a)) >> 8));
		}
	}
}

bool wd_drm_present(wd_drm *d, const uint8_t *pic, int pw, int ph, const int32_t *rects, int nrects, char *err, size_t errlen) {
	if (d->pending) {
		fail(err, errlen, "a flip is still pending");
		return false;
	}
	int W = d->info.width, H = d->info.height;
	if (pw != d->pic_w || ph != d->pic_h) {
		/* a new size: everything, including what the old picture covered, is new */
		d->pic_w = pw;
		d->pic_h = ph;
		nrects = -1;
	}
	rect all = {0, 0, W, H};
	for (int i = 0; i < (nrects < 0 ? 1 : nrects); i++) {
		rect r = nrects < 0 ? all : (rect){rects[i * 4], rects[i * 4 + 1], rects[i * 4 + 2], rects[i * 4 + 3]};
		if (!clip(&r, W, H)) continue;
		add_stale(&d->buf[0], r);
		add_stale(&d->buf[1], r);
	}
	buffer *b = &d->buf[1 - d->front];
	if (b->cursor_at.w) add_stale(b, b->cursor_at);
	b->cursor_at = (rect){0, 0, 0, 0};
	drmModeClip clips[MAX_STALE + 1];
	int nclips = 0;
	for (int i = 0; i < b->nstale; i++) {
		rect r = b->stale[i];
		copy_rect(b, pic, pw, ph, r);
		clips[nclips++] = (drmModeClip){(uint16_t)r.x, (uint16_t)r.y, (uint16_t)(r.x + r.w), (uint16_t)(r.y + r.h)};
	}
	b->nstale = 0;
	if (sw_cursor(d)) {
		rect at = cursor_rect(d);
		if (at.w) {
			draw_cursor(d, b, at);
			b->cursor_at = at;
			clips[nclips++] = (drmModeClip){(uint16_t)at.x, (uint16_t)at.y, (uint16_t)(at.x + at.w), (uint16_t)(at.y + at.h)};
		}
	}
	d->cursor_moved = false;
	/* virtio-gpu shows nothing it was not told changed; bochs has no such call (ENOSYS) */
	if (nclips) drmModeDirtyFB(d->fd, b->fb, clips, (uint32_t)nclips);
	if (drmModePageFlip(d->fd, d->crtc, b->fb, DRM_MODE_PAGE_FLIP_EVENT, d) < 0) {
		int e = errno;
		/* a driver without flips (or a mode set away from us): show it at once */
		if (drmModeSetCrtc(d->fd, d->crtc, b->fb, 0, 0, &d->connector, 1, &d->mode) < 0) {
			fail(err, errlen, "the driver takes neither a flip (%s) nor a mode set (%s)", strerror(e), strerror(errno));
			return false;
		}
		d->front = 1 - d->front;
		return true;
	}
	d->pending = true;
	return true;
}

static void on_flip(int fd, unsigned seq, unsigned sec, unsigned usec, void *data) {
	wd_drm *d = data;
	d->pending = false;
	d->front = 1 - d->front;
}

int wd_drm_dispatch(wd_drm *d) {
	bool was = d->pending;
	drmEventContext ev = {.version = 2, .page_flip_handler = on_flip};
	if (drmHandleEvent(d->fd, &ev) < 0 && errno != EAGAIN) return -1;
	return was && !d->pending ? 1 : 0;
}

bool wd_drm_set_cursor(wd_drm *d, const uint8_t *argb, int w, int h, int hot_x, int hot_y, char *err, size_t errlen) {
	free(d->cursor);
	d->cursor = NULL;
	d->cursor_moved = true;
	if (!argb || w <= 0 || h <= 0) {
		if (d->info.hw_cursor) drmModeSetCursor(d->fd, d->crtc, 0, 0, 0);
		d->hw_ok = false;
		return true;
	}
	d->cursor = malloc((size_t)w * h * 4);
	if (!d->cursor) {
		fail(err, errlen, "out of memory");
		return false;
	}
	memcpy(d->cursor, argb, (size_t)w * h * 4);
	d->cw = w;
	d->ch = h;
	d->hot_x = hot_x;
	d->hot_y = hot_y;
	d->hw_ok = false;
	if (d->info.hw_cursor && w <= HW_CURSOR && h <= HW_CURSOR) {
		memset(d->hw.map, 0, d->hw.size);
		for (int y = 0; y < h; y++) memcpy(d->hw.map + (size_t)y * d->hw.pitch, argb + (size_t)y * w * 4, (size_t)w * 4);
		if (drmModeSetCursor2(d->fd, d->crtc, d->hw.handle, HW_CURSOR, HW_CURSOR, hot_x, hot_y) == 0) {
			d->hw_ok = true;
			drmModeMoveCursor(d->fd, d->crtc, d->px - hot_x, d->py - hot_y);
		} else {
			/* drawn in software from now on: the plane must not show a second one */
			drmModeSetCursor(d->fd, d->crtc, 0, 0, 0);
		}
	} else if (d->info.hw_cursor) {
		drmModeSetCursor(d->fd, d->crtc, 0, 0, 0);
	}
	return true;
}

void wd_drm_move_cursor(wd_drm *d, int x, int y) {
	if (x == d->px && y == d->py) return;
	d->px = x;
	d->py = y;
	if (d->hw_ok) drmModeMoveCursor(d->fd, d->crtc, x - d->hot_x, y - d->hot_y);
	else if (d->cursor) d->cursor_moved = true;
}

/* Also when the cursor went to the plane: a buffer may still hold the one drawn in software. */
bool wd_drm_cursor_needs_present(wd_drm *d) {
	return d->cursor_moved && (!d->hw_ok || d->buf[0].cursor_at.w || d->buf[1].cursor_at.w);
}

bool wd_drm_release(wd_drm *d) {
	return drmDropMaster(d->fd) == 0;
}

bool wd_drm_acquire(wd_drm *d, char *err, size_t errlen) {
	/* a seat (seatd, logind) makes the fd master again itself; alone, we must */
	drmSetMaster(d->fd);
	d->pending = false;
	/* whatever drew meanwhile left both buffers' screen wrong for us: start over */
	d->pic_w = d->pic_h = -1;
	return set_mode(d, err, errlen);
}
