#include "signing/chain.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdint>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/ec_curve.h"
#include "common/openssl_error.h"
#include "common/openssl_ptr.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "signing/content_signature.h"
#include "signing/signer.h"
#include "signing/software_signer.h"

namespace signet::signing {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::StartsWith;

const absl::Time kNow = absl::FromCivil(absl::CivilSecond(2030, 6, 1, 12, 0, 0), absl::UTCTimeZone());
constexpr char kEeName[] = "remote-settings.content-signature.example.org";

std::vector<uint8_t> Bytes(std::string_view s) { return {s.begin(), s.end()}; }
std::string Msg(const absl::Status& s) { return std::string(s.message()); }

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// Every rule failure is InvalidArgument and names its rule first.
void ExpectRule(const absl::Status& s, std::string_view rule,
                std::initializer_list<std::string_view> parts = {}) {
  ASSERT_FALSE(s.ok()) << "expected rule " << rule << " to fail";
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_THAT(Msg(s), StartsWith("rule " + std::string(rule) + ": ")) << s;
  for (std::string_view part : parts) EXPECT_THAT(Msg(s), HasSubstr(std::string(part))) << s;
}

template <typename T>
void ExpectRule(const absl::StatusOr<T>& s, std::string_view rule,
                std::initializer_list<std::string_view> parts = {}) {
  ExpectRule(s.status(), rule, parts);
}

// ---------------------------------------------------------------------------------------------------------
// A software PKI shaped like Mozilla's: P-384 root, P-384 intermediate (pathLen 0, codeSigning, name
// constraint), EE with a DNS SAN, digitalSignature and codeSigning. Options break one thing at a time.

void Must(bool ok, const char* what) {
  if (!ok) OpenSslInvariantFailure(what);
}

struct CertSpec {
  std::string cn;
  EVP_PKEY* subject_key = nullptr;
  const X509* issuer = nullptr;    // nullptr: self-issued
  std::string issuer_cn_override;  // non-empty: this issuer name instead
  EVP_PKEY* signing_key = nullptr;
  std::vector<std::pair<int, std::string>> extensions;  // NID and OpenSSL config value; empty value: skip
  absl::Time not_before;
  absl::Time not_after;
};

X509NamePtr CnName(const std::string& cn) {
  X509NamePtr name(X509_NAME_new());
  Must(name != nullptr, "X509_NAME_new");
  Must(X509_NAME_add_entry_by_txt(name.get(), "O", MBSTRING_ASC,
                                  reinterpret_cast<const unsigned char*>("Signet Test"), -1, -1, 0) == 1,
       "X509_NAME_add_entry_by_txt");
  Must(X509_NAME_add_entry_by_txt(name.get(), "CN", MBSTRING_ASC,
                                  reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0) == 1,
       "X509_NAME_add_entry_by_txt");
  return name;
}

X509Ptr MakeCert(const CertSpec& spec) {
  static long serial = 1;
  X509Ptr cert(X509_new());
  Must(cert != nullptr, "X509_new");
  Must(X509_set_version(cert.get(), X509_VERSION_3) == 1, "X509_set_version");
  Must(ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial++) == 1, "ASN1_INTEGER_set");
  Must(ASN1_TIME_set(X509_getm_notBefore(cert.get()), absl::ToTimeT(spec.not_before)) != nullptr,
       "notBefore");
  Must(ASN1_TIME_set(X509_getm_notAfter(cert.get()), absl::ToTimeT(spec.not_after)) != nullptr, "notAfter");
  X509NamePtr subject = CnName(spec.cn);
  Must(X509_set_subject_name(cert.get(), subject.get()) == 1, "X509_set_subject_name");
  if (!spec.issuer_cn_override.empty()) {
    Must(X509_set_issuer_name(cert.get(), CnName(spec.issuer_cn_override).get()) == 1,
         "X509_set_issuer_name");
  } else if (spec.issuer != nullptr) {
    Must(X509_set_issuer_name(cert.get(), X509_get_subject_name(spec.issuer)) == 1, "X509_set_issuer_name");
  } else {
    Must(X509_set_issuer_name(cert.get(), subject.get()) == 1, "X509_set_issuer_name");
  }
  Must(X509_set_pubkey(cert.get(), spec.subject_key) == 1, "X509_set_pubkey");
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, nullptr, cert.get(), nullptr, nullptr, 0);
  for (const auto& [nid, value] : spec.extensions) {
    if (value.empty()) continue;
    X509ExtensionPtr ext(X509V3_EXT_nconf_nid(nullptr, &ctx, nid, value.c_str()));
    Must(ext != nullptr, value.c_str());
    Must(X509_add_ext(cert.get(), ext.get(), -1) == 1, "X509_add_ext");
  }
  Must(X509_sign(cert.get(), spec.signing_key, EVP_sha384()) > 0, "X509_sign");
  return cert;
}

std::string CertPem(const X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  Must(bio != nullptr && PEM_write_bio_X509(bio.get(), cert) == 1, "PEM_write_bio_X509");
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

// Arbitrary bytes as a CERTIFICATE block.
std::string DerPem(const std::vector<uint8_t>& der) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  Must(bio != nullptr &&
           PEM_write_bio(bio.get(), "CERTIFICATE", "", der.data(), static_cast<long>(der.size())) > 0,
       "PEM_write_bio");
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

// Computed here with OpenSSL directly, not with the code under test.
std::vector<uint8_t> Sha256Der(const X509* cert) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  Must(X509_digest(cert, EVP_sha256(), md, &len) == 1, "X509_digest");
  return {md, md + len};
}

