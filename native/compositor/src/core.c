/*
 * waydesk compositor core over wlroots 0.15 (see core.h for the contract).
 * Modelled on tinywl: headless backend, scene graph, one output.
 */
#define _POSIX_C_SOURCE 200809L
#include <drm_fourcc.h>
#include <malloc.h>
#include <pixman.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <wayland-server-core.h>
#include <wlr/backend.h>
#include <wlr/backend/headless.h>
#include <wlr/render/allocator.h>
#include <wlr/render/pixman.h>
#include <wlr/render/wlr_renderer.h>
#include <wlr/types/wlr_buffer.h>
#include <wlr/types/wlr_compositor.h>
#include <wlr/types/wlr_data_control_v1.h>
#include <wlr/types/wlr_data_device.h>
#include <wlr/types/wlr_foreign_toplevel_management_v1.h>
#include <wlr/types/wlr_input_device.h>
#include <wlr/types/wlr_keyboard.h>
#include <wlr/types/wlr_layer_shell_v1.h>
#include <wlr/types/wlr_matrix.h>
#include <wlr/types/wlr_output.h>
#include <wlr/types/wlr_output_damage.h>
#include <wlr/types/wlr_output_layout.h>
#include <wlr/types/wlr_output_management_v1.h>
#include <wlr/types/wlr_presentation_time.h>
#include <wlr/types/wlr_primary_selection.h>
#include <wlr/types/wlr_primary_selection_v1.h>
#include <wlr/types/wlr_scene.h>
#include <wlr/types/wlr_screencopy_v1.h>
#include <wlr/types/wlr_seat.h>
#include <wlr/types/wlr_viewporter.h>
#include <wlr/types/wlr_xdg_activation_v1.h>
#include <wlr/types/wlr_xdg_decoration_v1.h>
#include <wlr/types/wlr_xdg_output_v1.h>
#include <wlr/types/wlr_xdg_shell.h>
#include <wlr/interfaces/wlr_keyboard.h>
#include <wlr/util/edges.h>
#include <wlr/util/log.h>
#include <xkbcommon/xkbcommon.h>

#include "core-internal.h"

uint64_t now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Cost, not wall time: on a loaded machine the wall clock also counts other processes. */
static uint64_t cpu_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

char *dup_or_null(const char *s) {
	return s ? strdup(s) : NULL;
}

wd_event *push_event(wd_server *s, int type, uint32_t id) {
	if (s->nevents == s->events_cap) {
		size_t cap = s->events_cap ? s->events_cap * 2 : 32;
		wd_event *n = realloc(s->events, cap * sizeof(*n));
		if (!n) {
			wlr_log(WLR_ERROR, "out of memory queueing an event");
			return NULL;
		}
		s->events = n;
		s->events_cap = cap;
	}
	wd_event *ev = &s->events[s->nevents++];
	memset(ev, 0, sizeof(*ev));
	ev->type = type;
	ev->id = id;
	return ev;
}

size_t wd_pending_events(wd_server *s) {
	return s->nevents - s->events_head;
}

bool wd_next_event(wd_server *s, wd_event *out) {
	if (s->events_head == s->nevents) return false;
	*out = s->events[s->events_head++];
	/* Drained: start over at the front (no per-event memmove for a flooding client). */
	if (s->events_head == s->nevents) s->events_head = s->nevents = 0;
	return true;
}

void wd_event_free(wd_event *ev) {
	free(ev->str[0]);
	free(ev->str[1]);
	ev->str[0] = ev->str[1] = NULL;
}

/* The scene owner of a client surface, or NULL. A client may destroy its xdg_surface or
 * layer_surface and keep the wl_surface: the role stays, role_data goes NULL. */
static struct owner *owner_of_surface(struct wlr_surface *surface) {
	if (!surface) return NULL;
	struct wd_view *x = xwl_view_of_surface(surface);
	if (x) return &x->owner;
	if (wlr_surface_is_xdg_surface(surface)) {
		struct wlr_xdg_surface *x = wlr_xdg_surface_from_wlr_surface(surface);
		return x ? x->data : NULL;
	}
	if (wlr_surface_is_layer_surface(surface)) {
		struct wlr_layer_surface_v1 *l = wlr_layer_surface_v1_from_wlr_surface(surface);
		return l ? l->data : NULL;
	}
	return NULL;
}

struct wd_view *view_by_id(wd_server *s, uint32_t id) {
	struct wd_view *v;
	wl_list_for_each(v, &s->views, link) if (v->id == id) return v;
	return NULL;
}

static struct wd_layer *layer_by_id(wd_server *s, uint32_t id) {
	struct wd_layer *l;
	wl_list_for_each(l, &s->layers, link) if (l->id == id) return l;
	return NULL;
}

/* ---------- capture ---------- */

static void fb_free(wd_server *s) {
	if (!s->fb) return;
	if (s->cfg_fb_release) s->cfg_fb_release(s->cfg_fb_ctx, s->fb);
	else free(s->fb);
	s->fb = NULL;
}

static bool fb_alloc(wd_server *s, int w, int h) {
	fb_free(s);
	free(s->scratch);
	free(s->tile_seen);
	s->fb = s->cfg_fb_alloc ? s->cfg_fb_alloc(s->cfg_fb_ctx, (size_t)w * h * 4) : calloc((size_t)w * h, 4);
	s->scratch = NULL;
	s->tile_seen = calloc((size_t)((w + TILE - 1) / TILE) * ((h + TILE - 1) / TILE), 1);
	bool ok = s->fb && s->tile_seen;
	s->fb_w = ok ? w : 0;
	s->fb_h = ok ? h : 0;
	pixman_region32_clear(&s->unsent);
	return ok;
}

static void output_precommit(struct wl_listener *l, void *data) {
	wd_server *s = wl_container_of(l, s, output_precommit);
	struct wlr_output *o = s->output;
	/* wlroots clears pending state before the commit event: keep buffer and damage now. */
	if (!(o->pending.committed & WLR_OUTPUT_STATE_BUFFER)) return;
	if (s->pending_buffer) wlr_buffer_unlock(s->pending_buffer);
	s->pending_buffer = wlr_buffer_lock(o->pending.buffer);
	if (o->pending.committed & WLR_OUTPUT_STATE_DAMAGE) {
		pixman_region32_copy(&s->pending_damage, &o->pending.damage);
	} else {
		pixman_region32_fini(&s->pending_damage);
		pixman_region32_init_rect(&s->pending_damage, 0, 0, o->width, o->height);
	}
}

/* Compare the damaged tiles of src with the CPU frame; copy and report only those that differ. */
static void refine_damage(wd_server *s, const uint8_t *src, size_t src_stride, pixman_region32_t *out) {
	int tw = (s->fb_w + TILE - 1) / TILE;
	int n = 0;
	pixman_box32_t *boxes = pixman_region32_rectangles(&s->pending_damage, &n);
	memset(s->tile_seen, 0, (size_t)tw * ((s->fb_h + TILE - 1) / TILE));
	size_t fb_stride = (size_t)s->fb_w * 4;
	for (int i = 0; i < n; i++) {
		int x1 = boxes[i].x1 < 0 ? 0 : boxes[i].x1, y1 = boxes[i].y1 < 0 ? 0 : boxes[i].y1;
		int x2 = boxes[i].x2 > s->fb_w ? s->fb_w : boxes[i].x2;
		int y2 = boxes[i].y2 > s->fb_h ? s->fb_h : boxes[i].y2;
		for (int ty = y1 / TILE; ty * TILE < y2; ty++) {
			for (int tx = x1 / TILE; tx * TILE < x2; tx++) {
				uint8_t *seen = &s->tile_seen[ty * tw + tx];
				if (*seen) continue;
				*seen = 1;
				int px = tx * TILE, py = ty * TILE;
				int w = px + TILE > s->fb_w ? s->fb_w - px : TILE;
				int h = py + TILE > s->fb_h ? s->fb_h - py : TILE;
				bool differs = false;
				for (int row = 0; row < h; row++) {
					const uint8_t *a = src + (size_t)(py + row) * src_stride + (size_t)px * 4;
					uint8_t *b = s->fb + (size_t)(py + row) * fb_stride + (size_t)px * 4;
					if (differs || memcmp(a, b, (size_t)w * 4) != 0) {
						differs = true;
						memcpy(b, a, (size_t)w * 4);
					}
				}
				if (differs) {
					/* Rows above the first difference were equal, so copying from row 0 on is harmless. */
					pixman_region32_union_rect(out, out, px, py, (unsigned)w, (unsigned)h);
				}
			}
		}
	}
}

static uint64_t region_area(pixman_region32_t *r) {
	int n = 0;
	uint64_t a = 0;
	pixman_box32_t *b = pixman_region32_rectangles(r, &n);
	for (int i = 0; i < n; i++) a += (uint64_t)(b[i].x2 - b[i].x1) * (uint64_t)(b[i].y2 - b[i].y1);
	return a;
}

