/*
 * What the core's C files share: the server, its views, layers and popups, and the helpers
 * that queue events. Never included by the N-API layer (wlroots headers are not valid C++).
 */
#ifndef WAYDESK_CORE_INTERNAL_H
#define WAYDESK_CORE_INTERNAL_H

#include <pixman.h>
#include <wayland-server-core.h>
#include <wlr/types/wlr_output.h>
#include <wlr/types/wlr_scene.h>
#include <wlr/types/wlr_xdg_shell.h>

#include "core.h"

/* Damage is refined against the previous frame in tiles this size: small enough that
 * one typed character costs one or two tiles, large enough that the bitmap stays tiny. */
#define TILE 16
#define MAX_CURSOR 256

enum owner_kind { OWNER_VIEW = 1, OWNER_LAYER, OWNER_POPUP };

/* Every scene tree we create for a client surface starts with this, so that
 * node->data and xdg_surface->data can be resolved without knowing the kind. */
struct owner {
	enum owner_kind kind;
	struct wlr_scene_node *node;
};

struct wlr_xwayland;
struct wlr_xwayland_surface;

struct wd_view {
	struct owner owner;
	struct wl_list link;
	uint32_t id;
	wd_server *s;
	/* An xdg toplevel, or an X11 window (xwayland.c): exactly one is set. */
	struct wlr_xdg_surface *xdg;
	struct wlr_xwayland_surface *xw;
	/* X11 only: override-redirect (menus, tooltips) are placed where they ask and never
	 * managed; the size policy asked for (0: the window's own); the surface's scene tree
	 * under owner.node while mapped. */
	bool unmanaged;
	int want_w, want_h;
	struct wlr_scene_node *content;
	struct wl_listener req_configure, req_activate, set_geometry;
	int x, y; /* layout position of the window geometry's origin */
	struct wlr_box geo;
	bool mapped;
	struct wl_listener map, unmap, destroy, commit, set_title, set_app_id, set_parent;
	struct wl_listener req_maximize, req_fullscreen, req_minimize, req_move, req_resize;
	/* its entry in panels' window lists (wlr-foreign-toplevel-management) while it is mapped */
	struct wlr_foreign_toplevel_handle_v1 *listed;
	struct wl_listener list_activate, list_close, list_minimize, list_maximize, list_fullscreen;
};

struct wd_layer {
	struct owner owner;
	struct wl_list link;
	uint32_t id;
	wd_server *s;
	struct wlr_layer_surface_v1 *ls;
	struct wl_listener map, unmap, destroy, commit;
};

struct wd_popup {
	struct owner owner;
	struct wlr_xdg_surface *xdg;
	struct wl_listener destroy;
};

/* Exported by libwlroots 0.15, declared only in its private render/swapchain.h. */
void wlr_swapchain_destroy(struct wlr_swapchain *swapchain);

/* wlroots 0.15's headless output (backend/headless.h, private): its frame timer re-arms itself
 * after every frame, drawn or not, so an idle desktop would wake at the refresh rate. We reach
 * the timer to stop it while nothing is drawn, and trust the layout only after checking it
 * against what we know (the backend pointer, the frame delay of the mode we set). */
struct wd_headless_output_0_15 {
	struct wlr_output wlr_output;
	void *backend;
	struct wl_list link;
	struct wl_event_source *frame_timer;
	int frame_delay;
};

struct wd_server {
	struct wl_display *display;
	/* The headless output's frame timer (NULL: the layout did not check out, it ticks on), the
	 * idle callback that stops it, and commits counted so a stop never follows a drawn frame. */
	struct wl_event_source *frame_timer;
	struct wl_event_source *frame_stop;
	uint64_t output_commits;
	uint64_t commits_at_stop;
	int max_width, max_height;
	struct wl_event_loop *loop;
	struct wlr_backend *backend;
	struct wlr_renderer *renderer;
	struct wlr_allocator *allocator;
	struct wlr_scene *scene;
	struct wlr_scene_rect *background;
	struct wlr_scene_tree *layer_trees[4];
	struct wlr_scene_tree *view_tree;
	struct wlr_output_layout *layout;
	struct wlr_output *output;
	struct wlr_scene_output *scene_output;
	struct wlr_foreign_toplevel_manager_v1 *toplevel_list;
	struct wlr_xdg_shell *xdg_shell;
	struct wlr_layer_shell_v1 *layer_shell;
	struct wlr_seat *seat;
	struct wlr_input_device *keyboard;
	struct wlr_compositor *compositor;
	/* Xwayland, started by wlroots on the first X11 client (NULL: not offered). */
	struct wlr_xwayland *xwayland;
	struct wlr_scene_tree *unmanaged_tree;
	struct wl_listener xwayland_ready, new_xwayland_surface;
	/* what policy last focused, for when a menu that took the keyboard goes */
	uint32_t focus_id;
	char socket[64];
	const char *renderer_name;

