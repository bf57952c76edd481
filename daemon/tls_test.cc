// server.tls.crl_file: validation (every bad file is refused with the field named) and the hashed CRL
// directory gRPC reads, checked with the same OpenSSL lookup gRPC installs (X509_STORE_load_locations
// on the directory, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL), including a reload into a
// store that already cached the first CRL, as a long-lived gRPC SSL_CTX has.
#include "daemon/tls.h"

#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "keymgmt/dev_pki.h"
#include "tests/testing/test_crl.h"

namespace signet::daemon {
namespace {

using ::signet::testing::CrlSpec;
using ::signet::testing::MakeCrl;
using ::testing::HasSubstr;

std::string Msg(const absl::Status& s) { return std::string(s.message()); }

class CrlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "signet-tls-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    ::setenv("TMPDIR", dir_.c_str(), 1);  // CrlDirectory goes under it
    const absl::Time now = absl::Now();
    auto ca = keymgmt::CreateCa("Client CA", now - absl::Hours(1), now + absl::Hours(48));
    auto other = keymgmt::CreateCa("Other CA", now - absl::Hours(1), now + absl::Hours(48));
    ASSERT_TRUE(ca.ok() && other.ok());
    ca_ = *std::move(ca);
    other_ = *std::move(other);
    good_ = Client("good");
    revoked_ = Client("revoked");
    WriteFile("ca.pem", keymgmt::CertPem(ca_.cert.get()));
    tls_.cert_file = dir_ + "/unused.pem";
    tls_.key_file = dir_ + "/unused.key";
    tls_.client_ca_file = dir_ + "/ca.pem";
    tls_.crl_file = dir_ + "/clients.crl";
  }
  void TearDown() override {
    ::unsetenv("TMPDIR");
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  keymgmt::KeyAndCert Client(const std::string& cn, const keymgmt::KeyAndCert* issuer = nullptr) {
    keymgmt::CertSpec spec;
    spec.common_name = cn;
    spec.client_auth = true;
    spec.not_before = absl::Now() - absl::Hours(1);
    spec.not_after = absl::Now() + absl::Hours(24);
    auto kc = keymgmt::IssueCert(issuer ? *issuer : ca_, spec);
    EXPECT_TRUE(kc.ok()) << kc.status();
    return *std::move(kc);
  }
  void WriteFile(const std::string& name, const std::string& bytes) {
    std::ofstream(dir_ + "/" + name, std::ios::binary | std::ios::trunc) << bytes;
  }
  CrlSpec Revoking(std::vector<const X509*> revoked) {
    CrlSpec spec;
    spec.issuer = ca_.cert.get();
    spec.signing_key = ca_.key.get();
    spec.revoked = std::move(revoked);
    return spec;
  }
  void WriteCrl(const CrlSpec& spec) { WriteFile("clients.crl", MakeCrl(spec)); }
  absl::Status LoadStatus() { return LoadClientCrls(tls_, absl::Now()).status(); }

  // A store set up the way gRPC 1.51 sets up its server SSL_CTX when given a CRL directory.
  X509StorePtr GrpcLikeStore(const std::string& crl_dir) {
    X509StorePtr store(X509_STORE_new());
    EXPECT_EQ(X509_STORE_add_cert(store.get(), ca_.cert.get()), 1);
    EXPECT_EQ(X509_STORE_load_locations(store.get(), nullptr, crl_dir.c_str()), 1);
    X509_VERIFY_PARAM_set_flags(X509_STORE_get0_param(store.get()), X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
    return store;
  }
  // X509_V_OK, or the verification error.
  int Verify(X509_STORE* store, X509* leaf) {
    X509StoreCtxPtr ctx(X509_STORE_CTX_new());
    EXPECT_EQ(X509_STORE_CTX_init(ctx.get(), store, leaf, nullptr), 1);
    const int ok = X509_verify_cert(ctx.get());
    const int err = X509_STORE_CTX_get_error(ctx.get());
    return ok == 1 ? X509_V_OK : (err == X509_V_OK ? -1 : err);
  }

  std::string dir_;
  TlsConfig tls_;
  keymgmt::KeyAndCert ca_, other_, good_, revoked_;
};

TEST_F(CrlTest, ReadsAPemCrlFromTheClientCa) {
  WriteCrl(Revoking({revoked_.cert.get()}));
  auto crls = LoadClientCrls(tls_, absl::Now());
  ASSERT_TRUE(crls.ok()) << crls.status();
  ASSERT_EQ(crls->size(), 1u);
  EXPECT_THAT((*crls)[0].issuer, HasSubstr("CN=Client CA"));
  EXPECT_EQ((*crls)[0].revoked, 1u);
  EXPECT_EQ((*crls)[0].hash, X509_subject_name_hash(ca_.cert.get()));
}

TEST_F(CrlTest, ReadsADerCrl) {
  CrlSpec spec = Revoking({revoked_.cert.get(), good_.cert.get()});
  spec.der = true;
  WriteCrl(spec);
  auto crls = LoadClientCrls(tls_, absl::Now());
  ASSERT_TRUE(crls.ok()) << crls.status();
  EXPECT_EQ((*crls)[0].revoked, 2u);
}

TEST_F(CrlTest, AnEmptyCrlIsValid) {
  WriteCrl(Revoking({}));
  EXPECT_TRUE(LoadStatus().ok()) << LoadStatus();
}

TEST_F(CrlTest, NoCrlFileConfiguredIsNothingToLoad) {
  tls_.crl_file.reset();
  auto crls = LoadClientCrls(tls_, absl::Now());
  ASSERT_TRUE(crls.ok());
  EXPECT_TRUE(crls->empty());
}

TEST_F(CrlTest, EveryBadFileIsRefusedNamingTheField) {
  struct Case {
    const char* name;
    std::string bytes;
    const char* want;
  } cases[] = {
      {"empty", "", "the file is empty"},
      {"garbage", "this is not a CRL at all\n", "neither PEM nor a DER X.509 CRL"},
      {"truncated DER", MakeCrl([&] { CrlSpec s = Revoking({}); s.der = true; return s; }()).substr(0, 40),
       "neither PEM nor a DER X.509 CRL"},
      {"certificate", keymgmt::CertPem(ca_.cert.get()), "is a \"CERTIFICATE\", not an \"X509 CRL\""},
      {"broken PEM", "-----BEGIN X509 CRL-----\nnot base64!\n-----END X509 CRL-----\n", "cannot be read"},
      {"PEM of garbage", "-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n", "not a well-formed X.509 CRL"},
      {"no PEM block", "-----BEGIN nothing", "no \"X509 CRL\" PEM block"},
  };
  for (const Case& c : cases) {
    WriteFile("clients.crl", c.bytes);
    const absl::Status s = LoadStatus();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.name << ": " << s;
    EXPECT_THAT(Msg(s), HasSubstr("server.tls.crl_file: " + *tls_.crl_file)) << c.name;
    EXPECT_THAT(Msg(s), HasSubstr(c.want)) << c.name;
  }
}

TEST_F(CrlTest, AMissingFileIsNotFoundNamingTheField) {
  tls_.crl_file = dir_ + "/absent.crl";
  const absl::Status s = LoadStatus();
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Msg(s), HasSubstr("server.tls.crl_file: " + dir_ + "/absent.crl"));
}

TEST_F(CrlTest, ACrlFromAnotherCaIsRefused) {
  CrlSpec spec;
  spec.issuer = other_.cert.get();
  spec.signing_key = other_.key.get();
  WriteCrl(spec);
  EXPECT_THAT(Msg(LoadStatus()), HasSubstr("server.tls.crl_file"));
  EXPECT_THAT(Msg(LoadStatus()), HasSubstr("is issued by 'CN=Other CA', which is not a certificate in "
                                           "server.tls.client_ca_file"));
}

TEST_F(CrlTest, ACrlInTheClientCasNameButSignedByAnotherKeyIsRefused) {
  CrlSpec spec = Revoking({});
  spec.signing_key = other_.key.get();  // forged: the right issuer name, the wrong key
  WriteCrl(spec);
  EXPECT_THAT(Msg(LoadStatus()), HasSubstr("server.tls.crl_file"));
  EXPECT_THAT(Msg(LoadStatus()), HasSubstr("names 'CN=Client CA' as its issuer but is not signed by that CA's key"));
}

TEST_F(CrlTest, AnExpiredOrNotYetValidCrlIsRefused) {
  CrlSpec expired = Revoking({revoked_.cert.get()});
  expired.this_update = absl::Now() - absl::Hours(48);
  expired.next_update = absl::Now() - absl::Hours(1);
  WriteCrl(expired);
  EXPECT_THAT(Msg(LoadStatus()), HasSubstr("server.tls.crl_file"));
  EXPECT_THAT(Msg(LoadStatus()), HasSubstr("expired at"));
  EXPECT_THAT(Msg(LoadStatus()), HasSubstr("(nextUpdate)"));

  CrlSpec future = Revoking({});
  future.this_update = absl::Now() + absl::Hours(1);
  WriteCrl(future);
  EXPECT_THAT(Msg(LoadStatus()), HasSubstr("is not valid before"));

  CrlSpec forever = Revoking({});
  forever.next_update.reset();  // no nextUpdate: OpenSSL never treats it as expired
  WriteCrl(forever);
  EXPECT_TRUE(LoadStatus().ok()) << LoadStatus();
}

TEST_F(CrlTest, EveryClientCaNeedsExactlyOneCrl) {
  WriteFile("ca.pem", keymgmt::CertPem(ca_.cert.get()) + keymgmt::CertPem(other_.cert.get()));
  WriteCrl(Revoking({}));
  EXPECT_THAT(Msg(LoadStatus()), HasSubstr("no CRL from client CA 'CN=Other CA'"));

  CrlSpec other;
  other.issuer = other_.cert.get();
  other.signing_key = other_.key.get();
  WriteFile("clients.crl", MakeCrl(Revoking({})) + MakeCrl(other));
  auto crls = LoadClientCrls(tls_, absl::Now());
  ASSERT_TRUE(crls.ok()) << crls.status();
  EXPECT_EQ(crls->size(), 2u);

  WriteFile("clients.crl", MakeCrl(Revoking({})) + MakeCrl(other) + MakeCrl(Revoking({revoked_.cert.get()})));
  EXPECT_THAT(Msg(LoadStatus()), HasSubstr("CRL 3 is a second CRL from 'CN=Client CA'"));
}

TEST_F(CrlTest, AClientCaThatMayNotSignCrlsIsRefused) {
  // An end-entity certificate (keyUsage digitalSignature, keyAgreement) posing as the client CA.
  WriteFile("ca.pem", keymgmt::CertPem(good_.cert.get()));
  CrlSpec spec;
  spec.issuer = good_.cert.get();
  spec.signing_key = good_.key.get();
  WriteCrl(spec);
  EXPECT_THAT(Msg(LoadStatus()), HasSubstr("does not allow cRLSign"));
}

TEST_F(CrlTest, DirectoryHoldsTheHashedCrlAndOpenSslRefusesTheRevokedClient) {
  WriteCrl(Revoking({revoked_.cert.get()}));
  auto dir = CrlDirectory::Create(tls_, absl::Now());
  ASSERT_TRUE(dir.ok()) << dir.status();
  const std::string path = (*dir)->path();
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  EXPECT_TRUE(path.starts_with(dir_ + "/signetd-crl-")) << path;
  const std::string hashed = absl::StrFormat("%s/%08lx.r0", path, X509_subject_name_hash(ca_.cert.get()));
  EXPECT_TRUE(std::filesystem::exists(hashed)) << hashed;
  EXPECT_THAT((*dir)->Summary(), HasSubstr("1 CRL ('CN=Client CA': 1 revoked"));

  X509StorePtr store = GrpcLikeStore(path);
  EXPECT_EQ(Verify(store.get(), revoked_.cert.get()), X509_V_ERR_CERT_REVOKED);
  EXPECT_EQ(Verify(store.get(), good_.cert.get()), X509_V_OK);

  dir->reset();
  EXPECT_FALSE(std::filesystem::exists(path)) << "the directory outlived its CrlDirectory";
}

TEST_F(CrlTest, EarliestNextUpdateIsTheFirstCrlToExpireAndFollowsAReload) {
  WriteFile("ca.pem", keymgmt::CertPem(ca_.cert.get()) + keymgmt::CertPem(other_.cert.get()));
  // CRL times are whole seconds.
  const absl::Time now = absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now()));
  CrlSpec mine = Revoking({});
  mine.this_update = now - absl::Minutes(10);
  mine.next_update = now + absl::Hours(30);
  CrlSpec other;
  other.issuer = other_.cert.get();
  other.signing_key = other_.key.get();
  other.this_update = now - absl::Minutes(10);
  other.next_update = now + absl::Hours(6);
  // A reload keeps a CRL whose bytes did not change; ECDSA signs differently each time, so each is made once.
  const std::string mine_first = MakeCrl(mine);
  WriteFile("clients.crl", mine_first + MakeCrl(other));
  auto dir = CrlDirectory::Create(tls_, absl::Now());
  ASSERT_TRUE(dir.ok()) << dir.status();
  EXPECT_EQ((*dir)->EarliestNextUpdate(), now + absl::Hours(6));
  // Writes clients.crl and reloads it: the reload's summary, or "" (and a failure) if it was refused.
  auto reload_with = [&](const std::string& crls) {
    WriteFile("clients.crl", crls);
    auto reloaded = (*dir)->Reload(absl::Now());
    EXPECT_TRUE(reloaded.ok()) << reloaded.status();
    return reloaded.ok() ? *reloaded : std::string();
  };

  // The other CA's next CRL never expires: the earliest is now mine.
  other.this_update = now - absl::Minutes(1);
  other.next_update.reset();
  const std::string other_second = MakeCrl(other);
  reload_with(mine_first + other_second);
  EXPECT_EQ((*dir)->EarliestNextUpdate(), now + absl::Hours(30));

  // Neither expires.
  mine.this_update = now - absl::Minutes(5);
  mine.next_update.reset();
  const std::string mine_second = MakeCrl(mine);
  reload_with(mine_second + other_second);
  EXPECT_EQ((*dir)->EarliestNextUpdate(), std::nullopt);

  // The other CA leaves client_ca_file with its CRL, whose last one expires soon: it no longer counts.
  other.this_update = now - absl::Seconds(30);
  other.next_update = now + absl::Hours(1);
  reload_with(mine_second + MakeCrl(other));
  EXPECT_EQ((*dir)->EarliestNextUpdate(), now + absl::Hours(1));
  WriteFile("ca.pem", keymgmt::CertPem(ca_.cert.get()));
  EXPECT_THAT(reload_with(mine_second), HasSubstr("1 CRL ('CN=Client CA'"));
  EXPECT_EQ((*dir)->EarliestNextUpdate(), std::nullopt);
}

