// Thin N-API layer over core.h: argument conversion, the uv_poll integration, nothing else.
// Only native/compositor/index.ts imports this binding.
#include <napi.h>
#include <uv.h>

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "core.h"

namespace {

class Compositor : public Napi::ObjectWrap<Compositor> {
 public:
  static Napi::Object Init(Napi::Env env, Napi::Object exports) {
    Napi::Function ctor = DefineClass(env, "Compositor", {
      InstanceMethod("close", &Compositor::Close),
      InstanceMethod("socket", &Compositor::Socket),
      InstanceMethod("renderer", &Compositor::Renderer),
      InstanceMethod("xwaylandDisplay", &Compositor::XwaylandDisplay),
      InstanceMethod("nextEvents", &Compositor::NextEvents),
      InstanceMethod("outputMode", &Compositor::OutputMode),
      InstanceMethod("setOutputMode", &Compositor::SetOutputMode),
      InstanceMethod("configure", &Compositor::Configure),
      InstanceMethod("setPosition", &Compositor::SetPosition),
      InstanceMethod("setToplevelDefault", &Compositor::SetToplevelDefault),
      InstanceMethod("raise", &Compositor::Raise),
      InstanceMethod("setMinimized", &Compositor::SetMinimized),
      InstanceMethod("closeView", &Compositor::CloseView),
      InstanceMethod("focus", &Compositor::Focus),
      InstanceMethod("viewAt", &Compositor::ViewAt),
      InstanceMethod("geometry", &Compositor::Geometry),
      InstanceMethod("configureLayer", &Compositor::ConfigureLayer),
      InstanceMethod("setKeymap", &Compositor::SetKeymap),
      InstanceMethod("key", &Compositor::Key),
      InstanceMethod("keyForward", &Compositor::KeyForward),
      InstanceMethod("pointerMotion", &Compositor::PointerMotion),
      InstanceMethod("pointerButton", &Compositor::PointerButton),
      InstanceMethod("pointerAxis", &Compositor::PointerAxis),
      InstanceMethod("cursor", &Compositor::Cursor),
      InstanceMethod("setPaused", &Compositor::SetPaused),
      InstanceMethod("releasePicture", &Compositor::ReleasePictureBuffers),
      InstanceMethod("restorePicture", &Compositor::RestorePicture),
      InstanceMethod("takeFrame", &Compositor::TakeFrame),
      InstanceMethod("picture", &Compositor::Picture),
      InstanceMethod("stats", &Compositor::Stats),
    });
    exports.Set("Compositor", ctor);
    return exports;
  }

  // new Compositor({socket, width, height, refreshMhz, pixman, xwayland}, onWake)
  explicit Compositor(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Compositor>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsObject() || !info[1].IsFunction()) {
      throw Napi::TypeError::New(env, "new Compositor(options, onWake): options object and callback required");
    }
    Napi::Object o = info[0].As<Napi::Object>();
    std::string socket = o.Has("socket") && o.Get("socket").IsString() ? o.Get("socket").As<Napi::String>().Utf8Value() : "";
    wd_config cfg{};
    cfg.socket_name = socket.empty() ? nullptr : socket.c_str();
    cfg.width = o.Get("width").ToNumber().Int32Value();
    cfg.height = o.Get("height").ToNumber().Int32Value();
    cfg.max_width = o.Get("maxWidth").ToNumber().Int32Value();
    cfg.max_height = o.Get("maxHeight").ToNumber().Int32Value();
    cfg.refresh_mhz = o.Get("refreshMhz").ToNumber().Int32Value();
    cfg.pixman = o.Get("pixman").ToBoolean().Value();
    cfg.xwayland = o.Get("xwayland").ToBoolean().Value();
    cfg.fb_alloc = &Compositor::AllocPicture;
    cfg.fb_release = &Compositor::ReleasePicture;
    cfg.fb_ctx = this;
    env_ = env;
    char err[256] = "";
    server_ = wd_server_create(&cfg, err, sizeof(err));
    if (!server_) throw Napi::Error::New(env, std::string("compositor start failed: ") + err);
    onWake_ = Napi::Persistent(info[1].As<Napi::Function>());
    asyncContext_ = new Napi::AsyncContext(env, "waydesk:compositor");
    uv_loop_t* loop = nullptr;
    napi_get_uv_event_loop(env, &loop);
    poll_ = new uv_poll_t;
    uv_poll_init(loop, poll_, wd_server_fd(server_));
    poll_->data = this;
    uv_poll_start(poll_, UV_READABLE, &Compositor::OnReadable);
    kick_ = new uv_timer_t;
    uv_timer_init(loop, kick_);
    kick_->data = this;
    Ref();  // alive while the poll handle is: closed only by close()
  }

