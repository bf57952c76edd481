#include "common/thread_name.h"

#include <pthread.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

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
  std::error_code ec;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task", ec)) {
    std::ifstream comm(task.path() / "comm");
    std::string name;
    if (std::getline(comm, name)) names.push_back(name);  // a thread that just exited has none
  }
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace signet
