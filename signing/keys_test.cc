#include "signing/keys.h"

#include <openssl/evp.h>

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/ec_curve.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "signing/software_signer.h"

namespace signet::signing {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

TEST(KeysTest, ReadsAutographPem) {
  std::string pem = ReadFile(SIGNET_VECTORS_DIR "/autograph-p384-test.pub.pem");
  absl::StatusOr<EvpPkeyPtr> key = PublicKeyFromPem(pem);
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(*EcCurveOfKey(key->get()), EcCurve::kP384);
  // Re-encoding gives back the same PEM.
  absl::StatusOr<std::string> again = PublicKeyPem(key->get());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, pem);
}

TEST(KeysTest, PemAndDerRoundTripForEachCurve) {
  for (EcCurve curve : {EcCurve::kP256, EcCurve::kP384, EcCurve::kP521}) {
    std::unique_ptr<SoftwareSigner> signer = *SoftwareSigner::Generate(curve);
    absl::StatusOr<std::vector<uint8_t>> der = SpkiDer(signer->key());
    ASSERT_TRUE(der.ok()) << der.status();
    absl::StatusOr<EvpPkeyPtr> from_der = PublicKeyFromSpkiDer(*der);
    ASSERT_TRUE(from_der.ok()) << from_der.status();
    EXPECT_EQ(EVP_PKEY_eq(from_der->get(), signer->key()), 1);
    EXPECT_EQ(*SpkiDer(from_der->get()), *der);

    absl::StatusOr<std::string> pem = PublicKeyPem(signer->key());
    ASSERT_TRUE(pem.ok()) << pem.status();
    EXPECT_THAT(*pem, StartsWith("-----BEGIN PUBLIC KEY-----\n"));
    EXPECT_EQ(pem->find("PRIVATE"), std::string::npos);
    absl::StatusOr<EvpPkeyPtr> from_pem = PublicKeyFromPem(*pem);
    ASSERT_TRUE(from_pem.ok()) << from_pem.status();
    EXPECT_EQ(EVP_PKEY_eq(from_pem->get(), signer->key()), 1);
    EXPECT_EQ(*EcCurveOfKey(from_pem->get()), curve);
  }
}

TEST(KeysTest, RejectsGarbageAndTrailingData) {
  EXPECT_EQ(PublicKeyFromPem("").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PublicKeyFromPem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PublicKeyFromSpkiDer(std::vector<uint8_t>{0x30, 0x00}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PublicKeyFromSpkiDer({}).status().code(), absl::StatusCode::kInvalidArgument);

  std::unique_ptr<SoftwareSigner> signer = *SoftwareSigner::Generate(EcCurve::kP256);
  std::vector<uint8_t> der = *SpkiDer(signer->key());
  der.push_back(0);
  absl::StatusOr<EvpPkeyPtr> key = PublicKeyFromSpkiDer(der);
  ASSERT_FALSE(key.ok());
  EXPECT_THAT(std::string(key.status().message()), HasSubstr("trailing"));
}

TEST(KeysTest, RejectsOversizeInput) {
  std::string pem(kMaxKeyInputBytes + 1, 'A');
  absl::StatusOr<EvpPkeyPtr> key = PublicKeyFromPem(pem);
  ASSERT_FALSE(key.ok());
  EXPECT_THAT(std::string(key.status().message()), HasSubstr("limit of 65536"));
  std::vector<uint8_t> der(kMaxKeyInputBytes + 1, 0x30);
  key = PublicKeyFromSpkiDer(der);
  ASSERT_FALSE(key.ok());
  EXPECT_THAT(std::string(key.status().message()), HasSubstr("limit of 65536"));
}

TEST(KeysTest, RejectsUnsupportedKeys) {
  EvpPkeyPtr k1(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "secp256k1"));
  ASSERT_NE(k1, nullptr);
  absl::StatusOr<EvpPkeyPtr> key = PublicKeyFromSpkiDer(*SpkiDer(k1.get()));
  ASSERT_FALSE(key.ok());
  EXPECT_THAT(std::string(key.status().message()), HasSubstr("unsupported curve"));

  EvpPkeyPtr ed(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  ASSERT_NE(ed, nullptr);
  key = PublicKeyFromPem(*PublicKeyPem(ed.get()));
  ASSERT_FALSE(key.ok());
  EXPECT_THAT(std::string(key.status().message()), HasSubstr("not an EC key"));

  EXPECT_EQ(SpkiDer(nullptr).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PublicKeyPem(nullptr).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace signet::signing
