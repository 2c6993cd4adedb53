// What both addons' N-API layers share: rectangle lists from JavaScript, checked.
#ifndef WAYDESK_NAPI_RECTS_H
#define WAYDESK_NAPI_RECTS_H
#include <napi.h>

#include <cstdint>

namespace {

struct RectList {
  const int32_t* data = nullptr;
  int count = 0;
};

inline RectList Rects(const Napi::Value& v) {
  RectList r;
  if (v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == napi_int32_array) {
    auto a = v.As<Napi::Int32Array>();
    r.data = a.Data();
    r.count = static_cast<int>(a.ElementLength() / 4);
  }
  return r;
}

/* A received frame's rectangles never overlap, so together they cover at most the picture: more
 * is a frame made to make the decoder work (or allocate) for many pictures' worth of pixels. */
inline bool WithinPicture(const RectList& r, int fw, int fh) {
  uint64_t px = 0;
  for (int i = 0; i < r.count; i++) {
    int64_t w = r.data[i * 4 + 2], h = r.data[i * 4 + 3];
    if (w <= 0 || h <= 0) return false;
    px += static_cast<uint64_t>(w) * static_cast<uint64_t>(h);
  }
  return px <= static_cast<uint64_t>(fw) * static_cast<uint64_t>(fh);
}

}  // namespace
#endif
