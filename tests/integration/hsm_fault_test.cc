// The fault matrix: the real signetd binary over the fault-injecting PKCS#11 module (tests/fault/),
// which forwards to SoftHSM2. For each fault, clients sign continuously while the fault is injected and
// after it clears; every signature returned is verified with the signer's public key. Each case checks:
// signetd does not crash, no wrong signature is returned, every failed call carries UNAVAILABLE or
// DEADLINE_EXCEEDED, gRPC health shows the outage (where the fault is an outage), and signing succeeds
// again within 2 s of the fault clearing. The figures are printed as one "fault-matrix:" line per case.
#include <openssl/x509.h>
#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/openssl_ptr.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "signing/content_signature.h"
#include "tests/testing/daemon_harness.h"
#include "tests/testing/signetd_process.h"

namespace signet {
namespace {

using Clock = std::chrono::steady_clock;
using ::signet::testing::DaemonHarness;

void WriteFileAtomically(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text;
  }
  ASSERT_EQ(std::rename(tmp.c_str(), path.c_str()), 0);
}

struct FaultCase {
  const char* name;
  const char* rules;           // the control file while the fault lasts
  size_t verify_every;         // hsm.verify_every
  bool outage;                 // calls fail and health must show NOT_SERVING during the fault
  bool transient;              // retried on a fresh session: no call may fail at all
  bool reinitializes = false;  // a device-class error: the module must have been reinitialized
};

std::ostream& operator<<(std::ostream& os, const FaultCase& c) { return os << c.name; }

constexpr FaultCase kCases[] = {
    {"DeviceError", "C_Sign error CKR_DEVICE_ERROR\n", 64, true, false, true},
    {"DeviceRemoved", "C_Sign error CKR_DEVICE_REMOVED\n", 64, true, false, true},
    {"TokenNotPresent", "C_SignInit error CKR_TOKEN_NOT_PRESENT\n", 64, true, false, true},
    {"GeneralError", "C_Sign error CKR_GENERAL_ERROR\n", 64, true, false, true},
    {"WholeModuleDown", "* error CKR_DEVICE_ERROR\n", 64, true, false, true},
    {"NotInitialized", "* error CKR_CRYPTOKI_NOT_INITIALIZED\n", 64, true, false, true},
    {"SessionHandleInvalidEveryThird", "C_Sign error CKR_SESSION_HANDLE_INVALID every 3\n", 64, false, true},
    {"SessionClosedEveryThird", "C_SignInit error CKR_SESSION_CLOSED every 3\n", 64, false, true},
    {"UserNotLoggedInEveryThird", "C_SignInit error CKR_USER_NOT_LOGGED_IN every 3\n", 64, false, true},
    {"UserNotLoggedInAlways", "C_SignInit error CKR_USER_NOT_LOGGED_IN\n", 64, true, false},
    {"SessionHandleInvalidAlways", "C_Sign error CKR_SESSION_HANDLE_INVALID\n", 64, true, false},
    {"SlowCalls", "C_Sign delay 150\n", 64, false, true},
    {"HangingCalls", "C_Sign hang\n", 64, true, false},
    {"CorruptFlipVerifiedAlways", "C_Sign corrupt flip\n", 1, false, false},
    {"CorruptZeroCaughtByEncodingCheck", "C_Sign corrupt zero\n", 0, false, false},
    {"CorruptTruncatedCaughtByLengthCheck", "C_Sign corrupt truncate\n", 0, false, false},
};

class HsmFaultTest : public ::testing::TestWithParam<FaultCase> {
 protected:
  void SetUp() override {
    auto h = DaemonHarness::Prepare([this](daemon::Config& c) {
      control_ = c.server.tls.cert_file.substr(0, c.server.tls.cert_file.rfind('/')) + "/faults.txt";
      c.hsm.module = SIGNET_FAULT_MODULE;
      c.hsm.call_timeout = absl::Milliseconds(800);
      c.hsm.verify_every = GetParam().verify_every;
      c.batching.workers = 2;
    });
    ASSERT_TRUE(h.ok()) << h.status();
    harness_ = *std::move(h);
    WriteFileAtomically(control_, "");
    // Read by the fault module inside the spawned signetd; this process never loads it.
    setenv("SIGNET_FAULT_CONTROL", control_.c_str(), 1);
    setenv("SIGNET_FAULT_TARGET", SIGNET_SOFTHSM_MODULE, 1);
    auto daemon = testing::SignetdProcess::Start(SIGNETD_BINARY, *harness_);
    ASSERT_TRUE(daemon.ok()) << daemon.status();
    daemon_ = *std::move(daemon);
    // The signer's public key, to verify every signature the clients get.
    auto stub = harness_->Stub(harness_->allowed());
    grpc::ClientContext ctx;
    v1::GetSignerRequest req;
    req.set_signer_id("p256");
    v1::SignerInfo info;
    grpc::Status s = stub->GetSigner(&ctx, req, &info);
    ASSERT_TRUE(s.ok()) << s.error_message();
    const auto* der = reinterpret_cast<const unsigned char*>(info.public_key().data());
    public_key_.reset(d2i_PUBKEY(nullptr, &der, static_cast<long>(info.public_key().size())));
    ASSERT_NE(public_key_, nullptr);
  }

