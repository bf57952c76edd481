// EC_KEY_METHOD is deprecated in OpenSSL 3 in favour of providers, but it is still honoured for
// "foreign" keys (OpenSSL routes them through the legacy path), and a provider would be far more code
// for the same effect. The deprecation is silenced for this file only.
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include "pkcs11/openssl_bridge.h"

#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>

#include <mutex>

#include "common/absl_compat.h"
#include "spdlog/spdlog.h"

namespace signet::pkcs11 {
namespace {

struct BridgeState {
  std::shared_ptr<HsmKey> key;
};

int g_ex_index = -1;
EC_KEY_METHOD* g_method = nullptr;
std::once_flag g_init;

void FreeState(void* /*parent*/, void* ptr, CRYPTO_EX_DATA* /*ad*/, int /*idx*/, long /*argl*/, void* /*argp*/) {
  delete static_cast<BridgeState*>(ptr);
}

// EVP_PKEY_dup / EC_KEY_copy copy ex_data pointers; give the copy its own state (sharing the key) so
// each EC_KEY frees exactly what it owns.
int DupState(CRYPTO_EX_DATA* /*to*/, const CRYPTO_EX_DATA* /*from*/, void** from_d, int /*idx*/, long /*argl*/,
             void* /*argp*/) {
  auto** slot = reinterpret_cast<BridgeState**>(from_d);
  if (*slot != nullptr) *slot = new BridgeState(**slot);
  return 1;
}

ECDSA_SIG* SignSig(const unsigned char* dgst, int dgst_len, const BIGNUM* /*kinv*/, const BIGNUM* /*r*/,
                   EC_KEY* eckey) {
  auto* state = static_cast<BridgeState*>(EC_KEY_get_ex_data(eckey, g_ex_index));
  if (state == nullptr || dgst_len <= 0) return nullptr;
  auto sig = state->key->SignDigest(std::span<const uint8_t>(dgst, static_cast<size_t>(dgst_len)));
  if (!sig.ok()) {
    spdlog::error("pkcs11 bridge: HSM signature failed: {}", Sv(sig.status().message()));
    return nullptr;
  }
  const size_t half = sig->size() / 2;
  BignumPtr r(BN_bin2bn(sig->data(), static_cast<int>(half), nullptr));
  BignumPtr s(BN_bin2bn(sig->data() + half, static_cast<int>(half), nullptr));
  EcdsaSigPtr out(ECDSA_SIG_new());
  if (!r || !s || !out || ECDSA_SIG_set0(out.get(), r.get(), s.get()) != 1) return nullptr;
  r.release();
  s.release();
  return out.release();
}

int Sign(int /*type*/, const unsigned char* dgst, int dlen, unsigned char* sig, unsigned int* siglen,
         const BIGNUM* kinv, const BIGNUM* r, EC_KEY* eckey) {
  EcdsaSigPtr s(SignSig(dgst, dlen, kinv, r, eckey));
  if (!s) return 0;
  unsigned char* p = sig;
  int len = i2d_ECDSA_SIG(s.get(), &p);  // OpenSSL sized `sig` with ECDSA_size()
  if (len <= 0) return 0;
  *siglen = static_cast<unsigned int>(len);
  return 1;
}

void Init() {
  g_ex_index = EC_KEY_get_ex_new_index(0, nullptr, nullptr, DupState, FreeState);
  g_method = EC_KEY_METHOD_new(EC_KEY_OpenSSL());
  if (g_method == nullptr || g_ex_index < 0) return;
  int (*default_sign)(int, const unsigned char*, int, unsigned char*, unsigned int*, const BIGNUM*, const BIGNUM*,
                      EC_KEY*) = nullptr;
  int (*default_setup)(EC_KEY*, BN_CTX*, BIGNUM**, BIGNUM**) = nullptr;
  ECDSA_SIG* (*default_sig)(const unsigned char*, int, const BIGNUM*, const BIGNUM*, EC_KEY*) = nullptr;
  EC_KEY_METHOD_get_sign(g_method, &default_sign, &default_setup, &default_sig);
  EC_KEY_METHOD_set_sign(g_method, Sign, default_setup, SignSig);
}

}  // namespace

absl::StatusOr<EvpPkeyPtr> HsmKeyToEvpPkey(std::shared_ptr<HsmKey> key) {
  if (key == nullptr) return absl::InvalidArgumentError("bridge needs a key");
  std::call_once(g_init, Init);
  if (g_method == nullptr || g_ex_index < 0) return absl::InternalError("EC_KEY_METHOD setup failed");

  EC_KEY* pub = EVP_PKEY_get1_EC_KEY(key->public_key());
  if (pub == nullptr) return absl::InternalError("HSM public key is not an EC key");
  EC_KEY* ec = EC_KEY_dup(pub);
  EC_KEY_free(pub);
  if (ec == nullptr) return absl::InternalError("EC_KEY_dup failed");
  if (EC_KEY_set_method(ec, g_method) != 1) {
    EC_KEY_free(ec);
    return absl::InternalError("EC_KEY_set_method failed");
  }
  auto* state = new BridgeState{std::move(key)};
  if (EC_KEY_set_ex_data(ec, g_ex_index, state) != 1) {
    delete state;
    EC_KEY_free(ec);
    return absl::InternalError("EC_KEY_set_ex_data failed");
  }
  EvpPkeyPtr pkey(EVP_PKEY_new());
  if (!pkey || EVP_PKEY_assign_EC_KEY(pkey.get(), ec) != 1) {
    EC_KEY_free(ec);  // frees state through FreeState
    return absl::InternalError("EVP_PKEY_assign_EC_KEY failed");
  }
  return pkey;
}

}  // namespace signet::pkcs11
