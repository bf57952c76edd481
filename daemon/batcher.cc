#include "daemon/batcher.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/absl_compat.h"
#include "common/ec_curve.h"
#include "common/thread_name.h"
#include "common/thread_sched.h"
#include "daemon/mozlog.h"
#include "pkcs11/error.h"
#include "signing/content_signature.h"
#include "spdlog/spdlog.h"

namespace signet::daemon {

inline constexpr size_t kMaxWorkers = 256;
inline constexpr size_t kMaxBatch = 4096;

Batcher::Batcher(std::shared_ptr<pkcs11::SessionPool> pool, BatcherOptions options, BatcherHooks hooks)
    : pool_(std::move(pool)), options_(options), hooks_(std::move(hooks)) {}

absl::StatusOr<std::unique_ptr<Batcher>> Batcher::Create(std::shared_ptr<pkcs11::SessionPool> pool,
                                                         const std::vector<BatcherSigner>& signers,
                                                         BatcherOptions options, BatcherHooks hooks) {
  if (options.workers == 0 || options.workers > kMaxWorkers) {
    return absl::InvalidArgumentError(absl::StrCat("batching.workers must be 1..", kMaxWorkers));
  }
  if (options.max_batch == 0 || options.max_batch > kMaxBatch) {
    return absl::InvalidArgumentError(absl::StrCat("batching.max_batch must be 1..", kMaxBatch));
  }
  if (options.queue_size == 0) return absl::InvalidArgumentError("batching.queue_size must be at least 1");
  if (pool->capacity() < options.workers) {
    return absl::InvalidArgumentError(
        absl::StrCat("session pool has ", pool->capacity(), " sessions for ", options.workers, " workers"));
  }
  std::unique_ptr<Batcher> b(new Batcher(std::move(pool), options, std::move(hooks)));
  for (const BatcherSigner& signer : signers) {
    auto q = std::make_unique<SignerQueue>();
    q->limit =
        signer.hsm_concurrency == 0 ? options.workers : std::min(signer.hsm_concurrency, options.workers);
    b->order_.push_back(q.get());
    b->signers_[signer.id] = std::move(q);
  }
  // Lease every worker's session before starting any thread, so a broken HSM fails start-up cleanly.
  std::vector<pkcs11::SessionPool::Lease> leases;
  for (size_t i = 0; i < options.workers; ++i) {
    auto lease = b->pool_->Acquire();
    if (!lease.ok()) return lease.status();
    leases.push_back(*std::move(lease));
  }
  b->completer_ = std::thread([raw = b.get()] {
    NameThisThread("completer");
    raw->CompleterLoop();
  });
  for (auto& lease : leases) b->StartWorker(std::move(lease));
  if (options.call_timeout.count() > 0) {
    b->watchdog_ = std::thread([raw = b.get()] {
      NameThisThread("hsm-watchdog");
      raw->WatchdogLoop();
    });
  }
  return b;
}

Batcher::~Batcher() { Stop(); }

absl::Status Batcher::Submit(std::vector<WorkItem>& items) {
  if (items.empty()) return absl::OkStatus();
  if (down_.load(std::memory_order_acquire)) {
    std::lock_guard<std::mutex> lock(down_mu_);
    return absl::UnavailableError(
        absl::StrCat("HSM unavailable (", down_why_, "); signetd is reconnecting, retry with backoff"));
  }
  const std::string& id = items.front().signer->id;
  auto it = signers_.find(id);
  if (it == signers_.end()) return absl::NotFoundError(absl::StrCat("signer '", id, "' has no queue"));
  SignerQueue& q = *it->second;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return absl::UnavailableError("signetd is shutting down");
    const size_t now = q.items.size();
    if (now + items.size() > options_.queue_size) {
      return absl::ResourceExhaustedError(absl::StrCat("signer '", id, "' queue is full (", now, " of ",
                                                       options_.queue_size, " queued, ", items.size(),
                                                       " more asked); retry with backoff"));
    }
    for (WorkItem& item : items) q.items.push_back(std::move(item));
    q.depth.store(q.items.size(), std::memory_order_relaxed);
    queued_ += items.size();
    // A signer at its concurrency limit is served by the worker it has, which takes these items when
    // its batch is done: waking an idle worker that may not take them would only cost two switches.
    if (q.active >= q.limit) return absl::OkStatus();
  }
  if (items.size() > 1) {
    cv_.notify_all();
  } else {
    cv_.notify_one();
  }
  return absl::OkStatus();
}