EvpPkeyPtr NewP384Key() {
  EvpPkeyPtr key(EVP_EC_gen("P-384"));
  Must(key != nullptr, "EVP_EC_gen");
  return key;
}

struct ChainOptions {
  EcCurve ee_curve = EcCurve::kP256;
  bool ee_rsa = false;
  std::string ee_san = absl::StrCat("DNS:", kEeName);
  std::string ee_bc = "critical,CA:FALSE";
  std::string ee_eku = "critical,codeSigning";
  std::string inter_bc = "critical,CA:TRUE,pathlen:0";
  std::string inter_ku = "critical,keyCertSign,cRLSign";
  std::string inter_eku = "critical,codeSigning";
  std::string inter_nc = "critical,permitted;DNS:.content-signature.example.org";
  std::string inter_san;
  std::string root_bc = "critical,CA:TRUE";
  std::string root_nc;
  absl::Duration ee_starts_in = -absl::Hours(24 * 30);
  absl::Duration ee_lasts = absl::Hours(24 * 60);
  absl::Duration inter_starts_in = -absl::Hours(24 * 365);
  absl::Duration inter_lasts = absl::Hours(24 * 365 * 2);
  bool ee_signed_by_stranger = false;
  bool root_signed_by_stranger = false;
  std::string root_issuer_cn;  // non-empty: the root names another issuer
};

struct TestChain {
  EvpPkeyPtr root_key, inter_key;
  std::unique_ptr<SoftwareSigner> ee_signer;  // null for an RSA EE
  EvpPkeyPtr ee_rsa_key;
  X509Ptr root, inter, ee;

  std::string Pem() const { return CertPem(ee.get()) + CertPem(inter.get()) + CertPem(root.get()); }
  ChainPolicy Policy() const { return ChainPolicy{Sha256Der(root.get()), kEeName, kNow}; }
};

TestChain BuildChain(const ChainOptions& o = {}) {
  TestChain c;
  c.root_key = NewP384Key();
  c.inter_key = NewP384Key();
  EvpPkeyPtr stranger = NewP384Key();
  const std::string root_cn = "Signet Test Content-Signature Root";

  c.root = MakeCert({root_cn,
                     c.root_key.get(),
                     nullptr,
                     o.root_issuer_cn,
                     o.root_signed_by_stranger ? stranger.get() : c.root_key.get(),
                     {{NID_basic_constraints, o.root_bc},
                      {NID_key_usage, "critical,keyCertSign,cRLSign"},
                      {NID_ext_key_usage, "codeSigning"},
                      {NID_name_constraints, o.root_nc}},
                     kNow - absl::Hours(24 * 3650),
                     kNow + absl::Hours(24 * 3650)});
  c.inter = MakeCert({"Signet Test Content-Signature Intermediate",
                      c.inter_key.get(),
                      c.root.get(),
                      "",
                      c.root_key.get(),
                      {{NID_basic_constraints, o.inter_bc},
                       {NID_key_usage, o.inter_ku},
                       {NID_ext_key_usage, o.inter_eku},
                       {NID_name_constraints, o.inter_nc},
                       {NID_subject_alt_name, o.inter_san}},
                      kNow + o.inter_starts_in,
                      kNow + o.inter_starts_in + o.inter_lasts});
  EVP_PKEY* ee_key = nullptr;
  if (o.ee_rsa) {
    c.ee_rsa_key.reset(EVP_RSA_gen(2048));
    Must(c.ee_rsa_key != nullptr, "EVP_RSA_gen");
    ee_key = c.ee_rsa_key.get();
  } else {
    absl::StatusOr<std::unique_ptr<SoftwareSigner>> signer = SoftwareSigner::Generate(o.ee_curve);
    Must(signer.ok(), "SoftwareSigner::Generate");
    c.ee_signer = *std::move(signer);
    ee_key = c.ee_signer->key();
  }
  c.ee = MakeCert({kEeName,
                   ee_key,
                   c.inter.get(),
                   "",
                   o.ee_signed_by_stranger ? stranger.get() : c.inter_key.get(),
                   {{NID_basic_constraints, o.ee_bc},
                    {NID_key_usage, "critical,digitalSignature"},
                    {NID_ext_key_usage, o.ee_eku},
                    {NID_subject_alt_name, o.ee_san}},
                   kNow + o.ee_starts_in,
                   kNow + o.ee_starts_in + o.ee_lasts});
  return c;
}

