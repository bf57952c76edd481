// The suite-wide log scan can fail: the scanner finds planted PINs and keys (and not public keys or
// certificates), and `signet_log_scan scan` exits 1 on a planted secret without printing it.
#include "tests/testing/test_evidence.h"

#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/openssl_ptr.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "keymgmt/dev_pki.h"
#include "tests/testing/process.h"
#include "tests/testing/softhsm_token.h"
#include "tests/testing/test_pins.h"

namespace signet::testing {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kPlanted[] = "planted-secret-5e2b9c71";

std::string Pem(const EVP_PKEY* key, bool private_key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  const int ok = private_key ? PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr)
                             : PEM_write_bio_PUBKEY(bio.get(), key);
  EXPECT_EQ(ok, 1);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

std::vector<Secret> KeySecrets(const EVP_PKEY* key) {
  std::vector<Secret> out;
  for (const std::string& form : PrivateKeyForms(key)) out.push_back({"test key", form});
  return out;
}

TEST(SecretScannerTest, FindsAPlantedPinAndNamesItsLine) {
  auto builtins = LoadSecrets("/nonexistent");
  ASSERT_TRUE(builtins.ok());
  const SecretScanner scanner(*builtins);
  const auto findings = scanner.Scan(absl::StrCat("a\nb\n{\"Fields\":{\"msg\":\"pin=", kTestSoPin, "\"}}\nd\n"));
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].line, 3u);
  EXPECT_THAT(findings[0].label, HasSubstr("kTestSoPin"));
  EXPECT_TRUE(scanner.Scan("signet-test-user-pin-8d1 (one byte short)\nsignet-test\n").empty());
}

TEST(SecretScannerTest, FindsPrivateKeysButNotTheirPublicHalvesOrCertificates) {
  auto ca = keymgmt::CreateCa("Scanner CA", absl::Now() - absl::Hours(1), absl::Now() + absl::Hours(1));
  ASSERT_TRUE(ca.ok());
  EvpPkeyPtr rsa(EVP_RSA_gen(2048));
  ASSERT_NE(rsa, nullptr);
  for (const EVP_PKEY* key : {static_cast<const EVP_PKEY*>(ca->key.get()), static_cast<const EVP_PKEY*>(rsa.get())}) {
    const std::vector<Secret> secrets = KeySecrets(key);
    ASSERT_GE(secrets.size(), 3u) << "too few forms: no hex or no PEM line";
    const SecretScanner scanner(secrets);
    EXPECT_FALSE(scanner.Scan(Pem(key, true)).empty()) << "a dumped PEM key was not found";
    BignumPtr priv;
    BIGNUM* raw = nullptr;
    const char* name = EVP_PKEY_is_a(key, "RSA") ? "d" : "priv";
    ASSERT_EQ(EVP_PKEY_get_bn_param(key, name, &raw), 1);
    priv.reset(raw);
    char* hex = BN_bn2hex(priv.get());
    EXPECT_FALSE(scanner.Scan(absl::StrCat("key=", absl::AsciiStrToLower(hex), "\n")).empty()) << "hex not found";
    OPENSSL_free(hex);
    EXPECT_TRUE(scanner.Scan(Pem(key, false)).empty()) << "the public key was flagged";
  }
  const SecretScanner ca_scanner(KeySecrets(ca->key.get()));
  EXPECT_TRUE(ca_scanner.Scan(keymgmt::CertPem(ca->cert.get())).empty()) << "the certificate was flagged";
}

class EvidenceDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* real = std::getenv(kEvidenceDirEnv);
    saved_ = real != nullptr ? real : "";
    ::setenv(kEvidenceDirEnv, tmp_.File("evidence").c_str(), 1);
  }
  void TearDown() override {
    if (saved_.empty()) {
      ::unsetenv(kEvidenceDirEnv);
    } else {
      ::setenv(kEvidenceDirEnv, saved_.c_str(), 1);
    }
  }
  std::string evidence() const { return tmp_.File("evidence"); }
  ProcessResult Tool(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {SIGNET_LOG_SCAN_BINARY};
    argv.insert(argv.end(), args.begin(), args.end());
    ProcessOptions options;
    options.dir = tmp_.path();
    options.env = std::vector<std::string>{absl::StrCat(kEvidenceDirEnv, "=", evidence())};
    return RunProcess(argv, options);
  }
  void Write(const std::string& path, const std::string& text) {
    fs::create_directories(fs::path(path).parent_path());
    std::ofstream(path, std::ios::trunc) << text;
  }
  TempDir tmp_;
  std::string saved_;
};

