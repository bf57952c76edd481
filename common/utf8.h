// UTF-8 validation shared by everything that writes text for machines (JSON logs, Prometheus labels).
#ifndef SIGNET_COMMON_UTF8_H_
#define SIGNET_COMMON_UTF8_H_

#include <cstddef>

namespace signet {

// Length of the valid UTF-8 sequence at p[0..n) (n >= 1), or 0 when it is invalid; then *bad receives
// the length of the maximal ill-formed subpart (Unicode's "substitution of maximal subparts"), which
// callers replace with one U+FFFD.
size_t Utf8Sequence(const unsigned char* p, size_t n, size_t* bad);

}  // namespace signet

#endif  // SIGNET_COMMON_UTF8_H_
