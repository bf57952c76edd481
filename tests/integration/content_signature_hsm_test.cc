// Content-Signature end to end with the key inside SoftHSM: sign-data and sign-hash through the HSM,
// verified by signing/'s verifier and by OpenSSL's EVP_DigestVerify over the prefixed input.
#include <openssl/evp.h>

#include "common/openssl_ptr.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "keymgmt/hsm_signer.h"
#include "pkcs11/key.h"
#include "signing/content_signature.h"
#include "signing/signer.h"
#include "tests/testing/softhsm_token.h"

namespace signet {
namespace {

std::span<const uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

class ContentSignatureHsmTest : public ::testing::TestWithParam<EcCurve> {};

TEST_P(ContentSignatureHsmTest, SignDataAndSignHashVerify) {
  const EcCurve curve = GetParam();
  auto hsm = testing::SoftHsmToken::Create();
  ASSERT_TRUE(hsm.ok()) << hsm.status();
  auto pool = (*hsm)->Pool(2);
  ASSERT_TRUE(pool.ok());
  auto info = (*pool)->Run([&](pkcs11::Session& s) { return pkcs11::GenerateEcKey(s, curve, "cs"); });
  ASSERT_TRUE(info.ok()) << info.status();
  auto key = pkcs11::HsmKey::Load(*pool, pkcs11::KeyQuery{.label = "cs"});
  ASSERT_TRUE(key.ok());
  keymgmt::HsmDigestSigner signer(*key);

  const std::string data = "{\"data\":[],\"last_modified\":\"1603992731957\"}";
  auto sig = signing::SignData(signer, Bytes(data));
  ASSERT_TRUE(sig.ok()) << sig.status();
  EXPECT_EQ(sig->size(), (4 * 2 * GetEcCurveInfo(curve).field_bytes + 2) / 3);  // base64url, no padding
  EXPECT_EQ(sig->find('='), std::string::npos);
  EXPECT_TRUE(signing::VerifyData((*key)->public_key(), curve, Bytes(data), *sig).ok());
  EXPECT_FALSE(signing::VerifyData((*key)->public_key(), curve, Bytes(data + " "), *sig).ok());

  // Independent check: OpenSSL verifies the DER form over "Content-Signature:\0" || data.
  auto raw = signing::DecodeSignature(curve, *sig);
  ASSERT_TRUE(raw.ok());
  auto der = signing::RawToDerSignature(curve, *raw);
  ASSERT_TRUE(der.ok());
  std::string prefixed = std::string("Content-Signature:\0", 19) + data;
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  ASSERT_EQ(EVP_DigestVerifyInit(ctx.get(), nullptr, GetEcCurveInfo(curve).md(), nullptr, (*key)->public_key()), 1);
  EXPECT_EQ(EVP_DigestVerify(ctx.get(), der->data(), der->size(),
                             reinterpret_cast<const unsigned char*>(prefixed.data()), prefixed.size()),
            1);

  // Sign-hash with the caller's digest gives a signature that verifies over the same data.
  auto digest = signing::ContentSignatureDigest(curve, Bytes(data));
  auto hsig = signing::SignHash(signer, digest);
  ASSERT_TRUE(hsig.ok()) << hsig.status();
  EXPECT_TRUE(signing::VerifyData((*key)->public_key(), curve, Bytes(data), *hsig).ok());

  // A digest of the wrong length is refused before it reaches the HSM.
  std::vector<uint8_t> short_digest(20, 0xab);
  auto bad = signing::SignHash(signer, short_digest);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.status().message()), ::testing::HasSubstr("20 bytes"));
}

INSTANTIATE_TEST_SUITE_P(Curves, ContentSignatureHsmTest,
                         ::testing::Values(EcCurve::kP256, EcCurve::kP384, EcCurve::kP521),
                         [](const auto& info) { return std::string(GetEcCurveInfo(info.param).name.substr(2)); });

}  // namespace
}  // namespace signet
