#include "signing/base64url.h"

#include <array>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace signet::signing {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

// -1 for every byte outside the base64url alphabet.
constexpr std::array<int8_t, 256> MakeDecodeTable() {
  std::array<int8_t, 256> table{};
  for (auto& v : table) v = -1;
  for (int i = 0; i < 64; ++i) table[static_cast<uint8_t>(kAlphabet[i])] = static_cast<int8_t>(i);
  return table;
}
constexpr std::array<int8_t, 256> kDecodeTable = MakeDecodeTable();

// Bytes that `chars` base64url characters (chars % 4 != 1) decode to.
size_t DecodedSize(size_t chars) {
  size_t rem = chars % 4;
  return chars / 4 * 3 + (rem == 0 ? 0 : rem - 1);
}

absl::Status BadCharacter(char c, size_t offset) {
  auto at = [offset] { return absl::StrCat(" at offset ", offset); };
  switch (c) {
    case '=':
      return absl::InvalidArgumentError(absl::StrCat("base64url: padding '='", at(), " is not allowed"));
    case '+':
      return absl::InvalidArgumentError(
          absl::StrCat("base64url: '+'", at(), " is standard base64, not base64url (which uses '-')"));
    case '/':
      return absl::InvalidArgumentError(
          absl::StrCat("base64url: '/'", at(), " is standard base64, not base64url (which uses '_')"));
    case ' ':
    case '\t':
    case '\n':
    case '\r':
    case '\v':
    case '\f':
      return absl::InvalidArgumentError(absl::StrCat("base64url: whitespace", at(), " is not allowed"));
    default:
      return absl::InvalidArgumentError(absl::StrCat(
          "base64url: invalid character 0x", absl::Hex(static_cast<uint8_t>(c), absl::kZeroPad2), at()));
  }
}

}  // namespace

size_t Base64UrlEncodedSize(size_t bytes) { return bytes / 3 * 4 + (bytes % 3 == 0 ? 0 : bytes % 3 + 1); }

char* Base64UrlEncodeTo(std::span<const uint8_t> bytes, char* out) {
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    uint32_t v = uint32_t{bytes[i]} << 16 | uint32_t{bytes[i + 1]} << 8 | bytes[i + 2];
    *out++ = kAlphabet[v >> 18 & 0x3f];
    *out++ = kAlphabet[v >> 12 & 0x3f];
    *out++ = kAlphabet[v >> 6 & 0x3f];
    *out++ = kAlphabet[v & 0x3f];
  }
  const size_t rem = bytes.size() - i;
  if (rem == 0) return out;
  uint32_t v = uint32_t{bytes[i]} << 16;
  if (rem == 2) v |= uint32_t{bytes[i + 1]} << 8;
  *out++ = kAlphabet[v >> 18 & 0x3f];
  *out++ = kAlphabet[v >> 12 & 0x3f];
  if (rem == 2) *out++ = kAlphabet[v >> 6 & 0x3f];
  return out;
}

std::string Base64UrlEncode(std::span<const uint8_t> bytes) {
  std::string out(Base64UrlEncodedSize(bytes.size()), '\0');
  Base64UrlEncodeTo(bytes, out.data());
  return out;
}

absl::StatusOr<std::vector<uint8_t>> Base64UrlDecode(std::string_view text, size_t max_decoded_bytes) {
  // The length alone bounds the output; refuse oversize input before touching its contents.
  if (text.size() % 4 == 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("base64url: length ", text.size(),
                     " is 1 more than a multiple of 4, which no byte string "
                     "encodes to (truncated?); the dangling character is at offset ",
                     text.size() - 1));
  }
  const size_t decoded_size = DecodedSize(text.size());
  if (decoded_size > max_decoded_bytes) {
    return absl::InvalidArgumentError(absl::StrCat("base64url: ", text.size(), " characters decode to ",
                                                   decoded_size, " bytes, more than the limit of ",
                                                   max_decoded_bytes, " bytes"));
  }

  std::vector<uint8_t> out;
  out.reserve(decoded_size);
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    int8_t v = kDecodeTable[static_cast<uint8_t>(text[i])];
    if (v < 0) return BadCharacter(text[i], i);
    acc = (acc << 6 | static_cast<uint32_t>(v)) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<uint8_t>(acc >> bits));
    }
  }
  // 2 or 4 bits are left over after a final group of 3 or 2 characters; a canonical encoder zeroes them.
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("base64url: non-zero trailing bits in the last character, at "
                     "offset ",
                     text.size() - 1, " (non-canonical encoding)"));
  }
  return out;
}

}  // namespace signet::signing
