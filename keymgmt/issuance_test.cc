// The Content-Signature PKI's certificates, issued with software keys (the HSM path is in
// tests/integration/ceremony_test.cc and rotation_test.cc): what they contain, that Firefox's rules
// accept the chain, and every refusal.
#include "keymgmt/issuance.h"

#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "keymgmt/x509_builder.h"
#include "signing/chain.h"

namespace signet::keymgmt {
namespace {

using ::testing::HasSubstr;

const absl::Time kNow = absl::FromUnixSeconds(1795000000);
constexpr char kSubtree[] = ".content-signature.example.org";
constexpr char kEeName[] = "remote-settings.content-signature.example.org";

EvpPkeyPtr Key(const char* curve = "P-384") { return EvpPkeyPtr(EVP_EC_gen(curve)); }

class IssuanceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_key_ = Key();
    inter_key_ = Key();
    ee_key_ = Key("P-256");
    auto root = IssueRootCertificate(
        root_key_.get(), root_key_.get(),
        {{.common_name = "Test Root", .country = "US"}, kNow, kNow + absl::Hours(24 * 3650)});
    ASSERT_TRUE(root.ok()) << root.status();
    root_ = *std::move(root);
    auto inter = IssueIntermediateCertificate(
        root_.get(), root_key_.get(), inter_key_.get(),
        {{.common_name = "Test Intermediate"}, kSubtree, kNow, kNow + absl::Hours(24 * 365)});
    ASSERT_TRUE(inter.ok()) << inter.status();
    inter_ = *std::move(inter);
  }
  absl::StatusOr<X509Ptr> Ee(const std::string& name, absl::Time nb, absl::Time na) {
    return IssueEndEntityCertificate(inter_.get(), inter_key_.get(), ee_key_.get(), {name, nb, na});
  }
  EvpPkeyPtr root_key_, inter_key_, ee_key_;
  X509Ptr root_, inter_;
};

TEST_F(IssuanceTest, TheChainPassesFirefoxsRules) {
  auto ee = Ee(kEeName, kNow, kNow + absl::Hours(24 * 60));
  ASSERT_TRUE(ee.ok()) << ee.status();
  EXPECT_EQ(X509_check_ca(ee->get()), 0);
  EXPECT_EQ(X509_get_key_usage(ee->get()), static_cast<uint32_t>(KU_DIGITAL_SIGNATURE));
  EXPECT_TRUE(X509_get_extended_key_usage(ee->get()) & XKU_CODE_SIGN);
  auto chain = signing::ParseChainPem(CertPem(ee->get()) + CertPem(inter_.get()) + CertPem(root_.get()));
  ASSERT_TRUE(chain.ok()) << chain.status();
  auto pin = signing::ParseSha256Fingerprint(signing::CertSha256Fingerprint(root_.get()));
  auto verified = signing::VerifyChain(*chain, {.root_sha256 = *pin, .ee_name = kEeName, .at = kNow});
  ASSERT_TRUE(verified.ok()) << verified.status();
  EXPECT_EQ(verified->curve, EcCurve::kP256);
}

TEST_F(IssuanceTest, RefusesWhatTheIntermediateMayNotCertify) {
  auto outside = Ee("normandy.content-signature.mozilla.org", kNow, kNow + absl::Hours(1));
  ASSERT_FALSE(outside.ok());
  EXPECT_THAT(outside.status().message(), HasSubstr("outside the intermediate's name constraints"));
  auto outlives = Ee(kEeName, kNow, kNow + absl::Hours(24 * 400));
  ASSERT_FALSE(outlives.ok());
  EXPECT_THAT(outlives.status().message(),
              HasSubstr("must lie within the intermediate certificate's validity"));
  auto bad_name = Ee("remote settings.content-signature.example.org", kNow, kNow + absl::Hours(1));
  ASSERT_FALSE(bad_name.ok());
  EXPECT_THAT(bad_name.status().message(), HasSubstr("ee_name"));
  auto backwards = Ee(kEeName, kNow, kNow - absl::Hours(1));
  ASSERT_FALSE(backwards.ok());
  EXPECT_THAT(backwards.status().message(), HasSubstr("must be later than not_before"));
}

