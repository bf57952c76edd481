// What every Signet fuzz target asserts about a refusal: it is a Status of the expected code whose
// message starts with the expected prefix (the file, field or rule it is about), stays bounded, and is
// printable ASCII (untrusted bytes are echoed escaped, so no control byte or raw UTF-8 reaches a log
// line). A violation prints the message and aborts, which libFuzzer reports as a crash.
#ifndef SIGNET_TESTS_FUZZ_FUZZ_CHECK_H_
#define SIGNET_TESTS_FUZZ_FUZZ_CHECK_H_

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"

namespace signet::fuzz {

inline constexpr size_t kMaxMessageBytes = 4096;

[[noreturn]] inline void Fail(std::string_view what, std::string_view detail) {
  const std::string escaped = absl::CHexEscape(absl::string_view(detail.data(), detail.size()));
  std::fprintf(stderr, "\nFUZZ INVARIANT VIOLATED: %.*s\n  %s\n", static_cast<int>(what.size()), what.data(),
               escaped.c_str());
  std::abort();
}

inline void Require(bool ok, std::string_view what, std::string_view detail = "") {
  if (!ok) Fail(what, detail);
}

// SIGNET_FUZZ_PRINT=1 in the environment: each target prints its verdict on every input (to see what
// a seed or a regression input reaches: `SIGNET_FUZZ_PRINT=1 fuzz_config corpus/config/*`).
inline void Note(std::string_view what, const absl::Status& s) {
  static const bool print = std::getenv("SIGNET_FUZZ_PRINT") != nullptr;
  if (!print) return;
  const std::string text = s.ToString();
  std::fprintf(stderr, "%.*s: %s\n", static_cast<int>(what.size()), what.data(), text.c_str());
}

inline bool PrintableAscii(std::string_view s) {
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u > 0x7e) return false;
  }
  return true;
}

// `s` is a refusal of `code` whose message starts with one of `prefixes`.
inline void CheckRefusal(const absl::Status& s, std::initializer_list<std::string_view> prefixes,
                         absl::StatusCode code = absl::StatusCode::kInvalidArgument) {
  const std::string_view m(s.message().data(), s.message().size());
  Require(!s.ok(), "a refusal must not be OK");
  Require(s.code() == code, "unexpected status code", s.ToString());
  Require(m.size() <= kMaxMessageBytes, "error message too long", m.substr(0, 256));
  Require(PrintableAscii(m), "error message has control or non-ASCII bytes", m);
  bool prefixed = false;
  for (std::string_view p : prefixes) prefixed = prefixed || m.starts_with(p);
  Require(prefixed, "error message does not start with the expected field or rule", m);
}

}  // namespace signet::fuzz

#endif  // SIGNET_TESTS_FUZZ_FUZZ_CHECK_H_
