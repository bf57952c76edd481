#include "common/thread_sched.h"

#include <sched.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

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

template <typename Fn>
void ForEachThread(Fn fn) {
  std::error_code ec;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task", ec)) {
    pid_t tid = 0;
    if (!absl::SimpleAtoi(task.path().filename().string(), &tid)) continue;
    std::ifstream comm(task.path() / "comm");
    std::string name;
    if (!std::getline(comm, name)) continue;  // a thread that just exited
    fn(tid, name);
  }
}

}  // namespace

absl::Status YieldToHsmWorkers() {
  if (const int e = SetPolicy(0, SCHED_BATCH); e != 0) return PolicyError(0, "SCHED_BATCH", e);
  absl::Status first;
  ForEachThread([&first](pid_t tid, const std::string& name) {
    if (name == kHsmWorkerThreadName) return;
    const int e = SetPolicy(tid, SCHED_BATCH);
    if (e != 0 && e != ESRCH && first.ok()) first = PolicyError(tid, "SCHED_BATCH", e);  // ESRCH: it exited
  });
  return first;
}

absl::Status ScheduleThisThreadNormally() {
  const int e = SetPolicy(0, SCHED_OTHER);
  return e == 0 ? absl::OkStatus() : PolicyError(0, "SCHED_OTHER", e);
}

std::vector<ThreadSched> ThreadSchedsOfThisProcess() {
  std::vector<ThreadSched> out;
  ForEachThread([&out](pid_t tid, const std::string& name) {
    out.push_back({name, sched_getscheduler(tid)});
  });
  return out;
}

}  // namespace signet
