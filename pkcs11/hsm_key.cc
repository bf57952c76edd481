#include "pkcs11/hsm_key.h"

namespace signet::pkcs11 {

absl::StatusOr<std::shared_ptr<HsmKey>> HsmKey::Load(std::shared_ptr<SessionPool> pool, const KeyQuery& query) {
  auto info = pool->Run([&](Session& s) { return FindEcKey(s, query); });
  if (!info.ok()) return info.status();
  return std::shared_ptr<HsmKey>(new HsmKey(std::move(pool), *std::move(info)));
}

absl::StatusOr<CK_OBJECT_HANDLE> HsmKey::Handle(const Session& session) {
  const uint64_t epoch = pool_->epoch();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (handle_ != CK_INVALID_HANDLE && handle_epoch_ == epoch) return handle_;
  }
  auto handle = FindPrivateKeyHandle(session, info_.id);
  if (!handle.ok()) return handle.status();
  std::lock_guard<std::mutex> lock(mu_);
  handle_ = *handle;
  handle_epoch_ = epoch;
  return *handle;
}

absl::StatusOr<std::vector<uint8_t>> HsmKey::SignDigest(SessionPool::Lease& lease, std::span<const uint8_t> digest) {
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