  ~Compositor() override { Destroy(); }

 private:
  wd_server* server_ = nullptr;
  uv_poll_t* poll_ = nullptr;
  /* The core's CPU copy of the picture, in a Node Buffer: the encoder reads it in place. Only
   * allocated inside calls from JS (creation, setOutputMode), when env_ is usable. */
  napi_env env_ = nullptr;
  Napi::Reference<Napi::Buffer<uint8_t>> picture_;
  /* Resuming schedules the held frame as a wayland idle source, which does not make the
   * event loop's fd readable: this timer runs the loop on the next turn instead of waiting
   * for the next client request (a stopped video would never send one). */
  uv_timer_t* kick_ = nullptr;
  Napi::FunctionReference onWake_;
  Napi::AsyncContext* asyncContext_ = nullptr;
  uint64_t framesSeen_ = 0;

  static void* AllocPicture(void* ctx, size_t bytes) {
    auto* self = static_cast<Compositor*>(ctx);
    Napi::Env env(self->env_);
    Napi::HandleScope scope(env);
    Napi::Buffer<uint8_t> b = Napi::Buffer<uint8_t>::New(env, bytes);
    memset(b.Data(), 0, bytes);
    self->picture_ = Napi::Persistent(b);
    return b.Data();
  }

  static void ReleasePicture(void* ctx, void* fb) {
    // JS may still hold the old Buffer (it stays valid memory); the core no longer writes it.
    static_cast<Compositor*>(ctx)->picture_.Reset();
  }

  static void OnKick(uv_timer_t* handle) {
    auto* self = static_cast<Compositor*>(handle->data);
    if (!self->server_) return;
    wd_server_dispatch(self->server_);
    self->Wake();
    if (self->server_) wd_server_flush(self->server_);
  }

  static void OnReadable(uv_poll_t* handle, int status, int events) {
    auto* self = static_cast<Compositor*>(handle->data);
    if (!self->server_) return;
    wd_server_dispatch(self->server_);
    self->Wake();
    if (self->server_) wd_server_flush(self->server_);
  }

  // JS runs here, outside every wlroots signal handler: the core only queued.
  void Wake() {
    wd_stats st;
    wd_stats_get(server_, &st);
    bool frame = st.frames_captured != framesSeen_;
    framesSeen_ = st.frames_captured;
    // The headless output ticks at the refresh rate even when idle: stay in C then.
    if (!frame && wd_pending_events(server_) == 0) return;
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    try {
      onWake_.MakeCallback(Value(), {Napi::Boolean::New(env, frame)}, *asyncContext_);
    } catch (const Napi::Error& e) {
      // A throw in policy code must reach process 'uncaughtException', not std::terminate.
      napi_fatal_exception(env, e.Value());
    }
  }

