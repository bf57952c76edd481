#include "daemon/signer_registry.h"

#include <mutex>

#include "absl/strings/str_cat.h"
#include "common/absl_compat.h"
#include "common/hex.h"
#include "pkcs11/error.h"

namespace signet::daemon {

std::shared_ptr<const SignerState> SignerRegistry::MakeState(const SignerConfig& config,
                                                             std::shared_ptr<pkcs11::HsmKey> key) {
  auto s = std::make_shared<SignerState>();
  s->id = config.id;
  s->type = config.type;
  s->curve = key->curve();
  s->key_id_hex = HexEncode(key->info().id);
  s->x5u = config.x5u;
  s->spki_der = key->info().spki_der;
  const std::string_view param = GetEcCurveInfo(s->curve).cs_param;
  s->header_prefix = s->x5u.empty() ? absl::StrCat(Av(param), "=") : absl::StrCat("x5u=", s->x5u, ";", Av(param), "=");
  s->key = std::move(key);
  return s;
}

absl::StatusOr<std::unique_ptr<SignerRegistry>> SignerRegistry::Create(const std::vector<SignerConfig>& signers,
                                                                       std::shared_ptr<pkcs11::SessionPool> pool) {
  std::unique_ptr<SignerRegistry> r(new SignerRegistry());
  for (size_t i = 0; i < signers.size(); ++i) {
    const SignerConfig& c = signers[i];
    if (c.type != "contentsignature") {
      return absl::UnimplementedError(absl::StrCat("signers[", i, "] '", c.id, "': type ", c.type, " is not supported"));
    }
    auto key = pkcs11::HsmKey::Load(pool, pkcs11::KeyQuery{.label = c.key_label});
    if (!key.ok()) return pkcs11::WithContext(key.status(), absl::StrCat("signer '", c.id, "'"));
    r->signers_[c.id] = MakeState(c, *std::move(key));
  }
  return r;
}

std::shared_ptr<const SignerState> SignerRegistry::Find(std::string_view id) const {
  std::shared_lock lock(mu_);
  auto it = signers_.find(id);
  return it == signers_.end() ? nullptr : it->second;
}

std::vector<std::shared_ptr<const SignerState>> SignerRegistry::All() const {
  std::shared_lock lock(mu_);
  std::vector<std::shared_ptr<const SignerState>> out;
  for (const auto& [id, s] : signers_) out.push_back(s);
  return out;
}

std::vector<std::string> SignerRegistry::Ids() const {
  std::shared_lock lock(mu_);
  std::vector<std::string> out;
  for (const auto& [id, s] : signers_) out.push_back(id);
  return out;
}

absl::Status SignerRegistry::Replace(std::shared_ptr<const SignerState> state) {
  std::unique_lock lock(mu_);
  auto it = signers_.find(state->id);
  if (it == signers_.end()) return absl::NotFoundError(absl::StrCat("no signer '", state->id, "' to replace"));
  it->second = std::move(state);
  return absl::OkStatus();
}

}  // namespace signet::daemon
