// Runs a program to completion for a test: argv, stdin, environment and a timeout in; exit code,
// stdout and stderr out. Output goes through files in `dir` (a test's temporary directory), so a chatty
// child never blocks on a full pipe.
#ifndef SIGNET_TESTS_TESTING_PROCESS_H_
#define SIGNET_TESTS_TESTING_PROCESS_H_

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace signet::testing {

struct ProcessResult {
  int exit_code = -1;  // 128 + signal when killed by one; -1 when it could not start
  std::string out;
  std::string err;
  bool timed_out = false;
};

std::ostream& operator<<(std::ostream& os, const ProcessResult& r);

struct ProcessOptions {
  std::string dir;                              // where the capture files go (required)
  std::string stdin_data;                       // the child's standard input
  std::optional<std::vector<std::string>> env;  // "K=V" entries; unset: this process's environment
  std::chrono::seconds timeout{90};             // then SIGKILL (our own child, by pid)
};

ProcessResult RunProcess(const std::vector<std::string>& argv, const ProcessOptions& options);

// For long-running children (signetd): starts argv[0] with this process's environment, stdout and
// stderr appended to `log`; returns the pid, or -1.
pid_t SpawnWithLog(const std::vector<std::string>& argv, const std::string& log);
// Waits for `pid` to exit within `timeout`: its exit code (128 + signal when killed by one), or -1
// after the timeout, when it is killed (SIGKILL, by pid) and reaped.
int WaitExit(pid_t pid, std::chrono::milliseconds timeout);

}  // namespace signet::testing

#endif  // SIGNET_TESTS_TESTING_PROCESS_H_