// The PEM blocks of a file, each with its trailing newline.
std::vector<std::string> PemBlocks(std::string_view pem) {
  std::vector<std::string> out;
  constexpr std::string_view kEnd = "-----END CERTIFICATE-----\n";
  size_t start = 0;
  size_t end = 0;
  while ((end = pem.find(kEnd, start)) != std::string_view::npos) {
    size_t begin = pem.find("-----BEGIN", start);
    out.emplace_back(pem.substr(begin, end + kEnd.size() - begin));
    start = end + kEnd.size();
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Fingerprints

constexpr char kNormandyRootSha256[] =
    "4C:35:B1:C3:E3:12:D9:55:E7:78:ED:D0:A7:E7:8A:38:83:04:EF:01:BF:FA:03:29:B2:46:9F:3C:C5:EC:36:04";

TEST(ParseSha256FingerprintTest, AcceptsColonsAndEitherCase) {
  const std::vector<uint8_t> expected = {0x4c, 0x35, 0xb1, 0xc3, 0xe3, 0x12, 0xd9, 0x55, 0xe7, 0x78, 0xed,
                                         0xd0, 0xa7, 0xe7, 0x8a, 0x38, 0x83, 0x04, 0xef, 0x01, 0xbf, 0xfa,
                                         0x03, 0x29, 0xb2, 0x46, 0x9f, 0x3c, 0xc5, 0xec, 0x36, 0x04};
  for (std::string_view text :
       {std::string_view(kNormandyRootSha256),
        std::string_view(
            "4c:35:b1:c3:e3:12:d9:55:e7:78:ed:d0:a7:e7:8a:38:83:04:ef:01:bf:fa:03:29:b2:46:9f:3c:"
            "c5:ec:36:04"),
        std::string_view("4c35b1c3e312d955e778edd0a7e78a388304ef01bffa0329b2469f3cc5ec3604"),
        std::string_view("4C35B1C3E312D955E778EDD0A7E78A388304EF01BFFA0329B2469F3CC5EC3604")}) {
    absl::StatusOr<std::vector<uint8_t>> got = ParseSha256Fingerprint(text);
    ASSERT_TRUE(got.ok()) << text << ": " << got.status();
    EXPECT_EQ(*got, expected) << text;
  }
}

TEST(ParseSha256FingerprintTest, RejectsWrongLength) {
  const std::string full(kNormandyRootSha256);
  const struct {
    std::string text;
    std::string problem;
  } cases[] = {
      {"", "0 hex digits, not 64"},
      {std::string(62, 'a'), "62 hex digits, not 64"},
      {std::string(66, 'a'), "66 hex digits, not 64"},
      {full.substr(0, full.size() - 3), "31 colon-separated pairs"},
      {full + ":AB", "33 colon-separated pairs"},
      {full + ":", "trailing ':'"},
      {full + ":A", "a lone digit"},
      {"4C:35B1" + full.substr(7), "expected ':'"},
      {"4C::35" + full.substr(5), "misplaced ':'"},
  };
  for (const auto& c : cases) {
    absl::StatusOr<std::vector<uint8_t>> got = ParseSha256Fingerprint(c.text);
    ASSERT_FALSE(got.ok()) << c.text;
    EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(Msg(got.status()), AllOf(HasSubstr("SHA-256 fingerprint"), HasSubstr(c.problem))) << c.text;
  }
}

TEST(ParseSha256FingerprintTest, RejectsNonHex) {
  std::string text(64, 'a');
  text[10] = 'g';
  absl::StatusOr<std::vector<uint8_t>> got = ParseSha256Fingerprint(text);
  ASSERT_FALSE(got.ok());
  EXPECT_THAT(Msg(got.status()), HasSubstr("invalid character 'g' at offset 10"));
  EXPECT_FALSE(ParseSha256Fingerprint(" " + std::string(64, 'a')).ok());
  EXPECT_FALSE(ParseSha256Fingerprint("sha256 Fingerprint=" + std::string(kNormandyRootSha256)).ok());
}

TEST(CertSha256FingerprintTest, IsUpperCaseColonSeparatedSha256OfTheDer) {
  absl::StatusOr<CertChain> chain =
      ParseChainPem(ReadFile(SIGNET_VECTORS_DIR "/normandy-dev-2021.chain.pem"));
  ASSERT_TRUE(chain.ok()) << chain.status();
  EXPECT_EQ(CertSha256Fingerprint(chain->root.get()), kNormandyRootSha256);

  TestChain c = BuildChain();
  const std::string fp = CertSha256Fingerprint(c.root.get());
  absl::StatusOr<std::vector<uint8_t>> parsed = ParseSha256Fingerprint(fp);
  ASSERT_TRUE(parsed.ok()) << fp;
  EXPECT_EQ(*parsed, Sha256Der(c.root.get()));
  EXPECT_EQ(fp.size(), 95u);
}

// ---------------------------------------------------------------------------------------------------------
// The real chain from Mozilla's dev PKI

class NormandyChainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pem_ = ReadFile(SIGNET_VECTORS_DIR "/normandy-dev-2021.chain.pem");
    ASSERT_FALSE(pem_.empty());
    absl::StatusOr<std::vector<uint8_t>> pin = ParseSha256Fingerprint(kNormandyRootSha256);
    ASSERT_TRUE(pin.ok());
    policy_.root_sha256 = *pin;
    policy_.ee_name = "normandy.content-signature.mozilla.org";
    policy_.at = absl::FromCivil(absl::CivilSecond(2020, 5, 9, 14, 2, 37), absl::UTCTimeZone());
  }
  std::string pem_;
  ChainPolicy policy_;
};

TEST_F(NormandyChainTest, VerifiesAtSigningTime) {
  absl::StatusOr<VerifiedChain> v = VerifyChainPem(pem_, policy_);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->curve, EcCurve::kP384);
  ASSERT_NE(v->ee_public_key, nullptr);
  EXPECT_EQ(v->ee_not_after, absl::FromCivil(absl::CivilSecond(2021, 7, 5, 21, 57, 15), absl::UTCTimeZone()));
  EXPECT_EQ(v->intermediate_not_after,
            absl::FromCivil(absl::CivilSecond(2021, 7, 5, 21, 49, 26), absl::UTCTimeZone()));
  EXPECT_EQ(v->root_not_after,
            absl::FromCivil(absl::CivilSecond(2026, 7, 4, 18, 15, 22), absl::UTCTimeZone()));
}

