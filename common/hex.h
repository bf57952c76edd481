#ifndef SIGNET_COMMON_HEX_H_
#define SIGNET_COMMON_HEX_H_

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace signet {

// The value of one hex digit (either case), or -1.
int HexDigitValue(char c);

// Lower-case hex, no separators.
std::string HexEncode(std::span<const uint8_t> bytes);

// The same into out[0 .. 2 * bytes.size()), without allocating (hot paths).
void HexEncodeTo(std::span<const uint8_t> bytes, char* out);

// Accepts upper or lower case; with allow_colons, "AB:CD" is accepted too (fingerprint style).
absl::StatusOr<std::vector<uint8_t>> HexDecode(std::string_view hex, bool allow_colons = false);

}  // namespace signet

#endif  // SIGNET_COMMON_HEX_H_
