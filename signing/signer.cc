#include "signing/signer.h"

#include "absl/status/status.h"
#include "signing/content_signature.h"

namespace signet::signing {

absl::StatusOr<std::string> SignData(DigestSigner& signer, std::span<const uint8_t> data) {
  std::vector<uint8_t> digest = ContentSignatureDigest(signer.curve(), data);
  return SignHash(signer, digest);
}

absl::StatusOr<std::string> SignHash(DigestSigner& signer, std::span<const uint8_t> digest) {
  const EcCurve curve = signer.curve();
  if (absl::Status s = CheckDigestLength(curve, digest.size()); !s.ok()) return s;
  absl::StatusOr<std::vector<uint8_t>> raw = signer.SignDigest(digest);
  if (!raw.ok()) return raw.status();
  return EncodeSignature(curve, *raw);
}

}  // namespace signet::signing