TEST_F(NormandyChainTest, FailsTodayBecauseExpired) {
  policy_.at = absl::Now();
  ExpectRule(VerifyChainPem(pem_, policy_), "validity",
             {"the ee certificate expired at 2021-07-05T21:57:15Z"});
}

TEST_F(NormandyChainTest, FailsWithAnyOtherRootHash) {
  for (size_t i : {size_t{0}, size_t{17}, size_t{31}}) {
    ChainPolicy p = policy_;
    p.root_sha256[i] ^= 0x01;
    ExpectRule(VerifyChainPem(pem_, p), "root-pin", {kNormandyRootSha256, "but the pinned value is"});
  }
}

TEST_F(NormandyChainTest, FailsReordered) {
  std::vector<std::string> b = PemBlocks(pem_);
  ASSERT_EQ(b.size(), 3u);
  ExpectRule(VerifyChainPem(b[1] + b[0] + b[2], policy_), "chain-order",
             {"certificate 1 (ee) \"CN=Devzilla Signing Services Intermediate 1,",
              "end entity, intermediate, root"});
  ExpectRule(VerifyChainPem(b[0] + b[2] + b[1], policy_), "chain-order");
  ExpectRule(VerifyChainPem(b[2] + b[1] + b[0], policy_), "chain-order");
}

TEST_F(NormandyChainTest, FailsWithRootRepeated) {
  std::vector<std::string> b = PemBlocks(pem_);
  ASSERT_EQ(b.size(), 3u);
  ExpectRule(VerifyChainPem(pem_ + b[2], policy_), "count", {"found 4 certificates"});
}

TEST_F(NormandyChainTest, FailsForAnotherName) {
  policy_.ee_name = "remote-settings.content-signature.mozilla.org";
  ExpectRule(VerifyChainPem(pem_, policy_), "ee-name",
             {"'normandy.content-signature.mozilla.org'", "'remote-settings.content-signature.mozilla.org'"});
}

TEST_F(NormandyChainTest, FailsWithTrailingGarbage) {
  ExpectRule(VerifyChainPem(pem_ + "garbage\n", policy_), "format", {"after certificate 3"});
}

// ---------------------------------------------------------------------------------------------------------
// ParseChainPem: size, format, count

TEST(ParseChainPemTest, ParsesThreeCertificatesInOrder) {
  TestChain c = BuildChain();
  absl::StatusOr<CertChain> chain = ParseChainPem(c.Pem());
  ASSERT_TRUE(chain.ok()) << chain.status();
  EXPECT_EQ(X509_cmp(chain->ee.get(), c.ee.get()), 0);
  EXPECT_EQ(X509_cmp(chain->intermediate.get(), c.inter.get()), 0);
  EXPECT_EQ(X509_cmp(chain->root.get(), c.root.get()), 0);
}

TEST(ParseChainPemTest, AcceptsWhitespaceAroundBlocksAndCrlf) {
  TestChain c = BuildChain();
  std::string crlf;
  for (char ch : c.Pem()) {
    if (ch == '\n') crlf += '\r';
    crlf += ch;
  }
  EXPECT_TRUE(ParseChainPem(crlf).ok()) << ParseChainPem(crlf).status();
  const std::string spaced =
      "\n\n  " + CertPem(c.ee.get()) + "\n\t\n" + CertPem(c.inter.get()) + CertPem(c.root.get()) + "\n \n";
  EXPECT_TRUE(ParseChainPem(spaced).ok()) << ParseChainPem(spaced).status();
}

TEST(ParseChainPemTest, RejectsOversizeInput) {
  TestChain c = BuildChain();
  std::string pem = c.Pem();
  pem.append(kMaxChainBytes - pem.size(), '\n');
  EXPECT_TRUE(ParseChainPem(pem).ok());  // exactly at the bound
  pem.push_back('\n');
  ExpectRule(ParseChainPem(pem), "size", {"131073 bytes", "131072"});
}

TEST(ParseChainPemTest, RejectsWrongCount) {
  TestChain c = BuildChain();
  ExpectRule(ParseChainPem(""), "count", {"found 0 certificates"});
  ExpectRule(ParseChainPem(CertPem(c.ee.get()) + CertPem(c.inter.get())), "count", {"found 2"});
  ExpectRule(ParseChainPem(c.Pem() + CertPem(c.root.get())), "count", {"found 4"});
}

TEST(ParseChainPemTest, RejectsTextAroundBlocks) {
  TestChain c = BuildChain();
  ExpectRule(ParseChainPem(c.Pem() + "trailing data"), "format", {"after certificate 3", "'trailing data'"});
  ExpectRule(ParseChainPem("subject=CN=x\n" + c.Pem()), "format", {"line 1", "before the first certificate"});
  ExpectRule(
      ParseChainPem(CertPem(c.ee.get()) + "between\n" + CertPem(c.inter.get()) + CertPem(c.root.get())),
      "format", {"after certificate 1"});
  std::string glued = c.Pem();
  glued.pop_back();  // the last END line now runs into the next bytes
  ExpectRule(ParseChainPem(glued + "x\n"), "format", {"END line"});
}

