#include "common/secret.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace signet {

SecretBuffer::SecretBuffer(std::string_view value) : value_(value) {}
SecretBuffer::~SecretBuffer() { Wipe(); }
SecretBuffer::SecretBuffer(SecretBuffer&& other) noexcept {
  // Copy then wipe the source: a moved std::string may keep its bytes in a small-string buffer.
  value_.assign(other.value_);
  other.Wipe();
}
SecretBuffer& SecretBuffer::operator=(SecretBuffer&& other) noexcept {
  if (this != &other) {
    Wipe();
    value_.assign(other.value_);
    other.Wipe();
  }
  return *this;
}
void SecretBuffer::Wipe() noexcept {
  if (!value_.empty()) OPENSSL_cleanse(value_.data(), value_.size());
  value_.clear();
}

namespace {
// Strips one "\n" or "\r\n"; a lone trailing "\r" is part of the secret.
void StripTrailingNewline(std::string& s) {
  if (s.empty() || s.back() != '\n') return;
  s.pop_back();
  if (!s.empty() && s.back() == '\r') s.pop_back();
}
}  // namespace

absl::StatusOr<SecretBuffer> ReadSecretFile(const std::string& path) {
  // O_NONBLOCK: opening a FIFO must fail the S_ISREG check below, not hang waiting for a writer.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) {
    int e = errno;
    if (e == ELOOP) {
      return absl::InvalidArgumentError(
          absl::StrCat("secret file ", path, ": is a symbolic link; give the real path"));
    }
    return absl::ErrnoToStatus(e, absl::StrCat("secret file ", path));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    return absl::InternalError(absl::StrCat("secret file ", path, ": fstat: ", std::strerror(e)));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return absl::InvalidArgumentError(absl::StrCat("secret file ", path, ": not a regular file"));
  }
  if ((st.st_mode & 077) != 0) {
    ::close(fd);
    const unsigned m = st.st_mode & 0777;
    const std::string mode = {static_cast<char>('0' + (m >> 6 & 7)), static_cast<char>('0' + (m >> 3 & 7)),
                              static_cast<char>('0' + (m & 7))};
    return absl::PermissionDeniedError(absl::StrCat("secret file ", path, ": mode ", mode,
                                                    " lets group or others access it; use chmod 600"));
  }
  // Room for the bound, a CRLF, and one byte more so that a longer file is seen as longer.
  std::string buf(kMaxSecretBytes + 3, '\0');
  size_t got = 0;
  while (got < buf.size()) {
    ssize_t n = ::read(fd, buf.data() + got, buf.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      ::close(fd);
      OPENSSL_cleanse(buf.data(), buf.size());
      return absl::InternalError(absl::StrCat("secret file ", path, ": read: ", std::strerror(e)));
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  const bool over_bound = got == buf.size();
  buf.resize(got);
  StripTrailingNewline(buf);
  SecretBuffer secret(buf);
  OPENSSL_cleanse(buf.data(), buf.size());
  if (over_bound || secret.size() > kMaxSecretBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("secret file ", path, ": longer than ", kMaxSecretBytes, " bytes"));
  }
  if (secret.empty()) return absl::InvalidArgumentError(absl::StrCat("secret file ", path, ": empty"));
  return secret;
}

absl::StatusOr<SecretBuffer> ReadSecretEnv(const std::string& name) {
  const char* v = std::getenv(name.c_str());
  if (v == nullptr) return absl::NotFoundError(absl::StrCat("environment variable ", name, " is not set"));
  size_t len = ::strnlen(v, kMaxSecretBytes + 1);
  if (len == 0) return absl::InvalidArgumentError(absl::StrCat("environment variable ", name, " is empty"));
  if (len > kMaxSecretBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("environment variable ", name, ": longer than ", kMaxSecretBytes, " bytes"));
  }
  return SecretBuffer(std::string_view(v, len));
}

absl::StatusOr<SecretBuffer> ReadSecretSource(std::string_view source) {
  if (source.starts_with("file:")) return ReadSecretFile(std::string(source.substr(5)));
  if (source.starts_with("env:")) return ReadSecretEnv(std::string(source.substr(4)));
  return absl::InvalidArgumentError(
      "secret source must be file:PATH or env:NAME (a PIN is never given on the command line)");
}

}  // namespace signet
