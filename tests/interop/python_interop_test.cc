// Interop: a Python client nobody on the team wrote signs through a real signetd over mTLS and checks
// every Content-Signature itself. The stack is Debian's: /usr/bin/python3 with python3-grpcio,
// python3-protobuf (stubs generated at build time from our .proto by protoc's Python plugin) and
// python3-cryptography. The daemon runs in-process (DaemonHarness); tests/interop/python_client.py
// runs as a child process with the harness's client certificates, and this driver checks its exit
// status, its JSON summary and the daemon's audit records.
//
// Missing Debian packages make these tests FAIL, not skip: run ops/install-deps.sh (CI does).
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/daemon_harness.h"
#include "tests/testing/process.h"

extern char** environ;

namespace signet {
namespace {

using ::signet::testing::DaemonHarness;
using ::testing::HasSubstr;

constexpr char kInstallHint[] =
    "Debian's python3-grpcio / python3-protobuf / python3-cryptography are needed by this test: "
    "run ops/install-deps.sh";

using PyResult = ::signet::testing::ProcessResult;

// The last non-empty stdout line: the client's JSON summary.
std::string Summary(const PyResult& r) {
  std::istringstream in(r.out);
  std::string line, last;
  while (std::getline(in, line)) {
    if (!line.empty()) last = line;
  }
  return last;
}

// Writes `contents` to `path` with mode `mode` (applied even if the file existed).
bool WriteFile(const std::string& path, const std::string& contents, mode_t mode) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return false;
  bool ok = ::fchmod(fd, mode) == 0;
  size_t off = 0;
  while (ok && off < contents.size()) {
    ssize_t n = ::write(fd, contents.data() + off, contents.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) ok = false;
    else off += static_cast<size_t>(n);
  }
  return ::close(fd) == 0 && ok;
}

// Runs `/usr/bin/python3 -I <args>` (isolated: no PYTHON* variables, no user site-packages, so only
// Debian's dist-packages) and captures stdout, stderr and the exit code; kills it after `timeout`.
PyResult RunPython(const std::string& dir, const std::vector<std::string>& args,
                   std::chrono::seconds timeout = std::chrono::seconds(90)) {
  std::vector<std::string> argv = {SIGNET_INTEROP_PYTHON, "-I"};
  argv.insert(argv.end(), args.begin(), args.end());
  PyResult r = ::signet::testing::RunProcess(argv, {.dir = dir, .timeout = timeout});
  if (r.exit_code == -1) r.err += std::string(". ") + kInstallHint;
  return r;
}

class PythonInteropTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto h = DaemonHarness::Start();
    ASSERT_TRUE(h.ok()) << h.status();
    harness_ = *std::move(h);
    const std::string& dir = harness_->dir();
    ca_ = dir + "/py-ca.pem";
    ASSERT_TRUE(WriteFile(ca_, harness_->ca_pem(), 0644));
    for (auto [name, cert] : {std::pair{"allowed", &harness_->allowed()}, std::pair{"denied", &harness_->denied()}}) {
      ASSERT_TRUE(WriteFile(dir + "/py-" + name + ".pem", cert->cert_pem, 0644));
      ASSERT_TRUE(WriteFile(dir + "/py-" + name + ".key", cert->key_pem, 0600));
    }
  }

  PyResult RunClient(const std::string& who, std::vector<std::string> extra = {}) {
    const std::string& dir = harness_->dir();
    std::vector<std::string> args = {SIGNET_PYTHON_CLIENT,
                                     "--gen-dir", SIGNET_PYTHON_GEN_DIR,
                                     "--target", harness_->target(),
                                     "--ca", ca_,
                                     "--cert", dir + "/py-" + who + ".pem",
                                     "--key", dir + "/py-" + who + ".key"};
    args.insert(args.end(), extra.begin(), extra.end());
    return RunPython(dir, args);
  }

  std::unique_ptr<DaemonHarness> harness_;
  std::string ca_;
};

