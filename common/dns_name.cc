#include "common/dns_name.h"

#include <string_view>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace signet {
namespace {

// The name as messages show it: quoted, C-escaped (no control or raw non-ASCII byte reaches a log
// line), at most 64 bytes of it.
std::string Quoted(const std::string& name) {
  constexpr size_t kMaxShown = 64;
  std::string out = absl::StrCat("'", absl::CHexEscape(name.substr(0, kMaxShown)), "'");
  if (name.size() > kMaxShown) absl::StrAppend(&out, "...");
  return out;
}

}  // namespace

absl::Status ValidateDnsName(const std::string& name, const std::string& what, bool allow_wildcard) {
  std::string_view rest = name;
  if (allow_wildcard && rest.starts_with("*.")) rest.remove_prefix(2);
  if (name.size() > 253) {
    return absl::InvalidArgumentError(absl::StrCat(what, " ", Quoted(name), " is longer than 253 bytes"));
  }
  size_t label = 0;
  for (size_t i = 0; i <= rest.size(); ++i) {
    if (i == rest.size() || rest[i] == '.') {
      if (label == 0 || label > 63) {
        return absl::InvalidArgumentError(
            absl::StrCat(what, " ", Quoted(name), " has an empty or over-63-byte label"));
      }
      label = 0;
      continue;
    }
    char c = rest[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
    if (!ok) {
      return absl::InvalidArgumentError(absl::StrCat(what, " ", Quoted(name),
                                                     " may contain only letters, digits, '-' and '.'",
                                                     allow_wildcard ? " (and a leading '*.')" : ""));
    }
    ++label;
  }
  return absl::OkStatus();
}

}  // namespace signet
