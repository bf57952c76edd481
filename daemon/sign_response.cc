#include "daemon/sign_response.h"

#include <cstring>

#include "signing/base64url.h"

namespace signet::daemon {
namespace {

// Field tags (field number << 3 | wire type) of signet/v1/signer.proto. Every field number is below
// 16, so every tag is one byte.
constexpr uint8_t kLen = 2, kVarint = 0;
constexpr uint8_t Tag(uint8_t field, uint8_t wire_type) {
  return static_cast<uint8_t>(field << 3 | wire_type);
}
// SignResponse
constexpr uint8_t kResponseItems = Tag(1, kLen), kResponseRequestId = Tag(2, kLen);
// SignItem (oneof outcome)
constexpr uint8_t kItemResult = Tag(1, kLen), kItemError = Tag(2, kLen);
// SignResult
constexpr uint8_t kResultSignature = Tag(1, kLen), kResultX5u = Tag(2, kLen), kResultKeyId = Tag(3, kLen),
                  kResultContentSignature = Tag(4, kLen), kResultPublicKey = Tag(5, kLen);
// ItemError
constexpr uint8_t kErrorCode = Tag(1, kVarint), kErrorMessage = Tag(2, kLen);

size_t VarintSize(uint64_t v) {
  size_t n = 1;
  for (; v >= 0x80; v >>= 7) ++n;
  return n;
}

uint8_t* PutVarint(uint8_t* out, uint64_t v) {
  for (; v >= 0x80; v >>= 7) *out++ = static_cast<uint8_t>(v | 0x80);
  *out++ = static_cast<uint8_t>(v);
  return out;
}

// An int32 field goes on the wire sign-extended to 64 bits, as protobuf writes it.
uint64_t Int32OnWire(int32_t v) { return static_cast<uint64_t>(static_cast<int64_t>(v)); }

// A length-delimited field: tag, length, then `len` bytes.
size_t LenFieldSize(size_t len) { return 1 + VarintSize(len) + len; }
// Proto3 leaves an empty string or bytes field out.
size_t OptionalLenFieldSize(size_t len) { return len == 0 ? 0 : LenFieldSize(len); }

uint8_t* PutLenHeader(uint8_t* out, uint8_t tag, size_t len) {
  *out++ = tag;
  return PutVarint(out, len);
}

uint8_t* PutBytes(uint8_t* out, const void* data, size_t len) {
  if (len != 0) std::memcpy(out, data, len);
  return out + len;
}

uint8_t* PutOptionalLenField(uint8_t* out, uint8_t tag, const void* data, size_t len) {
  if (len == 0) return out;
  return PutBytes(PutLenHeader(out, tag, len), data, len);
}

size_t ErrorSize(int32_t code, std::string_view message) {
  return (code == 0 ? 0 : 1 + VarintSize(Int32OnWire(code))) + OptionalLenFieldSize(message.size());
}

}  // namespace

size_t SignResponseEncoder::ResultSize(size_t signature_chars) const {
  return LenFieldSize(signature_chars) + OptionalLenFieldSize(fields_.x5u.size()) +
         OptionalLenFieldSize(fields_.key_id.size()) +
         LenFieldSize(fields_.header_prefix.size() + signature_chars) +
         OptionalLenFieldSize(fields_.public_key.size());
}

size_t SignResponseEncoder::SignedItemSize(size_t raw_len) const {
  const size_t item = LenFieldSize(ResultSize(signing::Base64UrlEncodedSize(raw_len)));
  return LenFieldSize(item);
}

size_t SignResponseEncoder::FailedItemSize(int32_t code, std::string_view message) {
  return LenFieldSize(LenFieldSize(ErrorSize(code, message)));
}

size_t SignResponseEncoder::RequestIdSize(std::string_view request_id) {
  return OptionalLenFieldSize(request_id.size());
}

uint8_t* SignResponseEncoder::PutSignedItem(uint8_t* out, std::span<const uint8_t> raw_rs) const {
  const size_t chars = signing::Base64UrlEncodedSize(raw_rs.size());
  const size_t result = ResultSize(chars);
  out = PutLenHeader(out, kResponseItems, LenFieldSize(result));
  out = PutLenHeader(out, kItemResult, result);
  out = PutLenHeader(out, kResultSignature, chars);
  const uint8_t* signature = out;
  out = reinterpret_cast<uint8_t*>(signing::Base64UrlEncodeTo(raw_rs, reinterpret_cast<char*>(out)));
  out = PutOptionalLenField(out, kResultX5u, fields_.x5u.data(), fields_.x5u.size());
  out = PutOptionalLenField(out, kResultKeyId, fields_.key_id.data(), fields_.key_id.size());
  out = PutLenHeader(out, kResultContentSignature, fields_.header_prefix.size() + chars);
  out = PutBytes(out, fields_.header_prefix.data(), fields_.header_prefix.size());
  out = PutBytes(out, signature, chars);
  return PutOptionalLenField(out, kResultPublicKey, fields_.public_key.data(), fields_.public_key.size());
}

uint8_t* SignResponseEncoder::PutFailedItem(uint8_t* out, int32_t code, std::string_view message) {
  const size_t error = ErrorSize(code, message);
  out = PutLenHeader(out, kResponseItems, LenFieldSize(error));
  out = PutLenHeader(out, kItemError, error);
  if (code != 0) {
    *out++ = kErrorCode;
    out = PutVarint(out, Int32OnWire(code));
  }
  return PutOptionalLenField(out, kErrorMessage, message.data(), message.size());
}

uint8_t* SignResponseEncoder::PutRequestId(uint8_t* out, std::string_view request_id) {
  return PutOptionalLenField(out, kResponseRequestId, request_id.data(), request_id.size());
}

}  // namespace signet::daemon
