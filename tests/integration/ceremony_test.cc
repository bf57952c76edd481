// Key ceremonies against real SoftHSM tokens: an offline token for the root and an online token for
// the intermediate and signing keys, PINs entered as officers' shares, time injected.
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/sha256.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "keymgmt/hsm_connection.h"
#include "keymgmt/pin_shares.h"
#include "pkcs11/key.h"
#include "signing/chain.h"
#include "tests/testing/test_pki.h"

namespace signet::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

const absl::Time kNow = absl::FromUnixSeconds(1795000000);  // 2026-11-18

X509Ptr ReadCert(const std::string& path) {
  std::string pem = ReadTestFile(path);
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return X509Ptr(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

std::vector<pkcs11::EcKeyInfo> Keys(const std::shared_ptr<pkcs11::Token>& token) {
  auto session = token->OpenSession(false);
  EXPECT_TRUE(session.ok()) << session.status();
  auto keys = pkcs11::ListEcKeys(*session);
  EXPECT_TRUE(keys.ok()) << keys.status();
  return keys.ok() ? *std::move(keys) : std::vector<pkcs11::EcKeyInfo>{};
}

class CeremonyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto pki = BringUpTestPki(kNow);
    ASSERT_TRUE(pki.ok()) << pki.status();
    pki_ = std::make_unique<TestPki>(*std::move(pki));
  }
  std::string KeyYaml(const std::string& name, const std::string& label, const std::string& out = "keys") {
    return absl::StrCat("ceremony: key\nname: ", name, "\noutput_dir: ", out,
                        "\ntoken: {token: ", kOnlineToken, ", module: ", SIGNET_SOFTHSM_MODULE,
                        "}\nkey: {label: ", label, ", curve: P-256}\n");
  }
  std::unique_ptr<TestPki> pki_;
};

TEST_F(CeremonyTest, RootAndIntermediateAreWhatTheDesignSays) {
  X509Ptr root = ReadCert(pki_->root_cert_file);
  X509Ptr inter = ReadCert(pki_->intermediate_cert_file);
  ASSERT_TRUE(root && inter);
  // Root: self-signed CA, keyCertSign+cRLSign, codeSigning EKU, P-384, the subject from the script.
  EXPECT_EQ(X509_check_ca(root.get()), 1);
  EXPECT_EQ(X509_verify(root.get(), X509_get0_pubkey(root.get())), 1);
  EXPECT_EQ(X509_get_key_usage(root.get()), static_cast<uint32_t>(KU_KEY_CERT_SIGN | KU_CRL_SIGN));
  EXPECT_TRUE(X509_get_extended_key_usage(root.get()) & XKU_CODE_SIGN);
  EXPECT_EQ(EVP_PKEY_get_bits(X509_get0_pubkey(root.get())), 384);
  char cn[128];
  X509_NAME_get_text_by_NID(X509_get_subject_name(root.get()), NID_commonName, cn, sizeof(cn));
  EXPECT_STREQ(cn, "Signet Test Root");
  EXPECT_EQ(pki_->root_sha256, signing::CertSha256Fingerprint(root.get()));
  EXPECT_EQ(ASN1_TIME_cmp_time_t(X509_get0_notBefore(root.get()), absl::ToTimeT(kNow)), 0);

  // Intermediate: issued by the root, CA with pathLen 0, codeSigning, a critical name constraint.
  EXPECT_EQ(X509_check_ca(inter.get()), 1);
  EXPECT_EQ(X509_get_pathlen(inter.get()), 0);
  EXPECT_EQ(X509_verify(inter.get(), X509_get0_pubkey(root.get())), 1);
  EXPECT_TRUE(X509_get_extended_key_usage(inter.get()) & XKU_CODE_SIGN);
  int crit = -1;
  auto* nc =
      static_cast<NAME_CONSTRAINTS*>(X509_get_ext_d2i(inter.get(), NID_name_constraints, &crit, nullptr));
  ASSERT_NE(nc, nullptr);
  EXPECT_EQ(crit, 1);
  ASSERT_EQ(sk_GENERAL_SUBTREE_num(nc->permittedSubtrees), 1);
  const GENERAL_NAME* base = sk_GENERAL_SUBTREE_value(nc->permittedSubtrees, 0)->base;
  ASSERT_EQ(base->type, GEN_DNS);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(base->d.dNSName)),
                        ASN1_STRING_length(base->d.dNSName)),
            kPermittedSubtree);
  NAME_CONSTRAINTS_free(nc);
}

