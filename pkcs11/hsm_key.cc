#include "pkcs11/hsm_key.h"

#include <openssl/ecdsa.h>
#include <openssl/evp.h>

#include "absl/strings/str_cat.h"
#include "common/hex.h"
#include "common/openssl_ptr.h"
#include "pkcs11/error.h"

namespace signet::pkcs11 {

absl::StatusOr<std::shared_ptr<HsmKey>> HsmKey::Load(std::shared_ptr<SessionPool> pool, const KeyQuery& query) {
  auto info = pool->Run([&](Session& s) { return FindEcKey(s, query); });
  if (!info.ok()) return info.status();
  std::shared_ptr<HsmKey> key(new HsmKey(std::move(pool), *std::move(info)));
  // Prove that the public key we read belongs to the private key: every certificate and every
  // verifier downstream trusts this pairing, and public objects are writable by anyone with a session.
  if (auto s = key->CheckPairing(); !s.ok()) {
    return WithContext(s, absl::StrCat("key '", key->info_.label, "' (id ", HexEncode(key->info_.id), ")"));
  }
  return key;
}

absl::Status HsmKey::CheckPairing() {
  const EcCurveInfo& ci = GetEcCurveInfo(info_.curve);
  uint8_t digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  static constexpr char kChallenge[] = "signet key pairing check";
  if (EVP_Digest(kChallenge, sizeof(kChallenge) - 1, digest, &len, ci.md(), nullptr) != 1) {
    return absl::InternalError("EVP_Digest failed");
  }
  auto sig = SignDigest(std::span<const uint8_t>(digest, len));
  if (!sig.ok()) return sig.status();
  const size_t half = sig->size() / 2;
  EcdsaSigPtr ecdsa(ECDSA_SIG_new());
  BignumPtr r(BN_bin2bn(sig->data(), static_cast<int>(half), nullptr));
  BignumPtr s(BN_bin2bn(sig->data() + half, static_cast<int>(half), nullptr));
  if (!ecdsa || !r || !s || ECDSA_SIG_set0(ecdsa.get(), r.get(), s.get()) != 1) {
    return absl::InternalError("ECDSA_SIG_set0 failed");
  }
  r.release();
  s.release();
  unsigned char* der = nullptr;
  int der_len = i2d_ECDSA_SIG(ecdsa.get(), &der);
  OpenSslBytesPtr owned(der);
  EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new(info_.public_key.get(), nullptr));
  if (der_len <= 0 || !ctx || EVP_PKEY_verify_init(ctx.get()) != 1 ||
      EVP_PKEY_verify(ctx.get(), der, static_cast<size_t>(der_len), digest, len) != 1) {
    return absl::FailedPreconditionError(
        "the public key object on the token does not match the private key (check signature failed)");
  }
  return absl::OkStatus();
}

absl::StatusOr<CK_OBJECT_HANDLE> HsmKey::Handle(const Session& session) {
  const uint64_t epoch = pool_->epoch();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (handle_ != CK_INVALID_HANDLE && handle_epoch_ == epoch) return handle_;
  }
  auto handle = FindPrivateKeyHandle(session, info_.id);
  if (!handle.ok()) {
    // Private objects are invisible to a session that is not logged in: report it as the login
    // problem it is, so that the pool logs in again and retries.
    auto state = session.State();
    if (handle.status().code() == absl::StatusCode::kNotFound && state.ok() && !IsUserState(*state)) {
      return WithContext(CkrToStatus("C_FindObjects", CKR_USER_NOT_LOGGED_IN),
                         absl::StrCat("looking up key ", HexEncode(info_.id)));
    }
    return handle.status();
  }
  std::lock_guard<std::mutex> lock(mu_);
  handle_ = *handle;
  handle_epoch_ = epoch;
  return *handle;
}

absl::StatusOr<std::vector<uint8_t>> HsmKey::SignDigest(SessionPool::Lease& lease, std::span<const uint8_t> digest) {
  if (lease.pool() != pool_.get()) return absl::InternalError("HsmKey: lease belongs to another session pool");
  return pool_->Run(lease, [&](Session& s) -> absl::StatusOr<std::vector<uint8_t>> {
    auto handle = Handle(s);
    if (!handle.ok()) return handle.status();
    return pkcs11::SignDigest(s, *handle, info_.curve, digest);
  });
}

absl::StatusOr<std::vector<uint8_t>> HsmKey::SignDigest(std::span<const uint8_t> digest) {
  auto lease = pool_->Acquire();
  if (!lease.ok()) return lease.status();
  return SignDigest(*lease, digest);
}

}  // namespace signet::pkcs11
