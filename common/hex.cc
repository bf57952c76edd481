#include "common/hex.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace signet {

void HexEncodeTo(std::span<const uint8_t> bytes, char* out) {
  static constexpr char kDigits[] = "0123456789abcdef";
  for (uint8_t b : bytes) {
    *out++ = kDigits[b >> 4];
    *out++ = kDigits[b & 0x0f];
  }
}

std::string HexEncode(std::span<const uint8_t> bytes) {
  std::string out(bytes.size() * 2, '\0');
  HexEncodeTo(bytes, out.data());
  return out;
}

int HexDigitValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

absl::StatusOr<std::vector<uint8_t>> HexDecode(std::string_view hex, bool allow_colons) {
  std::vector<uint8_t> out;
  out.reserve(hex.size() / 2);
  int high = -1;
  for (size_t i = 0; i < hex.size(); ++i) {
    char c = hex[i];
    if (allow_colons && c == ':') {
      if (high != -1) return absl::InvalidArgumentError(absl::StrCat("hex: colon inside a byte at offset ", i));
      continue;
    }
    int v = HexDigitValue(c);
    if (v < 0) return absl::InvalidArgumentError(absl::StrCat("hex: invalid character at offset ", i));
    if (high < 0) {
      high = v;
    } else {
      out.push_back(static_cast<uint8_t>(high << 4 | v));
      high = -1;
    }
  }
  if (high != -1) return absl::InvalidArgumentError("hex: odd number of digits");
  return out;
}

}  // namespace signet
