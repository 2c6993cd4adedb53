/*
 * X11 programs through Xwayland. wlroots starts the X server on the first X11 client (lazy,
 * as sway does) and runs the X window manager; this file turns its windows into views that
 * policy manages like xdg toplevels. Override-redirect windows (menus, tooltips) are not
 * managed: they go where they ask, above the windows, and never into the window list.
 */
#include <stdlib.h>
#include <wlr/types/wlr_foreign_toplevel_management_v1.h>
#include <wlr/types/wlr_seat.h>
#include <wlr/util/log.h>
#include <wlr/xwayland.h>

#include "core-internal.h"

struct wlr_surface *xwl_surface(struct wd_view *v) {
	return v->xw->surface;
}

struct wd_view *xwl_view_of_surface(struct wlr_surface *surface) {
	if (!surface || !wlr_surface_is_xwayland_surface(surface)) return NULL;
	struct wlr_xwayland_surface *xw = wlr_xwayland_surface_from_wlr_surface(surface);
	return xw ? xw->data : NULL;
}

const char *xwl_title(struct wd_view *v) {
	return v->xw->title;
}

/* WM_CLASS's class part names the program (XTerm, Gimp): what panels group and show. */
const char *xwl_class(struct wd_view *v) {
	return v->xw->class;
}

bool xwl_maximized(struct wd_view *v) {
	return v->xw->maximized_horz && v->xw->maximized_vert;
}

bool xwl_fullscreen(struct wd_view *v) {
	return v->xw->fullscreen;
}

struct wd_view *xwl_parent(struct wd_view *v) {
	struct wlr_xwayland_surface *p = v->xw->parent;
	struct wd_view *pv = p ? p->data : NULL;
	return pv && !pv->unmanaged ? pv : NULL;
}

static uint16_t clamp_size(int want, uint16_t own) {
	int n = want > 0 ? want : own;
	return (uint16_t)(n < 1 ? 1 : n > 32767 ? 32767 : n);
}

/* Tells the X client where its window is and how large, as an X window manager does. */
void xwl_send_position(struct wd_view *v) {
	if (v->unmanaged) return;
	wlr_xwayland_surface_configure(v->xw, (int16_t)v->x, (int16_t)v->y, clamp_size(v->want_w, v->xw->width),
		clamp_size(v->want_h, v->xw->height));
}

void xwl_configure(struct wd_view *v, int width, int height, bool maximized, bool fullscreen) {
	v->want_w = width > 0 ? width : 0;
	v->want_h = height > 0 ? height : 0;
	wlr_xwayland_surface_set_maximized(v->xw, maximized);
	wlr_xwayland_surface_set_fullscreen(v->xw, fullscreen);
	xwl_send_position(v);
}

void xwl_activate(struct wd_view *v, bool activated) {
	wlr_xwayland_surface_activate(v->xw, activated);
	if (activated) wlr_xwayland_surface_restack(v->xw, NULL, XCB_STACK_MODE_ABOVE);
}

/* WM_STATE Iconic, as an X window manager says it */
void xwl_set_minimized(struct wd_view *v, bool minimized) {
	wlr_xwayland_surface_set_minimized(v->xw, minimized);
}

void xwl_close(struct wd_view *v) {
	wlr_xwayland_surface_close(v->xw);
}

/* What TOPLEVEL_NEW and TOPLEVEL_MAP both carry: class, title, size hints, parent. */
static void fill_window(struct wd_view *v, wd_event *ev) {
	ev->str[0] = dup_or_null(v->xw->class);
	ev->str[1] = dup_or_null(v->xw->title);
	struct wd_view *p = xwl_parent(v);
	ev->parent = p ? p->id : 0;
	struct wlr_xwayland_surface_size_hints *h = v->xw->size_hints;
	if (!h) return;
	ev->i[4] = h->min_width > 0 ? h->min_width : 0;
	ev->i[5] = h->min_height > 0 ? h->min_height : 0;
	ev->i[6] = h->max_width > 0 ? h->max_width : 0;
	ev->i[7] = h->max_height > 0 ? h->max_height : 0;
}

