#include "common/thread_sched.h"

#include <gtest/gtest.h>
#include <sched.h>

#include <condition_variable>
#include <mutex>
#include <thread>

#include "common/thread_name.h"

namespace signet {
namespace {

int PolicyOf(const std::string& name) {
  int policy = -2;
  for (const ThreadSched& t : ThreadSchedsOfThisProcess()) {
    if (t.name == name) policy = t.policy;
  }
  return policy;
}

// A thread that waits, named, until the test is done looking at it.
class Parked {
 public:
  explicit Parked(const char* name)
      : thread_([this, name] {
          NameThisThread(name);
          std::unique_lock<std::mutex> lock(mu_);
          named_ = true;
          cv_.notify_all();
          cv_.wait(lock, [this] { return done_; });
        }) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return named_; });
  }
  ~Parked() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool named_ = false;
  bool done_ = false;
  std::thread thread_;
};

TEST(ThreadSchedTest, EveryThreadButTheHsmWorkersYields) {
  Parked worker(kHsmWorkerThreadName);
  Parked other("grpc-like");
  ASSERT_EQ(PolicyOf("grpc-like"), SCHED_OTHER);
  ASSERT_TRUE(YieldToHsmWorkers().ok());
  EXPECT_EQ(sched_getscheduler(0), SCHED_BATCH);
  EXPECT_EQ(PolicyOf("grpc-like"), SCHED_BATCH);
  EXPECT_EQ(PolicyOf(kHsmWorkerThreadName), SCHED_OTHER);
  ASSERT_TRUE(ScheduleThisThreadNormally().ok());
}

TEST(ThreadSchedTest, ALaterThreadInheritsBatchAndAnHsmWorkerLeavesIt) {
  ASSERT_TRUE(YieldToHsmWorkers().ok());
  int inherited = -1, after = -1;
  std::thread([&] {
    inherited = sched_getscheduler(0);
    EXPECT_TRUE(ScheduleThisThreadNormally().ok());
    after = sched_getscheduler(0);
  }).join();
  EXPECT_EQ(inherited, SCHED_BATCH);
  EXPECT_EQ(after, SCHED_OTHER);
  ASSERT_TRUE(ScheduleThisThreadNormally().ok());
  EXPECT_EQ(sched_getscheduler(0), SCHED_OTHER);
}

}  // namespace
}  // namespace signet
