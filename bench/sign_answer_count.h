// What a Sign answer holds, as signet-bench counts it: from protobuf's parse of the answer (what the
// load generator counted before it read the bytes itself), or from ScanSignAnswer's tally. The unit
// test (bench/sign_answer_test.cc) and the fuzz target (tests/fuzz/fuzz_sign_answer.cc) compare the two.
#pragma once

#include <grpcpp/support/status.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

#include "bench/sign_answer.h"
#include "signet/v1/signer.pb.h"

namespace signet::bench {

struct AnswerCount {
  uint64_t items = 0;
  std::vector<int> error_codes;                                      // one per failed item, in order
  std::vector<std::tuple<std::string, std::string, uint64_t>> keys;  // key_id, x5u, signatures; in order
};

// An item with neither outcome counts as failed with UNKNOWN, as ScanSignAnswer counts it.
inline AnswerCount CountParsed(const v1::SignResponse& r) {
  AnswerCount c;
  for (const v1::SignItem& item : r.items()) {
    ++c.items;
    if (!item.has_result()) {
      c.error_codes.push_back(item.has_error() ? item.error().code()
                                               : static_cast<int>(grpc::StatusCode::UNKNOWN));
      continue;
    }
    const v1::SignResult& res = item.result();
    auto it = std::find_if(c.keys.begin(), c.keys.end(), [&](const auto& k) {
      return std::get<0>(k) == res.key_id() && std::get<1>(k) == res.x5u();
    });
    if (it == c.keys.end()) {
      c.keys.emplace_back(res.key_id(), res.x5u(), 1);
    } else {
      ++std::get<2>(*it);
    }
  }
  return c;
}

inline AnswerCount CountTally(const AnswerTally& t) {
  AnswerCount c{.items = t.Items(), .error_codes = t.error_codes, .keys = {}};
  for (size_t i = 0; i < t.keys_used; ++i)
    c.keys.emplace_back(t.keys[i].key_id, t.keys[i].x5u, t.keys[i].signatures);
  return c;
}

}  // namespace signet::bench
