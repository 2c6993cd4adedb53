/* A hostile but real Wayland client: a window whose pointer cursor comes from an shm pool that
 * the client then truncates under the compositor, and commits again. A compositor that reads
 * the cursor image without wl_shm's SIGBUS guard dies here. Prints "shrunk" once it has done it.
 * Built by the test that uses it (gcc, libwayland-client, xdg-shell from wayland-scanner). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <wayland-client.h>

#include "xdg-shell-client-protocol.h"

static struct wl_compositor *compositor;
static struct wl_shm *shm;
static struct wl_seat *seat;
static struct xdg_wm_base *wm_base;
static struct wl_surface *cursor_surface;
static struct wl_buffer *cursor_buffer;
static int cursor_fd = -1;
static int shrunk;

static struct wl_buffer *make_buffer(int w, int h, uint32_t colour, int *fd_out) {
	int stride = w * 4, size = stride * h;
	int fd = memfd_create("shrinking-cursor", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, size) != 0) exit(2);
	uint32_t *px = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (px == MAP_FAILED) exit(2);
	for (int i = 0; i < w * h; i++) px[i] = colour;
	munmap(px, size);
	struct wl_shm_pool *pool = wl_shm_create_pool(shm, fd, size);
	struct wl_buffer *b = wl_shm_pool_create_buffer(pool, 0, w, h, stride, WL_SHM_FORMAT_ARGB8888);
	wl_shm_pool_destroy(pool);
	if (fd_out) *fd_out = fd;
	else close(fd);
	return b;
}

static void pointer_enter(void *data, struct wl_pointer *p, uint32_t serial, struct wl_surface *s, wl_fixed_t x, wl_fixed_t y) {
	wl_surface_attach(cursor_surface, cursor_buffer, 0, 0);
	wl_surface_damage(cursor_surface, 0, 0, 32, 32);
	wl_surface_commit(cursor_surface);
	wl_pointer_set_cursor(p, serial, cursor_surface, 1, 1);
	wl_display_roundtrip((struct wl_display *)data);
	/* The pool shrinks to nothing under the compositor's mapping; then the cursor commits again
	 * with no new damage, so wlroots uploads nothing and only the compositor's own copy of the
	 * cursor image reads the (now missing) memory. */
	if (ftruncate(cursor_fd, 0) != 0) exit(2);
	wl_surface_commit(cursor_surface);
	wl_display_roundtrip((struct wl_display *)data);
	if (!shrunk) {
		shrunk = 1;
		printf("shrunk\n");
		fflush(stdout);
	}
}
static void pointer_leave(void *d, struct wl_pointer *p, uint32_t serial, struct wl_surface *s) {}
static void pointer_motion(void *d, struct wl_pointer *p, uint32_t t, wl_fixed_t x, wl_fixed_t y) {}
static void pointer_button(void *d, struct wl_pointer *p, uint32_t serial, uint32_t t, uint32_t b, uint32_t st) {}
static void pointer_axis(void *d, struct wl_pointer *p, uint32_t t, uint32_t a, wl_fixed_t v) {}
static const struct wl_pointer_listener pointer_listener = {pointer_enter, pointer_leave, pointer_motion, pointer_button, pointer_axis};

static void seat_caps(void *data, struct wl_seat *s, uint32_t caps) {
	static struct wl_pointer *pointer;
	if ((caps & WL_SEAT_CAPABILITY_POINTER) && !pointer) {
		pointer = wl_seat_get_pointer(s);
		wl_pointer_add_listener(pointer, &pointer_listener, data);
	}
}
static void seat_name(void *d, struct wl_seat *s, const char *n) {}
static const struct wl_seat_listener seat_listener = {seat_caps, seat_name};

static void wm_ping(void *d, struct xdg_wm_base *b, uint32_t serial) { xdg_wm_base_pong(b, serial); }
static const struct xdg_wm_base_listener wm_listener = {wm_ping};

static struct wl_surface *surface;
static struct wl_buffer *window_buffer;
static void xdg_surface_configure(void *d, struct xdg_surface *x, uint32_t serial) {
	xdg_surface_ack_configure(x, serial);
	wl_surface_attach(surface, window_buffer, 0, 0);
	wl_surface_damage(surface, 0, 0, 400, 300);
	wl_surface_commit(surface);
}
static const struct xdg_surface_listener xdg_surface_listener = {xdg_surface_configure};
static void top_configure(void *d, struct xdg_toplevel *t, int32_t w, int32_t h, struct wl_array *s) {}
static void top_close(void *d, struct xdg_toplevel *t) { exit(0); }
static const struct xdg_toplevel_listener top_listener = {top_configure, top_close};

static void global(void *data, struct wl_registry *r, uint32_t name, const char *iface, uint32_t version) {
	if (!strcmp(iface, wl_compositor_interface.name)) compositor = wl_registry_bind(r, name, &wl_compositor_interface, 4);
	else if (!strcmp(iface, wl_shm_interface.name)) shm = wl_registry_bind(r, name, &wl_shm_interface, 1);
	else if (!strcmp(iface, wl_seat_interface.name)) {
		seat = wl_registry_bind(r, name, &wl_seat_interface, 1); /* v1: the pointer events this listener has */
		wl_seat_add_listener(seat, &seat_listener, data);
	} else if (!strcmp(iface, xdg_wm_base_interface.name)) {
		wm_base = wl_registry_bind(r, name, &xdg_wm_base_interface, 1);
		xdg_wm_base_add_listener(wm_base, &wm_listener, NULL);
	}
}
static void global_remove(void *d, struct wl_registry *r, uint32_t name) {}
static const struct wl_registry_listener registry_listener = {global, global_remove};

int main(void) {
	struct wl_display *display = wl_display_connect(NULL);
	if (!display) {
		fprintf(stderr, "shrinking-cursor: cannot connect to the Wayland display\n");
		return 1;
	}
	struct wl_registry *registry = wl_display_get_registry(display);
	wl_registry_add_listener(registry, &registry_listener, display);
	wl_display_roundtrip(display);
	if (!compositor || !shm || !seat || !wm_base) return 1;
	window_buffer = make_buffer(400, 300, 0xff336699, NULL);
	cursor_buffer = make_buffer(32, 32, 0xffff0000, &cursor_fd);
	cursor_surface = wl_compositor_create_surface(compositor);
	surface = wl_compositor_create_surface(compositor);
	struct xdg_surface *xs = xdg_wm_base_get_xdg_surface(wm_base, surface);
	xdg_surface_add_listener(xs, &xdg_surface_listener, NULL);
	struct xdg_toplevel *top = xdg_surface_get_toplevel(xs);
	xdg_toplevel_add_listener(top, &top_listener, NULL);
	xdg_toplevel_set_title(top, "shrinking-cursor");
	wl_surface_commit(surface);
	while (wl_display_dispatch(display) != -1) {
	}
	return 0;
}