static void output_commit(struct wl_listener *l, void *data) {
	wd_server *s = wl_container_of(l, s, output_commit);
	s->output_commits++;
	struct wlr_buffer *buf = s->pending_buffer;
	s->pending_buffer = NULL;
	if (!buf) return;
	if (!pixman_region32_not_empty(&s->pending_damage) || buf->width != s->fb_w || buf->height != s->fb_h) {
		wlr_buffer_unlock(buf);
		return;
	}
	uint64_t t0 = cpu_ns();
	void *ptr = NULL;
	uint32_t fmt = 0;
	size_t stride = 0;
	pixman_region32_t changed;
	pixman_region32_init(&changed);
	if (wlr_buffer_begin_data_ptr_access(buf, WLR_BUFFER_DATA_PTR_ACCESS_READ, &ptr, &fmt, &stride)) {
		if (fmt == DRM_FORMAT_XRGB8888 || fmt == DRM_FORMAT_ARGB8888) {
			refine_damage(s, ptr, stride, &changed);
		} else {
			wlr_log(WLR_ERROR, "output buffer format 0x%x is not XRGB8888; frame not captured", fmt);
		}
		wlr_buffer_end_data_ptr_access(buf);
	} else {
		/* GPU buffers (gles2): read the damaged rectangles back through the renderer. */
		if (!s->scratch) s->scratch = calloc((size_t)s->fb_w * s->fb_h, 4);
		pixman_region32_intersect_rect(&s->pending_damage, &s->pending_damage, 0, 0, (unsigned)s->fb_w, (unsigned)s->fb_h);
		int n = 0;
		pixman_box32_t *b = pixman_region32_rectangles(&s->pending_damage, &n);
		bool begun = s->scratch && wlr_renderer_begin_with_buffer(s->renderer, buf);
		bool ok = begun;
		for (int i = 0; ok && i < n; i++) {
			ok = wlr_renderer_read_pixels(s->renderer, DRM_FORMAT_XRGB8888, NULL, (uint32_t)s->fb_w * 4,
				(uint32_t)(b[i].x2 - b[i].x1), (uint32_t)(b[i].y2 - b[i].y1), (uint32_t)b[i].x1,
				(uint32_t)b[i].y1, (uint32_t)b[i].x1, (uint32_t)b[i].y1, s->scratch);
		}
		if (begun) wlr_renderer_end(s->renderer);
		if (ok) refine_damage(s, s->scratch, (size_t)s->fb_w * 4, &changed);
		else wlr_log(WLR_ERROR, "could not read the output buffer back; frame not captured");
	}
	wlr_buffer_unlock(buf);

	s->stats.damage_px_reported += region_area(&s->pending_damage);
	if (pixman_region32_not_empty(&changed)) {
		uint64_t t = now_ns();
		if (!pixman_region32_not_empty(&s->unsent)) {
			s->first_damage_ns = t;
			s->unsent_commit_ns = s->compose_commit_ns;
		}
		s->last_damage_ns = t;
		s->unsent_compose_ns = s->compose_start_ns;
		s->unsent_commit_last_ns = s->compose_commit_last_ns;
		pixman_region32_union(&s->unsent, &s->unsent, &changed);
		s->stats.frames_captured++;
		s->stats.damage_px_refined += region_area(&changed);
	} else {
		s->stats.frames_unchanged++;
	}
	pixman_region32_fini(&changed);
	s->capture_ns_this_commit = cpu_ns() - t0;
	s->captured_this_commit = true;
}

/* ---------- composing (pixman) ---------- */

/* wlroots 0.15's pixman renderer draws every surface through a projection transform and a
 * solid mask, pixman's general path: about 65 ns a pixel, 1.7 ms for the damage of one typed
 * glyph. A surface shown 1:1 needs neither, and composited directly pixman takes its SIMD
 * paths (a plain copy where the client says it is opaque). Scaled, cropped or rotated
 * surfaces, and buffers that are not shm in a common format, still go through the renderer. */
struct compose_ctx {
	wd_server *s;
	pixman_image_t *dst;
	pixman_region32_t *damage;
	pixman_color_t background;
};

static pixman_format_code_t pixman_format_of(uint32_t drm) {
	switch (drm) {
	case DRM_FORMAT_XRGB8888: return PIXMAN_x8r8g8b8;
	case DRM_FORMAT_ARGB8888: return PIXMAN_a8r8g8b8;
	case DRM_FORMAT_XBGR8888: return PIXMAN_x8b8g8r8;
	case DRM_FORMAT_ABGR8888: return PIXMAN_a8b8g8r8;
	default: return 0;
	}
}

/* Composites the clip (surface-local) of a client's shm buffer 1:1. Access goes through
 * wlr_buffer_begin_data_ptr_access, as wlroots' own drawing does: it guards against a client
 * that shrinks its pool (SIGBUS) and gives the current address if the pool was remapped. */
static bool composite_plain(struct compose_ctx *c, struct wlr_surface *surface, const struct wlr_box *box, pixman_region32_t *clip) {
	struct wlr_buffer *buf = surface->buffer ? surface->buffer->source : NULL;
	if (!buf || buf->width != box->width || buf->height != box->height) return false;
	void *ptr = NULL;
	uint32_t fmt = 0;
	size_t stride = 0;
	if (!wlr_buffer_begin_data_ptr_access(buf, WLR_BUFFER_DATA_PTR_ACCESS_READ, &ptr, &fmt, &stride)) return false;
	pixman_format_code_t pf = pixman_format_of(fmt);
	pixman_image_t *src = pf ? pixman_image_create_bits_no_clear(pf, buf->width, buf->height, ptr, (int)stride) : NULL;
	if (src) {
		pixman_region32_t opaque;
		pixman_region32_init(&opaque);
		pixman_region32_intersect(&opaque, clip, &surface->opaque_region);
		pixman_region32_t rest;
		pixman_region32_init(&rest);
		pixman_region32_subtract(&rest, clip, &opaque);
		pixman_region32_t *parts[2] = {&opaque, &rest};
		pixman_op_t ops[2] = {PIXMAN_OP_SRC, PIXMAN_OP_OVER};
		for (int i = 0; i < 2; i++) {
			int n = 0;
			pixman_box32_t *b = pixman_region32_rectangles(parts[i], &n);
			for (int k = 0; k < n; k++) {
				pixman_image_composite32(ops[i], src, NULL, c->dst, b[k].x1, b[k].y1, 0, 0, box->x + b[k].x1, box->y + b[k].y1,
					b[k].x2 - b[k].x1, b[k].y2 - b[k].y1);
			}
		}
		pixman_region32_fini(&rest);
		pixman_region32_fini(&opaque);
		pixman_image_unref(src);
	}
	wlr_buffer_end_data_ptr_access(buf);
	return src != NULL;
}

/* Drawn 1:1: composite_plain can take it (other surfaces go through wlroots' renderer). */
static bool shown_plain(struct wlr_surface *surface, struct wlr_texture *tex) {
	return surface->current.transform == WL_OUTPUT_TRANSFORM_NORMAL && !surface->current.viewport.has_src &&
		(int)tex->width == surface->current.width && (int)tex->height == surface->current.height;
}

/* Takes the opaque part of a surface shown 1:1 out of the region that needs the background. */
static void subtract_opaque(struct wlr_surface *surface, int x, int y, void *data) {
	pixman_region32_t *bare = data;
	struct wlr_texture *tex = wlr_surface_get_texture(surface);
	if (!tex || !shown_plain(surface, tex) || !pixman_region32_not_empty(&surface->opaque_region)) return;
	pixman_region32_t opaque;
	pixman_region32_init(&opaque);
	pixman_region32_copy(&opaque, &surface->opaque_region);
	pixman_region32_translate(&opaque, x, y);
	pixman_region32_subtract(bare, bare, &opaque);
	pixman_region32_fini(&opaque);
}

static void compose_surface(struct wlr_surface *surface, int x, int y, void *data) {
	struct compose_ctx *c = data;
	struct wlr_texture *tex = wlr_surface_get_texture(surface);
	if (!tex) return;
	/* Like wlr_scene: every surface shown on the output was sampled, damaged or not. */
	if (c->s->presentation) wlr_presentation_surface_sampled_on_output(c->s->presentation, surface, c->s->output);
	struct wlr_box box = {x, y, surface->current.width, surface->current.height};
	pixman_region32_t clip;
	pixman_region32_init_rect(&clip, box.x, box.y, (unsigned)box.width, (unsigned)box.height);
	pixman_region32_intersect(&clip, &clip, c->damage);
	if (!pixman_region32_not_empty(&clip)) {
		pixman_region32_fini(&clip);
		return;
	}
	bool plain = shown_plain(surface, tex);
	/* subtract_opaque left the background out under this surface's opaque part. */
	bool bare_under = plain && pixman_region32_not_empty(&surface->opaque_region);
	if (plain) {
		pixman_region32_translate(&clip, -box.x, -box.y);
		plain = composite_plain(c, surface, &box, &clip);
		pixman_region32_translate(&clip, box.x, box.y);
	}
	if (!plain && bare_under) {
		/* The direct copy failed after all: wlroots blends, so the background must be there. */
		pixman_region32_t under;
		pixman_region32_init(&under);
		pixman_region32_copy(&under, &surface->opaque_region);
		pixman_region32_translate(&under, box.x, box.y);
		pixman_region32_intersect(&under, &under, &clip);
		int n = 0;
		pixman_box32_t *b = pixman_region32_rectangles(&under, &n);
		pixman_image_fill_boxes(PIXMAN_OP_SRC, c->dst, &c->background, n, b);
		pixman_region32_fini(&under);
	}
	if (!plain) {
		float matrix[9];
		struct wlr_fbox src_box;
		wlr_matrix_project_box(matrix, &box, wlr_output_transform_invert(surface->current.transform), 0,
			c->s->output->transform_matrix);
		wlr_surface_get_buffer_source_box(surface, &src_box);
		int n = 0;
		pixman_box32_t *b = pixman_region32_rectangles(&clip, &n);
		for (int k = 0; k < n; k++) {
			wlr_renderer_scissor(c->s->renderer, &(struct wlr_box){b[k].x1, b[k].y1, b[k].x2 - b[k].x1, b[k].y2 - b[k].y1});
			wlr_render_subtexture_with_matrix(c->s->renderer, tex, &src_box, matrix, 1.0);
		}
		wlr_renderer_scissor(c->s->renderer, NULL);
	}
	pixman_region32_fini(&clip);
}