  void Destroy() {
    if (poll_) {
      uv_poll_stop(poll_);
      uv_close(reinterpret_cast<uv_handle_t*>(poll_), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
      poll_ = nullptr;
    }
    if (kick_) {
      uv_timer_stop(kick_);
      uv_close(reinterpret_cast<uv_handle_t*>(kick_), [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
      kick_ = nullptr;
    }
    if (server_) {
      wd_server_destroy(server_);
      server_ = nullptr;
    }
    delete asyncContext_;
    asyncContext_ = nullptr;
  }

  wd_server* Server(const Napi::CallbackInfo& info) {
    if (!server_) throw Napi::Error::New(info.Env(), "compositor is closed");
    return server_;
  }

  // Every call that changes state runs idle work and flushes, or clients would wait for
  // the next wakeup (FIELD-NOTES: 1.7 ms -> 16 ms for the first key).
  void Flush() {
    if (server_) wd_server_flush(server_);
  }

  static uint32_t U32(const Napi::CallbackInfo& info, size_t i) { return info[i].ToNumber().Uint32Value(); }
  static int32_t I32(const Napi::CallbackInfo& info, size_t i) { return info[i].ToNumber().Int32Value(); }
  static double F64(const Napi::CallbackInfo& info, size_t i) { return info[i].ToNumber().DoubleValue(); }
  static bool Bool(const Napi::CallbackInfo& info, size_t i) { return info[i].ToBoolean().Value(); }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (server_) {
      Destroy();
      Unref();
    }
    return info.Env().Undefined();
  }

  Napi::Value Socket(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), wd_server_socket(Server(info))); }
  Napi::Value Renderer(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), wd_server_renderer(Server(info))); }
  Napi::Value XwaylandDisplay(const Napi::CallbackInfo& info) {
    const char* d = wd_xwayland_display(Server(info));
    return d ? Napi::String::New(info.Env(), d) : info.Env().Null();
  }

  Napi::Value NextEvents(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    wd_server* s = Server(info);
    Napi::Array out = Napi::Array::New(env);
    wd_event ev;
    uint32_t n = 0;
    while (wd_next_event(s, &ev)) {
      Napi::Object o = Napi::Object::New(env);
      o.Set("type", ev.type);
      o.Set("id", ev.id);
      o.Set("parent", ev.parent);
      Napi::Int32Array ints = Napi::Int32Array::New(env, WD_EVENT_INTS);
      for (int i = 0; i < WD_EVENT_INTS; i++) ints[i] = ev.i[i];
      o.Set("i", ints);
      o.Set("s0", ev.str[0] ? Napi::Value(Napi::String::New(env, ev.str[0])) : env.Null());
      o.Set("s1", ev.str[1] ? Napi::Value(Napi::String::New(env, ev.str[1])) : env.Null());
      wd_event_free(&ev);
      out[n++] = o;
    }
    return out;
  }

  Napi::Value OutputMode(const Napi::CallbackInfo& info) {
    int w, h, r;
    wd_output_get(Server(info), &w, &h, &r);
    Napi::Object o = Napi::Object::New(info.Env());
    o.Set("width", w);
    o.Set("height", h);
    o.Set("refreshMhz", r);
    return o;
  }

  Napi::Value SetOutputMode(const Napi::CallbackInfo& info) {
    bool ok = wd_output_set_mode(Server(info), I32(info, 0), I32(info, 1), I32(info, 2));
    Flush();
    return Napi::Boolean::New(info.Env(), ok);
  }

  Napi::Value Configure(const Napi::CallbackInfo& info) {
    bool ok = wd_view_configure(Server(info), U32(info, 0), I32(info, 1), I32(info, 2), Bool(info, 3), Bool(info, 4));
    Flush();
    return Napi::Boolean::New(info.Env(), ok);
  }

  Napi::Value SetToplevelDefault(const Napi::CallbackInfo& info) {
    wd_set_toplevel_default(Server(info), I32(info, 0), I32(info, 1));
    return info.Env().Undefined();
  }

  Napi::Value SetPosition(const Napi::CallbackInfo& info) {
    bool ok = wd_view_set_position(Server(info), U32(info, 0), I32(info, 1), I32(info, 2));
    Flush();
    return Napi::Boolean::New(info.Env(), ok);
  }

  Napi::Value Raise(const Napi::CallbackInfo& info) {
    bool ok = wd_view_raise(Server(info), U32(info, 0));
    Flush();
    return Napi::Boolean::New(info.Env(), ok);
  }

  Napi::Value SetMinimized(const Napi::CallbackInfo& info) {
    bool ok = wd_view_set_minimized(Server(info), U32(info, 0), info[1].ToBoolean().Value());
    Flush();
    return Napi::Boolean::New(info.Env(), ok);
  }

  Napi::Value CloseView(const Napi::CallbackInfo& info) {
    bool ok = wd_view_close(Server(info), U32(info, 0));
    Flush();
    return Napi::Boolean::New(info.Env(), ok);
  }

  Napi::Value Focus(const Napi::CallbackInfo& info) {
    bool ok = wd_focus(Server(info), U32(info, 0));
    Flush();
    return Napi::Boolean::New(info.Env(), ok);
  }

  Napi::Value ViewAt(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), wd_view_at(Server(info), F64(info, 0), F64(info, 1)));
  }

  Napi::Value Geometry(const Napi::CallbackInfo& info) {
    wd_rect r;
    if (!wd_view_geometry(Server(info), U32(info, 0), &r)) return info.Env().Null();
    Napi::Object o = Napi::Object::New(info.Env());
    o.Set("x", r.x);
    o.Set("y", r.y);
    o.Set("width", r.width);
    o.Set("height", r.height);
    return o;
  }

  Napi::Value ConfigureLayer(const Napi::CallbackInfo& info) {
    bool ok = wd_layer_configure(Server(info), U32(info, 0), I32(info, 1), I32(info, 2), I32(info, 3), I32(info, 4));
    Flush();
    return Napi::Boolean::New(info.Env(), ok);
  }

  Napi::Value SetKeymap(const Napi::CallbackInfo& info) {
    auto str = [&](size_t i) { return info[i].IsString() ? info[i].As<Napi::String>().Utf8Value() : std::string(); };
    std::string rules = str(0), model = str(1), layout = str(2), variant = str(3), options = str(4);
    auto c = [](const std::string& v) { return v.empty() ? nullptr : v.c_str(); };
    bool ok = wd_set_keymap(Server(info), c(rules), c(model), c(layout), c(variant), c(options));
    Flush();
    return Napi::Boolean::New(info.Env(), ok);
  }

  // key(code, pressed, timeMs) -> {syms: number[], mods}
  Napi::Value Key(const Napi::CallbackInfo& info) {
    uint32_t syms[8];
    uint32_t mods = 0;
    int n = wd_key(Server(info), U32(info, 0), Bool(info, 1), U32(info, 2), syms, 8, &mods);
    Flush();
    Napi::Env env = info.Env();
    Napi::Array a = Napi::Array::New(env, n);
    for (int i = 0; i < n; i++) a[i] = syms[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("syms", a);
    o.Set("mods", mods);
    return o;
  }

  Napi::Value KeyForward(const Napi::CallbackInfo& info) {
    wd_key_forward(Server(info), U32(info, 0), Bool(info, 1), U32(info, 2));
    Flush();
    return info.Env().Undefined();
  }

  Napi::Value PointerMotion(const Napi::CallbackInfo& info) {
    wd_pointer_motion(Server(info), F64(info, 0), F64(info, 1), U32(info, 2));
    Flush();
    return info.Env().Undefined();
  }

  Napi::Value PointerButton(const Napi::CallbackInfo& info) {
    wd_pointer_button(Server(info), U32(info, 0), Bool(info, 1), U32(info, 2));
    Flush();
    return info.Env().Undefined();
  }

  Napi::Value PointerAxis(const Napi::CallbackInfo& info) {
    wd_pointer_axis(Server(info), Bool(info, 0), F64(info, 1), I32(info, 2), U32(info, 3));
    Flush();
    return info.Env().Undefined();
  }

  Napi::Value Cursor(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    wd_cursor c;
    wd_cursor_get(Server(info), &c);
    Napi::Object o = Napi::Object::New(env);
    o.Set("mode", c.mode);
    o.Set("width", c.width);
    o.Set("height", c.height);
    o.Set("hotspotX", c.hotspot_x);
    o.Set("hotspotY", c.hotspot_y);
    o.Set("x", c.x);
    o.Set("y", c.y);
    size_t len = static_cast<size_t>(c.width) * c.height * 4;
    o.Set("pixels", len ? Napi::Value(Napi::Buffer<uint8_t>::Copy(env, c.pixels, len)) : env.Null());
    return o;
  }

  Napi::Value SetPaused(const Napi::CallbackInfo& info) {
    bool paused = Bool(info, 0);
    if (wd_frames_set_paused(Server(info), paused) && !paused && kick_) uv_timer_start(kick_, &Compositor::OnKick, 0, 0);
    Flush();
    return info.Env().Undefined();
  }

  Napi::Value ReleasePictureBuffers(const Napi::CallbackInfo& info) {
    wd_picture_release(Server(info));
    Flush();
    return info.Env().Undefined();
  }

  Napi::Value RestorePicture(const Napi::CallbackInfo& info) {
    bool ok = wd_picture_restore(Server(info));
    Flush();
    return Napi::Boolean::New(info.Env(), ok);
  }

  Napi::Value TakeFrame(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    wd_server* s = Server(info);
    size_t n = wd_frame_pending(s);
    if (n == 0) return env.Null();
    Napi::Int32Array rects = Napi::Int32Array::New(env, n * 4);
    wd_frame_meta meta;
    if (!wd_frame_take(s, reinterpret_cast<wd_rect*>(rects.Data()), n, &meta)) {
      throw Napi::Error::New(env, "frame changed while being taken");
    }
    Napi::Object o = Napi::Object::New(env);
    o.Set("seq", static_cast<double>(meta.seq));
    o.Set("firstDamageUs", static_cast<double>(meta.first_damage_ns) / 1000.0);
    o.Set("captureUs", static_cast<double>(meta.capture_ns) / 1000.0);
    o.Set("commitUs", static_cast<double>(meta.commit_ns) / 1000.0);
    o.Set("commitLastUs", static_cast<double>(meta.commit_last_ns) / 1000.0);
    o.Set("composeUs", static_cast<double>(meta.compose_ns) / 1000.0);
    o.Set("width", meta.width);
    o.Set("height", meta.height);
    o.Set("rects", rects);
    return o;
  }

  Napi::Value Picture(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    wd_server* s = Server(info);
    if (picture_.IsEmpty()) return env.Null();
    int w, h, r;
    wd_output_get(s, &w, &h, &r);
    Napi::Buffer<uint8_t> b = picture_.Value();
    if (b.Length() != static_cast<size_t>(w) * h * 4) return env.Null();
    Napi::Object o = Napi::Object::New(env);
    o.Set("width", w);
    o.Set("height", h);
    o.Set("pixels", b);
    return o;
  }

  Napi::Value Stats(const Napi::CallbackInfo& info) {
    wd_stats st;
    wd_stats_get(Server(info), &st);
    Napi::Object o = Napi::Object::New(info.Env());
    o.Set("framesCaptured", static_cast<double>(st.frames_captured));
    o.Set("framesUnchanged", static_cast<double>(st.frames_unchanged));
    o.Set("lastRenderUs", static_cast<double>(st.last_render_ns) / 1000.0);
    o.Set("lastCaptureUs", static_cast<double>(st.last_capture_ns) / 1000.0);
    o.Set("totalRenderUs", static_cast<double>(st.total_render_ns) / 1000.0);
    o.Set("totalCaptureUs", static_cast<double>(st.total_capture_ns) / 1000.0);
    o.Set("damagePxReported", static_cast<double>(st.damage_px_reported));
    o.Set("damagePxRefined", static_cast<double>(st.damage_px_refined));
    return o;
  }
};

