// Interop: a key that Signet generated is found and used by libp11, a PKCS#11 consumer nobody here
// wrote, through OpenSSL. This shows that our objects (label, CKA_ID, EC params/point, flags) are the
// standard ones other tools expect. libp11 runs only after our Module is released: releasing
// libp11's context closes all sessions and finalizes the module (see pkcs11/openssl_bridge.h).
#include <libp11.h>
#include <openssl/evp.h>

#include <cstring>
#include <string>

#include "common/openssl_ptr.h"
#include "gtest/gtest.h"
#include "pkcs11/key.h"
#include "tests/testing/softhsm_token.h"

namespace signet {
namespace {

struct Libp11Ctx {
  PKCS11_CTX* ctx = PKCS11_CTX_new();
  PKCS11_SLOT* slots = nullptr;
  unsigned int nslots = 0;
  bool loaded = false;
  ~Libp11Ctx() {
    if (slots != nullptr) PKCS11_release_all_slots(ctx, slots, nslots);
    if (loaded) PKCS11_CTX_unload(ctx);
    PKCS11_CTX_free(ctx);
  }
};

class Libp11InteropTest : public ::testing::TestWithParam<EcCurve> {};

TEST_P(Libp11InteropTest, Libp11SignsWithSignetGeneratedKey) {
  const EcCurve curve = GetParam();
  auto hsm = testing::SoftHsmToken::Create("interop");
  ASSERT_TRUE(hsm.ok()) << hsm.status();
  EvpPkeyPtr public_key;
  std::vector<uint8_t> id;
  {
    auto pool = (*hsm)->Pool(1);
    ASSERT_TRUE(pool.ok());
    auto key = (*pool)->Run([&](pkcs11::Session& s) { return pkcs11::GenerateEcKey(s, curve, "interop-key"); });
    ASSERT_TRUE(key.ok()) << key.status();
    public_key = std::move(key->public_key);
    id = key->id;
  }
  (*hsm)->Release();  // finalize our use of the module before libp11 loads it

  Libp11Ctx p11;
  ASSERT_NE(p11.ctx, nullptr);
  ASSERT_EQ(PKCS11_CTX_load(p11.ctx, SIGNET_SOFTHSM_MODULE), 0);
  p11.loaded = true;
  ASSERT_EQ(PKCS11_enumerate_slots(p11.ctx, &p11.slots, &p11.nslots), 0);
  PKCS11_SLOT* slot = nullptr;
  for (unsigned int i = 0; i < p11.nslots; ++i) {
    PKCS11_TOKEN* t = p11.slots[i].token;
    if (t != nullptr && t->initialized && std::strcmp(t->label, "interop") == 0) slot = &p11.slots[i];
  }
  ASSERT_NE(slot, nullptr) << "libp11 does not see the token";
  ASSERT_EQ(PKCS11_open_session(slot, 0), 0);
  ASSERT_EQ(PKCS11_login(slot, 0, testing::kTestUserPin), 0);

  PKCS11_KEY* keys = nullptr;
  unsigned int nkeys = 0;
  ASSERT_EQ(PKCS11_enumerate_keys(slot->token, &keys, &nkeys), 0);
  PKCS11_KEY* ours = nullptr;
  for (unsigned int i = 0; i < nkeys; ++i) {
    if (keys[i].label != nullptr && std::strcmp(keys[i].label, "interop-key") == 0) ours = &keys[i];
  }
  ASSERT_NE(ours, nullptr) << "libp11 does not find the key by label";
  EXPECT_TRUE(ours->isPrivate);
  ASSERT_EQ(ours->id_len, id.size());
  EXPECT_EQ(std::memcmp(ours->id, id.data(), id.size()), 0);

  // libp11 returns a new reference; declared after `p11`, so it is freed before the context.
  EvpPkeyPtr hsm_key(PKCS11_get_private_key(ours));
  ASSERT_NE(hsm_key, nullptr);
  const std::string msg = "signed by libp11 with a key Signet made";
  const EVP_MD* md = GetEcCurveInfo(curve).md();
  EvpMdCtxPtr sctx(EVP_MD_CTX_new());
  size_t sig_len = 0;
  ASSERT_EQ(EVP_DigestSignInit(sctx.get(), nullptr, md, nullptr, hsm_key.get()), 1);
  ASSERT_EQ(EVP_DigestSign(sctx.get(), nullptr, &sig_len, reinterpret_cast<const unsigned char*>(msg.data()),
                           msg.size()),
            1);
  std::vector<unsigned char> sig(sig_len);
  ASSERT_EQ(EVP_DigestSign(sctx.get(), sig.data(), &sig_len, reinterpret_cast<const unsigned char*>(msg.data()),
                           msg.size()),
            1);
  sig.resize(sig_len);

  EvpMdCtxPtr vctx(EVP_MD_CTX_new());
  ASSERT_EQ(EVP_DigestVerifyInit(vctx.get(), nullptr, md, nullptr, public_key.get()), 1);
  EXPECT_EQ(EVP_DigestVerify(vctx.get(), sig.data(), sig.size(), reinterpret_cast<const unsigned char*>(msg.data()),
                             msg.size()),
            1);
}

INSTANTIATE_TEST_SUITE_P(Curves, Libp11InteropTest, ::testing::Values(EcCurve::kP256, EcCurve::kP384),
                         [](const auto& info) { return std::string(GetEcCurveInfo(info.param).name.substr(2)); });

}  // namespace
}  // namespace signet
