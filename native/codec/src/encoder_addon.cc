// Thin N-API layer over the encoder of codec.h (the server's addon, waydesk_h264enc).
// Only native/codec/ts/index.ts imports this binding.
#include <napi.h>

#include <cstring>
#include <string>

#include "codec.h"
#include "napi_rects.h"

namespace {

class Encoder : public Napi::ObjectWrap<Encoder> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Encoder", {InstanceMethod("encode", &Encoder::Encode), InstanceMethod("close", &Encoder::Close),
                                        InstanceMethod("name", &Encoder::Name)});
  }
  explicit Encoder(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Encoder>(info) {
    Napi::Object o = info[0].As<Napi::Object>();
    std::string preset = o.Get("preset").IsString() ? o.Get("preset").As<Napi::String>().Utf8Value() : "ultrafast";
    std::string device = o.Get("vaapiDevice").IsString() ? o.Get("vaapiDevice").As<Napi::String>().Utf8Value() : "";
    wd_enc_config c{};
    c.width = o.Get("width").ToNumber().Int32Value();
    c.height = o.Get("height").ToNumber().Int32Value();
    c.max_width = o.Get("maxWidth").ToNumber().Int32Value();
    c.max_height = o.Get("maxHeight").ToNumber().Int32Value();
    c.fps = o.Get("fps").ToNumber().Int32Value();
    c.crf = o.Get("crf").ToNumber().Int32Value();
    c.max_kbps = o.Get("maxKbps").ToNumber().Int32Value();
    c.intra_refresh = o.Get("intraRefresh").ToBoolean().Value();
    c.preset = preset.c_str();
    c.vaapi_device = device.empty() ? nullptr : device.c_str();
    char err[256] = "";
    enc_ = wd_encoder_create(&c, err, sizeof(err));
    if (!enc_) throw Napi::Error::New(info.Env(), std::string("encoder: ") + err);
    width_ = c.width;
    height_ = c.height;
  }
  ~Encoder() override { wd_encoder_destroy(enc_); }

 private:
  wd_encoder* enc_ = nullptr;
  int width_ = 0, height_ = 0;

  // encode(frame: Buffer (BGRX), rects: Int32Array (encoder coordinates), keyframe, atUs?: number,
  //        x?, y?, frameWidth?: where the encoder's picture sits in a wider frame) -> {data, keyframe}
  Napi::Value Encode(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!enc_) throw Napi::Error::New(env, "encoder is closed");
    auto frame = info[0].As<Napi::Buffer<uint8_t>>();
    auto num = [&](size_t i, int64_t def) { return info.Length() > i && info[i].IsNumber() ? info[i].As<Napi::Number>().Int64Value() : def; };
    int64_t ox = num(4, 0), oy = num(5, 0), fw = num(6, width_);
    if (ox < 0 || oy < 0 || ox > 65536 || oy > 65536 || fw < ox + width_ || fw > 65536 ||
        frame.Length() < static_cast<size_t>(((oy + height_ - 1) * fw + ox + width_) * 4)) {
      throw Napi::RangeError::New(env, "frame smaller than the encoder's picture at its place");
    }
    RectList r = Rects(info[1]);
    const uint8_t* out = nullptr;
    size_t len = 0;
    bool key = false;
    char err[256] = "";
    int64_t at = info.Length() > 3 && info[3].IsNumber() ? info[3].As<Napi::Number>().Int64Value() : -1;
    const uint8_t* src = frame.Data() + static_cast<size_t>(oy * fw + ox) * 4;
    if (!wd_encoder_encode(enc_, src, static_cast<size_t>(fw) * 4, r.data, r.count, info[2].ToBoolean().Value(), at, &out, &len,
                           &key, err, sizeof(err))) {
      throw Napi::Error::New(env, std::string("encode: ") + err);
    }
    Napi::Object o = Napi::Object::New(env);
    o.Set("data", Napi::Buffer<uint8_t>::Copy(env, out, len));
    o.Set("keyframe", key);
    return o;
  }
  Napi::Value Name(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), enc_ ? wd_encoder_name(enc_) : "closed"); }
  Napi::Value Close(const Napi::CallbackInfo& info) {
    wd_encoder_destroy(enc_);
    enc_ = nullptr;
    return info.Env().Undefined();
  }
};

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("Encoder", Encoder::Define(env));
  return exports;
}

}  // namespace

NODE_API_MODULE(waydesk_h264enc, Init)
