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
                                                         const std::vector<std::string>& signer_ids,
                                                         BatcherOptions options, BatcherHooks hooks) {
  if (options.workers == 0 || options.workers > kMaxWorkers) {
    return absl::InvalidArgumentError(absl::StrCat("batching.workers must be 1..", kMaxWorkers));
  }
  if (options.max_batch == 0 || options.max_batch > kMaxBatch) {
    return absl::InvalidArgumentError(absl::StrCat("batching.max_batch must be 1..", kMaxBatch));
  }
  if (options.queue_size == 0) return absl::InvalidArgumentError("batching.queue_size must be at least 1");
  if (pool->capacity() < options.workers) {
    return absl::InvalidArgumentError(absl::StrCat("session pool has ", pool->capacity(), " sessions for ",
                                                   options.workers, " workers"));
  }
  std::unique_ptr<Batcher> b(new Batcher(std::move(pool), options, std::move(hooks)));
  for (const auto& id : signer_ids) b->depth_[id] = std::make_unique<std::atomic<size_t>>(0);
  // Lease every worker's session before starting any thread, so a broken HSM fails start-up cleanly.
  std::vector<pkcs11::SessionPool::Lease> leases;
  for (size_t i = 0; i < options.workers; ++i) {
    auto lease = b->pool_->Acquire();
    if (!lease.ok()) return lease.status();
    leases.push_back(*std::move(lease));
  }
  for (auto& lease : leases) {
    b->workers_.emplace_back([raw = b.get(), l = std::move(lease)]() mutable { raw->WorkerLoop(std::move(l)); });
  }
  return b;
}

Batcher::~Batcher() { Stop(); }

absl::Status Batcher::Submit(std::vector<WorkItem>& items) {
  if (items.empty()) return absl::OkStatus();
  const std::string& id = items.front().signer->id;
  auto it = depth_.find(id);
  if (it == depth_.end()) return absl::NotFoundError(absl::StrCat("signer '", id, "' has no queue"));
  std::atomic<size_t>& depth = *it->second;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return absl::UnavailableError("signetd is shutting down");
    const size_t now = depth.load(std::memory_order_relaxed);
    if (now + items.size() > options_.queue_size) {
      return absl::ResourceExhaustedError(absl::StrCat("signer '", id, "' queue is full (", now, " of ",
                                                       options_.queue_size, " queued, ", items.size(),
                                                       " more asked); retry with backoff"));
    }
    depth.fetch_add(items.size(), std::memory_order_relaxed);
    for (WorkItem& item : items) {
      item.depth = &depth;
      queue_.push_back(std::move(item));
    }
  }
  if (items.size() > 1) {
    cv_.notify_all();
  } else {
    cv_.notify_one();
  }
  return absl::OkStatus();
}

void Batcher::WorkerLoop(pkcs11::SessionPool::Lease lease) {
  const auto linger = absl::ToChronoMicroseconds(options_.max_linger);
  std::vector<WorkItem> batch;
  batch.reserve(options_.max_batch);
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, and nothing left to drain
    if (queue_.size() < options_.max_batch && linger.count() > 0 && !stopping_) {
      cv_.wait_for(lock, linger, [&] { return stopping_ || queue_.size() >= options_.max_batch; });
      if (queue_.empty()) continue;  // another worker took them
    }
    const size_t n = std::min(queue_.size(), options_.max_batch);
    for (size_t i = 0; i < n; ++i) {
      batch.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    lock.unlock();
    if (hooks_.on_batch) hooks_.on_batch(n);
    {
      MozLogBatch audit_lines;  // one write for the batch's audit lines, before any call is answered
      for (WorkItem& item : batch) Process(lease, item);
    }
    for (WorkItem& item : batch) item.call->Release();
    batch.clear();  // releases the calls' references outside the lock
    lock.lock();
  }
}

void Batcher::Process(pkcs11::SessionPool::Lease& lease, WorkItem& item) {
  item.depth->fetch_sub(1, std::memory_order_relaxed);
  // The deadline first: once it passes, gRPC also marks the call cancelled, and the deadline is the
  // more useful reason to report.
  if (std::chrono::system_clock::now() >= item.call->deadline()) {
    item.call->CompleteItem(item.index, *item.signer,
                            absl::DeadlineExceededError("deadline passed before the item reached the HSM"));
    return;
  }
  if (item.call->Cancelled()) {
    item.call->CompleteItem(item.index, *item.signer, absl::CancelledError("call cancelled before signing"));
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
    item.call->CompleteItem(item.index, *item.signer, sig.status());
    return;
  }
  if (hooks_.on_hsm_ok) hooks_.on_hsm_ok();
  item.call->CompleteItem(item.index, *item.signer, std::span<const uint8_t>(*sig));
}

void Batcher::Stop() {
  std::call_once(stop_once_, [this] {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
  });
}

size_t Batcher::QueueDepth(const std::string& signer_id) const {
  auto it = depth_.find(signer_id);
  return it == depth_.end() ? 0 : it->second->load(std::memory_order_relaxed);
}

}  // namespace signet::daemon