  void TearDown() override {
    daemon_.reset();  // kills it if it still runs; its log is kept for the suite's log scan
    unsetenv("SIGNET_FAULT_CONTROL");
  }

  bool Alive() {
    int status = 0;
    return waitpid(daemon_->pid(), &status, WNOHANG) == 0;
  }

  std::unique_ptr<DaemonHarness> harness_;
  std::unique_ptr<testing::SignetdProcess> daemon_;
  std::string control_;
  EvpPkeyPtr public_key_;
};

struct CallRecord {
  Clock::time_point start, end;
  grpc::StatusCode code = grpc::StatusCode::OK;
  bool wrong_signature = false;
};

TEST_P(HsmFaultTest, RidesThroughAndRecovers) {
  const FaultCase& fc = GetParam();
  constexpr int kClients = 4;
  constexpr auto kWarmup = std::chrono::milliseconds(400);
  constexpr auto kFault = std::chrono::milliseconds(1500);
  constexpr auto kAfter = std::chrono::milliseconds(3000);

  std::atomic<bool> stop{false};
  std::mutex mu;
  std::vector<CallRecord> records;
  std::map<std::string, int> messages;  // failure messages seen (for the report)
  std::vector<std::thread> clients;
  for (int t = 0; t < kClients; ++t) {
    clients.emplace_back([&, t] {
      auto stub = harness_->Stub(harness_->allowed());
      int n = 0;
      while (!stop.load()) {
        const std::string input = absl::StrCat("fault matrix ", fc.name, " client ", t, " call ", n++);
        v1::SignRequest req;
        req.set_signer_id("p256");
        req.add_inputs(input);
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
        v1::SignResponse resp;
        CallRecord r;
        r.start = Clock::now();
        grpc::Status s = stub->Sign(&ctx, req, &resp);
        r.end = Clock::now();
        std::string message;
        if (!s.ok()) {
          r.code = s.error_code();
          message = s.error_message();
        } else if (resp.items_size() != 1) {
          r.code = grpc::StatusCode::INTERNAL;
          message = "wrong item count";
        } else if (!resp.items(0).has_result()) {
          r.code = static_cast<grpc::StatusCode>(resp.items(0).error().code());
          message = resp.items(0).error().message();
        } else {
          const std::string& sig = resp.items(0).result().signature();
          r.wrong_signature =
              !signing::VerifyData(
                   public_key_.get(), EcCurve::kP256,
                   std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(input.data()), input.size()),
                   sig)
                   .ok();
        }
        {
          std::lock_guard<std::mutex> lock(mu);
          records.push_back(r);
          if (!message.empty()) ++messages[message.substr(0, 160)];
        }
        if (r.code != grpc::StatusCode::OK) std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    });
  }
  // gRPC health, polled: the overall service's status over time.
  std::atomic<bool> saw_not_serving{false};
  std::atomic<bool> serving_at_end{false};
  std::thread health([&] {
    auto channel = grpc::CreateChannel(harness_->target(), harness_->Credentials(&harness_->allowed()));
    auto stub = grpc::health::v1::Health::NewStub(channel);
    while (!stop.load()) {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
      grpc::health::v1::HealthCheckRequest req;
      req.set_service("signet.v1.Signer");
      grpc::health::v1::HealthCheckResponse resp;
      grpc::Status s = stub->Check(&ctx, req, &resp);
      const bool serving = s.ok() && resp.status() == grpc::health::v1::HealthCheckResponse::SERVING;
      if (!serving) saw_not_serving = true;
      serving_at_end = serving;
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
  });

  // Warm up until the clients are signing (a loaded machine takes a while to connect), then a little more.
  const auto warmup_limit = Clock::now() + std::chrono::seconds(20);
  while (Clock::now() < warmup_limit) {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (std::count_if(records.begin(), records.end(),
                        [](const CallRecord& r) { return r.code == grpc::StatusCode::OK; }) >= 20) {
        break;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::this_thread::sleep_for(kWarmup);
  const auto fault_on = Clock::now();
  WriteFileAtomically(control_, fc.rules);
  std::this_thread::sleep_for(kFault);
  const auto fault_off = Clock::now();
  WriteFileAtomically(control_, "");
  std::this_thread::sleep_for(kAfter);
  stop = true;
  for (auto& c : clients) c.join();
  health.join();

  // Figures.
  int tried = 0, ok = 0, failed = 0, wrong = 0, unavailable = 0, deadline = 0, other = 0, ok_before = 0;
  int failed_after_recovery = 0;
  std::optional<Clock::time_point> first_ok_after;
  for (const CallRecord& r : records) {
    ++tried;
    if (r.wrong_signature) ++wrong;
    if (r.code == grpc::StatusCode::OK) {
      ++ok;
      if (r.end < fault_on) ++ok_before;
      if (r.start >= fault_off && (!first_ok_after || r.end < *first_ok_after)) first_ok_after = r.end;
      continue;
    }
    ++failed;
    if (r.code == grpc::StatusCode::UNAVAILABLE) {
      ++unavailable;
    } else if (r.code == grpc::StatusCode::DEADLINE_EXCEEDED) {
      ++deadline;
    } else {
      ++other;
    }
  }
  ASSERT_TRUE(first_ok_after.has_value()) << "no call succeeded after the fault cleared";
  for (const CallRecord& r : records) {
    if (r.code != grpc::StatusCode::OK && r.start > *first_ok_after + std::chrono::milliseconds(500)) {
      ++failed_after_recovery;
    }
  }
  const auto recovered_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(*first_ok_after - fault_off).count();
  std::string seen;
  for (const auto& [m, n] : messages) absl::StrAppend(&seen, "\n  ", n, "x ", m);
  std::printf(
      "fault-matrix: fault=%s calls=%d ok=%d failed=%d (UNAVAILABLE=%d DEADLINE_EXCEEDED=%d other=%d) "
      "wrong_signatures=%d health_not_serving_seen=%s recovered_in_ms=%lld failed_after_recovery=%d%s\n",
      fc.name, tried, ok, failed, unavailable, deadline, other, wrong, saw_not_serving ? "yes" : "no",
      static_cast<long long>(recovered_ms), failed_after_recovery, seen.c_str());
  std::fflush(stdout);

  EXPECT_TRUE(Alive()) << "signetd died:\n" << daemon_->Log();
  EXPECT_GT(ok_before, 0) << "nothing was signed before the fault";
  EXPECT_EQ(wrong, 0) << "a wrong signature was returned";
  EXPECT_EQ(other, 0) << "failed calls must be UNAVAILABLE or DEADLINE_EXCEEDED";
  EXPECT_LE(recovered_ms, 2000) << "signing did not succeed within 2 s of the fault clearing";
  EXPECT_EQ(failed_after_recovery, 0);
  EXPECT_TRUE(serving_at_end) << "gRPC health is not SERVING after recovery";
  if (fc.transient) {
    EXPECT_EQ(failed, 0) << "a transient fault must be retried on a fresh session, not failed";
  } else {
    EXPECT_GT(failed, 0) << "the fault was not felt: is the fault module in the path?";
  }
  if (fc.reinitializes) {
    EXPECT_NE(daemon_->Log().find("reinitializ"), std::string::npos) << "no module reinitialization was tried";
  }
  if (fc.outage) {
    EXPECT_TRUE(saw_not_serving) << "gRPC health never showed the outage";
  }
  if (std::string(fc.name).rfind("Corrupt", 0) == 0) {
    EXPECT_NE(daemon_->Log().find("bad signature"), std::string::npos) << "the bad signature was not logged";
  }
}

INSTANTIATE_TEST_SUITE_P(Faults, HsmFaultTest, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<FaultCase>& info) {
                           return std::string(info.param.name);
                         });

}  // namespace
}  // namespace signet