Batcher::SignerQueue* Batcher::NextEligibleLocked() {
  for (size_t i = 0; i < order_.size(); ++i) {
    SignerQueue* q = order_[(next_ + i) % order_.size()];
    if (!q->items.empty() && q->active < q->limit) {
      next_ = (next_ + i + 1) % order_.size();
      return q;
    }
  }
  return nullptr;
}

void Batcher::StartWorker(std::optional<pkcs11::SessionPool::Lease> lease) {
  auto w = std::make_shared<Worker>();
  std::lock_guard<std::mutex> lock(workers_mu_);
  if (workers_stopping_) return;
  w->thread = std::thread([this, w, l = std::move(lease)]() mutable {
    NameThisThread(kHsmWorkerThreadName);
    // SCHED_OTHER even when signetd's other threads run under SCHED_BATCH (batching.scheduling).
    if (absl::Status s = ScheduleThisThreadNormally(); !s.ok()) {
      spdlog::warn("batcher: HSM worker keeps its inherited scheduling policy: {}", Sv(s.message()));
    }
    // A replacement for an abandoned worker finds its own session: the hung one keeps its own.
    for (auto backoff = std::chrono::milliseconds(50); !l.has_value();
         backoff = std::min(backoff * 2, std::chrono::milliseconds(1000))) {
      auto acquired = pool_->Acquire();
      if (acquired.ok()) {
        l.emplace(*std::move(acquired));
        break;
      }
      spdlog::warn("batcher: replacement HSM worker: {}", Sv(acquired.status().message()));
      std::unique_lock<std::mutex> stop_lock(mu_);
      if (cv_.wait_for(stop_lock, backoff, [this] { return stopping_; })) break;
    }
    if (l.has_value() && !WorkerLoop(w, *l)) return;  // abandoned: the Batcher may be gone
    {
      std::lock_guard<std::mutex> exit_lock(workers_mu_);
      w->exited = true;
    }
    workers_cv_.notify_all();
  });
  worker_states_.push_back(std::move(w));
}

bool Batcher::WorkerLoop(const std::shared_ptr<Worker>& w, pkcs11::SessionPool::Lease& lease) {
  const auto linger = absl::ToChronoMicroseconds(options_.max_linger);
  std::vector<WorkItem> batch;
  batch.reserve(options_.max_batch);
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    SignerQueue* q = nullptr;
    cv_.wait(lock, [&] { return (q = NextEligibleLocked()) != nullptr || (stopping_ && queued_ == 0); });
    if (q == nullptr) return true;  // stopping, and nothing left to drain
    if (q->items.size() < options_.max_batch && linger.count() > 0 && !stopping_) {
      cv_.wait_for(lock, linger, [&] { return stopping_ || q->items.size() >= options_.max_batch; });
      if (q->items.empty() || q->active >= q->limit) continue;  // other workers took them meanwhile
    }
    // A fair share: when other workers could also serve this signer, leave them their part of the
    // queue instead of signing it all here one after another (latency at moderate load).
    const size_t free_workers = q->limit - q->active;
    const size_t share = (q->items.size() + free_workers - 1) / free_workers;
    const size_t n = std::min(share, options_.max_batch);
    for (size_t i = 0; i < n; ++i) {
      batch.push_back(std::move(q->items.front()));
      q->items.pop_front();
    }
    q->depth.store(q->items.size(), std::memory_order_relaxed);
    queued_ -= n;
    ++q->active;
    if (stopping_ && queued_ == 0) cv_.notify_all();  // idle workers waiting to drain may now exit
    lock.unlock();
    {
      std::lock_guard<std::mutex> wl(w->mu);
      w->batch.swap(batch);
      w->stored = 0;
      w->queue = q;
    }
    if (hooks_.on_batch) hooks_.on_batch(n);
    for (size_t i = 0; i < n; ++i) {
      if (!Process(*w, lease, i)) return false;
    }
    {
      std::lock_guard<std::mutex> wl(w->mu);
      batch.swap(w->batch);
    }
    Finish(batch, q->limit < options_.workers);
    batch.clear();
    lock.lock();
    --q->active;  // this worker loops and takes the signer's next batch itself if there is one
  }
}

