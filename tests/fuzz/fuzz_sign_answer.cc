// signet-bench's reader of Sign answers (bench/sign_answer.h), against protobuf's own parser of the same
// bytes. The load generator counts signatures, failed items by code, and the keys that signed from the
// wire bytes instead of a parsed SignResponse; whenever protobuf parses the bytes, the scan must accept
// them too and count exactly what the parsed message holds. The first input byte picks how the bytes
// are cut into slices (gRPC hands an answer over in several), so every field can straddle a boundary.
// Bytes protobuf refuses may still be scanned (the scan does not check that strings are UTF-8); they
// must not crash it.
#include <google/protobuf/stubs/logging.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/slice.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

#include "bench/sign_answer.h"
#include "signet/v1/signer.pb.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using signet::bench::AnswerTally;
using signet::fuzz::Require;

constexpr int kUnknown = 2;  // grpc::StatusCode::UNKNOWN: an item with neither outcome

using Keys = std::vector<std::tuple<std::string, std::string, uint64_t>>;  // key_id, x5u, signatures

// What the load generator counted from a parsed SignResponse before it read the bytes itself.
void CountParsed(const signet::v1::SignResponse& r, std::vector<int>* codes, Keys* keys) {
  for (const signet::v1::SignItem& item : r.items()) {
    if (!item.has_result()) {
      codes->push_back(item.has_error() ? item.error().code() : kUnknown);
      continue;
    }
    const auto& res = item.result();
    auto it = std::find_if(keys->begin(), keys->end(), [&](const auto& k) {
      return std::get<0>(k) == res.key_id() && std::get<1>(k) == res.x5u();
    });
    if (it == keys->end()) {
      keys->emplace_back(res.key_id(), res.x5u(), 1);
    } else {
      ++std::get<2>(*it);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // proto3 strings that are not UTF-8 fail to parse with an ERROR log line; keep the fuzzer's output quiet.
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t piece = data[0] % 17;  // 0: one slice; else slices of 1..16 bytes
  const auto* wire = reinterpret_cast<const char*>(data + 1);
  const size_t n = size - 1;

  std::vector<grpc::Slice> slices;
  const size_t step = piece == 0 ? std::max<size_t>(n, 1) : piece;
  for (size_t at = 0; at < n; at += step) slices.emplace_back(wire + at, std::min(step, n - at));
  grpc::ByteBuffer bytes(slices.data(), slices.size());
  AnswerTally tally;
  const bool scanned = signet::bench::ScanSignAnswer(&bytes, tally);

  signet::v1::SignResponse parsed;
  if (!parsed.ParseFromArray(wire, static_cast<int>(n))) return 0;
  Require(scanned, "protobuf parses the answer but the scan refuses it");
  std::vector<int> codes;
  Keys keys;
  CountParsed(parsed, &codes, &keys);
  Require(tally.error_codes == codes, "failed items or their codes differ from protobuf's");
  Keys scanned_keys;
  for (size_t i = 0; i < tally.keys_used; ++i) {
    scanned_keys.emplace_back(tally.keys[i].key_id, tally.keys[i].x5u, tally.keys[i].signatures);
  }
  Require(scanned_keys == keys, "signed items, their key_id or x5u differ from protobuf's");
  Require(tally.Items() == static_cast<uint64_t>(parsed.items_size()), "item count differs from protobuf's");
  return 0;
}