TEST_F(CrlTest, ReloadAddsANewerCrlThatAStoreInUsePicksUp) {
  CrlSpec first = Revoking({revoked_.cert.get()});
  first.this_update = absl::Now() - absl::Minutes(10);
  WriteCrl(first);
  auto dir = CrlDirectory::Create(tls_, absl::Now());
  ASSERT_TRUE(dir.ok()) << dir.status();
  X509StorePtr store = GrpcLikeStore((*dir)->path());
  ASSERT_EQ(Verify(store.get(), good_.cert.get()), X509_V_OK);  // the first CRL is now cached in the store

  auto same = (*dir)->Reload(absl::Now());
  ASSERT_TRUE(same.ok()) << same.status();
  EXPECT_THAT(*same, HasSubstr("unchanged, still valid: 1 CRL"));
  // Unchanged bytes are still validated: a client CA that appeared since has no CRL.
  WriteFile("ca.pem", keymgmt::CertPem(ca_.cert.get()) + keymgmt::CertPem(other_.cert.get()));
  EXPECT_THAT(Msg((*dir)->Reload(absl::Now()).status()), HasSubstr("no CRL from client CA 'CN=Other CA'"));
  WriteFile("ca.pem", keymgmt::CertPem(ca_.cert.get()));

  CrlSpec second = Revoking({revoked_.cert.get(), good_.cert.get()});
  second.this_update = absl::Now() - absl::Minutes(1);
  WriteCrl(second);
  auto reloaded = (*dir)->Reload(absl::Now());
  ASSERT_TRUE(reloaded.ok()) << reloaded.status();
  EXPECT_THAT(*reloaded, HasSubstr("2 revoked"));
  EXPECT_EQ(Verify(store.get(), good_.cert.get()), X509_V_ERR_CERT_REVOKED) << "the store kept the old CRL";
  EXPECT_EQ(Verify(store.get(), revoked_.cert.get()), X509_V_ERR_CERT_REVOKED);
  // A store created afterwards (gRPC rebuilds its SSL_CTX when certificate files change) agrees.
  X509StorePtr fresh = GrpcLikeStore((*dir)->path());
  EXPECT_EQ(Verify(fresh.get(), good_.cert.get()), X509_V_ERR_CERT_REVOKED);
}