TEST_F(CeremonyTest, RootKeyNeverReachesTheOnlineTokenAndNoKeyIsExtractable) {
  X509Ptr root = ReadCert(pki_->root_cert_file);
  auto online_keys = Keys(pki_->online);
  auto offline_keys = Keys(pki_->hsm->token());
  ASSERT_EQ(offline_keys.size(), 1u);
  EXPECT_EQ(offline_keys[0].label, kRootLabel);
  ASSERT_EQ(online_keys.size(), 1u);
  EXPECT_EQ(online_keys[0].label, kIntermediateLabel);
  for (const auto& k : online_keys) {
    EXPECT_NE(EVP_PKEY_eq(k.public_key.get(), X509_get0_pubkey(root.get())), 1)
        << "root key on the online token";
  }
  for (std::shared_ptr<pkcs11::Token> token : {pki_->hsm->token(), pki_->online}) {
    auto session = token->OpenSession(false);
    ASSERT_TRUE(session.ok());
    for (const auto& k : Keys(token)) {
      auto p = pkcs11::GetPrivateKeyProtection(*session, k.id);
      ASSERT_TRUE(p.ok()) << p.status();
      EXPECT_TRUE(p->sensitive) << k.label;
      EXPECT_FALSE(p->extractable) << k.label;
      EXPECT_TRUE(p->always_sensitive) << k.label;
      EXPECT_TRUE(p->never_extractable) << k.label;
    }
  }
}

TEST_F(CeremonyTest, TranscriptRecordsEveryStepAndOutputHash) {
  const std::string transcript =
      ReadTestFile(pki_->dir + "/ceremony/intermediate/test-intermediate-ceremony.transcript.txt");
  const std::string cert = ReadTestFile(pki_->intermediate_cert_file);
  X509Ptr inter = ReadCert(pki_->intermediate_cert_file);
  EXPECT_THAT(transcript, HasSubstr("ceremony: intermediate"));
  EXPECT_THAT(transcript,
              HasSubstr("script:   sha256 " + Sha256Hex(ReadTestFile(pki_->dir + "/intermediate.yaml"))));
  EXPECT_THAT(transcript, HasSubstr("combined from officers' shares (two-person rule)"));
  EXPECT_THAT(transcript, HasSubstr("logged in to the root (offline) token 'signet-offline'"));
  EXPECT_THAT(transcript, HasSubstr("logged in to the intermediate (online) token 'signet-online'"));
  auto keys = Keys(pki_->online);
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_THAT(transcript,
              HasSubstr(absl::StrCat("key label 'test-intermediate' id ", HexEncode(keys[0].id))));
  EXPECT_THAT(transcript, HasSubstr("SHA-256 " + signing::CertSha256Fingerprint(inter.get())));
  EXPECT_THAT(transcript, HasSubstr("SHA-256 " + pki_->root_sha256));  // the root it read
  EXPECT_THAT(transcript, HasSubstr(absl::StrCat("wrote ", pki_->intermediate_cert_file, " (sha256 ",
                                                 Sha256Hex(cert), ")")));
  EXPECT_THAT(transcript, HasSubstr("2026-11-18T"));
  EXPECT_THAT(transcript, HasSubstr("result:   OK"));
  EXPECT_THAT(transcript, Not(HasSubstr(kTestUserPin)));
}

TEST_F(CeremonyTest, KeyCeremonyWritesThePublicKeyOfANewHsmKey) {
  auto r = RunCeremonyYaml(pki_->dir, "key.yaml", KeyYaml("rs-key", "remote-settings-p256"), kNow);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->outputs.size(), 2u);
  EXPECT_EQ(r->outputs[0], pki_->dir + "/keys/remote-settings-p256.pub.pem");
  EXPECT_THAT(ReadTestFile(r->outputs[0]), HasSubstr("BEGIN PUBLIC KEY"));
  EXPECT_THAT(r->transcript, HasSubstr("generated P-256 key label 'remote-settings-p256'"));
  EXPECT_EQ(Keys(pki_->online).size(), 2u);
}

TEST_F(CeremonyTest, RefusesToOverwriteOutputsBeforeTouchingTheHsm) {
  ASSERT_TRUE(RunCeremonyYaml(pki_->dir, "key.yaml", KeyYaml("rs-key", "key-a"), kNow).ok());
  // Same outputs again (another label, so only the files clash): refused, and no key is generated.
  auto again = RunCeremonyYaml(pki_->dir, "key2.yaml", KeyYaml("rs-key", "key-a"), kNow);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), absl::StatusCode::kAlreadyExists) << again.status();
  EXPECT_THAT(again.status().message(), HasSubstr("never overwrites"));
  EXPECT_EQ(Keys(pki_->online).size(), 2u);  // intermediate + key-a
}

