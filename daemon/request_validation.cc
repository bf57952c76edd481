#include "daemon/request_validation.h"

#include "absl/strings/str_cat.h"
#include "common/absl_compat.h"

namespace signet::daemon {

absl::Status CheckSignerId(const LimitsConfig& limits, std::string_view signer_id) {
  if (signer_id.empty() || signer_id.size() > limits.max_signer_id_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("signer_id: ", signer_id.size(), " bytes; must be 1..", limits.max_signer_id_bytes));
  }
  return absl::OkStatus();
}

absl::Status CheckItemCount(const LimitsConfig& limits, std::string_view field, size_t items) {
  if (items == 0 || items > limits.max_items_per_call) {
    return absl::InvalidArgumentError(
        absl::StrCat(Av(field), ": ", items, " items; a call carries 1..", limits.max_items_per_call));
  }
  return absl::OkStatus();
}

absl::Status CheckRequestId(std::string_view request_id) {
  if (request_id.size() > kMaxRequestIdBytes) {
    return absl::InvalidArgumentError(absl::StrCat("request_id: ", request_id.size(), " bytes, over the ",
                                                   kMaxRequestIdBytes, "-byte bound"));
  }
  for (char c : request_id) {
    if (c < 0x21 || c > 0x7e)
      return absl::InvalidArgumentError("request_id: only printable ASCII without spaces");
  }
  return absl::OkStatus();
}

absl::Status CheckItem(const LimitsConfig& limits, std::string_view field, size_t index,
                       std::string_view item, bool prehashed, std::string_view signer_id, EcCurve curve) {
  if (item.empty() || item.size() > limits.max_item_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(Av(field), "[", index, "]: ", item.size(),
                                                   " bytes; an item must be 1..", limits.max_item_bytes,
                                                   " bytes"));
  }
  const EcCurveInfo& info = GetEcCurveInfo(curve);
  if (prehashed && item.size() != info.digest_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        Av(field), "[", index, "]: ", item.size(), " bytes; signer '", Av(signer_id), "' (", Av(info.name),
        ") signs a ", info.digest_bytes, "-byte ", Av(info.hash_name), " digest"));
  }
  return absl::OkStatus();
}

}  // namespace signet::daemon