void Batcher::Finish(std::vector<WorkItem>& batch, bool limited) {
  if (limited) {
    // This signer's worker is its bottleneck while other cores have room: hand the answering over.
    {
      std::lock_guard<std::mutex> done_lock(done_mu_);
      for (WorkItem& item : batch) done_.push_back(std::move(item));
    }
    done_cv_.notify_one();
  } else {
    // Every worker can sign for this signer: answering here costs no more CPU than a hand-off would.
    CompleteAndRelease(batch);
  }
}

bool Batcher::Process(Worker& w, pkcs11::SessionPool::Lease& lease, size_t index) {
  std::shared_ptr<pkcs11::HsmKey> key;
  uint8_t digest[sizeof(WorkItem::digest)];
  uint8_t digest_len = 0;
  {
    std::lock_guard<std::mutex> wl(w.mu);
    if (w.abandoned) return false;
    WorkItem& item = w.batch[index];
    // The deadline first: once it passes, gRPC also marks the call cancelled, and the deadline is the
    // more useful reason to report.
    if (std::chrono::system_clock::now() >= item.call->deadline()) {
      item.call->StoreResult(item.index,
                             absl::DeadlineExceededError("deadline passed before the item reached the HSM"));
      w.stored = index + 1;
      return true;
    }
    if (item.call->Cancelled()) {
      item.call->StoreResult(item.index, absl::CancelledError("call cancelled before signing"));
      w.stored = index + 1;
      return true;
    }
    // Copies: if this call hangs, the watchdog answers the item and this thread must not need it.
    key = item.signer->key;
    digest_len = item.digest_len;
    std::memcpy(digest, item.digest, digest_len);
    w.call_started_ns.store(std::chrono::steady_clock::now().time_since_epoch().count(),
                            std::memory_order_release);
  }
  const auto start = std::chrono::steady_clock::now();
  auto sig = key->SignDigest(lease, std::span<const uint8_t>(digest, digest_len));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  absl::Status failure;
  std::shared_ptr<const SignerState> bad_signer;
  {
    std::lock_guard<std::mutex> wl(w.mu);
    w.call_started_ns.store(0, std::memory_order_release);
    if (w.abandoned) return false;  // the watchdog answered this batch; the result is dropped
    WorkItem& item = w.batch[index];
    if (hooks_.on_sign) hooks_.on_sign(*item.signer, seconds, sig.ok());
    if (!sig.ok() && sig.status().code() == absl::StatusCode::kDataLoss) {
      // Malformed output from the HSM (a short signature): the same as a signature that fails its check.
      bad_signer = item.signer;
      failure = sig.status();
      item.call->StoreResult(item.index, absl::UnavailableError(absl::StrCat(
                                             "the HSM returned a bad signature (", failure.message(),
                                             "); it was not returned, retry")));
    } else if (!sig.ok()) {
      failure = sig.status();
      // The token's login is the daemon's business, not the caller's: UNAVAILABLE, not UNAUTHENTICATED.
      if (auto rv = pkcs11::CkrOf(failure); rv.has_value() && pkcs11::IsLoginError(*rv)) {
        failure = absl::UnavailableError(absl::StrCat("HSM login lost: ", failure.message()));
      }
      item.call->StoreResult(item.index, failure);
    } else if (absl::Status check = CheckSignature(w, item, *sig); !check.ok()) {
      // Never returned: the caller gets UNAVAILABLE, the operator a counter and an ERROR line.
      bad_signer = item.signer;
      failure = check;
      item.call->StoreResult(
          item.index, absl::UnavailableError(absl::StrCat("the HSM returned a bad signature (",
                                                          check.message(), "); it was not returned, retry")));
    } else {
      item.call->StoreResult(item.index, std::span<const uint8_t>(*sig));
    }
    w.stored = index + 1;
  }
  if (bad_signer != nullptr) {
    if (hooks_.on_bad_signature) hooks_.on_bad_signature(*bad_signer, failure);
  } else if (!failure.ok()) {
    if (failure.code() == absl::StatusCode::kUnavailable && hooks_.on_hsm_unavailable) {
      hooks_.on_hsm_unavailable(failure);
    }
  } else if (hooks_.on_hsm_ok) {
    hooks_.on_hsm_ok();
  }
  return true;
}

