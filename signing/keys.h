// Public keys in and out of PEM and DER SubjectPublicKeyInfo. Inputs are bounded (kMaxKeyInputBytes) and
// must hold an EC key on a curve Signet supports (P-256, P-384, P-521).
#ifndef SIGNET_SIGNING_KEYS_H_
#define SIGNET_SIGNING_KEYS_H_

#include <openssl/evp.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/openssl_ptr.h"

namespace signet::signing {

inline constexpr size_t kMaxKeyInputBytes = size_t{64} * 1024;

// The first "-----BEGIN PUBLIC KEY-----" block of pem.
absl::StatusOr<EvpPkeyPtr> PublicKeyFromPem(std::string_view pem);

// DER SubjectPublicKeyInfo, with no trailing data.
absl::StatusOr<EvpPkeyPtr> PublicKeyFromSpkiDer(std::span<const uint8_t> der);

// The DER SubjectPublicKeyInfo of key (its public half, if key also holds a private key).
absl::StatusOr<std::vector<uint8_t>> SpkiDer(EVP_PKEY* key);

// The "-----BEGIN PUBLIC KEY-----" PEM of key (its public half).
absl::StatusOr<std::string> PublicKeyPem(EVP_PKEY* key);

}  // namespace signet::signing

#endif  // SIGNET_SIGNING_KEYS_H_
