// EC keys inside the HSM: generation (raw PKCS#11; Debian's libp11 0.4.12 cannot make EC keys),
// lookup, public key export, and signing a digest with CKM_ECDSA.
#ifndef SIGNET_PKCS11_KEY_H_
#define SIGNET_PKCS11_KEY_H_

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/ec_curve.h"
#include "common/openssl_ptr.h"
#include "pkcs11/session.h"

namespace signet::pkcs11 {

inline constexpr size_t kKeyIdBytes = 16;
inline constexpr size_t kMaxLabelBytes = 128;
inline constexpr size_t kMaxDigestBytes = 64;  // SHA-512
inline constexpr size_t kMaxSignatureBytes = 2 * 66;  // P-521 r||s

struct EcKeyInfo {
  std::string label;
  std::vector<uint8_t> id;  // CKA_ID, shared by the private key, public key and certificate objects
  EcCurve curve = EcCurve::kP384;
  EvpPkeyPtr public_key;
  std::vector<uint8_t> spki_der;
};

// How to find a key: by label, by id, or both (then both must match).
struct KeyQuery {
  std::optional<std::string> label;
  std::optional<std::vector<uint8_t>> id;
  std::string Describe() const;
};

// Generates a P-256/P-384/P-521 key pair on the token. The private key gets CKA_TOKEN, CKA_PRIVATE,
// CKA_SENSITIVE=TRUE, CKA_EXTRACTABLE=FALSE and CKA_SIGN only; CKA_ID is 16 bytes from C_GenerateRandom.
// A label that any object on the token already carries is refused (AlreadyExists).
absl::StatusOr<EcKeyInfo> GenerateEcKey(const Session& rw_session, EcCurve curve, std::string_view label);

// Exactly one EC private key matching the query, with its public key read from the public key object.
absl::StatusOr<EcKeyInfo> FindEcKey(const Session& session, const KeyQuery& query);

// Every EC private key on the token that has a matching public key object.
absl::StatusOr<std::vector<EcKeyInfo>> ListEcKeys(const Session& session);

// The private key object with this CKA_ID (NotFound if none; an error if several).
absl::StatusOr<CK_OBJECT_HANDLE> FindPrivateKeyHandle(const Session& session, std::span<const uint8_t> id);

// What the token says about a private key's protection: Signet's keys are sensitive and never extractable.
struct PrivateKeyProtection {
  bool sensitive = false;
  bool extractable = true;
  bool always_sensitive = false;
  bool never_extractable = false;
};
absl::StatusOr<PrivateKeyProtection> GetPrivateKeyProtection(const Session& session, std::span<const uint8_t> id);

// C_SignInit(CKM_ECDSA) + C_Sign over a digest; returns r||s, each half field_bytes long.
absl::StatusOr<std::vector<uint8_t>> SignDigest(const Session& session, CK_OBJECT_HANDLE key, EcCurve curve,
                                                std::span<const uint8_t> digest);

// Destroys the private key, public key and certificate objects carrying this CKA_ID. Needs a R/W session.
absl::Status DestroyKeyObjects(const Session& rw_session, std::span<const uint8_t> id);

// The EC public key of a CKA_EC_PARAMS + CKA_EC_POINT pair (DER OCTET STRING or raw point).
absl::StatusOr<EvpPkeyPtr> EcPublicKey(EcCurve curve, std::span<const uint8_t> ec_point);

}  // namespace signet::pkcs11

#endif  // SIGNET_PKCS11_KEY_H_
