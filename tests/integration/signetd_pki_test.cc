// signetd with a contentsignaturepki signer: real ceremonies on two SoftHSM tokens, the daemon in-process
// on loopback with mTLS, the x5u chains served by its own HTTPS side port and read back over TLS, and
// an injected clock that moves months ahead.
#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/str_join.h"
#include "common/files.h"
#include "daemon/mozlog.h"
#include "daemon/rotation_setup.h"
#include "daemon/server.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "keymgmt/dev_pki.h"
#include "keymgmt/rotation.h"
#include "pkcs11/certificate.h"
#include "signet/v1/signer.grpc.pb.h"
#include "signing/chain.h"
#include "tests/testing/test_pki.h"

namespace signet::testing {
namespace {

using ::testing::HasSubstr;
namespace v1 = ::signet::v1;

constexpr char kSigner[] = "remote-settings";
constexpr char kClient[] = "spiffe://signet.test/settings-writer";
const absl::Time kT0 = absl::FromUnixSeconds(1795000000);  // 2026-11-18

int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    return 0;
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

class PkiDaemonTest : public ::testing::Test {
 protected:
  void SetUp() override { now_.store(absl::ToUnixSeconds(kT0)); }
  void TearDown() override {
    if (server_) server_->Shutdown();
    server_.reset();
  }

  // Ceremonies, TLS files, publication directory and a config; `intermediate_validity` lets a test make
  // the intermediate run out before the end entities would.
  void Prepare(const std::string& mode, absl::Duration intermediate_validity = absl::Hours(24 * 365 * 2)) {
    auto pki = BringUpTestPki(kT0 - absl::Hours(24), absl::Hours(24 * 365 * 10), intermediate_validity);
    ASSERT_TRUE(pki.ok()) << pki.status();
    pki_ = std::make_unique<TestPki>(*std::move(pki));
    keymgmt::DevPkiOptions tls;
    tls.dir = pki_->dir + "/tls";
    tls.clients = {{"writer", kClient}};
    ASSERT_TRUE(keymgmt::CreateDevPki(tls).ok());
    publish_dir_ = pki_->dir + "/x5u";
    ASSERT_EQ(::mkdir(publish_dir_.c_str(), 0755), 0);
    const std::string pin = pki_->dir + "/online.pin";
    ASSERT_TRUE(WriteNewFile(pin, kTestUserPin, 0600).ok());
    http_port_ = FreePort();
    ASSERT_NE(http_port_, 0);

    daemon::Config& c = config_;
    c.server.listen = "127.0.0.1:0";
    c.server.http_listen = absl::StrCat("127.0.0.1:", http_port_);
    c.server.tls = {.cert_file = tls.dir + "/server.pem",
                    .key_file = tls.dir + "/server.key",
                    .client_ca_file = tls.dir + "/ca.pem"};
    c.server.x5u_dir = publish_dir_;
    c.server.drain_timeout = absl::Seconds(5);
    c.hsm.module = SIGNET_SOFTHSM_MODULE;
    c.hsm.token = kOnlineToken;
    c.hsm.pin_file = pin;
    c.batching.workers = 2;
    daemon::PkiSignerConfig p;
    p.curve = EcCurve::kP384;
    p.ee_name = kEeName;
    p.intermediate_key_label = kIntermediateLabel;
    p.intermediate_cert_file = pki_->intermediate_cert_file;
    p.root_cert_file = pki_->root_cert_file;
    p.root_sha256 = *signing::ParseSha256Fingerprint(pki_->root_sha256);
    p.validity = absl::Hours(24 * 60);
    p.rotate_before = absl::Hours(24 * 30);
    p.clock_skew = absl::Minutes(10);
    p.x5u_base_url = absl::StrCat("https://localhost:", http_port_, "/x5u/");
    p.publication_dir = publish_dir_;
    p.x5u_ca_file = tls.dir + "/ca.pem";
    c.signers = {{.id = kSigner, .type = "contentsignaturepki", .pki = p}};
    c.authorization = {{.identity = kClient, .signers = {kSigner}}};
    c.rotation.mode = mode;
    c.rotation.check_interval = absl::Hours(1);  // after the first pass, tests drive rotation themselves
    c.rotation.reload_interval = absl::Milliseconds(200);
    ca_pem_ = ReadTestFile(tls.dir + "/ca.pem");
    client_cert_ = ReadTestFile(tls.dir + "/client-writer.pem");
    client_key_ = ReadTestFile(tls.dir + "/client-writer.key");
  }

