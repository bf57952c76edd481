#include "common/strict_yaml.h"

#include <algorithm>
#include <exception>
#include <map>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "yaml-cpp/depthguard.h"
#include "yaml-cpp/eventhandler.h"

namespace signet::yaml {
namespace {

constexpr size_t kMaxShownValueBytes = 64;  // offending values are truncated to this in messages

// One segment of a YAML path. Keys that would make the path ambiguous (dots, brackets, control
// bytes) or are overly long are quoted like values.
std::string Segment(absl::string_view key) {
  bool plain = !key.empty() && key.size() <= kMaxShownValueBytes;
  for (char c : key) {
    if (!(absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-')) plain = false;
  }
  return plain ? std::string(key) : Shown(key);
}

// Where the latest document of a YAML stream started; builds nothing.
class DocumentCounter : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark& mark) override { start = mark; }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
  }
  void OnMapEnd() override {}

  YAML::Mark start = YAML::Mark::null_mark();
};

}  // namespace

// An offending value as it appears in a message: quoted, C-escaped (no raw control bytes reach a
// log line), truncated to kMaxShownValueBytes.
std::string Shown(absl::string_view v) {
  if (v.size() <= kMaxShownValueBytes) return absl::StrCat("'", absl::CHexEscape(v), "'");
  return absl::StrCat("'", absl::CHexEscape(v.substr(0, kMaxShownValueBytes)), "'... (", v.size(), " bytes)");
}

std::string Escaped(absl::string_view yaml_cpp_message) {
  constexpr size_t kMaxMessageBytes = 256;
  if (yaml_cpp_message.size() <= kMaxMessageBytes) return absl::CHexEscape(yaml_cpp_message);
  return absl::StrCat(absl::CHexEscape(yaml_cpp_message.substr(0, kMaxMessageBytes)), "...");
}

bool IsIdChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
}

bool AllIdChars(absl::string_view s) { return std::all_of(s.begin(), s.end(), IsIdChar); }

std::string Child(absl::string_view parent, absl::string_view key) {
  if (parent.empty() || parent == kTopLevel) return Segment(key);
  return absl::StrCat(parent, ".", Segment(key));
}

std::string Index(absl::string_view parent, size_t i) { return absl::StrCat(parent, "[", i, "]"); }

const char* Kind(const YAML::Node& n) {
  if (!n.IsDefined()) return "nothing";
  switch (n.Type()) {
    case YAML::NodeType::Null:
      return "an empty value";
    case YAML::NodeType::Scalar:
      return "a scalar";
    case YAML::NodeType::Sequence:
      return "a sequence";
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Undefined:
      break;
  }
  return "nothing";
}

int Line(const YAML::Node& n) {
  YAML::Mark m = n.Mark();
  return m.is_null() ? 0 : m.line + 1;
}

absl::StatusOr<YAML::Node> StrictReader::LoadDocument(absl::string_view yaml, size_t max_bytes,
                                                      absl::string_view what) const {
  if (yaml.size() > max_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(origin_, ": is larger than the ", max_bytes, "-byte ", what, " bound"));
  }
  const std::string text(yaml);
  auto syntax_error = [&](const YAML::Mark& mark, absl::string_view msg) {
    if (mark.is_null())
      return absl::InvalidArgumentError(absl::StrCat(origin_, ": YAML syntax error: ", msg));
    return absl::InvalidArgumentError(absl::StrCat(origin_, ": line ", mark.line + 1, ", column ",
                                                   mark.column + 1, ": YAML syntax error: ", msg));
  };
  try {
    // Count the documents first, building nothing. Not YAML::LoadAll: for some invalid text (a ',' where a
    // document should start) yaml-cpp 0.7 hands out empty documents forever without reading on, and
    // LoadAll never returns while its vector of documents grows without bound.
    DocumentCounter counter;
    std::istringstream in(text);
    YAML::Parser parser(in);
    size_t docs = 0;
    int previous_start = -1;
    while (parser.HandleNextDocument(counter)) {
      ++docs;
      if (counter.start.pos == previous_start) {
        const auto pos = static_cast<size_t>(counter.start.pos);
        return syntax_error(counter.start, pos < text.size()
                                               ? absl::StrCat("unexpected ", Shown(text.substr(pos, 1)))
                                               : std::string("unexpected end of input"));
      }
      previous_start = counter.start.pos;
    }
    if (docs > 1) {
      return Err(kTopLevel, "expected one YAML document, got ", docs, " (remove the extra '---')");
    }
    if (docs == 0) return YAML::Node(YAML::NodeType::Undefined);
    return YAML::Load(text);
  } catch (const YAML::DeepRecursion& e) {
    // yaml-cpp's own text for it is "bad file".
    return syntax_error(e.mark, absl::StrCat("nested too deeply (", e.depth(), " levels)"));
  } catch (const YAML::Exception& e) {
    return syntax_error(e.mark, Escaped(e.msg));
  }
}

