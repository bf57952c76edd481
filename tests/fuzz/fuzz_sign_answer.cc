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
#include <vector>

#include "bench/sign_answer.h"
#include "bench/sign_answer_count.h"
#include "signet/v1/signer.pb.h"
#include "tests/fuzz/fuzz_check.h"

using signet::bench::AnswerCount;
using signet::bench::AnswerTally;
using signet::fuzz::Require;

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
  const AnswerCount want = signet::bench::CountParsed(parsed);
  const AnswerCount got = signet::bench::CountTally(tally);
  Require(got.error_codes == want.error_codes, "failed items or their codes differ from protobuf's");
  Require(got.keys == want.keys, "signed items, their key_id or x5u differ from protobuf's");
  Require(got.items == want.items, "item count differs from protobuf's");
  return 0;
}