  // The side port was free when Prepare chose it, but another test (CTest runs them in parallel) may
  // have bound it since: then start again on another one, as ops/lib/signetd.sh does for the scripts.
  void StartDaemon() {
    absl::StatusOr<std::unique_ptr<daemon::SignetServer>> server;
    for (int attempt = 1; attempt <= 5; ++attempt) {
      daemon::ServerOptions options;
      options.now = [this] { return absl::FromUnixSeconds(now_.load()); };
      server = daemon::SignetServer::Start(config_, std::move(options));
      if (server.ok() || !absl::StrContains(server.status().message(), "Address already in use")) break;
      http_port_ = FreePort();
      ASSERT_NE(http_port_, 0);
      config_.server.http_listen = absl::StrCat("127.0.0.1:", http_port_);
      config_.signers[0].pki->x5u_base_url = absl::StrCat("https://localhost:", http_port_, "/x5u/");
    }
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }

  std::unique_ptr<v1::Signer::Stub> Stub() const {
    grpc::SslCredentialsOptions opts{
        .pem_root_certs = ca_pem_, .pem_private_key = client_key_, .pem_cert_chain = client_cert_};
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    return v1::Signer::NewStub(grpc::CreateCustomChannel(absl::StrCat("localhost:", server_->grpc_port()),
                                                         grpc::SslCredentials(opts), args));
  }

  absl::StatusOr<v1::SignResult> SignOne(v1::Signer::Stub& stub, const std::string& data) const {
    v1::SignRequest req;
    req.set_signer_id(kSigner);
    req.add_inputs(data);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::SignResponse resp;
    grpc::Status st = stub.Sign(&ctx, req, &resp);
    if (!st.ok()) return absl::Status(static_cast<absl::StatusCode>(st.error_code()), st.error_message());
    if (resp.items(0).has_error()) {
      return absl::Status(static_cast<absl::StatusCode>(resp.items(0).error().code()),
                          resp.items(0).error().message());
    }
    return resp.items(0).result();
  }

  // The key id GetSigner reports, or "" while the signer has none.
  std::string ServedKeyId() const {
    v1::GetSignerRequest req;
    req.set_signer_id(kSigner);
    grpc::ClientContext ctx;
    v1::SignerInfo info;
    return Stub()->GetSigner(&ctx, req, &info).ok() ? info.key_id() : "";
  }

  // Polls (real time) until the daemon serves a key other than `old`; returns it, or "" on timeout.
  std::string AwaitKeyOtherThan(const std::string& old, absl::Duration timeout = absl::Seconds(15)) const {
    const absl::Time until = absl::Now() + timeout;
    while (absl::Now() < until) {
      std::string id = ServedKeyId();
      if (!id.empty() && id != old) return id;
      absl::SleepFor(absl::Milliseconds(50));
    }
    return "";
  }

  // What a verifier does: fetch the chain at x5u (HTTPS, the dev CA) and verify against the pinned root.
  absl::Status VerifyLikeFirefox(const v1::SignResult& r, const std::string& data, absl::Time at) const {
    auto chain = keymgmt::NewHttpsFetcher({.ca_file = pki_->dir + "/tls/ca.pem"})->Fetch(r.x5u());
    if (!chain.ok()) return chain.status();
    return signing::VerifyContentSignatureWithChain(
        *chain, {.root_sha256 = config_.signers[0].pki->root_sha256, .ee_name = kEeName, .at = at},
        std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(data.data()), data.size()),
        r.content_signature());
  }

  // Read-write sessions on the online token, as another process (`signet rotate`) would open them.
  absl::StatusOr<std::shared_ptr<pkcs11::SessionPool>> WriterPool(size_t sessions) const {
    pkcs11::SessionPoolOptions o;
    o.max_sessions = sessions;
    o.read_write = true;
    return pkcs11::SessionPool::Create(pki_->online, o);
  }

  // An external writer (`signet rotate`, a cron job): its own read-write sessions on the same token.
  std::unique_ptr<keymgmt::Rotator> ExternalRotator() {
    auto pool = WriterPool(2);
    EXPECT_TRUE(pool.ok()) << pool.status();
    auto r = daemon::MakeRotator(config_.signers[0], *pool);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *std::move(r) : nullptr;
  }

