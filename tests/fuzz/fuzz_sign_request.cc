// Request validation (daemon/request_validation.h) on SignRequest / SignHashRequest messages parsed from
// the wire bytes, as signetd's handler applies it: signer id, item count, request id, then each item,
// under the default limits and under tight ones that small inputs can exceed. Refusals name the field;
// what passes fits the buffers the batcher copies it into.
#include <google/protobuf/stubs/logging.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/ec_curve.h"
#include "daemon/config.h"
#include "daemon/request_validation.h"
#include "signet/v1/signer.pb.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using signet::EcCurve;
using signet::daemon::LimitsConfig;
using signet::fuzz::CheckRefusal;
using signet::fuzz::Require;

constexpr size_t kBatcherDigestBytes = 64;  // WorkItem::digest

template <typename Request>
void Validate(const LimitsConfig& limits, const Request& request,
              const google::protobuf::RepeatedPtrField<std::string>& items, bool prehashed) {
  const std::string_view field = prehashed ? "digests" : "inputs";
  const std::string& id = request.signer_id();
  if (absl::Status s = signet::daemon::CheckSignerId(limits, id); !s.ok()) {
    CheckRefusal(s, {"signer_id: "});
  } else {
    Require(!id.empty() && id.size() <= limits.max_signer_id_bytes, "signer_id out of bounds accepted");
  }
  const auto n = static_cast<size_t>(items.size());
  if (absl::Status s = signet::daemon::CheckItemCount(limits, field, n); !s.ok()) {
    CheckRefusal(s, {prehashed ? "digests: " : "inputs: "});
  } else {
    Require(n >= 1 && n <= limits.max_items_per_call, "item count out of bounds accepted");
  }
  if (absl::Status s = signet::daemon::CheckRequestId(request.request_id()); !s.ok()) {
    CheckRefusal(s, {"request_id: "});
  } else {
    Require(request.request_id().size() <= signet::daemon::kMaxRequestIdBytes, "request_id bound");
    Require(signet::fuzz::PrintableAscii(request.request_id()) &&
                request.request_id().find(' ') == std::string::npos,
            "request_id must be printable without spaces: it is logged", request.request_id());
  }
  for (EcCurve curve : {EcCurve::kP256, EcCurve::kP384, EcCurve::kP521}) {
    for (size_t i = 0; i < n && i < 16; ++i) {
      const std::string& item = items[static_cast<int>(i)];
      const std::string prefix = std::string(field) + "[" + std::to_string(i) + "]: ";
      if (absl::Status s = signet::daemon::CheckItem(limits, field, i, item, prehashed, id, curve); !s.ok()) {
        // The signer id is the configured one (the registry found it) when the handler gets here.
        if (signet::fuzz::PrintableAscii(id)) CheckRefusal(s, {prefix});
        continue;
      }
      Require(!item.empty() && item.size() <= limits.max_item_bytes, "item size out of bounds accepted");
      if (prehashed) {
        Require(item.size() == signet::GetEcCurveInfo(curve).digest_bytes, "digest length accepted");
        Require(item.size() <= kBatcherDigestBytes, "digest larger than the batcher's buffer accepted");
      }
    }
  }
}

template <typename Request>
void ValidateAll(const Request& request, const google::protobuf::RepeatedPtrField<std::string>& items,
                 bool prehashed) {
  Validate(LimitsConfig{}, request, items, prehashed);
  LimitsConfig tight;
  tight.max_item_bytes = 64;
  tight.max_items_per_call = 4;
  tight.max_signer_id_bytes = 16;
  Validate(tight, request, items, prehashed);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // proto3 strings that are not UTF-8 fail to parse with an ERROR log line; keep the fuzzer's output quiet.
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  signet::v1::SignRequest sign;
  if (sign.ParseFromArray(data, static_cast<int>(size))) ValidateAll(sign, sign.inputs(), false);
  signet::v1::SignHashRequest hash;
  if (hash.ParseFromArray(data, static_cast<int>(size))) ValidateAll(hash, hash.digests(), true);
  return 0;
}
