#include "common/hardening.h"

#include <sys/prctl.h>
#include <sys/resource.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace signet {

absl::Status DisableCoreDumps() {
  const struct rlimit none {0, 0};
  if (::setrlimit(RLIMIT_CORE, &none) != 0) {
    return absl::InternalError(absl::StrCat("setrlimit(RLIMIT_CORE, 0): ", std::strerror(errno)));
  }
  if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
    return absl::InternalError(absl::StrCat("prctl(PR_SET_DUMPABLE, 0): ", std::strerror(errno)));
  }
  struct rlimit now {};
  if (::getrlimit(RLIMIT_CORE, &now) != 0 || now.rlim_cur != 0 || now.rlim_max != 0) {
    return absl::InternalError("RLIMIT_CORE is still above 0 after setrlimit");
  }
  if (::prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0) {
    return absl::InternalError("the process is still dumpable after prctl(PR_SET_DUMPABLE, 0)");
  }
  return absl::OkStatus();
}

}  // namespace signet
