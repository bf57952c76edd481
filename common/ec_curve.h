// The three NIST curves Signet supports, with everything both signing/ and pkcs11/ need to know.
#ifndef SIGNET_COMMON_EC_CURVE_H_
#define SIGNET_COMMON_EC_CURVE_H_

#include <openssl/evp.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "absl/status/statusor.h"

namespace signet {

enum class EcCurve { kP256, kP384, kP521 };

struct EcCurveInfo {
  EcCurve curve;
  std::string_view name;           // "P-384"
  std::string_view openssl_group;  // "secp384r1", for OSSL_PKEY_PARAM_GROUP_NAME
  int nid;                         // NID_secp384r1
  size_t field_bytes;              // 48: r and s are each left-padded to this
  size_t digest_bytes;             // 48: Content-Signature hashes P-384 with SHA-384
  std::string_view hash_name;      // "SHA-384"
  const EVP_MD* (*md)();           // Sha384Md (common/digest.h): fetched once, never freed
  std::string_view cs_param;       // "p384ecdsa", the Content-Signature header parameter
  std::span<const uint8_t> oid_der;  // DER OBJECT IDENTIFIER, as found in CKA_EC_PARAMS
};

const EcCurveInfo& GetEcCurveInfo(EcCurve curve);

// Accepts "P-256"/"p256"/"prime256v1"/"secp256r1" (and likewise for P-384, P-521), case-insensitive.
absl::StatusOr<EcCurve> EcCurveFromName(std::string_view name);

// Matches CKA_EC_PARAMS (a DER OID; named curves only) against the supported curves.
absl::StatusOr<EcCurve> EcCurveFromOidDer(std::span<const uint8_t> der);

// The curve of an EC EVP_PKEY; an error for a non-EC key or an unsupported curve.
absl::StatusOr<EcCurve> EcCurveOfKey(const EVP_PKEY* key);

}  // namespace signet

#endif  // SIGNET_COMMON_EC_CURVE_H_
