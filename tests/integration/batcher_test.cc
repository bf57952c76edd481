// The batcher against real HSM keys (SoftHSM): per-signer queues served in turn, and a signer's HSM
// concurrency limit held while several workers run.
#include "daemon/batcher.h"

#include <sched.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include <unistd.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "common/thread_sched.h"
#include "pkcs11/key.h"
#include "tests/testing/softhsm_token.h"

namespace signet::daemon {
namespace {

// A call that records what the batcher does with its items.
class RecordingCall : public BatchCall {
 public:
  explicit RecordingCall(std::function<void(const SignerState&, bool)> on_complete)
      : on_complete_(std::move(on_complete)) {}
  bool Cancelled() const override { return false; }
  std::chrono::system_clock::time_point deadline() const override {
    return std::chrono::system_clock::now() + std::chrono::hours(1);
  }
  void StoreResult(uint32_t index, absl::StatusOr<std::span<const uint8_t>> raw_rs) override {
    std::lock_guard<std::mutex> lock(mu_);
    ok_[index] = raw_rs.ok();
  }
  void CompleteItem(uint32_t index, const SignerState& signer) override {
    bool ok;
    {
      std::lock_guard<std::mutex> lock(mu_);
      ok = ok_.at(index);
    }
    on_complete_(signer, ok);
  }
  void Release() override { released_.fetch_add(1); }
  int released() const { return released_.load(); }

 private:
  std::function<void(const SignerState&, bool)> on_complete_;
  std::atomic<int> released_{0};
  std::mutex mu_;
  std::map<uint32_t, bool> ok_;
};

class BatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto t = testing::SoftHsmToken::Create();
    ASSERT_TRUE(t.ok()) << t.status();
    hsm_ = *std::move(t);
    auto pool = hsm_->Pool(4, /*read_write=*/true);
    ASSERT_TRUE(pool.ok());
    pool_ = *std::move(pool);
    size_t index = 0;
    for (auto [curve, id] : {std::pair{EcCurve::kP384, "p384"}, std::pair{EcCurve::kP256, "p256"}}) {
      ASSERT_TRUE(pool_->Run([&](pkcs11::Session& s) { return pkcs11::GenerateEcKey(s, curve, id); }).ok());
      auto key = pkcs11::HsmKey::Load(pool_, pkcs11::KeyQuery{.label = id});
      ASSERT_TRUE(key.ok());
      states_[id] = SignerRegistry::MakeState(SignerConfig{.id = id, .type = "contentsignature"}, index++,
                                              *std::move(key));
    }
  }

  void Submit(Batcher& b, const std::shared_ptr<RecordingCall>& call, const std::string& signer, int n) {
    std::vector<WorkItem> items;
    for (int i = 0; i < n; ++i) {
      WorkItem w;
      w.call = call;
      w.signer = states_[signer];
      w.index = static_cast<uint32_t>(i);
      w.digest_len = static_cast<uint8_t>(GetEcCurveInfo(states_[signer]->curve).digest_bytes);
      std::fill(w.digest, w.digest + w.digest_len, 0x42);
      items.push_back(std::move(w));
    }
    ASSERT_TRUE(b.Submit(items).ok());
  }

  // The most signatures of `signer` that were in the HSM at the same moment.
  struct Interval {
    std::string signer;
    std::chrono::steady_clock::time_point start, end;
  };
  static size_t MaxOverlap(const std::vector<Interval>& all, const std::string& signer) {
    std::vector<std::pair<std::chrono::steady_clock::time_point, int>> edges;
    for (const auto& i : all) {
      if (i.signer != signer) continue;
      edges.emplace_back(i.start, +1);
      edges.emplace_back(i.end, -1);
    }
    std::sort(edges.begin(), edges.end());  // an end sorts before a start at the same instant
    int now = 0, most = 0;
    for (const auto& e : edges) most = std::max(most, now += e.second);
    return static_cast<size_t>(most);
  }

  size_t MaxConcurrentP384(size_t limit) {
    std::mutex mu;
    std::vector<Interval> intervals;
    BatcherHooks hooks;
    hooks.on_sign = [&](const SignerState& s, double seconds, bool) {
      const auto end = std::chrono::steady_clock::now();
      std::lock_guard<std::mutex> lock(mu);
      intervals.push_back({s.id,
                           end - std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                     std::chrono::duration<double>(seconds)),
                           end});
    };
    auto b = Batcher::Create(pool_, {{"p384", limit}, {"p256", 0}},
                             BatcherOptions{.workers = 2, .max_batch = 2, .max_linger = absl::ZeroDuration()},
                             hooks);
    EXPECT_TRUE(b.ok()) << b.status();
    auto call = std::make_shared<RecordingCall>([](const SignerState&, bool ok) { EXPECT_TRUE(ok); });
    for (int i = 0; i < 10; ++i) Submit(**b, call, "p384", 4);
    (*b)->Stop();  // drains every queued item
    EXPECT_EQ(call->released(), 40);
    return MaxOverlap(intervals, "p384");
  }

  std::unique_ptr<testing::SoftHsmToken> hsm_;
  std::shared_ptr<pkcs11::SessionPool> pool_;
  std::map<std::string, std::shared_ptr<const SignerState>> states_;
};

