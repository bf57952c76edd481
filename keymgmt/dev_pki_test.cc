#include "keymgmt/dev_pki.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "common/ec_curve.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace signet::keymgmt {
namespace {

using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;
using ::testing::UnorderedElementsAreArray;

using SslCtxPtr = OpenSslPtr<SSL_CTX, SSL_CTX_free>;
using SslPtr = OpenSslPtr<SSL, SSL_free>;

std::string Msg(const absl::Status& s) { return std::string(s.message()); }

// A fresh directory under the test temp dir, removed with everything in it.
class ScratchDir {
 public:
  ScratchDir() {
    std::string tmpl = ::testing::TempDir() + "dev_pki_XXXXXX";
    char* p = ::mkdtemp(tmpl.data());
    if (p == nullptr) std::abort();
    path_ = p;
  }
  ~ScratchDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

KeyAndCert MustCa(absl::Time nb = absl::Now() - absl::Hours(1), absl::Time na = absl::Now() + absl::Hours(24),
                  const std::string& cn = "Test CA") {
  auto ca = CreateCa(cn, nb, na);
  if (!ca.ok()) {
    ADD_FAILURE() << ca.status();
    std::abort();
  }
  return *std::move(ca);
}

CertSpec ServerSpec() {
  return CertSpec{.common_name = "localhost",
                  .dns_sans = {"localhost", "signet.internal"},
                  .ip_sans = {"127.0.0.1", "::1"},
                  .server_auth = true,
                  .not_before = absl::Now() - absl::Minutes(5),
                  .not_after = absl::Now() + absl::Hours(2)};
}

CertSpec ClientSpec() {
  return CertSpec{.common_name = "autograph",
                  .uri_sans = {"spiffe://signet.test/autograph"},
                  .client_auth = true,
                  .not_before = absl::Now() - absl::Minutes(5),
                  .not_after = absl::Now() + absl::Hours(2)};
}

// X509_V_OK if `leaf` chains to `ca` for `purpose` at the current time, else the verify error.
int Verify(X509* ca, X509* leaf, int purpose) {
  X509StorePtr store(X509_STORE_new());
  EXPECT_EQ(X509_STORE_add_cert(store.get(), ca), 1);
  X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  EXPECT_EQ(X509_STORE_CTX_init(ctx.get(), store.get(), leaf, nullptr), 1);
  if (purpose != 0) {
    EXPECT_EQ(X509_STORE_CTX_set_purpose(ctx.get(), purpose), 1);
  }
  int rc = X509_verify_cert(ctx.get());
  int err = X509_STORE_CTX_get_error(ctx.get());
  ERR_clear_error();
  return rc == 1 ? X509_V_OK : err;
}

struct Sans {
  std::vector<std::string> dns, ip, uri;
};

Sans GetSans(const X509* cert) {
  Sans out;
  GeneralNamesPtr names(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
  if (names == nullptr) return out;
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names.get(), i);
    if (gn->type == GEN_DNS || gn->type == GEN_URI) {
      const ASN1_IA5STRING* s = gn->type == GEN_DNS ? gn->d.dNSName : gn->d.uniformResourceIdentifier;
      std::string v(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)), ASN1_STRING_length(s));
      (gn->type == GEN_DNS ? out.dns : out.uri).push_back(v);
    } else if (gn->type == GEN_IPADD) {
      const unsigned char* d = ASN1_STRING_get0_data(gn->d.iPAddress);
      int len = ASN1_STRING_length(gn->d.iPAddress);
      char text[INET6_ADDRSTRLEN];
      EXPECT_NE(inet_ntop(len == 4 ? AF_INET : AF_INET6, d, text, sizeof(text)), nullptr);
      out.ip.push_back(text);
    }
  }
  return out;
}

std::string CommonName(const X509* cert) {
  char buf[256];
  int n = X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, buf, sizeof(buf));
  return n < 0 ? "" : std::string(buf, n);
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

