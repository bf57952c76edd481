// A signing key in the HSM, used through a SessionPool. The object handle is cached per pool epoch
// and looked up again (by CKA_ID) after sessions are recreated or the login is redone.
#ifndef SIGNET_PKCS11_HSM_KEY_H_
#define SIGNET_PKCS11_HSM_KEY_H_

#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "pkcs11/key.h"
#include "pkcs11/session_pool.h"

namespace signet::pkcs11 {

class HsmKey {
 public:
  static absl::StatusOr<std::shared_ptr<HsmKey>> Load(std::shared_ptr<SessionPool> pool, const KeyQuery& query);

  const EcKeyInfo& info() const { return info_; }
  EcCurve curve() const { return info_.curve; }
  EVP_PKEY* public_key() const { return info_.public_key.get(); }

  // Signs a digest (CKM_ECDSA) and returns r||s; borrows a session from the pool.
  absl::StatusOr<std::vector<uint8_t>> SignDigest(std::span<const uint8_t> digest);
  // The same on a session the caller already holds (an HSM worker owns one for its lifetime).
  absl::StatusOr<std::vector<uint8_t>> SignDigest(SessionPool::Lease& lease, std::span<const uint8_t> digest);

  const std::shared_ptr<SessionPool>& pool() const { return pool_; }

 private:
  HsmKey(std::shared_ptr<SessionPool> pool, EcKeyInfo info) : pool_(std::move(pool)), info_(std::move(info)) {}
  absl::StatusOr<CK_OBJECT_HANDLE> Handle(const Session& session);
  absl::Status CheckPairing();

  std::shared_ptr<SessionPool> pool_;
  EcKeyInfo info_;
  std::mutex mu_;
  CK_OBJECT_HANDLE handle_ = CK_INVALID_HANDLE;
  uint64_t handle_epoch_ = 0;
};

}  // namespace signet::pkcs11

#endif  // SIGNET_PKCS11_HSM_KEY_H_
