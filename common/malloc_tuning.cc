#include "common/malloc_tuning.h"

#include <malloc.h>

namespace signet {

absl::Status DisableMallocFastbins() {
#ifndef SIGNET_MALLOC_REPLACED
  if (mallopt(M_MXFAST, 0) != 1) return absl::InternalError("mallopt(M_MXFAST, 0) failed");
#endif
  return absl::OkStatus();
}

}  // namespace signet
