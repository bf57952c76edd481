// Process hardening for the programs that hold PINs and TLS private keys in memory (signetd, the
// signet CLI): no core file can be written, and the process is not dumpable, so its memory cannot
// be read through a core dump, ptrace or /proc/<pid>/mem by other processes of the same user.
#ifndef SIGNET_COMMON_HARDENING_H_
#define SIGNET_COMMON_HARDENING_H_

#include "absl/status/status.h"

namespace signet {

// setrlimit(RLIMIT_CORE, {0, 0}) and prctl(PR_SET_DUMPABLE, 0), each checked and read back. The hard
// limit is lowered too, so nothing later in the process can raise it again. Call it first thing in
// main, before any secret is read.
absl::Status DisableCoreDumps();

}  // namespace signet

#endif  // SIGNET_COMMON_HARDENING_H_
