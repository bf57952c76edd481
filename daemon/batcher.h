// The batching engine (DESIGN §3). Handlers hash off the HSM path and Submit work items; a pool of HSM
// worker threads, each owning one PKCS#11 session for its lifetime, takes up to max_batch items at a
// time (lingering at most max_linger when the queue is short), drops items whose call was cancelled
// or whose deadline passed, signs the rest, and completes them. The audit lines of a batch are
// written together (one write) before any of its calls is answered.
#ifndef SIGNET_DAEMON_BATCHER_H_
#define SIGNET_DAEMON_BATCHER_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "daemon/signer_registry.h"
#include "pkcs11/session_pool.h"

namespace signet::daemon {

// One RPC's shared state, as the batcher sees it.
class BatchCall {
 public:
  virtual ~BatchCall() = default;
  virtual bool Cancelled() const = 0;
  virtual std::chrono::system_clock::time_point deadline() const = 0;
  // Called exactly once per submitted item, from a worker thread. `raw_rs` is the r||s signature or
  // the item's error (CANCELLED, DEADLINE_EXCEEDED, UNAVAILABLE, ...).
  virtual void CompleteItem(uint32_t index, const SignerState& signer,
                            absl::StatusOr<std::span<const uint8_t>> raw_rs) = 0;
  // Called once per submitted item after CompleteItem, when the audit lines of the worker's whole batch
  // have been written; the call may finish here.
  virtual void Release() = 0;
};

struct WorkItem {
  std::shared_ptr<BatchCall> call;
  std::shared_ptr<const SignerState> signer;
  uint32_t index = 0;
  uint8_t digest_len = 0;
  uint8_t digest[64];
  std::atomic<size_t>* depth = nullptr;  // the signer's queue depth; set by Submit
};

struct BatcherOptions {
  size_t workers = 2;
  size_t max_batch = 32;
  absl::Duration max_linger = absl::Microseconds(200);
  size_t queue_size = 4096;  // per signer
};

struct BatcherHooks {
  std::function<void(size_t batch_size)> on_batch;
  std::function<void(const SignerState& signer, double seconds, bool ok)> on_sign;
  std::function<void(const absl::Status& hsm_error)> on_hsm_unavailable;
  std::function<void()> on_hsm_ok;
};

class Batcher {
 public:
  // Starts `workers` threads, each holding one session leased from `pool` (so the pool must have at
  // least that many sessions). `signer_ids` fixes the per-signer queues.
  static absl::StatusOr<std::unique_ptr<Batcher>> Create(std::shared_ptr<pkcs11::SessionPool> pool,
                                                         const std::vector<std::string>& signer_ids,
                                                         BatcherOptions options, BatcherHooks hooks = {});
  ~Batcher();  // Stop()

  // Queues all of `items` or none: RESOURCE_EXHAUSTED when a signer's queue lacks room, UNAVAILABLE
  // after Stop(). All items must belong to one signer.
  absl::Status Submit(std::vector<WorkItem>& items);

  // Stops taking work, lets the workers finish every queued item, joins them. Idempotent.
  void Stop();

  size_t QueueDepth(const std::string& signer_id) const;
  const BatcherOptions& options() const { return options_; }

 private:
  Batcher(std::shared_ptr<pkcs11::SessionPool> pool, BatcherOptions options, BatcherHooks hooks);
  void WorkerLoop(pkcs11::SessionPool::Lease lease);
  void Process(pkcs11::SessionPool::Lease& lease, WorkItem& item);

  std::shared_ptr<pkcs11::SessionPool> pool_;
  const BatcherOptions options_;
  const BatcherHooks hooks_;
  std::map<std::string, std::unique_ptr<std::atomic<size_t>>, std::less<>> depth_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<WorkItem> queue_;
  bool stopping_ = false;
  std::vector<std::thread> workers_;
  std::once_flag stop_once_;
};

}  // namespace signet::daemon

#endif  // SIGNET_DAEMON_BATCHER_H_
