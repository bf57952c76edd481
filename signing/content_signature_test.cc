#include "signing/content_signature.h"

#include <openssl/evp.h>

#include <cstdint>
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
#include "signing/keys.h"
#include "signing/signer.h"
#include "signing/software_signer.h"

namespace signet::signing {
namespace {

using ::testing::HasSubstr;

constexpr std::string_view kAutographInput = "foobarbaz1234abcd";
constexpr std::string_view kAutographSignature =
    "qGjS1QmB2xANizjJqrGmIPoojzjBrTV5kgi01p1ELnfKwH4E3UDTZRf-9K7PCEwjt0mOzd1bBmRBKcnWZNFAMvAduBwfAPHFGpX-"
    "YKBoRSLHuA6QuiosEydnZEs5ykAR";

std::vector<uint8_t> Bytes(std::string_view s) { return {s.begin(), s.end()}; }

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string Message(const absl::Status& s) { return std::string(s.message()); }

void ExpectError(const absl::Status& s, absl::StatusCode code,
                 std::initializer_list<std::string_view> parts) {
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), code) << s;
  for (std::string_view part : parts) EXPECT_THAT(Message(s), HasSubstr(std::string(part))) << s;
}

const EcCurve kAllCurves[] = {EcCurve::kP256, EcCurve::kP384, EcCurve::kP521};

// ---------------------------------------------------------------------------------------------------------
// Digest

TEST(ContentSignatureDigestTest, PrefixIsNineteenBytesEndingInNul) {
  EXPECT_EQ(kContentSignaturePrefix.size(), 19u);
  EXPECT_EQ(kContentSignaturePrefix.substr(0, 18), "Content-Signature:");
  EXPECT_EQ(kContentSignaturePrefix[18], '\0');
}

TEST(ContentSignatureDigestTest, HashesPrefixThenDataWithTheCurvesHash) {
  const std::vector<uint8_t> data = Bytes("some data");
  std::string whole(kContentSignaturePrefix);
  whole += "some data";
  for (EcCurve curve : kAllCurves) {
    const EcCurveInfo& info = GetEcCurveInfo(curve);
    unsigned char expected[EVP_MAX_MD_SIZE];
    size_t expected_len = 0;
    ASSERT_EQ(EVP_Q_digest(nullptr, std::string(info.hash_name).c_str(), nullptr, whole.data(), whole.size(),
                           expected, &expected_len),
              1);
    std::vector<uint8_t> got = ContentSignatureDigest(curve, data);
    EXPECT_EQ(got.size(), info.digest_bytes);
    EXPECT_EQ(got, std::vector<uint8_t>(expected, expected + expected_len)) << info.name;
  }
  EXPECT_EQ(ContentSignatureDigest(EcCurve::kP256, {}).size(), 32u);
}

TEST(CheckDigestLengthTest, NamesActualAndExpected) {
  EXPECT_TRUE(CheckDigestLength(EcCurve::kP384, 48).ok());
  EXPECT_TRUE(CheckDigestLength(EcCurve::kP256, 32).ok());
  EXPECT_TRUE(CheckDigestLength(EcCurve::kP521, 64).ok());
  absl::Status s = CheckDigestLength(EcCurve::kP384, 32);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "digest is 32 bytes; P-384 (p384ecdsa) signs a 48-byte SHA-384 digest");
  ExpectError(CheckDigestLength(EcCurve::kP521, 66), absl::StatusCode::kInvalidArgument,
              {"digest is 66 bytes", "P-521 (p521ecdsa) signs a 64-byte SHA-512 digest"});
}

// ---------------------------------------------------------------------------------------------------------
// Encode / decode

