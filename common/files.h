// Bounded reads and no-clobber writes: every file Signet reads has a size bound, and outputs
// (public keys, certificates, transcripts) are never silently overwritten.
#ifndef SIGNET_COMMON_FILES_H_
#define SIGNET_COMMON_FILES_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace signet {

// Reads at most max_bytes from `path` ("-" is standard input); a larger input is an error naming the bound.
absl::StatusOr<std::string> ReadFileBounded(const std::string& path, size_t max_bytes);

// Creates `path` with `mode` and writes `contents`; fails (AlreadyExists) if the path exists.
// Written to a temporary name in the same directory, fsynced, then linked into place, so a reader
// never sees a partial file.
absl::Status WriteNewFile(const std::string& path, std::string_view contents, int mode = 0644);

}  // namespace signet

#endif  // SIGNET_COMMON_FILES_H_