  std::atomic<int64_t> now_{0};
  std::unique_ptr<TestPki> pki_;
  daemon::Config config_;
  std::unique_ptr<daemon::SignetServer> server_;
  std::string publish_dir_, ca_pem_, client_cert_, client_key_;
  int http_port_ = 0;
};

TEST_F(PkiDaemonTest, InternalRotationActivatesAKeyAndEverySignatureVerifiesThroughX5u) {
  Prepare("internal");
  StartDaemon();
  const std::string key_id = AwaitKeyOtherThan("");
  ASSERT_FALSE(key_id.empty()) << "no key activated; metrics:\n" << server_->RenderMetrics();
  auto stub = Stub();
  auto r = SignOne(*stub, "{\"data\":[1,2,3]}");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->key_id(), key_id);
  EXPECT_TRUE(
      absl::StartsWith(r->x5u(), absl::StrCat("https://localhost:", http_port_, "/x5u/remote-settings-")));
  EXPECT_TRUE(absl::StartsWith(r->content_signature(), absl::StrCat("x5u=", r->x5u(), ";p384ecdsa=")));
  EXPECT_TRUE(VerifyLikeFirefox(*r, "{\"data\":[1,2,3]}", kT0).ok())
      << VerifyLikeFirefox(*r, "{\"data\":[1,2,3]}", kT0);
  EXPECT_FALSE(VerifyLikeFirefox(*r, "{\"data\":[1,2,4]}", kT0).ok());

  const std::string metrics = server_->RenderMetrics();
  EXPECT_THAT(metrics, HasSubstr("signet_rotations_total{signer=\"remote-settings\",result=\"rotated\"} 1"));
  EXPECT_THAT(metrics,
              HasSubstr("signet_certificate_expiry_seconds{signer=\"remote-settings\",tier=\"ee\"} 5184600"));
  EXPECT_THAT(
      metrics,
      HasSubstr("signet_certificate_expiry_seconds{signer=\"remote-settings\",tier=\"intermediate\"}"));
  EXPECT_THAT(metrics,
              HasSubstr("signet_certificate_expiry_seconds{signer=\"remote-settings\",tier=\"root\"}"));
  auto hb = server_->Heartbeat();
  EXPECT_TRUE(hb.ok) << hb.json;
  EXPECT_THAT(hb.json, HasSubstr("\"status\":\"ok\""));
  EXPECT_THAT(hb.json, HasSubstr("\"warnings\":[]"));
}

TEST_F(PkiDaemonTest, PicksUpKeysRotatedByAnExternalWriterWithoutRestart) {
  Prepare("external");
  StartDaemon();
  // External mode: the daemon never rotates; until a writer activates a key, the signer is unavailable.
  auto stub = Stub();
  auto none = SignOne(*stub, "x");
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(none.status().message(), HasSubstr("has no active key"));

  auto rotator = ExternalRotator();
  ASSERT_NE(rotator, nullptr);
  auto first = rotator->RotateIfDue(kT0);
  ASSERT_TRUE(first.ok() && first->rotated) << first.status();
  const std::string k1 = AwaitKeyOtherThan("");
  EXPECT_EQ(k1, first->key_id_hex);
  auto r1 = SignOne(*stub, "before");
  ASSERT_TRUE(r1.ok()) << r1.status();

  // A month on, the writer rotates again; the daemon follows within its reload interval.
  now_.store(absl::ToUnixSeconds(kT0 + absl::Hours(24 * 31)));
  auto second = rotator->RotateIfDue(kT0 + absl::Hours(24 * 31));
  ASSERT_TRUE(second.ok() && second->rotated) << second.status();
  const std::string k2 = AwaitKeyOtherThan(k1);
  EXPECT_EQ(k2, second->key_id_hex);
  auto r2 = SignOne(*stub, "after");
  ASSERT_TRUE(r2.ok()) << r2.status();
  EXPECT_EQ(r2->key_id(), k2);
  EXPECT_NE(r2->x5u(), r1->x5u());
  EXPECT_TRUE(VerifyLikeFirefox(*r2, "after", kT0 + absl::Hours(24 * 31)).ok());
  // The earlier signature still verifies: its key and chain stay until its certificate expires.
  EXPECT_TRUE(VerifyLikeFirefox(*r1, "before", kT0 + absl::Hours(24 * 31)).ok());
  EXPECT_THAT(server_->RenderMetrics(),
              HasSubstr("signet_signer_key_changes_total{signer=\"remote-settings\"} 2"));
}

