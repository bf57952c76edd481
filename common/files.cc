#include "common/files.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace signet {

absl::StatusOr<std::string> ReadFileBounded(const std::string& path, size_t max_bytes) {
  const bool stdin_input = path == "-";
  int fd = stdin_input ? STDIN_FILENO : ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::NotFoundError(absl::StrCat(path, ": ", std::strerror(errno)));
  std::string out;
  char buf[65536];
  absl::Status status;
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      status = absl::InternalError(absl::StrCat(path, ": read: ", std::strerror(errno)));
      break;
    }
    if (n == 0) break;
    if (out.size() + static_cast<size_t>(n) > max_bytes) {
      status = absl::InvalidArgumentError(
          absl::StrCat(stdin_input ? "standard input" : path, " is larger than the ", max_bytes, "-byte bound"));
      break;
    }
    out.append(buf, static_cast<size_t>(n));
  }
  if (!stdin_input) ::close(fd);
  if (!status.ok()) return status;
  return out;
}

absl::Status WriteNewFile(const std::string& path, std::string_view contents, int mode) {
  if (::access(path.c_str(), F_OK) == 0) {
    return absl::AlreadyExistsError(absl::StrCat(path, " already exists; refusing to overwrite it"));
  }
  std::random_device rd;
  std::string tmp = absl::StrCat(path, ".tmp-", rd(), rd());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) return absl::PermissionDeniedError(absl::StrCat(tmp, ": ", std::strerror(errno)));
  size_t done = 0;
  while (done < contents.size()) {
    ssize_t n = ::write(fd, contents.data() + done, contents.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return absl::InternalError(absl::StrCat(tmp, ": write: ", std::strerror(e)));
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    ::unlink(tmp.c_str());
    return absl::InternalError(absl::StrCat(tmp, ": fsync/close failed"));
  }
  // link() fails with EEXIST if someone created `path` meanwhile: never clobbers.
  if (::link(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    if (e == EEXIST) return absl::AlreadyExistsError(absl::StrCat(path, " already exists; refusing to overwrite it"));
    return absl::InternalError(absl::StrCat(path, ": link: ", std::strerror(e)));
  }
  ::unlink(tmp.c_str());
  return absl::OkStatus();
}

}  // namespace signet
