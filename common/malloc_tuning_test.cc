#include "common/malloc_tuning.h"

#include <malloc.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <vector>

#include "gtest/gtest.h"

namespace signet {
namespace {

#ifndef SIGNET_MALLOC_REPLACED
// Frees 64 small blocks of one size: tcache keeps 7, and the rest go to the fastbins while they are
// on. Returns how many free blocks the fastbins then hold (mallinfo2's smblks).
size_t FastbinBlocksAfterSmallFrees() {
  std::vector<void*> blocks;
  for (int i = 0; i < 64; ++i) blocks.push_back(std::malloc(40));
  for (void* b : blocks) std::free(b);
  return mallinfo2().smblks;
}
#endif

TEST(DisableMallocFastbinsTest, SmallFreesNoLongerLandInFastbins) {
#ifdef SIGNET_MALLOC_REPLACED
  // Nothing to tune, and nothing for signetd to complain about at start.
  ASSERT_TRUE(DisableMallocFastbins().ok());
  GTEST_SKIP() << "the sanitizer's allocator replaces glibc's malloc";
#else
  // In a child: mallopt is for the whole process.
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (FastbinBlocksAfterSmallFrees() == 0) ::_exit(10);  // the control: fastbins were in use
    if (!DisableMallocFastbins().ok()) ::_exit(11);
    if (FastbinBlocksAfterSmallFrees() != 0) ::_exit(12);
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "10: no fastbin blocks before (the control), 11: mallopt failed, "
                                       "12: small frees still land in fastbins";
#endif
}

}  // namespace
}  // namespace signet