TEST_F(BatcherTest, ASignersHsmConcurrencyLimitHoldsWithSeveralWorkers) {
  EXPECT_EQ(MaxConcurrentP384(1), 1u);
  // Without the limit, two workers sign for it at once (which is what makes the check above mean something).
  EXPECT_EQ(MaxConcurrentP384(0), 2u);
}

TEST_F(BatcherTest, SignersTakeTurnsSoOneSignersBacklogDoesNotStallAnother) {
  std::mutex mu;
  std::vector<std::string> order;
  auto call = std::make_shared<RecordingCall>([&](const SignerState& s, bool ok) {
    EXPECT_TRUE(ok);
    std::lock_guard<std::mutex> lock(mu);
    order.push_back(s.id);
  });
  auto b = Batcher::Create(pool_, {{"p384", 0}, {"p256", 0}},
                           BatcherOptions{.workers = 1, .max_batch = 1, .max_linger = absl::ZeroDuration()});
  ASSERT_TRUE(b.ok());
  Submit(**b, call, "p384", 100);
  Submit(**b, call, "p256", 1);
  (*b)->Stop();
  ASSERT_EQ(order.size(), 101u);
  const size_t p256_at = std::find(order.begin(), order.end(), "p256") - order.begin();
  // Taking turns, it is signed within the first few (the worker may have started on the backlog before
  // it arrived); a single FIFO would put it 101st. The bound leaves room for a slow (sanitizer) build.
  EXPECT_LE(p256_at, 10u) << "the single p256 item waited behind " << p256_at << " p384 items";
  EXPECT_EQ(call->released(), 101);
}

TEST_F(BatcherTest, AFullSignerQueueRefusesOnlyThatSigner) {
  auto b = Batcher::Create(pool_, {{"p384", 0}, {"p256", 0}},
                           BatcherOptions{.workers = 1, .max_batch = 1, .queue_size = 8});
  ASSERT_TRUE(b.ok());
  auto call = std::make_shared<RecordingCall>([](const SignerState&, bool) {});
  std::vector<WorkItem> nine;
  for (int i = 0; i < 9; ++i) {
    WorkItem w;
    w.call = call;
    w.signer = states_["p384"];
    w.digest_len = 48;
    nine.push_back(std::move(w));
  }
  absl::Status s = (*b)->Submit(nine);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("signer 'p384' queue is full"));
  Submit(**b, call, "p256", 8);  // another signer's queue has its own room
  (*b)->Stop();
  EXPECT_EQ(call->released(), 8);
}

// Under batching.scheduling hsm_first signetd's threads run under SCHED_BATCH, and so does every
// thread they start; the HSM workers put themselves back under SCHED_OTHER, the completer does not.
TEST_F(BatcherTest, WorkersLeaveTheBatchPolicyTheyInheritAndTheCompleterKeepsIt) {
  ASSERT_TRUE(YieldToHsmWorkers().ok());
  auto b = Batcher::Create(pool_, {{"p384", 0}, {"p256", 0}}, BatcherOptions{.workers = 3});
  ASSERT_TRUE(b.ok()) << b.status();
  auto call = std::make_shared<RecordingCall>([](const SignerState&, bool) {});
  Submit(**b, call, "p256", 4);
  // A worker names itself and sets its policy as it starts, and the completer names itself as it
  // starts: either may be a moment after Create.
  std::map<std::string, std::vector<int>> policies;
  for (auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);;) {
    policies.clear();
    for (const ThreadSched& t : ThreadSchedsOfThisProcess()) policies[t.name].push_back(t.policy);
    const std::vector<int>& w = policies[kHsmWorkerThreadName];
    const bool settled = w.size() == 3 && std::count(w.begin(), w.end(), SCHED_OTHER) == 3 &&
                         policies["completer"].size() == 1;
    if (settled || std::chrono::steady_clock::now() > until) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_THAT(policies[kHsmWorkerThreadName], ::testing::ElementsAre(SCHED_OTHER, SCHED_OTHER, SCHED_OTHER));
  EXPECT_THAT(policies["completer"], ::testing::ElementsAre(SCHED_BATCH));
  (*b)->Stop();
  EXPECT_EQ(call->released(), 4);
  ASSERT_TRUE(ScheduleThisThreadNormally().ok());
}