absl::Status Batcher::CheckSignature(Worker& w, const WorkItem& item, std::span<const uint8_t> raw_rs) {
  const EcCurveInfo& ci = GetEcCurveInfo(item.signer->curve);
  if (raw_rs.size() != 2 * ci.field_bytes) {
    w.strict_left = kStrictVerifications;
    return absl::DataLossError(
        absl::StrCat(raw_rs.size(), " bytes where ", Av(ci.name), " needs ", 2 * ci.field_bytes));
  }
  auto all_zero = [](std::span<const uint8_t> half) {
    return std::all_of(half.begin(), half.end(), [](uint8_t b) { return b == 0; });
  };
  if (all_zero(raw_rs.first(ci.field_bytes)) || all_zero(raw_rs.last(ci.field_bytes))) {
    w.strict_left = kStrictVerifications;
    return absl::DataLossError("r or s is zero");
  }
  ++w.signed_count;
  const bool sampled = options_.verify_every != 0 && w.signed_count % options_.verify_every == 0;
  if (!sampled && w.strict_left == 0) return absl::OkStatus();
  if (w.strict_left > 0) --w.strict_left;
  absl::Status s = signing::VerifyDigest(item.signer->key->public_key(), item.signer->curve,
                                         std::span<const uint8_t>(item.digest, item.digest_len), raw_rs);
  if (!s.ok()) {
    w.strict_left = kStrictVerifications;
    return absl::DataLossError(absl::StrCat("does not verify with the key's public key: ", s.message()));
  }
  return absl::OkStatus();
}

void Batcher::WatchdogLoop() {
  const auto timeout = options_.call_timeout;
  const auto period = std::clamp(timeout / 4, std::chrono::milliseconds(10), std::chrono::milliseconds(250));
  std::unique_lock<std::mutex> lock(watchdog_mu_);
  while (!watchdog_cv_.wait_for(lock, period, [this] { return watchdog_stop_; })) {
    lock.unlock();
    const int64_t now = std::chrono::steady_clock::now().time_since_epoch().count();
    const int64_t limit = std::chrono::duration_cast<std::chrono::steady_clock::duration>(timeout).count();
    std::vector<std::shared_ptr<Worker>> overdue;
    {
      std::lock_guard<std::mutex> wl(workers_mu_);
      for (const auto& w : worker_states_) {
        const int64_t started = w->call_started_ns.load(std::memory_order_acquire);
        if (started != 0 && now - started > limit) overdue.push_back(w);
      }
    }
    for (const auto& w : overdue) Abandon(*w);
    lock.lock();
  }
}

void Batcher::Abandon(Worker& w) {
  std::vector<WorkItem> batch;
  size_t stored = 0;
  SignerQueue* q = nullptr;
  {
    std::lock_guard<std::mutex> wl(w.mu);
    if (w.abandoned || w.call_started_ns.load(std::memory_order_acquire) == 0) return;  // it came back
    w.abandoned = true;
    batch.swap(w.batch);
    stored = w.stored;
    q = w.queue;
  }
  const auto timeout_ms = options_.call_timeout.count();
  spdlog::error(
      "batcher: an HSM call has not returned within hsm.call_timeout ({} ms); answering its batch of {} "
      "and replacing the worker",
      timeout_ms, batch.size());
  const absl::Status status = absl::DeadlineExceededError(
      absl::StrCat("the HSM did not answer within hsm.call_timeout (", timeout_ms, " ms)"));
  // The HSM is reported down first, so new calls fail fast instead of queueing behind the hang.
  if (hooks_.on_call_timeout) hooks_.on_call_timeout();
  if (hooks_.on_hsm_unavailable) {
    hooks_.on_hsm_unavailable(absl::UnavailableError(
        absl::StrCat("an HSM call did not return within hsm.call_timeout (", timeout_ms, " ms)")));
  }
  for (size_t i = stored; i < batch.size(); ++i) batch[i].call->StoreResult(batch[i].index, status);
  Finish(batch, q->limit < options_.workers);
  {
    std::lock_guard<std::mutex> lock(mu_);
    --q->active;
  }
  cv_.notify_all();
  {
    std::lock_guard<std::mutex> lock(workers_mu_);
    for (auto it = worker_states_.begin(); it != worker_states_.end(); ++it) {
      if (it->get() != &w) continue;
      (*it)->thread.detach();  // it returns (or not) on its own, touching only its Worker and session
      worker_states_.erase(it);
      break;
    }
  }
  workers_cv_.notify_all();  // Stop may be waiting for the workers that remain
  StartWorker(std::nullopt);
}

