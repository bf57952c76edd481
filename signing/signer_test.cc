#include "signing/signer.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/ec_curve.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "signing/base64url.h"
#include "signing/content_signature.h"
#include "signing/keys.h"
#include "signing/software_signer.h"

namespace signet::signing {
namespace {

using ::testing::HasSubstr;

std::vector<uint8_t> Bytes(std::string_view s) { return {s.begin(), s.end()}; }

class SignerTest : public ::testing::TestWithParam<EcCurve> {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<SoftwareSigner>> signer = SoftwareSigner::Generate(GetParam());
    ASSERT_TRUE(signer.ok()) << signer.status();
    signer_ = *std::move(signer);
  }
  static const EcCurveInfo& info() { return GetEcCurveInfo(GetParam()); }
  std::unique_ptr<SoftwareSigner> signer_;
};

TEST_P(SignerTest, GeneratesKeyOnTheCurve) {
  EXPECT_EQ(signer_->curve(), GetParam());
  absl::StatusOr<EcCurve> curve = EcCurveOfKey(signer_->key());
  ASSERT_TRUE(curve.ok()) << curve.status();
  EXPECT_EQ(*curve, GetParam());
}

TEST_P(SignerTest, SignDataVerifies) {
  const std::vector<uint8_t> data = Bytes(R"({"data":[],"last_modified":"1603992731957"})");
  absl::StatusOr<std::string> sig = SignData(*signer_, data);
  ASSERT_TRUE(sig.ok()) << sig.status();
  EXPECT_EQ(sig->size(), (2 * info().field_bytes * 4 + 2) / 3);
  absl::Status s = VerifyData(signer_->key(), GetParam(), data, *sig);
  EXPECT_TRUE(s.ok()) << s;

  std::vector<uint8_t> changed = data;
  changed.back() ^= 1;
  EXPECT_EQ(VerifyData(signer_->key(), GetParam(), changed, *sig).code(), absl::StatusCode::kUnauthenticated);

  // Verification through the public key alone, as a client would.
  absl::StatusOr<EvpPkeyPtr> pub = PublicKeyFromPem(*PublicKeyPem(signer_->key()));
  ASSERT_TRUE(pub.ok()) << pub.status();
  EXPECT_TRUE(VerifyData(pub->get(), GetParam(), data, *sig).ok());
}

TEST_P(SignerTest, EmptyDataSignsAndVerifies) {
  absl::StatusOr<std::string> sig = SignData(*signer_, {});
  ASSERT_TRUE(sig.ok()) << sig.status();
  EXPECT_TRUE(VerifyData(signer_->key(), GetParam(), {}, *sig).ok());
}

TEST_P(SignerTest, SignHashMatchesSignData) {
  const std::vector<uint8_t> data = Bytes("hello");
  std::vector<uint8_t> digest = ContentSignatureDigest(GetParam(), data);
  absl::StatusOr<std::string> sig = SignHash(*signer_, digest);
  ASSERT_TRUE(sig.ok()) << sig.status();
  EXPECT_TRUE(VerifyData(signer_->key(), GetParam(), data, *sig).ok());
  EXPECT_TRUE(VerifyDigest(signer_->key(), GetParam(), digest, *DecodeSignature(GetParam(), *sig)).ok());
}

TEST_P(SignerTest, SignHashRejectsWrongDigestLength) {
  for (size_t len : {size_t{0}, size_t{20}, info().digest_bytes - 1, info().digest_bytes + 1, size_t{66}}) {
    if (len == info().digest_bytes) continue;
    std::vector<uint8_t> digest(len, 0xab);
    absl::StatusOr<std::string> sig = SignHash(*signer_, digest);
    ASSERT_FALSE(sig.ok()) << len;
    EXPECT_EQ(sig.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(sig.status().message(),
              absl::StrCat("digest is ", len, " bytes; ", std::string(info().name), " (",
                           std::string(info().cs_param), ") signs a ", info().digest_bytes, "-byte ",
                           std::string(info().hash_name), " digest"));
    // The signer itself refuses too.
    EXPECT_EQ(signer_->SignDigest(digest).status().code(), absl::StatusCode::kInvalidArgument);
  }
}

TEST_P(SignerTest, AnotherKeyDoesNotVerify) {
  absl::StatusOr<std::unique_ptr<SoftwareSigner>> other = SoftwareSigner::Generate(GetParam());
  ASSERT_TRUE(other.ok()) << other.status();
  const std::vector<uint8_t> data = Bytes("payload");
  std::string sig = *SignData(*signer_, data);
  absl::Status s = VerifyData((*other)->key(), GetParam(), data, sig);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated) << s;
  EXPECT_EQ(s.message(), "signature does not verify");
}

TEST_P(SignerTest, KeyOnAnotherCurveIsInvalidArgument) {
  EcCurve other_curve = GetParam() == EcCurve::kP384 ? EcCurve::kP256 : EcCurve::kP384;
  absl::StatusOr<std::unique_ptr<SoftwareSigner>> other = SoftwareSigner::Generate(other_curve);
  ASSERT_TRUE(other.ok()) << other.status();
  const std::vector<uint8_t> data = Bytes("payload");
  std::string sig = *SignData(*signer_, data);
  absl::Status s = VerifyData((*other)->key(), GetParam(), data, sig);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("key is on"));
}