TEST(SignatureEncodingTest, EncodeChecksLength) {
  std::vector<uint8_t> raw(96, 0x42);
  absl::StatusOr<std::string> enc = EncodeSignature(EcCurve::kP384, raw);
  ASSERT_TRUE(enc.ok()) << enc.status();
  EXPECT_EQ(enc->size(), 128u);
  ExpectError(EncodeSignature(EcCurve::kP256, raw).status(), absl::StatusCode::kInvalidArgument,
              {"96 bytes", "P-256", "64 bytes"});
}

TEST(SignatureEncodingTest, DecodeChecksExactLength) {
  for (EcCurve curve : kAllCurves) {
    const size_t n = 2 * GetEcCurveInfo(curve).field_bytes;
    std::vector<uint8_t> raw(n);
    for (size_t i = 0; i < n; ++i) raw[i] = static_cast<uint8_t>(i * 7 + 1);
    std::string enc = *EncodeSignature(curve, raw);
    absl::StatusOr<std::vector<uint8_t>> dec = DecodeSignature(curve, enc);
    ASSERT_TRUE(dec.ok()) << dec.status();
    EXPECT_EQ(*dec, raw);

    // One byte short (a valid base64url string of n-1 bytes).
    std::string short_enc = Base64UrlEncode(std::span(raw).first(n - 1));
    ExpectError(DecodeSignature(curve, short_enc).status(), absl::StatusCode::kInvalidArgument,
                {absl::StrCat("signature is ", n - 1, " bytes"), absl::StrCat(n, " bytes")});
    // One byte long.
    raw.push_back(0);
    ExpectError(DecodeSignature(curve, Base64UrlEncode(raw)).status(), absl::StatusCode::kInvalidArgument,
                {"signature is", absl::StrCat(n, " bytes")});
  }
  ExpectError(DecodeSignature(EcCurve::kP384, "").status(), absl::StatusCode::kInvalidArgument,
              {"signature is 0 bytes", "96 bytes"});
  ExpectError(DecodeSignature(EcCurve::kP384, "ab+d").status(), absl::StatusCode::kInvalidArgument,
              {"signature", "'+'", "offset 2"});
  ExpectError(DecodeSignature(EcCurve::kP384, std::string(100000, 'A')).status(),
              absl::StatusCode::kInvalidArgument, {"100000 base64url characters", "96 bytes"});
}

// ---------------------------------------------------------------------------------------------------------
// DER <-> raw

TEST(DerSignatureTest, SmallValuesArePaddedAndRoundTrip) {
  // SEQUENCE { INTEGER 1, INTEGER 0x80 (needs a 0x00 sign byte) }
  const std::vector<uint8_t> der = {0x30, 0x07, 0x02, 0x01, 0x01, 0x02, 0x02, 0x00, 0x80};
  for (EcCurve curve : kAllCurves) {
    const size_t fb = GetEcCurveInfo(curve).field_bytes;
    absl::StatusOr<std::vector<uint8_t>> raw = DerToRawSignature(curve, der);
    ASSERT_TRUE(raw.ok()) << raw.status();
    std::vector<uint8_t> expected(2 * fb, 0);
    expected[fb - 1] = 0x01;
    expected[2 * fb - 1] = 0x80;
    EXPECT_EQ(*raw, expected);
    absl::StatusOr<std::vector<uint8_t>> back = RawToDerSignature(curve, *raw);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(*back, der);
  }
}

TEST(DerSignatureTest, FullWidthValuesRoundTrip) {
  for (EcCurve curve : kAllCurves) {
    const size_t fb = GetEcCurveInfo(curve).field_bytes;
    std::vector<uint8_t> raw(2 * fb, 0xff);  // high bit set: DER needs sign bytes
    absl::StatusOr<std::vector<uint8_t>> der = RawToDerSignature(curve, raw);
    ASSERT_TRUE(der.ok()) << der.status();
    absl::StatusOr<std::vector<uint8_t>> back = DerToRawSignature(curve, *der);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(*back, raw);
  }
}

