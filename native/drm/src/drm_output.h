/*
 * The terminal's screen through DRM/KMS (libdrm, legacy modesetting: what bochs, virtio-gpu,
 * simpledrm and every KMS driver take): one connector, its preferred mode, two dumb buffers
 * flipped on vblank, only damaged rectangles copied, the cursor on the hardware cursor plane
 * where the driver has one and drawn into the picture otherwise. Pixels are XRGB8888 (BGRX
 * bytes), the layout of the terminal's picture, so presenting is a copy.
 */
#ifndef WAYDESK_DRM_OUTPUT_H
#define WAYDESK_DRM_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct wd_drm wd_drm;

typedef struct {
	int width, height, refresh_mhz;
	bool preferred;
} wd_drm_mode;

#define WD_DRM_MAX_MODES 64

typedef struct {
	char connector[32]; /* e.g. "Virtual-1", "HDMI-A-1" */
	int mm_width, mm_height;
	int nmodes;
	wd_drm_mode modes[WD_DRM_MAX_MODES];
	int width, height, refresh_mhz; /* the mode in use */
	bool hw_cursor;
	char driver[32];
} wd_drm_info;

/* Takes a card's fd (opened by the seat, or directly by root; the caller closes it after
 * wd_drm_close), picks the first connected connector and its preferred mode (or mode_index when
 * >= 0), sets it with a cleared picture. NULL with the reason in err. */
wd_drm *wd_drm_open(int fd, int mode_index, char *err, size_t errlen);
void wd_drm_close(wd_drm *d);
const wd_drm_info *wd_drm_get_info(wd_drm *d);
int wd_drm_fd(wd_drm *d);

/* Copies the rectangles of pic (BGRX, pw x ph, stride pw*4; at the screen's top left, the rest
 * black) into the back buffer, with what the other buffer got since, and flips to it on the
 * next vblank. false with err when a flip is still pending (wait for wd_drm_dispatch to say it
 * completed) or the driver refuses. nrects below 0: the whole picture; 0: nothing new (the
 * software cursor moved). */
bool wd_drm_present(wd_drm *d, const uint8_t *pic, int pw, int ph, const int32_t *rects, int nrects, char *err, size_t errlen);
/* Reads DRM events; returns how many flips completed (0 or 1), -1 on error. */
int wd_drm_dispatch(wd_drm *d);
bool wd_drm_flip_pending(wd_drm *d);

/* The cursor image (premultiplied ARGB, BGRA bytes), NULL to hide it; position in screen
 * pixels of the pointer (the hotspot lands there). A software cursor changes the picture:
 * the next present (or this call, when nothing is pending) shows it. */
bool wd_drm_set_cursor(wd_drm *d, const uint8_t *argb, int w, int h, int hot_x, int hot_y, char *err, size_t errlen);
void wd_drm_move_cursor(wd_drm *d, int x, int y);
/* Where the software cursor needs a present to show its move (false: hardware plane, or hidden). */
bool wd_drm_cursor_needs_present(wd_drm *d);

/* Drops DRM master (the seat went away) and takes it back (a seat gives it back itself),
 * setting the mode again. */
bool wd_drm_release(wd_drm *d);
bool wd_drm_acquire(wd_drm *d, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
