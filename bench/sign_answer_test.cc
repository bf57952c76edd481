#include "bench/sign_answer.h"

#include <gmock/gmock.h>
#include <grpcpp/support/slice.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "bench/sign_answer_count.h"
#include "signet/v1/signer.pb.h"

namespace signet::bench {
namespace {

using ::testing::ElementsAre;

// The bytes in slices of `piece` bytes each (0: one slice), as gRPC may hand them over.
grpc::ByteBuffer Bytes(const std::string& wire, size_t piece = 0) {
  std::vector<grpc::Slice> slices;
  if (piece == 0) piece = wire.empty() ? 1 : wire.size();
  for (size_t at = 0; at < wire.size(); at += piece)
    slices.emplace_back(wire.data() + at, std::min(piece, wire.size() - at));
  return grpc::ByteBuffer(slices.data(), slices.size());
}

void AddSigned(v1::SignResponse& r, const std::string& key_id, const std::string& x5u) {
  v1::SignResult* s = r.add_items()->mutable_result();
  s->set_signature("c2lnbmF0dXJl");
  s->set_content_signature("p384ecdsa=c2lnbmF0dXJl");
  s->set_key_id(key_id);
  s->set_x5u(x5u);
  s->set_public_key(std::string("\x30\x76\x00\x01", 4));
}

void AddFailed(v1::SignResponse& r, int code) {
  v1::ItemError* e = r.add_items()->mutable_error();
  e->set_code(code);
  e->set_message("the HSM did not answer");
}

void ExpectSame(const AnswerCount& got, const AnswerCount& want) {
  EXPECT_EQ(got.items, want.items);
  EXPECT_EQ(got.error_codes, want.error_codes);
  EXPECT_EQ(got.keys, want.keys);
}

v1::SignResponse Mixed() {
  v1::SignResponse r;
  r.set_request_id("0123456789abcdef");
  AddSigned(r, "aaaa", "https://example.test/chain.pem");
  AddSigned(r, "aaaa", "https://example.test/chain.pem");
  AddFailed(r, 4);
  AddSigned(r, "bbbb", "https://example.test/next.pem");  // a rotation between two items of one call
  AddSigned(r, "aaaa", "https://example.test/chain.pem");
  AddFailed(r, 14);
  return r;
}

TEST(ScanSignAnswerTest, CountsSignedItemsPerKeyAndFailedItemsByCode) {
  grpc::ByteBuffer bytes = Bytes(Mixed().SerializeAsString());
  AnswerTally t;
  ASSERT_TRUE(ScanSignAnswer(&bytes, t));
  EXPECT_EQ(t.Items(), 6u);
  EXPECT_THAT(t.error_codes, ElementsAre(4, 14));
  ASSERT_EQ(t.keys_used, 2u);
  EXPECT_EQ(t.keys[0].key_id, "aaaa");
  EXPECT_EQ(t.keys[0].x5u, "https://example.test/chain.pem");
  EXPECT_EQ(t.keys[0].signatures, 3u);
  EXPECT_EQ(t.keys[1].key_id, "bbbb");
  EXPECT_EQ(t.keys[1].signatures, 1u);
}

TEST(ScanSignAnswerTest, ReadsAcrossSliceBoundaries) {
  const std::string wire = Mixed().SerializeAsString();
  for (size_t piece : {1, 2, 3, 7, 64}) {
    grpc::ByteBuffer bytes = Bytes(wire, piece);
    AnswerTally t;
    ASSERT_TRUE(ScanSignAnswer(&bytes, t)) << piece;
    ExpectSame(CountTally(t), CountParsed(Mixed()));
  }
}

TEST(ScanSignAnswerTest, AnItemWithoutOutcomeOrWithAnEmptyErrorCountsAsFailed) {
  v1::SignResponse r;
  r.add_items();                   // neither result nor error
  r.add_items()->mutable_error();  // code 0, the default
  AddSigned(r, "", "");            // a result without key_id or x5u still signed
  grpc::ByteBuffer bytes = Bytes(r.SerializeAsString());
  AnswerTally t;
  ASSERT_TRUE(ScanSignAnswer(&bytes, t));
  EXPECT_EQ(t.Items(), 3u);
  EXPECT_THAT(t.error_codes, ElementsAre(2, 0));
  ASSERT_EQ(t.keys_used, 1u);
  EXPECT_EQ(t.keys[0].key_id, "");
  EXPECT_EQ(t.keys[0].signatures, 1u);
}

TEST(ScanSignAnswerTest, AnEmptyAnswerHasNoItems) {
  grpc::ByteBuffer bytes = Bytes("");
  AnswerTally t;
  ASSERT_TRUE(ScanSignAnswer(&bytes, t));
  EXPECT_EQ(t.Items(), 0u);
  EXPECT_EQ(t.keys_used, 0u);
}

TEST(ScanSignAnswerTest, AReusedTallyHoldsOnlyTheLastAnswer) {
  AnswerTally t;
  grpc::ByteBuffer first = Bytes(Mixed().SerializeAsString());
  ASSERT_TRUE(ScanSignAnswer(&first, t));
  v1::SignResponse second;
  AddSigned(second, "cccc", "");
  grpc::ByteBuffer bytes = Bytes(second.SerializeAsString());
  ASSERT_TRUE(ScanSignAnswer(&bytes, t));
  ExpectSame(CountTally(t), CountParsed(second));
}

// One item whose outcome comes more than once on the wire. protobuf merges a submessage sent twice
// (a field the second does not carry keeps the first's value) and keeps only the last member of a
// oneof; the scan must count what that message holds.
TEST(ScanSignAnswerTest, AnOutcomeSentTwiceMergesAsProtobufMergesIt) {
  // A length-delimited field shorter than 128 bytes: its tag byte, its length byte, its bytes.
  auto field = [](char tag, const std::string& bytes) {
    return std::string(1, tag) + static_cast<char>(bytes.size()) + bytes;
  };
  auto item = [&](const std::string& outcomes) { return field('\x0a', outcomes); };  // SignResponse.items
  auto result = [&](const std::string& fields) { return field('\x0a', fields); };    // SignItem.result
  auto error = [&](const std::string& fields) { return field('\x12', fields); };     // SignItem.error
  const std::string x5u_a = field('\x12', "A"), key_k = field('\x1a', "K"), key_j = field('\x1a', "J");
  const std::string code_5("\x08\x05"), message = field('\x12', "m");  // ItemError.code 5, .message
  for (const std::string& wire : {
           item(result(x5u_a) + result(key_k)),                  // x5u from the first, key_id from the second
           item(result(x5u_a + key_k) + result(key_j)),          // key_id replaced, x5u kept
           item(error(code_5) + error(message)),                 // code kept
           item(result(x5u_a) + error(code_5) + result(key_k)),  // the error cleared the first result
           item(error(code_5) + result(key_k) + error(message)),  // the result cleared the first code
       }) {
    v1::SignResponse parsed;
    ASSERT_TRUE(parsed.ParseFromString(wire)) << testing::PrintToString(wire);
    grpc::ByteBuffer bytes = Bytes(wire);
    AnswerTally t;
    ASSERT_TRUE(ScanSignAnswer(&bytes, t)) << testing::PrintToString(wire);
    ExpectSame(CountTally(t), CountParsed(parsed));
  }
}

// Every prefix of an answer: the scan accepts exactly the prefixes protobuf parses, and then counts
// what protobuf's message holds.
TEST(ScanSignAnswerTest, AgreesWithProtobufOnEveryTruncation) {
  const std::string wire = Mixed().SerializeAsString();
  int accepted = 0;
  for (size_t n = 0; n <= wire.size(); ++n) {
    const std::string prefix = wire.substr(0, n);
    v1::SignResponse parsed;
    const bool parses = parsed.ParseFromString(prefix);
    grpc::ByteBuffer bytes = Bytes(prefix, 5);
    AnswerTally t;
    ASSERT_EQ(ScanSignAnswer(&bytes, t), parses) << "prefix of " << n << " bytes";
    if (parses) {
      ++accepted;
      ExpectSame(CountTally(t), CountParsed(parsed));
    }
  }
  EXPECT_GT(accepted, 6);  // at least each item's end
}

TEST(ScanSignAnswerTest, RefusesBytesThatAreNotASignResponse) {
  for (const std::string& junk : {std::string("\x0a\x05\x0a\x10", 4),             // lengths past the end
                                  std::string("\x0a\x02\x0a\xff", 4),             // a submessage cut in two
                                  std::string("\x0f\x00", 2),                     // wire type 7
                                  std::string("\x0a\xff\xff\xff\xff\x0f", 6)}) {  // a 4 GiB length
    grpc::ByteBuffer bytes = Bytes(junk);
    AnswerTally t;
    EXPECT_FALSE(ScanSignAnswer(&bytes, t)) << testing::PrintToString(junk);
  }
}

}  // namespace
}  // namespace signet::bench
