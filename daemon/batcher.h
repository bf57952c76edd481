// The batching engine (DESIGN §3). Handlers hash off the HSM path and Submit work items to their
// signer's queue; a pool of HSM worker threads, each owning one PKCS#11 session for its lifetime, takes
// up to max_batch items of one signer at a time (lingering at most max_linger when the queue is short),
// drops items whose call was cancelled or whose deadline passed, and signs the rest. A completer
// thread builds the results and audit lines, writes the lines together (one write), then answers.
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
#include <optional>
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
  // Called exactly once per submitted item, from the worker thread, as soon as the HSM answered: keep
  // `raw_rs` (the r||s signature, copied) or the item's error (CANCELLED, DEADLINE_EXCEEDED,
  // UNAVAILABLE, ...). Must be cheap: the worker's time belongs to the HSM.
  virtual void StoreResult(uint32_t index, absl::StatusOr<std::span<const uint8_t>> raw_rs) = 0;
  // Then, from the completer thread: build the item's result and its audit line.
  virtual void CompleteItem(uint32_t index, const SignerState& signer) = 0;
  // Then, once the audit lines of everything the completer took have been written: the call may finish.
  virtual void Release() = 0;
};

struct WorkItem {
  std::shared_ptr<BatchCall> call;
  std::shared_ptr<const SignerState> signer;
  uint32_t index = 0;
  uint8_t digest_len = 0;
  uint8_t digest[64];
};

// A signer as the batcher sees it.
struct BatcherSigner {
  std::string id;
  // How many workers may sign for this signer at once; 0 = all of them. 1 suits an HSM that serializes
  // one key's operations anyway (SoftHSM does for P-256): one worker then signs the signer's batches
  // back to back while the others stay free, instead of all contending for the HSM per signature.
  size_t hsm_concurrency = 0;
};

struct BatcherOptions {
  size_t workers = 2;
  size_t max_batch = 32;
  absl::Duration max_linger = absl::ZeroDuration();
  size_t queue_size = 4096;  // per signer
  // An HSM call running longer than this is abandoned: its batch is answered DEADLINE_EXCEEDED, the
  // worker is replaced (its thread finishes or hangs on its own), and the HSM is reported down.
  // Zero: no watchdog.
  std::chrono::milliseconds call_timeout{0};
  // Every signature's length and encoding are checked; one in verify_every is also verified with the
  // key's public key (1: all, 0: none). After a signature fails, the worker verifies every signature
  // it makes for the next kStrictVerifications.
  uint32_t verify_every = 0;
};

struct BatcherHooks {
  std::function<void(size_t batch_size)> on_batch;
  std::function<void(const SignerState& signer, double seconds, bool ok)> on_sign;
  // A device-class failure (UNAVAILABLE from the HSM layer) or a call past call_timeout.
  std::function<void(const absl::Status& hsm_error)> on_hsm_unavailable;
  std::function<void()> on_hsm_ok;
  std::function<void()> on_call_timeout;
  // The HSM returned a signature that is malformed or does not verify; it was not returned.
  std::function<void(const SignerState& signer, const absl::Status& why)> on_bad_signature;
};

inline constexpr uint32_t kStrictVerifications = 1024;

class Batcher {
 public:
  // Starts `workers` threads, each holding one session leased from `pool` (so the pool must have at
  // least that many sessions), and one thread that answers completed calls. `signers` fixes the
  // per-signer queues.
  static absl::StatusOr<std::unique_ptr<Batcher>> Create(std::shared_ptr<pkcs11::SessionPool> pool,
                                                         const std::vector<BatcherSigner>& signers,
                                                         BatcherOptions options, BatcherHooks hooks = {});
  ~Batcher();  // Stop()

  // Queues all of `items` or none: RESOURCE_EXHAUSTED when a signer's queue lacks room, UNAVAILABLE
  // after Stop(). All items must belong to one signer.
  absl::Status Submit(std::vector<WorkItem>& items);

  // Stops taking work, lets the workers finish every queued item, joins them (not those abandoned
  // in a hung HSM call). Idempotent.
  void Stop();

  // While down, Submit refuses with UNAVAILABLE naming `why`, and everything queued is answered so.
  // Up again: Submit accepts. Both idempotent; called by whoever watches the HSM.
  void SetDown(const absl::Status& why);
  void SetUp();
  bool down() const { return down_.load(std::memory_order_acquire); }

  size_t QueueDepth(const std::string& signer_id) const;
  const BatcherOptions& options() const { return options_; }