// A call that keeps each item's status.
class StatusCall : public BatchCall {
 public:
  bool Cancelled() const override { return false; }
  std::chrono::system_clock::time_point deadline() const override {
    return std::chrono::system_clock::now() + std::chrono::hours(1);
  }
  void StoreResult(uint32_t index, absl::StatusOr<std::span<const uint8_t>> raw_rs) override {
    std::lock_guard<std::mutex> lock(mu_);
    status_[index] = raw_rs.status();
  }
  void CompleteItem(uint32_t, const SignerState&) override {}
  void Release() override {
    std::lock_guard<std::mutex> lock(mu_);
    ++released_;
    cv_.notify_all();
  }
  // Waits (bounded) until `n` items were released.
  bool WaitReleased(int n, std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return released_ >= n; });
  }
  absl::Status status(uint32_t index) {
    std::lock_guard<std::mutex> lock(mu_);
    return status_.at(index);
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int released_ = 0;
  std::map<uint32_t, absl::Status> status_;
};

// The batcher over the fault-injecting module (tests/fault/), in process: hung calls, the down state,
// and bad signatures. These are the paths ThreadSanitizer checks in `ops/dev.sh test`.
class BatcherFaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    control_ = ::testing::TempDir() + "/batcher-faults-" + std::to_string(::getpid()) + ".txt";
    Control("");
    ::setenv("SIGNET_FAULT_CONTROL", control_.c_str(), 1);
    ::setenv("SIGNET_FAULT_TARGET", SIGNET_SOFTHSM_MODULE, 1);
    auto t = testing::SoftHsmToken::Create("signet-test", SIGNET_FAULT_MODULE);
    ASSERT_TRUE(t.ok()) << t.status();
    hsm_ = *std::move(t);
    auto pool = hsm_->Pool(8, /*read_write=*/true);
    ASSERT_TRUE(pool.ok());
    pool_ = *std::move(pool);
    ASSERT_TRUE(pool_->Run([&](pkcs11::Session& s) { return pkcs11::GenerateEcKey(s, EcCurve::kP256, "p256"); }).ok());
    auto key = pkcs11::HsmKey::Load(pool_, pkcs11::KeyQuery{.label = "p256"});
    ASSERT_TRUE(key.ok());
    signer_ = SignerRegistry::MakeState(SignerConfig{.id = "p256", .type = "contentsignature"}, 0, *std::move(key));
  }
  void TearDown() override {
    Control("");
    ::unsetenv("SIGNET_FAULT_CONTROL");
    std::remove(control_.c_str());
  }
  void Control(const std::string& rules) {
    const std::string tmp = control_ + ".tmp";
    {
      std::ofstream out(tmp, std::ios::trunc);
      out << rules;
    }
    ASSERT_EQ(std::rename(tmp.c_str(), control_.c_str()), 0);
  }
  absl::Status Submit(Batcher& b, const std::shared_ptr<StatusCall>& call, uint32_t first, int n) {
    std::vector<WorkItem> items;
    for (int i = 0; i < n; ++i) {
      WorkItem w;
      w.call = call;
      w.signer = signer_;
      w.index = first + static_cast<uint32_t>(i);
      w.digest_len = 32;
      std::fill(w.digest, w.digest + w.digest_len, static_cast<uint8_t>(0x40 + i));
      items.push_back(std::move(w));
    }
    return b.Submit(items);
  }

  std::string control_;
  std::unique_ptr<testing::SoftHsmToken> hsm_;
  std::shared_ptr<pkcs11::SessionPool> pool_;
  std::shared_ptr<const SignerState> signer_;
};