TEST_F(CeremonyTest, RefusesToReuseALabelAndLeavesNothingBehind) {
  // The intermediate's label again, with fresh output files.
  auto r = RunCeremonyYaml(pki_->dir, "reuse.yaml", KeyYaml("reuse", kIntermediateLabel, "reuse-out"), kNow);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kAlreadyExists) << r.status();
  EXPECT_THAT(r.status().message(), HasSubstr(kIntermediateLabel));
  EXPECT_EQ(Keys(pki_->online).size(), 1u);
  // The failed attempt left its transcript for the audit trail, under a name that does not block a retry.
  const std::string failed = pki_->dir + "/reuse-out/reuse.failed-20261118T";
  bool found = false;
  for (const auto& e : std::filesystem::directory_iterator(pki_->dir + "/reuse-out")) {
    if (absl::StartsWith(e.path().string(), failed)) {
      found = true;
      EXPECT_THAT(ReadTestFile(e.path().string()), HasSubstr("result:   FAILED"));
    }
  }
  EXPECT_TRUE(found);
}

TEST_F(CeremonyTest, RejectsWrongAndShortShareSetsWithoutGeneratingAnything) {
  // Too few: one share of a 2-of-3 split.
  auto few = RunCeremonyYaml(pki_->dir, "few.yaml", KeyYaml("few", "k-few", "few"), kNow,
                             SharesPrompt(kTestUserPin, 3, 2, {2}));
  ASSERT_FALSE(few.ok());
  EXPECT_THAT(few.status().message(), HasSubstr("only 1 of 2 shares entered"));
  // Shares of two different splits of the same PIN.
  keymgmt::PinPrompt mixed = [](const std::string& what) -> absl::StatusOr<SecretBuffer> {
    auto a = keymgmt::SplitPin(SecretBuffer(kTestUserPin), 3, 2);
    auto b = keymgmt::SplitPin(SecretBuffer(kTestUserPin), 3, 2);
    std::vector<SecretBuffer> given;
    given.push_back((*a)[0].Clone());
    given.push_back((*b)[1].Clone());
    auto pin = keymgmt::CombinePinShares(given);
    if (!pin.ok()) return absl::Status(pin.status().code(), absl::StrCat(what, ": ", pin.status().message()));
    return pin;
  };
  auto mix = RunCeremonyYaml(pki_->dir, "mix.yaml", KeyYaml("mix", "k-mix", "mix"), kNow, mixed);
  ASSERT_FALSE(mix.ok());
  EXPECT_THAT(mix.status().message(), HasSubstr("different PIN splits"));
  // A complete, well-formed set of shares of the wrong PIN: the token says no, and we say why.
  auto wrong = RunCeremonyYaml(pki_->dir, "wrong.yaml", KeyYaml("wrong", "k-wrong", "wrong"), kNow,
                               SharesPrompt("not-the-pin", 3, 2, {1, 2}));
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kPermissionDenied) << wrong.status();
  EXPECT_THAT(wrong.status().message(), HasSubstr("a share is wrong or from another PIN"));
  EXPECT_EQ(Keys(pki_->online).size(), 1u);
}

TEST_F(CeremonyTest, IntermediateRefusesTheOnlineTokenAsRootTokenAndAMismatchedRootKey) {
  const std::string good = ReadTestFile(pki_->dir + "/intermediate.yaml");
  // The intermediate generated on the offline token, next to the root: refused.
  std::string same = absl::StrReplaceAll(good, {{"name: test-intermediate-ceremony", "name: same"},
                                                {"output_dir: ceremony/intermediate", "output_dir: same"},
                                                {"label: test-intermediate", "label: other-intermediate"},
                                                {absl::StrCat("token: {token: ", kOnlineToken),
                                                 absl::StrCat("token: {token: ", kOfflineToken)}});
  auto r = RunCeremonyYaml(pki_->dir, "same.yaml", same, kNow);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("the online token must never hold the root key"));
  // A root certificate that is not the root key's.
  std::string mismatch =
      absl::StrReplaceAll(good, {{"name: test-intermediate-ceremony", "name: mismatch"},
                                 {"output_dir: ceremony/intermediate", "output_dir: mismatch"},
                                 {"label: test-intermediate", "label: third-intermediate"},
                                 {"certificate: ceremony/root/test-root.crt.pem",
                                  "certificate: ceremony/intermediate/test-intermediate.crt.pem"}});
  auto m = RunCeremonyYaml(pki_->dir, "mismatch.yaml", mismatch, kNow);
  ASSERT_FALSE(m.ok());
  EXPECT_THAT(m.status().message(), HasSubstr("root.certificate"));
  EXPECT_EQ(Keys(pki_->online).size(), 1u);
  EXPECT_EQ(Keys(pki_->hsm->token()).size(), 1u);
}

}  // namespace
}  // namespace signet::testing
