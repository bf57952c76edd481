#include "tests/testing/softhsm_token.h"

#include <stdlib.h>
#include <sys/stat.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "pkcs11/error.h"

namespace signet::testing {

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = absl::StrCat(base != nullptr && *base != '\0' ? base : "/tmp", "/signet-test-XXXXXX");
  if (::mkdtemp(tmpl.data()) == nullptr) {
    std::perror("mkdtemp");
    std::abort();
  }
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

absl::StatusOr<std::string> WriteSoftHsmConfig(const std::string& dir) {
  std::string tokens = dir + "/tokens";
  if (::mkdir(tokens.c_str(), 0700) != 0 && errno != EEXIST) {
    return absl::InternalError(absl::StrCat("mkdir ", tokens));
  }
  std::string conf = dir + "/softhsm2.conf";
  std::ofstream out(conf);
  out << "directories.tokendir = " << tokens << "\n"
      << "objectstore.backend = file\n"
      << "log.level = ERROR\n"
      << "slots.removable = false\n";
  out.close();
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", conf));
  return conf;
}

absl::Status InitSoftHsmToken(const std::shared_ptr<pkcs11::Module>& module, const std::string& label) {
  return pkcs11::Token::Initialize(module, label, SecretBuffer(kTestSoPin), SecretBuffer(kTestUserPin)).status();
}

void StopIfPinRejected(const absl::Status& status) {
  auto rv = pkcs11::CkrOf(status);
  if (rv.has_value() && (*rv == CKR_PIN_INCORRECT || *rv == CKR_PIN_LOCKED)) {
    std::fprintf(stderr, "FATAL: a test token rejected its PIN (%s); stopping the suite so no token is locked\n",
                 std::string(status.message()).c_str());
    std::_Exit(3);
  }
}

absl::StatusOr<std::unique_ptr<SoftHsmToken>> SoftHsmToken::Create(const std::string& label,
                                                                   const std::string& module_path) {
  // SoftHSM reads SOFTHSM2_CONF once, at C_Initialize: a second live instance would silently share the
  // first one's directory. Use AddToken for a second token in one test.
  if (pkcs11::Module::IsLoaded(SIGNET_SOFTHSM_MODULE)) {
    return absl::FailedPreconditionError("SoftHSM is already loaded in this process; release the other SoftHsmToken");
  }
  std::unique_ptr<SoftHsmToken> t(new SoftHsmToken());
  auto conf = WriteSoftHsmConfig(t->dir_.path());
  if (!conf.ok()) return conf.status();
  t->conf_path_ = *conf;
  ::setenv("SOFTHSM2_CONF", t->conf_path_.c_str(), 1);
  auto module = pkcs11::Module::Load(module_path);
  if (!module.ok()) return module.status();
  t->module_ = *std::move(module);
  auto token = t->AddToken(label);
  if (!token.ok()) return token.status();
  t->token_ = *std::move(token);
  return t;
}

absl::StatusOr<std::shared_ptr<pkcs11::Token>> SoftHsmToken::AddToken(const std::string& label) {
  if (auto s = InitSoftHsmToken(module_, label); !s.ok()) return s;
  pkcs11::TokenSelector sel;
  sel.token = label;
  auto token = pkcs11::Token::Login(module_, sel, SecretBuffer(kTestUserPin));
  if (!token.ok()) StopIfPinRejected(token.status());
  return token;
}

absl::StatusOr<std::shared_ptr<pkcs11::SessionPool>> SoftHsmToken::Pool(size_t sessions, bool read_write) const {
  pkcs11::SessionPoolOptions opts;
  opts.max_sessions = sessions;
  opts.read_write = read_write;
  return pkcs11::SessionPool::Create(token_, opts);
}

void SoftHsmToken::Release() {
  token_.reset();
  module_.reset();
}

SoftHsmToken::~SoftHsmToken() { Release(); }

}  // namespace signet::testing