TEST(DerSignatureTest, RejectsMalformedDer) {
  const EcCurve c = EcCurve::kP256;
  // Trailing byte after a valid SEQUENCE.
  ExpectError(DerToRawSignature(c, std::vector<uint8_t>{0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01, 0x00})
                  .status(),
              absl::StatusCode::kInvalidArgument, {"trailing"});
  // Not a SEQUENCE.
  ExpectError(DerToRawSignature(c, std::vector<uint8_t>{0x04, 0x02, 0x01, 0x01}).status(),
              absl::StatusCode::kInvalidArgument, {"not an ECDSA-Sig-Value"});
  ExpectError(DerToRawSignature(c, std::vector<uint8_t>{}).status(), absl::StatusCode::kInvalidArgument,
              {"not an ECDSA-Sig-Value"});
  // Non-minimal INTEGER (superfluous 0x00).
  ExpectError(DerToRawSignature(c, std::vector<uint8_t>{0x30, 0x07, 0x02, 0x02, 0x00, 0x01, 0x02, 0x01, 0x01})
                  .status(),
              absl::StatusCode::kInvalidArgument, {});
  // Non-minimal length (0x81 form for a short SEQUENCE).
  ExpectError(DerToRawSignature(c, std::vector<uint8_t>{0x30, 0x81, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01})
                  .status(),
              absl::StatusCode::kInvalidArgument, {});
  // Negative r.
  ExpectError(
      DerToRawSignature(c, std::vector<uint8_t>{0x30, 0x06, 0x02, 0x01, 0xff, 0x02, 0x01, 0x01}).status(),
      absl::StatusCode::kInvalidArgument, {});
  // Zero s.
  ExpectError(
      DerToRawSignature(c, std::vector<uint8_t>{0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x00}).status(),
      absl::StatusCode::kInvalidArgument, {"s is zero"});
  // Oversize input.
  ExpectError(DerToRawSignature(c, std::vector<uint8_t>(1000, 0x30)).status(),
              absl::StatusCode::kInvalidArgument, {"1000 bytes", "at most"});
}

TEST(DerSignatureTest, RejectsIntegerLongerThanField) {
  // r = 0x01 followed by 32 bytes: 33 significant bytes, too long for P-256 but fine for P-384.
  std::vector<uint8_t> der = {0x30, 0x26, 0x02, 0x21, 0x01};
  der.insert(der.end(), 32, 0x11);
  der.insert(der.end(), {0x02, 0x01, 0x01});
  ExpectError(DerToRawSignature(EcCurve::kP256, der).status(), absl::StatusCode::kInvalidArgument,
              {"r is 33 bytes", "at most 32"});
  EXPECT_TRUE(DerToRawSignature(EcCurve::kP384, der).ok());
}

TEST(DerSignatureTest, RawToDerRejectsBadInput) {
  ExpectError(RawToDerSignature(EcCurve::kP384, std::vector<uint8_t>(64, 1)).status(),
              absl::StatusCode::kInvalidArgument, {"64 bytes", "96 bytes"});
  std::vector<uint8_t> zero_r(64, 1);
  std::fill(zero_r.begin(), zero_r.begin() + 32, 0);
  ExpectError(RawToDerSignature(EcCurve::kP256, zero_r).status(), absl::StatusCode::kInvalidArgument,
              {"r is zero"});
  std::vector<uint8_t> zero_s(64, 1);
  std::fill(zero_s.begin() + 32, zero_s.end(), 0);
  ExpectError(RawToDerSignature(EcCurve::kP256, zero_s).status(), absl::StatusCode::kInvalidArgument,
              {"s is zero"});
}

// ---------------------------------------------------------------------------------------------------------
// Known answer: Autograph's P-384 test signer.

class AutographKnownAnswerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<EvpPkeyPtr> key =
        PublicKeyFromPem(ReadFile(SIGNET_VECTORS_DIR "/autograph-p384-test.pub.pem"));
    ASSERT_TRUE(key.ok()) << key.status();
    key_ = *std::move(key);
  }
  EvpPkeyPtr key_;
};

