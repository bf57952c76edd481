#include "daemon/config.h"

#include <algorithm>
#include <cstdint>
#include <exception>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "common/absl_compat.h"
#include "common/files.h"
#include "yaml-cpp/yaml.h"

namespace signet::daemon {
namespace {

// Bounds that config.h leaves to the loader.
constexpr size_t kMaxShownValueBytes = 64;  // offending values are truncated to this in messages
constexpr size_t kMaxPathBytes = 4096;      // PATH_MAX
constexpr size_t kMaxTokenBytes = 1024;     // label, serial=... or a pkcs11: URI
constexpr size_t kMaxEnvNameBytes = 256;
constexpr size_t kMaxKeyLabelBytes = 128;
constexpr size_t kMaxX5uBytes = 2048;
constexpr size_t kMaxIdentityBytes = 1024;
constexpr size_t kMaxLoggerNameBytes = 64;
constexpr absl::string_view kTopLevel = "(top level)";
constexpr absl::string_view kHttpsPrefix = "https://";

// ---- Rendering helpers -------------------------------------------------------------------------

// An offending value as it appears in a message: quoted, C-escaped (no raw control bytes reach a
// log line), truncated to kMaxShownValueBytes.
std::string Shown(absl::string_view v) {
  if (v.size() <= kMaxShownValueBytes) return absl::StrCat("'", absl::CHexEscape(v), "'");
  return absl::StrCat("'", absl::CHexEscape(v.substr(0, kMaxShownValueBytes)), "'... (", v.size(), " bytes)");
}

bool IsIdChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
}

bool AllIdChars(absl::string_view s) { return std::all_of(s.begin(), s.end(), IsIdChar); }

// One segment of a YAML path. Keys that would make the path ambiguous (dots, brackets, control
// bytes) or are overly long are quoted like values.
std::string Segment(absl::string_view key) {
  bool plain = !key.empty() && key.size() <= kMaxShownValueBytes;
  for (char c : key) {
    if (!(absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-')) plain = false;
  }
  return plain ? std::string(key) : Shown(key);
}

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

// "host:port" or "[v6]:port"; the port is decimal 0..65535.
bool ValidHostPort(absl::string_view s) {
  absl::string_view host;
  absl::string_view port;
  if (!s.empty() && s.front() == '[') {
    size_t close = s.find(']');
    if (close == absl::string_view::npos || close + 1 >= s.size() || s[close + 1] != ':') return false;
    host = s.substr(1, close - 1);
    port = s.substr(close + 2);
    if (host.empty() || host.find(':') == absl::string_view::npos) return false;
    for (char c : host) {
      if (!(absl::ascii_isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.')) return false;
    }
  } else {
    size_t colon = s.find(':');
    if (colon == absl::string_view::npos || s.rfind(':') != colon) return false;  // bare IPv6 needs []
    host = s.substr(0, colon);
    port = s.substr(colon + 1);
    if (host.empty() || !AllIdChars(host)) return false;
  }
  if (port.empty() || port.size() > 5) return false;
  for (char c : port) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  }
  uint32_t value = 0;
  return absl::SimpleAtoi(port, &value) && value <= 65535;
}

bool ValidEnvName(absl::string_view s) {
  if (s.empty() || s.size() > kMaxEnvNameBytes) return false;
  if (absl::ascii_isdigit(static_cast<unsigned char>(s.front()))) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

// ---- Mapping access ----------------------------------------------------------------------------

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

class Parser {
 public:
  explicit Parser(absl::string_view origin) : origin_(origin) {}

  template <typename... Args>
  absl::Status Err(absl::string_view path, const Args&... args) const {
    return absl::InvalidArgumentError(absl::StrCat(origin_, ": ", path, ": ", args...));
  }

  absl::StatusOr<Config> Run(absl::string_view yaml) const;

 private:
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
  absl::Status Size(const Fields& f, absl::string_view key, uint64_t min, uint64_t max, size_t* out) const;
  absl::Status Duration(const Fields& f, absl::string_view key, absl::Duration min, absl::Duration max,
                        absl::Duration* out) const;
  absl::Status Enum(const Fields& f, absl::string_view key, std::initializer_list<absl::string_view> allowed,
                    std::string* out) const;
  absl::Status Listen(const Fields& f, absl::string_view key, bool empty_ok, std::string* out) const;

  absl::Status ParseServer(const YAML::Node& node, ServerConfig* out) const;
  absl::Status ParseHsm(const YAML::Node& node, HsmConfig* out) const;
  absl::Status ParseBatching(const YAML::Node& node, BatchingConfig* out) const;
  absl::Status ParseLimits(const YAML::Node& node, LimitsConfig* out) const;
  absl::Status CheckX5u(const std::string& path, const std::string& url) const;
  absl::Status ParseSigners(const YAML::Node& node, const LimitsConfig& limits,
                            std::vector<SignerConfig>* out) const;
  absl::Status ParseAuthorization(const YAML::Node& node, const std::vector<SignerConfig>& signers,
                                  std::vector<AuthorizationRule>* out) const;
  absl::Status ParseLogging(const YAML::Node& node, LoggingConfig* out) const;

  std::string origin_;
};

absl::StatusOr<Fields> Parser::Map(const YAML::Node& node, const std::string& path,
                                   std::initializer_list<absl::string_view> allowed, bool null_ok) const {
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

absl::StatusOr<std::optional<std::string>> Parser::Scalar(const Fields& f, absl::string_view key,
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

absl::Status Parser::String(const Fields& f, absl::string_view key, Presence presence, size_t min, size_t max,
                            std::string* out, Echo echo) const {
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

absl::Status Parser::OptionalString(const Fields& f, absl::string_view key, size_t min, size_t max,
                                    std::optional<std::string>* out, Echo echo) const {
  if (f.Find(key) == nullptr) return absl::OkStatus();
  std::string value;
  if (absl::Status s = String(f, key, Presence::kOptional, min, max, &value, echo); !s.ok()) return s;
  *out = std::move(value);
  return absl::OkStatus();
}

absl::Status Parser::Size(const Fields& f, absl::string_view key, uint64_t min, uint64_t max,
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

absl::Status Parser::Duration(const Fields& f, absl::string_view key, absl::Duration min, absl::Duration max,
                              absl::Duration* out) const {
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

absl::Status Parser::Enum(const Fields& f, absl::string_view key,
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

absl::Status Parser::Listen(const Fields& f, absl::string_view key, bool empty_ok, std::string* out) const {
  absl::StatusOr<std::optional<std::string>> value = Scalar(f, key, Presence::kOptional);
  if (!value.ok()) return value.status();
  if (!value->has_value()) return absl::OkStatus();
  const std::string& s = **value;
  if (!(empty_ok && s.empty()) && !ValidHostPort(s)) {
    return Err(f.PathOf(key), "must be host:port or [v6]:port with a numeric port 0..65535",
               empty_ok ? " (or \"\" to disable)" : "", ", got ", Shown(s));
  }
  *out = s;
  return absl::OkStatus();
}

absl::Status Parser::ParseServer(const YAML::Node& node, ServerConfig* out) const {
  absl::StatusOr<Fields> f =
      Map(node, "server", {"listen", "http_listen", "tls", "drain_timeout", "ready_file"}, /*null_ok=*/true);
  if (!f.ok()) return f.status();
  if (absl::Status s = Listen(*f, "listen", /*empty_ok=*/false, &out->listen); !s.ok()) return s;
  if (absl::Status s = Listen(*f, "http_listen", /*empty_ok=*/true, &out->http_listen); !s.ok()) return s;

  const YAML::Node* tls_node = f->Find("tls");
  absl::StatusOr<Fields> tls =
      Map(tls_node ? *tls_node : YAML::Node(YAML::NodeType::Undefined), f->PathOf("tls"),
          {"cert_file", "key_file", "client_ca_file", "crl_file"}, /*null_ok=*/true);
  if (!tls.ok()) return tls.status();
  if (absl::Status s = String(*tls, "cert_file", Presence::kRequired, 1, kMaxPathBytes, &out->tls.cert_file);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = String(*tls, "key_file", Presence::kRequired, 1, kMaxPathBytes, &out->tls.key_file);
      !s.ok()) {
    return s;
  }
  if (absl::Status s =
          String(*tls, "client_ca_file", Presence::kRequired, 1, kMaxPathBytes, &out->tls.client_ca_file);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = OptionalString(*tls, "crl_file", 1, kMaxPathBytes, &out->tls.crl_file); !s.ok())
    return s;

  if (absl::Status s =
          Duration(*f, "drain_timeout", absl::ZeroDuration(), absl::Minutes(10), &out->drain_timeout);
      !s.ok()) {
    return s;
  }
  return OptionalString(*f, "ready_file", 1, kMaxPathBytes, &out->ready_file);
}

absl::Status Parser::ParseHsm(const YAML::Node& node, HsmConfig* out) const {
  absl::StatusOr<Fields> f =
      Map(node, "hsm", {"module", "token", "pin_file", "pin_env", "health_timeout"}, /*null_ok=*/true);
  if (!f.ok()) return f.status();
  if (absl::Status s = String(*f, "module", Presence::kOptional, 1, kMaxPathBytes, &out->module); !s.ok())
    return s;
  if (absl::Status s = String(*f, "token", Presence::kRequired, 1, kMaxTokenBytes, &out->token); !s.ok())
    return s;

  // PIN sources: only where the PIN lives, never the PIN, and never echoed in a message (a PIN
  // pasted into the wrong key must not end up in a log).
  if (absl::Status s = OptionalString(*f, "pin_file", 1, kMaxPathBytes, &out->pin_file, Echo::kNo); !s.ok()) {
    return s;
  }
  if (f->Find("pin_env") != nullptr) {
    absl::StatusOr<std::optional<std::string>> env = Scalar(*f, "pin_env", Presence::kOptional);
    if (!env.ok()) return env.status();
    if (!ValidEnvName(**env)) {
      return Err(f->PathOf("pin_env"), "must be an environment variable name: [A-Za-z_][A-Za-z0-9_]*, 1..",
                 kMaxEnvNameBytes, " bytes (the value is not shown)");
    }
    out->pin_env = **env;
  }
  if (out->pin_file.has_value() == out->pin_env.has_value()) {
    return Err("hsm", "exactly one of pin_file or pin_env is required, got ",
               out->pin_file.has_value() ? "both" : "neither");
  }
  return Duration(*f, "health_timeout", absl::Milliseconds(1), absl::Seconds(60), &out->health_timeout);
}

absl::Status Parser::ParseBatching(const YAML::Node& node, BatchingConfig* out) const {
  absl::StatusOr<Fields> f =
      Map(node, "batching", {"workers", "max_batch", "max_linger", "queue_size"}, true);
  if (!f.ok()) return f.status();
  if (absl::Status s = Size(*f, "workers", 0, 256, &out->workers); !s.ok()) return s;
  if (absl::Status s = Size(*f, "max_batch", 1, 4096, &out->max_batch); !s.ok()) return s;
  if (absl::Status s = Duration(*f, "max_linger", absl::ZeroDuration(), absl::Seconds(1), &out->max_linger);
      !s.ok()) {
    return s;
  }
  return Size(*f, "queue_size", 1, 1000000, &out->queue_size);
}

absl::Status Parser::ParseLimits(const YAML::Node& node, LimitsConfig* out) const {
  absl::StatusOr<Fields> f =
      Map(node, "limits",
          {"max_item_bytes", "max_items_per_call", "max_message_bytes", "max_signer_id_bytes"}, true);
  if (!f.ok()) return f.status();
  if (absl::Status s = Size(*f, "max_item_bytes", 1, 64u << 20, &out->max_item_bytes); !s.ok()) return s;
  if (absl::Status s = Size(*f, "max_items_per_call", 1, 100000, &out->max_items_per_call); !s.ok()) return s;
  if (absl::Status s = Size(*f, "max_message_bytes", 1024, 1u << 30, &out->max_message_bytes); !s.ok())
    return s;
  return Size(*f, "max_signer_id_bytes", 1, 1024, &out->max_signer_id_bytes);
}

absl::Status Parser::CheckX5u(const std::string& path, const std::string& url) const {
  if (url.size() > kMaxX5uBytes) {
    return Err(path, "must be at most ", kMaxX5uBytes, " bytes, got ", url.size(), " bytes: ", Shown(url));
  }
  if (!absl::StartsWith(url, kHttpsPrefix)) return Err(path, "must start with https://, got ", Shown(url));
  if (url.size() == kHttpsPrefix.size() || url[kHttpsPrefix.size()] == '/') {
    return Err(path, "must name a host after https://, got ", Shown(url));
  }
  // It is pasted into "Content-Signature: x5u=<url>;p384ecdsa=<sig>": no ';', no whitespace.
  const bool header_safe = std::all_of(url.begin(), url.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return c != ';' && u > 0x20 && u < 0x7f;
  });
  if (!header_safe) {
    return Err(path,
               "must not contain ';', whitespace, control or non-ASCII characters "
               "(it goes into the Content-Signature header), got ",
               Shown(url));
  }
  return absl::OkStatus();
}

absl::Status Parser::ParseSigners(const YAML::Node& node, const LimitsConfig& limits,
                                  std::vector<SignerConfig>* out) const {
  if (!node.IsDefined() || node.IsNull()) return Err("signers", "required; configure at least one signer");
  if (!node.IsSequence()) return Err("signers", "expected a sequence of signers, got ", Kind(node));
  if (node.size() == 0) return Err("signers", "at least one signer is required, got an empty list");
  std::map<std::string, size_t> ids;  // id -> index
  for (size_t i = 0; i < node.size(); ++i) {
    const std::string path = Index("signers", i);
    absl::StatusOr<Fields> f = Map(node[i], path, {"id", "type", "key_label", "x5u"}, /*null_ok=*/false);
    if (!f.ok()) return f.status();
    SignerConfig signer;

    absl::StatusOr<std::optional<std::string>> id = Scalar(*f, "id", Presence::kRequired);
    if (!id.ok()) return id.status();
    signer.id = **id;
    if (signer.id.empty() || signer.id.size() > limits.max_signer_id_bytes || !AllIdChars(signer.id)) {
      return Err(f->PathOf("id"), "must be 1..", limits.max_signer_id_bytes,
                 " bytes (limits.max_signer_id_bytes) of [A-Za-z0-9._-], got ", signer.id.size(),
                 " bytes: ", Shown(signer.id));
    }
    if (auto [prev, inserted] = ids.emplace(signer.id, i); !inserted) {
      return Err(f->PathOf("id"), "duplicate signer id ", Shown(signer.id), "; already used by signers[",
                 prev->second, "].id");
    }

    absl::StatusOr<std::optional<std::string>> type = Scalar(*f, "type", Presence::kRequired);
    if (!type.ok()) return type.status();
    signer.type = **type;
    if (signer.type == "contentsignaturepki") {
      return Err(f->PathOf("type"), "contentsignaturepki is not supported yet (key management)");
    }
    if (signer.type != "contentsignature") {
      return Err(f->PathOf("type"), "must be one of contentsignature, contentsignaturepki; got ",
                 Shown(signer.type));
    }

    if (absl::Status s =
            String(*f, "key_label", Presence::kRequired, 1, kMaxKeyLabelBytes, &signer.key_label);
        !s.ok()) {
      return s;
    }

    if (f->Find("x5u") != nullptr) {
      absl::StatusOr<std::optional<std::string>> x5u = Scalar(*f, "x5u", Presence::kOptional);
      if (!x5u.ok()) return x5u.status();
      if (absl::Status s = CheckX5u(f->PathOf("x5u"), **x5u); !s.ok()) return s;
      signer.x5u = **x5u;
    }
    out->push_back(std::move(signer));
  }
  return absl::OkStatus();
}

absl::Status Parser::ParseAuthorization(const YAML::Node& node, const std::vector<SignerConfig>& signers,
                                        std::vector<AuthorizationRule>* out) const {
  if (!node.IsDefined() || node.IsNull()) return absl::OkStatus();  // nobody may sign anything
  if (!node.IsSequence()) return Err("authorization", "expected a sequence of rules, got ", Kind(node));
  std::map<std::string, size_t> identities;  // identity -> index
  for (size_t i = 0; i < node.size(); ++i) {
    const std::string path = Index("authorization", i);
    absl::StatusOr<Fields> f = Map(node[i], path, {"identity", "signers"}, /*null_ok=*/false);
    if (!f.ok()) return f.status();
    AuthorizationRule rule;
    if (absl::Status s = String(*f, "identity", Presence::kRequired, 1, kMaxIdentityBytes, &rule.identity);
        !s.ok()) {
      return s;
    }
    if (auto [prev, inserted] = identities.emplace(rule.identity, i); !inserted) {
      return Err(f->PathOf("identity"), "duplicate identity ", Shown(rule.identity),
                 "; already used by authorization[", prev->second, "].identity");
    }

    const std::string signers_path = f->PathOf("signers");
    const YAML::Node* list = f->Find("signers");
    if (list == nullptr) return Err(signers_path, "required; list the signer ids this identity may use");
    if (!list->IsSequence()) return Err(signers_path, "expected a sequence of signer ids, got ", Kind(*list));
    if (list->size() == 0) return Err(signers_path, "must list at least one signer id, got an empty list");
    std::map<std::string, size_t> listed;
    for (size_t j = 0; j < list->size(); ++j) {
      const std::string item_path = Index(signers_path, j);
      YAML::Node item = (*list)[j];
      if (!item.IsScalar()) return Err(item_path, "expected a signer id, got ", Kind(item));
      const std::string& id = item.Scalar();
      bool known = false;
      for (const SignerConfig& s : signers) known = known || s.id == id;
      if (!known)
        return Err(item_path, "unknown signer ", Shown(id), " (not the id of any entry in signers)");
      if (auto [prev, inserted] = listed.emplace(id, j); !inserted) {
        return Err(item_path, "duplicate signer ", Shown(id), "; already listed at ",
                   Index(signers_path, prev->second));
      }
      rule.signers.push_back(id);
    }
    out->push_back(std::move(rule));
  }
  return absl::OkStatus();
}

absl::Status Parser::ParseLogging(const YAML::Node& node, LoggingConfig* out) const {
  absl::StatusOr<Fields> f = Map(node, "logging", {"level", "format", "logger_name"}, /*null_ok=*/true);
  if (!f.ok()) return f.status();
  if (absl::Status s = Enum(*f, "level", {"trace", "debug", "info", "warn", "error"}, &out->level); !s.ok())
    return s;
  if (absl::Status s = Enum(*f, "format", {"mozlog", "text"}, &out->format); !s.ok()) return s;
  if (f->Find("logger_name") != nullptr) {
    absl::StatusOr<std::optional<std::string>> name = Scalar(*f, "logger_name", Presence::kOptional);
    if (!name.ok()) return name.status();
    if ((*name)->empty() || (*name)->size() > kMaxLoggerNameBytes || !AllIdChars(**name)) {
      return Err(f->PathOf("logger_name"), "must be 1..", kMaxLoggerNameBytes,
                 " bytes of [A-Za-z0-9._-], got ", Shown(**name));
    }
    out->logger_name = **name;
  }
  return absl::OkStatus();
}

absl::StatusOr<Config> Parser::Run(absl::string_view yaml) const {
  if (yaml.size() > kMaxConfigBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(origin_, ": is larger than the ", kMaxConfigBytes, "-byte configuration bound"));
  }
  std::vector<YAML::Node> docs;
  try {
    docs = YAML::LoadAll(std::string(yaml));
  } catch (const YAML::Exception& e) {
    if (e.mark.is_null())
      return absl::InvalidArgumentError(absl::StrCat(origin_, ": YAML syntax error: ", e.msg));
    return absl::InvalidArgumentError(absl::StrCat(origin_, ": line ", e.mark.line + 1, ", column ",
                                                   e.mark.column + 1, ": YAML syntax error: ", e.msg));
  }
  if (docs.size() > 1) {
    return Err(kTopLevel, "expected one YAML document, got ", docs.size(), " (remove the extra '---')");
  }
  YAML::Node root = docs.empty() ? YAML::Node(YAML::NodeType::Undefined) : docs.front();
  if (!root.IsMap()) return Err(kTopLevel, "expected a mapping, got ", Kind(root));
  absl::StatusOr<Fields> top =
      Map(root, std::string(kTopLevel),
          {"server", "hsm", "batching", "limits", "signers", "authorization", "logging"}, /*null_ok=*/false);
  if (!top.ok()) return top.status();
  auto section = [&](absl::string_view key) {
    const YAML::Node* n = top->Find(key);
    return n ? *n : YAML::Node(YAML::NodeType::Undefined);
  };

  Config config;
  if (absl::Status s = ParseServer(section("server"), &config.server); !s.ok()) return s;
  if (absl::Status s = ParseHsm(section("hsm"), &config.hsm); !s.ok()) return s;
  if (absl::Status s = ParseBatching(section("batching"), &config.batching); !s.ok()) return s;
  if (absl::Status s = ParseLimits(section("limits"), &config.limits); !s.ok()) return s;
  if (absl::Status s = ParseSigners(section("signers"), config.limits, &config.signers); !s.ok()) return s;
  if (absl::Status s = ParseAuthorization(section("authorization"), config.signers, &config.authorization);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = ParseLogging(section("logging"), &config.logging); !s.ok()) return s;
  return config;
}

}  // namespace

absl::StatusOr<Config> Config::Parse(std::string_view yaml, std::string_view origin) {
  Parser parser(Av(origin));
  // yaml-cpp reports through exceptions; none may leave this function.
  try {
    return parser.Run(Av(yaml));
  } catch (const YAML::Exception& e) {
    return parser.Err(kTopLevel, "invalid YAML: ", e.what());
  } catch (const std::exception& e) {
    return parser.Err(kTopLevel, "could not parse: ", e.what());
  }
}

absl::StatusOr<Config> Config::Load(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFileBounded(path, kMaxConfigBytes);
  if (!text.ok()) return text.status();
  return Parse(*text, path);
}

}  // namespace signet::daemon
