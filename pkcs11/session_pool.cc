#include "pkcs11/session_pool.h"

#include "absl/strings/str_cat.h"
#include "common/absl_compat.h"
#include "pkcs11/error.h"
#include "spdlog/spdlog.h"

namespace signet::pkcs11 {

inline constexpr size_t kMaxPoolSessions = 1024;

absl::StatusOr<std::shared_ptr<SessionPool>> SessionPool::Create(std::shared_ptr<Token> token,
                                                                 SessionPoolOptions options) {
  if (token == nullptr) return absl::InvalidArgumentError("session pool needs a token");
  if (options.max_sessions == 0 || options.max_sessions > kMaxPoolSessions) {
    return absl::InvalidArgumentError(absl::StrCat("session pool max_sessions must be 1..", kMaxPoolSessions,
                                                   ", got ", options.max_sessions));
  }
  if (options.acquire_timeout.count() <= 0) {
    return absl::InvalidArgumentError("session pool acquire_timeout must be positive");
  }
  std::shared_ptr<SessionPool> pool(new SessionPool(std::move(token), options));
  // Open one session now so that a broken token fails at start-up, not on the first request.
  auto lease = pool->Acquire();
  if (!lease.ok()) return lease.status();
  return pool;
}

SessionPool::SessionPool(std::shared_ptr<Token> token, SessionPoolOptions options)
    : token_(std::move(token)), options_(options), slots_(options.max_sessions) {}

SessionPool::~SessionPool() = default;  // leases hold the pool, so none is out here

SessionPool::Lease::~Lease() {
  if (pool_ != nullptr) pool_->Release(slot_);
}

Session& SessionPool::Lease::session() const { return pool_->slots_[slot_].session; }

absl::StatusOr<SessionPool::Lease> SessionPool::Acquire() {
  size_t index = 0;
  {
    std::unique_lock<std::mutex> lock(mu_);
    auto pick = [&]() -> bool {
      // Prefer a slot that already has an open session.
      size_t empty = slots_.size();
      for (size_t i = 0; i < slots_.size(); ++i) {
        if (slots_[i].in_use) continue;
        if (slots_[i].session.valid()) {
          index = i;
          return true;
        }
        if (empty == slots_.size()) empty = i;
      }
      if (empty == slots_.size()) return false;
      index = empty;
      return true;
    };
    if (!cv_.wait_for(lock, options_.acquire_timeout, pick)) {
      return absl::ResourceExhaustedError(absl::StrCat("no free HSM session among ", slots_.size(),
                                                       " within ", options_.acquire_timeout.count(), " ms"));
    }
    slots_[index].in_use = true;
  }
  Lease lease(shared_from_this(), index);
  if (auto s = PrepareForUse(slots_[index]); !s.ok()) return s;  // the lease returns the slot
  return lease;
}

void SessionPool::Release(size_t index) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    slots_[index].last_used = std::chrono::steady_clock::now();
    slots_[index].in_use = false;
  }
  cv_.notify_one();
}

absl::Status SessionPool::Reopen(Slot& slot) {
  const bool replacing = slot.session.valid();
  slot.session.Close();
  auto session = token_->OpenSession(options_.read_write);
  if (!session.ok()) return session.status();
  slot.session = *std::move(session);
  slot.last_used = std::chrono::steady_clock::now();
  opened_.fetch_add(1, std::memory_order_relaxed);
  if (replacing) {
    replaced_.fetch_add(1, std::memory_order_relaxed);
    // Handles may not survive a session's death on every module: have them looked up again.
    epoch_.fetch_add(1, std::memory_order_acq_rel);
    // If the HSM dropped every session (a restart), it dropped the login with them.
    return EnsureLoggedIn(slot);
  }
  return absl::OkStatus();
}

absl::Status SessionPool::EnsureLoggedIn(Slot& slot) {
  auto state = slot.session.State();
  if (!state.ok()) return state.status();
  if (IsUserState(*state)) return absl::OkStatus();
  relogins_.fetch_add(1, std::memory_order_relaxed);
  if (auto s = token_->Relogin(); !s.ok()) return s;
  epoch_.fetch_add(1, std::memory_order_acq_rel);
  return absl::OkStatus();
}

absl::Status SessionPool::PrepareForUse(Slot& slot) {
  if (!slot.session.valid() || slot.session.stale()) return Reopen(slot);
  if (std::chrono::steady_clock::now() - slot.last_used < options_.idle_check) return absl::OkStatus();
  auto state = slot.session.State();
  if (!state.ok()) {
    spdlog::info("pkcs11: idle session failed its check ({}); opening a new one",
                 Sv(state.status().message()));
    return Reopen(slot);
  }
  if (!IsUserState(*state)) return EnsureLoggedIn(slot);
  return absl::OkStatus();
}

absl::Status SessionPool::Recover(Lease& lease, const absl::Status& failure) {
  if (lease.pool() != this) return absl::InternalError("session pool: lease belongs to another pool");
  std::optional<CK_RV> rv = CkrOf(failure);
  if (!rv.has_value()) return failure;
  Slot& slot = slots_[lease.slot_];
  if (IsSessionError(*rv) || IsLoginError(*rv)) {
    // A fresh session, logged in (Reopen logs in again when the HSM forgot the login), for one retry.
    spdlog::info("pkcs11: {}; replacing the session", Sv(failure.message()));
    if (auto s = Reopen(slot); !s.ok()) return s;
    if (IsLoginError(*rv)) {
      auto state = slot.session.State();
      if (!state.ok()) return state.status();
      if (!IsUserState(*state)) {
        relogins_.fetch_add(1, std::memory_order_relaxed);
        if (auto s = token_->Relogin(); !s.ok()) return s;
      }
      epoch_.fetch_add(1, std::memory_order_acq_rel);
    }
    return absl::OkStatus();
  }
  if (IsHandleError(*rv)) {
    auto state = slot.session.State();
    if (!state.ok()) {
      if (auto s = Reopen(slot); !s.ok()) return s;
      state = slot.session.State();
      if (!state.ok()) return state.status();
    }
    if (!IsUserState(*state)) {
      relogins_.fetch_add(1, std::memory_order_relaxed);
      if (auto s = token_->Relogin(); !s.ok()) return s;
    }
    epoch_.fetch_add(1, std::memory_order_acq_rel);
    return absl::OkStatus();
  }
  return failure;
}

absl::Status SessionPool::Revive(Lease& lease) {
  spdlog::info("pkcs11: session predates the module's reinitialization; opening a new one");
  return Reopen(slots_[lease.slot_]);
}

SessionPool::Stats SessionPool::stats() const {
  return Stats{opened_.load(), replaced_.load(), relogins_.load()};
}

}  // namespace signet::pkcs11
