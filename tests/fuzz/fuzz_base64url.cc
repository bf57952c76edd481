// signing/base64url.h: the strict decoder accepts exactly one spelling of each byte string (decode then
// encode gives the input back), never more than its bound, and every byte string round-trips.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "signing/base64url.h"
#include "tests/fuzz/fuzz_check.h"

using signet::fuzz::CheckRefusal;
using signet::fuzz::Require;
using signet::signing::Base64UrlDecode;
using signet::signing::Base64UrlEncode;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  for (size_t max : {size_t{0}, size_t{1}, size_t{64}, size_t{96}, size_t{132}, size}) {
    absl::StatusOr<std::vector<uint8_t>> decoded = Base64UrlDecode(text, max);
    if (!decoded.ok()) {
      CheckRefusal(decoded.status(), {"base64url: "});
      continue;
    }
    Require(decoded->size() <= max, "decoded past the bound");
    Require(Base64UrlEncode(*decoded) == text, "a second spelling was accepted (decode/encode differ)", text);
  }
  const std::string encoded = Base64UrlEncode(std::span<const uint8_t>(data, size));
  Require(encoded.size() == (size * 4 + 2) / 3, "encoded length");
  absl::StatusOr<std::vector<uint8_t>> back = Base64UrlDecode(encoded, size);
  Require(back.ok(), "the encoder's output does not decode", back.status().ToString());
  Require(std::equal(back->begin(), back->end(), data, data + size) && back->size() == size, "round trip");
  return 0;
}
