#include "common/thread_sched.h"

#include <sched.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/thread_name.h"

namespace signet {

namespace {

// 0, or the errno of a failed sched_setscheduler.
int SetPolicy(pid_t tid, int policy) {
  const sched_param param{};
  return sched_setscheduler(tid, policy, &param) == 0 ? 0 : errno;
}

absl::Status PolicyError(pid_t tid, const char* policy, int e) {
  const char* name = strerrorname_np(e);
  return absl::InternalError(
      absl::StrCat("sched_setscheduler(", tid == 0 ? "this thread" : absl::StrCat("thread ", tid), ", ",
                   policy, "): ", name != nullptr ? name : "errno", " (", std::strerror(e), ")"));
}

}  // namespace

absl::Status YieldToHsmWorkers() {
  if (const int e = SetPolicy(0, SCHED_BATCH); e != 0) return PolicyError(0, "SCHED_BATCH", e);
  absl::Status first;
  for (const ThreadEntry& t : ThreadsOfProcess()) {
    if (t.name == kHsmWorkerThreadName) continue;
    const int e = SetPolicy(t.tid, SCHED_BATCH);
    if (e != 0 && e != ESRCH && first.ok()) first = PolicyError(t.tid, "SCHED_BATCH", e);  // ESRCH: it exited
  }
  return first;
}

absl::Status ScheduleThisThreadNormally() {
  const int e = SetPolicy(0, SCHED_OTHER);
  return e == 0 ? absl::OkStatus() : PolicyError(0, "SCHED_OTHER", e);
}

std::vector<ThreadSched> ThreadSchedsOfThisProcess() {
  std::vector<ThreadSched> out;
  for (ThreadEntry& t : ThreadsOfProcess()) out.push_back({std::move(t.name), sched_getscheduler(t.tid)});
  return out;
}

}  // namespace signet
