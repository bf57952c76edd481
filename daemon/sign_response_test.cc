// The hand-written SignResponse encoder against protobuf's own serializer: for every shape of answer
// (signed and failed items, empty and long fields, lengths on both sides of each varint boundary) the
// bytes must be exactly SignResponse::SerializeAsString's, and must parse back to the same message.
#include "daemon/sign_response.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "signet/v1/signer.pb.h"
#include "signing/base64url.h"

namespace signet::daemon {
namespace {

// One item of an answer: signed (raw r||s) or failed (code and message).
struct Outcome {
  std::vector<uint8_t> raw_rs;
  int32_t code = 0;
  std::string message;
};

Outcome Signed(size_t raw_len, uint8_t seed = 7) {
  Outcome o;
  for (size_t i = 0; i < raw_len; ++i) o.raw_rs.push_back(static_cast<uint8_t>(seed + 31 * i));
  return o;
}

Outcome Failed(int32_t code, std::string message) {
  return Outcome{.raw_rs = {}, .code = code, .message = std::move(message)};
}

std::string Encode(const SignedFields& fields, const std::vector<Outcome>& items,
                   std::string_view request_id) {
  const SignResponseEncoder encoder(fields);
  size_t size = SignResponseEncoder::RequestIdSize(request_id);
  for (const Outcome& o : items) {
    size += o.raw_rs.empty() ? SignResponseEncoder::FailedItemSize(o.code, o.message)
                             : encoder.SignedItemSize(o.raw_rs.size());
  }
  // One guard byte past the end: a write beyond the computed size shows up as a changed guard.
  std::string out(size + 1, '\xa5');
  auto* begin = reinterpret_cast<uint8_t*>(out.data());
  uint8_t* p = begin;
  for (const Outcome& o : items) {
    p = o.raw_rs.empty() ? SignResponseEncoder::PutFailedItem(p, o.code, o.message)
                         : encoder.PutSignedItem(p, o.raw_rs);
  }
  p = SignResponseEncoder::PutRequestId(p, request_id);
  EXPECT_EQ(static_cast<size_t>(p - begin), size) << "the writes and the sizes disagree";
  EXPECT_EQ(out.back(), '\xa5') << "wrote past the computed size";
  out.pop_back();
  return out;
}

// The same answer built as a message, the way signetd built it before the encoder.
v1::SignResponse AsMessage(const SignedFields& fields, const std::vector<Outcome>& items,
                           std::string_view request_id) {
  v1::SignResponse response;
  for (const Outcome& o : items) {
    v1::SignItem* item = response.add_items();
    if (o.raw_rs.empty()) {
      item->mutable_error()->set_code(o.code);
      item->mutable_error()->set_message(o.message);
      continue;
    }
    v1::SignResult* r = item->mutable_result();
    const std::string signature = signing::Base64UrlEncode(o.raw_rs);
    r->set_signature(signature);
    r->set_x5u(std::string(fields.x5u));
    r->set_key_id(std::string(fields.key_id));
    r->set_content_signature(std::string(fields.header_prefix) + signature);
    r->set_public_key(fields.public_key.data(), fields.public_key.size());
  }
  response.set_request_id(std::string(request_id));
  return response;
}

void ExpectSameAsProtobuf(const SignedFields& fields, const std::vector<Outcome>& items,
                          std::string_view request_id) {
  const std::string ours = Encode(fields, items, request_id);
  const v1::SignResponse want = AsMessage(fields, items, request_id);
  EXPECT_EQ(ours, want.SerializeAsString());
  v1::SignResponse parsed;
  ASSERT_TRUE(parsed.ParseFromString(ours));
  EXPECT_EQ(parsed.DebugString(), want.DebugString());
}

const std::vector<uint8_t> kSpki(91, 0x30);  // the length of a P-256 SubjectPublicKeyInfo

SignedFields Fields(std::string_view x5u, std::string_view key_id, std::string_view prefix,
                    std::span<const uint8_t> public_key = {}) {
  return SignedFields{.x5u = x5u, .key_id = key_id, .header_prefix = prefix, .public_key = public_key};
}

TEST(SignResponseEncoderTest, SignedItemsOfEveryCurveMatchProtobuf) {
  const std::string x5u = "https://signet.example/chains/remote-settings/1796640000.pem";
  const std::string prefix = "x5u=" + x5u + ";p384ecdsa=";
  for (size_t raw : {64u, 96u, 132u}) {  // P-256, P-384, P-521
    SCOPED_TRACE(raw);
    ExpectSameAsProtobuf(Fields(x5u, "e8612dd88f44b08639292fc950eedf7f", prefix), {Signed(raw)}, "req-1");
    ExpectSameAsProtobuf(Fields("", "e8612dd88f44b08639292fc950eedf7f", "p256ecdsa="),
                         {Signed(raw, 1), Signed(raw, 2), Signed(raw, 3)},
                         "90425b17363013420000000000000000");
  }
}

TEST(SignResponseEncoderTest, PublicKeyOnlyWhenGiven) {
  const SignedFields with = Fields("", "00ff", "p256ecdsa=", kSpki);
  const SignedFields without = Fields("", "00ff", "p256ecdsa=");
  ExpectSameAsProtobuf(with, {Signed(64), Signed(64, 9)}, "r");
  ExpectSameAsProtobuf(without, {Signed(64)}, "r");
  EXPECT_EQ(SignResponseEncoder(with).SignedItemSize(64),
            SignResponseEncoder(without).SignedItemSize(64) + 2 + kSpki.size());
}

TEST(SignResponseEncoderTest, FailedItemsMatchProtobuf) {
  const SignedFields fields = Fields("", "01", "p256ecdsa=");
  ExpectSameAsProtobuf(
      fields,
      {Failed(3, "inputs[0]: 0 bytes; each input must be 1..1048576 bytes"),
       Failed(14, "HSM down: CKR_DEVICE_ERROR"), Failed(4, ""), Failed(0, "code 0 is left out"),
       Failed(-1, "a negative int32 takes ten bytes on the wire"), Failed(0, "")},
      "req");
}

TEST(SignResponseEncoderTest, MixedItemsKeepRequestOrder) {
  const SignedFields fields = Fields("https://x/c.pem", "abcd", "x5u=https://x/c.pem;p256ecdsa=");
  const std::vector<Outcome> items = {Signed(64, 1), Failed(1, "call cancelled before signing"),
                                      Signed(64, 2), Failed(4, "deadline passed before signing"),
                                      Signed(64, 3)};
  ExpectSameAsProtobuf(fields, items, "mixed");
  v1::SignResponse parsed;
  ASSERT_TRUE(parsed.ParseFromString(Encode(fields, items, "mixed")));
  ASSERT_EQ(parsed.items_size(), 5);
  EXPECT_TRUE(parsed.items(0).has_result());
  EXPECT_EQ(parsed.items(1).error().code(), 1);
  EXPECT_EQ(parsed.items(2).result().signature(), signing::Base64UrlEncode(items[2].raw_rs));
  EXPECT_EQ(parsed.items(4).result().content_signature(),
            "x5u=https://x/c.pem;p256ecdsa=" + signing::Base64UrlEncode(items[4].raw_rs));
  EXPECT_EQ(parsed.request_id(), "mixed");
}

TEST(SignResponseEncoderTest, EmptyPartsAreLeftOutAsProtobufDoes) {
  ExpectSameAsProtobuf(Fields("", "", ""), {Signed(1), Signed(2), Signed(3)}, "");
  ExpectSameAsProtobuf(Fields("", "k", "p"), {}, "only-the-id");
  ExpectSameAsProtobuf(Fields("", "k", "p"), {}, "");
  EXPECT_EQ(Encode(Fields("", "k", "p"), {}, ""), "");
}

// Every length field on both sides of the one-, two- and three-byte varint boundaries, in each nesting
// level: the field itself, the SignResult around it, the SignItem around that.
TEST(SignResponseEncoderTest, LengthsAcrossVarintBoundaries) {
  for (size_t len :
       {0u, 1u, 15u, 16u, 50u, 60u, 100u, 126u, 127u, 128u, 129u, 200u, 16383u, 16384u, 16500u}) {
    SCOPED_TRACE(len);
    const std::string x5u(len, 'u');
    const std::string message(len, 'm');
    const std::vector<uint8_t> spki(len, 0x42);
    ExpectSameAsProtobuf(Fields(x5u, "id", "x5u=;p256ecdsa="), {Signed(64)}, "r");
    ExpectSameAsProtobuf(Fields("", "id", "p256ecdsa=", spki), {Signed(64)}, std::string(len, 'r'));
    ExpectSameAsProtobuf(Fields("", "", ""), {Failed(13, message), Failed(0, message)}, "r");
  }
  for (size_t raw = 1; raw <= 140; ++raw) {
    SCOPED_TRACE(raw);
    ExpectSameAsProtobuf(Fields("u", "id", "p="), {Signed(raw, static_cast<uint8_t>(raw))}, "r");
  }
}

}  // namespace
}  // namespace signet::daemon
