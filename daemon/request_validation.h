// The checks a Sign/SignHash request passes before anything reaches the batcher: the signer id's
// bound, the item count, the request id, and each item's size. Pure functions of the request's fields
// and the configured limits (no gRPC, no registry), so tests and the fuzzer call them directly. Every
// error is InvalidArgument and starts with the field it is about ("signer_id: ", "inputs[3]: ", ...).
#ifndef SIGNET_DAEMON_REQUEST_VALIDATION_H_
#define SIGNET_DAEMON_REQUEST_VALIDATION_H_

#include <cstddef>
#include <string_view>

#include "absl/status/status.h"
#include "common/ec_curve.h"
#include "daemon/config.h"

namespace signet::daemon {

inline constexpr size_t kMaxRequestIdBytes = 128;

// 1..limits.max_signer_id_bytes bytes (whether a signer has that id is the registry's question).
absl::Status CheckSignerId(const LimitsConfig& limits, std::string_view signer_id);

// 1..limits.max_items_per_call items; `field` is "inputs" (Sign) or "digests" (SignHash).
absl::Status CheckItemCount(const LimitsConfig& limits, std::string_view field, size_t items);

// Optional (empty: the server assigns one); at most kMaxRequestIdBytes of printable ASCII, no spaces.
absl::Status CheckRequestId(std::string_view request_id);

// Item `index` of `field`: 1..limits.max_item_bytes bytes, and for a digest (prehashed) exactly the
// digest length of `curve`, the curve of signer `signer_id`.
absl::Status CheckItem(const LimitsConfig& limits, std::string_view field, size_t index,
                       std::string_view item, bool prehashed, std::string_view signer_id, EcCurve curve);

}  // namespace signet::daemon

#endif  // SIGNET_DAEMON_REQUEST_VALIDATION_H_
