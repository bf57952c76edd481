// Debian 12's abseil is built with ABSL_OPTION_USE_STD_STRING_VIEW=0: absl::string_view is its own type
// and absl::StrCat / absl::Status do not accept std::string_view. Av() bridges the two without a copy.
#ifndef SIGNET_COMMON_ABSL_COMPAT_H_
#define SIGNET_COMMON_ABSL_COMPAT_H_

#include <string_view>

#include "absl/strings/string_view.h"

namespace signet {

inline absl::string_view Av(std::string_view s) { return absl::string_view(s.data(), s.size()); }
inline std::string_view Sv(absl::string_view s) { return std::string_view(s.data(), s.size()); }

}  // namespace signet

#endif  // SIGNET_COMMON_ABSL_COMPAT_H_