 private:
  Batcher(std::shared_ptr<pkcs11::SessionPool> pool, BatcherOptions options, BatcherHooks hooks);
  // A worker's batch in flight, shared with the watchdog, which may take it over (abandon the worker)
  // when an HSM call overruns call_timeout. The worker's thread holds it by shared_ptr, so an abandoned
  // worker returning from its call much later touches only this, never the Batcher.
  struct SignerQueue;
  struct Worker {
    std::mutex mu;                // the hand-over: the worker stores results, or the watchdog takes over
    std::vector<WorkItem> batch;  // being signed
    size_t stored = 0;            // batch[0, stored) have their results
    bool abandoned = false;
    std::atomic<int64_t> call_started_ns{0};  // steady clock; 0 when not in an HSM call
    uint64_t signed_count = 0;                // this worker's signatures (sampling)
    uint32_t strict_left = 0;                 // verify every signature while > 0
    SignerQueue* queue = nullptr;             // whose batch it is
    bool exited = false;                      // guarded by Batcher::workers_mu_
    std::thread thread;                       // guarded by Batcher::workers_mu_
  };
  // Returns false when the watchdog abandoned this worker: the thread must then leave without touching
  // the Batcher, which may be gone.
  bool WorkerLoop(const std::shared_ptr<Worker>& w, pkcs11::SessionPool::Lease& lease);
  // Signs one item; false when the watchdog took the batch over meanwhile (the thread must leave).
  bool Process(Worker& w, pkcs11::SessionPool::Lease& lease, size_t index);
  // Length, encoding and (sampled) verification of what the HSM returned.
  absl::Status CheckSignature(Worker& w, const WorkItem& item, std::span<const uint8_t> raw_rs);
  void StartWorker(std::optional<pkcs11::SessionPool::Lease> lease);
  void WatchdogLoop();
  void Abandon(Worker& w);
  // Hands a finished batch to the completer (limited signer) or answers it here.
  void Finish(std::vector<WorkItem>& batch, bool limited);
  void FailQueued(const absl::Status& why);

  std::shared_ptr<pkcs11::SessionPool> pool_;
  const BatcherOptions options_;
  const BatcherHooks hooks_;
  // One queue per signer. A worker takes a batch from the next signer (round robin) that has items and
  // fewer active workers than its limit.
  struct SignerQueue {
    std::deque<WorkItem> items;
    std::atomic<size_t> depth{0};  // items.size(), readable without the lock (metrics)
    size_t active = 0;             // workers signing for it now
    size_t limit = 0;              // most workers at once
  };
  // The next signer (round robin) with items and a free worker slot.
  SignerQueue* NextEligibleLocked();
  // Builds the items' results and audit lines, writes the lines (one write), then releases the calls.
  void CompleteAndRelease(std::vector<WorkItem>& items);

  std::map<std::string, std::unique_ptr<SignerQueue>, std::less<>> signers_;
  std::vector<SignerQueue*> order_;  // for round robin
  size_t next_ = 0;

  std::mutex mu_;
  std::condition_variable cv_;
  size_t queued_ = 0;  // items in all queues
  bool stopping_ = false;
  std::vector<std::thread> workers_;  // guarded by workers_mu_
  std::mutex workers_mu_;
  std::vector<std::shared_ptr<Worker>> worker_states_;  // guarded by workers_mu_
  std::condition_variable workers_cv_;                  // a worker exited
  bool workers_stopping_ = false;                       // guarded by workers_mu_
  std::thread watchdog_;
  std::mutex watchdog_mu_;
  std::condition_variable watchdog_cv_;
  bool watchdog_stop_ = false;
  std::atomic<bool> down_{false};
  mutable std::mutex down_mu_;
  std::string down_why_;  // guarded by down_mu_
  // Signed items of a signer limited to fewer workers than there are wait here for the completer
  // thread, which builds their results and audit lines, writes the lines, and answers the calls: that
  // signer's worker, its bottleneck, spends its time on the HSM while other cores do the rest. The
  // workers of an unlimited signer answer their own batches (a hand-off would only add CPU).
  void CompleterLoop();
  std::mutex done_mu_;
  std::condition_variable done_cv_;
  std::vector<WorkItem> done_;
  bool done_stop_ = false;
  std::thread completer_;
  std::once_flag stop_once_;
};

}  // namespace signet::daemon

#endif  // SIGNET_DAEMON_BATCHER_H_
