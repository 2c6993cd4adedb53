// Thin N-API layer over drm_output.h and evdev.h: argument conversion and the uv_poll
// integration, nothing else. Only native/drm/ts/index.ts imports this binding.
#include <napi.h>
#include <uv.h>
#include <unistd.h>

#include <string>

#include "drm_output.h"
#include "evdev.h"

namespace {

void ClosePoll(uv_poll_t*& p) {
  if (!p) return;
  uv_poll_stop(p);
  uv_close(reinterpret_cast<uv_handle_t*>(p), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
  p = nullptr;
}

class Output : public Napi::ObjectWrap<Output> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Output",
                       {InstanceMethod("info", &Output::Info), InstanceMethod("present", &Output::Present),
                        InstanceMethod("setCursor", &Output::SetCursor), InstanceMethod("moveCursor", &Output::MoveCursor),
                        InstanceMethod("release", &Output::Release), InstanceMethod("acquire", &Output::Acquire),
                        InstanceMethod("close", &Output::Close)});
  }
  // new Output(path, modeIndex, onFlip)
  explicit Output(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Output>(info) {
    Napi::Env env = info.Env();
    std::string path = info[0].As<Napi::String>();
    char err[256] = "";
    d_ = wd_drm_open(path.c_str(), info[1].ToNumber().Int32Value(), err, sizeof(err));
    if (!d_) throw Napi::Error::New(env, err);
    onFlip_ = Napi::Persistent(info[2].As<Napi::Function>());
    uv_loop_t* loop = nullptr;
    napi_get_uv_event_loop(env, &loop);
    poll_ = new uv_poll_t;
    uv_poll_init(loop, poll_, wd_drm_fd(d_));
    poll_->data = this;
    uv_poll_start(poll_, UV_READABLE, &Output::OnReadable);
    // a pending flip must not keep the process alive on its own
    uv_unref(reinterpret_cast<uv_handle_t*>(poll_));
    env_ = env;
  }
  ~Output() override { Shut(); }

 private:
  wd_drm* d_ = nullptr;
  uv_poll_t* poll_ = nullptr;
  Napi::FunctionReference onFlip_;
  napi_env env_ = nullptr;

  void Shut() {
    ClosePoll(poll_);
    wd_drm_close(d_);
    d_ = nullptr;
  }
  wd_drm* Need(const Napi::CallbackInfo& info) {
    if (!d_) throw Napi::Error::New(info.Env(), "the screen is closed");
    return d_;
  }

  static void OnReadable(uv_poll_t* handle, int status, int events) {
    auto* self = static_cast<Output*>(handle->data);
    if (!self->d_) return;
    int n = wd_drm_dispatch(self->d_);
    if (n > 0) {
      Napi::HandleScope scope(self->Env());
      self->onFlip_.MakeCallback(self->Value(), {});
    }
  }

  Napi::Value Info(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const wd_drm_info* in = wd_drm_get_info(Need(info));
    Napi::Object o = Napi::Object::New(env);
    o.Set("connector", in->connector);
    o.Set("driver", in->driver);
    o.Set("mmWidth", in->mm_width);
    o.Set("mmHeight", in->mm_height);
    o.Set("width", in->width);
    o.Set("height", in->height);
    o.Set("refreshMhz", in->refresh_mhz);
    o.Set("hwCursor", in->hw_cursor);
    Napi::Array modes = Napi::Array::New(env, in->nmodes);
    for (int i = 0; i < in->nmodes; i++) {
      Napi::Object m = Napi::Object::New(env);
      m.Set("width", in->modes[i].width);
      m.Set("height", in->modes[i].height);
      m.Set("refreshMhz", in->modes[i].refresh_mhz);
      m.Set("preferred", in->modes[i].preferred);
      modes.Set(i, m);
    }
    o.Set("modes", modes);
    return o;
  }

  // present(picture: Buffer, width, height, rects: Int32Array | null) -> false while a flip is pending
  Napi::Value Present(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    wd_drm* d = Need(info);
    if (wd_drm_flip_pending(d)) return Napi::Boolean::New(env, false);
    auto pic = info[0].As<Napi::Buffer<uint8_t>>();
    int w = info[1].ToNumber().Int32Value(), h = info[2].ToNumber().Int32Value();
    if (w <= 0 || h <= 0 || pic.Length() < static_cast<size_t>(w) * h * 4) throw Napi::RangeError::New(env, "the picture is smaller than its size");
    const int32_t* rects = nullptr;
    int n = -1;
    if (info[3].IsTypedArray()) {
      auto r = info[3].As<Napi::Int32Array>();
      if (r.TypedArrayType() != napi_int32_array) throw Napi::TypeError::New(env, "rectangles are an Int32Array");
      rects = r.Data();
      n = static_cast<int>(r.ElementLength() / 4);
    }
    char err[256] = "";
    if (!wd_drm_present(d, pic.Data(), w, h, rects, n, err, sizeof(err))) throw Napi::Error::New(env, err);
    return Napi::Boolean::New(env, true);
  }

  // setCursor(argb: Buffer | null, width, height, hotX, hotY)
  Napi::Value SetCursor(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    wd_drm* d = Need(info);
    char err[256] = "";
    bool ok;
    if (info[0].IsBuffer()) {
      auto px = info[0].As<Napi::Buffer<uint8_t>>();
      int w = info[1].ToNumber().Int32Value(), h = info[2].ToNumber().Int32Value();
      if (w <= 0 || h <= 0 || w > 512 || h > 512 || px.Length() < static_cast<size_t>(w) * h * 4) throw Napi::RangeError::New(env, "cursor image of a wrong size");
      ok = wd_drm_set_cursor(d, px.Data(), w, h, info[3].ToNumber().Int32Value(), info[4].ToNumber().Int32Value(), err, sizeof(err));
    } else {
      ok = wd_drm_set_cursor(d, nullptr, 0, 0, 0, 0, err, sizeof(err));
    }
    if (!ok) throw Napi::Error::New(env, err);
    return Napi::Boolean::New(env, wd_drm_cursor_needs_present(d));
  }

  // moveCursor(x, y) -> true when the picture must be presented to show it (software cursor)
  Napi::Value MoveCursor(const Napi::CallbackInfo& info) {
    wd_drm* d = Need(info);
    wd_drm_move_cursor(d, info[0].ToNumber().Int32Value(), info[1].ToNumber().Int32Value());
    return Napi::Boolean::New(info.Env(), wd_drm_cursor_needs_present(d));
  }

  Napi::Value Release(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), wd_drm_release(Need(info))); }
  Napi::Value Acquire(const Napi::CallbackInfo& info) {
    char err[256] = "";
    if (!wd_drm_acquire(Need(info), err, sizeof(err))) throw Napi::Error::New(info.Env(), err);
    return info.Env().Undefined();
  }
  Napi::Value Close(const Napi::CallbackInfo& info) {
    Shut();
    return info.Env().Undefined();
  }
};

