#include "keymgmt/hsm_connection.h"

#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "pkcs11/uri.h"

namespace signet::keymgmt {

void AddHsmFlags(FlagSpec& spec) {
  spec.valued.insert({"module", "token", "pin-file", "pin-env"});
}

std::string ModulePath(const CliArgs& args) {
  if (auto m = args.Get("module")) return *m;
  if (auto t = args.Get("token")) {
    auto sel = pkcs11::ParseTokenSelector(*t);
    if (sel.ok() && sel->module_path) return *sel->module_path;
  }
  return DefaultModulePath();
}

std::string DefaultModulePath() {
  if (const char* env = std::getenv("SIGNET_PKCS11_MODULE"); env != nullptr && *env != '\0') return env;
  return kDefaultModule;
}

absl::StatusOr<SecretBuffer> ReadPin(const CliArgs& args, const std::string& prefix,
                                     const std::optional<std::string>& uri_pin_source) {
  auto file = args.Get(prefix + "pin-file");
  auto env = args.Get(prefix + "pin-env");
  if (file && env) {
    return absl::InvalidArgumentError(absl::StrCat("give --", prefix, "pin-file or --", prefix, "pin-env, not both"));
  }
  if (file) return ReadSecretFile(*file);
  if (env) return ReadSecretEnv(*env);
  if (uri_pin_source) {
    // RFC 7512 pin-source is a file path or file: URI; env:NAME is our extension.
    std::string src = *uri_pin_source;
    if (!src.starts_with("file:") && !src.starts_with("env:")) src = "file:" + src;
    return ReadSecretSource(src);
  }
  return absl::InvalidArgumentError(absl::StrCat("--", prefix, "pin-file PATH or --", prefix, "pin-env NAME is required"));
}

absl::StatusOr<HsmConnection> Connect(const CliArgs& args, size_t sessions) {
  auto token_arg = args.Require("token");
  if (!token_arg.ok()) return token_arg.status();
  auto selector = pkcs11::ParseTokenSelector(*token_arg);
  if (!selector.ok()) return selector.status();
  auto pin = ReadPin(args, "", selector->pin_source);
  if (!pin.ok()) return pin.status();
  return ConnectToken(ModulePath(args), *token_arg, *std::move(pin), sessions);
}

absl::StatusOr<HsmConnection> ConnectToken(const std::string& module_path, const std::string& token, SecretBuffer pin,
                                           size_t sessions) {
  auto selector = pkcs11::ParseTokenSelector(token);
  if (!selector.ok()) return selector.status();
  HsmConnection c;
  auto module = pkcs11::Module::Load(module_path);
  if (!module.ok()) return module.status();
  c.module = *std::move(module);
  auto logged_in = pkcs11::Token::Login(c.module, *selector, std::move(pin));
  if (!logged_in.ok()) return logged_in.status();
  c.token = *std::move(logged_in);
  pkcs11::SessionPoolOptions opts;
  opts.max_sessions = sessions;
  opts.read_write = true;
  auto pool = pkcs11::SessionPool::Create(c.token, opts);
  if (!pool.ok()) return pool.status();
  c.pool = *std::move(pool);
  return c;
}

}  // namespace signet::keymgmt