static void xw_commit(struct wl_listener *l, void *data) {
	struct wd_view *v = wl_container_of(l, v, commit);
	wd_server *s = v->s;
	if (!s->commit_ns) s->commit_ns = now_ns();
	s->commit_last_ns = now_ns();
	struct wlr_surface *surface = v->xw->surface;
	if (v->unmanaged || !surface) return;
	int w = surface->current.width, h = surface->current.height;
	if (w == v->geo.width && h == v->geo.height) return;
	v->geo.width = w;
	v->geo.height = h;
	wd_event *ev = push_event(s, WD_EV_TOPLEVEL_SIZE, v->id);
	if (ev) {
		ev->i[0] = w;
		ev->i[1] = h;
	}
}

static void xw_map(struct wl_listener *l, void *data) {
	struct wd_view *v = wl_container_of(l, v, map);
	wd_server *s = v->s;
	struct wlr_xwayland_surface *xw = v->xw;
	/* A window may turn override-redirect while unmapped: decide at each map. */
	v->unmanaged = xw->override_redirect;
	v->mapped = true;
	wlr_scene_node_reparent(v->owner.node, &(v->unmanaged ? s->unmanaged_tree : s->view_tree)->node);
	v->content = wlr_scene_subsurface_tree_create(v->owner.node, xw->surface);
	v->commit.notify = xw_commit;
	wl_signal_add(&xw->surface->events.commit, &v->commit);
	v->geo = (struct wlr_box){0, 0, xw->surface->current.width, xw->surface->current.height};
	if (v->unmanaged) {
		v->x = xw->x;
		v->y = xw->y;
		wlr_scene_node_set_position(v->owner.node, v->x, v->y);
		wlr_scene_node_raise_to_top(v->owner.node);
		/* Dropdowns of some toolkits read the keyboard themselves; give it back when they go. */
		if (wlr_xwayland_or_surface_wants_focus(xw)) {
			struct wlr_keyboard *kb = s->keyboard->keyboard;
			wlr_seat_keyboard_notify_enter(s->seat, xw->surface, kb->keycodes, kb->num_keycodes, &kb->modifiers);
		}
		return;
	}
	v->x = xw->x;
	v->y = xw->y;
	wlr_scene_node_set_position(v->owner.node, v->x, v->y);
	/* To policy, an X11 window is new when it maps: X has no configure before the first map. */
	wd_event *ev = push_event(s, WD_EV_TOPLEVEL_NEW, v->id);
	if (ev) fill_window(v, ev);
	view_list(v);
	ev = push_event(s, WD_EV_TOPLEVEL_MAP, v->id);
	if (!ev) return;
	fill_window(v, ev);
	ev->i[2] = v->geo.width;
	ev->i[3] = v->geo.height;
}

static void xw_unmap(struct wl_listener *l, void *data) {
	struct wd_view *v = wl_container_of(l, v, unmap);
	wd_server *s = v->s;
	v->mapped = false;
	wl_list_remove(&v->commit.link);
	wl_list_init(&v->commit.link);
	struct wlr_surface *surface = v->xw->surface;
	bool had_keyboard = surface && s->seat->keyboard_state.focused_surface == surface;
	if (v->content) wlr_scene_node_destroy(v->content);
	v->content = NULL;
	if (v->unmanaged) {
		if (had_keyboard) wd_focus(s, s->focus_id == v->id ? 0 : s->focus_id);
		return;
	}
	view_unlist(v);
	push_event(s, WD_EV_TOPLEVEL_UNMAP, v->id);
}

