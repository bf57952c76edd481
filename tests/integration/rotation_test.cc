// End-entity rotation against real SoftHSM tokens set up by real ceremonies, publishing into a
// directory that a real HTTPS server (signetd's side port) serves, read back over TLS. Time is injected.
#include "keymgmt/rotation.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/hex.h"
#include "daemon/http_side.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "keymgmt/dev_pki.h"
#include "keymgmt/hsm_signer.h"
#include "pkcs11/key.h"
#include "signing/chain.h"
#include "signing/signer.h"
#include "tests/testing/test_pki.h"

namespace signet::testing {
namespace {

using keymgmt::RotationPolicy;
using keymgmt::Rotator;
using ::testing::HasSubstr;

const absl::Time kT0 = absl::FromUnixSeconds(1795000000);  // 2026-11-18

// Publishes into the directory, but what lands there is not what it was given.
class TamperingPublisher : public keymgmt::ChainPublisher {
 public:
  explicit TamperingPublisher(std::unique_ptr<keymgmt::ChainPublisher> inner) : inner_(std::move(inner)) {}
  absl::Status Publish(const std::string& name, std::string_view contents) override {
    std::string tampered(contents);
    // Flip one base64 character inside the end entity's signature (the end of the first PEM block).
    const size_t end = tampered.find("-----END CERTIFICATE-----");
    for (size_t i = end - 40; i < end; ++i) {
      if (tampered[i] >= 'A' && tampered[i] <= 'Y') {
        ++tampered[i];
        break;
      }
    }
    return inner_->Publish(name, tampered);
  }
  std::string Describe() const override { return "tampering " + inner_->Describe(); }

 private:
  std::unique_ptr<keymgmt::ChainPublisher> inner_;
};

class RotationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto pki = BringUpTestPki(kT0 - absl::Hours(24));
    ASSERT_TRUE(pki.ok()) << pki.status();
    pki_ = std::make_unique<TestPki>(*std::move(pki));
    publish_dir_ = pki_->dir + "/x5u";
    ASSERT_EQ(::mkdir(publish_dir_.c_str(), 0755), 0);
    keymgmt::DevPkiOptions tls;
    tls.dir = pki_->dir + "/tls";
    ASSERT_TRUE(keymgmt::CreateDevPki(tls).ok());
    daemon::TlsConfig t{.cert_file = tls.dir + "/server.pem",
                        .key_file = tls.dir + "/server.key",
                        .client_ca_file = tls.dir + "/ca.pem"};
    ca_file_ = tls.dir + "/ca.pem";
    daemon::SidePortHandlers handlers;
    handlers.heartbeat = [] { return daemon::HeartbeatReport{true, "{}"}; };
    handlers.metrics = [] { return std::string(); };
    handlers.x5u_dir = publish_dir_;
    auto http = daemon::HttpSidePort::Start("127.0.0.1:0", t, handlers);
    ASSERT_TRUE(http.ok()) << http.status();
    http_ = *std::move(http);
    pkcs11::SessionPoolOptions popts;
    popts.max_sessions = 2;
    popts.read_write = true;
    auto pool = pkcs11::SessionPool::Create(pki_->online, popts);
    ASSERT_TRUE(pool.ok()) << pool.status();
    pool_ = *std::move(pool);
  }

  RotationPolicy Policy() const {
    RotationPolicy p;
    p.signer_id = "remote-settings";
    p.curve = EcCurve::kP384;
    p.ee_name = kEeName;
    p.validity = absl::Hours(24 * 60);
    p.rotate_before = absl::Hours(24 * 30);
    p.clock_skew = absl::Minutes(10);
    p.x5u_base_url = absl::StrCat("https://localhost:", http_->port(), "/x5u/");
    p.root_sha256 = *signing::ParseSha256Fingerprint(pki_->root_sha256);
    p.intermediate_key_label = kIntermediateLabel;
    p.intermediate_cert_pem = ReadTestFile(pki_->intermediate_cert_file);
    p.root_cert_pem = ReadTestFile(pki_->root_cert_file);
    p.lock_file = publish_dir_ + "/.rotate.lock";
    return p;
  }

  absl::StatusOr<std::unique_ptr<Rotator>> MakeRotator(
      RotationPolicy policy,
      std::function<std::unique_ptr<keymgmt::ChainPublisher>(std::unique_ptr<keymgmt::ChainPublisher>)> wrap =
          nullptr) {
    auto publisher = keymgmt::DirectoryPublisher::Create(publish_dir_);
    if (!publisher.ok()) return publisher.status();
    std::unique_ptr<keymgmt::ChainPublisher> pub = *std::move(publisher);
    if (wrap) pub = wrap(std::move(pub));
    return Rotator::Create(std::move(policy), pool_, std::move(pub),
                           keymgmt::NewHttpsFetcher({.ca_file = ca_file_, .timeout = absl::Seconds(5)}));
  }

