#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/input.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "evdev.h"

#define BITS(n) (((n) + 63) / 64)
static bool has(const uint64_t *bits, int n) {
	return (bits[n / 64] >> (n % 64)) & 1;
}

bool wd_evdev_init(int fd, wd_evdev_info *info, char *err, size_t errlen) {
	memset(info, 0, sizeof(*info));
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	if (ioctl(fd, EVIOCGNAME(sizeof(info->name) - 1), info->name) < 0) snprintf(info->name, sizeof(info->name), "unnamed");
	uint64_t ev[BITS(EV_MAX + 1)] = {0}, key[BITS(KEY_MAX + 1)] = {0}, rel[BITS(REL_MAX + 1)] = {0}, abs[BITS(ABS_MAX + 1)] = {0};
	if (ioctl(fd, EVIOCGBIT(0, sizeof(ev)), ev) < 0) {
		snprintf(err, errlen, "not an input device: %s", strerror(errno));
		return false;
	}
	ioctl(fd, EVIOCGBIT(EV_KEY, sizeof(key)), key);
	ioctl(fd, EVIOCGBIT(EV_REL, sizeof(rel)), rel);
	ioctl(fd, EVIOCGBIT(EV_ABS, sizeof(abs)), abs);
	/* a keyboard has letters; a power button or a PC speaker does not */
	if (has(ev, EV_KEY) && has(key, KEY_A) && has(key, KEY_Z) && has(key, KEY_ENTER)) info->kinds |= WD_EVDEV_KEYBOARD;
	if (has(ev, EV_REL) && has(rel, REL_X) && has(rel, REL_Y) && has(key, BTN_LEFT)) info->kinds |= WD_EVDEV_POINTER;
	if (has(ev, EV_ABS) && has(abs, ABS_X) && has(abs, ABS_Y) && (has(key, BTN_LEFT) || has(key, BTN_TOUCH))) {
		struct input_absinfo ax, ay;
		if (ioctl(fd, EVIOCGABS(ABS_X), &ax) == 0 && ioctl(fd, EVIOCGABS(ABS_Y), &ay) == 0 && ax.maximum > ax.minimum && ay.maximum > ay.minimum) {
			info->kinds |= WD_EVDEV_POINTER | WD_EVDEV_ABSOLUTE;
			info->abs_min[0] = ax.minimum;
			info->abs_max[0] = ax.maximum;
			info->abs_min[1] = ay.minimum;
			info->abs_max[1] = ay.maximum;
		}
	}
	/* Only the terminal sees it: the kernel console would take Ctrl+Alt+Del and the like. */
	if (info->kinds) ioctl(fd, EVIOCGRAB, (void *)1);
	return true;
}

int wd_evdev_read(int fd, int32_t *out, int max) {
	struct input_event evs[64];
	int n = 0;
	while (n < max) {
		size_t want = (size_t)(max - n) < 64 ? (size_t)(max - n) : 64;
		ssize_t r = read(fd, evs, want * sizeof(evs[0]));
		if (r < 0) {
			if (errno == EAGAIN || errno == EINTR) break;
			return n ? n : -1; /* ENODEV: unplugged */
		}
		if (r == 0) return n ? n : -1;
		for (size_t i = 0; i < (size_t)r / sizeof(evs[0]); i++) {
			out[n * 3] = evs[i].type;
			out[n * 3 + 1] = evs[i].code;
			out[n * 3 + 2] = evs[i].value;
			n++;
		}
		if ((size_t)r < want * sizeof(evs[0])) break;
	}
	return n;
}
