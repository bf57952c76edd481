// daemon/sign_response.h: Sign's and SignHash's answer (signet.v1.SignResponse) written straight to
// protobuf wire format, in one buffer.
//
// Building the answer as a message cost, per item, a SignItem, a SignResult and four strings, made on
// the completer thread and freed on a gRPC thread: at 64 items per call that was a sixth of the CPU
// signetd spends outside the HSM, on two cores the HSM workers need. The encoder sizes the answer,
// then writes it into exactly that many bytes, in the field order protobuf's own serializer uses, so
// the bytes are the ones SignResponse::SerializeAsString would give (sign_response_test checks that).
#ifndef SIGNET_DAEMON_SIGN_RESPONSE_H_
#define SIGNET_DAEMON_SIGN_RESPONSE_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace signet::daemon {

// What every signed item of one answer shares: the key that signed, as the call was admitted with it.
struct SignedFields {
  std::string_view x5u;                 // SignResult.x5u; empty for plain keys
  std::string_view key_id;              // SignResult.key_id (hex CKA_ID)
  std::string_view header_prefix;       // content_signature = header_prefix + signature
  std::span<const uint8_t> public_key;  // SignResult.public_key; empty unless include_public_key
};

class SignResponseEncoder {
 public:
  explicit SignResponseEncoder(const SignedFields& fields) : fields_(fields) {}

  // Bytes each part takes: a SignItem with a SignResult for the raw r||s of `raw_len` bytes, a SignItem
  // with an ItemError, and SignResponse.request_id.
  size_t SignedItemSize(size_t raw_len) const;
  static size_t FailedItemSize(int32_t code, std::string_view message);
  static size_t RequestIdSize(std::string_view request_id);

  // Write the part at `out` (which has room for its size) and return the end. Items go in request
  // order, then the request id.
  uint8_t* PutSignedItem(uint8_t* out, std::span<const uint8_t> raw_rs) const;
  static uint8_t* PutFailedItem(uint8_t* out, int32_t code, std::string_view message);
  static uint8_t* PutRequestId(uint8_t* out, std::string_view request_id);

 private:
  size_t ResultSize(size_t signature_chars) const;

  SignedFields fields_;
};

}  // namespace signet::daemon

#endif  // SIGNET_DAEMON_SIGN_RESPONSE_H_