/* The same steps as wlr_scene_output_commit (damage with buffer age, draw, commit the frame's
 * damage), with surfaces drawn by compose_surface. */
static void compose_pixman(wd_server *s) {
	struct wlr_output *o = s->output;
	struct wlr_output_damage *od = s->scene_output->damage;
	bool needs_frame = false;
	pixman_region32_t damage;
	pixman_region32_init(&damage);
	if (!wlr_output_damage_attach_render(od, &needs_frame, &damage) || !needs_frame) {
		pixman_region32_fini(&damage);
		wlr_output_rollback(o);
		return;
	}
	wlr_renderer_begin(s->renderer, (uint32_t)o->width, (uint32_t)o->height);
	pixman_image_t *dst = wlr_pixman_renderer_get_current_image(s->renderer);
	/* Under everything, the background rectangle's colour (premultiplied, 16 bits a channel). */
	const float *bg = s->background->color;
	pixman_color_t colour = {(uint16_t)(bg[0] * 0xffff), (uint16_t)(bg[1] * 0xffff), (uint16_t)(bg[2] * 0xffff), (uint16_t)(bg[3] * 0xffff)};
	/* Where an opaque surface is copied over it, the background would be written for nothing:
	 * a full-screen video or terminal is a whole picture of writes a frame. */
	pixman_region32_t bare;
	pixman_region32_init(&bare);
	pixman_region32_copy(&bare, &damage);
	wlr_scene_node_for_each_surface(&s->scene->node, subtract_opaque, &bare);
	int n = 0;
	pixman_box32_t *boxes = pixman_region32_rectangles(&bare, &n);
	pixman_image_fill_boxes(PIXMAN_OP_SRC, dst, &colour, n, boxes);
	pixman_region32_fini(&bare);
	struct compose_ctx c = {s, dst, &damage, colour};
	wlr_scene_node_for_each_surface(&s->scene->node, compose_surface, &c);
	wlr_renderer_end(s->renderer);
	pixman_region32_fini(&damage);
	/* A headless output is never transformed: the frame's damage is in buffer coordinates already. */
	wlr_output_set_damage(o, &od->current);
	wlr_output_commit(o);
}

static void frame_stop_idle(void *data) {
	wd_server *s = data;
	s->frame_stop = NULL;
	/* a frame drawn since the stop was asked for keeps the clock running */
	if (s->frame_timer && s->output_commits == s->commits_at_stop) wl_event_source_timer_update(s->frame_timer, 0);
}

/* Nothing was drawn this frame: the clock stops once the timer has re-armed itself (an idle
 * callback runs after it). A client's commit or frame request starts it again through
 * wlr_output_schedule_frame. */
static void frame_clock_idle(wd_server *s) {
	if (!s->frame_timer || s->frame_stop) return;
	s->commits_at_stop = s->output_commits;
	s->frame_stop = wl_event_loop_add_idle(s->loop, frame_stop_idle, s);
}

/* A frame was drawn: the next one comes a refresh later (also when this one came from
 * wlr_output_schedule_frame, not from the timer), so clients are paced at the refresh rate. */
static void frame_clock_run(wd_server *s) {
	struct wd_headless_output_0_15 *h = (struct wd_headless_output_0_15 *)s->output;
	if (s->frame_timer) wl_event_source_timer_update(s->frame_timer, h->frame_delay);
}

static void output_frame(struct wl_listener *l, void *data) {
	wd_server *s = wl_container_of(l, s, output_frame);
	uint64_t commits = s->output_commits;
	/* A paused consumer holds frame callbacks back so clients stop drawing. Screencopy
	 * (grim) still gets its frame: it sets needs_frame. */
	if (s->paused && !s->output->needs_frame) {
		frame_clock_idle(s);
		return;
	}
	s->captured_this_commit = false;
	s->compose_start_ns = now_ns();
	s->compose_commit_ns = s->commit_ns ? s->commit_ns : s->compose_start_ns;
	s->compose_commit_last_ns = s->commit_ns ? s->commit_last_ns : s->compose_start_ns;
	s->commit_ns = 0;
	uint64_t t0 = cpu_ns();
	if (s->own_compose) compose_pixman(s);
	else wlr_scene_output_commit(s->scene_output);
	if (s->captured_this_commit) {
		uint64_t total = cpu_ns() - t0;
		uint64_t cap = s->capture_ns_this_commit;
		s->stats.last_capture_ns = cap;
		s->stats.last_render_ns = total > cap ? total - cap : 0;
		s->stats.total_capture_ns += cap;
		s->stats.total_render_ns += s->stats.last_render_ns;
	}
	if (s->output_commits != commits) frame_clock_run(s);
	else frame_clock_idle(s);
	if (s->paused) return;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	wlr_scene_output_send_frame_done(s->scene_output, &now);
}

static void output_destroy(struct wl_listener *l, void *data) {
	wd_server *s = wl_container_of(l, s, output_destroy);
	wl_list_remove(&s->output_frame.link);
	wl_list_remove(&s->output_precommit.link);
	wl_list_remove(&s->output_commit.link);
	wl_list_remove(&s->output_destroy.link);
	s->output = NULL;
	s->scene_output = NULL;
}

/* ---------- views (xdg toplevels) ---------- */

void view_place(struct wd_view *v) {
	if (v->xw) {
		/* An X11 window knows where it is: its menus open at root coordinates. */
		wlr_scene_node_set_position(v->owner.node, v->x, v->y);
		xwl_send_position(v);
		return;
	}
	/* Position the window geometry, not the surface origin (CSD shadows lie outside it). */
	wlr_scene_node_set_position(v->owner.node, v->x - v->geo.x, v->y - v->geo.y);
}

static struct wlr_surface *view_surface(struct wd_view *v) {
	return v->xw ? xwl_surface(v) : v->xdg->surface;
}

static const char *view_title_of(struct wd_view *v) {
	return v->xw ? xwl_title(v) : v->xdg->toplevel->title;
}

static const char *view_app_id_of(struct wd_view *v) {
	return v->xw ? xwl_class(v) : v->xdg->toplevel->app_id;
}

static struct wd_view *view_parent_of(struct wd_view *v) {
	if (v->xw) return xwl_parent(v);
	struct wlr_xdg_surface *p = v->xdg->toplevel->parent;
	struct owner *o = p ? p->data : NULL;
	return o && o->kind == OWNER_VIEW ? (struct wd_view *)o : NULL;
}

static void view_set_activated(struct wd_view *v, bool activated) {
	if (v->xw) xwl_activate(v, activated);
	else wlr_xdg_toplevel_set_activated(v->xdg, activated);
	if (v->listed) wlr_foreign_toplevel_handle_v1_set_activated(v->listed, activated);
}

static void listed_activate(struct wl_listener *l, void *data) {
	struct wd_view *v = wl_container_of(l, v, list_activate);
	push_event(v->s, WD_EV_ACTIVATE, v->id);
}
static void listed_close(struct wl_listener *l, void *data) {
	struct wd_view *v = wl_container_of(l, v, list_close);
	view_request(v, WD_REQ_CLOSE, 1);
}
static void listed_minimize(struct wl_listener *l, void *data) {
	struct wd_view *v = wl_container_of(l, v, list_minimize);
	struct wlr_foreign_toplevel_handle_v1_minimized_event *e = data;
	view_request(v, WD_REQ_MINIMIZE, e->minimized);
}
static void listed_maximize(struct wl_listener *l, void *data) {
	struct wd_view *v = wl_container_of(l, v, list_maximize);
	struct wlr_foreign_toplevel_handle_v1_maximized_event *e = data;
	view_request(v, WD_REQ_MAXIMIZE, e->maximized);
}
static void listed_fullscreen(struct wl_listener *l, void *data) {
	struct wd_view *v = wl_container_of(l, v, list_fullscreen);
	struct wlr_foreign_toplevel_handle_v1_fullscreen_event *e = data;
	view_request(v, WD_REQ_FULLSCREEN, e->fullscreen);
}

void view_list(struct wd_view *v) {
	wd_server *s = v->s;
	if (v->listed || !s->toplevel_list) return;
	v->listed = wlr_foreign_toplevel_handle_v1_create(s->toplevel_list);
	if (!v->listed) return;
	const char *title = view_title_of(v), *app_id = view_app_id_of(v);
	if (title) wlr_foreign_toplevel_handle_v1_set_title(v->listed, title);
	if (app_id) wlr_foreign_toplevel_handle_v1_set_app_id(v->listed, app_id);
	if (s->output) wlr_foreign_toplevel_handle_v1_output_enter(v->listed, s->output);
	wlr_foreign_toplevel_handle_v1_set_activated(v->listed, s->seat->keyboard_state.focused_surface == view_surface(v));
	wlr_foreign_toplevel_handle_v1_set_maximized(v->listed, v->xw ? xwl_maximized(v) : v->xdg->toplevel->current.maximized);
	wlr_foreign_toplevel_handle_v1_set_fullscreen(v->listed, v->xw ? xwl_fullscreen(v) : v->xdg->toplevel->current.fullscreen);
	struct wd_view *parent = view_parent_of(v);
	if (parent && parent->listed) wlr_foreign_toplevel_handle_v1_set_parent(v->listed, parent->listed);
	v->list_activate.notify = listed_activate;
	wl_signal_add(&v->listed->events.request_activate, &v->list_activate);
	v->list_close.notify = listed_close;
	wl_signal_add(&v->listed->events.request_close, &v->list_close);
	v->list_minimize.notify = listed_minimize;
	wl_signal_add(&v->listed->events.request_minimize, &v->list_minimize);
	v->list_maximize.notify = listed_maximize;
	wl_signal_add(&v->listed->events.request_maximize, &v->list_maximize);
	v->list_fullscreen.notify = listed_fullscreen;
	wl_signal_add(&v->listed->events.request_fullscreen, &v->list_fullscreen);
}

