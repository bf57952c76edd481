// A capped pool of sessions on one logged-in token (pkcs11-provider session.c is the model).
//  - At most max_sessions sessions; Acquire waits up to acquire_timeout for a free one.
//  - A session idle longer than idle_check is checked (C_GetSessionInfo) when taken, never on every
//    call: each round trip costs on a network HSM.
//  - Recover() turns a failed call into "retry once": a dead session is replaced, a lost login is
//    redone, and the pool's epoch moves so that cached object handles are looked up again.
#ifndef SIGNET_PKCS11_SESSION_POOL_H_
#define SIGNET_PKCS11_SESSION_POOL_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <type_traits>
#include <vector>

#include "absl/status/statusor.h"
#include "pkcs11/session.h"
#include "pkcs11/token.h"

namespace signet::pkcs11 {

struct SessionPoolOptions {
  size_t max_sessions = 4;
  std::chrono::milliseconds idle_check{30'000};
  std::chrono::milliseconds acquire_timeout{5'000};
  bool read_write = false;
};

class SessionPool : public std::enable_shared_from_this<SessionPool> {
 public:
  static absl::StatusOr<std::shared_ptr<SessionPool>> Create(std::shared_ptr<Token> token,
                                                             SessionPoolOptions options);
  ~SessionPool();
  SessionPool(const SessionPool&) = delete;
  SessionPool& operator=(const SessionPool&) = delete;

  // A session borrowed from the pool; returned when the lease is destroyed. It keeps the pool alive.
  class Lease {
   public:
    Lease(Lease&& other) noexcept = default;
    Lease& operator=(Lease&&) = delete;
    Lease(const Lease&) = delete;
    ~Lease();
    Session& session() const;
    const SessionPool* pool() const { return pool_.get(); }

   private:
    friend class SessionPool;
    Lease(std::shared_ptr<SessionPool> pool, size_t slot) : pool_(std::move(pool)), slot_(slot) {}
    std::shared_ptr<SessionPool> pool_;
    size_t slot_;
  };

  absl::StatusOr<Lease> Acquire();

  // After `failure` on lease's session: OK means the cause was repaired (new session, new login, or
  // new epoch for stale handles) and the call is worth one retry; otherwise returns `failure`.
  absl::Status Recover(Lease& lease, const absl::Status& failure);

  // Runs f(Session&) -> Status or StatusOr<T> on the lease, retrying once after a recoverable failure.
  // Holds the module's gate shared throughout, so the module is not reinitialized under it; a session
  // that died with an earlier initialization is replaced first.
  template <typename F>
  auto Run(Lease& lease, F&& f) -> std::invoke_result_t<F&, Session&> {
    std::shared_lock<std::shared_timed_mutex> gate(token_->module()->gate());
    if (lease.session().stale()) {
      if (auto s = Revive(lease); !s.ok()) return s;
    }
    auto result = f(lease.session());
    if (result.ok()) return result;
    if (!Recover(lease, StatusOf(result)).ok()) return result;
    return f(lease.session());
  }
  template <typename F>
  auto Run(F&& f) -> std::invoke_result_t<F&, Session&> {
    auto lease = Acquire();
    if (!lease.ok()) return lease.status();
    return Run(*lease, std::forward<F>(f));
  }

  // Moves whenever sessions are recreated or the login is redone; object handles cached under an
  // older epoch must be looked up again.
  uint64_t epoch() const { return epoch_.load(std::memory_order_acquire); }
  const std::shared_ptr<Token>& token() const { return token_; }
  size_t capacity() const { return slots_.size(); }

  struct Stats {
    uint64_t opened = 0;
    uint64_t replaced = 0;
    uint64_t relogins = 0;
  };
  Stats stats() const;

 private:
  struct Slot {
    Session session;
    std::chrono::steady_clock::time_point last_used;
    bool in_use = false;
  };

  SessionPool(std::shared_ptr<Token> token, SessionPoolOptions options);
  void Release(size_t slot);
  absl::Status Revive(Lease& lease);
  absl::Status Reopen(Slot& slot);
  absl::Status EnsureLoggedIn(Slot& slot);
  absl::Status PrepareForUse(Slot& slot);
  static const absl::Status& StatusOf(const absl::Status& s) { return s; }
  template <typename T>
  static const absl::Status& StatusOf(const absl::StatusOr<T>& s) {
    return s.status();
  }

  std::shared_ptr<Token> token_;
  SessionPoolOptions options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Slot> slots_;
  std::atomic<uint64_t> epoch_{0};
  std::atomic<uint64_t> opened_{0};
  std::atomic<uint64_t> replaced_{0};
  std::atomic<uint64_t> relogins_{0};
};

}  // namespace signet::pkcs11

#endif  // SIGNET_PKCS11_SESSION_POOL_H_