TEST(ParseChainPemTest, RejectsNonCertificateBlocks) {
  TestChain c = BuildChain();
  BioPtr bio(BIO_new(BIO_s_mem()));
  ASSERT_EQ(PEM_write_bio_PUBKEY(bio.get(), c.inter_key.get()), 1);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  const std::string pubkey(data, static_cast<size_t>(len));
  ExpectRule(ParseChainPem(c.Pem() + pubkey), "format",
             {"'-----BEGIN PUBLIC KEY-----'", "not a CERTIFICATE"});
  ExpectRule(ParseChainPem(CertPem(c.ee.get()) + pubkey + CertPem(c.inter.get()) + CertPem(c.root.get())),
             "format", {"PUBLIC KEY"});
  std::string trusted = CertPem(c.ee.get());
  trusted.replace(trusted.find("CERTIFICATE"), 11, "TRUSTED CERTIFICATE");
  ExpectRule(ParseChainPem(trusted + CertPem(c.inter.get()) + CertPem(c.root.get())), "format",
             {"TRUSTED CERTIFICATE"});
}

TEST(ParseChainPemTest, RejectsBadBodies) {
  TestChain c = BuildChain();
  const std::string rest = CertPem(c.inter.get()) + CertPem(c.root.get());
  const std::string ee = CertPem(c.ee.get());
  // DER that is not a certificate.
  ExpectRule(ParseChainPem("-----BEGIN CERTIFICATE-----\nAAECAwQF\n-----END CERTIFICATE-----\n" + rest),
             "format", {"certificate 1 (ee) is not a DER X.509 certificate"});
  // A whole certificate followed by extra bytes inside the same block.
  unsigned char* der = nullptr;
  int der_len = i2d_X509(c.ee.get(), &der);
  ASSERT_GT(der_len, 0);
  OpenSslBytesPtr owned(der);
  std::vector<uint8_t> padded(der, der + der_len);
  padded.insert(padded.end(), {0x00, 0x00, 0x00});
  ExpectRule(ParseChainPem(DerPem(padded) + rest), "format",
             {"certificate 1 (ee) has 3 bytes of trailing data after the certificate's DER"});
  // Encapsulated headers (old encrypted-PEM style) are not base64.
  std::string with_header = ee;
  with_header.insert(with_header.find('\n') + 1, "Proc-Type: 4,ENCRYPTED\n\n");
  ExpectRule(ParseChainPem(with_header + rest), "format", {"line 2", "which is not base64"});
  // Truncated body: padding no longer adds up.
  std::string truncated = ee;
  truncated.erase(truncated.find("\n-----END") - 1, 1);
  ExpectRule(ParseChainPem(truncated + rest), "format", {"certificate 1 (ee)"});
  // No END line at all.
  ExpectRule(ParseChainPem(ee.substr(0, ee.find("-----END"))), "format",
             {"no \"-----END CERTIFICATE-----\" line"});
  // Empty block.
  ExpectRule(ParseChainPem("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n" + rest), "format",
             {"empty body"});
}

// ---------------------------------------------------------------------------------------------------------
// VerifyChain on the software chain: one broken property at a time, each failing its own rule.

absl::StatusOr<VerifiedChain> Verify(const TestChain& c) { return VerifyChainPem(c.Pem(), c.Policy()); }

TEST(VerifyChainTest, GoodChainVerifies) {
  for (EcCurve curve : {EcCurve::kP256, EcCurve::kP384, EcCurve::kP521}) {
    ChainOptions o;
    o.ee_curve = curve;
    TestChain c = BuildChain(o);
    absl::StatusOr<VerifiedChain> v = Verify(c);
    ASSERT_TRUE(v.ok()) << GetEcCurveInfo(curve).name << ": " << v.status();
    EXPECT_EQ(v->curve, curve);
    EXPECT_EQ(EVP_PKEY_eq(v->ee_public_key.get(), c.ee_signer->key()), 1);
    EXPECT_EQ(v->ee_not_after, kNow + o.ee_starts_in + o.ee_lasts);
    EXPECT_EQ(v->intermediate_not_after, kNow + o.inter_starts_in + o.inter_lasts);
    EXPECT_EQ(v->root_not_after, kNow + absl::Hours(24 * 3650));
  }
}

TEST(VerifyChainTest, ParsedChainVerifiesLikePem) {
  TestChain c = BuildChain();
  absl::StatusOr<CertChain> chain = ParseChainPem(c.Pem());
  ASSERT_TRUE(chain.ok());
  EXPECT_TRUE(VerifyChain(*chain, c.Policy()).ok());
  chain->intermediate.reset();
  ExpectRule(VerifyChain(*chain, c.Policy()), "count", {"no intermediate certificate"});
}

TEST(VerifyChainTest, WrongRootHash) {
  TestChain c = BuildChain();
  ChainPolicy p = c.Policy();
  p.root_sha256.assign(32, 0x11);
  ExpectRule(VerifyChainPem(c.Pem(), p), "root-pin",
             {absl::StrCat("the root's SHA-256 is ", CertSha256Fingerprint(c.root.get())),
              "but the pinned value is 11:11:11:"});
  p.root_sha256.resize(20);
  ExpectRule(VerifyChainPem(c.Pem(), p), "root-pin", {"20 bytes"});
}