// Exit 3 is the client's "a Debian package or the generated code is missing"; -1 "could not start".
::testing::AssertionResult DepsPresent(const PyResult& r) {
  if (r.exit_code == 3 || r.exit_code == -1) return ::testing::AssertionFailure() << kInstallHint << "\n" << r;
  return ::testing::AssertionSuccess();
}

TEST(PythonInteropDepsTest, DebianPythonPackagesAndGeneratedStubsImport) {
  char tmpl[] = "/tmp/signet-pydeps-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  PyResult r = RunPython(dir, {SIGNET_PYTHON_CLIENT, "--gen-dir", SIGNET_PYTHON_GEN_DIR, "--check-deps"});
  std::remove((dir + "/python-run-1.out").c_str());
  std::remove((dir + "/python-run-1.err").c_str());
  ::rmdir(dir.c_str());
  ASSERT_TRUE(DepsPresent(r));
  EXPECT_EQ(r.exit_code, 0) << r;
  // Debian's grpc, not one pip put somewhere else.
  EXPECT_THAT(Summary(r), HasSubstr(R"("grpc_path":"/usr/lib/python3/dist-packages/grpc")")) << r;
}

TEST_F(PythonInteropTest, AllowedClientSignsOnEveryCurveAndCryptographyVerifies) {
  PyResult r = RunClient("allowed");
  ASSERT_TRUE(DepsPresent(r));
  ASSERT_EQ(r.exit_code, 0) << r;
  const std::string summary = Summary(r);
  EXPECT_THAT(summary, HasSubstr(R"("ok":true)")) << r;
  EXPECT_THAT(summary, HasSubstr(R"("verified":9)")) << r;
  EXPECT_THAT(summary, HasSubstr(R"("tampered_rejected":9)")) << r;
  EXPECT_THAT(summary, HasSubstr(R"("x5u":"https://x5u.signet.test/p384.pem")")) << r;
  EXPECT_THAT(summary, HasSubstr(R"("failures":[])")) << r;

  // The signatures came from this daemon, for this identity: 3 audited ok items per signer.
  std::map<std::string, int> ok_per_signer;
  for (const auto& a : harness_->audits()) {
    if (a.method != "Sign") continue;
    EXPECT_EQ(a.identity, testing::kAllowedIdentity);
    EXPECT_EQ(a.result, "ok") << a.error;
    EXPECT_EQ(a.request_id, "py-interop-" + a.signer);
    ++ok_per_signer[a.signer];
  }
  EXPECT_EQ(ok_per_signer, (std::map<std::string, int>{{"p256", 3}, {"p384", 3}, {"p521", 3}}));
}

TEST_F(PythonInteropTest, DeniedClientGetsPermissionDenied) {
  PyResult r = RunClient("denied", {"--expect-denied"});
  ASSERT_TRUE(DepsPresent(r));
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_THAT(Summary(r), HasSubstr(R"("outcomes":{"p256":"PERMISSION_DENIED","p384":"PERMISSION_DENIED",)"
                                     R"("p521":"PERMISSION_DENIED"})"))
      << r;
  for (const auto& a : harness_->audits()) EXPECT_NE(a.method, "Sign") << "a denied call reached signing";
}

// The client's checks are not vacuous: each mode fails when the other outcome happens.
TEST_F(PythonInteropTest, ClientReportsTheOutcomeItDidNotExpect) {
  PyResult denied_signs = RunClient("denied");
  ASSERT_TRUE(DepsPresent(denied_signs));
  EXPECT_EQ(denied_signs.exit_code, 1) << denied_signs;
  EXPECT_THAT(denied_signs.err, HasSubstr("PERMISSION_DENIED")) << denied_signs;
  EXPECT_THAT(Summary(denied_signs), HasSubstr(R"("ok":false)")) << denied_signs;

  PyResult allowed_expects_denial = RunClient("allowed", {"--expect-denied"});
  ASSERT_TRUE(DepsPresent(allowed_expects_denial));
  EXPECT_EQ(allowed_expects_denial.exit_code, 1) << allowed_expects_denial;
  EXPECT_THAT(allowed_expects_denial.err, HasSubstr("Sign succeeded; expected PERMISSION_DENIED"))
      << allowed_expects_denial;
}

}  // namespace
}  // namespace signet
