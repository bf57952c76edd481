// The PKCS#11 layer against a real SoftHSM2 token (one throwaway token per test).
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <atomic>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/ec_curve.h"
#include "common/openssl_ptr.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pkcs11/certificate.h"
#include "pkcs11/error.h"
#include "pkcs11/hsm_key.h"
#include "pkcs11/key.h"
#include "pkcs11/objects.h"
#include "pkcs11/openssl_bridge.h"
#include "tests/testing/softhsm_token.h"

namespace signet::pkcs11 {
namespace {

using ::signet::testing::SoftHsmToken;
using ::testing::HasSubstr;

std::string Msg(const absl::Status& s) { return std::string(s.message()); }

std::vector<uint8_t> Sha(EcCurve curve, const std::string& data) {
  const EVP_MD* md = GetEcCurveInfo(curve).md();
  std::vector<uint8_t> out(EVP_MD_get_size(md));
  unsigned int len = 0;
  EXPECT_EQ(EVP_Digest(data.data(), data.size(), out.data(), &len, md, nullptr), 1);
  return out;
}

// Verifies r||s over a digest with nothing but OpenSSL.
bool OpenSslVerifies(EVP_PKEY* pub, std::span<const uint8_t> digest, std::span<const uint8_t> rs) {
  const size_t half = rs.size() / 2;
  EcdsaSigPtr sig(ECDSA_SIG_new());
  ECDSA_SIG_set0(sig.get(), BN_bin2bn(rs.data(), half, nullptr), BN_bin2bn(rs.data() + half, half, nullptr));
  unsigned char* der = nullptr;
  int der_len = i2d_ECDSA_SIG(sig.get(), &der);
  OpenSslBytesPtr owned(der);
  EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new(pub, nullptr));
  return EVP_PKEY_verify_init(ctx.get()) == 1 &&
         EVP_PKEY_verify(ctx.get(), der, der_len, digest.data(), digest.size()) == 1;
}

class Pkcs11Test : public ::testing::Test {
 protected:
  void SetUp() override {
    auto t = SoftHsmToken::Create();
    ASSERT_TRUE(t.ok()) << t.status();
    hsm_ = *std::move(t);
    auto pool = hsm_->Pool(4);
    ASSERT_TRUE(pool.ok()) << pool.status();
    pool_ = *std::move(pool);
  }
  void TearDown() override {
    pool_.reset();
    hsm_.reset();
  }
  absl::StatusOr<EcKeyInfo> Generate(EcCurve curve, const std::string& label) {
    return pool_->Run([&](Session& s) { return GenerateEcKey(s, curve, label); });
  }