TEST_F(BatcherFaultTest, AHungCallIsAnsweredAndItsWorkerReplaced) {
  const long holders = pool_.use_count();  // the fixture and its key
  std::atomic<int> timeouts{0}, unavailable{0};
  BatcherHooks hooks;
  hooks.on_call_timeout = [&] { ++timeouts; };
  hooks.on_hsm_unavailable = [&](const absl::Status&) { ++unavailable; };
  auto b = Batcher::Create(pool_, {{"p256", 0}},
                           BatcherOptions{.workers = 1, .max_batch = 4, .call_timeout = std::chrono::milliseconds(200)},
                           hooks);
  ASSERT_TRUE(b.ok()) << b.status();
  Control("C_Sign hang\n");
  auto hung = std::make_shared<StatusCall>();
  ASSERT_TRUE(Submit(**b, hung, 0, 2).ok());
  ASSERT_TRUE(hung->WaitReleased(2, std::chrono::seconds(10))) << "the watchdog never answered the hung batch";
  EXPECT_EQ(hung->status(0).code(), absl::StatusCode::kDeadlineExceeded) << hung->status(0);
  EXPECT_THAT(std::string(hung->status(0).message()), ::testing::HasSubstr("hsm.call_timeout (200 ms)"));
  EXPECT_EQ(hung->status(1).code(), absl::StatusCode::kDeadlineExceeded) << hung->status(1);
  EXPECT_EQ(timeouts.load(), 1);
  EXPECT_GE(unavailable.load(), 1);
  // The HSM answers again: the replacement worker signs, and the abandoned thread leaves by itself.
  Control("");
  auto after = std::make_shared<StatusCall>();
  ASSERT_TRUE(Submit(**b, after, 0, 3).ok());
  ASSERT_TRUE(after->WaitReleased(3, std::chrono::seconds(10)));
  for (uint32_t i = 0; i < 3; ++i) EXPECT_TRUE(after->status(i).ok()) << after->status(i);
  (*b)->Stop();
  b->reset();
  // The abandoned worker's thread holds its session (and so the pool) until its call returns.
  for (int i = 0; i < 500 && pool_.use_count() > holders; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(pool_.use_count(), holders) << "the abandoned worker never let go of its session";
}

TEST_F(BatcherFaultTest, WhileDownNewWorkIsRefusedAndQueuedWorkAnswered) {
  auto b = Batcher::Create(pool_, {{"p256", 0}},
                           BatcherOptions{.workers = 1, .max_batch = 1, .call_timeout = std::chrono::seconds(30)});
  ASSERT_TRUE(b.ok()) << b.status();
  // Hold the only worker in a slow call so that the next items stay queued.
  Control("C_Sign delay 500 count 1\n");
  auto call = std::make_shared<StatusCall>();
  ASSERT_TRUE(Submit(**b, call, 0, 4).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  (*b)->SetDown(absl::UnavailableError("C_Sign: CKR_DEVICE_ERROR"));
  ASSERT_TRUE(call->WaitReleased(4, std::chrono::seconds(10)));
  EXPECT_TRUE(call->status(0).ok()) << call->status(0);  // it was in the HSM already
  for (uint32_t i = 1; i < 4; ++i) {
    EXPECT_EQ(call->status(i).code(), absl::StatusCode::kUnavailable) << call->status(i);
    EXPECT_THAT(std::string(call->status(i).message()), ::testing::HasSubstr("CKR_DEVICE_ERROR"));
  }
  auto refused = std::make_shared<StatusCall>();
  absl::Status s = Submit(**b, refused, 0, 1);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("HSM unavailable (C_Sign: CKR_DEVICE_ERROR)"));
  (*b)->SetUp();
  auto accepted = std::make_shared<StatusCall>();
  ASSERT_TRUE(Submit(**b, accepted, 0, 1).ok());
  ASSERT_TRUE(accepted->WaitReleased(1, std::chrono::seconds(10)));
  EXPECT_TRUE(accepted->status(0).ok()) << accepted->status(0);
  (*b)->Stop();
}

TEST_F(BatcherFaultTest, BadSignaturesAreNeverReturned) {
  for (auto [rule, verify_every] : {std::pair{"C_Sign corrupt flip\n", 1u}, std::pair{"C_Sign corrupt zero\n", 0u},
                                     std::pair{"C_Sign corrupt truncate\n", 0u}}) {
    SCOPED_TRACE(rule);
    std::atomic<int> bad{0};
    BatcherHooks hooks;
    hooks.on_bad_signature = [&](const SignerState&, const absl::Status&) { ++bad; };
    auto b = Batcher::Create(pool_, {{"p256", 0}}, BatcherOptions{.workers = 2, .verify_every = verify_every}, hooks);
    ASSERT_TRUE(b.ok()) << b.status();
    Control(rule);
    auto call = std::make_shared<StatusCall>();
    ASSERT_TRUE(Submit(**b, call, 0, 6).ok());
    ASSERT_TRUE(call->WaitReleased(6, std::chrono::seconds(10)));
    for (uint32_t i = 0; i < 6; ++i) {
      EXPECT_EQ(call->status(i).code(), absl::StatusCode::kUnavailable) << call->status(i);
      EXPECT_THAT(std::string(call->status(i).message()), ::testing::HasSubstr("bad signature"));
    }
    EXPECT_EQ(bad.load(), 6);
    Control("");
    (*b)->Stop();
  }
}

}  // namespace
}  // namespace signet::daemon
