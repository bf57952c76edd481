#include "daemon/rotation_setup.h"

#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "pkcs11/error.h"

namespace signet::daemon {
namespace {

constexpr size_t kMaxCertFileBytes = 64 * 1024;

}  // namespace

std::string RotationLockFile(const PkiSignerConfig& pki) {
  return absl::StrCat(pki.publication_dir, pki.publication_dir.ends_with('/') ? "" : "/",
                      ".signet-rotate.lock");
}

absl::StatusOr<std::unique_ptr<keymgmt::Rotator>> MakeRotator(const SignerConfig& signer,
                                                              std::shared_ptr<pkcs11::SessionPool> pool) {
  if (!signer.pki) {
    return absl::InvalidArgumentError(
        absl::StrCat("signer '", signer.id, "' is not a contentsignaturepki signer"));
  }
  const PkiSignerConfig& pki = *signer.pki;
  const std::string where = absl::StrCat("signer '", signer.id, "'");
  keymgmt::RotationPolicy policy;
  policy.signer_id = signer.id;
  policy.curve = pki.curve;
  policy.ee_name = pki.ee_name;
  policy.validity = pki.validity;
  policy.rotate_before = pki.rotate_before;
  policy.clock_skew = pki.clock_skew;
  policy.x5u_base_url = pki.x5u_base_url;
  policy.root_sha256 = pki.root_sha256;
  policy.intermediate_key_label = pki.intermediate_key_label;
  auto inter = ReadFileBounded(pki.intermediate_cert_file, kMaxCertFileBytes);
  if (!inter.ok())
    return pkcs11::WithContext(inter.status(), absl::StrCat(where, ": intermediate_cert_file"));
  policy.intermediate_cert_pem = *std::move(inter);
  auto root = ReadFileBounded(pki.root_cert_file, kMaxCertFileBytes);
  if (!root.ok()) return pkcs11::WithContext(root.status(), absl::StrCat(where, ": root_cert_file"));
  policy.root_cert_pem = *std::move(root);
  policy.lock_file = RotationLockFile(pki);
  auto publisher = keymgmt::DirectoryPublisher::Create(pki.publication_dir);
  if (!publisher.ok())
    return pkcs11::WithContext(publisher.status(), absl::StrCat(where, ": publication_dir"));
  keymgmt::HttpsFetcherOptions fetch;
  fetch.ca_file = pki.x5u_ca_file;
  return keymgmt::Rotator::Create(std::move(policy), std::move(pool), *std::move(publisher),
                                  keymgmt::NewHttpsFetcher(fetch));
}

}  // namespace signet::daemon