  std::vector<keymgmt::EndEntity> EndEntities() {
    auto s = pki_->online->OpenSession(false);
    auto ees = keymgmt::ListEndEntities(*s, "remote-settings");
    EXPECT_TRUE(ees.ok()) << ees.status();
    return ees.ok() ? *std::move(ees) : std::vector<keymgmt::EndEntity>{};
  }
  size_t SignerKeys() {
    auto s = pki_->online->OpenSession(false);
    auto keys = pkcs11::ListEcKeys(*s);
    size_t n = 0;
    for (const auto& k : *keys) n += absl::StartsWith(k.label, "remote-settings/") ? 1 : 0;
    return n;
  }
  absl::StatusOr<keymgmt::EndEntity> Active(absl::Time at) {
    auto s = pki_->online->OpenSession(false);
    return keymgmt::FindActiveEndEntity(*s, "remote-settings", at);
  }

  std::unique_ptr<TestPki> pki_;
  std::string publish_dir_;
  std::string ca_file_;
  std::unique_ptr<daemon::HttpSidePort> http_;
  std::shared_ptr<pkcs11::SessionPool> pool_;
};

TEST_F(RotationTest, FirstRotationPublishesVerifiesAndActivates) {
  auto rotator = MakeRotator(Policy());
  ASSERT_TRUE(rotator.ok()) << rotator.status();
  ASSERT_FALSE(Active(kT0).ok());
  auto out = (*rotator)->RotateIfDue(kT0);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_TRUE(out->rotated);
  EXPECT_EQ(out->reason, "no certificate is active");
  EXPECT_EQ(out->label, "remote-settings/20261118T110640Z");
  auto active = Active(kT0);
  ASSERT_TRUE(active.ok()) << active.status();
  EXPECT_EQ(active->label, out->label);
  EXPECT_EQ(HexEncode(active->id), out->key_id_hex);
  EXPECT_EQ(active->not_before, kT0 - absl::Minutes(10));
  EXPECT_EQ(active->not_after, kT0 + absl::Hours(24 * 60) + absl::Minutes(10));

  // The chain file: named by its content, EE + intermediate + root, served at the x5u URL.
  const std::string name = out->x5u.substr(out->x5u.rfind('/') + 1);
  const std::string chain = ReadTestFile(publish_dir_ + "/" + name);
  EXPECT_EQ(name, keymgmt::ChainFileName("remote-settings", chain));
  EXPECT_TRUE(
      absl::StartsWith(out->x5u, absl::StrCat("https://localhost:", http_->port(), "/x5u/remote-settings-")));
  auto fetched = keymgmt::NewHttpsFetcher({.ca_file = ca_file_})->Fetch(out->x5u);
  ASSERT_TRUE(fetched.ok()) << fetched.status();
  EXPECT_EQ(*fetched, chain);

  // The new key is in the HSM, not extractable, and what it signs verifies against the pinned root.
  auto session = pki_->online->OpenSession(false);
  auto protection = pkcs11::GetPrivateKeyProtection(*session, active->id);
  ASSERT_TRUE(protection.ok());
  EXPECT_TRUE(protection->sensitive);
  EXPECT_FALSE(protection->extractable);
  auto key = pkcs11::HsmKey::Load(pool_, pkcs11::KeyQuery{.id = active->id});
  ASSERT_TRUE(key.ok());
  keymgmt::HsmDigestSigner signer(*key);
  const std::string data = "{\"data\":[]}";
  auto sig = signing::SignData(
      signer, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(data.data()), data.size()));
  ASSERT_TRUE(sig.ok());
  signing::ChainPolicy policy{.root_sha256 = Policy().root_sha256, .ee_name = kEeName, .at = kT0};
  EXPECT_TRUE(signing::VerifyContentSignatureWithChain(
                  *fetched, policy,
                  std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(data.data()), data.size()), *sig)
                  .ok());
}

