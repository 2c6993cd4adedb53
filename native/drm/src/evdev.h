/*
 * Input devices through evdev (/dev/input/event*): what a device is (keyboard, mouse, tablet),
 * grabbed so the console does not see its keys too, read as (type, code, value) triples.
 */
#ifndef WAYDESK_EVDEV_H
#define WAYDESK_EVDEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum { WD_EVDEV_KEYBOARD = 1, WD_EVDEV_POINTER = 2, WD_EVDEV_ABSOLUTE = 4 };

typedef struct {
	char name[128];
	int kinds; /* WD_EVDEV_* bits; 0: nothing a terminal uses (power button, speaker) */
	int abs_min[2], abs_max[2]; /* ABS_X, ABS_Y where WD_EVDEV_ABSOLUTE */
} wd_evdev_info;

/* What the device behind fd is (the fd made non-blocking, and grabbed when the terminal uses
 * it); false with the reason. The caller owns and closes the fd. */
bool wd_evdev_init(int fd, wd_evdev_info *info, char *err, size_t errlen);
/* Up to max triples into out; how many, 0 when none are waiting, -1 when the device is gone. */
int wd_evdev_read(int fd, int32_t *out, int max);

#ifdef __cplusplus
}
#endif
#endif
