// bench/sign_answer.h: what signet-bench needs from a Sign answer, read from its wire format.
//
// The load generator counts signatures, failed items by code, and the key_id and x5u that signed.
// Building a SignResponse for that (a message and four strings per item, freed again) was a fifth of
// the load generator's CPU at 64 items per call, CPU that counts against signetd on a shared machine.
// ScanSignAnswer reads the same from the bytes into an AnswerTally reused from call to call.
#pragma once

#include <grpcpp/support/byte_buffer.h>

#include <cstdint>
#include <string>
#include <vector>

namespace signet::bench {

// One answer's items, as the load generator counts them. Reused from call to call: once its strings
// and vectors have grown, reading an answer allocates nothing.
struct AnswerTally {
  struct Key {
    std::string key_id;
    std::string x5u;
    uint64_t signatures = 0;
  };
  std::vector<int> error_codes;  // one per failed item, in order
  std::vector<Key> keys;         // the first keys_used: the answer's distinct (key_id, x5u), in order
  size_t keys_used = 0;

  // Items in the answer: the failed ones and the signed ones.
  uint64_t Items() const;
  void Reset();
  // Counts a signed item; key_id and x5u are the item's.
  void AddSigned(const std::string& key_id, const std::string& x5u);

  // Scratch space for the item being read.
  std::string item_key_id, item_x5u;
};

// Reads a serialized SignResponse (signet/v1/signer.proto) into `tally`: per item, signed (with its
// key_id and x5u) or failed (with ItemError.code). An item with neither outcome counts as failed with
// UNKNOWN (2). Fields it does not need are skipped. False when the bytes are not a SignResponse.
bool ScanSignAnswer(grpc::ByteBuffer* answer, AnswerTally& tally);

}  // namespace signet::bench
