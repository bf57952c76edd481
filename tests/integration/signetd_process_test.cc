// The signetd binary as a service manager runs it: config check exit codes, a ready file, mozlog on
// stderr, SIGHUP with a replaced server certificate or CRL, SIGTERM draining an in-flight call, core
// dumps off, and start-up refusing loose PIN files and bad CRLs.
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sched.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <set>
#include <fstream>
#include <sstream>
#include <thread>

#include <grpc/grpc_security_constants.h>
#include <openssl/pem.h>

#include "absl/strings/str_cat.h"
#include "common/thread_name.h"
#include "common/thread_sched.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "keymgmt/dev_pki.h"
#include "tests/testing/daemon_harness.h"
#include "tests/testing/process.h"
#include "tests/testing/test_crl.h"
#include "tests/testing/test_evidence.h"

namespace signet {
namespace {

using ::signet::testing::DaemonHarness;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int RunToExit(const std::vector<std::string>& argv, const std::string& log) {
  pid_t pid = testing::SpawnWithLog(argv, log);
  return pid < 0 ? -1 : testing::WaitExit(pid, std::chrono::seconds(30));
}

int WaitExit(pid_t pid, std::chrono::milliseconds timeout) { return testing::WaitExit(pid, timeout); }

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
    unsetenv("SIGNET_FAULT_CONTROL");
    testing::KeepLog("signetd", ReadAll(log_));  // for the suite-wide log scan
  }
  // The next StartDaemon runs signetd over the fault-injecting module (tests/fault/), which forwards to
  // SoftHSM2 and obeys the control file this returns (empty: no faults).
  std::string UseFaultModule() {
    const std::string control = harness_->dir() + "/faults.txt";
    WriteFileAtomically(control, "");
    setenv("SIGNET_FAULT_CONTROL", control.c_str(), 1);  // read by the module inside the spawned signetd
    setenv("SIGNET_FAULT_TARGET", SIGNET_SOFTHSM_MODULE, 1);
    harness_->mutable_config().hsm.module = SIGNET_FAULT_MODULE;
    return control;
  }
  static void WriteFileAtomically(const std::string& path, const std::string& text) {
    std::ofstream(path + ".tmp", std::ios::trunc) << text;
    ASSERT_EQ(std::rename((path + ".tmp").c_str(), path.c_str()), 0);
  }
  // Starts signetd and waits (bounded) for its ready file.
  void StartDaemon() {
    pid_ = testing::SpawnWithLog({SIGNETD_BINARY, "--config", config_path_}, log_);
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
  // Rewrites the config file after a test changed harness_->mutable_config().
  void RewriteConfig() {
    auto path = harness_->WriteConfigYaml();
    ASSERT_TRUE(path.ok()) << path.status();
  }
  // A CRL from the harness CA revoking `revoked`, issued `age` ago.
  std::string Crl(std::vector<const testing::ClientCert*> revoked, absl::Duration age) {
    testing::CrlSpec spec;
    spec.issuer = harness_->ca().cert.get();
    spec.signing_key = harness_->ca().key.get();
    std::vector<X509Ptr> certs;
    for (const auto* c : revoked) {
      BioPtr bio(BIO_new_mem_buf(c->cert_pem.data(), static_cast<int>(c->cert_pem.size())));
      certs.emplace_back(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
      spec.revoked.push_back(certs.back().get());
    }
    spec.this_update = absl::Now() - age;
    return testing::MakeCrl(spec);
  }
  // Polls the log for `text` (bounded).
  bool LogShows(const std::string& text, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (ReadAll(log_).find(text) == std::string::npos) {
      if (std::chrono::steady_clock::now() >= until) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return true;
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
  // A call that signetd has accepted when SIGTERM arrives must still complete. The call is held inside
  // signetd by the fault module rather than by timing: its first item signs, its second waits in C_Sign
  // until the test releases it, after signetd has logged that it is draining. (A fixed sleep before
  // SIGTERM raced the client's connection and mTLS handshake: on a loaded host SIGTERM came first, and
  // the client got UNAVAILABLE "Socket closed" for a call signetd had never received.)
  const std::string control = UseFaultModule();
  harness_->mutable_config().hsm.call_timeout = absl::Seconds(60);      // the held C_Sign is not abandoned
  harness_->mutable_config().server.drain_timeout = absl::Seconds(60);  // the drain is not what is timed
  RewriteConfig();
  StartDaemon();
  ASSERT_TRUE(SignOnce("p256", 1).ok());
  // One worker (max_batch 1): counted per thread, the worker's second C_Sign from now on hangs, once.
  WriteFileAtomically(control, "C_Sign hang every 2 count 1\n");
  constexpr int kItems = 4;
  grpc::Status long_call;
  v1::SignResponse long_response;
  std::thread t([&] {
    auto stub = harness_->Stub(harness_->allowed());
    v1::SignRequest req;
    req.set_signer_id("p521");
    req.set_request_id("drain-call");
    for (int i = 0; i < kItems; ++i) req.add_inputs(absl::StrCat("drained item ", i));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    long_call = stub->Sign(&ctx, req, &long_response);
  });
  // Its first item's audit line: the call is in signetd, its second item in the (held) HSM.
  const bool in_flight = LogShows("\"request_id\":\"drain-call\"", std::chrono::seconds(30));
  const bool signalled = in_flight && kill(pid_, SIGTERM) == 0;
  const bool draining = signalled && LogShows("signetd: draining", std::chrono::seconds(30));
  WriteFileAtomically(control, "");  // release the held C_Sign (in every case, so the thread ends)
  t.join();
  ASSERT_TRUE(in_flight) << "the call never reached signetd:\n" << ReadAll(log_);
  ASSERT_TRUE(signalled);
  EXPECT_TRUE(draining) << ReadAll(log_);
  ASSERT_TRUE(long_call.ok()) << long_call.error_message();
  ASSERT_EQ(long_response.items_size(), kItems);
  for (const auto& item : long_response.items()) EXPECT_TRUE(item.has_result()) << item.error().message();
  EXPECT_EQ(WaitExit(pid_, std::chrono::seconds(30)), 0) << ReadAll(log_);
  pid_ = -1;
  const std::string log = ReadAll(log_);
  // The call really was in flight across SIGTERM: all but its first item were signed after it.
  const size_t sigterm_at = log.find("SIGTERM received");
  ASSERT_NE(sigterm_at, std::string::npos) << log;
  int before = 0, after = 0;
  for (size_t at = log.find("\"request_id\":\"drain-call\""); at != std::string::npos;
       at = log.find("\"request_id\":\"drain-call\"", at + 1)) {
    ++(at < sigterm_at ? before : after);
  }
  EXPECT_EQ(before, 1) << log;
  EXPECT_EQ(after, kItems - 1) << log;
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

TEST_F(SignetdProcessTest, CoreDumpsAreDisabledInTheRunningDaemon) {
  // Let the daemon inherit the loosest core limit this environment allows, so that 0/0 below is its
  // own doing (restored right after the spawn).
  struct rlimit mine {};
  ASSERT_EQ(getrlimit(RLIMIT_CORE, &mine), 0);
  struct rlimit loose = mine;
  loose.rlim_cur = loose.rlim_max;
  ASSERT_EQ(setrlimit(RLIMIT_CORE, &loose), 0);
  StartDaemon();
  ASSERT_EQ(setrlimit(RLIMIT_CORE, &mine), 0);
  if (loose.rlim_max == 0) std::cout << "note: this environment's hard core limit is already 0\n";
  const std::string limits = ReadAll("/proc/" + std::to_string(pid_) + "/limits");
  std::istringstream lines(limits);
  std::string core;
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with("Max core file size")) core = line;
  }
  ASSERT_FALSE(core.empty()) << limits;
  std::istringstream fields(core.substr(std::string("Max core file size").size()));
  std::string soft, hard;
  fields >> soft >> hard;
  EXPECT_EQ(soft, "0") << core;
  EXPECT_EQ(hard, "0") << core;
  // Not dumpable: that flag is not visible from outside to root; common_test's DisableCoreDumpsTest
  // checks it for the same function signetd calls first thing.
}

// batching.scheduling: hsm_first (the default) puts every thread but the HSM workers under SCHED_BATCH,
// gRPC's included, so none of them preempts a worker in the middle of an HSM call; fair leaves all
// under SCHED_OTHER.
TEST_F(SignetdProcessTest, ItsOtherThreadsYieldToTheHsmWorkersUnlessSchedulingIsFair) {
  for (const std::string scheduling : {"hsm_first", "fair"}) {
    SCOPED_TRACE(scheduling);
    harness_->mutable_config().batching.scheduling = scheduling;
    RewriteConfig();
    StartDaemon();
    {  // gRPC's threads have served a call
      auto stub = harness_->Stub(harness_->allowed());
      v1::SignRequest req;
      req.set_signer_id("p256");
      req.add_inputs("scheduling");
      v1::SignResponse resp;
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
      ASSERT_TRUE(stub->Sign(&ctx, req, &resp).ok());
    }
    std::map<std::string, std::set<int>> policies;
    const std::vector<ThreadEntry> threads = ThreadsOfProcess(pid_);
    ASSERT_FALSE(threads.empty()) << "cannot read /proc/" << pid_ << "/task";
    for (const ThreadEntry& t : threads) policies[t.name].insert(sched_getscheduler(t.tid));
    EXPECT_THAT(policies[kHsmWorkerThreadName], ElementsAre(SCHED_OTHER));
    const int others = scheduling == "fair" ? SCHED_OTHER : SCHED_BATCH;
    for (const auto& [name, seen] : policies) {
      if (name != kHsmWorkerThreadName) {
        EXPECT_THAT(seen, ElementsAre(others)) << name;
      }
    }
    EXPECT_GT(policies.size(), 4u);  // signetd's own threads and gRPC's
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
    std::remove(ready_.c_str());  // the next StartDaemon waits for its own
  }
}

TEST_F(SignetdProcessTest, PinFilesOthersMayReadOrSymlinksFailStartWithExit78) {
  const std::string pin = *harness_->config().hsm.pin_file;
  ASSERT_EQ(chmod(pin.c_str(), 0644), 0);
  EXPECT_EQ(RunToExit({SIGNETD_BINARY, "--config", config_path_}, log_), 78);
  EXPECT_THAT(ReadAll(log_), HasSubstr("hsm.pin_file: secret file " + pin + ": mode 644 lets group or others "
                                       "access it; use chmod 600"));
  ASSERT_EQ(chmod(pin.c_str(), 0600), 0);
  const std::string link = harness_->dir() + "/link.pin";
  ASSERT_EQ(symlink(pin.c_str(), link.c_str()), 0);
  harness_->mutable_config().hsm.pin_file = link;
  RewriteConfig();
  EXPECT_EQ(RunToExit({SIGNETD_BINARY, "--config", config_path_}, log_), 78);
  EXPECT_THAT(ReadAll(log_), HasSubstr("hsm.pin_file: secret file " + link + ": is a symbolic link"));
  EXPECT_THAT(ReadAll(log_), ::testing::Not(HasSubstr(testing::kTestUserPin)));
}

TEST_F(SignetdProcessTest, ABadCrlFileFailsCheckConfigAndStartWithExit78) {
  const std::string crl = harness_->dir() + "/clients.crl";
  harness_->mutable_config().server.tls.crl_file = crl;
  RewriteConfig();
  std::ofstream(crl) << "not a CRL\n";
  EXPECT_EQ(RunToExit({SIGNETD_BINARY, "--config", config_path_, "--check-config"}, log_), 78);
  EXPECT_THAT(ReadAll(log_), HasSubstr("server.tls.crl_file: " + crl + ": neither PEM nor a DER X.509 CRL"));
  EXPECT_EQ(RunToExit({SIGNETD_BINARY, "--config", config_path_}, log_), 78);
  std::ofstream(crl, std::ios::trunc) << Crl({}, absl::Minutes(1));
  EXPECT_EQ(RunToExit({SIGNETD_BINARY, "--config", config_path_, "--check-config"}, log_), 0) << ReadAll(log_);
}

TEST_F(SignetdProcessTest, SighupReloadsTheCrlAndKeepsItWhenTheNewFileIsBad) {
  const std::string crl = harness_->dir() + "/clients.crl";
  harness_->mutable_config().server.tls.crl_file = crl;
  RewriteConfig();
  std::ofstream(crl) << Crl({}, absl::Minutes(10));
  StartDaemon();
  ASSERT_TRUE(SignOnce("p256", 1).ok());
  EXPECT_THAT(ReadAll(log_), HasSubstr("client certificates are checked against server.tls.crl_file: 1 CRL"));

  // A newer CRL revoking the client: after SIGHUP, new connections with it fail the handshake.
  std::ofstream(crl, std::ios::trunc) << Crl({&harness_->allowed()}, absl::Minutes(1));
  ASSERT_EQ(kill(pid_, SIGHUP), 0);
  ASSERT_TRUE(LogShows("SIGHUP: server.tls.crl_file: 1 CRL ('CN=Signet Test CA': 1 revoked")) << ReadAll(log_);
  grpc::Status after = SignOnce("p256", 1);
  EXPECT_EQ(after.error_code(), grpc::StatusCode::UNAVAILABLE) << after.error_message();

  // A broken file on the next SIGHUP is reported and changes nothing.
  std::ofstream(crl, std::ios::trunc) << "truncated";
  ASSERT_EQ(kill(pid_, SIGHUP), 0);
  EXPECT_TRUE(LogShows("SIGHUP: server.tls.crl_file: " + crl + ": neither PEM nor a DER")) << ReadAll(log_);
  EXPECT_EQ(SignOnce("p256", 1).error_code(), grpc::StatusCode::UNAVAILABLE);
  ASSERT_EQ(kill(pid_, SIGTERM), 0);
  EXPECT_EQ(WaitExit(pid_, std::chrono::seconds(15)), 0);
  pid_ = -1;
}

}  // namespace
}  // namespace signet