  std::unique_ptr<SoftHsmToken> hsm_;
  std::shared_ptr<SessionPool> pool_;
};

class PerCurveTest : public Pkcs11Test, public ::testing::WithParamInterface<EcCurve> {};

TEST_P(PerCurveTest, PrivateKeyIsNonExportable) {
  auto key = Generate(GetParam(), "nonexportable");
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(key->id.size(), kKeyIdBytes);
  auto lease = pool_->Acquire();
  ASSERT_TRUE(lease.ok());
  const Session& s = lease->session();
  auto handle = FindPrivateKeyHandle(s, key->id);
  ASSERT_TRUE(handle.ok()) << handle.status();

  // CKA_VALUE of the private key is refused by the token itself.
  auto value = GetAttributeBytes(s, *handle, CKA_VALUE);
  ASSERT_FALSE(value.ok());
  EXPECT_EQ(CkrOf(value.status()), CKR_ATTRIBUTE_SENSITIVE) << value.status();
  EXPECT_THAT(Msg(value.status()), HasSubstr("CKR_ATTRIBUTE_SENSITIVE"));

  EXPECT_EQ(GetAttributeBool(s, *handle, CKA_EXTRACTABLE).value(), false);
  EXPECT_EQ(GetAttributeBool(s, *handle, CKA_SENSITIVE).value(), true);
  EXPECT_EQ(GetAttributeBool(s, *handle, CKA_NEVER_EXTRACTABLE).value(), true);
  EXPECT_EQ(GetAttributeBool(s, *handle, CKA_ALWAYS_SENSITIVE).value(), true);
  EXPECT_EQ(GetAttributeBool(s, *handle, CKA_TOKEN).value(), true);
  EXPECT_EQ(GetAttributeBool(s, *handle, CKA_PRIVATE).value(), true);
  EXPECT_EQ(GetAttributeBool(s, *handle, CKA_SIGN).value(), true);
  EXPECT_EQ(GetAttributeBool(s, *handle, CKA_DECRYPT).value(), false);
  EXPECT_EQ(GetAttributeBool(s, *handle, CKA_UNWRAP).value(), false);
  EXPECT_EQ(GetAttributeBool(s, *handle, CKA_DERIVE).value(), false);

  // A wrapping key that would happily wrap an extractable key cannot wrap ours, by any mechanism.
  const Module& m = s.module();
  CK_OBJECT_CLASS secret = CKO_SECRET_KEY;
  CK_KEY_TYPE aes = CKK_AES;
  CK_ULONG len = 32;
  CK_BBOOL yes = CK_TRUE;
  CK_BBOOL no = CK_FALSE;
  CK_ATTRIBUTE aes_tmpl[] = {Attr(CKA_CLASS, &secret), Attr(CKA_KEY_TYPE, &aes), Attr(CKA_VALUE_LEN, &len),
                             Attr(CKA_WRAP, &yes), Attr(CKA_TOKEN, &no), Attr(CKA_ENCRYPT, &yes)};
  CK_MECHANISM gen{CKM_AES_KEY_GEN, nullptr, 0};
  CK_OBJECT_HANDLE wrapping = CK_INVALID_HANDLE;
  ASSERT_TRUE(SIGNET_P11(m, C_GenerateKey, s.handle(), &gen, aes_tmpl, std::size(aes_tmpl), &wrapping).ok());
  unsigned char iv[16] = {0};
  CK_MECHANISM mechs[] = {{CKM_AES_KEY_WRAP, nullptr, 0},
                          {CKM_AES_KEY_WRAP_PAD, nullptr, 0},
                          {CKM_AES_CBC_PAD, iv, sizeof(iv)}};
  for (CK_MECHANISM& mech : mechs) {
    std::vector<uint8_t> out(4096);
    CK_ULONG out_len = out.size();
    absl::Status wrap =
        SIGNET_P11(m, C_WrapKey, s.handle(), &mech, wrapping, *handle, out.data(), &out_len);
    EXPECT_FALSE(wrap.ok()) << "mechanism 0x" << std::hex << mech.mechanism << " wrapped the private key";
    auto rv = CkrOf(wrap);
    ASSERT_TRUE(rv.has_value());
    EXPECT_TRUE(*rv == CKR_KEY_UNEXTRACTABLE || *rv == CKR_KEY_NOT_WRAPPABLE || *rv == CKR_MECHANISM_INVALID)
        << Msg(wrap);
  }
  // The first (standard) mechanism must be refused for exactly the right reason.
  std::vector<uint8_t> out(4096);
  CK_ULONG out_len = out.size();
  auto wrap = SIGNET_P11(m, C_WrapKey, s.handle(), &mechs[1], wrapping, *handle, out.data(), &out_len);
  EXPECT_EQ(CkrOf(wrap), CKR_KEY_UNEXTRACTABLE) << Msg(wrap);
}

TEST_P(PerCurveTest, SignaturesVerifyWithOpenSsl) {
  const EcCurve curve = GetParam();
  auto info = Generate(curve, "sign-verify");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(EcCurveOfKey(info->public_key.get()).value(), curve);
  auto key = HsmKey::Load(pool_, KeyQuery{.label = "sign-verify"});
  ASSERT_TRUE(key.ok()) << key.status();
  for (int i = 0; i < 5; ++i) {
    auto digest = Sha(curve, "message " + std::to_string(i));
    auto sig = (*key)->SignDigest(digest);
    ASSERT_TRUE(sig.ok()) << sig.status();
    ASSERT_EQ(sig->size(), 2 * GetEcCurveInfo(curve).field_bytes);
    EXPECT_TRUE(OpenSslVerifies((*key)->public_key(), digest, *sig));
    // One flipped byte, in the signature or the digest, must fail.
    auto bad_sig = *sig;
    bad_sig[i % bad_sig.size()] ^= 0x01;
    EXPECT_FALSE(OpenSslVerifies((*key)->public_key(), digest, bad_sig));
    auto bad_digest = digest;
    bad_digest[0] ^= 0x80;
    EXPECT_FALSE(OpenSslVerifies((*key)->public_key(), bad_digest, *sig));
  }
}

TEST_P(PerCurveTest, BridgeSignsCertificateAndCsrWithHsmKey) {
  const EcCurve curve = GetParam();
  auto info = Generate(curve, "bridge");
  ASSERT_TRUE(info.ok()) << info.status();
  auto key = HsmKey::Load(pool_, KeyQuery{.id = info->id});
  ASSERT_TRUE(key.ok()) << key.status();
  auto pkey = HsmKeyToEvpPkey(*key);
  ASSERT_TRUE(pkey.ok()) << pkey.status();

  X509Ptr cert(X509_new());
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 42);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("bridge test"), -1,
                             -1, 0);
  X509_set_issuer_name(cert.get(), name);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 3600);
  ASSERT_EQ(X509_set_pubkey(cert.get(), (*key)->public_key()), 1);
  ASSERT_GT(X509_sign(cert.get(), pkey->get(), GetEcCurveInfo(curve).md()), 0);
  EXPECT_EQ(X509_verify(cert.get(), (*key)->public_key()), 1);

  // Tamper with the signed bytes (the subject CN inside the DER): the signature no longer verifies.
  {
    unsigned char* raw = nullptr;
    int raw_len = i2d_X509(cert.get(), &raw);
    OpenSslBytesPtr raw_owned(raw);
    std::string der(reinterpret_cast<char*>(raw), raw_len);
    size_t at = der.find("bridge test");
    ASSERT_NE(at, std::string::npos);
    der[at] = 'c';
    const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
    X509Ptr tampered(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
    ASSERT_TRUE(tampered);
    EXPECT_NE(X509_verify(tampered.get(), (*key)->public_key()), 1);
  }

  X509ReqPtr req(X509_REQ_new());
  X509_REQ_set_subject_name(req.get(), name);
  ASSERT_EQ(X509_REQ_set_pubkey(req.get(), (*key)->public_key()), 1);
  ASSERT_GT(X509_REQ_sign(req.get(), pkey->get(), GetEcCurveInfo(curve).md()), 0);
  EXPECT_EQ(X509_REQ_verify(req.get(), (*key)->public_key()), 1);

  // The certificate object on the token carries the key's id: that is how a key is activated.
  unsigned char* der = nullptr;
  int der_len = i2d_X509(cert.get(), &der);
  OpenSslBytesPtr owned(der);
  std::vector<uint8_t> cert_der(der, der + der_len);
  auto stored = pool_->Run([&](Session& s) { return StoreCertificate(s, cert_der, info->id, "bridge/cert"); });
  ASSERT_TRUE(stored.ok()) << stored;
  auto found = pool_->Run([&](Session& s) { return FindCertificates(s, std::span<const uint8_t>(info->id)); });
  ASSERT_TRUE(found.ok()) << found.status();
  ASSERT_EQ(found->size(), 1u);
  EXPECT_EQ(found->front().der, cert_der);
  EXPECT_EQ(found->front().label, "bridge/cert");
  auto other = pool_->Run([&](Session& s) {
    std::vector<uint8_t> id(16, 0xee);
    return FindCertificates(s, std::span<const uint8_t>(id));
  });
  ASSERT_TRUE(other.ok());
  EXPECT_TRUE(other->empty());
}