class InputDevice : public Napi::ObjectWrap<InputDevice> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "InputDevice", {InstanceMethod("info", &InputDevice::Info), InstanceMethod("close", &InputDevice::Close)});
  }
  // new InputDevice(path, onEvents(Int32Array of type, code, value), onGone())
  explicit InputDevice(const Napi::CallbackInfo& info) : Napi::ObjectWrap<InputDevice>(info) {
    Napi::Env env = info.Env();
    std::string path = info[0].As<Napi::String>();
    char err[256] = "";
    fd_ = wd_evdev_open(path.c_str(), &info_, err, sizeof(err));
    if (fd_ < 0) throw Napi::Error::New(env, err);
    onEvents_ = Napi::Persistent(info[1].As<Napi::Function>());
    onGone_ = Napi::Persistent(info[2].As<Napi::Function>());
    uv_loop_t* loop = nullptr;
    napi_get_uv_event_loop(env, &loop);
    poll_ = new uv_poll_t;
    uv_poll_init(loop, poll_, fd_);
    poll_->data = this;
    uv_poll_start(poll_, UV_READABLE | UV_DISCONNECT, &InputDevice::OnReadable);
    uv_unref(reinterpret_cast<uv_handle_t*>(poll_));
  }
  ~InputDevice() override { Shut(); }

 private:
  int fd_ = -1;
  wd_evdev_info info_{};
  uv_poll_t* poll_ = nullptr;
  Napi::FunctionReference onEvents_, onGone_;

  void Shut() {
    ClosePoll(poll_);
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

  static void OnReadable(uv_poll_t* handle, int status, int events) {
    auto* self = static_cast<InputDevice*>(handle->data);
    if (self->fd_ < 0) return;
    Napi::HandleScope scope(self->Env());
    int32_t buf[256 * 3];
    int n = status < 0 ? -1 : wd_evdev_read(self->fd_, buf, 256);
    if (n < 0) {
      self->Shut();
      self->onGone_.MakeCallback(self->Value(), {});
      return;
    }
    if (n == 0) return;
    Napi::Int32Array a = Napi::Int32Array::New(self->Env(), static_cast<size_t>(n) * 3);
    memcpy(a.Data(), buf, static_cast<size_t>(n) * 12);
    self->onEvents_.MakeCallback(self->Value(), {a});
  }

  Napi::Value Info(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", info_.name);
    o.Set("keyboard", (info_.kinds & WD_EVDEV_KEYBOARD) != 0);
    o.Set("pointer", (info_.kinds & WD_EVDEV_POINTER) != 0);
    if (info_.kinds & WD_EVDEV_ABSOLUTE) {
      o.Set("absolute", Napi::Int32Array::New(env, 4));
      auto a = o.Get("absolute").As<Napi::Int32Array>();
      a[0] = info_.abs_min[0];
      a[1] = info_.abs_max[0];
      a[2] = info_.abs_min[1];
      a[3] = info_.abs_max[1];
    }
    return o;
  }
  Napi::Value Close(const Napi::CallbackInfo& info) {
    Shut();
    return info.Env().Undefined();
  }
};

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("Output", Output::Define(env));
  exports.Set("InputDevice", InputDevice::Define(env));
  return exports;
}

}  // namespace

NODE_API_MODULE(waydesk_drm, Init)
