/* What the codec's C files share: error text and 4:2:0 alignment. */
#ifndef WAYDESK_CODEC_UTIL_H
#define WAYDESK_CODEC_UTIL_H
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>

static inline void fail(char *err, size_t errlen, const char *fmt, ...) {
	if (!err || !errlen) return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Rectangles for 4:2:0 must start and end on even coordinates. */
static inline void align_even(int32_t *x, int32_t *y, int32_t *w, int32_t *h, int fw, int fh) {
	int x1 = *x & ~1, y1 = *y & ~1;
	int x2 = (*x + *w + 1) & ~1, y2 = (*y + *h + 1) & ~1;
	if (x2 > fw) x2 = fw;
	if (y2 > fh) y2 = fh;
	*x = x1;
	*y = y1;
	*w = x2 - x1;
	*h = y2 - y1;
}
#endif
