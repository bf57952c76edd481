#include "common/thread_name.h"

#include <pthread.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "absl/strings/numbers.h"

namespace signet {

namespace {
constexpr size_t kMaxThreadName = 15;  // TASK_COMM_LEN (16) less the terminating NUL
}  // namespace

void NameThisThread(std::string_view name) {
  const std::string cut(name.substr(0, std::min(name.size(), kMaxThreadName)));
  pthread_setname_np(pthread_self(), cut.c_str());  // only fails for names over 15 bytes
}

std::string ThisThreadName() {
  char buf[kMaxThreadName + 1] = {};
  if (pthread_getname_np(pthread_self(), buf, sizeof buf) != 0) return "";
  return buf;
}

std::vector<std::string> ThreadNamesOfThisProcess() {
  std::vector<std::string> names;
  for (ThreadEntry& t : ThreadsOfProcess()) names.push_back(std::move(t.name));
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<ThreadEntry> ThreadsOfProcess(pid_t pid) {
  std::vector<ThreadEntry> threads;
  const std::filesystem::path dir = pid == 0 ? std::filesystem::path("/proc/self/task")
                                             : std::filesystem::path("/proc") / std::to_string(pid) / "task";
  std::error_code ec;
  for (const auto& task : std::filesystem::directory_iterator(dir, ec)) {
    ThreadEntry t;
    if (!absl::SimpleAtoi(task.path().filename().string(), &t.tid)) continue;
    std::ifstream comm(task.path() / "comm");
    if (!std::getline(comm, t.name)) continue;  // a thread that just exited has none
    threads.push_back(std::move(t));
  }
  return threads;
}

}  // namespace signet