TEST(VerifyChainTest, ValidityAtTheEdges) {
  ChainOptions o;
  TestChain c = BuildChain(o);
  ChainPolicy p = c.Policy();
  const absl::Time ee_start = kNow + o.ee_starts_in;
  const absl::Time ee_end = ee_start + o.ee_lasts;
  p.at = ee_start;
  EXPECT_TRUE(VerifyChainPem(c.Pem(), p).ok());
  p.at = ee_end;
  EXPECT_TRUE(VerifyChainPem(c.Pem(), p).ok());
  p.at = ee_end + absl::Seconds(1);
  ExpectRule(
      VerifyChainPem(c.Pem(), p), "validity",
      {"the ee certificate expired at 2030-07-01T12:00:00Z", "verification time 2030-07-01T12:00:01Z"});
  p.at = ee_start - absl::Seconds(1);
  ExpectRule(VerifyChainPem(c.Pem(), p), "validity",
             {"the ee certificate is not valid until 2030-05-02T12:00:00Z"});
}

TEST(VerifyChainTest, ExpiredIntermediateIsNamed) {
  ChainOptions o;
  o.inter_starts_in = -absl::Hours(24 * 400);
  o.inter_lasts = absl::Hours(24 * 365);
  ExpectRule(Verify(BuildChain(o)), "validity", {"the intermediate certificate expired at"});
}

TEST(VerifyChainTest, NotYetValidEe) {
  ChainOptions o;
  o.ee_starts_in = absl::Hours(1);
  ExpectRule(Verify(BuildChain(o)), "validity",
             {"the ee certificate is not valid until 2030-06-01T13:00:00Z"});
}

TEST(VerifyChainTest, Reordered) {
  TestChain c = BuildChain();
  const std::string ee = CertPem(c.ee.get());
  const std::string inter = CertPem(c.inter.get());
  const std::string root = CertPem(c.root.get());
  ExpectRule(VerifyChainPem(inter + ee + root, c.Policy()), "chain-order",
             {"end entity, intermediate, root"});
  ExpectRule(VerifyChainPem(ee + root + inter, c.Policy()), "chain-order",
             {"certificate 1 (ee) \"CN=remote-settings.content-signature.example.org,O=Signet Test\" was "
              "issued by \"CN=Signet Test Content-Signature Intermediate,O=Signet Test\", but certificate 2 "
              "(intermediate) is \"CN=Signet Test Content-Signature Root,O=Signet Test\""});
  ExpectRule(VerifyChainPem(root + inter + ee, c.Policy()), "chain-order");
}

TEST(VerifyChainTest, DuplicatedRoot) {
  TestChain c = BuildChain();
  ExpectRule(VerifyChainPem(c.Pem() + CertPem(c.root.get()), c.Policy()), "count", {"found 4 certificates"});
}

TEST(VerifyChainTest, ExtraTrailingData) {
  TestChain c = BuildChain();
  ExpectRule(VerifyChainPem(c.Pem() + "\x01\x02", c.Policy()), "format");
}

TEST(VerifyChainTest, NonCertificatePemBlock) {
  TestChain c = BuildChain();
  ExpectRule(VerifyChainPem(c.Pem() + "-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n", c.Policy()),
             "format", {"X509 CRL"});
}

TEST(VerifyChainTest, WrongEeName) {
  TestChain c = BuildChain();
  ChainPolicy p = c.Policy();
  p.ee_name = "normandy.content-signature.example.org";
  ExpectRule(VerifyChainPem(c.Pem(), p), "ee-name",
             {"'remote-settings.content-signature.example.org'",
              "none is 'normandy.content-signature.example.org'"});
  p.ee_name = "";
  ExpectRule(VerifyChainPem(c.Pem(), p), "ee-name", {"no expected end-entity name"});
  // Only DNS SANs count, never the subject CN (which here equals the name).
  ChainOptions o;
  o.ee_san = "email:ops@content-signature.example.org";
  ExpectRule(Verify(BuildChain(o)), "ee-name", {"no DNS subjectAltName"});
}

TEST(VerifyChainTest, EeNameIsAsciiCaseInsensitiveButExact) {
  TestChain c = BuildChain();
  ChainPolicy p = c.Policy();
  p.ee_name = "Remote-Settings.Content-Signature.EXAMPLE.org";
  EXPECT_TRUE(VerifyChainPem(c.Pem(), p).ok());
  for (const char* near : {"content-signature.example.org", "remote-settings.content-signature.example.org.",
                           "remote-settings.content-signature.example.or"}) {
    p.ee_name = near;
    ExpectRule(VerifyChainPem(c.Pem(), p), "ee-name");
  }
}

TEST(VerifyChainTest, EeOutsideTheIntermediatesNameConstraint) {
  ChainOptions o;
  o.ee_san = "DNS:remote-settings.evil.example.com";
  TestChain c = BuildChain(o);
  ChainPolicy p = c.Policy();
  p.ee_name = "remote-settings.evil.example.com";
  ExpectRule(VerifyChainPem(c.Pem(), p), "name-constraints",
             {"the ee violates the intermediate's nameConstraints", "'remote-settings.evil.example.com'"});
  // The constraint is what fails: without it the same chain verifies.
  o.inter_nc.clear();
  TestChain unconstrained = BuildChain(o);
  p = unconstrained.Policy();
  p.ee_name = "remote-settings.evil.example.com";
  EXPECT_TRUE(VerifyChainPem(unconstrained.Pem(), p).ok());
}

