// glibc malloc settings for signetd, a long-running process whose threads allocate and free in
// bursts (each call's gRPC, TLS and protobuf buffers) and whose RSS ops/soak.sh judges.
#ifndef SIGNET_COMMON_MALLOC_TUNING_H_
#define SIGNET_COMMON_MALLOC_TUNING_H_

#include "absl/status/status.h"

// Sanitizer builds replace glibc's malloc with their own allocator (whose mallopt does nothing).
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SIGNET_MALLOC_REPLACED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SIGNET_MALLOC_REPLACED 1
#endif
#endif

namespace signet {

// mallopt(M_MXFAST, 0): no fastbins. Call it first thing in main, before any thread starts.
//
// Why: malloc_trim(0) (signetd's health thread runs it every 10 s) hands back the free pages inside
// every arena, but not the free space at the top of an arena other than the main one. glibc trims
// that only when free() merges a chunk into it, and the fastbin consolidation that malloc_trim itself
// does merges chunks there without trimming. After a load, one gRPC thread's arena kept 1.7 MiB that
// way, and which arena kept how much moved signetd's quiet RSS by megabytes between identical loads
// (docs/PERFORMANCE.md, Soak). Without fastbins each small free that tcache does not keep
// consolidates at once, and a top past M_TRIM_THRESHOLD (128 KiB) is trimmed then. tcache still
// serves small allocations; signing throughput did not move in alternating runs. In sanitizer
// builds (SIGNET_MALLOC_REPLACED) there is no glibc malloc to tune, and it does nothing.
absl::Status DisableMallocFastbins();

}  // namespace signet

#endif  // SIGNET_COMMON_MALLOC_TUNING_H_
