// The signetd binary as a service manager runs it: config check exit codes, a ready file, mozlog on
// stderr, SIGHUP with a replaced server certificate, and SIGTERM draining an in-flight call.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include <grpc/grpc_security_constants.h>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "keymgmt/dev_pki.h"
#include "tests/testing/daemon_harness.h"

extern char** environ;

namespace signet {
namespace {

using ::signet::testing::DaemonHarness;
using ::testing::HasSubstr;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Runs argv with stdout+stderr to `log`; returns the pid.
pid_t Spawn(const std::vector<std::string>& argv, const std::string& log) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, args[0], &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  return rc == 0 ? pid : -1;
}

// Waits for pid to exit within `timeout`; returns its exit code, or -1 on timeout (and kills it).
int WaitExit(pid_t pid, std::chrono::milliseconds timeout) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    int status = 0;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  return -1;
}

int RunToExit(const std::vector<std::string>& argv, const std::string& log) {
  pid_t pid = Spawn(argv, log);
  return pid < 0 ? -1 : WaitExit(pid, std::chrono::seconds(30));
}

class SignetdProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto h = DaemonHarness::Prepare([this](daemon::Config& c) {
      ready_ = c.server.tls.cert_file.substr(0, c.server.tls.cert_file.rfind('/')) + "/ready.json";
      c.server.ready_file = ready_;
      c.batching.workers = 1;
      c.batching.max_batch = 1;
    });
    ASSERT_TRUE(h.ok()) << h.status();
    harness_ = *std::move(h);
    auto path = harness_->WriteConfigYaml();
    ASSERT_TRUE(path.ok()) << path.status();
    config_path_ = *path;
    log_ = harness_->dir() + "/signetd.log";
  }
  void TearDown() override {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  // Starts signetd and waits (bounded) for its ready file.
  void StartDaemon() {
    pid_ = Spawn({SIGNETD_BINARY, "--config", config_path_}, log_);
    ASSERT_GT(pid_, 0);
    for (int i = 0; i < 500; ++i) {
      std::string ready = ReadAll(ready_);
      size_t at = ready.find("\"grpc_port\": ");
      if (at != std::string::npos) {
        harness_->set_port(std::stoi(ready.substr(at + 13)));
        return;
      }
      int status = 0;
      ASSERT_EQ(waitpid(pid_, &status, WNOHANG), 0) << "signetd exited early:\n" << ReadAll(log_);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    FAIL() << "signetd did not become ready:\n" << ReadAll(log_);
  }
  grpc::Status SignOnce(const std::string& signer, int items, std::string* server_cert_pem = nullptr) {
    auto stub = harness_->Stub(harness_->allowed());
    v1::SignRequest req;
    req.set_signer_id(signer);
    for (int i = 0; i < items; ++i) req.add_inputs("process test");
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    v1::SignResponse resp;
    grpc::Status s = stub->Sign(&ctx, req, &resp);
    if (s.ok() && server_cert_pem != nullptr && ctx.auth_context()) {
      auto pem = ctx.auth_context()->FindPropertyValues(GRPC_X509_PEM_CERT_PROPERTY_NAME);
      if (!pem.empty()) *server_cert_pem = std::string(pem.front().data(), pem.front().size());
    }
    if (s.ok()) {
      for (const auto& item : resp.items()) {
        if (!item.has_result()) return grpc::Status(grpc::StatusCode::INTERNAL, item.error().message());
      }
    }
    return s;
  }

  std::unique_ptr<DaemonHarness> harness_;
  std::string config_path_, log_, ready_;
  pid_t pid_ = -1;
};

TEST_F(SignetdProcessTest, CheckConfigAndUsageExitCodes) {
  EXPECT_EQ(RunToExit({SIGNETD_BINARY, "--config", config_path_, "--check-config"}, log_), 0);
  EXPECT_THAT(ReadAll(log_), HasSubstr("configuration OK (3 signers)"));
  const std::string bad = harness_->dir() + "/bad.yaml";
  std::ofstream(bad) << "server:\n  listen: \"127.0.0.1:0\"\n  colour: red\n";
  EXPECT_EQ(RunToExit({SIGNETD_BINARY, "--config", bad, "--check-config"}, log_), 78);
  EXPECT_THAT(ReadAll(log_), HasSubstr("server.colour: unknown key"));
  EXPECT_EQ(RunToExit({SIGNETD_BINARY, "--config", harness_->dir() + "/missing.yaml"}, log_), 78);
  EXPECT_EQ(RunToExit({SIGNETD_BINARY, "--frobnicate"}, log_), 64);
  EXPECT_EQ(RunToExit({SIGNETD_BINARY}, log_), 64);
}

TEST_F(SignetdProcessTest, ServesLogsMozlogAndDrainsOnSigterm) {
  StartDaemon();
  ASSERT_TRUE(SignOnce("p256", 1).ok());
  // A long call in flight when SIGTERM arrives must still complete.
  grpc::Status long_call;
  std::thread t([&] { long_call = SignOnce("p521", 300); });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_EQ(kill(pid_, SIGTERM), 0);
  t.join();
  EXPECT_TRUE(long_call.ok()) << long_call.error_message();
  EXPECT_EQ(WaitExit(pid_, std::chrono::seconds(15)), 0) << ReadAll(log_);
  pid_ = -1;
  const std::string log = ReadAll(log_);
  EXPECT_THAT(log, HasSubstr("\"Type\":\"signet.audit\""));
  EXPECT_THAT(log, HasSubstr("\"EnvVersion\":\"2.0\""));
  EXPECT_THAT(log, HasSubstr("stopped cleanly"));
  EXPECT_THAT(log, ::testing::Not(HasSubstr(testing::kTestUserPin)));
  // Every line is a JSON object.
  std::istringstream lines(log);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line.starts_with("E1") || line.starts_with("I1")) continue;  // gRPC's own lines
    EXPECT_TRUE(line.starts_with("{\"Timestamp\":") && line.ends_with("}")) << line;
  }
}

