#include "signing/software_signer.h"

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "signing/content_signature.h"
#include "common/openssl_error.h"

namespace signet::signing {


absl::StatusOr<std::unique_ptr<SoftwareSigner>> SoftwareSigner::Generate(EcCurve curve) {
  const EcCurveInfo& info = GetEcCurveInfo(curve);
  const std::string group(info.openssl_group);
  EvpPkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", group.c_str()));
  if (key == nullptr) {
    return absl::InternalError(
        absl::StrCat("cannot generate a ", std::string(info.name), " key: ", ConsumeOpenSslErrors()));
  }
  return std::unique_ptr<SoftwareSigner>(new SoftwareSigner(curve, std::move(key)));
}

absl::StatusOr<std::vector<uint8_t>> SoftwareSigner::SignDigest(std::span<const uint8_t> digest) {
  if (absl::Status s = CheckDigestLength(curve_, digest.size()); !s.ok()) return s;
  EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, key_.get(), nullptr));
  if (ctx == nullptr) return absl::InternalError(absl::StrCat("EVP_PKEY_CTX: ", ConsumeOpenSslErrors()));
  if (EVP_PKEY_sign_init(ctx.get()) != 1 ||
      EVP_PKEY_CTX_set_signature_md(ctx.get(), GetEcCurveInfo(curve_).md()) != 1) {
    return absl::InternalError(absl::StrCat("cannot set up ECDSA signing: ", ConsumeOpenSslErrors()));
  }
  size_t der_len = 0;
  if (EVP_PKEY_sign(ctx.get(), nullptr, &der_len, digest.data(), digest.size()) != 1) {
    return absl::InternalError(absl::StrCat("ECDSA signing failed: ", ConsumeOpenSslErrors()));
  }
  std::vector<uint8_t> der(der_len);
  if (EVP_PKEY_sign(ctx.get(), der.data(), &der_len, digest.data(), digest.size()) != 1) {
    return absl::InternalError(absl::StrCat("ECDSA signing failed: ", ConsumeOpenSslErrors()));
  }
  der.resize(der_len);
  return DerToRawSignature(curve_, der);
}

}  // namespace signet::signing
