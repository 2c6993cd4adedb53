// Thin N-API layer over drm_output.h and evdev.h: argument conversion and the uv_poll
// integration, nothing else. Only native/drm/ts/index.ts imports this binding.
#include <napi.h>
#include <uv.h>
#include <unistd.h>

#include <string>

#include "drm_output.h"
#include "evdev.h"
#include "seat.h"

namespace {

// A throw in JavaScript called from a uv callback must reach process 'uncaughtException', not std::terminate.
void Call(Napi::FunctionReference& f, const Napi::Object& self, const std::initializer_list<napi_value>& args) {
  try {
    f.MakeCallback(self, args);
  } catch (const Napi::Error& e) {
    napi_fatal_exception(f.Env(), e.Value());
  }
}

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
  // new Output(fd, modeIndex, onFlip): the caller keeps the fd, and closes it after close()
  explicit Output(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Output>(info) {
    Napi::Env env = info.Env();
    char err[256] = "";
    d_ = wd_drm_open(info[0].ToNumber().Int32Value(), info[1].ToNumber().Int32Value(), err, sizeof(err));
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
      Call(self->onFlip_, self->Value(), {});
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
  // new InputDevice(fd, onEvents(Int32Array of type, code, value), onGone()): the caller keeps the fd
  explicit InputDevice(const Napi::CallbackInfo& info) : Napi::ObjectWrap<InputDevice>(info) {
    Napi::Env env = info.Env();
    char err[256] = "";
    fd_ = info[0].ToNumber().Int32Value();
    if (!wd_evdev_init(fd_, &info_, err, sizeof(err))) {
      fd_ = -1;
      throw Napi::Error::New(env, err);
    }
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
      Call(self->onGone_, self->Value(), {});
      return;
    }
    if (n == 0) return;
    Napi::Int32Array a = Napi::Int32Array::New(self->Env(), static_cast<size_t>(n) * 3);
    memcpy(a.Data(), buf, static_cast<size_t>(n) * 12);
    Call(self->onEvents_, self->Value(), {a});
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

class Seat : public Napi::ObjectWrap<Seat> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Seat",
                       {InstanceMethod("openDevice", &Seat::OpenDevice), InstanceMethod("closeDevice", &Seat::CloseDevice),
                        InstanceMethod("ackDisable", &Seat::AckDisable), InstanceMethod("switchSession", &Seat::SwitchSession),
                        InstanceMethod("name", &Seat::Name), InstanceMethod("close", &Seat::Close)});
  }
  // new Seat(onChange(enabled: boolean))
  explicit Seat(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Seat>(info) {
    Napi::Env env = info.Env();
    onChange_ = Napi::Persistent(info[0].As<Napi::Function>());
    char err[256] = "";
    s_ = wd_seat_open(&Seat::OnChange, this, err, sizeof(err));
    if (!s_) throw Napi::Error::New(env, err);
    uv_loop_t* loop = nullptr;
    napi_get_uv_event_loop(env, &loop);
    poll_ = new uv_poll_t;
    polledFd_ = wd_seat_fd(s_);
    uv_poll_init(loop, poll_, polledFd_);
    poll_->data = this;
    uv_poll_start(poll_, UV_READABLE | UV_DISCONNECT, &Seat::OnReadable);
    uv_unref(reinterpret_cast<uv_handle_t*>(poll_));
    kick_ = new uv_timer_t;
    uv_timer_init(loop, kick_);
    kick_->data = this;
    // libseat may have said "enabled" while opening: tell it once JavaScript listens
    wd_seat_dispatch(s_);
  }
  ~Seat() override { Shut(); }

 private:
  wd_seat* s_ = nullptr;
  uv_poll_t* poll_ = nullptr;
  int polledFd_ = -1;
  // libseat reads the socket inside its own calls and queues what it read there (a disable
  // that came with a switch's answer): the fd is then not readable, so dispatch soon after
  uv_timer_t* kick_ = nullptr;
  Napi::FunctionReference onChange_;
  bool inCtor_ = true;
  int pending_ = -1;  // an enable/disable said before the JS side could hear it

  void Shut() {
    ClosePoll(poll_);
    if (kick_) {
      uv_timer_stop(kick_);
      uv_close(reinterpret_cast<uv_handle_t*>(kick_), [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
      kick_ = nullptr;
    }
    wd_seat_close(s_);
    s_ = nullptr;
  }
  void Kick() {
    if (kick_) uv_timer_start(kick_, &Seat::OnKick, 0, 0);
  }
  static void OnKick(uv_timer_t* handle) {
    auto* self = static_cast<Seat*>(handle->data);
    if (!self->s_) return;
    self->inCtor_ = false;
    wd_seat_dispatch(self->s_);
  }
  wd_seat* Need(const Napi::CallbackInfo& info) {
    if (!s_) throw Napi::Error::New(info.Env(), "the seat is closed");
    return s_;
  }

  static void OnChange(void* data, bool enabled) {
    auto* self = static_cast<Seat*>(data);
    if (self->inCtor_) {
      self->pending_ = enabled ? 1 : 0;
      return;
    }
    Napi::HandleScope scope(self->Env());
    Call(self->onChange_, self->Value(), {Napi::Boolean::New(self->Env(), enabled)});
  }
  // seatd gone (its socket hung up, or libseat failed and closed it): stop polling at once, as
  // the fd may be closed (and its number reused by another descriptor), and say so
  static void OnReadable(uv_poll_t* handle, int status, int events) {
    auto* self = static_cast<Seat*>(handle->data);
    if (!self->s_) return;
    self->inCtor_ = false;
    bool lost = status < 0 || (events & UV_DISCONNECT) || wd_seat_dispatch(self->s_) < 0 || wd_seat_fd(self->s_) != self->polledFd_;
    if (!lost || !self->poll_) return;
    ClosePoll(self->poll_);
    Napi::HandleScope scope(self->Env());
    Call(self->onChange_, self->Value(), {self->Env().Null()});
  }

  // openDevice(path) -> { id, fd }
  Napi::Value OpenDevice(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    inCtor_ = false;
    std::string path = info[0].As<Napi::String>();
    int fd = -1;
    char err[256] = "";
    int id = wd_seat_open_device(Need(info), path.c_str(), &fd, err, sizeof(err));
    Kick();
    if (id < 0) throw Napi::Error::New(env, err);
    Napi::Object o = Napi::Object::New(env);
    o.Set("id", id);
    o.Set("fd", fd);
    return o;
  }
  Napi::Value CloseDevice(const Napi::CallbackInfo& info) {
    wd_seat_close_device(Need(info), info[0].ToNumber().Int32Value());
    Kick();
    return info.Env().Undefined();
  }
  Napi::Value AckDisable(const Napi::CallbackInfo& info) {
    bool ok = wd_seat_ack_disable(Need(info));
    Kick();
    return Napi::Boolean::New(info.Env(), ok);
  }
  Napi::Value SwitchSession(const Napi::CallbackInfo& info) {
    bool ok = wd_seat_switch(Need(info), info[0].ToNumber().Int32Value());
    Kick();
    return Napi::Boolean::New(info.Env(), ok);
  }
  // name() -> string; and whether the seat was already ours when it opened
  Napi::Value Name(const Napi::CallbackInfo& info) {
    Napi::Object o = Napi::Object::New(info.Env());
    o.Set("name", wd_seat_name(Need(info)));
    o.Set("enabledAtOpen", pending_ == 1);
    return o;
  }
  Napi::Value Close(const Napi::CallbackInfo& info) {
    Shut();
    return info.Env().Undefined();
  }
};

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("Seat", Seat::Define(env));
  exports.Set("Output", Output::Define(env));
  exports.Set("InputDevice", InputDevice::Define(env));
  return exports;
}

}  // namespace

NODE_API_MODULE(waydesk_drm, Init)