static void xw_destroy(struct wl_listener *l, void *data) {
	struct wd_view *v = wl_container_of(l, v, destroy);
	wd_server *s = v->s;
	view_unlist(v);
	if (!v->unmanaged) push_event(s, WD_EV_TOPLEVEL_DESTROY, v->id);
	struct wl_listener *ls[] = {&v->map, &v->unmap, &v->destroy, &v->commit, &v->set_title, &v->set_app_id, &v->set_parent,
		&v->req_maximize, &v->req_fullscreen, &v->req_minimize, &v->req_move, &v->req_resize, &v->req_configure,
		&v->req_activate, &v->set_geometry};
	for (size_t i = 0; i < sizeof(ls) / sizeof(ls[0]); i++) wl_list_remove(&ls[i]->link);
	wl_list_remove(&v->link);
	wlr_scene_node_destroy(v->owner.node);
	v->xw->data = NULL;
	free(v);
}

static void xw_title(struct wl_listener *l, void *data) {
	struct wd_view *v = wl_container_of(l, v, set_title);
	if (v->unmanaged || !v->mapped) return;
	if (v->listed && v->xw->title) wlr_foreign_toplevel_handle_v1_set_title(v->listed, v->xw->title);
	if (v->listed && v->xw->class) wlr_foreign_toplevel_handle_v1_set_app_id(v->listed, v->xw->class);
	wd_event *ev = push_event(v->s, WD_EV_TOPLEVEL_TITLE, v->id);
	if (!ev) return;
	ev->str[0] = dup_or_null(v->xw->class);
	ev->str[1] = dup_or_null(v->xw->title);
}

static void xw_class(struct wl_listener *l, void *data) {
	struct wd_view *v = wl_container_of(l, v, set_app_id);
	xw_title(&v->set_title, data);
}

static void xw_parent(struct wl_listener *l, void *data) {
	struct wd_view *v = wl_container_of(l, v, set_parent);
	if (v->unmanaged || !v->mapped) return;
	wd_event *ev = push_event(v->s, WD_EV_TOPLEVEL_PARENT, v->id);
	if (!ev) return;
	struct wd_view *p = xwl_parent(v);
	ev->parent = p ? p->id : 0;
}

/* Before it maps an X11 window places itself; after, only a floating one sizes itself (a
 * maximized or fullscreen one is told its size again, as policy set it). */
static void xw_req_configure(struct wl_listener *l, void *data) {
	struct wd_view *v = wl_container_of(l, v, req_configure);
	struct wlr_xwayland_surface_configure_event *e = data;
	if (!v->mapped || v->unmanaged) {
		wlr_xwayland_surface_configure(v->xw, e->x, e->y, e->width, e->height);
		return;
	}
	wlr_xwayland_surface_configure(v->xw, (int16_t)v->x, (int16_t)v->y, v->want_w > 0 ? clamp_size(v->want_w, 1) : e->width,
		v->want_h > 0 ? clamp_size(v->want_h, 1) : e->height);
}

static void xw_geometry(struct wl_listener *l, void *data) {
	struct wd_view *v = wl_container_of(l, v, set_geometry);
	if (!v->unmanaged || !v->mapped) return;
	v->x = v->xw->x;
	v->y = v->xw->y;
	wlr_scene_node_set_position(v->owner.node, v->x, v->y);
}

static void xw_req_activate(struct wl_listener *l, void *data) {
	struct wd_view *v = wl_container_of(l, v, req_activate);
	if (v->mapped && !v->unmanaged) push_event(v->s, WD_EV_ACTIVATE, v->id);
}

static void xw_req_maximize(struct wl_listener *l, void *data) {
	struct wd_view *v = wl_container_of(l, v, req_maximize);
	if (v->mapped && !v->unmanaged) view_request(v, WD_REQ_MAXIMIZE, xwl_maximized(v));
}

static void xw_req_fullscreen(struct wl_listener *l, void *data) {
	struct wd_view *v = wl_container_of(l, v, req_fullscreen);
	if (v->mapped && !v->unmanaged) view_request(v, WD_REQ_FULLSCREEN, v->xw->fullscreen);
}

static void xw_req_minimize(struct wl_listener *l, void *data) {
	struct wd_view *v = wl_container_of(l, v, req_minimize);
	struct wlr_xwayland_minimize_event *e = data;
	if (v->mapped && !v->unmanaged) view_request(v, WD_REQ_MINIMIZE, e->minimize);
}