INSTANTIATE_TEST_SUITE_P(Curves, PerCurveTest, ::testing::Values(EcCurve::kP256, EcCurve::kP384, EcCurve::kP521),
                         [](const auto& info) { return std::string(GetEcCurveInfo(info.param).name.substr(2)); });

TEST_F(Pkcs11Test, EightThreadsThroughThePoolProduceOnlyValidSignatures) {
  ASSERT_TRUE(Generate(EcCurve::kP256, "concurrent").ok());
  auto key = HsmKey::Load(pool_, KeyQuery{.label = "concurrent"});
  ASSERT_TRUE(key.ok()) << key.status();
  std::atomic<int> good{0};
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 40; ++i) {
        auto digest = Sha(EcCurve::kP256, "thread " + std::to_string(t) + " item " + std::to_string(i));
        auto sig = (*key)->SignDigest(digest);
        if (sig.ok() && OpenSslVerifies((*key)->public_key(), digest, *sig)) {
          ++good;
        } else {
          ++bad;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(good.load(), 8 * 40);
  EXPECT_EQ(bad.load(), 0);
  EXPECT_LE(pool_->stats().opened, pool_->capacity());
}

TEST_F(Pkcs11Test, PoolIsCappedAndTimesOut) {
  SessionPoolOptions opts;
  opts.max_sessions = 2;
  opts.acquire_timeout = std::chrono::milliseconds(50);
  auto pool = SessionPool::Create(hsm_->token(), opts);
  ASSERT_TRUE(pool.ok());
  auto a = (*pool)->Acquire();
  auto b = (*pool)->Acquire();
  ASSERT_TRUE(a.ok() && b.ok());
  auto c = (*pool)->Acquire();
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(Msg(c.status()), HasSubstr("no free HSM session"));
}

TEST_F(Pkcs11Test, DeadSessionIsReplacedAndKeyHandleLookedUpAgain) {
  ASSERT_TRUE(Generate(EcCurve::kP384, "recover").ok());
  auto key = HsmKey::Load(pool_, KeyQuery{.label = "recover"});
  ASSERT_TRUE(key.ok());
  auto digest = Sha(EcCurve::kP384, "before");
  ASSERT_TRUE((*key)->SignDigest(digest).ok());
  const uint64_t epoch = pool_->epoch();
  {
    // Kill the session behind the pool's back, as an HSM restart would.
    auto lease = pool_->Acquire();
    ASSERT_TRUE(lease.ok());
    const Module& m = lease->session().module();
    ASSERT_TRUE(SIGNET_P11(m, C_CloseSession, lease->session().handle()).ok());
    auto sig = (*key)->SignDigest(*lease, digest);
    ASSERT_TRUE(sig.ok()) << sig.status();
    EXPECT_TRUE(OpenSslVerifies((*key)->public_key(), digest, *sig));
  }
  EXPECT_EQ(pool_->stats().replaced, 1u);
  EXPECT_GT(pool_->epoch(), epoch);
}

TEST_F(Pkcs11Test, LostLoginIsRedone) {
  ASSERT_TRUE(Generate(EcCurve::kP256, "relogin").ok());
  auto key = HsmKey::Load(pool_, KeyQuery{.label = "relogin"});
  ASSERT_TRUE(key.ok());
  auto digest = Sha(EcCurve::kP256, "x");
  ASSERT_TRUE((*key)->SignDigest(digest).ok());
  {
    auto lease = pool_->Acquire();
    ASSERT_TRUE(lease.ok());
    const Module& m = lease->session().module();
    ASSERT_TRUE(SIGNET_P11(m, C_Logout, lease->session().handle()).ok());
    auto sig = (*key)->SignDigest(*lease, digest);
    ASSERT_TRUE(sig.ok()) << sig.status();
    EXPECT_TRUE(OpenSslVerifies((*key)->public_key(), digest, *sig));
  }
  EXPECT_EQ(pool_->stats().relogins, 1u);
}

TEST_F(Pkcs11Test, IdleSessionIsCheckedWhenTaken) {
  SessionPoolOptions opts;
  opts.max_sessions = 1;
  opts.idle_check = std::chrono::milliseconds(0);
  auto pool = SessionPool::Create(hsm_->token(), opts);
  ASSERT_TRUE(pool.ok());
  CK_SESSION_HANDLE old = CK_INVALID_HANDLE;
  {
    auto lease = (*pool)->Acquire();
    ASSERT_TRUE(lease.ok());
    old = lease->session().handle();
    ASSERT_TRUE(SIGNET_P11(lease->session().module(), C_CloseSession, old).ok());
  }
  auto lease = (*pool)->Acquire();
  ASSERT_TRUE(lease.ok()) << lease.status();
  EXPECT_TRUE(lease->session().State().ok());
  EXPECT_EQ((*pool)->stats().replaced, 1u);
}

TEST_F(Pkcs11Test, DuplicateLabelIsRefused) {
  ASSERT_TRUE(Generate(EcCurve::kP256, "dup").ok());
  auto again = Generate(EcCurve::kP384, "dup");
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(Msg(again.status()), HasSubstr("'dup' already exists"));
}

TEST_F(Pkcs11Test, BadLabelsAreRefused) {
  EXPECT_EQ(Generate(EcCurve::kP256, "").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Msg(Generate(EcCurve::kP256, std::string(129, 'a')).status()), HasSubstr("1..128 bytes"));
  EXPECT_THAT(Msg(Generate(EcCurve::kP256, "bad\nlabel").status()), HasSubstr("control character"));
}

TEST_F(Pkcs11Test, MissingKeyLabelIsNotFound) {
  auto key = HsmKey::Load(pool_, KeyQuery{.label = "no-such-key"});
  ASSERT_FALSE(key.ok());
  EXPECT_EQ(key.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Msg(key.status()), HasSubstr("no EC private key with label 'no-such-key'"));
}

TEST_F(Pkcs11Test, DigestLengthIsBounded) {
  ASSERT_TRUE(Generate(EcCurve::kP256, "digest").ok());
  auto key = HsmKey::Load(pool_, KeyQuery{.label = "digest"});
  ASSERT_TRUE(key.ok());
  std::vector<uint8_t> empty;
  EXPECT_THAT(Msg((*key)->SignDigest(empty).status()), HasSubstr("digest must be 1..64 bytes, got 0"));
  std::vector<uint8_t> huge(65, 1);
  EXPECT_THAT(Msg((*key)->SignDigest(huge).status()), HasSubstr("got 65"));
}

TEST_F(Pkcs11Test, ListAndDestroyKeys) {
  auto a = Generate(EcCurve::kP256, "a");
  auto b = Generate(EcCurve::kP521, "b");
  ASSERT_TRUE(a.ok() && b.ok());
  auto keys = pool_->Run([&](Session& s) { return ListEcKeys(s); });
  ASSERT_TRUE(keys.ok());
  EXPECT_EQ(keys->size(), 2u);
  ASSERT_TRUE(pool_->Run([&](Session& s) { return DestroyKeyObjects(s, a->id); }).ok());
  keys = pool_->Run([&](Session& s) { return ListEcKeys(s); });
  ASSERT_TRUE(keys.ok());
  ASSERT_EQ(keys->size(), 1u);
  EXPECT_EQ(keys->front().label, "b");
  EXPECT_EQ(keys->front().curve, EcCurve::kP521);
}

// SoftHSM re-reads its token directory on C_FindObjectsInit; without LockTokenObjects a search racing a
// key generation in another thread of the process could hide the new key until the token changed again.
TEST_F(Pkcs11Test, KeysMadeWhileAnotherThreadSearchesAreFoundAtOnce) {
  std::atomic<bool> stop{false};
  std::atomic<int> searches{0};
  std::thread searcher([&] {
    while (!stop.load()) {
      if (pool_->Run([&](Session& s) { return ListEcKeys(s); }).ok()) ++searches;
    }
  });
  int missing = 0;
  constexpr int kKeys = 40;
  for (int i = 0; i < kKeys; ++i) {
    auto info = Generate(EcCurve::kP256, absl::StrCat("race/", i));
    if (!info.ok()) {
      ADD_FAILURE() << info.status();
      break;
    }
    auto found = pool_->Run([&](Session& s) { return FindEcKey(s, KeyQuery{.id = info->id}); });
    if (!found.ok()) ++missing;
  }
  stop.store(true);
  searcher.join();
  EXPECT_EQ(missing, 0) << "of " << kKeys << " keys, made while " << searches.load() << " searches ran";
  EXPECT_GT(searches.load(), 0);
}

TEST_F(Pkcs11Test, TokenFoundByUriAndSerial) {
  const TokenInfo& info = hsm_->token()->info();
  auto tokens = hsm_->module()->Tokens();
  ASSERT_TRUE(tokens.ok());
  auto by_uri = ParseTokenSelector("pkcs11:token=signet-test;serial=" + info.serial);
  ASSERT_TRUE(by_uri.ok());
  EXPECT_EQ(SelectToken(*tokens, *by_uri)->slot, info.slot);
  auto by_serial = ParseTokenSelector("serial=" + info.serial);
  ASSERT_TRUE(by_serial.ok());
  EXPECT_EQ(SelectToken(*tokens, *by_serial)->slot, info.slot);
}

TEST_F(Pkcs11Test, MissingTokenNamesWhatIsPresent) {
  TokenSelector sel;
  sel.token = "no-such-token";
  auto token = Token::Login(hsm_->module(), sel, SecretBuffer(testing::kTestUserPin));
  ASSERT_FALSE(token.ok());
  EXPECT_EQ(token.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Msg(token.status()), HasSubstr("no token matches token=no-such-token"));
  EXPECT_THAT(Msg(token.status()), HasSubstr("'signet-test'"));
}

TEST_F(Pkcs11Test, WrongPinFailsOnceAndIsNeverRetried) {
  ASSERT_TRUE(hsm_->AddToken("second").ok());
  TokenSelector sel;
  sel.token = "second";
  const std::string wrong_pin = "definitely-wrong-pin";
  auto first = Token::Login(hsm_->module(), sel, SecretBuffer(wrong_pin));
  ASSERT_FALSE(first.ok());
  EXPECT_EQ(CkrOf(first.status()), CKR_PIN_INCORRECT);
  EXPECT_THAT(Msg(first.status()), HasSubstr("C_Login: CKR_PIN_INCORRECT"));
  EXPECT_THAT(Msg(first.status()), Not(HasSubstr(wrong_pin)));
  // A second attempt in this process is refused before it reaches the token.
  auto second = Token::Login(hsm_->module(), sel, SecretBuffer(wrong_pin));
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(Msg(second.status()), HasSubstr("not trying again so the token is not locked"));
  EXPECT_FALSE(CkrOf(second.status()).has_value());
}

TEST_F(Pkcs11Test, SecondLoginSharesTheTokenAndChecksThePin) {
  TokenSelector sel;
  sel.token = "signet-test";
  // C_Login would answer CKR_USER_ALREADY_LOGGED_IN for any PIN: the PIN must be checked by us.
  auto wrong = Token::Login(hsm_->module(), sel, SecretBuffer("not-the-pin"));
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(Msg(wrong.status()), HasSubstr("logged in with a different PIN"));
  auto same = Token::Login(hsm_->module(), sel, SecretBuffer(testing::kTestUserPin));
  ASSERT_TRUE(same.ok()) << same.status();
  EXPECT_EQ(same->get(), hsm_->token().get());
  // Dropping the second reference must not log the first owner out.
  same->reset();
  ASSERT_TRUE(Generate(EcCurve::kP256, "still-logged-in").ok());
  EXPECT_TRUE(HsmKey::Load(pool_, KeyQuery{.label = "still-logged-in"}).ok());
}

TEST_F(Pkcs11Test, RecoversWhenTheHsmDropsEverySessionAndTheLogin) {
  ASSERT_TRUE(Generate(EcCurve::kP384, "restart").ok());
  auto key = HsmKey::Load(pool_, KeyQuery{.label = "restart"});
  ASSERT_TRUE(key.ok());
  auto digest = Sha(EcCurve::kP384, "after restart");
  // What an HSM restart looks like from here: every session of the application gone, login with them.
  const Module& m = *hsm_->module();
  ASSERT_TRUE(SIGNET_P11(m, C_CloseAllSessions, hsm_->token()->info().slot).ok());
  for (int i = 0; i < 3; ++i) {
    auto sig = (*key)->SignDigest(digest);
    ASSERT_TRUE(sig.ok()) << "attempt " << i << ": " << sig.status();
    EXPECT_TRUE(OpenSslVerifies((*key)->public_key(), digest, *sig));
  }
  EXPECT_GE(pool_->stats().relogins, 1u);
}

TEST_F(Pkcs11Test, LeaseKeepsItsPoolAlive) {
  auto lease = pool_->Acquire();
  ASSERT_TRUE(lease.ok());
  std::weak_ptr<SessionPool> weak = pool_;
  pool_.reset();
  EXPECT_FALSE(weak.expired());
  EXPECT_TRUE(lease->session().State().ok());
}

TEST_F(Pkcs11Test, LeaseFromAnotherPoolIsRefused) {
  ASSERT_TRUE(Generate(EcCurve::kP256, "pool-a").ok());
  auto key = HsmKey::Load(pool_, KeyQuery{.label = "pool-a"});
  ASSERT_TRUE(key.ok());
  auto other = hsm_->Pool(1);
  ASSERT_TRUE(other.ok());
  auto lease = (*other)->Acquire();
  ASSERT_TRUE(lease.ok());
  auto sig = (*key)->SignDigest(*lease, Sha(EcCurve::kP256, "x"));
  ASSERT_FALSE(sig.ok());
  EXPECT_THAT(Msg(sig.status()), HasSubstr("lease belongs to another session pool"));
}

TEST_F(Pkcs11Test, BridgeKeySurvivesDuplication) {
  ASSERT_TRUE(Generate(EcCurve::kP256, "dup-bridge").ok());
  auto key = HsmKey::Load(pool_, KeyQuery{.label = "dup-bridge"});
  ASSERT_TRUE(key.ok());
  auto pkey = HsmKeyToEvpPkey(*key);
  ASSERT_TRUE(pkey.ok());
  EvpPkeyPtr copy(EVP_PKEY_dup(pkey->get()));
  ASSERT_NE(copy, nullptr);
  pkey->reset();  // the copy must still sign: it owns its own bridge state
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  size_t len = 0;
  const unsigned char msg[] = "duplicated";
  ASSERT_EQ(EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, copy.get()), 1);
  ASSERT_EQ(EVP_DigestSign(ctx.get(), nullptr, &len, msg, sizeof(msg)), 1);
  std::vector<unsigned char> sig(len);
  ASSERT_EQ(EVP_DigestSign(ctx.get(), sig.data(), &len, msg, sizeof(msg)), 1);
}

