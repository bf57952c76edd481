#include "keymgmt/rotation.h"

#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/absl_compat.h"
#include "common/hex.h"
#include "common/sha256.h"
#include "common/time_text.h"
#include "keymgmt/issuance.h"
#include "keymgmt/x509_builder.h"
#include "pkcs11/certificate.h"
#include "pkcs11/error.h"
#include "pkcs11/key.h"
#include "pkcs11/openssl_bridge.h"
#include "signing/chain.h"

namespace signet::keymgmt {
namespace {

constexpr absl::Duration kOrphanGrace = absl::Hours(1);
// %E4Y: exactly four digits (absl's %Y would read every digit that follows as the year).
constexpr char kLabelTimeFormat[] = "%E4Y%m%dT%H%M%SZ";

std::string LabelPrefix(const std::string& signer_id) { return signer_id + "/"; }

// flock(2) on the policy's lock file for the rotation's lifetime; released by close.
class FileLock {
 public:
  static absl::StatusOr<std::unique_ptr<FileLock>> Acquire(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
      return absl::FailedPreconditionError(absl::StrCat("lock file ", path, ": ", std::strerror(errno)));
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int e = errno;
      ::close(fd);
      if (e == EWOULDBLOCK) {
        return absl::AbortedError(
            absl::StrCat("another rotation holds ", path, "; only one writer rotates at a time"));
      }
      return absl::FailedPreconditionError(absl::StrCat("lock file ", path, ": ", std::strerror(e)));
    }
    return std::unique_ptr<FileLock>(new FileLock(fd));
  }
  ~FileLock() { ::close(fd_); }
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  int fd_;
};

absl::Status StepError(const std::string& signer, const char* step, const absl::Status& cause) {
  return absl::Status(cause.code(), absl::StrCat("rotation of signer '", signer, "': step '", step,
                                                 "' failed: ", cause.message()));
}

}  // namespace

std::string EndEntityLabel(const std::string& signer_id, absl::Time now) {
  return absl::StrCat(LabelPrefix(signer_id), absl::FormatTime(kLabelTimeFormat, now, absl::UTCTimeZone()));
}

std::string BuildChainPem(const X509* ee, const X509* intermediate, const X509* root) {
  return absl::StrCat(CertPem(ee), CertPem(intermediate), CertPem(root));
}

std::string ChainUrl(const std::string& base_url, const std::string& signer_id,
                     const std::string& chain_pem) {
  return absl::StrCat(base_url, ChainFileName(signer_id, chain_pem));
}

absl::StatusOr<std::vector<EndEntity>> ListEndEntities(const pkcs11::Session& session,
                                                       const std::string& signer_id) {
  auto certs = pkcs11::FindCertificates(session, std::nullopt);
  if (!certs.ok()) return certs.status();
  const std::string prefix = LabelPrefix(signer_id);
  std::vector<EndEntity> out;
  for (const auto& c : *certs) {
    if (!absl::StartsWith(c.label, prefix) || c.id.empty()) continue;
    const unsigned char* p = c.der.data();
    X509Ptr cert(d2i_X509(nullptr, &p, static_cast<long>(c.der.size())));
    if (!cert) {
      ERR_clear_error();
      continue;  // not ours to judge; it can never be active
    }
    auto not_before = Asn1TimeToTime(X509_get0_notBefore(cert.get()));
    auto not_after = Asn1TimeToTime(X509_get0_notAfter(cert.get()));
    if (!not_before.ok() || !not_after.ok()) continue;  // likewise: never active, never pruned
    EndEntity e;
    e.label = c.label;
    e.id = c.id;
    e.not_before = *not_before;
    e.not_after = *not_after;
    e.cert = std::move(cert);
    out.push_back(std::move(e));
  }
  std::sort(out.begin(), out.end(), [](const EndEntity& a, const EndEntity& b) {
    return a.not_before != b.not_before ? a.not_before > b.not_before : a.label > b.label;
  });
  return out;
}

absl::StatusOr<EndEntity> FindActiveEndEntity(const pkcs11::Session& session, const std::string& signer_id,
                                              absl::Time now) {
  auto all = ListEndEntities(session, signer_id);
  if (!all.ok()) return all.status();
  for (EndEntity& e : *all) {
    if (e.not_before <= now && now < e.not_after) return std::move(e);
  }
  return absl::NotFoundError(
      absl::StrCat("signer '", signer_id, "' has no certificate on the token valid at ", Rfc3339(now)));
}