void view_unlist(struct wd_view *v) {
	if (!v->listed) return;
	struct wl_listener *ls[] = {&v->list_activate, &v->list_close, &v->list_minimize, &v->list_maximize, &v->list_fullscreen};
	for (size_t i = 0; i < sizeof(ls) / sizeof(ls[0]); i++) wl_list_remove(&ls[i]->link);
	wlr_foreign_toplevel_handle_v1_destroy(v->listed);
	v->listed = NULL;
}

static void view_map(struct wl_listener *l, void *data) {
	struct wd_view *v = wl_container_of(l, v, map);
	v->mapped = true;
	wlr_xdg_surface_get_geometry(v->xdg, &v->geo);
	view_place(v);
	view_list(v);
	wd_event *ev = push_event(v->s, WD_EV_TOPLEVEL_MAP, v->id);
	if (!ev) return;
	struct wlr_xdg_toplevel *t = v->xdg->toplevel;
	if (t->parent && t->parent->data) {
		struct owner *o = t->parent->data;
		if (o->kind == OWNER_VIEW) ev->parent = ((struct wd_view *)o)->id;
	}
	ev->i[0] = v->geo.x;
	ev->i[1] = v->geo.y;
	ev->i[2] = v->geo.width;
	ev->i[3] = v->geo.height;
	ev->i[4] = (int32_t)t->current.min_width;
	ev->i[5] = (int32_t)t->current.min_height;
	ev->i[6] = (int32_t)t->current.max_width;
	ev->i[7] = (int32_t)t->current.max_height;
	ev->str[0] = dup_or_null(t->app_id);
	ev->str[1] = dup_or_null(t->title);
}

static void view_unmap(struct wl_listener *l, void *data) {
	struct wd_view *v = wl_container_of(l, v, unmap);
	v->mapped = false;
	view_unlist(v);
	push_event(v->s, WD_EV_TOPLEVEL_UNMAP, v->id);
}

static void view_commit(struct wl_listener *l, void *data) {
	struct wd_view *v = wl_container_of(l, v, commit);
	if (!v->s->commit_ns) v->s->commit_ns = now_ns();
	v->s->commit_last_ns = now_ns();
	if (!v->mapped) return;
	struct wlr_box geo;
	wlr_xdg_surface_get_geometry(v->xdg, &geo);
	bool moved = geo.x != v->geo.x || geo.y != v->geo.y;
	bool resized = geo.width != v->geo.width || geo.height != v->geo.height;
	v->geo = geo;
	if (moved) view_place(v);
	if (resized) {
		wd_event *ev = push_event(v->s, WD_EV_TOPLEVEL_SIZE, v->id);
		if (ev) {
			ev->i[0] = geo.width;
			ev->i[1] = geo.height;
		}
	}
}

static void view_title(struct wl_listener *l, void *data) {
	struct wd_view *v = wl_container_of(l, v, set_title);
	if (v->listed && v->xdg->toplevel->title) wlr_foreign_toplevel_handle_v1_set_title(v->listed, v->xdg->toplevel->title);
	wd_event *ev = push_event(v->s, WD_EV_TOPLEVEL_TITLE, v->id);
	if (!ev) return;
	ev->str[0] = dup_or_null(v->xdg->toplevel->app_id);
	ev->str[1] = dup_or_null(v->xdg->toplevel->title);
}

static void view_app_id(struct wl_listener *l, void *data) {
	struct wd_view *v = wl_container_of(l, v, set_app_id);
	if (v->listed && v->xdg->toplevel->app_id) wlr_foreign_toplevel_handle_v1_set_app_id(v->listed, v->xdg->toplevel->app_id);
	wd_event *ev = push_event(v->s, WD_EV_TOPLEVEL_TITLE, v->id);
	if (!ev) return;
	ev->str[0] = dup_or_null(v->xdg->toplevel->app_id);
	ev->str[1] = dup_or_null(v->xdg->toplevel->title);
}

static uint32_t parent_id(struct wd_view *v) {
	struct wd_view *p = view_parent_of(v);
	return p ? p->id : 0;
}

static void view_parent(struct wl_listener *l, void *data) {
	struct wd_view *v = wl_container_of(l, v, set_parent);
	wd_event *ev = push_event(v->s, WD_EV_TOPLEVEL_PARENT, v->id);
	if (ev) ev->parent = parent_id(v);
}

void view_request(struct wd_view *v, int req, int value) {
	wd_event *ev = push_event(v->s, WD_EV_TOPLEVEL_REQUEST, v->id);
	if (!ev) return;
	ev->i[0] = req;
	ev->i[1] = value;
}

static void view_req_maximize(struct wl_listener *l, void *data) {
	struct wd_view *v = wl_container_of(l, v, req_maximize);
	view_request(v, WD_REQ_MAXIMIZE, v->xdg->toplevel->requested.maximized);
}
static void view_req_fullscreen(struct wl_listener *l, void *data) {
	struct wd_view *v = wl_container_of(l, v, req_fullscreen);
	view_request(v, WD_REQ_FULLSCREEN, v->xdg->toplevel->requested.fullscreen);
}
static void view_req_minimize(struct wl_listener *l, void *data) {
	struct wd_view *v = wl_container_of(l, v, req_minimize);
	view_request(v, WD_REQ_MINIMIZE, 1);
}
static void view_req_move(struct wl_listener *l, void *data) {
	struct wd_view *v = wl_container_of(l, v, req_move);
	view_request(v, WD_REQ_MOVE, 1);
}
static void view_req_resize(struct wl_listener *l, void *data) {
	struct wd_view *v = wl_container_of(l, v, req_resize);
	struct wlr_xdg_toplevel_resize_event *e = data;
	view_request(v, WD_REQ_RESIZE, (int)e->edges);
}

static void view_destroy(struct wl_listener *l, void *data) {
	struct wd_view *v = wl_container_of(l, v, destroy);
	wd_server *s = v->s;
	view_unlist(v);
	push_event(s, WD_EV_TOPLEVEL_DESTROY, v->id);
	struct wl_listener *ls[] = {&v->map, &v->unmap, &v->destroy, &v->commit, &v->set_title, &v->set_app_id, &v->set_parent,
		&v->req_maximize, &v->req_fullscreen, &v->req_minimize, &v->req_move, &v->req_resize};
	for (size_t i = 0; i < sizeof(ls) / sizeof(ls[0]); i++) wl_list_remove(&ls[i]->link);
	wl_list_remove(&v->link);
	v->xdg->data = NULL;
	free(v);
}

static void popup_destroy(struct wl_listener *l, void *data) {
	struct wd_popup *p = wl_container_of(l, p, destroy);
	wl_list_remove(&p->destroy.link);
	/* The xdg_surface may outlive its popup role (and be given a new one). */
	if (p->xdg->data == p) p->xdg->data = NULL;
	free(p);
}

/* Keep a popup on screen: the box is the output in the coordinates of the popup's toplevel. */
static void popup_unconstrain(wd_server *s, struct wlr_xdg_popup *popup) {
	struct wlr_surface *parent = popup->parent;
	int ox = 0, oy = 0;
	/* Walk up through parent popups to the surface that owns the chain. */
	while (parent && wlr_surface_is_xdg_surface(parent)) {
		struct wlr_xdg_surface *px = wlr_xdg_surface_from_wlr_surface(parent);
		if (!px || px->role != WLR_XDG_SURFACE_ROLE_POPUP || !px->popup) break;
		parent = px->popup->parent;
	}
	struct owner *o = owner_of_surface(parent);
	if (!o || o->kind == OWNER_POPUP) return;
	if (o->kind == OWNER_VIEW) {
		ox = ((struct wd_view *)o)->x;
		oy = ((struct wd_view *)o)->y;
	} else {
		ox = o->node->state.x;
		oy = o->node->state.y;
	}
	struct wlr_box box = {.x = -ox, .y = -oy, .width = s->fb_w, .height = s->fb_h};
	wlr_xdg_popup_unconstrain_from_box(popup, &box);
}