// Writes a public EC key object with `id` and the point of `donor`.
absl::Status PlantPublicKey(const Session& s, const EcKeyInfo& donor, const std::vector<uint8_t>& id) {
  CK_OBJECT_CLASS cls = CKO_PUBLIC_KEY;
  CK_KEY_TYPE kt = CKK_EC;
  CK_BBOOL yes = CK_TRUE;
  CK_BBOOL no = CK_FALSE;
  // The donor's public point, from its own public key object.
  CK_ATTRIBUTE find[] = {Attr(CKA_CLASS, &cls), AttrBytes(CKA_ID, donor.id.data(), donor.id.size())};
  auto pubs = FindObjects(s, find);
  if (!pubs.ok() || pubs->empty()) return absl::InternalError("donor has no public key");
  auto point = GetAttributeBytes(s, pubs->front(), CKA_EC_POINT);
  auto ec_params = GetAttributeBytes(s, pubs->front(), CKA_EC_PARAMS);
  if (!point.ok() || !ec_params.ok()) return absl::InternalError("donor attributes");
  CK_ATTRIBUTE tmpl[] = {Attr(CKA_CLASS, &cls), Attr(CKA_KEY_TYPE, &kt), Attr(CKA_TOKEN, &yes),
                         Attr(CKA_PRIVATE, &no), AttrBytes(CKA_ID, id.data(), id.size()),
                         AttrBytes(CKA_EC_PARAMS, ec_params->data(), ec_params->size()),
                         AttrBytes(CKA_EC_POINT, point->data(), point->size())};
  CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
  return SIGNET_P11(s.module(), C_CreateObject, s.handle(), tmpl, std::size(tmpl), &h);
}

