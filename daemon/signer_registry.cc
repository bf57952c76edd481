#include "daemon/signer_registry.h"

#include <mutex>

#include "absl/strings/str_cat.h"
#include "common/absl_compat.h"
#include "common/files.h"
#include "common/hex.h"
#include "common/time_text.h"
#include "keymgmt/rotation.h"
#include "pkcs11/error.h"
#include "signing/chain.h"

namespace signet::daemon {
namespace {

constexpr size_t kMaxCertFileBytes = 64 * 1024;

std::string HeaderPrefix(EcCurve curve, const std::string& x5u) {
  const std::string_view param = GetEcCurveInfo(curve).cs_param;
  return x5u.empty() ? absl::StrCat(Av(param), "=") : absl::StrCat("x5u=", x5u, ";", Av(param), "=");
}

int64_t NotAfterUnix(const X509* cert) {
  auto t = Asn1TimeToTime(X509_get0_notAfter(cert));
  return t.ok() ? absl::ToUnixSeconds(*t) : 0;
}

}  // namespace

std::shared_ptr<const SignerState> SignerRegistry::MakeState(const SignerConfig& config, size_t index,
                                                             std::shared_ptr<pkcs11::HsmKey> key) {
  auto s = std::make_shared<SignerState>();
  s->id = config.id;
  s->index = index;
  s->type = config.type;
  s->curve = key->curve();
  s->key_id_hex = HexEncode(key->info().id);
  s->key_label = key->info().label;
  s->x5u = config.x5u;
  s->spki_der = key->info().spki_der;
  s->header_prefix = HeaderPrefix(s->curve, s->x5u);
  s->key = std::move(key);
  return s;
}

absl::StatusOr<std::unique_ptr<SignerRegistry>> SignerRegistry::Create(
    const std::vector<SignerConfig>& signers, std::shared_ptr<pkcs11::SessionPool> pool) {
  std::unique_ptr<SignerRegistry> r(new SignerRegistry());
  r->pool_ = pool;
  for (size_t i = 0; i < signers.size(); ++i) {
    const SignerConfig& c = signers[i];
    const std::string where = absl::StrCat("signers[", i, "] '", c.id, "'");
    if (c.type == "contentsignaturepki" && c.pki) {
      PkiSource source{c, i, nullptr, nullptr};
      for (auto [field, path, out] :
           {std::tuple{"intermediate_cert_file", &c.pki->intermediate_cert_file, &source.intermediate},
            std::tuple{"root_cert_file", &c.pki->root_cert_file, &source.root}}) {
        auto pem = ReadFileBounded(*path, kMaxCertFileBytes);
        if (!pem.ok()) return pkcs11::WithContext(pem.status(), absl::StrCat(where, ": ", field));
        auto cert = keymgmt::ParseOnePemCertificate(*pem, *path);
        if (!cert.ok()) return pkcs11::WithContext(cert.status(), absl::StrCat(where, ": ", field));
        *out = *std::move(cert);
      }
      // The pin is what verifiers trust: a root file that does not match it is a configuration mistake.
      const std::string root_fp = signing::CertSha256Fingerprint(source.root.get());
      if (signing::ParseSha256Fingerprint(root_fp).value_or(std::vector<uint8_t>{}) != c.pki->root_sha256) {
        return absl::FailedPreconditionError(absl::StrCat(where, ": root_cert_file ", c.pki->root_cert_file,
                                                          " has SHA-256 ", root_fp, ", not root_sha256"));
      }
      auto state = std::make_shared<SignerState>();
      state->id = c.id;
      state->index = i;
      state->type = c.type;
      state->curve = c.pki->curve;
      state->unavailable = "no end-entity key has been activated yet";
      state->intermediate_not_after_unix = NotAfterUnix(source.intermediate.get());
      state->root_not_after_unix = NotAfterUnix(source.root.get());
      r->signers_[c.id] = std::move(state);
      r->pki_.emplace(c.id, std::move(source));
      continue;
    }
    if (c.type != "contentsignature") {
      return absl::UnimplementedError(absl::StrCat(where, ": type ", c.type, " is not supported"));
    }
    auto key = pkcs11::HsmKey::Load(pool, pkcs11::KeyQuery{.label = c.key_label});
    if (!key.ok()) return pkcs11::WithContext(key.status(), absl::StrCat("signer '", c.id, "'"));
    r->signers_[c.id] = MakeState(c, i, *std::move(key));
  }
  return r;
}

absl::StatusOr<std::shared_ptr<const SignerState>> SignerRegistry::ActiveState(const PkiSource& source,
                                                                               absl::Time now,
                                                                               std::string* passed_over,
                                                                               std::string* passed_over_labels) {
  const SignerConfig& c = source.config;
  passed_over->clear();
  passed_over_labels->clear();
  auto candidates = pool_->Run([&](pkcs11::Session& s) { return keymgmt::ListEndEntities(s, c.id); });
  if (!candidates.ok()) return candidates.status();
  std::shared_ptr<const SignerState> current = Find(c.id);
  std::string skipped, skipped_labels;
  auto skip = [&](const keymgmt::EndEntity& e, absl::string_view why) {
    absl::StrAppend(&skipped, "; '", e.label, "': ", why);
    absl::StrAppend(&skipped_labels, skipped_labels.empty() ? "" : ",", e.label);
  };
  // What was skipped on the way to the key served: all of it newer than that key.
  auto found = [&](std::shared_ptr<const SignerState> s) {
    if (!skipped.empty()) {
      *passed_over = skipped.substr(2);  // without the leading "; "
      *passed_over_labels = std::move(skipped_labels);
    }
    return s;
  };
  // Newest first: the first certificate that is valid now, whose chain verifies against the pinned root
  // and whose key is in the HSM, is the one to serve. Anything else on the token is passed over, so a
  // stray or planted certificate object cannot take a signer down.
  for (const keymgmt::EndEntity& e : *candidates) {
    if (!(e.not_before <= now && now < e.not_after)) continue;
    const std::string key_id = HexEncode(e.id);
    if (current && current->key && current->key_id_hex == key_id) return found(current);
    const std::string chain =
        keymgmt::BuildChainPem(e.cert.get(), source.intermediate.get(), source.root.get());
    auto verified = signing::VerifyChainPem(
        chain, signing::ChainPolicy{.root_sha256 = c.pki->root_sha256, .ee_name = c.pki->ee_name, .at = now});
    if (!verified.ok()) {
      skip(e, verified.status().message());
      continue;
    }
    auto key = pkcs11::HsmKey::Load(pool_, pkcs11::KeyQuery{.id = e.id});
    if (!key.ok()) {
      skip(e, key.status().message());
      continue;
    }
    if (EVP_PKEY_eq((*key)->public_key(), verified->ee_public_key.get()) != 1 ||
        (*key)->curve() != c.pki->curve) {
      skip(e, absl::StrCat("its certificate is not for the key with its CKA_ID, or the curve is not ",
                           Av(GetEcCurveInfo(c.pki->curve).name)));
      continue;
    }
    auto s = std::make_shared<SignerState>();
    s->id = c.id;
    s->index = source.index;
    s->type = c.type;
    s->curve = (*key)->curve();
    s->key_id_hex = key_id;
    s->key_label = e.label;
    s->x5u = keymgmt::ChainUrl(c.pki->x5u_base_url, c.id, chain);
    s->spki_der = (*key)->info().spki_der;
    s->chain_pem = chain;
    s->not_after_unix = absl::ToUnixSeconds(e.not_after);
    s->intermediate_not_after_unix = NotAfterUnix(source.intermediate.get());
    s->root_not_after_unix = NotAfterUnix(source.root.get());
    s->header_prefix = HeaderPrefix(s->curve, s->x5u);
    s->key = *std::move(key);
    return found(std::move(s));
  }
  if (current && !current->key && skipped.empty()) return current;
  auto s = std::make_shared<SignerState>();
  s->id = c.id;
  s->index = source.index;
  s->type = c.type;
  s->curve = c.pki->curve;
  s->unavailable =
      absl::StrCat("no end-entity certificate on the token is valid now (is rotation failing?)", skipped);
  s->intermediate_not_after_unix = NotAfterUnix(source.intermediate.get());
  s->root_not_after_unix = NotAfterUnix(source.root.get());
  return std::shared_ptr<const SignerState>(std::move(s));
}

absl::StatusOr<std::vector<SignerRegistry::Change>> SignerRegistry::Refresh(absl::Time now) {
  std::lock_guard<std::mutex> refresh_lock(refresh_mu_);
  std::vector<Change> changes;
  absl::Status first_error;
  for (const auto& [id, source] : pki_) {
    std::string passed_over, passed_over_labels;
    auto state = ActiveState(source, now, &passed_over, &passed_over_labels);
    if (!state.ok()) {
      if (first_error.ok())
        first_error = pkcs11::WithContext(state.status(), absl::StrCat("signer '", id, "'"));
      continue;
    }
    // Newer certificates this replica cannot use while it keeps (or moves to) an older key: reported
    // once per set of labels, since another writer's rotation may have gone wrong, or this replica may
    // not see what that writer stored.
    std::string& reported = passed_over_labels_[id];
    if (passed_over_labels != reported) {
      reported = passed_over_labels;
      if (!passed_over.empty()) {
        changes.push_back(Change{.signer = id,
                                 .from_key_id = (*state)->key_id_hex,
                                 .to_key_id = (*state)->key_id_hex,
                                 .detail = std::move(passed_over),
                                 .kept = true});
      }
    }
    std::shared_ptr<const SignerState> current = Find(id);
    if (*state == current) continue;
    Change change{id, current && current->key ? current->key_id_hex : "",
                  (*state)->key ? (*state)->key_id_hex : "",
                  (*state)->key ? (*state)->key_label : (*state)->unavailable};
    if (current && !current->key && !(*state)->key && current->unavailable == (*state)->unavailable) continue;
    if (auto s = Replace(*std::move(state)); !s.ok()) return s;
    changes.push_back(std::move(change));
  }
  if (!first_error.ok()) return first_error;
  return changes;
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
  if (it == signers_.end())
    return absl::NotFoundError(absl::StrCat("no signer '", state->id, "' to replace"));
  it->second = std::move(state);
  return absl::OkStatus();
}

}  // namespace signet::daemon
