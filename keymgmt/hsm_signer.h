// Glue: an HSM key as a signing::DigestSigner (signing/ knows nothing of PKCS#11, so the two meet here).
#ifndef SIGNET_KEYMGMT_HSM_SIGNER_H_
#define SIGNET_KEYMGMT_HSM_SIGNER_H_

#include <memory>

#include "pkcs11/hsm_key.h"
#include "signing/signer.h"

namespace signet::keymgmt {

class HsmDigestSigner : public signing::DigestSigner {
 public:
  explicit HsmDigestSigner(std::shared_ptr<pkcs11::HsmKey> key) : key_(std::move(key)) {}
  EcCurve curve() const override { return key_->curve(); }
  absl::StatusOr<std::vector<uint8_t>> SignDigest(std::span<const uint8_t> digest) override {
    return key_->SignDigest(digest);
  }
  const pkcs11::HsmKey& key() const { return *key_; }

 private:
  std::shared_ptr<pkcs11::HsmKey> key_;
};

}  // namespace signet::keymgmt

#endif  // SIGNET_KEYMGMT_HSM_SIGNER_H_
