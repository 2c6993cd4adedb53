// Thin N-API layer over pam_session.h. Every PAM call runs on a thread of its own, never on
// libuv's pool: a module that blocks (LDAP, a network timeout) must not starve the daemon's fs
// and crypto work. Only native/pam/ts/index.ts imports this binding.
#include <napi.h>

#include <security/pam_appl.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

extern "C" {
#include "pam_session.h"
}

namespace {

struct Outcome {
  explicit Outcome(Napi::Env env) : deferred(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise::Deferred deferred;
  int code = 0;
};

class Transaction : public Napi::ObjectWrap<Transaction> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Transaction", {InstanceMethod("authenticate", &Transaction::Authenticate), InstanceMethod("account", &Transaction::Account),
                                            InstanceMethod("changePassword", &Transaction::ChangePassword), InstanceMethod("end", &Transaction::End),
                                            InstanceMethod("messages", &Transaction::Messages), InstanceMethod("user", &Transaction::User), InstanceMethod("strerror", &Transaction::StrError)});
  }

  // new Transaction(service, user, password, rhost | null, tty | null)
  explicit Transaction(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Transaction>(info) {
    Napi::Env env = info.Env();
    auto str = [&](size_t i) { return info[i].IsString() ? info[i].As<Napi::String>().Utf8Value() : std::string(); };
    std::string service = str(0), user = str(1), password = str(2), rhost = str(3), tty = str(4);
    char err[256] = "";
    p_ = wd_pam_start(service.c_str(), user.c_str(), password.c_str(), rhost.empty() ? nullptr : rhost.c_str(), tty.empty() ? nullptr : tty.c_str(),
                      err, sizeof(err));
    // the JS string's copy of the password is the caller's; ours is wiped here and inside wd_pam
    std::fill(password.begin(), password.end(), '\0');
    if (!p_) throw Napi::Error::New(env, err);
  }
  ~Transaction() override {
    if (p_ && !busy_) wd_pam_end(p_);
  }

 private:
  wd_pam* p_ = nullptr;
  bool busy_ = false;

  template <typename Fn>
  Napi::Value Run(const Napi::CallbackInfo& info, Fn fn) {
    Napi::Env env = info.Env();
    if (!p_) throw Napi::Error::New(env, "the PAM transaction has ended");
    if (busy_) throw Napi::Error::New(env, "a PAM step is still running");
    busy_ = true;
    auto* out = new Outcome(env);
    Napi::Promise promise = out->deferred.Promise();
    auto tsfn = Napi::ThreadSafeFunction::New(env, Napi::Function::New(env, [](const Napi::CallbackInfo&) {}), "waydesk-pam", 0, 1);
    Ref();  // alive until the step is done, whatever JS drops meanwhile
    wd_pam* p = p_;
    std::thread([tsfn, out, p, fn, this]() mutable {
      out->code = fn(p);
      tsfn.BlockingCall(out, [this](Napi::Env env, Napi::Function, Outcome* o) {
        busy_ = false;
        Napi::Object r = Napi::Object::New(env);
        r.Set("code", o->code);
        o->deferred.Resolve(r);
        delete o;
        Unref();
      });
      tsfn.Release();
    }).detach();
    return promise;
  }

  Napi::Value Authenticate(const Napi::CallbackInfo& info) {
    return Run(info, [](wd_pam* p) { return wd_pam_authenticate(p); });
  }
  Napi::Value Account(const Napi::CallbackInfo& info) {
    return Run(info, [](wd_pam* p) { return wd_pam_account(p); });
  }
  // changePassword(old, new) -> { code }
  Napi::Value ChangePassword(const Napi::CallbackInfo& info) {
    auto secret = std::make_shared<std::pair<std::string, std::string>>(info[0].As<Napi::String>().Utf8Value(), info[1].As<Napi::String>().Utf8Value());
    return Run(info, [secret](wd_pam* p) {
      int rc = wd_pam_change_password(p, secret->first.c_str(), secret->second.c_str());
      std::fill(secret->first.begin(), secret->first.end(), '\0');
      std::fill(secret->second.begin(), secret->second.end(), '\0');
      return rc;
    });
  }
  // end() -> { code }: ends the transaction
  Napi::Value End(const Napi::CallbackInfo& info) {
    Napi::Value v = Run(info, [](wd_pam* p) { return wd_pam_end(p); });
    p_ = nullptr;
    return v;
  }
  Napi::Value Messages(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), p_ ? wd_pam_messages(p_) : ""); }
  Napi::Value User(const Napi::CallbackInfo& info) {
    if (busy_) throw Napi::Error::New(info.Env(), "a PAM step is still running");
    return Napi::String::New(info.Env(), p_ ? wd_pam_user(p_) : "");
  }
  Napi::Value StrError(const Napi::CallbackInfo& info) {
    return Napi::String::New(info.Env(), p_ ? wd_pam_strerror(p_, info[0].ToNumber().Int32Value()) : "");
  }
};

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("Transaction", Transaction::Define(env));
  Napi::Object codes = Napi::Object::New(env);
  codes.Set("SUCCESS", PAM_SUCCESS);
  codes.Set("AUTH_ERR", PAM_AUTH_ERR);
  codes.Set("USER_UNKNOWN", PAM_USER_UNKNOWN);
  codes.Set("MAXTRIES", PAM_MAXTRIES);
  codes.Set("CRED_INSUFFICIENT", PAM_CRED_INSUFFICIENT);
  codes.Set("AUTHINFO_UNAVAIL", PAM_AUTHINFO_UNAVAIL);
  codes.Set("ACCT_EXPIRED", PAM_ACCT_EXPIRED);
  codes.Set("NEW_AUTHTOK_REQD", PAM_NEW_AUTHTOK_REQD);
  codes.Set("PERM_DENIED", PAM_PERM_DENIED);
  codes.Set("AUTHTOK_EXPIRED", PAM_AUTHTOK_EXPIRED);
  codes.Set("CONV_ERR", PAM_CONV_ERR);
  exports.Set("codes", codes);
  return exports;
}

}  // namespace

NODE_API_MODULE(waydesk_pam, Init)
