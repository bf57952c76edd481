#include "pkcs11/session.h"

#include "absl/strings/str_cat.h"
#include "common/absl_compat.h"
#include "pkcs11/error.h"
#include "spdlog/spdlog.h"

namespace signet::pkcs11 {

absl::StatusOr<Session> Session::Open(std::shared_ptr<Module> module, CK_SLOT_ID slot, bool read_write) {
  CK_FLAGS flags = CKF_SERIAL_SESSION | (read_write ? CKF_RW_SESSION : 0);
  CK_SESSION_HANDLE handle = CK_INVALID_HANDLE;
  const uint64_t generation = module->generation();
  if (auto s = SIGNET_P11(*module, C_OpenSession, slot, flags, nullptr, nullptr, &handle); !s.ok()) {
    return WithContext(s, absl::StrCat("slot ", slot));
  }
  return Session(std::move(module), slot, handle, generation);
}

Session::Session(Session&& other) noexcept
    : module_(std::move(other.module_)),
      slot_(other.slot_),
      handle_(other.handle_),
      generation_(other.generation_) {
  other.handle_ = CK_INVALID_HANDLE;
}

Session& Session::operator=(Session&& other) noexcept {
  if (this != &other) {
    Close();
    module_ = std::move(other.module_);
    slot_ = other.slot_;
    handle_ = other.handle_;
    generation_ = other.generation_;
    other.handle_ = CK_INVALID_HANDLE;
  }
  return *this;
}

void Session::Close() noexcept {
  if (handle_ == CK_INVALID_HANDLE) return;
  if (stale()) {  // died with the module's last initialization; the number may be someone else's now
    handle_ = CK_INVALID_HANDLE;
    return;
  }
  absl::Status s = SIGNET_P11(*module_, C_CloseSession, handle_);
  // A session the HSM already dropped is the usual reason we close it; anything else is worth a line.
  auto rv = CkrOf(s);
  if (!s.ok() && rv != CKR_SESSION_HANDLE_INVALID && rv != CKR_SESSION_CLOSED) {
    spdlog::warn("pkcs11: slot {}: {}", slot_, Sv(s.message()));
  }
  handle_ = CK_INVALID_HANDLE;
}

absl::StatusOr<CK_STATE> Session::State() const {
  if (stale()) {
    return WithContext(CkrToStatus("C_GetSessionInfo", CKR_SESSION_HANDLE_INVALID),
                       "session opened before the module was reinitialized");
  }
  CK_SESSION_INFO info{};
  if (auto s = SIGNET_P11(*module_, C_GetSessionInfo, handle_, &info); !s.ok()) return s;
  return info.state;
}

}  // namespace signet::pkcs11
