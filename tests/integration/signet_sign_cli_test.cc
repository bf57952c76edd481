// `signet sign` as a user runs it: the real binary, in its own process, against an in-process signetd
// with real mutual TLS on loopback. SignClient, the library under the command, is also tested directly.
#include <fcntl.h>
#include <openssl/sha.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>

#include "common/ec_curve.h"
#include "common/hex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "keymgmt/dev_pki.h"
#include "keymgmt/sign_client.h"
#include "signing/content_signature.h"
#include "signing/keys.h"
#include "tests/testing/daemon_harness.h"
#include "tests/testing/process.h"

extern char** environ;

namespace signet {
namespace {

using ::signet::testing::DaemonHarness;
using ::testing::HasSubstr;
using ::testing::StartsWith;

std::span<const uint8_t> Bytes(const std::string& s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }

void WriteFile(const std::string& path, const std::string& contents, mode_t mode = 0644) {
  ::unlink(path.c_str());
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  ASSERT_GE(fd, 0) << path;
  ASSERT_EQ(::write(fd, contents.data(), contents.size()), static_cast<ssize_t>(contents.size())) << path;
  ::fchmod(fd, mode);
  ::close(fd);
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Sha256Hex(const std::string& data) {
  uint8_t md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const uint8_t*>(data.data()), data.size(), md);
  return HexEncode(md);
}

using CliResult = testing::ProcessResult;

// Runs the signet binary with `args`, `env` added to (and SIGNET_* removed from) this process's
// environment, and `stdin_data` on its standard input; captures stdout, stderr and the exit code.
CliResult RunCli(const std::string& dir, const std::vector<std::string>& args,
                 const std::map<std::string, std::string>& env = {}, const std::string& stdin_data = "") {
  std::vector<std::string> argv = {SIGNET_CLI_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<std::string> env_s;
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::string_view(*e).starts_with("SIGNET_")) continue;
    env_s.emplace_back(*e);
  }
  for (const auto& [k, v] : env) env_s.push_back(k + "=" + v);
  return testing::RunProcess(argv, {.dir = dir, .stdin_data = stdin_data, .env = env_s});
}

// The string fields of a flat one-line JSON object (the CLI's json output has no nesting or escapes
// in these tests).
std::map<std::string, std::string> JsonFields(const std::string& line) {
  std::map<std::string, std::string> out;
  static const std::regex field(R"re("([a-z0-9_]+)":"([^"\\]*)")re");
  for (auto it = std::sregex_iterator(line.begin(), line.end(), field); it != std::sregex_iterator(); ++it) {
    out[(*it)[1].str()] = (*it)[2].str();
  }
  return out;
}

class SignCliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto h = DaemonHarness::Start();
    ASSERT_TRUE(h.ok()) << h.status();
    harness_ = h->release();
    const std::string& dir = harness_->dir();
    // The harness already wrote ca.pem; make sure it is the CA it serves with.
    if (ReadAll(dir + "/ca.pem") != harness_->ca_pem()) WriteFile(dir + "/ca.pem", harness_->ca_pem());
    WriteFile(dir + "/allowed.pem", harness_->allowed().cert_pem);
    WriteFile(dir + "/allowed.key", harness_->allowed().key_pem, 0600);
    WriteFile(dir + "/denied.pem", harness_->denied().cert_pem);
    WriteFile(dir + "/denied.key", harness_->denied().key_pem, 0600);
    const absl::Time now = absl::Now();
    auto other = keymgmt::CreateCa("Not The Signet CA", now - absl::Hours(1), now + absl::Hours(24));
    ASSERT_TRUE(other.ok()) << other.status();
    WriteFile(dir + "/other-ca.pem", keymgmt::CertPem(other->cert.get()));
  }
  static void TearDownTestSuite() {
    delete harness_;
    harness_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(harness_, nullptr); }

  static std::string File(const std::string& name) { return harness_->dir() + "/" + name; }

  // The TLS flags of a client: "allowed" or "denied".
  static std::vector<std::string> Tls(const std::string& client = "allowed", const std::string& ca = "ca.pem") {
    return {"--server",    harness_->target(),      "--ca-file",  File(ca),
            "--cert-file", File(client + ".pem"), "--key-file", File(client + ".key")};
  }
  static std::vector<std::string> Args(std::vector<std::string> extra, const std::string& client = "allowed") {
    std::vector<std::string> a = {"sign"};
    auto tls = Tls(client);
    a.insert(a.end(), tls.begin(), tls.end());
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }
  static std::string WriteInput(const std::string& name, const std::string& data) {
    WriteFile(File(name), data);
    return File(name);
  }
  static keymgmt::SignClientOptions ClientOptions(const testing::ClientCert& client) {
    keymgmt::SignClientOptions o;
    o.server = harness_->target();
    o.ca_pem = harness_->ca_pem();
    o.cert_pem = client.cert_pem;
    o.key_pem = client.key_pem;
    o.timeout = absl::Seconds(10);
    return o;
  }
  // The signer's public key, fetched through SignClient::GetSigner.
  static EvpPkeyPtr PublicKey(const std::string& signer) {
    auto client = keymgmt::SignClient::Connect(ClientOptions(harness_->allowed()));
    EXPECT_TRUE(client.ok()) << client.status();
    if (!client.ok()) return nullptr;
    auto info = (*client)->GetSigner(signer);
    EXPECT_TRUE(info.ok()) << info.status();
    if (!info.ok()) return nullptr;
    auto key = signing::PublicKeyFromSpkiDer(Bytes(info->public_key()));
    EXPECT_TRUE(key.ok()) << key.status();
    return key.ok() ? *std::move(key) : nullptr;
  }
  static DaemonHarness* harness_;
};

DaemonHarness* SignCliTest::harness_ = nullptr;

TEST_F(SignCliTest, SignsAFileAndTheHeaderVerifies) {
  const std::string data = "the data Firefox will check\n";
  const std::string input = WriteInput("header.txt", data);
  CliResult r = RunCli(harness_->dir(), Args({"--signer", "p384", "--input", input}));
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_EQ(r.err, "");
  ASSERT_FALSE(r.out.empty());
  ASSERT_EQ(r.out.back(), '\n');
  const std::string value = r.out.substr(0, r.out.size() - 1);
  EXPECT_EQ(value.find('\n'), std::string::npos) << "one line only";
  EXPECT_THAT(value, StartsWith("x5u=https://x5u.signet.test/p384.pem;p384ecdsa="));
  auto header = signing::ParseHeader(value);
  ASSERT_TRUE(header.ok()) << header.status();
  EXPECT_EQ(header->curve, EcCurve::kP384);
  EXPECT_EQ(header->x5u, "https://x5u.signet.test/p384.pem");
  EvpPkeyPtr pub = PublicKey("p384");
  ASSERT_NE(pub, nullptr);
  EXPECT_TRUE(signing::VerifyData(pub.get(), EcCurve::kP384, Bytes(data), header->signature).ok());
  EXPECT_FALSE(signing::VerifyData(pub.get(), EcCurve::kP384, Bytes(data + "!"), header->signature).ok());
}

TEST_F(SignCliTest, OutputSignatureIsTheBareBase64url) {
  const std::string data = std::string("binary\0data\xff", 12);
  const std::string input = WriteInput("signature.bin", data);
  CliResult r = RunCli(harness_->dir(), Args({"--signer", "p256", "--input", input, "--output", "signature"}));
  ASSERT_EQ(r.exit_code, 0) << r;
  ASSERT_FALSE(r.out.empty());
  const std::string sig = r.out.substr(0, r.out.size() - 1);
  EXPECT_EQ(sig.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
            std::string::npos)
      << sig;
  EvpPkeyPtr pub = PublicKey("p256");
  ASSERT_NE(pub, nullptr);
  EXPECT_TRUE(signing::VerifyData(pub.get(), EcCurve::kP256, Bytes(data), sig).ok());
}

TEST_F(SignCliTest, OutputJsonCarriesEveryField) {
  const std::string data = "json please";
  const std::string input = WriteInput("json.txt", data);
  CliResult r = RunCli(harness_->dir(),
                       Args({"--signer", "p384", "--input", input, "--output", "json", "--request-id", "json-req-1"}));
  ASSERT_EQ(r.exit_code, 0) << r;
  ASSERT_THAT(r.out, StartsWith("{\"signature\":\""));
  EXPECT_EQ(r.out.find('\n'), r.out.size() - 1) << "one line";
  auto f = JsonFields(r.out);
  EXPECT_EQ(f.size(), 5u) << r.out;
  EXPECT_EQ(f["x5u"], "https://x5u.signet.test/p384.pem");
  EXPECT_EQ(f["key_id"].size(), 32u);
  EXPECT_EQ(f["request_id"], "json-req-1");
  EXPECT_EQ(f["content_signature"], "x5u=https://x5u.signet.test/p384.pem;p384ecdsa=" + f["signature"]);
  EvpPkeyPtr pub = PublicKey("p384");
  ASSERT_NE(pub, nullptr);
  EXPECT_TRUE(signing::VerifyData(pub.get(), EcCurve::kP384, Bytes(data), f["signature"]).ok());

  // Without --request-id the CLI picks one, so the output can still name the audit line.
  r = RunCli(harness_->dir(), Args({"--signer", "p256", "--input", input, "--output", "json"}));
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_EQ(JsonFields(r.out)["request_id"].size(), 32u) << r.out;
  EXPECT_EQ(JsonFields(r.out)["x5u"], "");
}

TEST_F(SignCliTest, StandardInputAndEnvironmentDefaults) {
  const std::string data = "piped in";
  std::map<std::string, std::string> env = {{"SIGNET_SERVER", harness_->target()},
                                            {"SIGNET_CA_FILE", File("ca.pem")},
                                            {"SIGNET_CERT_FILE", File("allowed.pem")},
                                            {"SIGNET_KEY_FILE", File("allowed.key")}};
  CliResult r = RunCli(harness_->dir(), {"sign", "--signer", "p521", "--input", "-", "--output", "signature"}, env, data);
  ASSERT_EQ(r.exit_code, 0) << r;
  EvpPkeyPtr pub = PublicKey("p521");
  ASSERT_NE(pub, nullptr);
  EXPECT_TRUE(signing::VerifyData(pub.get(), EcCurve::kP521, Bytes(data), r.out.substr(0, r.out.size() - 1)).ok());

  // A flag wins over the environment: the denied client's certificate on the command line is refused.
  r = RunCli(harness_->dir(),
             {"sign", "--cert-file", File("denied.pem"), "--key-file", File("denied.key"), "--signer", "p521",
              "--input", "-"},
             env, data);
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_THAT(r.err, HasSubstr("PERMISSION_DENIED"));
}

TEST_F(SignCliTest, HashHexWithTheRightDigestVerifies) {
  const std::string data = "hashed by the caller";
  auto digest = signing::ContentSignatureDigest(EcCurve::kP384, Bytes(data));
  ASSERT_EQ(digest.size(), 48u);
  CliResult r = RunCli(harness_->dir(), Args({"--signer", "p384", "--hash-hex", HexEncode(digest)}));
  ASSERT_EQ(r.exit_code, 0) << r;
  auto header = signing::ParseHeader(r.out.substr(0, r.out.size() - 1));
  ASSERT_TRUE(header.ok()) << header.status();
  EvpPkeyPtr pub = PublicKey("p384");
  ASSERT_NE(pub, nullptr);
  EXPECT_TRUE(signing::VerifyData(pub.get(), EcCurve::kP384, Bytes(data), header->signature).ok());
}

TEST_F(SignCliTest, HashHexOfTheWrongLengthIsAUsageError) {
  CliResult r = RunCli(harness_->dir(), Args({"--signer", "p384", "--hash-hex", std::string(64, 'a')}));
  EXPECT_EQ(r.exit_code, 2) << r;
  EXPECT_THAT(r.err, StartsWith("signet: sign: INVALID_ARGUMENT: "));
  EXPECT_THAT(r.err, HasSubstr("digests[0]"));
  EXPECT_EQ(r.out, "");

  r = RunCli(harness_->dir(), Args({"--signer", "p384", "--hash-hex", "not hex"}));
  EXPECT_EQ(r.exit_code, 2) << r;
  EXPECT_THAT(r.err, HasSubstr("--hash-hex"));
}

TEST_F(SignCliTest, DeniedClientIsRefused) {
  const std::string input = WriteInput("denied.txt", "x");
  CliResult r = RunCli(harness_->dir(), Args({"--signer", "p256", "--input", input}, "denied"));
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_THAT(r.err, StartsWith("signet: sign: PERMISSION_DENIED: "));
  EXPECT_EQ(r.out, "");
}

TEST_F(SignCliTest, UnknownSignerIsNotFound) {
  const std::string input = WriteInput("unknown.txt", "x");
  CliResult r = RunCli(harness_->dir(), Args({"--signer", "no-such-signer", "--input", input}));
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_THAT(r.err, StartsWith("signet: sign: NOT_FOUND: "));
  EXPECT_THAT(r.err, HasSubstr("no-such-signer"));
}

TEST_F(SignCliTest, MissingKeyFileNamesTheFlag) {
  const std::string input = WriteInput("nokey.txt", "x");
  CliResult r = RunCli(harness_->dir(), {"sign", "--server", harness_->target(), "--ca-file", File("ca.pem"),
                                         "--cert-file", File("allowed.pem"), "--key-file", File("missing.key"),
                                         "--signer", "p256", "--input", input});
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_THAT(r.err, HasSubstr("--key-file"));
  EXPECT_THAT(r.err, HasSubstr("missing.key"));
  EXPECT_THAT(r.err, HasSubstr("No such file"));

  // Absent altogether, with no environment default: a usage error naming the flag and the variable.
  r = RunCli(harness_->dir(), {"sign", "--server", harness_->target(), "--ca-file", File("ca.pem"), "--cert-file",
                               File("allowed.pem"), "--signer", "p256", "--input", input});
  EXPECT_EQ(r.exit_code, 2) << r;
  EXPECT_THAT(r.err, HasSubstr("--key-file is required (or set SIGNET_KEY_FILE)"));

  // A key that is not the certificate's is caught before any connection.
  r = RunCli(harness_->dir(), {"sign", "--server", harness_->target(), "--ca-file", File("ca.pem"), "--cert-file",
                               File("allowed.pem"), "--key-file", File("denied.key"), "--signer", "p256", "--input",
                               input});
  EXPECT_EQ(r.exit_code, 2) << r;
  EXPECT_THAT(r.err, HasSubstr("client key does not match the client certificate"));
}

TEST_F(SignCliTest, WrongCaIsUnavailableWithAHint) {
  const std::string input = WriteInput("wrongca.txt", "x");
  std::vector<std::string> args = {"sign"};
  auto tls = Tls("allowed", "other-ca.pem");
  args.insert(args.end(), tls.begin(), tls.end());
  args.insert(args.end(), {"--signer", "p256", "--input", input, "--timeout", "5s"});
  CliResult r = RunCli(harness_->dir(), args);
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_THAT(r.err, StartsWith("signet: sign: UNAVAILABLE: "));
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "one line: gRPC's own log stays quiet without --verbose";
  EXPECT_THAT(r.err, HasSubstr("(is the server reachable and are --ca-file/--cert-file/--key-file right?)"));
}

TEST_F(SignCliTest, AuditLineCarriesTheRequestId) {
  const std::string data = "audited data";
  const std::string input = WriteInput("audit.txt", data);
  CliResult r = RunCli(harness_->dir(), Args({"--signer", "p256", "--input", input, "--request-id", "cli-audit-42"}));
  ASSERT_EQ(r.exit_code, 0) << r;
  int found = 0;
  for (const auto& a : harness_->audits()) {
    if (a.request_id != "cli-audit-42") continue;
    ++found;
    EXPECT_EQ(a.identity, testing::kAllowedIdentity);
    EXPECT_EQ(a.signer, "p256");
    EXPECT_EQ(a.result, "ok");
    EXPECT_EQ(a.input_sha256, Sha256Hex(data));
    EXPECT_EQ(a.key_id.size(), 32u);
  }
  EXPECT_EQ(found, 1);
}

TEST_F(SignCliTest, X5uOnlyRefusesASignerWithoutOne) {
  const std::string input = WriteInput("x5u.txt", "x");
  CliResult r = RunCli(harness_->dir(), Args({"--signer", "p256", "--input", input, "--x5u-only"}));
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_THAT(r.err, HasSubstr("--x5u-only"));
  EXPECT_EQ(r.out, "");
  r = RunCli(harness_->dir(), Args({"--signer", "p384", "--input", input, "--x5u-only"}));
  EXPECT_EQ(r.exit_code, 0) << r;
  EXPECT_THAT(r.out, StartsWith("x5u=https://x5u.signet.test/p384.pem;"));
}

TEST_F(SignCliTest, UsageErrorsNameTheFlag) {
  const std::string input = WriteInput("usage.txt", "x");
  struct Case {
    std::vector<std::string> extra;
    const char* want;
  } cases[] = {
      {{"--signer", "p256"}, "exactly one of --input"},
      {{"--signer", "p256", "--input", input, "--hash-hex", "00"}, "exactly one of --input"},
      {{"--input", input}, "--signer is required"},
      {{"--signer", "p256", "--input", input, "--output", "xml"}, "--output must be header, signature or json"},
      {{"--signer", "p256", "--input", input, "--timeout", "soon"}, "--timeout"},
      {{"--signer", "p256", "--input", input, "--timeout", "0s"}, "--timeout"},
      {{"--signer", "p256", "--input", input, "--bogus", "1"}, "unknown flag --bogus"},
      {{"--signer", "p256", "--input", input, "extra"}, "unexpected argument 'extra'"},
  };
  for (const auto& c : cases) {
    CliResult r = RunCli(harness_->dir(), Args(c.extra));
    EXPECT_EQ(r.exit_code, 2) << c.want << "\n" << r;
    EXPECT_THAT(r.err, HasSubstr(c.want)) << r;
  }
}

TEST_F(SignCliTest, InputOverTheBoundIsRefusedBeforeConnecting) {
  const std::string path = File("huge.bin");
  ::unlink(path.c_str());
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::ftruncate(fd, 64 * 1024 * 1024 + 1), 0);  // sparse: no real disk use
  ::close(fd);
  CliResult r = RunCli(harness_->dir(), Args({"--signer", "p256", "--input", path}));
  ::unlink(path.c_str());
  EXPECT_EQ(r.exit_code, 2) << r;
  EXPECT_THAT(r.err, HasSubstr("67108864-byte bound"));
}