// peerCredentials(fd) -> { pid, uid, gid } of the process at the other end of a Unix socket,
// as the kernel recorded it at connect time (SO_PEERCRED): what the peer cannot forge.
Napi::Value PeerCredentials(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].ToNumber().Int32Value();
  struct ucred cred {};
  socklen_t len = sizeof(cred);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) throw Napi::Error::New(env, std::string("SO_PEERCRED: ") + strerror(errno));
  Napi::Object o = Napi::Object::New(env);
  o.Set("pid", static_cast<double>(cred.pid));
  o.Set("uid", static_cast<double>(cred.uid));
  o.Set("gid", static_cast<double>(cred.gid));
  return o;
}

// exitWithParent(parentPid) -> boolean: SIGTERM when the parent dies. Credential changes clear
// this setting, so it is made after dropping privileges; false if the parent is already gone.
Napi::Value ExitWithParent(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  pid_t parent = static_cast<pid_t>(info[0].ToNumber().Int32Value());
  if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0) throw Napi::Error::New(env, std::string("PR_SET_PDEATHSIG: ") + strerror(errno));
  return Napi::Boolean::New(env, getppid() == parent);
}

Napi::Object InitAll(Napi::Env env, Napi::Object exports) {
  exports.Set("peerCredentials", Napi::Function::New(env, PeerCredentials));
  exports.Set("exitWithParent", Napi::Function::New(env, ExitWithParent));
  return Compositor::Init(env, exports);
}

}  // namespace

NODE_API_MODULE(waydesk_compositor, InitAll)
