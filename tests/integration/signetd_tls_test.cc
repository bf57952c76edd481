// signetd's TLS, tested with real handshakes on loopback sockets.
//
// TlsProfileTest: the signetd binary (as deployed: its main sets the profile), with an ECDSA and with
// an RSA server certificate, on both its gRPC port and its HTTPS side port. A client at OpenSSL
// security level 0 offers one old protocol version or one weak cipher suite at a time; signetd must
// refuse it, and a permissive OpenSSL server with the same certificate must accept the very same
// client (the control: so the refusal is signetd's, not the client's inability to offer it). The
// profile's own suites are accepted on TLS 1.2 and 1.3.
//
// SignetdCrlTest: server.tls.crl_file in the in-process daemon: a revoked client certificate fails the
// handshake (gRPC calls are UNAVAILABLE and never reach a handler), other clients are served, a
// reload revokes without a restart, and bad files fail start-up naming the field.
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <fstream>
#include <optional>
#include <regex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "daemon/tls.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "keymgmt/dev_pki.h"
#include "keymgmt/x509_builder.h"
#include "tests/testing/daemon_harness.h"
#include "tests/testing/signetd_process.h"
#include "tests/testing/test_crl.h"
#include "tests/testing/test_evidence.h"
#include "tests/testing/tls_probe.h"