TEST_F(AutographKnownAnswerTest, Verifies) {
  EXPECT_EQ(*EcCurveOfKey(key_.get()), EcCurve::kP384);
  absl::Status s = VerifyData(key_.get(), EcCurve::kP384, Bytes(kAutographInput), kAutographSignature);
  EXPECT_TRUE(s.ok()) << s;
}

TEST_F(AutographKnownAnswerTest, VerifiesViaHeader) {
  absl::StatusOr<ContentSignatureHeader> h = ParseHeader(
      absl::StrCat("x5u=https://example.com/chain.pem; p384ecdsa=", std::string(kAutographSignature)));
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_TRUE(VerifyData(key_.get(), h->curve, Bytes(kAutographInput), h->signature).ok());
}

TEST_F(AutographKnownAnswerTest, AnyChangedInputByteFails) {
  for (size_t i = 0; i < kAutographInput.size(); ++i) {
    std::vector<uint8_t> data = Bytes(kAutographInput);
    data[i] ^= 0x01;
    absl::Status s = VerifyData(key_.get(), EcCurve::kP384, data, kAutographSignature);
    EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated) << i << ": " << s;
    EXPECT_EQ(s.message(), "signature does not verify");
  }
  std::vector<uint8_t> with_newline = Bytes(kAutographInput);
  with_newline.push_back('\n');
  EXPECT_EQ(VerifyData(key_.get(), EcCurve::kP384, with_newline, kAutographSignature).code(),
            absl::StatusCode::kUnauthenticated);
}

TEST_F(AutographKnownAnswerTest, AnyFlippedSignatureByteFails) {
  std::vector<uint8_t> raw = *DecodeSignature(EcCurve::kP384, kAutographSignature);
  for (size_t i = 0; i < raw.size(); ++i) {
    std::vector<uint8_t> bad = raw;
    bad[i] ^= 0x80;
    absl::Status s = VerifyData(key_.get(), EcCurve::kP384, Bytes(kAutographInput), Base64UrlEncode(bad));
    EXPECT_FALSE(s.ok()) << i;
    EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated) << i << ": " << s;
  }
}

TEST_F(AutographKnownAnswerTest, TruncatedSignatureFailsWithLengthError) {
  std::string_view truncated = kAutographSignature.substr(0, kAutographSignature.size() - 4);  // 93 bytes
  ExpectError(VerifyData(key_.get(), EcCurve::kP384, Bytes(kAutographInput), truncated),
              absl::StatusCode::kInvalidArgument, {"signature is 93 bytes", "96 bytes"});
  ExpectError(VerifyData(key_.get(), EcCurve::kP384, Bytes(kAutographInput),
                         kAutographSignature.substr(0, kAutographSignature.size() - 3)),
              absl::StatusCode::kInvalidArgument,
              {"signature is 125 base64url characters", "96 bytes, 128 characters"});
}

TEST_F(AutographKnownAnswerTest, WrongCurveIsInvalidArgument) {
  // A well-formed P-256 signature checked against this P-384 key.
  std::vector<uint8_t> raw = *DecodeSignature(EcCurve::kP384, kAutographSignature);
  raw.resize(64);
  ExpectError(VerifyData(key_.get(), EcCurve::kP256, Bytes(kAutographInput), Base64UrlEncode(raw)),
              absl::StatusCode::kInvalidArgument, {"key is on P-384", "P-256"});
}