absl::StatusOr<std::unique_ptr<Rotator>> Rotator::Create(RotationPolicy policy,
                                                         std::shared_ptr<pkcs11::SessionPool> pool,
                                                         std::unique_ptr<ChainPublisher> publisher,
                                                         std::unique_ptr<X5uFetcher> fetcher) {
  const std::string who = absl::StrCat("signer '", policy.signer_id, "'");
  if (pool == nullptr || publisher == nullptr || fetcher == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(who, ": rotation needs a session pool, a publisher and a fetcher"));
  }
  if (policy.rotate_before <= absl::ZeroDuration() || policy.rotate_before >= policy.validity) {
    return absl::InvalidArgumentError(absl::StrCat(
        who, ": rotate_before (", absl::FormatDuration(policy.rotate_before),
        ") must be more than 0 and less than validity (", absl::FormatDuration(policy.validity), ")"));
  }
  if (policy.clock_skew < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(who, ": clock_skew must not be negative"));
  }
  if (auto u = ParseHttpsUrl(policy.x5u_base_url); !u.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(who, ": x5u_base_url: ", u.status().message()));
  }
  if (!absl::EndsWith(policy.x5u_base_url, "/")) {
    return absl::InvalidArgumentError(absl::StrCat(who, ": x5u_base_url must end with '/'"));
  }
  if (policy.root_sha256.size() != 32) {
    return absl::InvalidArgumentError(absl::StrCat(who, ": root_sha256 must be 32 bytes"));
  }
  auto inter = ParseOnePemCertificate(policy.intermediate_cert_pem, "intermediate certificate");
  if (!inter.ok()) return pkcs11::WithContext(inter.status(), who);
  auto root = ParseOnePemCertificate(policy.root_cert_pem, "root certificate");
  if (!root.ok()) return pkcs11::WithContext(root.status(), who);
  const auto root_digest = Sha256(CertDer(root->get()));
  if (!std::equal(root_digest.begin(), root_digest.end(), policy.root_sha256.begin(),
                  policy.root_sha256.end())) {
    return absl::FailedPreconditionError(absl::StrCat(who, ": the root certificate's SHA-256 is ",
                                                      signing::CertSha256Fingerprint(root->get()),
                                                      ", not the pinned root_sha256"));
  }
  if (X509_verify(inter->get(), X509_get0_pubkey(root->get())) != 1) {
    ERR_clear_error();
    return absl::FailedPreconditionError(
        absl::StrCat(who, ": the intermediate certificate is not signed by the root"));
  }
  auto key = pkcs11::HsmKey::Load(pool, pkcs11::KeyQuery{.label = policy.intermediate_key_label});
  if (!key.ok()) {
    return pkcs11::WithContext(
        key.status(), absl::StrCat(who, ": intermediate_key_label '", policy.intermediate_key_label, "'"));
  }
  if (EVP_PKEY_eq((*key)->public_key(), X509_get0_pubkey(inter->get())) != 1) {
    return absl::FailedPreconditionError(absl::StrCat(who, ": intermediate_key_label '",
                                                      policy.intermediate_key_label,
                                                      "' is not the key of the intermediate certificate"));
  }
  std::unique_ptr<Rotator> r(
      new Rotator(std::move(policy), std::move(pool), std::move(publisher), std::move(fetcher)));
  r->intermediate_ = *std::move(inter);
  r->root_ = *std::move(root);
  r->intermediate_key_ = *std::move(key);
  return r;
}

absl::StatusOr<RotationOutcome> Rotator::RotateIfDue(absl::Time now, bool force) {
  std::lock_guard<std::mutex> guard(mu_);
  std::unique_ptr<FileLock> lock;
  if (policy_.lock_file) {
    auto l = FileLock::Acquire(*policy_.lock_file);
    if (!l.ok()) return StepError(policy_.signer_id, "lock", l.status());
    lock = *std::move(l);
  }
  RotationOutcome outcome;
  auto active =
      pool_->Run([&](pkcs11::Session& s) { return FindActiveEndEntity(s, policy_.signer_id, now); });
  if (!active.ok() && active.status().code() != absl::StatusCode::kNotFound) {
    return StepError(policy_.signer_id, "find the active key", active.status());
  }
  if (!active.ok()) {
    outcome.reason = "no certificate is active";
  } else if (force) {
    outcome.reason = absl::StrCat("forced; the active certificate '", active->label, "' expires ",
                                  Rfc3339(active->not_after));
  } else if (active->not_after - policy_.rotate_before <= now) {
    outcome.reason =
        absl::StrCat("the active certificate '", active->label, "' expires ", Rfc3339(active->not_after),
                     ", within rotate_before (", absl::FormatDuration(policy_.rotate_before), ")");
  } else {
    outcome.reason = absl::StrCat("not due: the active certificate '", active->label, "' expires ",
                                  Rfc3339(active->not_after), "; rotation at ",
                                  Rfc3339(active->not_after - policy_.rotate_before));
    outcome.label = active->label;
    outcome.key_id_hex = HexEncode(active->id);
    outcome.not_after = active->not_after;
  }
  if (!outcome.reason.starts_with("not due")) {
    auto rotated = Rotate(now, std::move(outcome));
    if (!rotated.ok()) return rotated.status();
    outcome = *std::move(rotated);
  }
  auto pruned = Prune(now);
  if (!pruned.ok()) return StepError(policy_.signer_id, "prune", pruned.status());
  outcome.pruned = *pruned;
  return outcome;
}