TEST_F(EvidenceDirTest, RegisteredSecretsAndKeptLogsRoundTrip) {
  RegisterSecret("a test PIN", kPlanted);
  RegisterSecret("too short to register", "1234567");
  KeepLog("child/with odd name", "captured output\n");
  auto secrets = LoadSecrets(evidence());
  ASSERT_TRUE(secrets.ok()) << secrets.status();
  ASSERT_EQ(secrets->size(), 3u);  // the two built-in PINs and the registered one
  EXPECT_EQ((*secrets)[2].label, "a test PIN");
  EXPECT_EQ((*secrets)[2].value, kPlanted);
  size_t logs = 0;
  for (const auto& entry : fs::directory_iterator(fs::path(evidence()) / "logs")) {
    ++logs;
    EXPECT_THAT(entry.path().filename().string(), HasSubstr("child_with_odd_name"));
  }
  EXPECT_EQ(logs, 1u);
  // The registry holds the secret in hex only.
  for (const auto& entry : fs::directory_iterator(fs::path(evidence()) / "secrets")) {
    std::ifstream in(entry.path());
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_THAT(text, Not(HasSubstr(kPlanted)));
  }
}

TEST_F(EvidenceDirTest, ScanFailsOnAPlantedSecretNamingWhereAndNeverPrintingIt) {
  const std::string ctest_dir = tmp_.File("Temporary");
  Write(tmp_.File("shell.pin"), absl::StrCat(kPlanted, "\n"));
  ProcessResult r = Tool({"register-file", tmp_.File("shell.pin"), "a shell test's PIN"});
  ASSERT_EQ(r.exit_code, 0) << r;
  r = Tool({"reset", evidence()});
  ASSERT_EQ(r.exit_code, 0) << r;
  const std::string run_line = r.out;
  // reset empties the registry: register again, as a test of this run would.
  r = Tool({"register-file", tmp_.File("shell.pin"), "a shell test's PIN"});
  ASSERT_EQ(r.exit_code, 0) << r;

  Write(ctest_dir + "/LastTest.log.tmp", absl::StrCat(run_line, "line 2\nerror: login with ", kPlanted, " failed\n"));
  r = Tool({"scan", evidence(), ctest_dir});
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_THAT(r.out, HasSubstr("self-check passed"));
  EXPECT_THAT(r.out, HasSubstr("LastTest.log.tmp:3: contains a secret: a shell test's PIN"));
  EXPECT_THAT(r.out + r.err, Not(HasSubstr(kPlanted)));

  // A built-in test PIN in a kept child log is found too.
  Write(ctest_dir + "/LastTest.log.tmp", run_line + "all clean\n");
  Write(evidence() + "/logs/1-1-signetd.log", absl::StrCat("{\"msg\":\"", kTestUserPin, "\"}\n"));
  r = Tool({"scan", evidence(), ctest_dir});
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_THAT(r.out, HasSubstr("1-1-signetd.log:1: contains a secret: kTestUserPin"));

  fs::remove(evidence() + "/logs/1-1-signetd.log");
  r = Tool({"scan", evidence(), ctest_dir});
  EXPECT_EQ(r.exit_code, 0) << r;
  EXPECT_THAT(r.out, HasSubstr("none found"));
}

TEST_F(EvidenceDirTest, ScanRefusesALogThatIsNotThisRunsOrAMissingRun) {
  const std::string ctest_dir = tmp_.File("Temporary");
  Write(ctest_dir + "/LastTest.log", "an old run's log\n");
  ProcessResult r = Tool({"scan", evidence(), ctest_dir});
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_THAT(r.err, HasSubstr("no run id"));
  ASSERT_EQ(Tool({"reset", evidence()}).exit_code, 0);
  r = Tool({"scan", evidence(), ctest_dir});
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_THAT(r.err, HasSubstr("is not this run's log"));
}

}  // namespace
}  // namespace signet::testing