TEST_F(Pkcs11Test, PlantedPublicKeyIsNeverTrusted) {
  auto victim = Generate(EcCurve::kP256, "victim");
  auto attacker = Generate(EcCurve::kP256, "attacker");
  ASSERT_TRUE(victim.ok() && attacker.ok());
  auto lease = pool_->Acquire();
  ASSERT_TRUE(lease.ok());
  const Session& s = lease->session();
  // A second public key object with the victim's id: ambiguous, refused.
  ASSERT_TRUE(PlantPublicKey(s, *attacker, victim->id).ok());
  auto loaded = HsmKey::Load(pool_, KeyQuery{.label = "victim"});
  ASSERT_FALSE(loaded.ok());
  EXPECT_THAT(Msg(loaded.status()), HasSubstr("2 public key objects share its id"));
  // Remove the genuine public key: the planted one alone must fail the pairing check.
  CK_OBJECT_CLASS cls = CKO_PUBLIC_KEY;
  CK_ATTRIBUTE find[] = {Attr(CKA_CLASS, &cls), AttrBytes(CKA_ID, victim->id.data(), victim->id.size())};
  auto pubs = FindObjects(s, find);
  ASSERT_TRUE(pubs.ok());
  ASSERT_EQ(pubs->size(), 2u);
  for (CK_OBJECT_HANDLE h : *pubs) {
    auto label = GetAttributeBytes(s, h, CKA_LABEL);  // the planted object has none
    if (label.ok() && std::string(label->begin(), label->end()) == "victim") {
      ASSERT_TRUE(DestroyObject(s, h).ok());
    }
  }
  loaded = HsmKey::Load(pool_, KeyQuery{.label = "victim"});
  ASSERT_FALSE(loaded.ok());
  EXPECT_THAT(Msg(loaded.status()), HasSubstr("does not match the private key"));
}

TEST(SoftHsmTokenTest, SecondLiveInstanceIsRefused) {
  auto first = SoftHsmToken::Create();
  ASSERT_TRUE(first.ok());
  auto second = SoftHsmToken::Create("another");
  ASSERT_FALSE(second.ok());
  EXPECT_THAT(Msg(second.status()), HasSubstr("already loaded"));
}

TEST(ModuleTest, MissingModuleFileIsNamed) {
  auto m = Module::Load("/nonexistent/libnothing.so");
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Msg(m.status()), HasSubstr("/nonexistent/libnothing.so"));
}

TEST(ModuleTest, LibraryThatIsNotPkcs11IsRefused) {
  auto m = Module::Load("/lib/x86_64-linux-gnu/libz.so.1");
  ASSERT_FALSE(m.ok());
  EXPECT_THAT(Msg(m.status()), HasSubstr("no C_GetFunctionList"));
}

TEST(ModuleTest, SecondLoadSharesTheModule) {
  auto hsm = SoftHsmToken::Create();
  ASSERT_TRUE(hsm.ok()) << hsm.status();
  auto again = Module::Load(SIGNET_SOFTHSM_MODULE);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->get(), (*hsm)->module().get());
}

}  // namespace
}  // namespace signet::pkcs11
