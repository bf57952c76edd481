// base64url (RFC 4648 section 5) without padding, as Content-Signature uses it. The decoder is strict: it
// accepts exactly one spelling of each byte string, so a signature cannot be re-encoded into a second valid
// header value.
#ifndef SIGNET_SIGNING_BASE64URL_H_
#define SIGNET_SIGNING_BASE64URL_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace signet::signing {

// Alphabet [A-Za-z0-9-_], no '=' padding.
std::string Base64UrlEncode(std::span<const uint8_t> bytes);
// Characters Base64UrlEncode makes of `bytes` bytes.
size_t Base64UrlEncodedSize(size_t bytes);
// Writes Base64UrlEncode(bytes) to `out` (Base64UrlEncodedSize(bytes.size()) chars, no terminator) and
// returns the end: for writers that own their buffer.
char* Base64UrlEncodeTo(std::span<const uint8_t> bytes, char* out);

// Decodes unpadded base64url. InvalidArgument, naming the problem and its offset, for: '=' padding, '+' or
// '/' (standard base64), whitespace, any other character outside [A-Za-z0-9_-], a length that is 1 mod 4,
// non-zero trailing bits (a non-canonical encoding), and text that would decode to more than
// max_decoded_bytes (checked from the length alone, before anything is decoded).
absl::StatusOr<std::vector<uint8_t>> Base64UrlDecode(std::string_view text, size_t max_decoded_bytes);

}  // namespace signet::signing

#endif  // SIGNET_SIGNING_BASE64URL_H_
