// The options every HSM-touching `signet` command shares: --module, --token, --pin-file / --pin-env.
#ifndef SIGNET_KEYMGMT_HSM_CONNECTION_H_
#define SIGNET_KEYMGMT_HSM_CONNECTION_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/secret.h"
#include "keymgmt/cli_args.h"
#include "pkcs11/module.h"
#include "pkcs11/session_pool.h"
#include "pkcs11/token.h"

namespace signet::keymgmt {

inline constexpr char kDefaultModule[] = "/usr/lib/softhsm/libsofthsm2.so";

struct HsmConnection {
  std::shared_ptr<pkcs11::Module> module;
  std::shared_ptr<pkcs11::Token> token;
  std::shared_ptr<pkcs11::SessionPool> pool;
};

// Adds --module, --token, --pin-file, --pin-env to a flag spec.
void AddHsmFlags(FlagSpec& spec);

// --module, else the token URI's module-path, else DefaultModulePath().
std::string ModulePath(const CliArgs& args);

// $SIGNET_PKCS11_MODULE, else SoftHSM2.
std::string DefaultModulePath();

// The PIN from --<prefix>pin-file or --<prefix>pin-env (exactly one), else the token URI's pin-source.
absl::StatusOr<SecretBuffer> ReadPin(const CliArgs& args, const std::string& prefix = "",
                                     const std::optional<std::string>& uri_pin_source = std::nullopt);

// Loads the module, logs in to --token, and opens a pool of read-write sessions.
absl::StatusOr<HsmConnection> Connect(const CliArgs& args, size_t sessions = 2);

// The same from values: `token` is a label, serial=... or a pkcs11: URI.
absl::StatusOr<HsmConnection> ConnectToken(const std::string& module_path, const std::string& token, SecretBuffer pin,
                                           size_t sessions = 2);

}  // namespace signet::keymgmt

#endif  // SIGNET_KEYMGMT_HSM_CONNECTION_H_