TEST_P(SignerTest, DerRawRoundTrip) {
  for (int i = 0; i < 20; ++i) {
    std::vector<uint8_t> raw = *signer_->SignDigest(ContentSignatureDigest(GetParam(), Bytes("x")));
    ASSERT_EQ(raw.size(), 2 * info().field_bytes);
    absl::StatusOr<std::vector<uint8_t>> der = RawToDerSignature(GetParam(), raw);
    ASSERT_TRUE(der.ok()) << der.status();
    EXPECT_EQ(*DerToRawSignature(GetParam(), *der), raw);
  }
}

// r or s with a leading zero byte: DER drops it (shorter INTEGER), raw must keep it as padding.
TEST_P(SignerTest, LeadingZeroByteInROrSIsPaddedAndVerifies) {
  const size_t fb = info().field_bytes;
  const std::vector<uint8_t> data = Bytes("leading zero");
  const std::vector<uint8_t> digest = ContentSignatureDigest(GetParam(), data);
  constexpr int kMaxTries = 2000;  // P-256/P-384: ~1/128 per try; P-521: top byte is 0 about half the time
  int found = 0;
  for (int tries = 0; tries < kMaxTries && found < 3; ++tries) {
    absl::StatusOr<std::vector<uint8_t>> raw = signer_->SignDigest(digest);
    ASSERT_TRUE(raw.ok()) << raw.status();
    ASSERT_EQ(raw->size(), 2 * fb);
    if ((*raw)[0] != 0 && (*raw)[fb] != 0) continue;
    ++found;
    std::vector<uint8_t> der = *RawToDerSignature(GetParam(), *raw);
    EXPECT_LT(der.size(), 2 * fb + 6 + 3) << "DER should have dropped the zero byte";
    EXPECT_EQ(*DerToRawSignature(GetParam(), der), *raw);
    std::string b64 = *EncodeSignature(GetParam(), *raw);
    EXPECT_EQ(b64.size(), (2 * fb * 4 + 2) / 3);
    EXPECT_TRUE(VerifyData(signer_->key(), GetParam(), data, b64).ok());
  }
  EXPECT_GT(found, 0) << "no signature with a leading zero byte in " << kMaxTries << " tries";
}

// A DigestSigner that returns a wrong-length signature: SignData must not encode it.
class BrokenSigner : public DigestSigner {
 public:
  EcCurve curve() const override { return EcCurve::kP384; }
  absl::StatusOr<std::vector<uint8_t>> SignDigest(std::span<const uint8_t> /*digest*/) override {
    return std::vector<uint8_t>(95, 1);
  }
};

TEST(SignDataTest, ChecksSignerOutputLength) {
  BrokenSigner broken;
  absl::StatusOr<std::string> sig = SignData(broken, Bytes("x"));
  ASSERT_FALSE(sig.ok());
  EXPECT_THAT(std::string(sig.status().message()), HasSubstr("95 bytes"));
}

class FailingSigner : public DigestSigner {
 public:
  EcCurve curve() const override { return EcCurve::kP256; }
  absl::StatusOr<std::vector<uint8_t>> SignDigest(std::span<const uint8_t> /*digest*/) override {
    return absl::UnavailableError("HSM gone");
  }
};