TEST(VerifyChainTest, RootNameConstraintsBindIntermediateAndEe) {
  ChainOptions o;
  o.inter_nc.clear();
  o.root_nc = "critical,permitted;DNS:.other.example.net";
  ExpectRule(Verify(BuildChain(o)), "name-constraints", {"the ee violates the root's nameConstraints"});
  o.root_nc = "critical,permitted;DNS:.content-signature.example.org";
  EXPECT_TRUE(Verify(BuildChain(o)).ok());
  o.inter_san = "DNS:intermediate.other.example.net";
  ExpectRule(Verify(BuildChain(o)), "name-constraints",
             {"the intermediate violates the root's nameConstraints", "'intermediate.other.example.net'"});
}

TEST(VerifyChainTest, MissingCodeSigningEku) {
  ChainOptions o;
  o.ee_eku = "critical,serverAuth";
  ExpectRule(Verify(BuildChain(o)), "code-signing-eku",
             {"the ee's extendedKeyUsage does not include codeSigning"});
  o.ee_eku.clear();
  ExpectRule(Verify(BuildChain(o)), "code-signing-eku", {"the ee has no extendedKeyUsage extension"});
  o.ee_eku = "critical,anyExtendedKeyUsage";
  ExpectRule(Verify(BuildChain(o)), "code-signing-eku");
}

TEST(VerifyChainTest, IntermediateEkuWithoutCodeSigning) {
  ChainOptions o;
  o.inter_eku = "serverAuth,clientAuth";
  ExpectRule(Verify(BuildChain(o)), "code-signing-eku",
             {"the intermediate's extendedKeyUsage does not include codeSigning"});
  // No EKU extension on a CA does not restrict it.
  o.inter_eku.clear();
  EXPECT_TRUE(Verify(BuildChain(o)).ok());
}

TEST(VerifyChainTest, RsaEeKey) {
  ChainOptions o;
  o.ee_rsa = true;
  ExpectRule(Verify(BuildChain(o)), "ee-key", {"RSA", "ECDSA on P-256, P-384 or P-521"});
}

TEST(VerifyChainTest, IntermediateNotACa) {
  ChainOptions o;
  o.inter_bc = "critical,CA:FALSE";
  ExpectRule(Verify(BuildChain(o)), "ca", {"the intermediate is not a CA"});
  o.inter_bc.clear();
  ExpectRule(Verify(BuildChain(o)), "ca", {"the intermediate is not a CA"});
}

TEST(VerifyChainTest, CaKeyUsageAndPathLen) {
  ChainOptions o;
  o.inter_ku = "critical,digitalSignature,cRLSign";
  ExpectRule(Verify(BuildChain(o)), "ca", {"the intermediate's keyUsage does not include keyCertSign"});
  o = {};
  o.inter_ku.clear();  // no keyUsage: no restriction
  EXPECT_TRUE(Verify(BuildChain(o)).ok());
  o = {};
  o.root_bc = "critical,CA:TRUE,pathlen:0";
  ExpectRule(Verify(BuildChain(o)), "ca", {"the root's basicConstraints pathLen is 0"});
  o = {};
  o.ee_bc = "critical,CA:TRUE";
  ExpectRule(Verify(BuildChain(o)), "ca", {"the ee is a CA certificate"});
}

TEST(VerifyChainTest, EeSignedByADifferentIntermediateKey) {
  ChainOptions o;
  o.ee_signed_by_stranger = true;
  ExpectRule(Verify(BuildChain(o)), "issuer-signature",
             {"the ee certificate's signature does not verify with the intermediate's public key"});
}

TEST(VerifyChainTest, IntermediateFromAnotherRootWithTheSameName) {
  TestChain c = BuildChain();
  TestChain other = BuildChain();  // same names, different keys
  ExpectRule(VerifyChainPem(CertPem(c.ee.get()) + CertPem(c.inter.get()) + CertPem(other.root.get()),
                            other.Policy()),
             "issuer-signature",
             {"the intermediate certificate's signature does not verify with the root's"});
}

TEST(VerifyChainTest, RootNotSelfSigned) {
  ChainOptions o;
  o.root_signed_by_stranger = true;
  ExpectRule(Verify(BuildChain(o)), "root-self-signed", {"does not verify with its own public key"});
  o = {};
  o.root_issuer_cn = "Some Other Root";
  ExpectRule(Verify(BuildChain(o)), "root-self-signed",
             {"the root's issuer \"CN=Some Other Root,O=Signet Test\" is not its subject"});
}

TEST(VerifyChainTest, MostFundamentalRuleFailsFirst) {
  ChainOptions o;
  o.ee_eku = "serverAuth";
  o.ee_rsa = true;
  TestChain c = BuildChain(o);
  ChainPolicy p = c.Policy();
  p.root_sha256.assign(32, 0);
  p.ee_name = "other.example.org";
  ExpectRule(VerifyChainPem(c.Pem(), p), "root-pin");
  p.at = kNow + absl::Hours(24 * 365 * 20);
  ExpectRule(VerifyChainPem(c.Pem(), p), "validity");
  p = c.Policy();
  ExpectRule(VerifyChainPem(c.Pem(), p), "code-signing-eku");
}

// ---------------------------------------------------------------------------------------------------------
// VerifyContentSignatureWithChain