TEST_F(AutographKnownAnswerTest, VerifyDigestChecksInputs) {
  std::vector<uint8_t> raw = *DecodeSignature(EcCurve::kP384, kAutographSignature);
  std::vector<uint8_t> digest = ContentSignatureDigest(EcCurve::kP384, Bytes(kAutographInput));
  EXPECT_TRUE(VerifyDigest(key_.get(), EcCurve::kP384, digest, raw).ok());
  ExpectError(VerifyDigest(key_.get(), EcCurve::kP384, std::span(digest).first(32), raw),
              absl::StatusCode::kInvalidArgument, {"digest is 32 bytes"});
  ExpectError(VerifyDigest(key_.get(), EcCurve::kP384, digest, std::span(raw).first(95)),
              absl::StatusCode::kInvalidArgument, {"95 bytes"});
  ExpectError(VerifyDigest(nullptr, EcCurve::kP384, digest, raw), absl::StatusCode::kInvalidArgument,
              {"not an EC key"});
  std::vector<uint8_t> zeros(96, 0);
  ExpectError(VerifyDigest(key_.get(), EcCurve::kP384, digest, zeros), absl::StatusCode::kInvalidArgument,
              {"zero"});
}

// ---------------------------------------------------------------------------------------------------------
// Header

TEST(HeaderTest, BuildsWithAndWithoutX5u) {
  ContentSignatureHeader h{"https://content-signature.cdn.mozilla.net/chain.pem", EcCurve::kP384, "c2ln"};
  EXPECT_EQ(BuildHeader(h), "x5u=https://content-signature.cdn.mozilla.net/chain.pem;p384ecdsa=c2ln");
  h.x5u.clear();
  EXPECT_EQ(BuildHeader(h), "p384ecdsa=c2ln");
  h.curve = EcCurve::kP521;
  EXPECT_EQ(BuildHeader(h), "p521ecdsa=c2ln");
}

TEST(HeaderTest, RoundTripsForEachCurve) {
  for (EcCurve curve : kAllCurves) {
    std::vector<uint8_t> raw(2 * GetEcCurveInfo(curve).field_bytes, 0x5a);
    for (const std::string& x5u : {std::string(), std::string("https://example.com/a/b.pem?x=1&y=2")}) {
      ContentSignatureHeader h{x5u, curve, *EncodeSignature(curve, raw)};
      absl::StatusOr<ContentSignatureHeader> parsed = ParseHeader(BuildHeader(h));
      ASSERT_TRUE(parsed.ok()) << parsed.status();
      EXPECT_EQ(parsed->x5u, h.x5u);
      EXPECT_EQ(parsed->curve, h.curve);
      EXPECT_EQ(parsed->signature, h.signature);
    }
  }
}

TEST(HeaderTest, AcceptsSpacesAnyOrderAndKeyid) {
  const std::string sig = Base64UrlEncode(std::vector<uint8_t>(64, 7));
  absl::StatusOr<ContentSignatureHeader> h =
      ParseHeader(absl::StrCat("  keyid=abc ; p256ecdsa = ", sig, " ;\tx5u=https://e.com/c.pem  "));
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->x5u, "https://e.com/c.pem");
  EXPECT_EQ(h->curve, EcCurve::kP256);
  EXPECT_EQ(h->signature, sig);
}

TEST(HeaderTest, RejectsUnknownParameter) {
  const std::string sig = Base64UrlEncode(std::vector<uint8_t>(96, 7));
  ExpectError(ParseHeader(absl::StrCat("p384ecdsa=", sig, ";foo=bar")).status(),
              absl::StatusCode::kInvalidArgument, {"unknown parameter 'foo'"});
  // Names are case-sensitive.
  ExpectError(ParseHeader(absl::StrCat("P384ECDSA=", sig)).status(), absl::StatusCode::kInvalidArgument,
              {"unknown parameter 'P384ECDSA'"});
  // Control characters are escaped in the message.
  ExpectError(ParseHeader(absl::StrCat("p384ecdsa=", sig, ";a\x01=b")).status(),
              absl::StatusCode::kInvalidArgument, {"unknown parameter 'a\\x01'"});
}