TEST_F(SignetdProcessTest, NewServerCertificateIsPickedUpByNewConnections) {
  StartDaemon();
  std::string before;
  ASSERT_TRUE(SignOnce("p256", 1, &before).ok());
  ASSERT_FALSE(before.empty());
  // A new server certificate from a new CA: a client trusting only the new CA can connect exactly when
  // the daemon serves the new certificate.
  const std::string dir = harness_->dir();
  const absl::Time now = absl::Now();
  auto ca = keymgmt::CreateCa("Rotated server CA", now - absl::Hours(1), now + absl::Hours(1));
  ASSERT_TRUE(ca.ok());
  keymgmt::CertSpec spec;
  spec.common_name = "localhost";
  spec.dns_sans = {"localhost"};
  spec.server_auth = true;
  spec.not_before = now - absl::Hours(1);
  spec.not_after = now + absl::Hours(1);
  auto fresh = keymgmt::IssueCert(*ca, spec);
  ASSERT_TRUE(fresh.ok());
  auto key_pem = keymgmt::PrivateKeyPem(fresh->key.get());
  ASSERT_TRUE(key_pem.ok());
  const std::string cert_pem = keymgmt::CertPem(fresh->cert.get());
  // Write both files aside, then rename each into place.
  std::ofstream(dir + "/server.pem.new") << cert_pem;
  std::ofstream(dir + "/server.key.new") << *key_pem;
  ASSERT_EQ(std::rename((dir + "/server.key.new").c_str(), (dir + "/server.key").c_str()), 0);
  ASSERT_EQ(std::rename((dir + "/server.pem.new").c_str(), (dir + "/server.pem").c_str()), 0);
  ASSERT_EQ(kill(pid_, SIGHUP), 0);
  // New connections present the new certificate.
  grpc::SslCredentialsOptions opts;
  opts.pem_root_certs = keymgmt::CertPem(ca->cert.get());
  opts.pem_private_key = harness_->allowed().key_pem;
  opts.pem_cert_chain = harness_->allowed().cert_pem;
  bool switched = false;
  for (int i = 0; i < 100 && !switched; ++i) {
    auto stub = harness_->Stub(grpc::SslCredentials(opts));
    v1::SignRequest req;
    req.set_signer_id("p256");
    req.add_inputs("after reload");
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
    v1::SignResponse resp;
    switched = stub->Sign(&ctx, req, &resp).ok();
    if (!switched) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(switched) << "the new server certificate was not served within 10 s:\n" << ReadAll(log_);
  EXPECT_THAT(ReadAll(log_), HasSubstr("SIGHUP"));
  // The daemon is still up and stops cleanly.
  ASSERT_EQ(kill(pid_, SIGTERM), 0);
  EXPECT_EQ(WaitExit(pid_, std::chrono::seconds(15)), 0);
  pid_ = -1;
}

}  // namespace
}  // namespace signet
