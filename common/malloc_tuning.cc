#include "common/malloc_tuning.h"

#include <malloc.h>

namespace signet {

absl::Status DisableMallocFastbins() {
  if (mallopt(M_MXFAST, 0) != 1) return absl::InternalError("mallopt(M_MXFAST, 0) failed");
  return absl::OkStatus();
}

}  // namespace signet
