#include "common/thread_name.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <thread>

namespace signet {
namespace {

TEST(ThreadNameTest, NamesTheCallingThreadOnly) {
  const std::string mine = ThisThreadName();
  std::string seen;
  std::thread([&seen] {
    NameThisThread("hsm-worker");
    seen = ThisThreadName();
  }).join();
  EXPECT_EQ(seen, "hsm-worker");
  EXPECT_EQ(ThisThreadName(), mine);
}

TEST(ThreadNameTest, ALongNameIsCutToFifteenBytes) {
  std::string seen;
  std::thread([&seen] {
    NameThisThread("a-name-longer-than-fifteen-bytes");
    seen = ThisThreadName();
  }).join();
  EXPECT_EQ(seen, "a-name-longer-t");
}

TEST(ThreadNameTest, TheProcessListIncludesARunningNamedThread) {
  std::atomic<bool> named{false}, done{false};
  std::thread t([&] {
    NameThisThread("listed-thread");
    named = true;
    while (!done) std::this_thread::yield();
  });
  while (!named) std::this_thread::yield();
  const std::vector<std::string> names = ThreadNamesOfThisProcess();
  done = true;
  t.join();
  EXPECT_EQ(std::count(names.begin(), names.end(), "listed-thread"), 1);
  EXPECT_GE(names.size(), 2u);
}

}  // namespace
}  // namespace signet