void Batcher::SetDown(const absl::Status& why) {
  {
    std::lock_guard<std::mutex> lock(down_mu_);
    down_why_ = std::string(why.message());
  }
  down_.store(true, std::memory_order_release);
  FailQueued(
      absl::UnavailableError(absl::StrCat("HSM unavailable (", why.message(), "); retry with backoff")));
}

void Batcher::SetUp() { down_.store(false, std::memory_order_release); }

void Batcher::FailQueued(const absl::Status& why) {
  std::vector<WorkItem> items;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (SignerQueue* q : order_) {
      for (WorkItem& item : q->items) items.push_back(std::move(item));
      q->items.clear();
      q->depth.store(0, std::memory_order_relaxed);
    }
    queued_ = 0;
  }
  cv_.notify_all();  // workers waiting to drain at Stop may now leave
  if (items.empty()) return;
  for (WorkItem& item : items) item.call->StoreResult(item.index, why);
  CompleteAndRelease(items);
}

void Batcher::CompleterLoop() {
  std::vector<WorkItem> local;
  std::unique_lock<std::mutex> lock(done_mu_);
  while (true) {
    done_cv_.wait(lock, [&] { return done_stop_ || !done_.empty(); });
    if (done_.empty()) return;
    local.swap(done_);
    lock.unlock();
    CompleteAndRelease(local);
    local.clear();  // drops the calls' references outside the lock
    lock.lock();
  }
}

void Batcher::CompleteAndRelease(std::vector<WorkItem>& items) {
  {
    MozLogBatch audit_lines;  // one write for all these items' audit lines, before any call is answered
    for (WorkItem& item : items) item.call->CompleteItem(item.index, *item.signer);
  }
  for (WorkItem& item : items) item.call->Release();
}

void Batcher::Stop() {
  std::call_once(stop_once_, [this] {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    // Workers drain the queues and leave; one stuck in an HSM call is abandoned by the watchdog meanwhile
    // (and leaves worker_states_), so waiting here ends as long as there is a watchdog.
    std::vector<std::shared_ptr<Worker>> workers;
    {
      std::unique_lock<std::mutex> lock(workers_mu_);
      workers_stopping_ = true;
      workers_cv_.wait(lock, [this] {
        return std::all_of(worker_states_.begin(), worker_states_.end(),
                           [](const std::shared_ptr<Worker>& w) { return w->exited; });
      });
      workers = worker_states_;
    }
    {
      std::lock_guard<std::mutex> lock(watchdog_mu_);
      watchdog_stop_ = true;
    }
    watchdog_cv_.notify_all();
    if (watchdog_.joinable()) watchdog_.join();
    for (auto& w : workers) {
      if (w->thread.joinable()) w->thread.join();
    }
    {
      std::lock_guard<std::mutex> lock(done_mu_);
      done_stop_ = true;
    }
    done_cv_.notify_all();
    if (completer_.joinable()) completer_.join();
  });
}

size_t Batcher::QueueDepth(const std::string& signer_id) const {
  auto it = signers_.find(signer_id);
  return it == signers_.end() ? 0 : it->second->depth.load(std::memory_order_relaxed);
}

}  // namespace signet::daemon
