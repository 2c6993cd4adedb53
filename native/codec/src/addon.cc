// Thin N-API layer over the decoder and the tiles of codec.h (waydesk_codec: the terminal's
// addon, and the compositor's tile encoder). Only native/codec/ts/index.ts imports this binding.
#include <napi.h>

#include <cstring>
#include <string>

#include "codec.h"
#include "napi_rects.h"

namespace {

class Decoder : public Napi::ObjectWrap<Decoder> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Decoder", {InstanceMethod("decode", &Decoder::Decode), InstanceMethod("close", &Decoder::Close)});
  }
  explicit Decoder(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Decoder>(info) {
    char err[256] = "";
    dec_ = wd_decoder_create(err, sizeof(err));
    if (!dec_) throw Napi::Error::New(info.Env(), std::string("decoder: ") + err);
  }
  ~Decoder() override { wd_decoder_destroy(dec_); }

 private:
  wd_decoder* dec_ = nullptr;

  // decode(packet, dst: Buffer, width, height, rects, box?: Int32Array [x, y, w, h]) -> undefined; throws on a bad packet
  Napi::Value Decode(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!dec_) throw Napi::Error::New(env, "decoder is closed");
    auto pkt = info[0].As<Napi::Uint8Array>();
    auto dst = info[1].As<Napi::Buffer<uint8_t>>();
    int w = info[2].ToNumber().Int32Value(), h = info[3].ToNumber().Int32Value();
    if (w <= 0 || h <= 0 || dst.Length() < static_cast<size_t>(w) * h * 4) throw Napi::RangeError::New(env, "destination too small");
    RectList r = Rects(info[4]);
    if (!WithinPicture(r, w, h)) throw Napi::RangeError::New(env, "rectangles cover more than the picture");
    const int32_t* box = nullptr;
    if (info.Length() > 5 && info[5].IsTypedArray()) {
      auto b = info[5].As<Napi::Int32Array>();
      if (b.TypedArrayType() != napi_int32_array || b.ElementLength() != 4) throw Napi::TypeError::New(env, "box wants an Int32Array [x, y, width, height]");
      box = b.Data();
    }
    char err[256] = "";
    if (!wd_decoder_decode(dec_, pkt.Data(), pkt.ByteLength(), dst.Data(), w, h, box, r.data, r.count, err, sizeof(err))) {
      throw Napi::Error::New(env, std::string("decode: ") + err);
    }
    return env.Undefined();
  }
  Napi::Value Close(const Napi::CallbackInfo& info) {
    wd_decoder_destroy(dec_);
    dec_ = nullptr;
    return info.Env().Undefined();
  }
};

class Tiler : public Napi::ObjectWrap<Tiler> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Tiler", {InstanceMethod("shrink", &Tiler::Shrink), InstanceMethod("encode", &Tiler::Encode), InstanceMethod("decode", &Tiler::Decode)});
  }
  explicit Tiler(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Tiler>(info) {
    t_ = wd_tiler_create(info[0].ToNumber().Int32Value());
    if (!t_) throw Napi::Error::New(info.Env(), "tiler: out of memory");
  }
  ~Tiler() override { wd_tiler_destroy(t_); }

 private:
  wd_tiler* t_ = nullptr;

  static bool Inside(const RectList& r, int fw, int fh) {
    if (!r.data || r.count <= 0) return false;
    for (int i = 0; i < r.count; i++) {
      int64_t x = r.data[i * 4], y = r.data[i * 4 + 1], w = r.data[i * 4 + 2], h = r.data[i * 4 + 3];
      if (x < 0 || y < 0 || w <= 0 || h <= 0 || x + w > fw || y + h > fh) return false;
    }
    return true;
  }

  // shrink(cur, prev, fbWidth, fbHeight, rects) -> Int32Array (the rectangles that still differ)
  Napi::Value Shrink(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto cur = info[0].As<Napi::Buffer<uint8_t>>();
    auto prev = info[1].As<Napi::Buffer<uint8_t>>();
    int fw = info[2].ToNumber().Int32Value(), fh = info[3].ToNumber().Int32Value();
    RectList r = Rects(info[4]);
    if (fw <= 0 || fh <= 0 || !Inside(r, fw, fh) || cur.Length() < static_cast<size_t>(fw) * fh * 4 || prev.Length() < cur.Length()) {
      throw Napi::RangeError::New(env, "rectangles outside the picture");
    }
    Napi::Int32Array out = Napi::Int32Array::New(env, static_cast<size_t>(r.count) * 4);
    memcpy(out.Data(), r.data, static_cast<size_t>(r.count) * 16);
    int n = wd_tiles_shrink(cur.Data(), prev.Data(), static_cast<size_t>(fw) * 4, out.Data(), r.count);
    return Napi::Int32Array::New(env, static_cast<size_t>(n) * 4, out.ArrayBuffer(), 0);
  }

  // encode(cur, fbWidth, fbHeight, rects, restart) -> Buffer
  Napi::Value Encode(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto cur = info[0].As<Napi::Buffer<uint8_t>>();
    int fw = info[1].ToNumber().Int32Value(), fh = info[2].ToNumber().Int32Value();
    RectList r = Rects(info[3]);
    bool restart = info[4].ToBoolean().Value();
    if (fw <= 0 || fh <= 0 || !Inside(r, fw, fh) || cur.Length() < static_cast<size_t>(fw) * fh * 4) {
      throw Napi::RangeError::New(env, "rectangles outside the picture");
    }
    size_t px = 0;
    for (int i = 0; i < r.count; i++) px += static_cast<size_t>(r.data[i * 4 + 2]) * r.data[i * 4 + 3];
    size_t cap = wd_tiles_bound(px);
    Napi::Buffer<uint8_t> out = Napi::Buffer<uint8_t>::New(env, cap);
    size_t n = wd_tiles_encode(t_, cur.Data(), static_cast<size_t>(fw) * 4, r.data, r.count, restart, out.Data(), cap);
    if (n == 0) throw Napi::Error::New(env, "tile compression failed");
    return Napi::Buffer<uint8_t>::Copy(env, out.Data(), n);
  }

  // decode(data, fb, fbWidth, fbHeight, rects) -> boolean
  Napi::Value Decode(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto in = info[0].As<Napi::Uint8Array>();
    auto fb = info[1].As<Napi::Buffer<uint8_t>>();
    int fw = info[2].ToNumber().Int32Value(), fh = info[3].ToNumber().Int32Value();
    RectList r = Rects(info[4]);
    if (fw <= 0 || fh <= 0 || !Inside(r, fw, fh) || !WithinPicture(r, fw, fh) || fb.Length() < static_cast<size_t>(fw) * fh * 4) {
      wd_tiles_lost(t_);
      return Napi::Boolean::New(env, false);
    }
    return Napi::Boolean::New(env, wd_tiles_decode(t_, in.Data(), in.ByteLength(), fb.Data(), static_cast<size_t>(fw) * 4, r.data, r.count));
  }
};

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("Decoder", Decoder::Define(env));
  exports.Set("Tiler", Tiler::Define(env));
  return exports;
}

}  // namespace

NODE_API_MODULE(waydesk_codec, Init)
