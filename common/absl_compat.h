// Debian 12's abseil is built with ABSL_OPTION_USE_STD_STRING_VIEW=0: absl::string_view is its own type
// and absl::StrCat / absl::Status do not accept std::string_view. Av() bridges the two without a copy.
#ifndef SIGNET_COMMON_ABSL_COMPAT_H_
#define SIGNET_COMMON_ABSL_COMPAT_H_

#include <string_view>

#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace signet {

inline absl::string_view Av(std::string_view s) { return absl::string_view(s.data(), s.size()); }
inline std::string_view Sv(absl::string_view s) { return std::string_view(s.data(), s.size()); }

// Debian 12's abseil is also built without NDEBUG, so every absl::Mutex lock (gRPC's own locks, on each
// call) runs the debug-only deadlock detector: a lock-order graph updated on each acquisition. Under
// load perf gave signetd's GraphCycles 2.0% and absl synchronization 1.9% of its samples with it, and
// 0% and 1.2% without (signet-bench: GraphCycles 1.4%). Our locks are std:: ones, and
// gRPC's are tested upstream; processes on the request path turn the detector off at start.
inline void DisableAbslDeadlockDetection() {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
}

}  // namespace signet

#endif  // SIGNET_COMMON_ABSL_COMPAT_H_