TEST(HeaderTest, RejectsDuplicateOrMissingSignature) {
  const std::string sig384 = Base64UrlEncode(std::vector<uint8_t>(96, 7));
  const std::string sig256 = Base64UrlEncode(std::vector<uint8_t>(64, 7));
  ExpectError(ParseHeader(absl::StrCat("p384ecdsa=", sig384, ";p384ecdsa=", sig384)).status(),
              absl::StatusCode::kInvalidArgument, {"more than one signature parameter"});
  ExpectError(ParseHeader(absl::StrCat("p256ecdsa=", sig256, ";p384ecdsa=", sig384)).status(),
              absl::StatusCode::kInvalidArgument,
              {"more than one signature parameter", "p256ecdsa", "p384ecdsa"});
  ExpectError(ParseHeader("x5u=https://e.com/c.pem").status(), absl::StatusCode::kInvalidArgument,
              {"no signature parameter"});
  ExpectError(ParseHeader("").status(), absl::StatusCode::kInvalidArgument, {"empty parameter"});
  ExpectError(ParseHeader(absl::StrCat("x5u=a;x5u=b;p384ecdsa=", sig384)).status(),
              absl::StatusCode::kInvalidArgument, {"x5u appears more than once"});
}

TEST(HeaderTest, RejectsMissingEqualsAndEmptyValues) {
  const std::string sig = Base64UrlEncode(std::vector<uint8_t>(96, 7));
  ExpectError(ParseHeader(absl::StrCat("x5u;p384ecdsa=", sig)).status(), absl::StatusCode::kInvalidArgument,
              {"'x5u' has no '='"});
  ExpectError(ParseHeader(absl::StrCat("x5u=;p384ecdsa=", sig)).status(), absl::StatusCode::kInvalidArgument,
              {"'x5u' has an empty value"});
  ExpectError(ParseHeader("p384ecdsa=").status(), absl::StatusCode::kInvalidArgument,
              {"'p384ecdsa' has an empty value"});
  ExpectError(ParseHeader(absl::StrCat("=x;p384ecdsa=", sig)).status(), absl::StatusCode::kInvalidArgument,
              {"empty name"});
  ExpectError(ParseHeader(absl::StrCat("p384ecdsa=", sig, ";")).status(), absl::StatusCode::kInvalidArgument,
              {"empty parameter"});
}

TEST(HeaderTest, RejectsOversize) {
  const std::string sig = Base64UrlEncode(std::vector<uint8_t>(96, 7));
  std::string big = absl::StrCat("x5u=https://e.com/", std::string(kMaxHeaderBytes, 'a'), ";p384ecdsa=", sig);
  ExpectError(ParseHeader(big).status(), absl::StatusCode::kInvalidArgument, {"limit of 16384"});
  // Just under the limit is fine.
  std::string x5u(kMaxHeaderBytes - sig.size() - std::string_view("x5u=;p384ecdsa=").size(), 'a');
  std::string at_limit = absl::StrCat("x5u=", x5u, ";p384ecdsa=", sig);
  ASSERT_EQ(at_limit.size(), kMaxHeaderBytes);
  EXPECT_TRUE(ParseHeader(at_limit).ok());
}

TEST(HeaderTest, RejectsBadSignatureValue) {
  ExpectError(ParseHeader("p384ecdsa=not+base64").status(), absl::StatusCode::kInvalidArgument,
              {"p384ecdsa", "'+'"});
  ExpectError(ParseHeader("p384ecdsa=Zg==").status(), absl::StatusCode::kInvalidArgument,
              {"p384ecdsa", "padding"});
  // Right encoding, wrong length for the curve named.
  const std::string sig256 = Base64UrlEncode(std::vector<uint8_t>(64, 7));
  ExpectError(ParseHeader(absl::StrCat("p384ecdsa=", sig256)).status(), absl::StatusCode::kInvalidArgument,
              {"p384ecdsa", "64 bytes", "96 bytes"});
}

}  // namespace
}  // namespace signet::signing
