#include "tests/testing/signetd_process.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <thread>

#include "absl/strings/str_cat.h"
#include "tests/testing/process.h"
#include "tests/testing/test_evidence.h"
#include "common/files.h"

namespace signet::testing {
namespace {

std::string ReadTestFile(const std::string& path) { return ReadFileBounded(path, 16 << 20).value_or(""); }

int PortAfter(const std::string& json, const std::string& key) {
  const size_t at = json.find(absl::StrCat("\"", key, "\": "));
  return at == std::string::npos ? -1 : std::atoi(json.c_str() + at + key.size() + 4);
}

}  // namespace

absl::StatusOr<std::unique_ptr<SignetdProcess>> SignetdProcess::Start(const std::string& binary,
                                                                      DaemonHarness& harness) {
  const std::string ready = harness.dir() + "/ready.json";
  harness.mutable_config().server.ready_file = ready;
  std::remove(ready.c_str());
  auto config = harness.WriteConfigYaml();
  if (!config.ok()) return config.status();
  std::unique_ptr<SignetdProcess> p(new SignetdProcess());
  p->log_ = harness.dir() + "/signetd-" + std::to_string(::getpid()) + ".log";
  p->pid_ = SpawnWithLog({binary, "--config", *config}, p->log_);
  if (p->pid_ < 0) return absl::InternalError(absl::StrCat("cannot start ", binary));
  for (int i = 0; i < 500; ++i) {
    const std::string json = ReadTestFile(ready);
    if (PortAfter(json, "grpc_port") > 0) {
      p->grpc_port_ = PortAfter(json, "grpc_port");
      p->http_port_ = PortAfter(json, "http_port");
      harness.set_port(p->grpc_port_);
      return p;
    }
    int status = 0;
    if (::waitpid(p->pid_, &status, WNOHANG) == p->pid_) {
      p->pid_ = -1;
      return absl::FailedPreconditionError(absl::StrCat("signetd exited early:\n", p->Log()));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return absl::DeadlineExceededError(absl::StrCat("signetd did not become ready:\n", p->Log()));
}

std::string SignetdProcess::Log() const { return ReadTestFile(log_); }

int SignetdProcess::Stop(int sig, std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return -1;
  ::kill(pid_, sig);
  const int code = WaitExit(pid_, timeout);
  pid_ = -1;
  return code;
}

SignetdProcess::~SignetdProcess() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  KeepLog("signetd", Log());
}

}  // namespace signet::testing
