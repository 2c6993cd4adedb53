#define _GNU_SOURCE
#include <errno.h>
#include <libseat.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "seat.h"

struct wd_seat {
	struct libseat *seat;
	wd_seat_cb cb;
	void *data;
};

static void on_enable(struct libseat *seat, void *data) {
	wd_seat *s = data;
	s->cb(s->data, true);
}

static void on_disable(struct libseat *seat, void *data) {
	wd_seat *s = data;
	s->cb(s->data, false);
}

static const struct libseat_seat_listener listener = {.enable_seat = on_enable, .disable_seat = on_disable};

/* libseat says why it failed only through its log: keep the last error line for the caller. */
static char last_error[256];
static void on_log(enum libseat_log_level level, const char *fmt, va_list args) {
	if (level == LIBSEAT_LOG_LEVEL_ERROR) vsnprintf(last_error, sizeof(last_error), fmt, args);
}

wd_seat *wd_seat_open(wd_seat_cb cb, void *data, char *err, size_t errlen) {
	wd_seat *s = calloc(1, sizeof(*s));
	if (!s) return NULL;
	s->cb = cb;
	s->data = data;
	last_error[0] = 0;
	libseat_set_log_handler(on_log);
	libseat_set_log_level(LIBSEAT_LOG_LEVEL_ERROR);
	s->seat = libseat_open_seat(&listener, s);
	if (!s->seat) {
		snprintf(err, errlen, "no seat: %s", last_error[0] ? last_error : strerror(errno));
		free(s);
		return NULL;
	}
	return s;
}

void wd_seat_close(wd_seat *s) {
	if (!s) return;
	libseat_close_seat(s->seat);
	free(s);
}

int wd_seat_fd(wd_seat *s) {
	return libseat_get_fd(s->seat);
}

int wd_seat_dispatch(wd_seat *s) {
	return libseat_dispatch(s->seat, 0);
}

int wd_seat_open_device(wd_seat *s, const char *path, int *fd, char *err, size_t errlen) {
	last_error[0] = 0;
	int id = libseat_open_device(s->seat, path, fd);
	if (id < 0) snprintf(err, errlen, "the seat did not open %s: %s", path, last_error[0] ? last_error : strerror(errno));
	return id;
}

void wd_seat_close_device(wd_seat *s, int id) {
	libseat_close_device(s->seat, id);
}

bool wd_seat_ack_disable(wd_seat *s) {
	return libseat_disable_seat(s->seat) == 0;
}

bool wd_seat_switch(wd_seat *s, int session) {
	return libseat_switch_session(s->seat, session) == 0;
}

const char *wd_seat_name(wd_seat *s) {
	return libseat_seat_name(s->seat);
}