static void new_xdg_surface(struct wl_listener *l, void *data) {
	wd_server *s = wl_container_of(l, s, new_xdg_surface);
	struct wlr_xdg_surface *xdg = data;
	if (xdg->role == WLR_XDG_SURFACE_ROLE_POPUP) {
		struct owner *po = owner_of_surface(xdg->popup->parent);
		if (!po) return; /* parentless popups have nowhere to go */
		struct wd_popup *p = calloc(1, sizeof(*p));
		if (!p) return;
		p->owner.kind = OWNER_POPUP;
		p->owner.node = wlr_scene_xdg_surface_create(po->node, xdg);
		p->xdg = xdg;
		xdg->data = p;
		p->destroy.notify = popup_destroy;
		wl_signal_add(&xdg->events.destroy, &p->destroy);
		popup_unconstrain(s, xdg->popup);
		return;
	}
	if (xdg->role != WLR_XDG_SURFACE_ROLE_TOPLEVEL) return;
	struct wd_view *v = calloc(1, sizeof(*v));
	if (!v) return;
	v->s = s;
	v->id = ++s->next_id;
	v->xdg = xdg;
	v->owner.kind = OWNER_VIEW;
	v->owner.node = wlr_scene_xdg_surface_create(&s->view_tree->node, xdg);
	v->owner.node->data = v;
	xdg->data = v;
	wl_list_insert(&s->views, &v->link);
	struct wlr_xdg_toplevel *t = xdg->toplevel;
#define LISTEN(sig, field, fn) do { v->field.notify = fn; wl_signal_add(&(sig), &v->field); } while (0)
	LISTEN(xdg->events.map, map, view_map);
	LISTEN(xdg->events.unmap, unmap, view_unmap);
	LISTEN(xdg->events.destroy, destroy, view_destroy);
	LISTEN(xdg->surface->events.commit, commit, view_commit);
	LISTEN(t->events.set_title, set_title, view_title);
	LISTEN(t->events.set_app_id, set_app_id, view_app_id);
	LISTEN(t->events.set_parent, set_parent, view_parent);
	LISTEN(t->events.request_maximize, req_maximize, view_req_maximize);
	LISTEN(t->events.request_fullscreen, req_fullscreen, view_req_fullscreen);
	LISTEN(t->events.request_minimize, req_minimize, view_req_minimize);
	LISTEN(t->events.request_move, req_move, view_req_move);
	LISTEN(t->events.request_resize, req_resize, view_req_resize);
#undef LISTEN
	bool fixed = t->pending.min_width > 0 && t->pending.min_width == t->pending.max_width && t->pending.min_height > 0 &&
		t->pending.min_height == t->pending.max_height;
	if (s->default_w > 0 && !t->parent && !fixed) {
		wlr_xdg_toplevel_set_maximized(xdg, true);
		wlr_xdg_toplevel_set_tiled(xdg, WLR_EDGE_TOP | WLR_EDGE_BOTTOM | WLR_EDGE_LEFT | WLR_EDGE_RIGHT);
		wlr_xdg_toplevel_set_size(xdg, (uint32_t)s->default_w, (uint32_t)s->default_h);
	}
	wd_event *ev = push_event(s, WD_EV_TOPLEVEL_NEW, v->id);
	if (ev) {
		ev->str[0] = dup_or_null(t->app_id);
		ev->str[1] = dup_or_null(t->title);
		ev->i[4] = (int32_t)t->pending.min_width;
		ev->i[5] = (int32_t)t->pending.min_height;
		ev->i[6] = (int32_t)t->pending.max_width;
		ev->i[7] = (int32_t)t->pending.max_height;
		if (t->parent && t->parent->data) {
			struct owner *o = t->parent->data;
			if (o->kind == OWNER_VIEW) ev->parent = ((struct wd_view *)o)->id;
		}
	}
}

/* ---------- layer surfaces (panels, backgrounds, launchers) ---------- */

static void layer_commit(struct wl_listener *l, void *data) {
	struct wd_layer *ly = wl_container_of(l, ly, commit);
	struct wlr_layer_surface_v1 *ls = ly->ls;
	if (!ly->s->commit_ns) ly->s->commit_ns = now_ns();
	ly->s->commit_last_ns = now_ns();
	if (!ls->current.committed && ls->configured) return;
	/* Move the node to the tree of its (possibly changed) layer. */
	if (ls->current.layer <= ZWLR_LAYER_SHELL_V1_LAYER_OVERLAY)
		wlr_scene_node_reparent(ly->owner.node, &ly->s->layer_trees[ls->current.layer]->node);
	wd_event *ev = push_event(ly->s, WD_EV_LAYER_COMMIT, ly->id);
	if (!ev) return;
	ev->i[0] = (int32_t)ls->current.layer;
	ev->i[1] = (int32_t)ls->current.anchor;
	ev->i[2] = ls->current.exclusive_zone;
	ev->i[3] = (int32_t)ls->current.margin.top;
	ev->i[4] = (int32_t)ls->current.margin.right;
	ev->i[5] = (int32_t)ls->current.margin.bottom;
	ev->i[6] = (int32_t)ls->current.margin.left;
	ev->i[7] = (int32_t)ls->current.desired_width;
	ev->i[8] = (int32_t)ls->current.desired_height;
	ev->i[9] = (int32_t)ls->current.keyboard_interactive;
	ev->str[0] = dup_or_null(ls->namespace);
}

static void layer_map(struct wl_listener *l, void *data) {
	struct wd_layer *ly = wl_container_of(l, ly, map);
	wlr_scene_node_set_enabled(ly->owner.node, true);
	push_event(ly->s, WD_EV_LAYER_MAP, ly->id);
}

static void layer_unmap(struct wl_listener *l, void *data) {
	struct wd_layer *ly = wl_container_of(l, ly, unmap);
	wlr_scene_node_set_enabled(ly->owner.node, false);
	push_event(ly->s, WD_EV_LAYER_UNMAP, ly->id);
}

static void layer_destroy(struct wl_listener *l, void *data) {
	struct wd_layer *ly = wl_container_of(l, ly, destroy);
	push_event(ly->s, WD_EV_LAYER_DESTROY, ly->id);
	wl_list_remove(&ly->map.link);
	wl_list_remove(&ly->unmap.link);
	wl_list_remove(&ly->destroy.link);
	wl_list_remove(&ly->commit.link);
	wl_list_remove(&ly->link);
	wlr_scene_node_destroy(ly->owner.node);
	ly->ls->data = NULL;
	free(ly);
}

static void new_layer_surface(struct wl_listener *l, void *data) {
	wd_server *s = wl_container_of(l, s, new_layer_surface);
	struct wlr_layer_surface_v1 *ls = data;
	if (!ls->output) ls->output = s->output;
	struct wd_layer *ly = calloc(1, sizeof(*ly));
	if (!ly) {
		wlr_layer_surface_v1_destroy(ls);
		return;
	}
	ly->s = s;
	ly->ls = ls;
	ly->id = ++s->next_id;
	ly->owner.kind = OWNER_LAYER;
	unsigned layer = ls->current.layer <= ZWLR_LAYER_SHELL_V1_LAYER_OVERLAY ? ls->current.layer : 0;
	ly->owner.node = wlr_scene_subsurface_tree_create(&s->layer_trees[layer]->node, ls->surface);
	ly->owner.node->data = ly;
	wlr_scene_node_set_enabled(ly->owner.node, false);
	ls->data = ly;
	wl_list_insert(&s->layers, &ly->link);
	ly->map.notify = layer_map;
	wl_signal_add(&ls->events.map, &ly->map);
	ly->unmap.notify = layer_unmap;
	wl_signal_add(&ls->events.unmap, &ly->unmap);
	ly->destroy.notify = layer_destroy;
	wl_signal_add(&ls->events.destroy, &ly->destroy);
	ly->commit.notify = layer_commit;
	/* new_surface fires inside the initial commit, before the surface's commit signal: the
	 * listener just added reports that commit, so policy sends the first configure. */
	wl_signal_add(&ls->surface->events.commit, &ly->commit);
}

/* ---------- seat ---------- */

/* Copies the cursor image out of the client's buffer through wlr_buffer_begin_data_ptr_access,
 * as composing does: a client that shrinks its pool under the cursor gets a SIGBUS guard
 * (wl_shm_buffer_begin_access) instead of taking the desktop down. */
static void cursor_read(wd_server *s) {
	struct wlr_surface *surface = s->cursor_surface;
	struct wlr_client_buffer *cb = surface ? surface->buffer : NULL;
	if (s->cursor_buffer != (cb ? &cb->base : NULL)) {
		if (s->cursor_buffer) wlr_buffer_unlock(s->cursor_buffer);
		s->cursor_buffer = cb ? wlr_buffer_lock(&cb->base) : NULL;
	}
	struct wlr_buffer *buf = cb ? cb->source : NULL;
	if (!buf) return;
	void *ptr = NULL;
	uint32_t fmt = 0;
	size_t stride = 0;
	if (!wlr_buffer_begin_data_ptr_access(buf, WLR_BUFFER_DATA_PTR_ACCESS_READ, &ptr, &fmt, &stride)) return;
	int w = buf->width, h = buf->height;
	/* Only 32-bit formats are copied as 32-bit. */
	bool ok = (fmt == DRM_FORMAT_ARGB8888 || fmt == DRM_FORMAT_XRGB8888) && w > 0 && h > 0 && w <= MAX_CURSOR && h <= MAX_CURSOR &&
		stride >= (size_t)w * 4;
	if (ok) {
		const uint8_t *src = ptr;
		for (int y = 0; y < h; y++) memcpy(s->cursor_pixels + (size_t)y * w * 4, src + (size_t)y * stride, (size_t)w * 4);
	}
	wlr_buffer_end_data_ptr_access(buf);
	if (!ok) return;
	s->cursor_w = w;
	s->cursor_h = h;
	s->cursor_mode = WD_CURSOR_IMAGE;
	push_event(s, WD_EV_CURSOR, 0);
}

static void cursor_surface_commit(struct wl_listener *l, void *data) {
	wd_server *s = wl_container_of(l, s, cursor_commit);
	s->cursor_hx -= s->cursor_surface->current.dx;
	s->cursor_hy -= s->cursor_surface->current.dy;
	cursor_read(s);
}

static void cursor_forget_surface(wd_server *s) {
	if (s->cursor_buffer) wlr_buffer_unlock(s->cursor_buffer);
	s->cursor_buffer = NULL;
	if (!s->cursor_surface) return;
	wl_list_remove(&s->cursor_commit.link);
	wl_list_remove(&s->cursor_destroy.link);
	s->cursor_surface = NULL;
}

static void cursor_surface_destroy(struct wl_listener *l, void *data) {
	wd_server *s = wl_container_of(l, s, cursor_destroy);
	cursor_forget_surface(s);
	s->cursor_mode = WD_CURSOR_DEFAULT;
	push_event(s, WD_EV_CURSOR, 0);
}

static void set_cursor_mode(wd_server *s, int mode) {
	cursor_forget_surface(s);
	if (s->cursor_mode != mode) {
		s->cursor_mode = mode;
		push_event(s, WD_EV_CURSOR, 0);
	}
}

