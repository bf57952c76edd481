// A PKCS#11 session: move-only, closed in its noexcept destructor.
#ifndef SIGNET_PKCS11_SESSION_H_
#define SIGNET_PKCS11_SESSION_H_

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "pkcs11/module.h"

namespace signet::pkcs11 {

class Session {
 public:
  static absl::StatusOr<Session> Open(std::shared_ptr<Module> module, CK_SLOT_ID slot, bool read_write);

  Session() = default;
  ~Session() { Close(); }
  Session(Session&& other) noexcept;
  Session& operator=(Session&& other) noexcept;
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  bool valid() const { return handle_ != CK_INVALID_HANDLE; }
  // Opened before the module was last reinitialized: the handle is dead (and its number may belong to
  // a new session now), so it is neither used nor closed.
  bool stale() const { return module_ != nullptr && module_->generation() != generation_; }
  CK_SESSION_HANDLE handle() const { return handle_; }
  CK_SLOT_ID slot() const { return slot_; }
  const Module& module() const { return *module_; }
  const std::shared_ptr<Module>& shared_module() const { return module_; }

  // C_GetSessionInfo: an error if the session is gone (or stale); the state tells whether the user is
  // logged in.
  absl::StatusOr<CK_STATE> State() const;
  void Close() noexcept;

 private:
  Session(std::shared_ptr<Module> module, CK_SLOT_ID slot, CK_SESSION_HANDLE handle, uint64_t generation)
      : module_(std::move(module)), slot_(slot), handle_(handle), generation_(generation) {}

  std::shared_ptr<Module> module_;
  CK_SLOT_ID slot_ = 0;
  CK_SESSION_HANDLE handle_ = CK_INVALID_HANDLE;
  uint64_t generation_ = 0;  // the module's generation when opened
};

inline bool IsUserState(CK_STATE state) {
  return state == CKS_RO_USER_FUNCTIONS || state == CKS_RW_USER_FUNCTIONS;
}

}  // namespace signet::pkcs11

#endif  // SIGNET_PKCS11_SESSION_H_
