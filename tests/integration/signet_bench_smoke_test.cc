// signet-bench as the benchmark runs it, briefly, against an in-process signetd: it runs, it signs,
// and every signature it gets back verifies (--verify). No timing is asserted here; numbers belong to
// `ops/dev.sh bench`.
#include <fstream>
#include <regex>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/daemon_harness.h"
#include "tests/testing/process.h"

namespace signet {
namespace {

using ::testing::HasSubstr;

// A number field of signet-bench's one-line JSON.
double Field(const std::string& json, const std::string& name) {
  std::smatch m;
  const std::regex re("\"" + name + "\":([0-9.]+)");
  double v = -1;
  if (std::regex_search(json, m, re)) (void)absl::SimpleAtod(m[1].str(), &v);
  return v;
}

class BenchSmokeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto h = testing::DaemonHarness::Start();
    ASSERT_TRUE(h.ok()) << h.status();
    harness_ = *std::move(h);
    dir_ = harness_->dir();
    std::ofstream(dir_ + "/bench-ca.pem") << harness_->ca_pem();
    std::ofstream(dir_ + "/bench-client.pem") << harness_->allowed().cert_pem;
    std::ofstream(dir_ + "/bench-client.key") << harness_->allowed().key_pem;
  }
  testing::ProcessResult Bench(std::vector<std::string> args) {
    args.insert(args.begin(), SIGNET_BENCH_BINARY);
    return testing::RunProcess(args, {.dir = dir_, .timeout = std::chrono::seconds(60)});
  }
  std::vector<std::string> DaemonArgs(const std::string& mode, const std::string& signer) {
    return {mode,
            "--server",
            harness_->target(),
            "--ca-file",
            dir_ + "/bench-ca.pem",
            "--cert-file",
            dir_ + "/bench-client.pem",
            "--key-file",
            dir_ + "/bench-client.key",
            "--signer",
            signer,
            "--duration",
            "400ms",
            "--warmup",
            "100ms",
            "--verify"};
  }
  std::unique_ptr<testing::DaemonHarness> harness_;
  std::string dir_;
};

TEST_F(BenchSmokeTest, ClosedLoopSignsAndEverySignatureVerifies) {
  for (const char* signer : {"p256", "p384"}) {
    auto args = DaemonArgs("daemon", signer);
    args.insert(args.end(), {"--items", "4", "--concurrency", "4", "--channels", "2"});
    auto r = Bench(args);
    ASSERT_EQ(r.exit_code, 0) << r;
    EXPECT_THAT(r.out, HasSubstr("\"mode\":\"daemon\"")) << r;
    EXPECT_THAT(r.out, HasSubstr("\"errors\":{}")) << r;
    // "verified" counts every answer of the run; "signatures" and "keys" only the calls started in the
    // measured window, which a stalled (loaded CI) machine can leave empty after the short warm-up.
    EXPECT_GT(Field(r.out, "verified"), 0) << r;
    EXPECT_LE(Field(r.out, "signatures"), Field(r.out, "verified")) << r;
    if (Field(r.out, "signatures") == 0) continue;
    // One key signed everything; the report names it with its signature count.
    EXPECT_TRUE(std::regex_search(
        r.out,
        std::regex(R"("keys":\[\{"key_id":"[0-9a-f]+","x5u":"[^"]*",)"
                   R"("spki_sha256":"[0-9a-f]{64}","signatures":[1-9][0-9]*,"first_unix_ms":[1-9][0-9]*,)"
                   R"("last_unix_ms":[1-9][0-9]*\}\]\})")))
        << r;
    EXPECT_GE(Field(r.out, "p99_ms"), Field(r.out, "p50_ms")) << r;
  }
}

TEST_F(BenchSmokeTest, OpenLoopKeepsItsSchedule) {
  auto args = DaemonArgs("open-loop", "p256");
  args.insert(args.end(), {"--rate", "200", "--max-in-flight", "64"});
  auto r = Bench(args);
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_THAT(r.out, HasSubstr("\"errors\":{}")) << r;
  // 200 calls/s for 0.4 s, counted by scheduled start: 80, give or take the edges. Started late or
  // not at all past the cap (a stalled machine) counts in not_started, not in calls.
  EXPECT_NEAR(Field(r.out, "calls") + Field(r.out, "not_started"), 80, 2) << r;
  EXPECT_EQ(Field(r.out, "max_in_flight"), 64) << r;
  EXPECT_GT(Field(r.out, "verified"), 0) << r;
}

TEST_F(BenchSmokeTest, CeilingSignsWithTheTokenDirectly) {
  auto r = Bench({"ceiling", "--module", SIGNET_SOFTHSM_MODULE, "--token", "signetd-test", "--pin-file",
                  dir_ + "/user.pin", "--key", "key-p384", "--threads", "2", "--duration", "300ms"});
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_THAT(r.out, HasSubstr("\"curve\":\"P-384\"")) << r;
  EXPECT_GT(Field(r.out, "ops"), 0) << r;
}

TEST_F(BenchSmokeTest, BadArgumentsAreRefusedByName) {
  auto args = DaemonArgs("daemon", "p256");
  args.insert(args.end(), {"--items", "0"});
  auto r = Bench(args);
  EXPECT_EQ(r.exit_code, 2) << r;
  EXPECT_THAT(r.err, HasSubstr("--items must be 1..100000")) << r;
  auto denied = Bench(DaemonArgs("daemon", "nope"));
  EXPECT_EQ(denied.exit_code, 1) << denied;
  EXPECT_THAT(denied.err, HasSubstr("GetSigner(nope)")) << denied;
  auto open_args = DaemonArgs("open-loop", "p256");
  open_args.insert(open_args.end(), {"--rate", "100", "--max-in-flight", "-1"});
  auto cap = Bench(open_args);
  EXPECT_EQ(cap.exit_code, 2) << cap;
  EXPECT_THAT(cap.err, HasSubstr("--max-in-flight must be 0..100000, got '-1'")) << cap;
  auto closed_args = DaemonArgs("daemon", "p256");
  closed_args.insert(closed_args.end(), {"--max-in-flight", "8"});
  auto closed = Bench(closed_args);
  EXPECT_EQ(closed.exit_code, 2) << closed;
  EXPECT_THAT(closed.err, HasSubstr("--max-in-flight is for open-loop")) << closed;
  auto mode = Bench({"fastest"});
  EXPECT_EQ(mode.exit_code, 2) << mode;
}

}  // namespace
}  // namespace signet