X509Ptr LoadCert(const std::string& path) {
  std::string pem = ReadAll(path);
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return X509Ptr(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

EvpPkeyPtr LoadKey(const std::string& path) {
  std::string pem = ReadAll(path);
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return EvpPkeyPtr(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
}

mode_t Mode(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return 0;
  return st.st_mode & 07777;
}

// ---- CA and issuance ----

TEST(DevPki, CaIsSelfSignedP256WithCaExtensions) {
  KeyAndCert ca = MustCa();
  EXPECT_EQ(X509_verify(ca.cert.get(), ca.key.get()), 1);
  EXPECT_EQ(Verify(ca.cert.get(), ca.cert.get(), 0), X509_V_OK);
  EXPECT_EQ(X509_check_ca(ca.cert.get()), 1);
  EXPECT_EQ(X509_get_pathlen(ca.cert.get()), 0);
  EXPECT_EQ(X509_get_key_usage(ca.cert.get()), static_cast<uint32_t>(KU_KEY_CERT_SIGN | KU_CRL_SIGN));
  EXPECT_NE(X509_get0_subject_key_id(ca.cert.get()), nullptr);
  EXPECT_EQ(CommonName(ca.cert.get()), "Test CA");
  EXPECT_EQ(X509_NAME_cmp(X509_get_subject_name(ca.cert.get()), X509_get_issuer_name(ca.cert.get())), 0);
  auto curve = EcCurveOfKey(ca.key.get());
  ASSERT_TRUE(curve.ok()) << curve.status();
  EXPECT_EQ(*curve, EcCurve::kP256);
  int crit = 0;
  void* bc = X509_get_ext_d2i(ca.cert.get(), NID_basic_constraints, &crit, nullptr);
  EXPECT_EQ(crit, 1);
  BASIC_CONSTRAINTS_free(static_cast<BASIC_CONSTRAINTS*>(bc));
  void* ku = X509_get_ext_d2i(ca.cert.get(), NID_key_usage, &crit, nullptr);
  EXPECT_EQ(crit, 1);
  ASN1_BIT_STRING_free(static_cast<ASN1_BIT_STRING*>(ku));
}

TEST(DevPki, ServerCertVerifiesForServerPurposeWithSans) {
  KeyAndCert ca = MustCa();
  auto server = IssueCert(ca, ServerSpec());
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_EQ(Verify(ca.cert.get(), server->cert.get(), X509_PURPOSE_SSL_SERVER), X509_V_OK);
  EXPECT_NE(Verify(ca.cert.get(), server->cert.get(), X509_PURPOSE_SSL_CLIENT), X509_V_OK);
  Sans sans = GetSans(server->cert.get());
  EXPECT_EQ(sans.dns, (std::vector<std::string>{"localhost", "signet.internal"}));
  EXPECT_EQ(sans.ip, (std::vector<std::string>{"127.0.0.1", "::1"}));
  EXPECT_TRUE(sans.uri.empty());
  EXPECT_EQ(CommonName(server->cert.get()), "localhost");
  EXPECT_EQ(X509_check_host(server->cert.get(), "signet.internal", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_ip_asc(server->cert.get(), "::1", 0), 1);
  EXPECT_EQ(X509_check_ca(server->cert.get()), 0);
  EXPECT_EQ(X509_get_key_usage(server->cert.get()),
            static_cast<uint32_t>(KU_DIGITAL_SIGNATURE | KU_KEY_AGREEMENT));
  EXPECT_EQ(X509_get_extended_key_usage(server->cert.get()), static_cast<uint32_t>(XKU_SSL_SERVER));
  auto curve = EcCurveOfKey(server->key.get());
  ASSERT_TRUE(curve.ok());
  EXPECT_EQ(*curve, EcCurve::kP256);
}

TEST(DevPki, ClientCertVerifiesForClientPurposeOnly) {
  KeyAndCert ca = MustCa();
  auto client = IssueCert(ca, ClientSpec());
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_EQ(Verify(ca.cert.get(), client->cert.get(), X509_PURPOSE_SSL_CLIENT), X509_V_OK);
  EXPECT_EQ(Verify(ca.cert.get(), client->cert.get(), X509_PURPOSE_SSL_SERVER), X509_V_ERR_INVALID_PURPOSE);
  Sans sans = GetSans(client->cert.get());
  EXPECT_EQ(sans.uri, (std::vector<std::string>{"spiffe://signet.test/autograph"}));
  EXPECT_TRUE(sans.dns.empty());
  EXPECT_TRUE(sans.ip.empty());
  EXPECT_EQ(X509_get_extended_key_usage(client->cert.get()), static_cast<uint32_t>(XKU_SSL_CLIENT));

  CertSpec both = ClientSpec();
  both.server_auth = true;
  auto dual = IssueCert(ca, both);
  ASSERT_TRUE(dual.ok()) << dual.status();
  EXPECT_EQ(Verify(ca.cert.get(), dual->cert.get(), X509_PURPOSE_SSL_CLIENT), X509_V_OK);
  EXPECT_EQ(Verify(ca.cert.get(), dual->cert.get(), X509_PURPOSE_SSL_SERVER), X509_V_OK);
}

TEST(DevPki, KeyIdentifiersLinkAndSerialsAreRandomPositive128Bit) {
  KeyAndCert ca = MustCa();
  auto a = IssueCert(ca, ClientSpec());
  auto b = IssueCert(ca, ClientSpec());
  ASSERT_TRUE(a.ok() && b.ok());
  const ASN1_OCTET_STRING* ca_ski = X509_get0_subject_key_id(ca.cert.get());
  const ASN1_OCTET_STRING* aki = X509_get0_authority_key_id(a->cert.get());
  ASSERT_NE(ca_ski, nullptr);
  ASSERT_NE(aki, nullptr);
  EXPECT_EQ(ASN1_OCTET_STRING_cmp(ca_ski, aki), 0);
  EXPECT_NE(X509_get0_subject_key_id(a->cert.get()), nullptr);
  for (const auto* kc : {&*a, &*b}) {
    BignumPtr serial(ASN1_INTEGER_to_BN(X509_get0_serialNumber(kc->cert.get()), nullptr));
    EXPECT_FALSE(BN_is_negative(serial.get()));
    EXPECT_EQ(BN_num_bytes(serial.get()), 16);
  }
  EXPECT_NE(ASN1_INTEGER_cmp(X509_get0_serialNumber(a->cert.get()), X509_get0_serialNumber(b->cert.get())),
            0);
}

TEST(DevPki, ExpiredCertFailsVerification) {
  absl::Time now = absl::Now();
  KeyAndCert ca = MustCa(now - absl::Hours(24 * 10), now + absl::Hours(24 * 10));
  CertSpec spec = ClientSpec();
  spec.not_before = now - absl::Hours(24 * 5);
  spec.not_after = now - absl::Hours(24);
  auto expired = IssueCert(ca, spec);
  ASSERT_TRUE(expired.ok()) << expired.status();
  EXPECT_EQ(Verify(ca.cert.get(), expired->cert.get(), X509_PURPOSE_SSL_CLIENT), X509_V_ERR_CERT_HAS_EXPIRED);
}

TEST(DevPki, CertFromAnotherCaFails) {
  KeyAndCert ca = MustCa();
  KeyAndCert other =
      MustCa(absl::Now() - absl::Hours(1), absl::Now() + absl::Hours(24), "Test CA");  // same name
  auto foreign = IssueCert(other, ClientSpec());
  ASSERT_TRUE(foreign.ok());
  int err = Verify(ca.cert.get(), foreign->cert.get(), X509_PURPOSE_SSL_CLIENT);
  EXPECT_NE(err, X509_V_OK);
  EXPECT_THAT(
      err, ::testing::AnyOf(X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY, X509_V_ERR_CERT_SIGNATURE_FAILURE));
}

TEST(DevPki, PemEncodingsRoundTrip) {
  KeyAndCert ca = MustCa();
  std::string cert_pem = CertPem(ca.cert.get());
  EXPECT_TRUE(cert_pem.starts_with("-----BEGIN CERTIFICATE-----\n"));
  auto key_pem = PrivateKeyPem(ca.key.get());
  ASSERT_TRUE(key_pem.ok()) << key_pem.status();
  EXPECT_TRUE(key_pem->starts_with("-----BEGIN PRIVATE KEY-----\n")) << "PKCS#8, unencrypted";
  BioPtr bio(BIO_new_mem_buf(key_pem->data(), static_cast<int>(key_pem->size())));
  EvpPkeyPtr back(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  ASSERT_NE(back, nullptr);
  EXPECT_EQ(X509_check_private_key(ca.cert.get(), back.get()), 1);
  EXPECT_FALSE(PrivateKeyPem(nullptr).ok());
}

// ---- input validation ----

TEST(DevPki, RejectsBadCaInput) {
  absl::Time now = absl::Now();
  EXPECT_THAT(Msg(CreateCa("", now, now + absl::Hours(1)).status()), HasSubstr("common name is empty"));
  EXPECT_THAT(Msg(CreateCa(std::string(65, 'c'), now, now + absl::Hours(1)).status()),
              HasSubstr("65 bytes, more than the limit of 64"));
  EXPECT_TRUE(CreateCa(std::string(64, 'c'), now, now + absl::Hours(1)).ok());
  EXPECT_THAT(Msg(CreateCa("ca\nx", now, now + absl::Hours(1)).status()), HasSubstr("control character"));
  EXPECT_THAT(Msg(CreateCa("ca", now, now).status()), HasSubstr("must be later than not_before"));
  EXPECT_THAT(Msg(CreateCa("ca", now, now - absl::Hours(1)).status()),
              HasSubstr("must be later than not_before"));
  EXPECT_THAT(Msg(CreateCa("ca", now, absl::InfiniteFuture()).status()), HasSubstr("finite"));
}

TEST(DevPki, RejectsBadCertInput) {
  KeyAndCert ca = MustCa();
  auto err = [&](auto mutate) {
    CertSpec spec = ServerSpec();
    mutate(spec);
    auto r = IssueCert(ca, spec);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
    return Msg(r.status());
  };
  EXPECT_THAT(err([](CertSpec& s) { s.common_name = ""; }), HasSubstr("common name is empty"));
  EXPECT_THAT(err([](CertSpec& s) { s.common_name = std::string(65, 'x'); }), HasSubstr("limit of 64"));
  EXPECT_THAT(err([](CertSpec& s) { s.dns_sans.assign(33, "a.example"); }),
              HasSubstr("33 DNS SANs, more than the limit of 32"));
  EXPECT_THAT(err([](CertSpec& s) { s.ip_sans.assign(33, "10.0.0.1"); }), HasSubstr("33 IP SANs"));
  EXPECT_THAT(err([](CertSpec& s) { s.uri_sans.assign(33, "spiffe://x/y"); }), HasSubstr("33 URI SANs"));
  EXPECT_THAT(err([](CertSpec& s) { s.uri_sans = {"spiffe://x/" + std::string(250, 'y')}; }),
              HasSubstr("more than the limit of 255"));
  EXPECT_THAT(err([](CertSpec& s) { s.dns_sans = {""}; }), HasSubstr("empty DNS SAN"));
  EXPECT_THAT(err([](CertSpec& s) { s.dns_sans = {"bad name.example"}; }), HasSubstr("may contain only"));
  EXPECT_THAT(err([](CertSpec& s) { s.dns_sans = {"a..example"}; }),
              HasSubstr("empty or over-63-byte label"));
  EXPECT_THAT(err([](CertSpec& s) { s.ip_sans = {"256.0.0.1"}; }), HasSubstr("not an IPv4 or IPv6 address"));
  EXPECT_THAT(err([](CertSpec& s) { s.ip_sans = {"10.0.0.1x"}; }), HasSubstr("'10.0.0.1x'"));
  EXPECT_THAT(err([](CertSpec& s) { s.ip_sans = {"fe80::1%eth0"}; }), HasSubstr("not an IPv4 or IPv6"));
  EXPECT_THAT(err([](CertSpec& s) { s.uri_sans = {"no-scheme/path"}; }), HasSubstr("not an absolute URI"));
  EXPECT_THAT(err([](CertSpec& s) { s.uri_sans = {"spiffe://x/a b"}; }), HasSubstr("space"));
  EXPECT_THAT(err([](CertSpec& s) { s.server_auth = false; }), HasSubstr("server_auth, client_auth or both"));
  EXPECT_THAT(err([](CertSpec& s) { s.not_after = s.not_before; }),
              HasSubstr("must be later than not_before"));

  CertSpec wildcard = ServerSpec();
  wildcard.dns_sans = {"*.signet.test"};
  EXPECT_TRUE(IssueCert(ca, wildcard).ok());

  // The issuer must be a CA whose key matches its certificate.
  auto leaf = IssueCert(ca, ServerSpec());
  ASSERT_TRUE(leaf.ok());
  EXPECT_THAT(Msg(IssueCert(*leaf, ServerSpec()).status()), HasSubstr("not a CA"));
  KeyAndCert mismatched{std::move(leaf->key), X509Ptr(X509_dup(ca.cert.get()))};
  EXPECT_THAT(Msg(IssueCert(mismatched, ServerSpec()).status()), HasSubstr("does not match"));
  EXPECT_THAT(Msg(IssueCert(KeyAndCert{}, ServerSpec()).status()), HasSubstr("missing"));
}

// ---- files ----

TEST(DevPki, WriteKeyAndCertUsesModesAndRefusesOverwrite) {
  ScratchDir dir;
  KeyAndCert ca = MustCa();
  ASSERT_TRUE(WriteKeyAndCert(ca, dir.path(), "ca").ok());
  EXPECT_EQ(Mode(dir / "ca.key"), 0600u);
  EXPECT_EQ(Mode(dir / "ca.pem") & 0600u, 0600u);
  EXPECT_EQ(Mode(dir / "ca.pem") & 0133u, 0u);
  X509Ptr back = LoadCert(dir / "ca.pem");
  ASSERT_NE(back, nullptr);
  EXPECT_EQ(X509_cmp(back.get(), ca.cert.get()), 0);

  std::string before = ReadAll(dir / "ca.key");
  KeyAndCert other = MustCa();
  auto s = WriteKeyAndCert(other, dir.path(), "ca");
  EXPECT_EQ(s.code(), absl::StatusCode::kAlreadyExists) << s;
  EXPECT_EQ(ReadAll(dir / "ca.key"), before);
  EXPECT_THAT(Msg(WriteKeyAndCert(other, dir.path(), "../x")), HasSubstr("plain, non-empty name"));
}

TEST(DevPki, CreateDevPkiWritesTheExpectedFiles) {
  ScratchDir scratch;
  DevPkiOptions opts;
  opts.dir = scratch / "pki";
  opts.clients = {{"autograph", "spiffe://signet.test/autograph"}, {"tester", ""}};
  opts.validity = absl::Hours(48);
  ASSERT_TRUE(CreateDevPki(opts).ok());

  EXPECT_EQ(Mode(opts.dir), 0700u);
  std::vector<std::string> listed;
  for (const auto& e : std::filesystem::directory_iterator(opts.dir)) listed.push_back(e.path().filename());
  EXPECT_THAT(listed,
              UnorderedElementsAre("ca.pem", "ca.key", "server.pem", "server.key", "client-autograph.pem",
                                   "client-autograph.key", "client-tester.pem", "client-tester.key"));
  EXPECT_THAT(listed, UnorderedElementsAreArray(DevPkiFileNames(opts)));
  for (const char* key : {"ca.key", "server.key", "client-autograph.key", "client-tester.key"}) {
    EXPECT_EQ(Mode(opts.dir + "/" + key), 0600u) << key;
  }

  X509Ptr ca = LoadCert(opts.dir + "/ca.pem");
  X509Ptr server = LoadCert(opts.dir + "/server.pem");
  X509Ptr autograph = LoadCert(opts.dir + "/client-autograph.pem");
  X509Ptr tester = LoadCert(opts.dir + "/client-tester.pem");
  ASSERT_TRUE(ca && server && autograph && tester);
  EvpPkeyPtr server_key = LoadKey(opts.dir + "/server.key");
  ASSERT_NE(server_key, nullptr);
  EXPECT_EQ(X509_check_private_key(server.get(), server_key.get()), 1);

  EXPECT_EQ(Verify(ca.get(), server.get(), X509_PURPOSE_SSL_SERVER), X509_V_OK);
  EXPECT_EQ(Verify(ca.get(), autograph.get(), X509_PURPOSE_SSL_CLIENT), X509_V_OK);
  EXPECT_EQ(Verify(ca.get(), tester.get(), X509_PURPOSE_SSL_CLIENT), X509_V_OK);
  EXPECT_NE(Verify(ca.get(), autograph.get(), X509_PURPOSE_SSL_SERVER), X509_V_OK);

  EXPECT_EQ(CommonName(server.get()), "localhost");
  Sans ss = GetSans(server.get());
  EXPECT_EQ(ss.dns, std::vector<std::string>{"localhost"});
  EXPECT_EQ(ss.ip, (std::vector<std::string>{"127.0.0.1", "::1"}));
  EXPECT_EQ(CommonName(autograph.get()), "autograph");
  EXPECT_EQ(GetSans(autograph.get()).uri, std::vector<std::string>{"spiffe://signet.test/autograph"});
  EXPECT_EQ(CommonName(tester.get()), "tester");
  EXPECT_TRUE(GetSans(tester.get()).uri.empty());

  // Validity follows the injected clock: backdated a little, ending now + validity.
  int days = 0, secs = 0;
  ASSERT_EQ(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(server.get()), X509_get0_notAfter(server.get())),
            1);
  EXPECT_EQ(days * 86400 + secs, 48 * 3600 + 5 * 60);
}

TEST(DevPki, CreateDevPkiRefusesWhenRunTwiceAndWritesNothing) {
  ScratchDir scratch;
  DevPkiOptions opts;
  opts.dir = scratch.path();
  opts.clients = {{"a", ""}};
  ASSERT_TRUE(CreateDevPki(opts).ok());
  std::string ca_before = ReadAll(scratch / "ca.pem");
  auto s = CreateDevPki(opts);
  EXPECT_EQ(s.code(), absl::StatusCode::kAlreadyExists) << s;
  EXPECT_THAT(Msg(s), HasSubstr("ca.pem"));
  EXPECT_EQ(ReadAll(scratch / "ca.pem"), ca_before);

  // One clashing file (a new client's) stops the run before anything is written.
  ScratchDir other;
  std::ofstream(other / "client-b.key") << "keep";
  DevPkiOptions opts2;
  opts2.dir = other.path();
  opts2.clients = {{"b", ""}};
  s = CreateDevPki(opts2);
  EXPECT_EQ(s.code(), absl::StatusCode::kAlreadyExists) << s;
  EXPECT_THAT(Msg(s), HasSubstr("client-b.key"));
  EXPECT_FALSE(std::filesystem::exists(other / "ca.pem"));
  EXPECT_FALSE(std::filesystem::exists(other / "ca.key"));
  EXPECT_EQ(ReadAll(other / "client-b.key"), "keep");
}

TEST(DevPki, CreateDevPkiRejectsBadOptionsBeforeTouchingDisk) {
  ScratchDir scratch;
  auto err = [&](auto mutate) {
    DevPkiOptions opts;
    opts.dir = scratch / "pki";
    mutate(opts);
    absl::Status s = CreateDevPki(opts);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    EXPECT_FALSE(std::filesystem::exists(scratch / "pki"));
    return Msg(s);
  };
  EXPECT_THAT(err([](DevPkiOptions& o) { o.dir = ""; }), HasSubstr("dir is required"));
  EXPECT_THAT(err([](DevPkiOptions& o) { o.server_names.clear(); }), HasSubstr("at least one server name"));
  EXPECT_THAT(err([](DevPkiOptions& o) { o.validity = absl::ZeroDuration(); }), HasSubstr("validity"));
  EXPECT_THAT(err([](DevPkiOptions& o) { o.validity = absl::Hours(24 * 3651); }), HasSubstr("3650 days"));
  EXPECT_THAT(err([](DevPkiOptions& o) {
                o.clients = {{"a", ""}, {"a", ""}};
              }),
              HasSubstr("'a' given twice"));
  EXPECT_THAT(err([](DevPkiOptions& o) { o.clients = {{"../etc", ""}}; }), HasSubstr("may contain only"));
  EXPECT_THAT(err([](DevPkiOptions& o) { o.clients = {{"", ""}}; }), HasSubstr("must be 1..64"));
  EXPECT_THAT(err([](DevPkiOptions& o) {
                o.clients = {{"c", "not a uri"}};
              }),
              HasSubstr("client 'c': URI SAN 'not a uri'"));
  EXPECT_THAT(err([](DevPkiOptions& o) { o.server_ips = {"localhost"}; }),
              HasSubstr("server: IP SAN 'localhost' is not an IPv4 or IPv6 address"));
  EXPECT_THAT(err([](DevPkiOptions& o) { o.server_names = {"bad_name"}; }), HasSubstr("server: DNS SAN"));

  DevPkiOptions missing_parent;
  missing_parent.dir = scratch / "no/such/dir";
  EXPECT_THAT(Msg(CreateDevPki(missing_parent)), HasSubstr("cannot create directory"));
}

// ---- mutual TLS over a memory BIO pair ----

struct HandshakeResult {
  bool client_ok = false;
  bool server_ok = false;
  long server_verify = X509_V_OK;  // the server's verdict on the client certificate
  std::string server_saw_cn;       // the client CN as the server sees it
  std::string echoed;              // what the server read from the client after the handshake
};

SslCtxPtr ServerCtx(const std::string& dir) {
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  EXPECT_EQ(SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION), 1);
  EXPECT_EQ(SSL_CTX_use_certificate_file(ctx.get(), (dir + "/server.pem").c_str(), SSL_FILETYPE_PEM), 1);
  EXPECT_EQ(SSL_CTX_use_PrivateKey_file(ctx.get(), (dir + "/server.key").c_str(), SSL_FILETYPE_PEM), 1);
  EXPECT_EQ(SSL_CTX_check_private_key(ctx.get()), 1);
  EXPECT_EQ(SSL_CTX_load_verify_locations(ctx.get(), (dir + "/ca.pem").c_str(), nullptr), 1);
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  return ctx;
}

// A client that trusts `trust_dir`/ca.pem and presents `cert_dir`/`stem`.pem (no certificate if stem is
// empty).
SslCtxPtr ClientCtx(const std::string& trust_dir, const std::string& cert_dir, const std::string& stem) {
  SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  EXPECT_EQ(SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION), 1);
  EXPECT_EQ(SSL_CTX_load_verify_locations(ctx.get(), (trust_dir + "/ca.pem").c_str(), nullptr), 1);
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  if (!stem.empty()) {
    EXPECT_EQ(
        SSL_CTX_use_certificate_file(ctx.get(), (cert_dir + "/" + stem + ".pem").c_str(), SSL_FILETYPE_PEM),
        1);
    EXPECT_EQ(
        SSL_CTX_use_PrivateKey_file(ctx.get(), (cert_dir + "/" + stem + ".key").c_str(), SSL_FILETYPE_PEM),
        1);
  }
  return ctx;
}

HandshakeResult Handshake(SSL_CTX* server_ctx, SSL_CTX* client_ctx, const std::string& host,
                          int max_version = TLS1_3_VERSION) {
  HandshakeResult r;
  SslPtr server(SSL_new(server_ctx));
  SslPtr client(SSL_new(client_ctx));
  EXPECT_EQ(SSL_set_max_proto_version(client.get(), max_version), 1);
  BIO* client_bio = nullptr;
  BIO* server_bio = nullptr;
  EXPECT_EQ(BIO_new_bio_pair(&client_bio, 0, &server_bio, 0), 1);
  SSL_set_bio(client.get(), client_bio, client_bio);  // each SSL owns its end
  SSL_set_bio(server.get(), server_bio, server_bio);
  SSL_set_connect_state(client.get());
  SSL_set_accept_state(server.get());
  SSL_set_tlsext_host_name(client.get(), host.c_str());
  if (host.find(':') != std::string::npos || (!host.empty() && host[0] >= '0' && host[0] <= '9')) {
    EXPECT_EQ(X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(client.get()), host.c_str()), 1);
  } else {
    EXPECT_EQ(SSL_set1_host(client.get(), host.c_str()), 1);
  }

  bool client_failed = false, server_failed = false;
  for (int round = 0; round < 20 && !(r.client_ok && r.server_ok) && !(client_failed || server_failed);
       ++round) {
    if (!r.client_ok && !client_failed) {
      int rc = SSL_do_handshake(client.get());
      if (rc == 1) {
        r.client_ok = true;
      } else if (int e = SSL_get_error(client.get(), rc);
                 e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
        client_failed = true;
      }
    }
    if (!r.server_ok && !server_failed) {
      int rc = SSL_do_handshake(server.get());
      if (rc == 1) {
        r.server_ok = true;
      } else if (int e = SSL_get_error(server.get(), rc);
                 e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
        server_failed = true;
      }
    }
  }
  r.server_verify = SSL_get_verify_result(server.get());
  if (r.client_ok && r.server_ok) {
    if (X509* peer = SSL_get0_peer_certificate(server.get())) r.server_saw_cn = CommonName(peer);
    const char msg[] = "ping";
    EXPECT_EQ(SSL_write(client.get(), msg, 4), 4);
    char buf[16];
    int n = SSL_read(server.get(), buf, sizeof(buf));
    if (n > 0) r.echoed.assign(buf, n);
  }
  ERR_clear_error();
  return r;
}

class DevPkiTls : public ::testing::Test {
 protected:
  void SetUp() override {
    DevPkiOptions opts;
    opts.dir = pki_.path();
    opts.clients = {{"autograph", "spiffe://signet.test/autograph"}};
    ASSERT_TRUE(CreateDevPki(opts).ok());
    DevPkiOptions other;
    other.dir = other_pki_.path();
    other.clients = {{"autograph", "spiffe://signet.test/autograph"}};  // same names, different CA
    ASSERT_TRUE(CreateDevPki(other).ok());
    server_ctx_ = ServerCtx(pki_.path());
  }

  ScratchDir pki_;
  ScratchDir other_pki_;
  SslCtxPtr server_ctx_;
};

TEST_F(DevPkiTls, MutualTlsHandshakeSucceedsWithTheGeneratedFiles) {
  for (const char* host : {"localhost", "127.0.0.1", "::1"}) {
    for (int version : {TLS1_3_VERSION, TLS1_2_VERSION}) {
      SslCtxPtr client_ctx = ClientCtx(pki_.path(), pki_.path(), "client-autograph");
      HandshakeResult r = Handshake(server_ctx_.get(), client_ctx.get(), host, version);
      EXPECT_TRUE(r.client_ok) << host << " " << version;
      EXPECT_TRUE(r.server_ok) << host << " " << version;
      EXPECT_EQ(r.server_verify, X509_V_OK) << X509_verify_cert_error_string(r.server_verify);
      EXPECT_EQ(r.server_saw_cn, "autograph");
      EXPECT_EQ(r.echoed, "ping");
    }
  }
}

TEST_F(DevPkiTls, ServerRejectsClientCertFromAnotherCa) {
  for (int version : {TLS1_3_VERSION, TLS1_2_VERSION}) {
    SslCtxPtr client_ctx = ClientCtx(pki_.path(), other_pki_.path(), "client-autograph");
    HandshakeResult r = Handshake(server_ctx_.get(), client_ctx.get(), "localhost", version);
    EXPECT_FALSE(r.server_ok) << version;
    EXPECT_EQ(r.server_verify, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY)
        << X509_verify_cert_error_string(r.server_verify);
    EXPECT_TRUE(r.echoed.empty());
  }
}

TEST_F(DevPkiTls, ServerRejectsMissingOrWrongPurposeClientCert) {
  SslCtxPtr no_cert = ClientCtx(pki_.path(), pki_.path(), "");
  EXPECT_FALSE(Handshake(server_ctx_.get(), no_cert.get(), "localhost").server_ok);
  // The server certificate carries serverAuth only, so it cannot authenticate a client.
  SslCtxPtr server_as_client = ClientCtx(pki_.path(), pki_.path(), "server");
  HandshakeResult r = Handshake(server_ctx_.get(), server_as_client.get(), "localhost");
  EXPECT_FALSE(r.server_ok);
  EXPECT_EQ(r.server_verify, X509_V_ERR_INVALID_PURPOSE) << X509_verify_cert_error_string(r.server_verify);
}

TEST_F(DevPkiTls, ClientRejectsServerFromAnotherCaOrWrongName) {
  SslCtxPtr client_ctx = ClientCtx(other_pki_.path(), other_pki_.path(), "client-autograph");
  EXPECT_FALSE(Handshake(server_ctx_.get(), client_ctx.get(), "localhost").client_ok);
  SslCtxPtr good = ClientCtx(pki_.path(), pki_.path(), "client-autograph");
  EXPECT_FALSE(Handshake(server_ctx_.get(), good.get(), "signet.example.com").client_ok);
  EXPECT_FALSE(Handshake(server_ctx_.get(), good.get(), "10.1.2.3").client_ok);
}

}  // namespace
}  // namespace signet::keymgmt
