// A loaded PKCS#11 module. Every C_* call goes through Module::Check, the one seam that logs the
// function and its CK_RV at debug level and turns the CK_RV into an absl::Status.
#ifndef SIGNET_PKCS11_MODULE_H_
#define SIGNET_PKCS11_MODULE_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/secret.h"
#include "pkcs11/pkcs11.h"

namespace signet::pkcs11 {

// Calls fn through module's function list and checks the result at the seam:
//   SIGNET_P11(module, C_Sign, session, data, len, sig, &sig_len)
#define SIGNET_P11(module, fn, ...) (module).Check(#fn, (module).functions()->fn(__VA_ARGS__))

struct TokenInfo {
  CK_SLOT_ID slot = 0;
  std::string label;         // blank padding trimmed
  std::string serial;        // blank padding trimmed
  std::string manufacturer;  // blank padding trimmed
  std::string model;         // blank padding trimmed
  CK_FLAGS flags = 0;
  bool initialized() const { return (flags & CKF_TOKEN_INITIALIZED) != 0; }
};

class Module {
 public:
  // Loads the module at `path` and initializes it (CKF_OS_LOCKING_OK). A module already loaded in this
  // process is shared rather than initialized twice: PKCS#11 state is per process, and a second
  // C_Finalize would pull the ground from under the first user.
  static absl::StatusOr<std::shared_ptr<Module>> Load(const std::string& path);

  // Whether a live Module for this path exists in the process.
  static bool IsLoaded(const std::string& path);

  ~Module();  // C_Finalize once, then dlclose.
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;
  Module(Module&&) = delete;
  Module& operator=(Module&&) = delete;

  CK_FUNCTION_LIST* functions() const { return functions_; }
  const std::string& path() const { return path_; }

  // The seam: logs (debug) and maps rv. Inline so the hot path pays one branch when debug is off.
  absl::Status Check(const char* function, CK_RV rv) const {
    if (debug_) LogCall(function, rv);
    if (rv == CKR_OK) return absl::OkStatus();
    return Failure(function, rv);
  }

  // Generation: moves each time Reinitialize() runs. Sessions opened under an older generation died
  // with the old initialization; their handles may be reused by new sessions and must never be used
  // or closed (Session checks).
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }

  // Held shared for a sequence of operations on a session (SessionPool::Run); Reinitialize holds it
  // exclusively, so no operation is in flight while the module is finalized.
  std::shared_timed_mutex& gate() const { return gate_; }

  // C_Finalize, then C_Initialize: the way back when the module lost its device (a network HSM that
  // restarted, CKR_CRYPTOKI_NOT_INITIALIZED). Waits up to `wait` for operations in flight to finish and
  // refuses (UNAVAILABLE) when one does not: finalizing under a hung call is undefined behaviour.
  // Sessions and logins are gone afterwards; SessionPool and Token redo them when next used.
  absl::Status Reinitialize(std::chrono::milliseconds wait);

  // Slots; with token_present only those holding a token.
  absl::StatusOr<std::vector<CK_SLOT_ID>> Slots(bool token_present) const;
  absl::StatusOr<TokenInfo> GetTokenInfo(CK_SLOT_ID slot) const;
  absl::StatusOr<std::vector<TokenInfo>> Tokens() const;

  // Initializes the token in `slot` (C_InitToken) with a label. Administrative: used by tests and
  // `signet token init`, never by the daemon.
  absl::Status InitToken(CK_SLOT_ID slot, const SecretBuffer& so_pin, std::string_view label) const;

 private:
  Module(std::string path, void* handle, CK_FUNCTION_LIST* functions);
  void LogCall(const char* function, CK_RV rv) const;
  absl::Status Failure(const char* function, CK_RV rv) const;

  std::string path_;
  void* handle_ = nullptr;
  CK_FUNCTION_LIST* functions_ = nullptr;
  bool debug_ = false;
  std::atomic<uint64_t> generation_{0};
  mutable std::shared_timed_mutex gate_;
};

}  // namespace signet::pkcs11

#endif  // SIGNET_PKCS11_MODULE_H_