TEST_F(RotationTest, RotatesBeforeExpiryKeepsTheOldKeyUntilItExpiresThenPrunes) {
  auto rotator = MakeRotator(Policy());
  ASSERT_TRUE(rotator.ok()) << rotator.status();
  auto r1 = (*rotator)->RotateIfDue(kT0);
  ASSERT_TRUE(r1.ok() && r1->rotated) << r1.status();

  // Ten days on: not due (60-day certificates rotate 30 days before they expire).
  auto r2 = (*rotator)->RotateIfDue(kT0 + absl::Hours(24 * 10));
  ASSERT_TRUE(r2.ok()) << r2.status();
  EXPECT_FALSE(r2->rotated);
  EXPECT_THAT(r2->reason, HasSubstr("not due"));
  EXPECT_EQ(r2->label, r1->label);

  // Thirty-one days on: due. The new key becomes active; the old one stays (its certificate is valid).
  const absl::Time t31 = kT0 + absl::Hours(24 * 31);
  auto r3 = (*rotator)->RotateIfDue(t31);
  ASSERT_TRUE(r3.ok()) << r3.status();
  EXPECT_TRUE(r3->rotated);
  EXPECT_THAT(r3->reason, HasSubstr("within rotate_before"));
  EXPECT_NE(r3->label, r1->label);
  EXPECT_EQ(Active(t31)->label, r3->label);
  EXPECT_EQ(SignerKeys(), 2u);
  EXPECT_EQ(EndEntities().size(), 2u);
  EXPECT_EQ(r3->pruned, 0u);

  // Sixty-one days on: the first certificate has expired and its key goes; the second is not due yet.
  const absl::Time t61 = kT0 + absl::Hours(24 * 61);
  auto r4 = (*rotator)->RotateIfDue(t61);
  ASSERT_TRUE(r4.ok()) << r4.status();
  EXPECT_FALSE(r4->rotated);
  EXPECT_EQ(r4->pruned, 1u);
  EXPECT_EQ(SignerKeys(), 1u);
  auto left = EndEntities();
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].label, r3->label);
}

TEST_F(RotationTest, PrunesKeysLeftByFailedRotationsButNotOnesInFlight) {
  // Keys with the signer's label and no certificate: one from a rotation two hours ago whose clean-up
  // failed, one from a rotation that is (as far as anyone can tell) still running.
  auto make = [&](absl::Time at) {
    return pool_->Run([&](pkcs11::Session& s) {
      return pkcs11::GenerateEcKey(s, EcCurve::kP384, keymgmt::EndEntityLabel("remote-settings", at));
    });
  };
  ASSERT_TRUE(make(kT0 - absl::Hours(2)).ok());
  ASSERT_TRUE(make(kT0 - absl::Minutes(5)).ok());
  auto rotator = MakeRotator(Policy());
  ASSERT_TRUE(rotator.ok());
  auto r = (*rotator)->RotateIfDue(kT0);
  ASSERT_TRUE(r.ok()) << r.status();
  auto session = pki_->online->OpenSession(false);
  auto keys = pkcs11::ListEcKeys(*session);
  std::vector<std::string> labels;
  for (const auto& k : *keys) labels.push_back(k.label);
  EXPECT_THAT(labels, ::testing::UnorderedElementsAre(kIntermediateLabel, "remote-settings/20261118T110140Z",
                                                      r->label));
}

TEST_F(RotationTest, ForceRotatesEvenWhenNotDue) {
  auto rotator = MakeRotator(Policy());
  ASSERT_TRUE(rotator.ok());
  ASSERT_TRUE((*rotator)->RotateIfDue(kT0).ok());
  auto forced = (*rotator)->RotateIfDue(kT0 + absl::Seconds(5), /*force=*/true);
  ASSERT_TRUE(forced.ok()) << forced.status();
  EXPECT_TRUE(forced->rotated);
  EXPECT_THAT(forced->reason, HasSubstr("forced"));
  EXPECT_EQ(Active(kT0 + absl::Seconds(5))->label, forced->label);
}

// Each failed publication: the current key keeps serving, nothing new is activated, no new key stays.
class FailedPublicationTest : public RotationTest {
 protected:
  void ExpectNothingChanged(const std::string& label_before) {
    auto active = Active(kT0 + absl::Hours(24 * 31));
    ASSERT_TRUE(active.ok()) << active.status();
    EXPECT_EQ(active->label, label_before);
    EXPECT_EQ(SignerKeys(), 1u);
    EXPECT_EQ(EndEntities().size(), 1u);
  }
  std::string FirstRotation() {
    auto good = MakeRotator(Policy());
    EXPECT_TRUE(good.ok()) << good.status();
    auto r = (*good)->RotateIfDue(kT0);
    EXPECT_TRUE(r.ok() && r->rotated) << r.status();
    return r.ok() ? r->label : "";
  }
};

TEST_F(FailedPublicationTest, TamperedChainNeverActivates) {
  const std::string before = FirstRotation();
  auto rotator = MakeRotator(
      Policy(), [](auto inner) { return std::make_unique<TamperingPublisher>(std::move(inner)); });
  ASSERT_TRUE(rotator.ok());
  auto r = (*rotator)->RotateIfDue(kT0 + absl::Hours(24 * 31));
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("step 'verify' failed: rule "));
  ExpectNothingChanged(before);
}

