/*
 * The terminal's seat through libseat (seatd, or logind where it runs): the DRM and input
 * devices are opened by the seat for a program that need not be root, and taken away from it
 * (disable) and given back (enable) when the seat goes to another session.
 */
#ifndef WAYDESK_SEAT_H
#define WAYDESK_SEAT_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct wd_seat wd_seat;
/* enabled: the seat is ours (again); false: it is being taken away, call wd_seat_ack_disable. */
typedef void (*wd_seat_cb)(void *data, bool enabled);

/* NULL with why in err (no seatd, no logind, or libseat refused). */
wd_seat *wd_seat_open(wd_seat_cb cb, void *data, char *err, size_t errlen);
void wd_seat_close(wd_seat *s);
int wd_seat_fd(wd_seat *s);
/* Runs the callbacks for what the seat said; -1 when the seat is gone. */
int wd_seat_dispatch(wd_seat *s);
/* A device id (for wd_seat_close_device) and its fd, or -1 with why in err. */
int wd_seat_open_device(wd_seat *s, const char *path, int *fd, char *err, size_t errlen);
void wd_seat_close_device(wd_seat *s, int id);
bool wd_seat_ack_disable(wd_seat *s);
bool wd_seat_switch(wd_seat *s, int session);
const char *wd_seat_name(wd_seat *s);

#ifdef __cplusplus
}
#endif
#endif
