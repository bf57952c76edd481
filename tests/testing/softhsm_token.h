// A throwaway SoftHSM2 token in its own temporary directory, with its own SOFTHSM2_CONF.
#ifndef SIGNET_TESTS_TESTING_SOFTHSM_TOKEN_H_
#define SIGNET_TESTS_TESTING_SOFTHSM_TOKEN_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "pkcs11/module.h"
#include "pkcs11/session_pool.h"
#include "pkcs11/token.h"
#include "tests/testing/test_pins.h"  // kTestUserPin, kTestSoPin

namespace signet::testing {

// A temporary directory removed (recursively) on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

class SoftHsmToken {
 public:
  // Creates the directory and config, points SOFTHSM2_CONF at it, loads SoftHSM, initializes a token
  // with `label`, sets the user PIN and logs in.
  // `module_path` may name a module that forwards to SoftHSM (tests/fault/'s fault injector).
  static absl::StatusOr<std::unique_ptr<SoftHsmToken>> Create(const std::string& label = "signet-test",
                                                               const std::string& module_path = SIGNET_SOFTHSM_MODULE);
  ~SoftHsmToken();

  // Initializes one more token in the same SoftHSM instance (e.g. offline + online).
  absl::StatusOr<std::shared_ptr<pkcs11::Token>> AddToken(const std::string& label);

  const std::shared_ptr<pkcs11::Module>& module() const { return module_; }
  const std::shared_ptr<pkcs11::Token>& token() const { return token_; }
  const std::string& dir() const { return dir_.path(); }
  const std::string& conf_path() const { return conf_path_; }
  absl::StatusOr<std::shared_ptr<pkcs11::SessionPool>> Pool(size_t sessions = 4, bool read_write = true) const;

  // Drops every reference this object holds (token, then module), so the module can finalize.
  void Release();

 private:
  SoftHsmToken() = default;
  TempDir dir_;
  std::string conf_path_;
  std::shared_ptr<pkcs11::Module> module_;
  std::shared_ptr<pkcs11::Token> token_;
};

// Writes a SoftHSM2 config that keeps tokens under `dir`/tokens; returns the config path.
absl::StatusOr<std::string> WriteSoftHsmConfig(const std::string& dir);

// Initializes a new token with `label` in the first free slot and sets its user PIN. Returns nothing:
// callers log in with Token::Login.
absl::Status InitSoftHsmToken(const std::shared_ptr<pkcs11::Module>& module, const std::string& label);

// Test suites must stop rather than lock a token: a rejected PIN outside a test that expects one
// ends the whole test process at once.
void StopIfPinRejected(const absl::Status& status);

}  // namespace signet::testing

#endif  // SIGNET_TESTS_TESTING_SOFTHSM_TOKEN_H_
