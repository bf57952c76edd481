#include "common/hardening.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>

#include "gtest/gtest.h"

namespace signet {
namespace {

// Runs `body` in a forked child (so this test process keeps its own limits and dumpable flag) and
// returns the child's wait status.
template <typename F>
int InChild(F body) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    body();
    ::_exit(0);
  }
  int status = 0;
  EXPECT_EQ(::waitpid(pid, &status, 0), pid);
  return status;
}

// The child's verdicts, as exit codes: 0 = every check held.
enum ChildExit : int {
  kOk = 0,
  kWasNotDumpableBefore = 10,
  kHardeningFailed = 11,
  kStillDumpable = 12,
  kCoreLimitNotZero = 13,
  kCoreLimitRaised = 14,
};

TEST(DisableCoreDumpsTest, ClearsDumpableAndZeroesBothCoreLimits) {
  const int status = InChild([] {
    // The precondition, so the check below proves the call changed something.
    if (::prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 1) ::_exit(kWasNotDumpableBefore);
    if (!DisableCoreDumps().ok()) ::_exit(kHardeningFailed);
    if (::prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0) ::_exit(kStillDumpable);
    struct rlimit r {};
    if (::getrlimit(RLIMIT_CORE, &r) != 0 || r.rlim_cur != 0 || r.rlim_max != 0) ::_exit(kCoreLimitNotZero);
    // The hard limit is 0 too: nothing later in the process can turn core files back on.
    const struct rlimit back {RLIM_INFINITY, RLIM_INFINITY};
    if (::geteuid() != 0 && ::setrlimit(RLIMIT_CORE, &back) == 0) ::_exit(kCoreLimitRaised);
    ::_exit(kOk);
  });
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), kOk);
}

TEST(DisableCoreDumpsTest, ACrashAfterwardsLeavesNoCore) {
  // SIGABRT's default action is a core dump; after DisableCoreDumps the kernel must not write one.
  const int status = InChild([] {
    // Allow cores first, as far as this environment lets us, so the limit below is DisableCoreDumps' doing.
    struct rlimit r {};
    if (::getrlimit(RLIMIT_CORE, &r) == 0) {
      r.rlim_cur = r.rlim_max;
      ::setrlimit(RLIMIT_CORE, &r);
    }
    if (!DisableCoreDumps().ok()) ::_exit(kHardeningFailed);
    std::abort();
  });
  ASSERT_TRUE(WIFSIGNALED(status)) << status;
  EXPECT_EQ(WTERMSIG(status), SIGABRT);
  EXPECT_FALSE(WCOREDUMP(status));
}

TEST(DisableCoreDumpsTest, IsIdempotent) {
  const int status = InChild([] {
    if (!DisableCoreDumps().ok() || !DisableCoreDumps().ok()) ::_exit(kHardeningFailed);
    ::_exit(kOk);
  });
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), kOk);
}

}  // namespace
}  // namespace signet