TEST_F(PkiDaemonTest, ConcurrentSigningDuringRotationHasZeroFailures) {
  Prepare("internal");
  StartDaemon();
  const std::string k1 = AwaitKeyOtherThan("");
  ASSERT_FALSE(k1.empty());
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0};
  std::mutex mu;
  std::vector<std::string> failures;
  std::map<std::string, std::vector<std::pair<std::string, v1::SignResult>>> by_key;
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t) {
    clients.emplace_back([&, t] {
      auto stub = Stub();
      for (int i = 0; !stop.load(); ++i) {
        const std::string data = absl::StrCat("client ", t, " item ", i);
        auto r = SignOne(*stub, data);
        std::lock_guard<std::mutex> lock(mu);
        if (!r.ok()) {
          failures.push_back(std::string(r.status().message()));
        } else {
          ++ok;
          auto& v = by_key[r->key_id()];
          if (v.size() < 3) v.emplace_back(data, *r);
        }
      }
    });
  }
  // Three forced rotations while the clients sign, each a few (simulated) seconds apart. A failed one is
  // recorded, not asserted on the spot: the clients must be stopped and joined before the test returns.
  std::vector<std::string> rotation_errors;
  for (int i = 1; i <= 3; ++i) {
    absl::SleepFor(absl::Milliseconds(300));
    now_.store(absl::ToUnixSeconds(kT0) + 10 * i);
    if (absl::Status s = server_->RotateDue(/*force=*/true); !s.ok()) {
      rotation_errors.push_back(absl::StrCat("rotation ", i, ": ", s.ToString()));
    }
  }
  absl::SleepFor(absl::Milliseconds(500));
  stop.store(true);
  for (auto& c : clients) c.join();
  EXPECT_THAT(rotation_errors, ::testing::IsEmpty());
  EXPECT_TRUE(failures.empty()) << failures.size() << " failures, first: "
                                << (failures.empty() ? "" : failures.front());
  EXPECT_GT(ok.load(), 20);
  EXPECT_EQ(by_key.size(), 4u) << "signatures should come from the first key and all three new keys";
  for (const auto& [key, samples] : by_key) {
    for (const auto& [data, r] : samples) {
      EXPECT_TRUE(VerifyLikeFirefox(r, data, kT0 + absl::Seconds(40)).ok()) << key;
    }
  }
}

// A newer certificate the replica cannot use (here: the current key's certificate again, under a later
// label and the CKA_ID of no key) is passed over: the current key keeps serving, and signetd says so
// once, at WARN, naming the label and why, instead of silently keeping the older key.
TEST_F(PkiDaemonTest, ANewerCertificateItCannotUseIsPassedOverAndLoggedOnce) {
  std::FILE* log = std::tmpfile();
  ASSERT_NE(log, nullptr);
  daemon::MozLog::Install("signetd-test", spdlog::level::info, true, log);
  // MozLog::Install must not race the daemon's logging threads: stop the daemon first, also when an
  // ASSERT ends the test early.
  struct Restore {
    std::unique_ptr<daemon::SignetServer>* server;
    std::FILE* f;
    ~Restore() {
      if (*server) (*server)->Shutdown();
      server->reset();
      daemon::MozLog::Install("signetd-test", spdlog::level::info, true, stderr);
      std::fclose(f);
    }
  } restore{&server_, log};
  auto passed_over_lines = [log] {
    std::fflush(log);
    std::rewind(log);
    std::string text, line;
    char buf[4096];
    for (size_t n; (n = std::fread(buf, 1, sizeof(buf), log)) > 0;) text.append(buf, n);
    std::fseek(log, 0, SEEK_END);
    std::vector<std::string> found;
    for (absl::string_view l : absl::StrSplit(text, '\n')) {
      if (absl::StrContains(l, "\"passed_over\"")) found.emplace_back(l);
    }
    return found;
  };

  Prepare("external");
  StartDaemon();
  auto rotator = ExternalRotator();
  ASSERT_NE(rotator, nullptr);
  auto first = rotator->RotateIfDue(kT0);
  ASSERT_TRUE(first.ok() && first->rotated) << first.status();
  const std::string k1 = AwaitKeyOtherThan("");
  ASSERT_EQ(k1, first->key_id_hex);

  auto pool = WriterPool(1);
  ASSERT_TRUE(pool.ok()) << pool.status();
  const std::string planted = keymgmt::EndEntityLabel(kSigner, kT0 + absl::Hours(1));  // sorts first
  absl::Status stored = (*pool)->Run([&](pkcs11::Session& s) -> absl::Status {
    auto certs = pkcs11::FindCertificates(s, std::nullopt);
    if (!certs.ok()) return certs.status();
    for (const auto& c : *certs) {
      if (c.label != first->label) continue;
      const std::vector<uint8_t> no_key = {0xde, 0xad, 0xbe, 0xef};
      return pkcs11::StoreCertificate(s, c.der, no_key, planted);
    }
    return absl::NotFoundError("the first key's certificate");
  });
  ASSERT_TRUE(stored.ok()) << stored;

  for (int i = 0; i < 3; ++i) ASSERT_TRUE(server_->RefreshSigners().ok());
  absl::SleepFor(absl::Milliseconds(500));  // the daemon's own refreshes (every 200 ms) too
  EXPECT_EQ(ServedKeyId(), k1);
  auto stub = Stub();
  auto r = SignOne(*stub, "still the first key");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->key_id(), k1);
  const auto lines = passed_over_lines();
  ASSERT_EQ(lines.size(), 1u) << absl::StrJoin(lines, "\n");
  EXPECT_THAT(lines[0], HasSubstr("\"Severity\":4"));
  EXPECT_THAT(lines[0], HasSubstr("\"Type\":\"signet.signers\""));
  EXPECT_THAT(lines[0], HasSubstr(absl::StrCat("\"key_id\":\"", k1, "\"")));
  EXPECT_THAT(lines[0], HasSubstr(absl::StrCat("'", planted, "': ")));
  // Not counted as a key change.
  EXPECT_THAT(server_->RenderMetrics(),
              HasSubstr("signet_signer_key_changes_total{signer=\"remote-settings\"} 1"));
}