static void request_cursor(struct wl_listener *l, void *data) {
	wd_server *s = wl_container_of(l, s, request_cursor);
	struct wlr_seat_pointer_request_set_cursor_event *e = data;
	if (e->seat_client != s->seat->pointer_state.focused_client) return;
	if (!e->surface) {
		set_cursor_mode(s, WD_CURSOR_HIDDEN);
		return;
	}
	cursor_forget_surface(s);
	s->cursor_surface = e->surface;
	s->cursor_hx = e->hotspot_x;
	s->cursor_hy = e->hotspot_y;
	s->cursor_commit.notify = cursor_surface_commit;
	wl_signal_add(&e->surface->events.commit, &s->cursor_commit);
	s->cursor_destroy.notify = cursor_surface_destroy;
	wl_signal_add(&e->surface->events.destroy, &s->cursor_destroy);
	cursor_read(s);
}

static void request_selection(struct wl_listener *l, void *data) {
	wd_server *s = wl_container_of(l, s, request_selection);
	struct wlr_seat_request_set_selection_event *e = data;
	wlr_seat_set_selection(s->seat, e->source, e->serial);
}

static void request_primary_selection(struct wl_listener *l, void *data) {
	wd_server *s = wl_container_of(l, s, request_primary_selection);
	struct wlr_seat_request_set_primary_selection_event *e = data;
	wlr_seat_set_primary_selection(s->seat, e->source, e->serial);
}

static void keyboard_modifiers(struct wl_listener *l, void *data) {
	wd_server *s = wl_container_of(l, s, keyboard_modifiers);
	wlr_seat_set_keyboard(s->seat, s->keyboard);
	wlr_seat_keyboard_notify_modifiers(s->seat, &s->keyboard->keyboard->modifiers);
}

static void new_decoration(struct wl_listener *l, void *data) {
	/* Windows are maximized on a thin-client desktop: no client title bars. */
	struct wlr_xdg_toplevel_decoration_v1 *d = data;
	wlr_xdg_toplevel_decoration_v1_set_mode(d, WLR_XDG_TOPLEVEL_DECORATION_V1_MODE_SERVER_SIDE);
}

static void request_activate(struct wl_listener *l, void *data) {
	wd_server *s = wl_container_of(l, s, request_activate);
	struct wlr_xdg_activation_v1_request_activate_event *e = data;
	struct owner *o = owner_of_surface(e->surface);
	if (o && o->kind == OWNER_VIEW) push_event(s, WD_EV_ACTIVATE, ((struct wd_view *)o)->id);
}

/* ---------- lifecycle ---------- */