TEST_F(CrlTest, ABadOrOlderCrlOnReloadChangesNothing) {
  CrlSpec first = Revoking({revoked_.cert.get()});
  first.this_update = absl::Now() - absl::Minutes(10);
  WriteCrl(first);
  auto dir = CrlDirectory::Create(tls_, absl::Now());
  ASSERT_TRUE(dir.ok()) << dir.status();
  const std::string before = (*dir)->Summary();

  WriteFile("clients.crl", "garbage");
  auto garbage = (*dir)->Reload(absl::Now());
  EXPECT_THAT(Msg(garbage.status()), HasSubstr("server.tls.crl_file"));

  // An older CRL that un-revokes the client: refused (a rollback), and the revocation stays.
  CrlSpec older = Revoking({});
  older.this_update = absl::Now() - absl::Minutes(20);
  WriteCrl(older);
  auto rollback = (*dir)->Reload(absl::Now());
  EXPECT_THAT(Msg(rollback.status()), HasSubstr("not later than the one in use"));
  EXPECT_THAT(Msg(rollback.status()), HasSubstr("the CRLs in use stay in force"));

  EXPECT_EQ((*dir)->Summary(), before);
  X509StorePtr store = GrpcLikeStore((*dir)->path());
  EXPECT_EQ(Verify(store.get(), revoked_.cert.get()), X509_V_ERR_CERT_REVOKED);
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator((*dir)->path()), {}), 1)
      << "a refused reload left a file behind";
}

TEST_F(CrlTest, CreateRefusesWhatLoadRefuses) {
  WriteFile("clients.crl", "garbage");
  auto dir = CrlDirectory::Create(tls_, absl::Now());
  ASSERT_FALSE(dir.ok());
  EXPECT_THAT(Msg(dir.status()), HasSubstr("server.tls.crl_file"));
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir_), {}), 2) << "only ca.pem and clients.crl";
}

}  // namespace
}  // namespace signet::daemon
