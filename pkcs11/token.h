// A token the process is logged in to. Login state in PKCS#11 belongs to the application and token,
// not to a session, so Token keeps one anchor session open to hold it, and keeps the PIN (in a
// zeroising buffer) so that it can log in again when the HSM forgets.
#ifndef SIGNET_PKCS11_TOKEN_H_
#define SIGNET_PKCS11_TOKEN_H_

#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "common/secret.h"
#include "pkcs11/module.h"
#include "pkcs11/session.h"
#include "pkcs11/uri.h"

namespace signet::pkcs11 {

class Token {
 public:
  // Finds the one token matching `selector` and logs in as the user. A PIN the token rejects is never
  // tried again by this process (see Login), so a bad PIN file cannot lock the token.
  static absl::StatusOr<std::shared_ptr<Token>> Login(std::shared_ptr<Module> module,
                                                      const TokenSelector& selector, SecretBuffer pin);

  ~Token();  // C_Logout, then the anchor session closes.
  Token(const Token&) = delete;
  Token& operator=(const Token&) = delete;

  const TokenInfo& info() const { return info_; }
  const std::shared_ptr<Module>& module() const { return module_; }

  // Opens a new session on this token (read-write when asked; key generation needs it).
  absl::StatusOr<Session> OpenSession(bool read_write) const;

  // Logs in again after the HSM dropped the login (CKR_USER_NOT_LOGGED_IN). Safe to call from many
  // threads; CKR_USER_ALREADY_LOGGED_IN counts as success.
  absl::Status Relogin();

  // Administrative (development tokens, tests): initializes the first uninitialized slot's token with
  // `label` (refusing a label an initialized token already has), then sets its user PIN.
  static absl::StatusOr<TokenInfo> Initialize(const std::shared_ptr<Module>& module, std::string_view label,
                                              const SecretBuffer& so_pin, const SecretBuffer& user_pin);

  // Administrative: C_InitPIN for a freshly initialized token (SO login, set user PIN, SO logout).
  static absl::Status InitUserPin(const std::shared_ptr<Module>& module, CK_SLOT_ID slot,
                                  const SecretBuffer& so_pin, const SecretBuffer& user_pin);

 private:
  Token(std::shared_ptr<Module> module, TokenInfo info, SecretBuffer pin)
      : module_(std::move(module)), info_(std::move(info)), pin_(std::move(pin)) {}
  absl::Status LoginLocked(bool verify_pin);

  std::shared_ptr<Module> module_;
  TokenInfo info_;
  std::mutex mu_;
  SecretBuffer pin_;
  Session anchor_;
};

}  // namespace signet::pkcs11

#endif  // SIGNET_PKCS11_TOKEN_H_