TEST_F(SignCliTest, SignClientRoundTrip) {
  auto client = keymgmt::SignClient::Connect(ClientOptions(harness_->allowed()));
  ASSERT_TRUE(client.ok()) << client.status();
  auto info = (*client)->GetSigner("p521");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->curve(), "P-521");
  auto pub = signing::PublicKeyFromSpkiDer(Bytes(info->public_key()));
  ASSERT_TRUE(pub.ok()) << pub.status();

  auto result = (*client)->SignData("p521", "direct", "client-direct-1");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->key_id(), info->key_id());
  EXPECT_TRUE(signing::VerifyData(pub->get(), EcCurve::kP521, Bytes("direct"), result->signature()).ok());

  auto digest = signing::ContentSignatureDigest(EcCurve::kP521, Bytes("direct hash"));
  auto hashed = (*client)->SignHash("p521", digest);
  ASSERT_TRUE(hashed.ok()) << hashed.status();
  EXPECT_TRUE(signing::VerifyData(pub->get(), EcCurve::kP521, Bytes("direct hash"), hashed->signature()).ok());

  // A per-item error becomes the call's status, with the item's code.
  auto short_digest = (*client)->SignHash("p521", std::span<const uint8_t>(digest.data(), 32));
  EXPECT_EQ(short_digest.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(short_digest.status().message()), HasSubstr("digests[0]"));
  EXPECT_FALSE(keymgmt::IsConnectionFailure(short_digest.status()));

  EXPECT_EQ((*client)->GetSigner("nope").status().code(), absl::StatusCode::kNotFound);

  auto denied = keymgmt::SignClient::Connect(ClientOptions(harness_->denied()));
  ASSERT_TRUE(denied.ok()) << denied.status();
  EXPECT_EQ((*denied)->SignData("p256", "x").status().code(), absl::StatusCode::kPermissionDenied);
}

TEST_F(SignCliTest, SignClientConnectValidatesItsOptions) {
  auto options = ClientOptions(harness_->allowed());
  options.key_pem = harness_->denied().key_pem;
  EXPECT_EQ(keymgmt::SignClient::Connect(options).status().code(), absl::StatusCode::kInvalidArgument);
  options = ClientOptions(harness_->allowed());
  options.ca_pem = "not a pem";
  EXPECT_EQ(keymgmt::SignClient::Connect(options).status().code(), absl::StatusCode::kInvalidArgument);
  options = ClientOptions(harness_->allowed());
  options.server = "";
  EXPECT_EQ(keymgmt::SignClient::Connect(options).status().code(), absl::StatusCode::kInvalidArgument);

  // Nothing listens on the target: UNAVAILABLE, marked as a connection failure.
  options = ClientOptions(harness_->allowed());
  options.server = "127.0.0.1:1";
  options.timeout = absl::Seconds(5);
  auto client = keymgmt::SignClient::Connect(options);
  ASSERT_TRUE(client.ok()) << client.status();
  auto r = (*client)->SignData("p256", "x");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
  EXPECT_TRUE(keymgmt::IsConnectionFailure(r.status())) << r.status();
}

}  // namespace
}  // namespace signet
