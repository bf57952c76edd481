#include "common/ec_curve.h"

#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/objects.h>

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "common/openssl_ptr.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace signet {
namespace {

using ::testing::HasSubstr;

constexpr EcCurve kAllCurves[] = {EcCurve::kP256, EcCurve::kP384, EcCurve::kP521};

TEST(EcCurveInfoTest, TableIsConsistent) {
  for (EcCurve c : kAllCurves) {
    const EcCurveInfo& info = GetEcCurveInfo(c);
    EXPECT_EQ(info.curve, c);
    // The digest matches the hash function, and OpenSSL agrees on the group's NID.
    ASSERT_NE(info.md, nullptr);
    EXPECT_EQ(static_cast<size_t>(EVP_MD_get_size(info.md())), info.digest_bytes) << info.name;
    EXPECT_EQ(OBJ_sn2nid(std::string(info.openssl_group).c_str()), info.nid) << info.name;
    auto back = EcCurveFromName(info.name);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(*back, c);
  }
  EXPECT_EQ(GetEcCurveInfo(EcCurve::kP256).field_bytes, 32u);
  EXPECT_EQ(GetEcCurveInfo(EcCurve::kP384).field_bytes, 48u);
  EXPECT_EQ(GetEcCurveInfo(EcCurve::kP521).field_bytes, 66u);
  EXPECT_EQ(GetEcCurveInfo(EcCurve::kP384).cs_param, "p384ecdsa");
  EXPECT_EQ(GetEcCurveInfo(EcCurve::kP384).hash_name, "SHA-384");
}

TEST(EcCurveFromNameTest, AcceptsEveryAliasInAnyCase) {
  struct Case {
    const char* name;
    EcCurve want;
  };
  for (const Case& c :
       {Case{"P-256", EcCurve::kP256}, Case{"p256", EcCurve::kP256}, Case{"prime256v1", EcCurve::kP256},
        Case{"secp256r1", EcCurve::kP256}, Case{"SECP256R1", EcCurve::kP256}, Case{"P-384", EcCurve::kP384},
        Case{"p-384", EcCurve::kP384}, Case{"P384", EcCurve::kP384}, Case{"secp384r1", EcCurve::kP384},
        Case{"P-521", EcCurve::kP521}, Case{"p521", EcCurve::kP521}, Case{"SecP521r1", EcCurve::kP521}}) {
    auto r = EcCurveFromName(c.name);
    ASSERT_TRUE(r.ok()) << c.name << ": " << r.status();
    EXPECT_EQ(*r, c.want) << c.name;
  }
}

TEST(EcCurveFromNameTest, RefusesUnknownNames) {
  for (const char* name : {"", "P-224", "secp256k1", "ed25519", "P-384 ", "P_384", "brainpoolP384r1"}) {
    auto r = EcCurveFromName(name);
    ASSERT_FALSE(r.ok()) << name;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << name;
    EXPECT_THAT(r.status().message(), HasSubstr("P-256, P-384 or P-521")) << name;
  }
}

TEST(EcCurveFromNameTest, LongUnknownNameIsTruncatedInMessage) {
  const std::string long_name(1000, 'q');
  auto r = EcCurveFromName(long_name);
  ASSERT_FALSE(r.ok());
  EXPECT_LT(r.status().message().size(), 200u);
}

TEST(EcCurveFromOidDerTest, MatchesEachCurve) {
  const std::vector<uint8_t> p256 = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
  const std::vector<uint8_t> p384 = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22};
  const std::vector<uint8_t> p521 = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23};
  auto r256 = EcCurveFromOidDer(p256);
  auto r384 = EcCurveFromOidDer(p384);
  auto r521 = EcCurveFromOidDer(p521);
  ASSERT_TRUE(r256.ok() && r384.ok() && r521.ok());
  EXPECT_EQ(*r256, EcCurve::kP256);
  EXPECT_EQ(*r384, EcCurve::kP384);
  EXPECT_EQ(*r521, EcCurve::kP521);
}

TEST(EcCurveFromOidDerTest, TableOidsMatchOpenSslEncoding) {
  for (EcCurve c : kAllCurves) {
    const EcCurveInfo& info = GetEcCurveInfo(c);
    OpenSslPtr<ASN1_OBJECT, ASN1_OBJECT_free> obj(OBJ_nid2obj(info.nid));
    ASSERT_NE(obj, nullptr);
    unsigned char* der = nullptr;
    int len = i2d_ASN1_OBJECT(obj.get(), &der);
    ASSERT_GT(len, 0);
    OpenSslBytesPtr owned(der);
    EXPECT_EQ(std::vector<uint8_t>(der, der + len),
              std::vector<uint8_t>(info.oid_der.begin(), info.oid_der.end()))
        << info.name;
  }
}

TEST(EcCurveFromOidDerTest, RefusesJunk) {
  const std::vector<std::vector<uint8_t>> junk = {
      {},
      {0x06},
      {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00},                            // P-384 truncated
      {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22, 0x00},                // P-384 with a trailing byte
      {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x21},                      // P-224
      {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a},                      // secp256k1
      {0x13, 0x0a, 'p', 'r', 'i', 'm', 'e', '2', '5', '6', 'v', '1'},  // PrintableString form
      {0x05, 0x00},                                                    // NULL (implicitlyCA)
  };
  for (const auto& der : junk) {
    auto r = EcCurveFromOidDer(der);
    ASSERT_FALSE(r.ok()) << der.size();
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  }
}

TEST(EcCurveOfKeyTest, FindsCurveOfGeneratedKeys) {
  for (EcCurve c : kAllCurves) {
    const EcCurveInfo& info = GetEcCurveInfo(c);
    EvpPkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", std::string(info.name).c_str()));
    ASSERT_NE(key, nullptr) << info.name;
    auto r = EcCurveOfKey(key.get());
    ASSERT_TRUE(r.ok()) << info.name << ": " << r.status();
    EXPECT_EQ(*r, c);
  }
}

TEST(EcCurveOfKeyTest, RefusesUnsupportedEcCurve) {
  EvpPkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "secp256k1"));
  ASSERT_NE(key, nullptr);
  auto r = EcCurveOfKey(key.get());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(EcCurveOfKeyTest, RefusesRsaKey) {
  EvpPkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048)));
  ASSERT_NE(key, nullptr);
  auto r = EcCurveOfKey(key.get());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("not an EC key"));
}

TEST(EcCurveOfKeyTest, RefusesEd25519Key) {
  EvpPkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  ASSERT_NE(key, nullptr);
  EXPECT_FALSE(EcCurveOfKey(key.get()).ok());
}

TEST(EcCurveOfKeyTest, RefusesNull) { EXPECT_FALSE(EcCurveOfKey(nullptr).ok()); }

}  // namespace
}  // namespace signet