static void xw_req_move(struct wl_listener *l, void *data) {
	struct wd_view *v = wl_container_of(l, v, req_move);
	if (v->mapped && !v->unmanaged) view_request(v, WD_REQ_MOVE, 1);
}

static void xw_req_resize(struct wl_listener *l, void *data) {
	struct wd_view *v = wl_container_of(l, v, req_resize);
	struct wlr_xwayland_resize_event *e = data;
	if (v->mapped && !v->unmanaged) view_request(v, WD_REQ_RESIZE, (int)e->edges);
}

static void new_xwayland_surface(struct wl_listener *l, void *data) {
	wd_server *s = wl_container_of(l, s, new_xwayland_surface);
	struct wlr_xwayland_surface *xw = data;
	struct wd_view *v = calloc(1, sizeof(*v));
	if (!v) {
		wlr_log(WLR_ERROR, "out of memory for an X11 window");
		return;
	}
	v->s = s;
	v->id = ++s->next_id;
	v->xw = xw;
	v->owner.kind = OWNER_VIEW;
	/* Kept while the window lives; the surface's own tree hangs under it while mapped. */
	v->owner.node = &wlr_scene_tree_create(&s->view_tree->node)->node;
	v->owner.node->data = v;
	xw->data = v;
	wl_list_insert(&s->views, &v->link);
	wl_list_init(&v->commit.link);
#define LISTEN(sig, field, fn) do { v->field.notify = fn; wl_signal_add(&(sig), &v->field); } while (0)
	LISTEN(xw->events.map, map, xw_map);
	LISTEN(xw->events.unmap, unmap, xw_unmap);
	LISTEN(xw->events.destroy, destroy, xw_destroy);
	LISTEN(xw->events.set_title, set_title, xw_title);
	LISTEN(xw->events.set_class, set_app_id, xw_class);
	LISTEN(xw->events.set_parent, set_parent, xw_parent);
	LISTEN(xw->events.request_configure, req_configure, xw_req_configure);
	LISTEN(xw->events.request_activate, req_activate, xw_req_activate);
	LISTEN(xw->events.request_maximize, req_maximize, xw_req_maximize);
	LISTEN(xw->events.request_fullscreen, req_fullscreen, xw_req_fullscreen);
	LISTEN(xw->events.request_minimize, req_minimize, xw_req_minimize);
	LISTEN(xw->events.request_move, req_move, xw_req_move);
	LISTEN(xw->events.request_resize, req_resize, xw_req_resize);
	LISTEN(xw->events.set_geometry, set_geometry, xw_geometry);
#undef LISTEN
}

static void xwayland_ready(struct wl_listener *l, void *data) {
	wd_server *s = wl_container_of(l, s, xwayland_ready);
	/* Selections cross between X11 and Wayland only through the seat. */
	wlr_xwayland_set_seat(s->xwayland, s->seat);
	wlr_log(WLR_INFO, "Xwayland is ready on %s", s->xwayland->display_name);
}

bool xwl_start(wd_server *s, char *err, size_t errlen) {
	s->xwayland = wlr_xwayland_create(s->display, s->compositor, true);
	if (!s->xwayland) {
		snprintf(err, errlen, "could not open an X11 display for Xwayland (are /tmp/.X11-unix and its lock files writable?)");
		return false;
	}
	s->xwayland_ready.notify = xwayland_ready;
	wl_signal_add(&s->xwayland->events.ready, &s->xwayland_ready);
	s->new_xwayland_surface.notify = new_xwayland_surface;
	wl_signal_add(&s->xwayland->events.new_surface, &s->new_xwayland_surface);
	return true;
}

void xwl_stop(wd_server *s) {
	if (!s->xwayland) return;
	wl_list_remove(&s->xwayland_ready.link);
	wl_list_remove(&s->new_xwayland_surface.link);
	wlr_xwayland_destroy(s->xwayland);
	s->xwayland = NULL;
}

const char *wd_xwayland_display(wd_server *s) {
	return s->xwayland ? s->xwayland->display_name : NULL;
}
