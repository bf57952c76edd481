// Secrets (PINs) live in zeroising buffers and come from files or the environment, never argv.
#ifndef SIGNET_COMMON_SECRET_H_
#define SIGNET_COMMON_SECRET_H_

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace signet {

// Move-only byte buffer that is wiped (OPENSSL_cleanse) when destroyed or reassigned.
// It has no operator<< and no implicit conversion to string, so it cannot be logged by accident.
class SecretBuffer {
 public:
  SecretBuffer() = default;
  explicit SecretBuffer(std::string_view value);
  ~SecretBuffer();
  SecretBuffer(SecretBuffer&& other) noexcept;
  SecretBuffer& operator=(SecretBuffer&& other) noexcept;
  SecretBuffer(const SecretBuffer&) = delete;
  SecretBuffer& operator=(const SecretBuffer&) = delete;

  const unsigned char* data() const { return reinterpret_cast<const unsigned char*>(value_.data()); }
  size_t size() const { return value_.size(); }
  bool empty() const { return value_.empty(); }
  // Explicit, greppable access for the one place that must hand the bytes on (C_Login).
  std::string_view reveal() const { return value_; }
  SecretBuffer Clone() const { return SecretBuffer(value_); }

 private:
  void Wipe() noexcept;
  std::string value_;
};

// Upper bound for any PIN or secret read from a file or the environment.
inline constexpr size_t kMaxSecretBytes = 256;

// Reads a secret from a file. Refuses a file readable or writable by group or others (must be 0600
// or stricter), a non-regular file, an empty one, or one over kMaxSecretBytes. A single trailing
// newline (or CRLF) is stripped.
absl::StatusOr<SecretBuffer> ReadSecretFile(const std::string& path);

// Reads a secret from an environment variable; refuses an unset or empty one, or one over the bound.
absl::StatusOr<SecretBuffer> ReadSecretEnv(const std::string& name);

// "file:PATH" or "env:NAME": the one syntax every PIN option accepts.
absl::StatusOr<SecretBuffer> ReadSecretSource(std::string_view source);

}  // namespace signet

#endif  // SIGNET_COMMON_SECRET_H_
