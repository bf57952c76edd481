// The batcher against real HSM keys (SoftHSM): per-signer queues served in turn, and a signer's HSM
// concurrency limit held while several workers run.
#include "daemon/batcher.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
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
  EXPECT_LE(p256_at, 3u) << "the single p256 item waited behind " << p256_at << " p384 items";
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

}  // namespace
}  // namespace signet::daemon
