/*
 * The compositor core: a small C API over wlroots 0.15, so that the N-API layer
 * (C++) never includes a wlroots header (they are not valid C++).
 *
 * Mechanism lives here; policy (where windows go, who has focus, which keys are
 * bindings) lives in TypeScript. The core never calls back into JS: it queues
 * events, and the caller drains them after wd_server_dispatch().
 */
#ifndef WAYDESK_CORE_H
#define WAYDESK_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct wd_server wd_server;

typedef struct {
	const char *socket_name; /* NULL: wayland-N chosen automatically */
	int width, height;
	/* Largest output the core may take (from protocol/src/limits.ts via the wrapper). */
	int max_width, max_height;
	int refresh_mhz;
	bool pixman; /* true: pixman renderer; false: wlroots' autocreate (gles2 on a render node) */
	/* Where the CPU copy of the picture lives (zeroed memory of `bytes`), and its release:
	 * the binding hands out memory its language owns, so the encoder reads the picture in
	 * place and a stale reference after a resize is never a dangling pointer. NULL: calloc/free. */
	void *(*fb_alloc)(void *ctx, size_t bytes);
	void (*fb_release)(void *ctx, void *fb);
	void *fb_ctx;
	/* Offer an X11 display; wlroots starts Xwayland ($WLR_XWAYLAND, else /usr/bin/Xwayland) on
	 * the first X11 client. */
	bool xwayland;
} wd_config;

enum wd_event_type {
	WD_EV_TOPLEVEL_NEW = 1,  /* id, parent, str0 app_id, str1 title */
	WD_EV_TOPLEVEL_MAP,      /* id, i[0..3] geometry x y w h, i[4..7] min w h, max w h */
	WD_EV_TOPLEVEL_UNMAP,    /* id */
	WD_EV_TOPLEVEL_DESTROY,  /* id */
	WD_EV_TOPLEVEL_TITLE,    /* id, str0 app_id, str1 title */
	WD_EV_TOPLEVEL_SIZE,     /* id, i[0..1] committed geometry w h */
	WD_EV_TOPLEVEL_REQUEST,  /* id, i[0] request (enum wd_request) i[1] value */
	WD_EV_ACTIVATE,          /* id: xdg-activation asks to focus it */
	WD_EV_LAYER_COMMIT,      /* id, i[0] layer, i[1] anchor, i[2] exclusive zone, i[3..6] margin t r b l,
	                            i[7] desired w, i[8] desired h, i[9] keyboard interactivity, str0 namespace */
	WD_EV_LAYER_MAP,         /* id */
	WD_EV_LAYER_UNMAP,       /* id */
	WD_EV_LAYER_DESTROY,     /* id */
	WD_EV_CURSOR,            /* cursor image or mode changed: read it with wd_cursor_get */
	WD_EV_TOPLEVEL_PARENT,   /* id, parent (0: none): toolkits may set it after mapping */
};

enum wd_request { WD_REQ_MAXIMIZE = 1, WD_REQ_FULLSCREEN, WD_REQ_MINIMIZE, WD_REQ_MOVE, WD_REQ_RESIZE, WD_REQ_CLOSE };

#define WD_EVENT_INTS 10
typedef struct {
	int type;
	uint32_t id;
	uint32_t parent;
	int32_t i[WD_EVENT_INTS];
	char *str[2]; /* owned by the event; freed by wd_event_free */
} wd_event;

typedef struct {
	int32_t x, y, width, height;
} wd_rect;

typedef struct {
	uint64_t seq;
	uint64_t first_damage_ns; /* CLOCK_MONOTONIC when the oldest damage in this frame was captured */
	uint64_t capture_ns;      /* CLOCK_MONOTONIC when the newest damage was captured */
	uint64_t commit_ns;       /* the first toplevel or layer commit that went into this frame */
	uint64_t commit_last_ns;  /* the newest one */
	uint64_t compose_ns;      /* composing of the newest captured picture began */
	int32_t width, height;
} wd_frame_meta;

/* Durations are CPU time of the compositor thread (CLOCK_THREAD_CPUTIME_ID). */
typedef struct {
	uint64_t frames_captured;      /* output commits that carried damage */
	uint64_t frames_unchanged;     /* commits whose damage turned out identical to the last frame */
	uint64_t last_render_ns;       /* scene render + commit, capture excluded */
	uint64_t last_capture_ns;      /* tile compare + copy into the CPU frame */
	uint64_t total_render_ns;
	uint64_t total_capture_ns;
	uint64_t damage_px_reported;   /* pixels the clients said changed */
	uint64_t damage_px_refined;    /* pixels that really changed */
} wd_stats;

