// Turns OpenSSL's thread-local error queue into text for a Status, and empties it so no
// stale error is reported later by unrelated code.
#ifndef SIGNET_COMMON_OPENSSL_ERROR_H_
#define SIGNET_COMMON_OPENSSL_ERROR_H_

#include <openssl/err.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace signet {

// The first (innermost) queued error as text, or "no OpenSSL error queued"; always clears the queue.
inline std::string ConsumeOpenSslErrors() {
  unsigned long first = ERR_peek_error();
  std::string text = "no OpenSSL error queued";
  if (first != 0) {
    char buf[256];
    ERR_error_string_n(first, buf, sizeof(buf));
    text = buf;
  }
  ERR_clear_error();
  return text;
}

// For OpenSSL calls that cannot fail short of a broken invariant (allocation failure, a built-in digest
// missing): continuing would only produce wrong signatures or verdicts, so stop the process.
[[noreturn]] inline void OpenSslInvariantFailure(const char* what) {
  std::string errors = ConsumeOpenSslErrors();
  (void)std::fprintf(stderr, "signet: fatal: %s failed: %s\n", what, errors.c_str());
  std::abort();
}

}  // namespace signet

#endif  // SIGNET_COMMON_OPENSSL_ERROR_H_
