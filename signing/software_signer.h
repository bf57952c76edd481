// An in-memory ECDSA signer. FOR UNIT TESTS ONLY: production keys live in the HSM and are used through
// PKCS#11; a private key in process memory is exactly what Signet exists to avoid.
#ifndef SIGNET_SIGNING_SOFTWARE_SIGNER_H_
#define SIGNET_SIGNING_SOFTWARE_SIGNER_H_

#include <openssl/evp.h>

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "common/ec_curve.h"
#include "common/openssl_ptr.h"
#include "signing/signer.h"

namespace signet::signing {

class SoftwareSigner : public DigestSigner {
 public:
  // A fresh random key on curve.
  static absl::StatusOr<std::unique_ptr<SoftwareSigner>> Generate(EcCurve curve);

  ~SoftwareSigner() override = default;
  SoftwareSigner(const SoftwareSigner&) = delete;
  SoftwareSigner& operator=(const SoftwareSigner&) = delete;

  EcCurve curve() const override { return curve_; }
  // Checks the digest length, signs with EVP_PKEY_sign and returns raw r||s.
  absl::StatusOr<std::vector<uint8_t>> SignDigest(std::span<const uint8_t> digest) override;

  // The key pair (owned by this signer); use it as the public key for verification.
  EVP_PKEY* key() const { return key_.get(); }

 private:
  SoftwareSigner(EcCurve curve, EvpPkeyPtr key) : curve_(curve), key_(std::move(key)) {}

  EcCurve curve_;
  EvpPkeyPtr key_;
};

}  // namespace signet::signing

#endif  // SIGNET_SIGNING_SOFTWARE_SIGNER_H_
