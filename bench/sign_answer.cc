#include "bench/sign_answer.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>
#include <grpcpp/support/proto_buffer_reader.h>
#include <grpcpp/support/status.h>

namespace signet::bench {

uint64_t AnswerTally::Items() const {
  uint64_t n = error_codes.size();
  for (size_t i = 0; i < keys_used; ++i) n += keys[i].signatures;
  return n;
}

void AnswerTally::Reset() {
  error_codes.clear();
  keys_used = 0;
}

void AnswerTally::AddSigned(const std::string& key_id, const std::string& x5u) {
  for (size_t i = 0; i < keys_used; ++i) {
    if (keys[i].key_id == key_id && keys[i].x5u == x5u) {
      ++keys[i].signatures;
      return;
    }
  }
  if (keys_used == keys.size()) keys.emplace_back();
  Key& k = keys[keys_used++];
  k.key_id = key_id;
  k.x5u = x5u;
  k.signatures = 1;
}

bool ScanSignAnswer(grpc::ByteBuffer* answer, AnswerTally& tally) {
  using WF = google::protobuf::internal::WireFormatLite;
  // signet/v1/signer.proto: SignResponse.items = 1; SignItem's oneof outcome: result = 1, error = 2;
  // SignResult.x5u = 2, key_id = 3; ItemError.code = 1.
  constexpr uint32_t kItems = WF::MakeTag(1, WF::WIRETYPE_LENGTH_DELIMITED);
  constexpr uint32_t kResult = WF::MakeTag(1, WF::WIRETYPE_LENGTH_DELIMITED);
  constexpr uint32_t kError = WF::MakeTag(2, WF::WIRETYPE_LENGTH_DELIMITED);
  constexpr uint32_t kX5u = WF::MakeTag(2, WF::WIRETYPE_LENGTH_DELIMITED);
  constexpr uint32_t kKeyId = WF::MakeTag(3, WF::WIRETYPE_LENGTH_DELIMITED);
  constexpr uint32_t kCode = WF::MakeTag(1, WF::WIRETYPE_VARINT);
  constexpr int kUnknown = static_cast<int>(grpc::StatusCode::UNKNOWN);
  tally.Reset();
  grpc::ProtoBufferReader reader(answer);
  google::protobuf::io::CodedInputStream in(&reader);
  // One length-delimited submessage, with `field` called for each of its tags.
  auto message = [&in](auto&& field) {
    uint32_t length = 0;
    if (!in.ReadVarint32(&length) || length > static_cast<uint32_t>(INT32_MAX)) return false;
    const auto limit = in.PushLimit(static_cast<int>(length));
    while (const uint32_t tag = in.ReadTag()) {
      if (!field(tag)) return false;
    }
    // ReadTag also ends at the end of the bytes: the submessage must have reached its length.
    if (!in.ConsumedEntireMessage() || in.BytesUntilLimit() != 0) return false;
    in.PopLimit(limit);
    return true;
  };
  while (const uint32_t tag = in.ReadTag()) {
    if (tag != kItems) {
      if (!WF::SkipField(&in, tag)) return false;
      continue;
    }
    // The last outcome on the wire wins, as a parser's oneof keeps the last field set. The same
    // outcome sent again merges into the one before, as protobuf merges a repeated submessage: fields
    // it does not carry keep their values.
    enum { kNone, kSigned, kFailed } outcome = kNone;
    int code = kUnknown;
    const bool ok = message([&](uint32_t item_tag) {
      if (item_tag == kResult) {
        if (outcome != kSigned) {
          tally.item_key_id.clear();
          tally.item_x5u.clear();
        }
        outcome = kSigned;
        return message([&](uint32_t t) {
          if (t == kX5u) return WF::ReadString(&in, &tally.item_x5u);
          if (t == kKeyId) return WF::ReadString(&in, &tally.item_key_id);
          return WF::SkipField(&in, t);
        });
      }
      if (item_tag == kError) {
        if (outcome != kFailed) code = 0;  // ItemError.code's default
        outcome = kFailed;
        return message([&](uint32_t t) {
          if (t != kCode) return WF::SkipField(&in, t);
          uint64_t v = 0;
          if (!in.ReadVarint64(&v)) return false;
          code = static_cast<int32_t>(v);
          return true;
        });
      }
      return WF::SkipField(&in, item_tag);
    });
    if (!ok) return false;
    if (outcome == kSigned) {
      tally.AddSigned(tally.item_key_id, tally.item_x5u);
    } else {
      tally.error_codes.push_back(outcome == kFailed ? code : kUnknown);
    }
  }
  return in.ConsumedEntireMessage();
}

}  // namespace signet::bench
