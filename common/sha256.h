// SHA-256 of bytes, raw or as lower-case hex: fingerprints, audit lines, file names by content.
#ifndef SIGNET_COMMON_SHA256_H_
#define SIGNET_COMMON_SHA256_H_

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/digest.h"
#include "common/hex.h"
#include "common/openssl_error.h"

namespace signet {

inline std::array<uint8_t, SHA256_DIGEST_LENGTH> Sha256(std::string_view data) {
  std::array<uint8_t, SHA256_DIGEST_LENGTH> md;
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), md.data(), &len, Sha256Md(), nullptr) != 1 || len != md.size()) {
    OpenSslInvariantFailure("EVP_Digest(SHA-256)");
  }
  return md;
}

inline std::string Sha256Hex(std::string_view data) { return HexEncode(Sha256(data)); }

}  // namespace signet

#endif  // SIGNET_COMMON_SHA256_H_
