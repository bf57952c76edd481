// A strict reader for the YAML files operators write (signetd's config, ceremony scripts): one
// document, bounded size, unknown and repeated keys are errors, and every error names the YAML path
// of the offending key ("signers[1].key_label: required"). Values are echoed quoted, escaped and
// truncated, and never at all for keys that hold secrets' locations.
#ifndef SIGNET_COMMON_STRICT_YAML_H_
#define SIGNET_COMMON_STRICT_YAML_H_

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "yaml-cpp/yaml.h"

namespace signet::yaml {

inline constexpr absl::string_view kTopLevel = "(top level)";

// An offending value as it appears in a message: quoted, C-escaped (no raw control bytes reach a
// log line), truncated to 64 bytes.
std::string Shown(absl::string_view v);
// yaml-cpp's own message text (an exception's msg or what()): it can carry input bytes, e.g. "unknown
// escape character: " and the byte after the backslash, so it is C-escaped and truncated like a value.
std::string Escaped(absl::string_view yaml_cpp_message);
bool IsIdChar(char c);  // [A-Za-z0-9._-]
bool AllIdChars(absl::string_view s);
// "parent.key" (keys that would make the path ambiguous are quoted); "parent[i]".
std::string Child(absl::string_view parent, absl::string_view key);
std::string Index(absl::string_view parent, size_t i);
// "a scalar", "a mapping", ...: what a node is, for messages.
const char* Kind(const YAML::Node& n);
// 1-based line of a node, 0 when unknown.
int Line(const YAML::Node& n);

// The entries of one YAML mapping, with keys already checked (strings, unique, allowed).
struct Fields {
  std::string path;
  std::vector<std::pair<std::string, YAML::Node>> entries;

  const YAML::Node* Find(absl::string_view key) const {
    for (const auto& [k, v] : entries) {
      if (k == key) return &v;
    }
    return nullptr;
  }
  std::string PathOf(absl::string_view key) const { return Child(path, key); }
};

enum class Presence { kOptional, kRequired };

// Whether an offending value may be echoed in a message. PIN-related keys never are.
enum class Echo { kYes, kNo };

class StrictReader {
 public:
  // `origin` (a file name) prefixes every message.
  explicit StrictReader(absl::string_view origin) : origin_(origin) {}

  template <typename... Args>
  absl::Status Err(absl::string_view path, const Args&... args) const {
    return absl::InvalidArgumentError(absl::StrCat(origin_, ": ", path, ": ", args...));
  }

  // Parses exactly one YAML document of at most max_bytes (`what` names the bound in the message).
  // An empty text gives an undefined node. yaml-cpp may still throw from node accessors, so callers
  // wrap their whole parse in a try block.
  absl::StatusOr<YAML::Node> LoadDocument(absl::string_view yaml, size_t max_bytes,
                                          absl::string_view what) const;

  // Reads a mapping node. A missing or empty (null) section counts as an empty mapping when
  // `null_ok`, so its keys take their defaults.
  absl::StatusOr<Fields> Map(const YAML::Node& node, const std::string& path,
                             std::initializer_list<absl::string_view> allowed, bool null_ok) const;

  // A scalar value; nullopt when the key is absent (and optional).
  absl::StatusOr<std::optional<std::string>> Scalar(const Fields& f, absl::string_view key,
                                                    Presence presence) const;

  // A string of min..max bytes. Leaves *out untouched when the key is absent.
  absl::Status String(const Fields& f, absl::string_view key, Presence presence, size_t min, size_t max,
                      std::string* out, Echo echo = Echo::kYes) const;
  absl::Status OptionalString(const Fields& f, absl::string_view key, size_t min, size_t max,
                              std::optional<std::string>* out, Echo echo = Echo::kYes) const;
  // A plain decimal integer in min..max (no sign, no leading zeros). Leaves *out untouched when absent.
  absl::Status Size(const Fields& f, absl::string_view key, uint64_t min, uint64_t max, size_t* out) const;
  // "10s", "250ms", "200us", "2h" in min..max. Leaves *out untouched when absent.
  absl::Status Duration(const Fields& f, absl::string_view key, absl::Duration min, absl::Duration max,
                        absl::Duration* out) const;
  // One of `allowed`. Leaves *out untouched when absent.
  absl::Status Enum(const Fields& f, absl::string_view key, std::initializer_list<absl::string_view> allowed,
                    std::string* out) const;

  const std::string& origin() const { return origin_; }

 private:
  std::string origin_;
};

}  // namespace signet::yaml

#endif  // SIGNET_COMMON_STRICT_YAML_H_