enum wd_cursor_mode { WD_CURSOR_DEFAULT = 0, WD_CURSOR_IMAGE = 1, WD_CURSOR_HIDDEN = 2 };

typedef struct {
	int mode;
	int32_t width, height, hotspot_x, hotspot_y;
	double x, y;          /* pointer position in output coordinates */
	const uint8_t *pixels; /* ARGB8888 premultiplied, width*height*4; valid until the next dispatch */
} wd_cursor;

wd_server *wd_server_create(const wd_config *cfg, char *err, size_t errlen);
void wd_server_destroy(wd_server *s);
int wd_server_fd(wd_server *s);
const char *wd_server_socket(wd_server *s);
const char *wd_server_renderer(wd_server *s);
/* The X11 display (":1"), or NULL when Xwayland is not offered. */
const char *wd_xwayland_display(wd_server *s);
/* Dispatch pending Wayland events and flush clients. */
void wd_server_dispatch(wd_server *s);
/* After any call that changes state: run idle work (configures) and flush clients. */
void wd_server_flush(wd_server *s);

size_t wd_pending_events(wd_server *s);
bool wd_next_event(wd_server *s, wd_event *out);
void wd_event_free(wd_event *ev);

/* Output */
bool wd_output_set_mode(wd_server *s, int width, int height, int refresh_mhz);
void wd_output_get(wd_server *s, int *width, int *height, int *refresh_mhz);

/* Windows (ids are shared by toplevels and layer surfaces) */
bool wd_view_configure(wd_server *s, uint32_t id, int width, int height, bool maximized, bool fullscreen);
/* The size a new ordinary toplevel is maximized to in its very first configure. libwayland
 * sends that configure before policy can see the window, so policy sets this ahead of time
 * (0x0: let the client choose). Windows with a parent or a fixed size always start at 0x0. */
void wd_set_toplevel_default(wd_server *s, int width, int height);
bool wd_view_set_position(wd_server *s, uint32_t id, int x, int y);
bool wd_view_raise(wd_server *s, uint32_t id);
/* Hides or shows a window (and its popups); panels' lists say it is minimized. */
bool wd_view_set_minimized(wd_server *s, uint32_t id, bool minimized);
bool wd_view_close(wd_server *s, uint32_t id);
/* Keyboard focus + activated state; 0 clears focus. */
bool wd_focus(wd_server *s, uint32_t id);
uint32_t wd_view_at(wd_server *s, double x, double y);
bool wd_layer_configure(wd_server *s, uint32_t id, int x, int y, int width, int height);
bool wd_view_geometry(wd_server *s, uint32_t id, wd_rect *out);

/* Keyboard. wd_key updates the keyboard state and reports the keysyms the key produces
 * (so policy can match bindings); wd_key_forward delivers it to the focused client. */
bool wd_set_keymap(wd_server *s, const char *rules, const char *model, const char *layout,
	const char *variant, const char *options);
int wd_key(wd_server *s, uint32_t keycode, bool pressed, uint32_t time_msec,
	uint32_t *syms_out, int max_syms, uint32_t *mods_out);
void wd_key_forward(wd_server *s, uint32_t keycode, bool pressed, uint32_t time_msec);

/* Pointer, absolute output coordinates. */
void wd_pointer_motion(wd_server *s, double x, double y, uint32_t time_msec);
void wd_pointer_button(wd_server *s, uint32_t button, bool pressed, uint32_t time_msec);
void wd_pointer_axis(wd_server *s, bool horizontal, double delta, int32_t discrete, uint32_t time_msec);

void wd_cursor_get(wd_server *s, wd_cursor *out);

/* Frames. While paused the core composes nothing and holds frame callbacks back,
 * so clients stop drawing; damage keeps accumulating and is delivered whole. */
/* Returns true when the state changed. */
bool wd_frames_set_paused(wd_server *s, bool paused);
/* No one looks at the picture: frees the CPU copy (cfg.fb_release), the output's render
 * buffers and malloc's free memory. wd_picture_restore makes them again and draws the whole
 * picture at the next frame (its damage then covers the output). */
void wd_picture_release(wd_server *s);
bool wd_picture_restore(wd_server *s);
/* Number of rectangles in the damage not yet taken, 0 if none. */
size_t wd_frame_pending(wd_server *s);
/* Copies the pending rectangles and clears the pending damage; their pixels are in the
 * picture (cfg.fb_alloc's memory, BGRX, stride width*4) until the next dispatch. */
bool wd_frame_take(wd_server *s, wd_rect *rects, size_t max_rects, wd_frame_meta *meta);
void wd_stats_get(wd_server *s, wd_stats *out);

#ifdef __cplusplus
}
#endif
#endif
