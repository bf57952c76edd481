// Names for signetd's own threads, so `top -H`, `ps -L`, gdb, perf and /proc/<pid>/task/*/comm tell
// the HSM workers from the completer, the side port's workers from gRPC's threads.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

namespace signet {

// Names the calling thread. Linux keeps at most 15 bytes: a longer name is cut to its first 15.
void NameThisThread(std::string_view name);

// The calling thread's name ("" if it cannot be read).
std::string ThisThreadName();

// The names of this process's threads, one entry per thread (/proc/self/task/*/comm), sorted.
std::vector<std::string> ThreadNamesOfThisProcess();

struct ThreadEntry {
  pid_t tid = 0;
  std::string name;
};
// The threads of process `pid` (0: this one) with their names, from /proc/<pid>/task/*/comm, in no
// particular order. A thread that exits while they are read is left out.
std::vector<ThreadEntry> ThreadsOfProcess(pid_t pid = 0);

}  // namespace signet