const std::vector<uint8_t> kData = Bytes("{\"data\":[],\"last_modified\":\"1603992731957\"}");

TEST(VerifyContentSignatureWithChainTest, GoodSignatureOnEachCurve) {
  for (EcCurve curve : {EcCurve::kP256, EcCurve::kP384, EcCurve::kP521}) {
    ChainOptions o;
    o.ee_curve = curve;
    TestChain c = BuildChain(o);
    absl::StatusOr<std::string> sig = SignData(*c.ee_signer, kData);
    ASSERT_TRUE(sig.ok()) << sig.status();
    EXPECT_TRUE(VerifyContentSignatureWithChain(c.Pem(), c.Policy(), kData, *sig).ok())
        << GetEcCurveInfo(curve).name << ": "
        << VerifyContentSignatureWithChain(c.Pem(), c.Policy(), kData, *sig);
    std::vector<uint8_t> other = kData;
    other.back() ^= 1;
    ExpectRule(VerifyContentSignatureWithChain(c.Pem(), c.Policy(), other, *sig), "signature",
               {"signature does not verify"});
  }
}

TEST(VerifyContentSignatureWithChainTest, HeaderValueForm) {
  ChainOptions o;
  o.ee_curve = EcCurve::kP384;
  TestChain c = BuildChain(o);
  absl::StatusOr<std::string> sig = SignData(*c.ee_signer, kData);
  ASSERT_TRUE(sig.ok());
  const std::string header =
      BuildHeader({"https://example.org/chains/remote-settings.pem", EcCurve::kP384, *sig});
  ASSERT_THAT(header, StartsWith("x5u=https://"));
  EXPECT_TRUE(VerifyContentSignatureWithChain(c.Pem(), c.Policy(), kData, header).ok());
  EXPECT_TRUE(VerifyContentSignatureWithChain(c.Pem(), c.Policy(), kData, "p384ecdsa=" + *sig).ok());
  ExpectRule(VerifyContentSignatureWithChain(c.Pem(), c.Policy(), kData, "x5u=https://example.org/;" + *sig),
             "signature", {"Content-Signature header"});
}

TEST(VerifyContentSignatureWithChainTest, TruncatedSignature) {
  TestChain c = BuildChain();
  absl::StatusOr<std::string> sig = SignData(*c.ee_signer, kData);
  ASSERT_TRUE(sig.ok());
  ExpectRule(VerifyContentSignatureWithChain(c.Pem(), c.Policy(), kData, sig->substr(0, sig->size() - 4)),
             "signature", {"P-256"});
  ExpectRule(VerifyContentSignatureWithChain(c.Pem(), c.Policy(), kData, sig->substr(0, sig->size() - 1)),
             "signature");
  ExpectRule(VerifyContentSignatureWithChain(c.Pem(), c.Policy(), kData, ""), "signature");
}

TEST(VerifyContentSignatureWithChainTest, SignatureFromAnotherKey) {
  TestChain c = BuildChain();
  absl::StatusOr<std::unique_ptr<SoftwareSigner>> stranger = SoftwareSigner::Generate(EcCurve::kP256);
  ASSERT_TRUE(stranger.ok());
  absl::StatusOr<std::string> sig = SignData(**stranger, kData);
  ASSERT_TRUE(sig.ok());
  ExpectRule(VerifyContentSignatureWithChain(c.Pem(), c.Policy(), kData, *sig), "signature",
             {"signature does not verify"});
}

TEST(VerifyContentSignatureWithChainTest, WrongCurveParameter) {
  ChainOptions o;
  o.ee_curve = EcCurve::kP384;
  TestChain c = BuildChain(o);
  absl::StatusOr<std::unique_ptr<SoftwareSigner>> p256 = SoftwareSigner::Generate(EcCurve::kP256);
  ASSERT_TRUE(p256.ok());
  absl::StatusOr<std::string> sig = SignData(**p256, kData);
  ASSERT_TRUE(sig.ok());
  ExpectRule(VerifyContentSignatureWithChain(c.Pem(), c.Policy(), kData, "p256ecdsa=" + *sig), "signature",
             {"p256ecdsa", "the ee key is on P-384"});
  // The EE's own signature under the wrong parameter name fails the same way.
  absl::StatusOr<std::string> own = SignData(*c.ee_signer, kData);
  ASSERT_TRUE(own.ok());
  ExpectRule(VerifyContentSignatureWithChain(c.Pem(), c.Policy(), kData, "p521ecdsa=" + *own), "signature");
  // Bare, a P-256 signature is the wrong length for the P-384 key.
  ExpectRule(VerifyContentSignatureWithChain(c.Pem(), c.Policy(), kData, *sig), "signature", {"P-384"});
}

TEST(VerifyContentSignatureWithChainTest, ChainRulesComeFirst) {
  TestChain c = BuildChain();
  absl::StatusOr<std::string> sig = SignData(*c.ee_signer, kData);
  ASSERT_TRUE(sig.ok());
  ChainPolicy p = c.Policy();
  p.root_sha256.assign(32, 0x22);
  ExpectRule(VerifyContentSignatureWithChain(c.Pem(), p, kData, *sig), "root-pin");
  ExpectRule(VerifyContentSignatureWithChain(c.Pem() + "x", c.Policy(), kData, *sig), "format");
}

}  // namespace
}  // namespace signet::signing