absl::StatusOr<Fields> StrictReader::Map(const YAML::Node& node, const std::string& path,
                                         std::initializer_list<absl::string_view> allowed,
                                         bool null_ok) const {
  Fields fields;
  fields.path = path;
  if (null_ok && (!node.IsDefined() || node.IsNull())) return fields;
  if (!node.IsMap()) return Err(path, "expected a mapping, got ", Kind(node));
  std::map<std::string, int> seen;  // key -> line
  for (YAML::const_iterator it = node.begin(); it != node.end(); ++it) {
    const YAML::Node key_node = it->first;  // copies: the iterator hands out temporaries
    const YAML::Node value_node = it->second;
    if (!key_node.IsScalar()) {
      return Err(path, "mapping keys must be strings, got ", Kind(key_node), " as a key (line ",
                 Line(key_node), ")");
    }
    const std::string& key = key_node.Scalar();
    std::string key_path = Child(path, key);
    bool known = false;
    for (absl::string_view a : allowed) known = known || a == key;
    if (!known) return Err(key_path, "unknown key; expected one of ", absl::StrJoin(allowed, ", "));
    // yaml-cpp keeps every pair of a mapping with a repeated key; a lookup would silently take one.
    auto [prev, inserted] = seen.emplace(key, Line(key_node));
    if (!inserted) {
      if (prev->second == Line(key_node))
        return Err(key_path, "duplicate key (twice on line ", prev->second, ")");
      return Err(key_path, "duplicate key (lines ", prev->second, " and ", Line(key_node), ")");
    }
    fields.entries.emplace_back(key, value_node);
  }
  return fields;
}

absl::StatusOr<std::optional<std::string>> StrictReader::Scalar(const Fields& f, absl::string_view key,
                                                                Presence presence) const {
  const YAML::Node* node = f.Find(key);
  if (node == nullptr) {
    if (presence == Presence::kRequired) return Err(f.PathOf(key), "required");
    return std::optional<std::string>();
  }
  if (node->IsNull()) {
    if (presence == Presence::kRequired) return Err(f.PathOf(key), "required, got an empty value");
    return Err(f.PathOf(key), "got an empty value; give a value or remove the key to use the default");
  }
  if (!node->IsScalar()) return Err(f.PathOf(key), "expected a scalar, got ", Kind(*node));
  const std::string& value = node->Scalar();
  if (value.find('\0') != std::string::npos) return Err(f.PathOf(key), "must not contain NUL bytes");
  return std::optional<std::string>(value);
}

absl::Status StrictReader::String(const Fields& f, absl::string_view key, Presence presence, size_t min,
                                  size_t max, std::string* out, Echo echo) const {
  absl::StatusOr<std::optional<std::string>> value = Scalar(f, key, presence);
  if (!value.ok()) return value.status();
  if (!value->has_value()) return absl::OkStatus();
  const std::string& s = **value;
  if (s.size() < min || s.size() > max) {
    if (s.empty()) return Err(f.PathOf(key), "must be ", min, "..", max, " bytes, got an empty string");
    return Err(f.PathOf(key), "must be ", min, "..", max, " bytes, got ", s.size(), " bytes",
               echo == Echo::kYes ? absl::StrCat(": ", Shown(s)) : std::string());
  }
  *out = s;
  return absl::OkStatus();
}

absl::Status StrictReader::OptionalString(const Fields& f, absl::string_view key, size_t min, size_t max,
                                          std::optional<std::string>* out, Echo echo) const {
  if (f.Find(key) == nullptr) return absl::OkStatus();
  std::string value;
  if (absl::Status s = String(f, key, Presence::kOptional, min, max, &value, echo); !s.ok()) return s;
  *out = std::move(value);
  return absl::OkStatus();
}

absl::Status StrictReader::Size(const Fields& f, absl::string_view key, uint64_t min, uint64_t max,
                                size_t* out) const {
  absl::StatusOr<std::optional<std::string>> value = Scalar(f, key, Presence::kOptional);
  if (!value.ok()) return value.status();
  if (!value->has_value()) return absl::OkStatus();
  const std::string& s = **value;
  bool digits = !s.empty() && s.size() <= 20;
  for (char c : s) digits = digits && absl::ascii_isdigit(static_cast<unsigned char>(c));
  uint64_t n = 0;
  if (!digits || !absl::SimpleAtoi(s, &n) || n < min || n > max) {
    return Err(f.PathOf(key), "must be a non-negative integer in ", min, "..", max, ", got ", Shown(s));
  }
  if (s.size() > 1 && s.front() == '0') {
    return Err(f.PathOf(key), "must be a non-negative integer in ", min, "..", max,
               " without leading zeros (YAML 1.1 reads those as octal), got ", Shown(s));
  }
  *out = static_cast<size_t>(n);
  return absl::OkStatus();
}

absl::Status StrictReader::Duration(const Fields& f, absl::string_view key, absl::Duration min,
                                    absl::Duration max, absl::Duration* out) const {
  absl::StatusOr<std::optional<std::string>> value = Scalar(f, key, Presence::kOptional);
  if (!value.ok()) return value.status();
  if (!value->has_value()) return absl::OkStatus();
  const std::string& s = **value;
  absl::Duration d;
  if (!absl::ParseDuration(s, &d) || d < min || d > max) {
    return Err(f.PathOf(key), "must be a duration in ", absl::FormatDuration(min), "..",
               absl::FormatDuration(max), R"( such as "10s", "250ms" or "200us", got )", Shown(s));
  }
  *out = d;
  return absl::OkStatus();
}

absl::Status StrictReader::Enum(const Fields& f, absl::string_view key,
                                std::initializer_list<absl::string_view> allowed, std::string* out) const {
  absl::StatusOr<std::optional<std::string>> value = Scalar(f, key, Presence::kOptional);
  if (!value.ok()) return value.status();
  if (!value->has_value()) return absl::OkStatus();
  for (absl::string_view a : allowed) {
    if (a == **value) {
      *out = **value;
      return absl::OkStatus();
    }
  }
  return Err(f.PathOf(key), "must be one of ", absl::StrJoin(allowed, ", "), "; got ", Shown(**value));
}

}  // namespace signet::yaml
