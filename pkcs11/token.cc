#include "pkcs11/token.h"

#include <openssl/crypto.h>

#include <map>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/absl_compat.h"
#include "pkcs11/error.h"
#include "spdlog/spdlog.h"

namespace signet::pkcs11 {
namespace {

// Tokens (module path + serial) whose PIN was rejected in this process. Retrying a rejected PIN in a
// loop is how tokens get locked; once rejected, we refuse until the process restarts.
std::mutex g_rejected_mu;
std::set<std::pair<std::string, std::string>>& RejectedPins() {
  static auto* rejected = new std::set<std::pair<std::string, std::string>>();
  return *rejected;
}

// The live Token for each (module path, slot). Login state belongs to the application, so the process
// keeps one Token per token: a second Login shares it (after checking the PIN), and only the last owner
// logs out.
std::mutex g_login_mu;
std::mutex g_tokens_mu;
std::map<std::pair<std::string, CK_SLOT_ID>, std::weak_ptr<Token>>& LiveTokens() {
  static auto* live = new std::map<std::pair<std::string, CK_SLOT_ID>, std::weak_ptr<Token>>();
  return *live;
}

bool PinWasRejected(const Module& module, const TokenInfo& info) {
  std::lock_guard<std::mutex> lock(g_rejected_mu);
  return RejectedPins().count({module.path(), info.serial}) > 0;
}

void MarkPinRejected(const Module& module, const TokenInfo& info) {
  std::lock_guard<std::mutex> lock(g_rejected_mu);
  RejectedPins().insert({module.path(), info.serial});
}

absl::Status RejectedError(const TokenInfo& info) {
  return absl::FailedPreconditionError(absl::StrCat(
      "token '", info.label, "' (serial ", info.serial,
      ") rejected the PIN earlier in this process; not trying again so the token is not locked. "
      "Fix the PIN source and restart"));
}

}  // namespace

absl::StatusOr<std::shared_ptr<Token>> Token::Login(std::shared_ptr<Module> module, const TokenSelector& selector,
                                                    SecretBuffer pin) {
  if (pin.empty()) return absl::InvalidArgumentError("user PIN is empty");
  auto tokens = module->Tokens();
  if (!tokens.ok()) return tokens.status();
  auto info = SelectToken(*tokens, selector);
  if (!info.ok()) {
    return WithContext(info.status(), absl::StrCat("module ", module->path()));
  }
  // Logins are serialized, so two first logins to one token cannot race; the registry mutex is held
  // only for lookups, because a Token that fails to log in is destroyed here and takes it too.
  std::lock_guard<std::mutex> login_lock(g_login_mu);
  const auto key = std::make_pair(module->path(), info->slot);
  std::shared_ptr<Token> existing;
  {
    std::lock_guard<std::mutex> lock(g_tokens_mu);
    auto it = LiveTokens().find(key);
    if (it != LiveTokens().end()) existing = it->second.lock();
  }
  if (existing) {
    // Already logged in: C_Login would answer CKR_USER_ALREADY_LOGGED_IN whatever the PIN, so the PIN
    // is checked against the one that logged in.
    std::lock_guard<std::mutex> lock(existing->mu_);
    if (pin.size() != existing->pin_.size() ||
        CRYPTO_memcmp(pin.data(), existing->pin_.data(), pin.size()) != 0) {
      return absl::PermissionDeniedError(absl::StrCat(
          "token '", existing->info_.label, "': this process is logged in with a different PIN"));
    }
    return existing;
  }
  std::shared_ptr<Token> token(new Token(module, *std::move(info), std::move(pin)));
  {
    std::lock_guard<std::mutex> lock(token->mu_);
    auto anchor = token->OpenSession(/*read_write=*/false);
    if (!anchor.ok()) return anchor.status();
    token->anchor_ = *std::move(anchor);
    if (auto s = token->LoginLocked(/*verify_pin=*/true); !s.ok()) return s;
  }
  std::lock_guard<std::mutex> lock(g_tokens_mu);
  LiveTokens()[key] = token;
  return token;
}

Token::~Token() {
  {
    std::lock_guard<std::mutex> lock(g_tokens_mu);
    auto it = LiveTokens().find({module_->path(), info_.slot});
    if (it != LiveTokens().end() && it->second.expired()) LiveTokens().erase(it);
  }
  if (anchor_.valid() && !anchor_.stale()) {
    absl::Status s = SIGNET_P11(*module_, C_Logout, anchor_.handle());
    auto rv = CkrOf(s);
    if (!s.ok() && rv != CKR_USER_NOT_LOGGED_IN && rv != CKR_SESSION_HANDLE_INVALID) {
      spdlog::warn("pkcs11: token '{}': {}", info_.label, Sv(s.message()));
    }
  }
}

absl::StatusOr<Session> Token::OpenSession(bool read_write) const {
  return Session::Open(module_, info_.slot, read_write);
}

absl::Status Token::LoginLocked(bool verify_pin) {
  if (PinWasRejected(*module_, info_)) return RejectedError(info_);
  if (!anchor_.valid() || !anchor_.State().ok()) {
    anchor_.Close();
    auto anchor = OpenSession(/*read_write=*/false);
    if (!anchor.ok()) return anchor.status();
    anchor_ = *std::move(anchor);
  }
  CK_RV rv = module_->functions()->C_Login(anchor_.handle(), CKU_USER, const_cast<CK_UTF8CHAR*>(pin_.data()),
                                           pin_.size());
  if (rv == CKR_USER_ALREADY_LOGGED_IN && verify_pin) {
    // Logged in by someone else in this process (not through a Token): log out and in again so that
    // the PIN is really checked.
    (void)SIGNET_P11(*module_, C_Logout, anchor_.handle());
    rv = module_->functions()->C_Login(anchor_.handle(), CKU_USER, const_cast<CK_UTF8CHAR*>(pin_.data()), pin_.size());
  }
  if (rv == CKR_USER_ALREADY_LOGGED_IN) rv = CKR_OK;
  if (rv == CKR_PIN_INCORRECT || rv == CKR_PIN_LOCKED || rv == CKR_PIN_EXPIRED) {
    MarkPinRejected(*module_, info_);
  }
  return WithContext(module_->Check("C_Login", rv), absl::StrCat("token '", info_.label, "'"));
}

absl::Status Token::Relogin() {
  std::lock_guard<std::mutex> lock(mu_);
  spdlog::info("pkcs11: logging in to token '{}' again", info_.label);
  return LoginLocked(/*verify_pin=*/false);
}

absl::StatusOr<TokenInfo> Token::Initialize(const std::shared_ptr<Module>& module, std::string_view label,
                                            const SecretBuffer& so_pin, const SecretBuffer& user_pin) {
  auto tokens = module->Tokens();
  if (!tokens.ok()) return tokens.status();
  const TokenInfo* free_slot = nullptr;
  for (const auto& t : *tokens) {
    if (t.initialized() && t.label == label) {
      return absl::AlreadyExistsError(
          absl::StrCat("a token labelled '", Av(label), "' already exists (serial ", t.serial, ")"));
    }
    if (!t.initialized() && free_slot == nullptr) free_slot = &t;
  }
  if (free_slot == nullptr) return absl::FailedPreconditionError("the module has no uninitialized token slot");
  if (auto s = module->InitToken(free_slot->slot, so_pin, label); !s.ok()) return s;
  // Some modules (SoftHSM) move a newly initialized token to another slot id: find it again by label.
  auto after = module->Tokens();
  if (!after.ok()) return after.status();
  TokenSelector sel;
  sel.token = std::string(label);
  auto info = SelectToken(*after, sel);
  if (!info.ok()) return info.status();
  if (auto s = InitUserPin(module, info->slot, so_pin, user_pin); !s.ok()) return s;
  return info;
}

absl::Status Token::InitUserPin(const std::shared_ptr<Module>& module, CK_SLOT_ID slot, const SecretBuffer& so_pin,
                                const SecretBuffer& user_pin) {
  if (user_pin.empty()) return absl::InvalidArgumentError("user PIN is empty");
  auto session = Session::Open(module, slot, /*read_write=*/true);
  if (!session.ok()) return session.status();
  if (auto s = SIGNET_P11(*module, C_Login, session->handle(), CKU_SO, const_cast<CK_UTF8CHAR*>(so_pin.data()),
                          so_pin.size());
      !s.ok()) {
    return WithContext(s, absl::StrCat("slot ", slot, ": security officer login"));
  }
  absl::Status s = SIGNET_P11(*module, C_InitPIN, session->handle(), const_cast<CK_UTF8CHAR*>(user_pin.data()),
                              user_pin.size());
  (void)SIGNET_P11(*module, C_Logout, session->handle());
  return s;
}

}  // namespace signet::pkcs11
