// The signing side of Content-Signature, independent of where the private key lives (HSM via PKCS#11 in
// production, SoftwareSigner in unit tests).
#ifndef SIGNET_SIGNING_SIGNER_H_
#define SIGNET_SIGNING_SIGNER_H_

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/ec_curve.h"

namespace signet::signing {

// Signs a precomputed digest with an ECDSA key on curve().
class DigestSigner {
 public:
  virtual ~DigestSigner() = default;
  virtual EcCurve curve() const = 0;
  // Returns raw r||s, each left-padded to the curve's field_bytes.
  virtual absl::StatusOr<std::vector<uint8_t>> SignDigest(std::span<const uint8_t> digest) = 0;
};

// Content-Signature of data: hashes kContentSignaturePrefix || data with the signer's curve's hash, signs,
// and returns base64url r||s (its length checked by EncodeSignature).
absl::StatusOr<std::string> SignData(DigestSigner& signer, std::span<const uint8_t> data);

// Like SignData for a caller that already hashed prefix || data; the digest's length is checked first.
absl::StatusOr<std::string> SignHash(DigestSigner& signer, std::span<const uint8_t> digest);

}  // namespace signet::signing

#endif  // SIGNET_SIGNING_SIGNER_H_