	struct wl_listener output_frame, output_precommit, output_commit, output_destroy;
	/* zwlr_output_manager_v1, read-only */
	struct wlr_output_manager_v1 *output_manager;
	struct wl_listener output_apply, output_test;
	struct wl_listener new_xdg_surface, new_layer_surface, new_decoration, request_activate;
	struct wl_listener request_cursor, request_selection, request_primary_selection;
	struct wl_listener keyboard_modifiers;

	struct wl_list views, layers;
	uint32_t next_id;
	int default_w, default_h;

	wd_event *events;
	size_t events_head, nevents, events_cap;

	/* Capture: a CPU copy of the output, updated only where damage really changed it. */
	uint8_t *fb;
	int fb_w, fb_h;
	uint8_t *scratch; /* read-back target when the output buffer is not CPU-mappable */
	struct wlr_buffer *pending_buffer;
	pixman_region32_t pending_damage;
	pixman_region32_t unsent;
	uint8_t *tile_seen;
	bool paused;
	uint64_t seq, first_damage_ns, last_damage_ns;
	wd_stats stats;
	uint64_t capture_ns_this_commit;
	/* Trace times (CLOCK_MONOTONIC): first client commit since the last compose, and the
	 * compose and commit times that go with the oldest unsent damage. */
	void *(*cfg_fb_alloc)(void *ctx, size_t bytes);
	void (*cfg_fb_release)(void *ctx, void *fb);
	void *cfg_fb_ctx;
	/* pixman: compose ourselves (compose_pixman) instead of through wlroots' renderer. */
	bool own_compose;
	struct wlr_presentation *presentation;
	uint64_t commit_ns, compose_start_ns, compose_commit_ns, unsent_commit_ns, unsent_compose_ns;
	/* and the newest commit, for the newest picture in the unsent damage */
	uint64_t commit_last_ns, compose_commit_last_ns, unsent_commit_last_ns;
	bool captured_this_commit;

	/* Client cursor, kept as an image so a terminal can draw the pointer itself. */
	struct wlr_surface *cursor_surface;
	/* Held while it is the cursor's: with a second lock, wlroots makes a new client buffer for
	 * every commit instead of updating this one's texture in place (gles2), so `source` is
	 * always the buffer the client just committed. */
	struct wlr_buffer *cursor_buffer;
	struct wl_listener cursor_commit, cursor_destroy;
	int cursor_mode;
	int32_t cursor_w, cursor_h, cursor_hx, cursor_hy;
	uint8_t cursor_pixels[MAX_CURSOR * MAX_CURSOR * 4];
	double px, py;
	/* Surface-local offset of the pointer focus while a button holds an implicit grab. */
	double grab_dx, grab_dy;
};

uint64_t now_ns(void);
char *dup_or_null(const char *s);
wd_event *push_event(wd_server *s, int type, uint32_t id);
struct wd_view *view_by_id(wd_server *s, uint32_t id);
void view_list(struct wd_view *v);
void view_unlist(struct wd_view *v);
void view_request(struct wd_view *v, int req, int value);
void view_place(struct wd_view *v);

/* xwayland.c */
bool xwl_start(wd_server *s, char *err, size_t errlen);
void xwl_stop(wd_server *s);
struct wd_view *xwl_view_of_surface(struct wlr_surface *surface);
struct wlr_surface *xwl_surface(struct wd_view *v);
void xwl_configure(struct wd_view *v, int width, int height, bool maximized, bool fullscreen);
void xwl_send_position(struct wd_view *v);
void xwl_activate(struct wd_view *v, bool activated);
void xwl_close(struct wd_view *v);
void xwl_set_minimized(struct wd_view *v, bool minimized);
const char *xwl_title(struct wd_view *v);
const char *xwl_class(struct wd_view *v);
bool xwl_maximized(struct wd_view *v);
bool xwl_fullscreen(struct wd_view *v);
struct wd_view *xwl_parent(struct wd_view *v);

#endif