TEST(SignDataTest, PropagatesSignerError) {
  FailingSigner failing;
  EXPECT_EQ(SignData(failing, Bytes("x")).status().code(), absl::StatusCode::kUnavailable);
}

INSTANTIATE_TEST_SUITE_P(AllCurves, SignerTest,
                         ::testing::Values(EcCurve::kP256, EcCurve::kP384, EcCurve::kP521),
                         [](const ::testing::TestParamInfo<EcCurve>& p) {
                           std::string name(GetEcCurveInfo(p.param).cs_param);
                           return name;
                         });

// ---------------------------------------------------------------------------------------------------------
// Interop with the openssl command line (P-384, the curve Firefox uses), both directions.

class OpensslCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (Run("openssl version") != 0) GTEST_SKIP() << "no openssl command";
    std::string tmpl = ::testing::TempDir() + "signet-signing-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    if (!dir_.empty()) Run("rm -rf '" + dir_ + "'");
  }
  std::string Path(const char* name) const { return absl::StrCat(dir_, "/", name); }
  static void Write(const std::string& path, std::span<const uint8_t> bytes) {
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  }
  static std::string Read(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
  }
  // Test-only: runs the openssl CLI on paths this fixture created.
  static int Run(const std::string& cmd) {
    return std::system((cmd + " >/dev/null 2>&1").c_str());  // NOLINT(cert-env33-c)
  }

  std::string dir_;
};

TEST_F(OpensslCliTest, OpensslSignsWeVerify) {
  const std::vector<uint8_t> data = Bytes("interop data\n");
  std::vector<uint8_t> msg(kContentSignaturePrefix.begin(), kContentSignaturePrefix.end());
  msg.insert(msg.end(), data.begin(), data.end());
  Write(Path("msg.bin"), msg);
  ASSERT_EQ(Run("openssl ecparam -name secp384r1 -genkey -noout -out " + Path("key.pem")), 0);
  ASSERT_EQ(Run("openssl ec -in " + Path("key.pem") + " -pubout -out " + Path("pub.pem")), 0);
  ASSERT_EQ(Run("openssl dgst -sha384 -sign " + Path("key.pem") + " -out " + Path("sig.der") + " " +
                Path("msg.bin")),
            0);
  absl::StatusOr<EvpPkeyPtr> pub = PublicKeyFromPem(Read(Path("pub.pem")));
  ASSERT_TRUE(pub.ok()) << pub.status();
  std::string der = Read(Path("sig.der"));
  absl::StatusOr<std::vector<uint8_t>> raw =
      DerToRawSignature(EcCurve::kP384, std::span(reinterpret_cast<const uint8_t*>(der.data()), der.size()));
  ASSERT_TRUE(raw.ok()) << raw.status();
  absl::Status s = VerifyData(pub->get(), EcCurve::kP384, data, *EncodeSignature(EcCurve::kP384, *raw));
  EXPECT_TRUE(s.ok()) << s;
}

TEST_F(OpensslCliTest, WeSignOpensslVerifies) {
  std::unique_ptr<SoftwareSigner> signer = *SoftwareSigner::Generate(EcCurve::kP384);
  const std::vector<uint8_t> data = Bytes("more interop data");
  std::string sig = *SignData(*signer, data);
  std::vector<uint8_t> der = *RawToDerSignature(EcCurve::kP384, *DecodeSignature(EcCurve::kP384, sig));
  std::vector<uint8_t> msg(kContentSignaturePrefix.begin(), kContentSignaturePrefix.end());
  msg.insert(msg.end(), data.begin(), data.end());
  Write(Path("msg.bin"), msg);
  Write(Path("sig.der"), der);
  std::string pem = *PublicKeyPem(signer->key());
  Write(Path("pub.pem"), Bytes(pem));
  const std::string verify = "openssl dgst -sha384 -verify " + Path("pub.pem") + " -signature " +
                             Path("sig.der") + " " + Path("msg.bin");
  EXPECT_EQ(Run(verify), 0);
  msg.back() ^= 1;
  Write(Path("msg.bin"), msg);
  EXPECT_NE(Run(verify), 0);
}

}  // namespace
}  // namespace signet::signing
