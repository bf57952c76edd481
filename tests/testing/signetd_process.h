// The signetd binary run on a DaemonHarness's config, as a service manager runs it: stdout and stderr
// to a log file, a ready file, signals. The log is kept for the suite-wide log scan.
#ifndef SIGNET_TESTS_TESTING_SIGNETD_PROCESS_H_
#define SIGNET_TESTS_TESTING_SIGNETD_PROCESS_H_

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "tests/testing/daemon_harness.h"

namespace signet::testing {

class SignetdProcess {
 public:
  // Writes the harness's config (with a ready_file in its directory) and starts `binary --config` on
  // it; waits (bounded, 10 s) for the ready file and points the harness at the gRPC port. An early
  // exit or a timeout is an error carrying the log.
  static absl::StatusOr<std::unique_ptr<SignetdProcess>> Start(const std::string& binary, DaemonHarness& harness);
  // Kills the daemon if it still runs, and keeps its log.
  ~SignetdProcess();

  pid_t pid() const { return pid_; }
  int grpc_port() const { return grpc_port_; }
  int http_port() const { return http_port_; }
  std::string Log() const;
  // Sends `sig` and waits for the exit: its code, or -1 if it had to be killed after `timeout`.
  int Stop(int sig, std::chrono::milliseconds timeout = std::chrono::seconds(15));

 private:
  SignetdProcess() = default;
  pid_t pid_ = -1;
  int grpc_port_ = 0;
  int http_port_ = 0;
  std::string log_;
};

}  // namespace signet::testing

#endif  // SIGNET_TESTS_TESTING_SIGNETD_PROCESS_H_