TEST_F(FailedPublicationTest, UnreachableX5uNeverActivates) {
  const std::string before = FirstRotation();
  RotationPolicy p = Policy();
  http_->Stop();  // nothing listens on the x5u port any more
  auto rotator = MakeRotator(p);
  ASSERT_TRUE(rotator.ok());
  auto r = (*rotator)->RotateIfDue(kT0 + absl::Hours(24 * 31));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
  EXPECT_THAT(r.status().message(), HasSubstr("step 'fetch' failed: GET https://localhost:"));
  ExpectNothingChanged(before);
}

TEST_F(FailedPublicationTest, UntrustedX5uServerNeverActivates) {
  const std::string before = FirstRotation();
  auto publisher = keymgmt::DirectoryPublisher::Create(publish_dir_);
  // The system CAs do not know the dev CA behind the x5u server.
  auto rotator = Rotator::Create(Policy(), pool_, *std::move(publisher), keymgmt::NewHttpsFetcher({}));
  ASSERT_TRUE(rotator.ok());
  auto r = (*rotator)->RotateIfDue(kT0 + absl::Hours(24 * 31));
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("step 'fetch' failed"));
  EXPECT_THAT(r.status().message(), HasSubstr("certificate"));
  ExpectNothingChanged(before);
}

TEST_F(FailedPublicationTest, WrongRootPinIsRefusedBeforeAnyKeyIsMade) {
  const std::string before = FirstRotation();
  RotationPolicy p = Policy();
  p.root_sha256[0] ^= 1;
  auto rotator = MakeRotator(p);
  ASSERT_FALSE(rotator.ok());
  EXPECT_THAT(rotator.status().message(), HasSubstr("not the pinned root_sha256"));
  ExpectNothingChanged(before);
}

TEST_F(RotationTest, ExpiringIntermediateStopsRotationWithAClearError) {
  RotationPolicy p = Policy();
  p.validity = absl::Hours(24 * 365 * 3);  // longer than the two-year intermediate
  p.rotate_before = absl::Hours(24 * 30);
  auto rotator = MakeRotator(p);
  ASSERT_TRUE(rotator.ok()) << rotator.status();
  auto r = (*rotator)->RotateIfDue(kT0);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("step 'issue' failed: the intermediate certificate expires"));
  EXPECT_EQ(SignerKeys(), 0u);
}

TEST_F(RotationTest, OneWriterAtATime) {
  auto rotator = MakeRotator(Policy());
  ASSERT_TRUE(rotator.ok());
  int fd = ::open((publish_dir_ + "/.rotate.lock").c_str(), O_RDWR | O_CREAT, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_EX), 0);  // another rotation (say, a cron job) is running
  auto r = (*rotator)->RotateIfDue(kT0);
  ::close(fd);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kAborted);
  EXPECT_THAT(r.status().message(), HasSubstr("only one writer rotates at a time"));
  EXPECT_TRUE((*rotator)->RotateIfDue(kT0).ok());  // and once it is released, rotation proceeds
}

TEST_F(RotationTest, BadPoliciesAreRefusedWithTheirField) {
  auto err = [&](std::function<void(RotationPolicy&)> mutate) {
    RotationPolicy p = Policy();
    mutate(p);
    auto r = MakeRotator(p);
    EXPECT_FALSE(r.ok());
    return std::string(r.status().message());
  };
  EXPECT_THAT(err([](RotationPolicy& p) { p.rotate_before = p.validity; }), HasSubstr("rotate_before"));
  EXPECT_THAT(err([](RotationPolicy& p) { p.x5u_base_url = "http://x/"; }), HasSubstr("x5u_base_url"));
  EXPECT_THAT(err([](RotationPolicy& p) { p.x5u_base_url = "https://x/chains"; }),
              HasSubstr("must end with '/'"));
  EXPECT_THAT(err([](RotationPolicy& p) { p.intermediate_key_label = "missing"; }),
              HasSubstr("intermediate_key_label"));
  EXPECT_THAT(
      err([&](RotationPolicy& p) { p.intermediate_cert_pem = p.root_cert_pem; }),
      HasSubstr("intermediate_key_label 'test-intermediate' is not the key of the intermediate certificate"));
  EXPECT_THAT(err([](RotationPolicy& p) { p.intermediate_cert_pem = "junk"; }),
              HasSubstr("no PEM certificate"));
}

}  // namespace
}  // namespace signet::testing
