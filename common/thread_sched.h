// How signetd's threads share the CPU with its HSM workers.
//
// When the HSM's work runs on the host's own cores (SoftHSM, or any module that signs in-process) and
// saturates them, a gRPC or answering thread that wakes up preempts an HSM worker in the middle of its
// call. If that worker holds the module's lock on a key, the other workers sleep on it, and a core can
// stand idle while the holder waits for the CPU. Under SCHED_BATCH a waking thread does not preempt:
// it runs on an idle core, when a worker blocks, or at the next scheduler tick. The HSM workers stay
// SCHED_OTHER. (docs/PERFORMANCE.md has the measurements; `batching.scheduling` turns it off.)
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/status.h"

namespace signet {

// The name signetd gives its HSM worker threads (NameThisThread).
inline constexpr char kHsmWorkerThreadName[] = "hsm-worker";

// Puts the calling thread and every other thread of this process not named kHsmWorkerThreadName
// under SCHED_BATCH. Threads they start later inherit it.
//
// Call it before the first HSM worker starts (signetd does, right after reading its config). It tells
// workers from other threads by name, read before it sets each thread's policy. A worker that starts
// meanwhile can be read before it names itself and be set after its own ScheduleThisThreadNormally:
// it would then sign under SCHED_BATCH for good.
absl::Status YieldToHsmWorkers();

// Puts the calling thread under SCHED_OTHER, whatever it inherited: an HSM worker's first step.
absl::Status ScheduleThisThreadNormally();

struct ThreadSched {
  std::string name;
  int policy = -1;  // SCHED_OTHER, SCHED_BATCH, ...; -1 if it could not be read
};
// This process's threads with their scheduling policies (for tests and diagnostics).
std::vector<ThreadSched> ThreadSchedsOfThisProcess();

}  // namespace signet