static void fail(char *err, size_t errlen, const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static void output_config_publish(wd_server *s);
static void output_config_refuse(struct wl_listener *l, void *data);

wd_server *wd_server_create(const wd_config *cfg, char *err, size_t errlen) {
	if (cfg->width < 1 || cfg->height < 1 || cfg->width > cfg->max_width || cfg->height > cfg->max_height) {
		fail(err, errlen, "output size %dx%d outside 1x1..%dx%d", cfg->width, cfg->height, cfg->max_width, cfg->max_height);
		return NULL;
	}
	/* wlroots' own log (plain lines on stderr) only when debugging: errors otherwise. */
	const char *level = getenv("WAYDESK_LOG_LEVEL");
	wlr_log_init(level && !strcmp(level, "debug") ? WLR_DEBUG : WLR_ERROR, NULL);
	wd_server *s = calloc(1, sizeof(*s));
	if (!s) {
		fail(err, errlen, "out of memory");
		return NULL;
	}
	s->cfg_fb_alloc = cfg->fb_alloc;
	s->max_width = cfg->max_width;
	s->max_height = cfg->max_height;
	s->cfg_fb_release = cfg->fb_release;
	s->cfg_fb_ctx = cfg->fb_ctx;
	wl_list_init(&s->views);
	wl_list_init(&s->layers);
	pixman_region32_init(&s->pending_damage);
	pixman_region32_init(&s->unsent);
	s->display = wl_display_create();
	if (!s->display) {
		fail(err, errlen, "wl_display_create failed");
		goto error;
	}
	s->loop = wl_display_get_event_loop(s->display);
	s->backend = wlr_headless_backend_create(s->display);
	if (!s->backend) {
		fail(err, errlen, "could not create the wlroots headless backend");
		goto error;
	}
	s->renderer = cfg->pixman ? wlr_pixman_renderer_create() : wlr_renderer_autocreate(s->backend);
	if (!s->renderer) {
		fail(err, errlen, "could not create a %s renderer", cfg->pixman ? "pixman" : "GPU");
		goto error;
	}
	s->renderer_name = wlr_renderer_is_pixman(s->renderer) ? "pixman" : "gles2";
	wlr_renderer_init_wl_display(s->renderer, s->display);
	s->allocator = wlr_allocator_autocreate(s->backend, s->renderer);
	if (!s->allocator) {
		fail(err, errlen, "could not create a buffer allocator");
		goto error;
	}
	s->compositor = wlr_compositor_create(s->display, s->renderer);
	wlr_data_device_manager_create(s->display);
	wlr_primary_selection_v1_device_manager_create(s->display);
	wlr_data_control_manager_v1_create(s->display);
	wlr_viewporter_create(s->display);
	wlr_screencopy_manager_v1_create(s->display);
	/* panels list, focus and close windows through it; what they ask goes to the policy */
	s->toplevel_list = wlr_foreign_toplevel_manager_v1_create(s->display);

	s->layout = wlr_output_layout_create();
	wlr_xdg_output_manager_v1_create(s->display, s->layout);

	s->scene = wlr_scene_create();
	float bg[4] = {0.18f, 0.20f, 0.25f, 1.0f};
	/* Under everything: keeps damage flowing through composition (no direct scanout). */
	s->background = wlr_scene_rect_create(&s->scene->node, cfg->width, cfg->height, bg);
	s->layer_trees[0] = wlr_scene_tree_create(&s->scene->node);
	s->layer_trees[1] = wlr_scene_tree_create(&s->scene->node);
	s->view_tree = wlr_scene_tree_create(&s->scene->node);
	s->unmanaged_tree = wlr_scene_tree_create(&s->scene->node);
	s->layer_trees[2] = wlr_scene_tree_create(&s->scene->node);
	s->layer_trees[3] = wlr_scene_tree_create(&s->scene->node);
	struct wlr_presentation *presentation = wlr_presentation_create(s->display, s->backend);
	wlr_scene_set_presentation(s->scene, presentation);
	s->presentation = presentation;

	s->xdg_shell = wlr_xdg_shell_create(s->display);
	s->new_xdg_surface.notify = new_xdg_surface;
	wl_signal_add(&s->xdg_shell->events.new_surface, &s->new_xdg_surface);
	s->layer_shell = wlr_layer_shell_v1_create(s->display);
	s->new_layer_surface.notify = new_layer_surface;
	wl_signal_add(&s->layer_shell->events.new_surface, &s->new_layer_surface);
	struct wlr_xdg_decoration_manager_v1 *deco = wlr_xdg_decoration_manager_v1_create(s->display);
	s->new_decoration.notify = new_decoration;
	wl_signal_add(&deco->events.new_toplevel_decoration, &s->new_decoration);
	struct wlr_xdg_activation_v1 *act = wlr_xdg_activation_v1_create(s->display);
	s->request_activate.notify = request_activate;
	wl_signal_add(&act->events.request_activate, &s->request_activate);

	s->seat = wlr_seat_create(s->display, "seat0");
	s->request_cursor.notify = request_cursor;
	wl_signal_add(&s->seat->events.request_set_cursor, &s->request_cursor);
	s->request_selection.notify = request_selection;
	wl_signal_add(&s->seat->events.request_set_selection, &s->request_selection);
	s->request_primary_selection.notify = request_primary_selection;
	wl_signal_add(&s->seat->events.request_set_primary_selection, &s->request_primary_selection);
	wlr_seat_set_capabilities(s->seat, WL_SEAT_CAPABILITY_KEYBOARD | WL_SEAT_CAPABILITY_POINTER);

	s->keyboard = wlr_headless_add_input_device(s->backend, WLR_INPUT_DEVICE_KEYBOARD);
	if (!s->keyboard) {
		fail(err, errlen, "could not create the virtual keyboard");
		goto error;
	}
	if (!wd_set_keymap(s, NULL, NULL, "us", NULL, NULL)) {
		fail(err, errlen, "could not compile the default 'us' xkb keymap (is xkb-data installed?)");
		goto error;
	}
	wlr_keyboard_set_repeat_info(s->keyboard->keyboard, 25, 600);
	s->keyboard_modifiers.notify = keyboard_modifiers;
	wl_signal_add(&s->keyboard->keyboard->events.modifiers, &s->keyboard_modifiers);
	wlr_seat_set_keyboard(s->seat, s->keyboard);

	if (cfg->xwayland && !xwl_start(s, err, errlen)) goto error;

	if (cfg->socket_name && cfg->socket_name[0]) {
		if (wl_display_add_socket(s->display, cfg->socket_name) != 0) {
			fail(err, errlen, "could not create Wayland socket '%s' in $XDG_RUNTIME_DIR (in use, or the directory is missing)",
				cfg->socket_name);
			goto error;
		}
		snprintf(s->socket, sizeof(s->socket), "%s", cfg->socket_name);
	} else {
		const char *name = wl_display_add_socket_auto(s->display);
		if (!name) {
			fail(err, errlen, "could not create a Wayland socket in $XDG_RUNTIME_DIR");
			goto error;
		}
		snprintf(s->socket, sizeof(s->socket), "%s", name);
	}

	if (!wlr_backend_start(s->backend)) {
		fail(err, errlen, "could not start the headless backend");
		goto error;
	}
	s->output = wlr_headless_add_output(s->backend, (unsigned)cfg->width, (unsigned)cfg->height);
	if (!s->output) {
		fail(err, errlen, "could not create the headless output");
		goto error;
	}
	wlr_output_init_render(s->output, s->allocator, s->renderer);
	wlr_output_set_custom_mode(s->output, cfg->width, cfg->height, cfg->refresh_mhz);
	wlr_output_enable(s->output, true);
	if (!wlr_output_commit(s->output)) {
		fail(err, errlen, "could not enable a %dx%d output", cfg->width, cfg->height);
		goto error;
	}
	wlr_output_layout_add_auto(s->layout, s->output);
	s->scene_output = wlr_scene_output_create(s->scene, s->output);
	s->own_compose = wlr_renderer_is_pixman(s->renderer) && !getenv("WAYDESK_WLROOTS_COMPOSE");
	wlr_output_create_global(s->output);
	s->output_manager = wlr_output_manager_v1_create(s->display);
	s->output_apply.notify = output_config_refuse;
	wl_signal_add(&s->output_manager->events.apply, &s->output_apply);
	s->output_test.notify = output_config_refuse;
	wl_signal_add(&s->output_manager->events.test, &s->output_test);
	output_config_publish(s);
	s->output_frame.notify = output_frame;
	wl_signal_add(&s->output->events.frame, &s->output_frame);
	s->output_precommit.notify = output_precommit;
	wl_signal_add(&s->output->events.precommit, &s->output_precommit);
	s->output_commit.notify = output_commit;
	wl_signal_add(&s->output->events.commit, &s->output_commit);
	s->output_destroy.notify = output_destroy;
	wl_signal_add(&s->output->events.destroy, &s->output_destroy);
	{
		struct wd_headless_output_0_15 *h = (struct wd_headless_output_0_15 *)s->output;
		int delay = cfg->refresh_mhz > 0 ? 1000000 / cfg->refresh_mhz : 0;
		if (wlr_output_is_headless(s->output) && h->backend == (void *)s->backend && h->frame_delay == delay && h->frame_timer) s->frame_timer = h->frame_timer;
		else wlr_log(WLR_ERROR, "this wlroots' headless output is not laid out as 0.15's: the frame clock cannot stop when idle");
	}
	if (!fb_alloc(s, s->output->width, s->output->height)) {
		fail(err, errlen, "out of memory for a %dx%d picture", cfg->width, cfg->height);
		goto error;
	}
	return s;

error:
	wd_server_destroy(s);
	return NULL;
}

void wd_server_destroy(wd_server *s) {
	if (!s) return;
	/* Before the clients go: Xwayland is one of them, and its windows are views. */
	xwl_stop(s);
	if (s->display) wl_display_destroy_clients(s->display);
	cursor_forget_surface(s);
	if (s->pending_buffer) wlr_buffer_unlock(s->pending_buffer);
	s->pending_buffer = NULL;
	if (s->frame_stop) wl_event_source_remove(s->frame_stop);
	s->frame_stop = NULL;
	s->frame_timer = NULL; /* the output's, destroyed with it */
	if (s->backend) wlr_backend_destroy(s->backend); /* destroys the output and input devices */
	if (s->display) wl_display_destroy(s->display);  /* globals, sockets and their lock files */
	/* wl_display_destroy does not free these (ASan shows them leaking otherwise). */
	if (s->scene) wlr_scene_node_destroy(&s->scene->node);
	if (s->layout) wlr_output_layout_destroy(s->layout);
	if (s->allocator) wlr_allocator_destroy(s->allocator);
	if (s->renderer) wlr_renderer_destroy(s->renderer);
	for (size_t i = s->events_head; i < s->nevents; i++) wd_event_free(&s->events[i]);
	free(s->events);
	fb_free(s);
	free(s->scratch);
	free(s->tile_seen);
	pixman_region32_fini(&s->pending_damage);
	pixman_region32_fini(&s->unsent);
	free(s);
}

int wd_server_fd(wd_server *s) {
	return wl_event_loop_get_fd(s->loop);
}

const char *wd_server_socket(wd_server *s) {
	return s->socket;
}

const char *wd_server_renderer(wd_server *s) {
	return s->renderer_name;
}

void wd_server_dispatch(wd_server *s) {
	wl_event_loop_dispatch(s->loop, 0);
}

void wd_server_flush(wd_server *s) {
	wl_event_loop_dispatch_idle(s->loop);
	wl_display_flush_clients(s->display);
}

/* ---------- output ---------- */

/* Tools (wlr-randr, kanshi) read the output's mode and size; they cannot set them: the output's
 * size is the terminal's screen, and follows it. */
static void output_config_publish(wd_server *s) {
	if (!s->output_manager || !s->output) return;
	struct wlr_output_configuration_v1 *cfg = wlr_output_configuration_v1_create();
	if (!cfg) return;
	if (!wlr_output_configuration_head_v1_create(cfg, s->output)) {
		wlr_output_configuration_v1_destroy(cfg);
		return;
	}
	wlr_output_manager_v1_set_configuration(s->output_manager, cfg);
}

static void output_config_refuse(struct wl_listener *l, void *data) {
	struct wlr_output_configuration_v1 *cfg = data;
	wlr_log(WLR_INFO, "refused an output configuration: the output's size follows the terminal");
	wlr_output_configuration_v1_send_failed(cfg);
	wlr_output_configuration_v1_destroy(cfg);
}

bool wd_output_set_mode(wd_server *s, int width, int height, int refresh_mhz) {
	if (!s->output || width < 1 || height < 1 || width > s->max_width || height > s->max_height) return false;
	/* The same mode again changes nothing: a new (zeroed) picture would stay black, since no
	 * client redraws for a size it already has. */
	if (s->output->width == width && s->output->height == height && s->output->refresh == refresh_mhz) return true;
	wlr_output_set_custom_mode(s->output, width, height, refresh_mhz);
	if (!wlr_output_commit(s->output)) {
		wlr_output_rollback(s->output);
		return false;
	}
	wlr_scene_rect_set_size(s->background, width, height);
	output_config_publish(s);
	return fb_alloc(s, s->output->width, s->output->height);
}

void wd_output_get(wd_server *s, int *width, int *height, int *refresh_mhz) {
	*width = s->output ? s->output->width : 0;
	*height = s->output ? s->output->height : 0;
	*refresh_mhz = s->output ? s->output->refresh : 0;
}

/* ---------- window operations ---------- */

bool wd_view_configure(wd_server *s, uint32_t id, int width, int height, bool maximized, bool fullscreen) {
	struct wd_view *v = view_by_id(s, id);
	if (!v) return false;
	if (v->xw) {
		xwl_configure(v, width, height, maximized, fullscreen);
		return true;
	}
	wlr_xdg_toplevel_set_maximized(v->xdg, maximized);
	wlr_xdg_toplevel_set_fullscreen(v->xdg, fullscreen);
	/* Tiled edges stop clients (GTK) from drawing shadows around a maximized window. */
	wlr_xdg_toplevel_set_tiled(v->xdg, maximized || fullscreen ? WLR_EDGE_TOP | WLR_EDGE_BOTTOM | WLR_EDGE_LEFT | WLR_EDGE_RIGHT : WLR_EDGE_NONE);
	wlr_xdg_toplevel_set_size(v->xdg, (uint32_t)(width > 0 ? width : 0), (uint32_t)(height > 0 ? height : 0));
	return true;
}

void wd_set_toplevel_default(wd_server *s, int width, int height) {
	s->default_w = width > 0 ? width : 0;
	s->default_h = height > 0 ? height : 0;
}

bool wd_view_set_position(wd_server *s, uint32_t id, int x, int y) {
	struct wd_view *v = view_by_id(s, id);
	if (v) {
		v->x = x;
		v->y = y;
		view_place(v);
		return true;
	}
	return false;
}

bool wd_view_raise(wd_server *s, uint32_t id) {
	struct wd_view *v = view_by_id(s, id);
	if (!v) return false;
	wlr_scene_node_raise_to_top(v->owner.node);
	return true;
}

bool wd_view_set_minimized(wd_server *s, uint32_t id, bool minimized) {
	struct wd_view *v = view_by_id(s, id);
	if (!v || v->unmanaged) return false;
	/* A hidden node is neither drawn, nor under the pointer, nor sent frame callbacks. */
	wlr_scene_node_set_enabled(v->owner.node, !minimized);
	if (v->listed) wlr_foreign_toplevel_handle_v1_set_minimized(v->listed, minimized);
	if (v->xw) xwl_set_minimized(v, minimized);
	return true;
}

bool wd_view_close(wd_server *s, uint32_t id) {
	struct wd_view *v = view_by_id(s, id);
	if (v) {
		if (v->xw) xwl_close(v);
		else wlr_xdg_toplevel_send_close(v->xdg);
		return true;
	}
	struct wd_layer *ly = layer_by_id(s, id);
	if (ly) {
		wlr_layer_surface_v1_destroy(ly->ls);
		return true;
	}
	return false;
}

bool wd_view_geometry(wd_server *s, uint32_t id, wd_rect *out) {
	struct wd_view *v = view_by_id(s, id);
	if (v) {
		struct wlr_box g = v->geo;
		if (!v->xw) wlr_xdg_surface_get_geometry(v->xdg, &g);
		*out = (wd_rect){v->x, v->y, g.width, g.height};
		return true;
	}
	struct wd_layer *ly = layer_by_id(s, id);
	if (ly) {
		*out = (wd_rect){ly->owner.node->state.x, ly->owner.node->state.y, (int32_t)ly->ls->current.actual_width,
			(int32_t)ly->ls->current.actual_height};
		return true;
	}
	return false;
}

bool wd_focus(wd_server *s, uint32_t id) {
	struct wlr_surface *target = NULL;
	struct wd_view *v = id ? view_by_id(s, id) : NULL;
	struct wd_layer *ly = id && !v ? layer_by_id(s, id) : NULL;
	if (id && !v && !ly) return false;
	s->focus_id = id;
	if (v) target = view_surface(v);
	if (ly) target = ly->ls->surface;
	struct wlr_surface *prev = s->seat->keyboard_state.focused_surface;
	if (prev == target) return true;
	struct owner *po = owner_of_surface(prev);
	if (po && po->kind == OWNER_VIEW) view_set_activated((struct wd_view *)po, false);
	if (!target) {
		wlr_seat_keyboard_notify_clear_focus(s->seat);
		return true;
	}
	if (v) view_set_activated(v, true);
	struct wlr_keyboard *kb = s->keyboard->keyboard;
	wlr_seat_keyboard_notify_enter(s->seat, target, kb->keycodes, kb->num_keycodes, &kb->modifiers);
	return true;
}

static struct wlr_surface *surface_at(wd_server *s, double x, double y, double *sx, double *sy, struct owner **owner) {
	struct wlr_scene_node *node = wlr_scene_node_at(&s->scene->node, x, y, sx, sy);
	if (!node || node->type != WLR_SCENE_NODE_SURFACE) return NULL;
	struct wlr_surface *surface = wlr_scene_surface_from_node(node)->surface;
	if (owner) {
		*owner = NULL;
		for (struct wlr_scene_node *n = node; n; n = n->parent) {
			struct owner *o = n->data;
			if (o && (o->kind == OWNER_VIEW || o->kind == OWNER_LAYER) && o->node == n) {
				*owner = o;
				break;
			}
		}
	}
	return surface;
}

uint32_t wd_view_at(wd_server *s, double x, double y) {
	double sx, sy;
	struct owner *o = NULL;
	if (!surface_at(s, x, y, &sx, &sy, &o) || !o) return 0;
	if (o->kind == OWNER_VIEW) return ((struct wd_view *)o)->unmanaged ? 0 : ((struct wd_view *)o)->id;
	return ((struct wd_layer *)o)->id;
}

bool wd_layer_configure(wd_server *s, uint32_t id, int x, int y, int width, int height) {
	struct wd_layer *ly = layer_by_id(s, id);
	if (!ly) return false;
	wlr_scene_node_set_position(ly->owner.node, x, y);
	wlr_layer_surface_v1_configure(ly->ls, (uint32_t)width, (uint32_t)height);
	return true;
}

/* ---------- input ---------- */

bool wd_set_keymap(wd_server *s, const char *rules, const char *model, const char *layout, const char *variant,
	const char *options) {
	struct xkb_context *ctx = xkb_context_new(XKB_CONTEXT_NO_FLAGS);
	if (!ctx) return false;
	struct xkb_rule_names names = {.rules = rules, .model = model, .layout = layout, .variant = variant, .options = options};
	struct xkb_keymap *km = xkb_keymap_new_from_names(ctx, &names, XKB_KEYMAP_COMPILE_NO_FLAGS);
	bool ok = km && wlr_keyboard_set_keymap(s->keyboard->keyboard, km);
	xkb_keymap_unref(km);
	xkb_context_unref(ctx);
	return ok;
}

int wd_key(wd_server *s, uint32_t keycode, bool pressed, uint32_t time_msec, uint32_t *syms_out, int max_syms,
	uint32_t *mods_out) {
	struct wlr_keyboard *kb = s->keyboard->keyboard;
	struct wlr_event_keyboard_key ev = {
		.time_msec = time_msec,
		.keycode = keycode,
		.update_state = true,
		.state = pressed ? WL_KEYBOARD_KEY_STATE_PRESSED : WL_KEYBOARD_KEY_STATE_RELEASED,
	};
	/* Read the syms with the modifiers as they were when the key went down. */
	const xkb_keysym_t *syms = NULL;
	int n = xkb_state_key_get_syms(kb->xkb_state, keycode + 8, &syms);
	*mods_out = wlr_keyboard_get_modifiers(kb);
	int count = n < max_syms ? n : max_syms;
	for (int i = 0; i < count; i++) syms_out[i] = syms[i];
	wlr_keyboard_notify_key(kb, &ev);
	return count;
}

void wd_key_forward(wd_server *s, uint32_t keycode, bool pressed, uint32_t time_msec) {
	wlr_seat_set_keyboard(s->seat, s->keyboard);
	wlr_seat_keyboard_notify_key(s->seat, time_msec, keycode,
		pressed ? WL_KEYBOARD_KEY_STATE_PRESSED : WL_KEYBOARD_KEY_STATE_RELEASED);
}

void wd_pointer_motion(wd_server *s, double x, double y, uint32_t time_msec) {
	if (x < 0) x = 0;
	if (y < 0) y = 0;
	if (x > s->fb_w - 1) x = s->fb_w - 1;
	if (y > s->fb_h - 1) y = s->fb_h - 1;
	s->px = x;
	s->py = y;
	struct wlr_seat *seat = s->seat;
	if (seat->pointer_state.button_count > 0 && seat->pointer_state.focused_surface) {
		/* Implicit grab: while a button is held, motion stays with the pressed surface. */
		wlr_seat_pointer_notify_motion(seat, time_msec, x - s->grab_dx, y - s->grab_dy);
		wlr_seat_pointer_notify_frame(seat);
		return;
	}
	double sx, sy;
	struct wlr_surface *surface = surface_at(s, x, y, &sx, &sy, NULL);
	if (!surface) {
		wlr_seat_pointer_notify_clear_focus(seat);
		set_cursor_mode(s, WD_CURSOR_DEFAULT);
	} else {
		wlr_seat_pointer_notify_enter(seat, surface, sx, sy);
		wlr_seat_pointer_notify_motion(seat, time_msec, sx, sy);
		s->grab_dx = x - sx;
		s->grab_dy = y - sy;
	}
	wlr_seat_pointer_notify_frame(seat);
}

void wd_pointer_button(wd_server *s, uint32_t button, bool pressed, uint32_t time_msec) {
	wlr_seat_pointer_notify_button(s->seat, time_msec, button,
		pressed ? WLR_BUTTON_PRESSED : WLR_BUTTON_RELEASED);
	wlr_seat_pointer_notify_frame(s->seat);
}

void wd_pointer_axis(wd_server *s, bool horizontal, double delta, int32_t discrete, uint32_t time_msec) {
	wlr_seat_pointer_notify_axis(s->seat, time_msec,
		horizontal ? WLR_AXIS_ORIENTATION_HORIZONTAL : WLR_AXIS_ORIENTATION_VERTICAL, delta, discrete,
		WLR_AXIS_SOURCE_WHEEL);
	wlr_seat_pointer_notify_frame(s->seat);
}

void wd_cursor_get(wd_server *s, wd_cursor *out) {
	out->mode = s->cursor_mode;
	out->width = s->cursor_mode == WD_CURSOR_IMAGE ? s->cursor_w : 0;
	out->height = s->cursor_mode == WD_CURSOR_IMAGE ? s->cursor_h : 0;
	out->hotspot_x = s->cursor_hx;
	out->hotspot_y = s->cursor_hy;
	out->x = s->px;
	out->y = s->py;
	out->pixels = s->cursor_pixels;
}

/* ---------- frames ---------- */

bool wd_frames_set_paused(wd_server *s, bool paused) {
	if (s->paused == paused) return false;
	s->paused = paused;
	/* Resuming: compose what piled up and release the held frame callbacks now. */
	if (!paused && s->output) wlr_output_schedule_frame(s->output);
	return true;
}

void wd_picture_release(wd_server *s) {
	fb_free(s);
	free(s->scratch);
	s->scratch = NULL;
	free(s->tile_seen);
	s->tile_seen = NULL;
	s->fb_w = s->fb_h = 0;
	pixman_region32_clear(&s->unsent);
	/* The output's render buffers: wlroots makes a new swapchain at the next frame. */
	if (s->output && s->output->swapchain && !s->output->back_buffer) {
		wlr_swapchain_destroy(s->output->swapchain);
		s->output->swapchain = NULL;
	}
	/* give the freed megabytes back to the system, not to malloc's free lists */
	malloc_trim(0);
}

bool wd_picture_restore(wd_server *s) {
	if (!s->output || !s->scene_output) return false;
	if (!s->fb && !fb_alloc(s, s->output->width, s->output->height)) return false;
	/* the new picture is drawn whole, from the clients' buffers */
	wlr_output_damage_add_whole(s->scene_output->damage);
	wlr_output_schedule_frame(s->output);
	return true;
}

size_t wd_frame_pending(wd_server *s) {
	int n = 0;
	if (!pixman_region32_not_empty(&s->unsent)) return 0;
	pixman_region32_rectangles(&s->unsent, &n);
	return (size_t)n;
}

bool wd_frame_take(wd_server *s, wd_rect *rects, size_t max_rects, wd_frame_meta *meta) {
	int n = 0;
	pixman_box32_t *b = pixman_region32_rectangles(&s->unsent, &n);
	if (n <= 0 || (size_t)n > max_rects) return false;
	for (int i = 0; i < n; i++) rects[i] = (wd_rect){b[i].x1, b[i].y1, b[i].x2 - b[i].x1, b[i].y2 - b[i].y1};
	meta->seq = ++s->seq;
	meta->first_damage_ns = s->first_damage_ns;
	meta->capture_ns = s->last_damage_ns;
	meta->commit_ns = s->unsent_commit_ns;
	meta->commit_last_ns = s->unsent_commit_last_ns;
	meta->compose_ns = s->unsent_compose_ns;
	meta->width = s->fb_w;
	meta->height = s->fb_h;
	pixman_region32_clear(&s->unsent);
	return true;
}

void wd_stats_get(wd_server *s, wd_stats *out) {
	*out = s->stats;
}