namespace signet {
namespace {

using ::signet::testing::CrlSpec;
using ::signet::testing::DaemonHarness;
using ::signet::testing::MakeCrl;
using ::signet::testing::PermissiveTlsServer;
using ::signet::testing::ProbeTls;
using ::signet::testing::TlsClientSpec;
using ::signet::testing::TlsProbeResult;
using ::testing::HasSubstr;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void WriteAll(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

// ---------------------------------------------------------------------------------------------------
// The TLS profile

enum class ServerKey { kEcdsaP256, kRsa2048 };

// An RSA-2048 server certificate for localhost from the harness CA (the dev PKI makes P-256 only).
keymgmt::KeyAndCert RsaServerCert(const keymgmt::KeyAndCert& ca) {
  EvpPkeyPtr key(EVP_RSA_gen(2048));
  keymgmt::CheckOpenSsl(key != nullptr, "EVP_RSA_gen");
  auto validity = keymgmt::ValidateValidity(absl::Now() - absl::Hours(1), absl::Now() + absl::Hours(24));
  keymgmt::CheckOpenSsl(validity.ok(), "validity");
  X509NamePtr name(X509_NAME_new());
  X509_NAME_add_entry_by_NID(name.get(), NID_commonName, MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
  X509Ptr cert = keymgmt::NewCertificate(name.get(), key.get(), *validity);
  X509_set_issuer_name(cert.get(), X509_get_subject_name(ca.cert.get()));
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, ca.cert.get(), cert.get(), nullptr, nullptr, 0);
  keymgmt::AddConfExtension(cert.get(), &ctx, NID_basic_constraints, "critical,CA:FALSE");
  keymgmt::AddConfExtension(cert.get(), &ctx, NID_key_usage, "critical,digitalSignature,keyEncipherment");
  keymgmt::AddConfExtension(cert.get(), &ctx, NID_ext_key_usage, "serverAuth");
  keymgmt::AddConfExtension(cert.get(), &ctx, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1");
  keymgmt::CheckOpenSsl(keymgmt::SignCertificate(cert.get(), ca.key.get(), EVP_sha256()).ok(), "sign");
  return {std::move(key), std::move(cert)};
}

struct Port {
  std::string name;
  int port = 0;
  TlsClientSpec base;  // what a legitimate client of this port sends
};

class TlsProfileTest : public ::testing::TestWithParam<ServerKey> {
 protected:
  void SetUp() override {
    auto h = DaemonHarness::Prepare([](daemon::Config& c) {
      c.server.http_listen = "127.0.0.1:0";
      c.batching.workers = 1;
    });
    ASSERT_TRUE(h.ok()) << h.status();
    harness_ = *std::move(h);
    const daemon::TlsConfig& tls = harness_->config().server.tls;
    if (GetParam() == ServerKey::kRsa2048) {
      keymgmt::KeyAndCert rsa = RsaServerCert(harness_->ca());
      testing::RegisterPrivateKey("TlsProfileTest RSA server key", rsa.key.get());
      auto key_pem = keymgmt::PrivateKeyPem(rsa.key.get());
      ASSERT_TRUE(key_pem.ok());
      WriteAll(tls.cert_file, keymgmt::CertPem(rsa.cert.get()));
      WriteAll(tls.key_file, *key_pem);
    }
    // A hostile environment: signetd must set its own cipher list, not inherit this one (which would
    // let every weak TLS 1.2 suite below through). This test process builds no gRPC credentials.
    ::setenv("GRPC_SSL_CIPHER_SUITES", "ALL:eNULL:@SECLEVEL=0", 1);
    auto daemon = testing::SignetdProcess::Start(SIGNETD_BINARY, *harness_);
    ASSERT_TRUE(daemon.ok()) << daemon.status();
    daemon_ = *std::move(daemon);
    auto control = PermissiveTlsServer::Start(ReadAll(tls.cert_file), ReadAll(tls.key_file));
    ASSERT_TRUE(control.ok()) << control.status();
    control_ = *std::move(control);

    TlsClientSpec grpc_client;
    grpc_client.cert_pem = harness_->allowed().cert_pem;
    grpc_client.key_pem = harness_->allowed().key_pem;
    grpc_client.alpn = "h2";
    grpc_client.request = testing::Http2Preface();
    TlsClientSpec side_client;
    side_client.request = testing::HttpGet("/__lbheartbeat__");
    ports_ = {{"gRPC port", daemon_->grpc_port(), grpc_client}, {"side port", daemon_->http_port(), side_client}};
    ASSERT_GT(daemon_->http_port(), 0) << "the side port is not serving";
  }

  TlsClientSpec Spec(const Port& p, int version, const std::string& ciphers, const std::string& suites) const {
    TlsClientSpec s = p.base;
    s.min_version = version;
    s.max_version = version;
    s.cipher_list = ciphers;
    s.ciphersuites = suites;
    s.name = absl::StrCat(p.name, " ", VersionName(version), " ", ciphers, suites);
    return s;
  }
  static const char* VersionName(int v) {
    switch (v) {
      case TLS1_VERSION: return "TLSv1";
      case TLS1_1_VERSION: return "TLSv1.1";
      case TLS1_2_VERSION: return "TLSv1.2";
      case TLS1_3_VERSION: return "TLSv1.3";
      default: return "?";
    }
  }

  enum class Why { kVersion, kCipher };
  // How many handshakes signetd's log says gRPC refused for `why` (the gRPC port does not flush its
  // alert, so the client sees only the connection close; the side port's alert names the reason).
  size_t GrpcRefusals(Why why) const {
    const std::string log = daemon_->Log();
    const std::string reason = why == Why::kVersion ? "SSL routines::unsupported protocol" : "SSL routines::no shared cipher";
    size_t n = 0;
    for (size_t at = log.find(reason); at != std::string::npos; at = log.find(reason, at + 1)) ++n;
    return n;
  }

  // signetd refuses `spec` for `why`, and the permissive control accepts it with exactly that version.
  void ExpectRefused(const Port& port, const TlsClientSpec& spec, const std::string& want_version, Why why) {
    const TlsProbeResult control = ProbeTls(control_->port(), spec);
    ASSERT_TRUE(control.accepted()) << spec.name << ": the client could not use this against a permissive server, "
                                    << "so refusing it would prove nothing: " << control;
    ASSERT_EQ(control.version, want_version) << spec.name;
    const bool grpc = &port == &ports_[0];
    const size_t before = grpc ? GrpcRefusals(why) : 0;
    const TlsProbeResult r = ProbeTls(port.port, spec);
    ASSERT_TRUE(r.client_ready) << spec.name << ": " << r;
    EXPECT_FALSE(r.handshake) << spec.name << ": signetd completed a handshake it must refuse: " << r;
    EXPECT_FALSE(r.accepted()) << spec.name << ": " << r;
    if (grpc) {
      bool logged = false;
      for (int i = 0; i < 100 && !logged; ++i) {
        logged = GrpcRefusals(why) > before;
        if (!logged) std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      EXPECT_TRUE(logged) << spec.name << ": signetd's log does not give the expected reason for the refusal:\n"
                          << daemon_->Log();
    } else {
      EXPECT_THAT(r.error, HasSubstr(why == Why::kVersion ? "alert protocol version" : "alert handshake failure"))
          << spec.name;
    }
    std::cout << spec.name << ": refused (" << r.error << "); the control negotiated " << control.version << " "
              << control.cipher << "\n";
  }

  std::unique_ptr<DaemonHarness> harness_;
  std::unique_ptr<testing::SignetdProcess> daemon_;
  std::unique_ptr<PermissiveTlsServer> control_;
  std::vector<Port> ports_;
};

TEST_P(TlsProfileTest, Tls10AndTls11AreRefused) {
  for (const Port& p : ports_) {
    ExpectRefused(p, Spec(p, TLS1_VERSION, "", ""), "TLSv1", Why::kVersion);
    ExpectRefused(p, Spec(p, TLS1_1_VERSION, "", ""), "TLSv1.1", Why::kVersion);
  }
}

TEST_P(TlsProfileTest, WeakTls12SuitesAreRefused) {
  // Each the server's key could negotiate: CBC (SHA-1 and SHA-2 MACs), no encryption, CCM_8, ARIA and
  // Camellia outside the profile, anonymous ECDH; with RSA also RSA key exchange (no forward secrecy,
  // even with GCM) and finite-field DHE. 3DES and RC4 are gone from this OpenSSL build (the control
  // proves what the client can still offer).
  std::vector<std::string> weak = {"AECDH-AES128-SHA"};
  if (GetParam() == ServerKey::kEcdsaP256) {
    weak.insert(weak.end(), {"ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA384", "ECDHE-ECDSA-NULL-SHA",
                             "ECDHE-ECDSA-AES128-CCM8", "ECDHE-ECDSA-ARIA128-GCM-SHA256",
                             "ECDHE-ECDSA-CAMELLIA128-SHA256"});
  } else {
    weak.insert(weak.end(), {"AES128-SHA", "AES256-GCM-SHA384", "ECDHE-RSA-AES128-SHA", "ECDHE-RSA-AES256-SHA384",
                             "ECDHE-RSA-NULL-SHA", "NULL-SHA256", "CAMELLIA128-SHA", "DHE-RSA-AES128-GCM-SHA256"});
  }
  for (const Port& p : ports_) {
    for (const std::string& cipher : weak) {
      ExpectRefused(p, Spec(p, TLS1_2_VERSION, cipher, ""), "TLSv1.2", Why::kCipher);
    }
  }
}

TEST_P(TlsProfileTest, Tls13CcmSuitesAreRefused) {
  for (const Port& p : ports_) {
    for (const char* suite : {"TLS_AES_128_CCM_SHA256", "TLS_AES_128_CCM_8_SHA256"}) {
      ExpectRefused(p, Spec(p, TLS1_3_VERSION, "", suite), "TLSv1.3", Why::kCipher);
    }
  }
}

TEST_P(TlsProfileTest, TheProfileSuitesAreAccepted) {
  const bool ec = GetParam() == ServerKey::kEcdsaP256;
  const std::vector<std::string> tls12 =
      ec ? std::vector<std::string>{"ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
                                    "ECDHE-ECDSA-CHACHA20-POLY1305"}
         : std::vector<std::string>{"ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384",
                                    "ECDHE-RSA-CHACHA20-POLY1305"};
  for (const Port& p : ports_) {
    for (const std::string& cipher : tls12) {
      const TlsProbeResult r = ProbeTls(p.port, Spec(p, TLS1_2_VERSION, cipher, ""));
      EXPECT_TRUE(r.accepted()) << p.name << " " << cipher << ": " << r;
      EXPECT_EQ(r.version, "TLSv1.2");
      EXPECT_EQ(r.cipher, cipher);
    }
    for (const std::string suite : {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"}) {
      const TlsProbeResult r = ProbeTls(p.port, Spec(p, TLS1_3_VERSION, "", suite));
      EXPECT_TRUE(r.accepted()) << p.name << " " << suite << ": " << r;
      EXPECT_EQ(r.version, "TLSv1.3");
      EXPECT_EQ(r.cipher, suite);
    }
    // A client that offers everything, old and weak included, gets TLS 1.3.
    TlsClientSpec any = p.base;
    any.cipher_list = "ALL:eNULL";
    any.min_version = TLS1_VERSION;
    const TlsProbeResult r = ProbeTls(p.port, any);
    EXPECT_TRUE(r.accepted()) << p.name << ": " << r;
    EXPECT_EQ(r.version, "TLSv1.3") << p.name;
  }
}

TEST_P(TlsProfileTest, TheGrpcPortStillRequiresAClientCertificate) {
  // The positive controls above present the harness's client certificate; without one the same
  // profile-conforming handshake must not get an answer.
  const Port& grpc = ports_[0];
  TlsClientSpec spec = Spec(grpc, TLS1_2_VERSION, GetParam() == ServerKey::kEcdsaP256 ? "ECDHE-ECDSA-AES128-GCM-SHA256"
                                                                                      : "ECDHE-RSA-AES128-GCM-SHA256", "");
  spec.cert_pem.clear();
  spec.key_pem.clear();
  EXPECT_FALSE(ProbeTls(grpc.port, spec).accepted());
  spec = Spec(grpc, TLS1_3_VERSION, "", "TLS_AES_128_GCM_SHA256");
  spec.cert_pem.clear();
  spec.key_pem.clear();
  EXPECT_FALSE(ProbeTls(grpc.port, spec).accepted());
}

INSTANTIATE_TEST_SUITE_P(ServerKeys, TlsProfileTest, ::testing::Values(ServerKey::kEcdsaP256, ServerKey::kRsa2048),
                         [](const ::testing::TestParamInfo<ServerKey>& i) {
                           return i.param == ServerKey::kEcdsaP256 ? "EcdsaP256" : "Rsa2048";
                         });

// ---------------------------------------------------------------------------------------------------
// Client certificate revocation

// A Sign call on a fresh channel (so a fresh TLS handshake) with `client`.
grpc::Status SignWith(const DaemonHarness& h, const testing::ClientCert& client) {
  auto stub = h.Stub(client);
  v1::SignRequest req;
  req.set_signer_id("p256");
  req.add_inputs("revocation test");
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  v1::SignResponse resp;
  return stub->Sign(&ctx, req, &resp);
}

TlsClientSpec RawClient(const testing::ClientCert& client, int version) {
  TlsClientSpec s;
  s.name = absl::StrCat("raw ", version == TLS1_3_VERSION ? "TLS 1.3" : "TLS 1.2");
  s.min_version = version;
  s.max_version = version;
  s.cert_pem = client.cert_pem;
  s.key_pem = client.key_pem;
  s.alpn = "h2";
  s.request = testing::Http2Preface();
  return s;
}

// signet_client_crl_expiry_seconds' sample in a /metrics exposition; nullopt when there is none.
std::optional<double> CrlExpirySeconds(const std::string& exposition) {
  std::smatch m;
  if (!std::regex_search(exposition, m, std::regex("\nsignet_client_crl_expiry_seconds (-?[0-9.e+]+)\n"))) {
    return std::nullopt;
  }
  return std::stod(m[1].str());
}

class SignetdCrlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto h = DaemonHarness::Prepare();
    ASSERT_TRUE(h.ok()) << h.status();
    harness_ = *std::move(h);
    crl_path_ = harness_->dir() + "/clients.crl";
    harness_->mutable_config().server.tls.crl_file = crl_path_;
  }
  CrlSpec Revoking(std::vector<const testing::ClientCert*> clients, absl::Duration age) {
    CrlSpec spec;
    spec.issuer = harness_->ca().cert.get();
    spec.signing_key = harness_->ca().key.get();
    for (const auto* c : clients) {
      revoked_certs_.push_back(Parse(c->cert_pem));
      spec.revoked.push_back(revoked_certs_.back().get());
    }
    spec.this_update = absl::Now() - age;
    return spec;
  }
  static X509Ptr Parse(const std::string& pem) {
    BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    return X509Ptr(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  }
  std::unique_ptr<DaemonHarness> harness_;
  std::string crl_path_;
  std::vector<X509Ptr> revoked_certs_;
};

TEST_F(SignetdCrlTest, ARevokedClientIsRefusedInTheHandshakeAndOthersAreServed) {
  WriteAll(crl_path_, MakeCrl(Revoking({&harness_->revoked()}, absl::Minutes(5))));
  ASSERT_TRUE(harness_->StartServer().ok());
  const uint64_t handled = harness_->server().handled_calls();

  const grpc::Status revoked = SignWith(*harness_, harness_->revoked());
  EXPECT_EQ(revoked.error_code(), grpc::StatusCode::UNAVAILABLE) << revoked.error_message();
  EXPECT_EQ(harness_->server().handled_calls(), handled) << "a revoked client reached a handler";
  EXPECT_TRUE(harness_->audits().empty());
  const grpc::Status allowed = SignWith(*harness_, harness_->allowed());
  EXPECT_TRUE(allowed.ok()) << allowed.error_message();

  // The same, seen from a raw TLS client: the server's verification fails on the CRL.
  const int port = harness_->server().grpc_port();
  for (int version : {TLS1_2_VERSION, TLS1_3_VERSION}) {
    const TlsProbeResult bad = ProbeTls(port, RawClient(harness_->revoked(), version));
    EXPECT_FALSE(bad.accepted()) << bad;
    if (version == TLS1_2_VERSION) {
      EXPECT_FALSE(bad.handshake) << "TLS 1.2: the server verifies before its Finished";
    }
    const TlsProbeResult good = ProbeTls(port, RawClient(harness_->allowed(), version));
    EXPECT_TRUE(good.accepted()) << good;
  }
}

TEST_F(SignetdCrlTest, WithoutTheCrlTheSameCertificateIsServed) {
  // The control for the test above: the "revoked" certificate is a good one until a CRL says otherwise.
  harness_->mutable_config().server.tls.crl_file.reset();
  ASSERT_TRUE(harness_->StartServer().ok());
  const grpc::Status s = SignWith(*harness_, harness_->revoked());
  EXPECT_TRUE(s.ok()) << s.error_message();
  // No CRL, no countdown (the family's HELP and TYPE lines only).
  EXPECT_EQ(CrlExpirySeconds(harness_->server().RenderMetrics()), std::nullopt);
}

TEST_F(SignetdCrlTest, MetricsCountDownToTheCrlsNextUpdateAndFollowAReload) {
  CrlSpec first = Revoking({}, absl::Minutes(10));
  first.next_update = absl::Now() + absl::Hours(20);
  WriteAll(crl_path_, MakeCrl(first));
  ASSERT_TRUE(harness_->StartServer().ok());
  auto left = CrlExpirySeconds(harness_->server().RenderMetrics());
  ASSERT_TRUE(left.has_value()) << harness_->server().RenderMetrics();
  EXPECT_NEAR(*left, 20 * 3600, 60);

  CrlSpec second = Revoking({}, absl::Minutes(1));
  second.next_update = absl::Now() + absl::Hours(72);
  WriteAll(crl_path_, MakeCrl(second));
  ASSERT_TRUE(harness_->server().ReloadCrl().ok());
  left = CrlExpirySeconds(harness_->server().RenderMetrics());
  ASSERT_TRUE(left.has_value());
  EXPECT_NEAR(*left, 72 * 3600, 60);
}

TEST_F(SignetdCrlTest, AReloadRevokesWithoutARestartAndABadFileChangesNothing) {
  WriteAll(crl_path_, MakeCrl(Revoking({}, absl::Minutes(10))));
  ASSERT_TRUE(harness_->StartServer().ok());
  ASSERT_TRUE(SignWith(*harness_, harness_->allowed()).ok());

  WriteAll(crl_path_, MakeCrl(Revoking({&harness_->allowed()}, absl::Minutes(1))));
  auto reloaded = harness_->server().ReloadCrl();
  ASSERT_TRUE(reloaded.ok()) << reloaded.status();
  EXPECT_THAT(*reloaded, HasSubstr("1 revoked"));
  EXPECT_EQ(SignWith(*harness_, harness_->allowed()).error_code(), grpc::StatusCode::UNAVAILABLE);
  // Another client of the same CA still completes the handshake (and is refused by authorization).
  EXPECT_EQ(SignWith(*harness_, harness_->denied()).error_code(), grpc::StatusCode::PERMISSION_DENIED);

  WriteAll(crl_path_, "not a CRL");
  auto bad = harness_->server().ReloadCrl();
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("server.tls.crl_file"));
  EXPECT_EQ(SignWith(*harness_, harness_->allowed()).error_code(), grpc::StatusCode::UNAVAILABLE)
      << "a bad file on reload lifted the revocation";
  EXPECT_EQ(SignWith(*harness_, harness_->denied()).error_code(), grpc::StatusCode::PERMISSION_DENIED);
}

TEST_F(SignetdCrlTest, BadCrlFilesFailStartUpNamingTheField) {
  CrlSpec other;
  other.issuer = harness_->other_ca().cert.get();
  other.signing_key = harness_->other_ca().key.get();
  CrlSpec forged = Revoking({}, absl::Minutes(1));
  forged.signing_key = harness_->other_ca().key.get();
  CrlSpec expired = Revoking({}, absl::Hours(48));
  expired.next_update = absl::Now() - absl::Hours(1);
  struct Case {
    const char* name;
    std::optional<std::string> bytes;  // nullopt: no file
    const char* want;
  } cases[] = {
      {"missing", std::nullopt, "No such file"},
      {"garbage", std::string("garbage\n"), "neither PEM nor a DER X.509 CRL"},
      {"another CA's", MakeCrl(other), "is issued by 'CN=Some Other CA', which is not a certificate in"},
      {"forged", MakeCrl(forged), "is not signed by that CA's key"},
      {"expired", MakeCrl(expired), "expired at"},
  };
  for (const Case& c : cases) {
    std::remove(crl_path_.c_str());
    if (c.bytes) WriteAll(crl_path_, *c.bytes);
    const absl::Status s = harness_->StartServer();
    ASSERT_FALSE(s.ok()) << c.name;
    EXPECT_THAT(std::string(s.message()), HasSubstr("server.tls.crl_file: " + crl_path_)) << c.name;
    EXPECT_THAT(std::string(s.message()), HasSubstr(c.want)) << c.name;
  }
  // The control: the same harness starts with a good CRL.
  WriteAll(crl_path_, MakeCrl(Revoking({}, absl::Minutes(1))));
  EXPECT_TRUE(harness_->StartServer().ok());
}

}  // namespace
}  // namespace signet
