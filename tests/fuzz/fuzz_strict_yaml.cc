// common/strict_yaml.h on its own: one document, then every typed reader (Map, Scalar, String, Size,
// Duration, Enum) over whatever the document holds under a fixed set of keys, nested mappings and
// sequences included. Callers wrap their whole parse in a try block (yaml-cpp may throw from node
// accessors); so does this target, and any other exception escapes and is reported.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/strings/string_view.h"
#include "common/strict_yaml.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using signet::fuzz::CheckRefusal;
using signet::fuzz::PrintableAscii;
using signet::fuzz::Require;
using signet::yaml::Fields;
using signet::yaml::Presence;
using signet::yaml::StrictReader;

constexpr size_t kMaxBytes = 64 * 1024;

void CheckShown(absl::string_view v) {
  const std::string shown = signet::yaml::Shown(v);
  Require(PrintableAscii(shown), "Shown() must escape", shown);
  Require(shown.size() <= 4 * 64 + 40, "Shown() must truncate", shown.substr(0, 300));
}

void ReadFields(const StrictReader& r, const YAML::Node& node, const std::string& path, int depth) {
  const std::string prefix = "fuzz: ";
  absl::StatusOr<Fields> f = r.Map(
      node, path, {"size", "duration", "string", "enum", "optional", "scalar", "map", "list"}, depth > 0);
  if (!f.ok()) {
    CheckRefusal(f.status(), {prefix});
    return;
  }
  for (const auto& [key, value] : f->entries) {
    CheckShown(key);
    Require(PrintableAscii(f->PathOf(key)), "paths must be printable", f->PathOf(key));
  }
  size_t n = 0;
  if (absl::Status s = r.Size(*f, "size", 1, 1000000, &n); !s.ok()) {
    CheckRefusal(s, {prefix});
  } else {
    Require(n <= 1000000, "Size() out of bounds");
  }
  absl::Duration d;
  if (absl::Status s = r.Duration(*f, "duration", absl::Milliseconds(1), absl::Hours(24), &d); !s.ok())
    CheckRefusal(s, {prefix});
  std::string str;
  if (absl::Status s = r.String(*f, "string", Presence::kOptional, 1, 64, &str); !s.ok()) {
    CheckRefusal(s, {prefix});
  } else {
    Require(str.size() <= 64, "String() out of bounds");
  }
  std::string e;
  if (absl::Status s = r.Enum(*f, "enum", {"internal", "external"}, &e); !s.ok()) CheckRefusal(s, {prefix});
  std::optional<std::string> opt;
  if (absl::Status s = r.OptionalString(*f, "optional", 2, 8, &opt, signet::yaml::Echo::kNo); !s.ok())
    CheckRefusal(s, {prefix});
  absl::StatusOr<std::optional<std::string>> scalar = r.Scalar(*f, "scalar", Presence::kRequired);
  if (!scalar.ok()) {
    CheckRefusal(scalar.status(), {prefix});
  } else {
    CheckShown(**scalar);
  }
  if (depth >= 4) return;
  if (const YAML::Node* m = f->Find("map")) ReadFields(r, *m, f->PathOf("map"), depth + 1);
  if (const YAML::Node* l = f->Find("list"); l != nullptr && l->IsSequence()) {
    for (size_t i = 0; i < l->size() && i < 8; ++i) {
      ReadFields(r, (*l)[i], signet::yaml::Index(f->PathOf("list"), i), depth + 1);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  StrictReader reader("fuzz");
  try {
    absl::StatusOr<YAML::Node> doc =
        reader.LoadDocument(absl::string_view(text.data(), text.size()), kMaxBytes, "fuzz input");
    if (!doc.ok()) {
      CheckRefusal(doc.status(), {"fuzz: "});
      return 0;
    }
    (void)signet::yaml::Kind(*doc);
    (void)signet::yaml::Line(*doc);
    ReadFields(reader, *doc, std::string(signet::yaml::kTopLevel), 0);
  } catch (const YAML::Exception&) {
    // Documented: node accessors may throw; signetd's and the ceremony's parsers turn this into a status.
  }
  return 0;
}