TEST_F(PkiDaemonTest, ExpiryWarnsThenTheSignerStopsInsteadOfServingAnExpiredCertificate) {
  Prepare("external");
  StartDaemon();
  auto rotator = ExternalRotator();
  ASSERT_TRUE(rotator->RotateIfDue(kT0).ok());
  ASSERT_FALSE(AwaitKeyOtherThan("").empty());

  // Nobody rotates. Fifty days on, the EE certificate has ten days left: a warning, still serving.
  now_.store(absl::ToUnixSeconds(kT0 + absl::Hours(24 * 50)));
  auto hb = server_->Heartbeat();
  EXPECT_TRUE(hb.ok) << hb.json;
  EXPECT_THAT(hb.json, HasSubstr("\"status\":\"warning\""));
  EXPECT_THAT(hb.json, HasSubstr("the end-entity certificate expires"));
  auto stub = Stub();
  EXPECT_TRUE(SignOne(*stub, "still fine").ok());

  // Sixty-one days on it has expired: the signer refuses rather than hand out unverifiable signatures.
  now_.store(absl::ToUnixSeconds(kT0 + absl::Hours(24 * 61)));
  ASSERT_TRUE(server_->RefreshSigners().ok());
  auto late = SignOne(*stub, "too late");
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(late.status().message(), HasSubstr("no end-entity certificate on the token is valid now"));
  hb = server_->Heartbeat();
  EXPECT_FALSE(hb.ok);
  EXPECT_THAT(hb.json, HasSubstr("\"remote-settings\":{\"key_present\":false,\"error\":"));
}

TEST_F(PkiDaemonTest, AFailedRotationKeepsTheCurrentKeyServingAndIsCounted) {
  // An intermediate that runs out in 80 days: the second rotation (day 31, for 60 days) cannot be issued.
  Prepare("internal", absl::Hours(24 * 80));
  StartDaemon();
  const std::string k1 = AwaitKeyOtherThan("");
  ASSERT_FALSE(k1.empty());
  now_.store(absl::ToUnixSeconds(kT0 + absl::Hours(24 * 31)));
  absl::Status s = server_->RotateDue();
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("step 'issue' failed: the intermediate certificate expires"));
  EXPECT_EQ(ServedKeyId(), k1);
  auto stub = Stub();
  auto r = SignOne(*stub, "still served");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->key_id(), k1);
  EXPECT_THAT(server_->RenderMetrics(),
              HasSubstr("signet_rotations_total{signer=\"remote-settings\",result=\"failed\"} 1"));
}

TEST_F(PkiDaemonTest, AMismatchedRootPinFailsStartUp) {
  Prepare("internal");
  config_.signers[0].pki->root_sha256[5] ^= 0x40;
  auto server = daemon::SignetServer::Start(config_);
  ASSERT_FALSE(server.ok());
  EXPECT_THAT(server.status().message(), HasSubstr("not root_sha256"));
}

}  // namespace
}  // namespace signet::testing