TEST_F(IssuanceTest, RefusesAnIssuerThatIsNotACa) {
  auto ee = Ee(kEeName, kNow, kNow + absl::Hours(1));
  ASSERT_TRUE(ee.ok());
  auto under_ee = IssueEndEntityCertificate(ee->get(), ee_key_.get(), Key().get(),
                                            {kEeName, kNow, kNow + absl::Hours(1)});
  ASSERT_FALSE(under_ee.ok());
  EXPECT_THAT(under_ee.status().message(), HasSubstr("the intermediate certificate is not a CA"));
}

TEST_F(IssuanceTest, RefusesBadSubjectsAndSubtrees) {
  auto bad_country =
      IssueRootCertificate(root_key_.get(), root_key_.get(),
                           {{.common_name = "R", .country = "usa"}, kNow, kNow + absl::Hours(1)});
  ASSERT_FALSE(bad_country.ok());
  EXPECT_THAT(bad_country.status().message(), HasSubstr("subject.country"));
  // Found by fuzz_ceremony (tests/fuzz/regressions/ceremony/country-echoes-control-byte): the country was
  // echoed raw.
  auto control_country =
      IssueRootCertificate(root_key_.get(), root_key_.get(),
                           {{.common_name = "R", .country = "\x05S"}, kNow, kNow + absl::Hours(1)});
  ASSERT_FALSE(control_country.ok());
  EXPECT_THAT(control_country.status().message(),
              HasSubstr("subject.country: must be two upper-case letters (ISO 3166), got '\\x05S'"));
  auto no_cn = IssueRootCertificate(root_key_.get(), root_key_.get(), {{}, kNow, kNow + absl::Hours(1)});
  ASSERT_FALSE(no_cn.ok());
  EXPECT_THAT(no_cn.status().message(), HasSubstr("subject.common_name: required"));
  auto bad_subtree =
      IssueIntermediateCertificate(root_.get(), root_key_.get(), inter_key_.get(),
                                   {{.common_name = "I"}, ".bad_tree.org", kNow, kNow + absl::Hours(1)});
  ASSERT_FALSE(bad_subtree.ok());
  EXPECT_THAT(bad_subtree.status().message(), HasSubstr("permitted_dns_subtree"));
  // Found by fuzz_ceremony (tests/fuzz/regressions/ceremony/subject-not-utf8-aborts): a subject field
  // that is not UTF-8 made OpenSSL refuse the name entry, which aborted the process.
  for (const std::string& bad : {std::string("Signet Quick\xa9start"), std::string("\xc3"),
                                 std::string("\xed\xa0\x80 surrogate"), std::string("\xf4\x90\x80\x80")}) {
    auto not_utf8 =
        IssueRootCertificate(root_key_.get(), root_key_.get(),
                             {{.common_name = "R", .organization = bad}, kNow, kNow + absl::Hours(1)});
    ASSERT_FALSE(not_utf8.ok());
    EXPECT_THAT(not_utf8.status().message(), HasSubstr("subject.organization: is not valid UTF-8 (at byte "));
  }
  EXPECT_TRUE(
      IssueRootCertificate(root_key_.get(), root_key_.get(),
                           {{.common_name = "R\xc3\xa9seau \xf0\x9f\x94\x91"}, kNow, kNow + absl::Hours(1)})
          .ok());
  auto rsa = EvpPkeyPtr(EVP_RSA_gen(2048));
  auto rsa_root =
      IssueRootCertificate(rsa.get(), rsa.get(), {{.common_name = "R"}, kNow, kNow + absl::Hours(1)});
  ASSERT_FALSE(rsa_root.ok());
  EXPECT_THAT(rsa_root.status().message(), HasSubstr("root key"));
}

}  // namespace
}  // namespace signet::keymgmt
