// SHA-256 of bytes, raw or as lower-case hex: fingerprints, audit lines, file names by content.
#ifndef SIGNET_COMMON_SHA256_H_
#define SIGNET_COMMON_SHA256_H_

#include <openssl/sha.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/hex.h"

namespace signet {

inline std::array<uint8_t, SHA256_DIGEST_LENGTH> Sha256(std::string_view data) {
  std::array<uint8_t, SHA256_DIGEST_LENGTH> md;
  SHA256(reinterpret_cast<const uint8_t*>(data.data()), data.size(), md.data());
  return md;
}

inline std::string Sha256Hex(std::string_view data) { return HexEncode(Sha256(data)); }

}  // namespace signet

#endif  // SIGNET_COMMON_SHA256_H_
