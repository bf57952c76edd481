#include "daemon/batcher.h"

#include "absl/strings/str_cat.h"
#include "daemon/mozlog.h"
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
  b->completer_ = std::thread([raw = b.get()] { raw->CompleterLoop(); });
  for (auto& lease : leases) {
    b->workers_.emplace_back(
        [raw = b.get(), l = std::move(lease)]() mutable { raw->WorkerLoop(std::move(l)); });
  }
  return b;
}

Batcher::~Batcher() { Stop(); }

absl::Status Batcher::Submit(std::vector<WorkItem>& items) {
  if (items.empty()) return absl::OkStatus();
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

void Batcher::WorkerLoop(pkcs11::SessionPool::Lease lease) {
  const auto linger = absl::ToChronoMicroseconds(options_.max_linger);
  std::vector<WorkItem> batch;
  batch.reserve(options_.max_batch);
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    SignerQueue* q = nullptr;
    cv_.wait(lock, [&] { return (q = NextEligibleLocked()) != nullptr || (stopping_ && queued_ == 0); });
    if (q == nullptr) return;  // stopping, and nothing left to drain
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
    if (hooks_.on_batch) hooks_.on_batch(n);
    for (WorkItem& item : batch) Process(lease, item);
    if (q->limit < options_.workers) {
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
    lock.lock();
    --q->active;  // this worker loops and takes the signer's next batch itself if there is one
    batch.clear();
  }
}

void Batcher::Process(pkcs11::SessionPool::Lease& lease, WorkItem& item) {
  // The deadline first: once it passes, gRPC also marks the call cancelled, and the deadline is the
  // more useful reason to report.
  if (std::chrono::system_clock::now() >= item.call->deadline()) {
    item.call->StoreResult(item.index,
                           absl::DeadlineExceededError("deadline passed before the item reached the HSM"));
    return;
  }
  if (item.call->Cancelled()) {
    item.call->StoreResult(item.index, absl::CancelledError("call cancelled before signing"));
    return;
  }
  const auto start = std::chrono::steady_clock::now();
  auto sig = item.signer->key->SignDigest(lease, std::span<const uint8_t>(item.digest, item.digest_len));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (hooks_.on_sign) hooks_.on_sign(*item.signer, seconds, sig.ok());
  if (!sig.ok()) {
    if (sig.status().code() == absl::StatusCode::kUnavailable && hooks_.on_hsm_unavailable) {
      hooks_.on_hsm_unavailable(sig.status());
    }
    item.call->StoreResult(item.index, sig.status());
    return;
  }
  if (hooks_.on_hsm_ok) hooks_.on_hsm_ok();
  item.call->StoreResult(item.index, std::span<const uint8_t>(*sig));
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
    for (auto& t : workers_) t.join();
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