absl::StatusOr<RotationOutcome> Rotator::Rotate(absl::Time now, RotationOutcome outcome) {
  const std::string& signer = policy_.signer_id;
  const std::string label = EndEntityLabel(signer, now);
  auto info = pool_->Run([&](pkcs11::Session& s) { return pkcs11::GenerateEcKey(s, policy_.curve, label); });
  if (!info.ok()) return StepError(signer, "generate", info.status());
  const std::vector<uint8_t> id = info->id;
  // Until activation, any failure removes the new key: it was never served, nobody needs it.
  auto fail = [&](const char* step, const absl::Status& cause) -> absl::Status {
    absl::Status cleanup = pool_->Run([&](pkcs11::Session& s) { return pkcs11::DestroyKeyObjects(s, id); });
    absl::Status err = StepError(signer, step, cause);
    if (!cleanup.ok()) {
      return absl::Status(err.code(), absl::StrCat(err.message(), "; removing the unused key '", label,
                                                   "' failed too: ", cleanup.message()));
    }
    return err;
  };

  auto key = pkcs11::HsmKey::Load(pool_, pkcs11::KeyQuery{.id = id});
  if (!key.ok()) return fail("generate", key.status());
  auto bridge = pkcs11::HsmKeyToEvpPkey(intermediate_key_);
  if (!bridge.ok()) return fail("issue", bridge.status());
  const absl::Time inter_nb = CertTime(X509_get0_notBefore(intermediate_.get()));
  const absl::Time inter_na = CertTime(X509_get0_notAfter(intermediate_.get()));
  const absl::Time nb = std::max(now - policy_.clock_skew, inter_nb);
  const absl::Time na = now + policy_.validity + policy_.clock_skew;
  if (na > inter_na) {
    return fail("issue", absl::FailedPreconditionError(
                             absl::StrCat("the intermediate certificate expires ", Rfc3339(inter_na),
                                          ", before the new end-entity certificate would (", Rfc3339(na),
                                          "); bring up a new intermediate in a ceremony")));
  }
  auto cert = IssueEndEntityCertificate(intermediate_.get(), bridge->get(), (*key)->public_key(),
                                        EndEntityCertSpec{policy_.ee_name, nb, na});
  if (!cert.ok()) return fail("issue", cert.status());

  const std::string chain = BuildChainPem(cert->get(), intermediate_.get(), root_.get());
  const std::string name = ChainFileName(signer, chain);
  const std::string url = absl::StrCat(policy_.x5u_base_url, name);
  if (auto s = publisher_->Publish(name, chain); !s.ok()) return fail("publish", s);

  auto fetched = fetcher_->Fetch(url);
  if (!fetched.ok()) return fail("fetch", fetched.status());
  auto verified = signing::VerifyChainPem(
      *fetched,
      signing::ChainPolicy{.root_sha256 = policy_.root_sha256, .ee_name = policy_.ee_name, .at = now});
  if (!verified.ok()) return fail("verify", verified.status());
  if (*fetched != chain || EVP_PKEY_eq(verified->ee_public_key.get(), (*key)->public_key()) != 1) {
    return fail("verify", absl::FailedPreconditionError(
                              absl::StrCat(url, " serves a valid chain, but not the one just published")));
  }

  const std::string der = CertDer(cert->get());
  auto stored = pool_->Run([&](pkcs11::Session& s) {
    return pkcs11::StoreCertificate(
        s, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(der.data()), der.size()), id, label);
  });
  if (!stored.ok()) return fail("activate", stored);

  outcome.rotated = true;
  outcome.label = label;
  outcome.key_id_hex = HexEncode(id);
  outcome.x5u = url;
  outcome.not_after = na;
  return outcome;
}

absl::StatusOr<size_t> Rotator::Prune(absl::Time now) {
  return pool_->Run([&](pkcs11::Session& s) -> absl::StatusOr<size_t> {
    auto ees = ListEndEntities(s, policy_.signer_id);
    if (!ees.ok()) return ees.status();
    std::set<std::vector<uint8_t>> certified;
    size_t pruned = 0;
    for (const EndEntity& e : *ees) {
      if (e.not_after <= now) {
        if (auto st = pkcs11::DestroyKeyObjects(s, e.id); !st.ok()) return st;
        ++pruned;
      } else {
        certified.insert(e.id);
      }
    }
    // Keys of failed rotations whose clean-up failed too: no certificate (the expired ones are gone
    // already, with their keys), and older than the grace period (a rotation in flight would be younger).
    auto keys = pkcs11::ListEcKeys(s);
    if (!keys.ok()) return keys.status();
    const std::string prefix = LabelPrefix(policy_.signer_id);
    for (const auto& k : *keys) {
      if (!absl::StartsWith(k.label, prefix) || certified.count(k.id) > 0) continue;
      absl::Time created;
      std::string err;
      if (!absl::ParseTime(kLabelTimeFormat, k.label.substr(prefix.size()), absl::UTCTimeZone(), &created,
                           &err)) {
        continue;
      }
      if (created + kOrphanGrace < now) {
        if (auto st = pkcs11::DestroyKeyObjects(s, k.id); !st.ok()) return st;
      }
    }
    return pruned;
  });
}

}  // namespace signet::keymgmt
