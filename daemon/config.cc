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
#include "common/dns_name.h"
#include "common/files.h"
#include "common/hex.h"
#include "common/strict_yaml.h"
#include "yaml-cpp/yaml.h"

namespace signet::daemon {
namespace {

using yaml::AllIdChars;
using yaml::Echo;
using yaml::Fields;
using yaml::Index;
using yaml::Kind;
using yaml::kTopLevel;
using yaml::Presence;
using yaml::Shown;

// Bounds that config.h leaves to the loader.
constexpr size_t kMaxPathBytes = 4096;   // PATH_MAX
constexpr size_t kMaxTokenBytes = 1024;  // label, serial=... or a pkcs11: URI
constexpr size_t kMaxEnvNameBytes = 256;
constexpr size_t kMaxKeyLabelBytes = 128;
constexpr size_t kMaxX5uBytes = 2048;
constexpr size_t kMaxIdentityBytes = 1024;
constexpr size_t kMaxLoggerNameBytes = 64;
constexpr absl::string_view kHttpsPrefix = "https://";
constexpr size_t kMaxDnsNameBytes = 253;
// The keys only a contentsignaturepki signer takes.
constexpr absl::string_view kPkiSignerKeys[] = {"curve",
                                                "ee_name",
                                                "intermediate_key_label",
                                                "intermediate_cert_file",
                                                "root_cert_file",
                                                "root_sha256",
                                                "validity",
                                                "rotate_before",
                                                "clock_skew",
                                                "x5u_base_url",
                                                "publication_dir",
                                                "x5u_ca_file"};

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

class Parser : public yaml::StrictReader {
 public:
  explicit Parser(absl::string_view origin) : StrictReader(origin) {}

  absl::StatusOr<Config> Run(absl::string_view yaml) const;

 private:
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
  absl::Status ParsePkiSigner(const Fields& f, SignerConfig* signer) const;
  absl::Status ParseRotation(const YAML::Node& node, const std::vector<SignerConfig>& signers,
                             RotationConfig* out) const;
};

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
      Map(node, "server", {"listen", "http_listen", "tls", "drain_timeout", "ready_file", "x5u_dir"},
          /*null_ok=*/true);
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
  if (absl::Status s = OptionalString(*f, "x5u_dir", 1, kMaxPathBytes, &out->x5u_dir); !s.ok()) return s;
  return OptionalString(*f, "ready_file", 1, kMaxPathBytes, &out->ready_file);
}

absl::Status Parser::ParseHsm(const YAML::Node& node, HsmConfig* out) const {
  absl::StatusOr<Fields> f =
      Map(node, "hsm",
          {"module", "token", "pin_file", "pin_env", "health_timeout", "call_timeout", "verify_every"},
          /*null_ok=*/true);
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
  if (absl::Status s =
          Duration(*f, "health_timeout", absl::Milliseconds(1), absl::Seconds(60), &out->health_timeout);
      !s.ok()) {
    return s;
  }
  if (absl::Status s =
          Duration(*f, "call_timeout", absl::Milliseconds(10), absl::Minutes(10), &out->call_timeout);
      !s.ok()) {
    return s;
  }
  return Size(*f, "verify_every", 0, 1000000, &out->verify_every);
}

absl::Status Parser::ParseBatching(const YAML::Node& node, BatchingConfig* out) const {
  absl::StatusOr<Fields> f =
      Map(node, "batching", {"workers", "max_batch", "max_linger", "queue_size", "scheduling"}, true);
  if (!f.ok()) return f.status();
  if (absl::Status s = Size(*f, "workers", 0, 256, &out->workers); !s.ok()) return s;
  if (absl::Status s = Size(*f, "max_batch", 1, 4096, &out->max_batch); !s.ok()) return s;
  if (absl::Status s = Duration(*f, "max_linger", absl::ZeroDuration(), absl::Seconds(1), &out->max_linger);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = Enum(*f, "scheduling", {"hsm_first", "fair"}, &out->scheduling); !s.ok()) return s;
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
    absl::StatusOr<Fields> f =
        Map(node[i], path,
            {"id", "type", "key_label", "x5u", "curve", "ee_name", "intermediate_key_label",
             "intermediate_cert_file", "root_cert_file", "root_sha256", "validity", "rotate_before",
             "clock_skew", "x5u_base_url", "publication_dir", "x5u_ca_file", "hsm_concurrency"},
            /*null_ok=*/false);
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
    if (absl::Status s = Size(*f, "hsm_concurrency", 1, 256, &signer.hsm_concurrency); !s.ok()) return s;
    if (signer.type != "contentsignature" && signer.type != "contentsignaturepki") {
      return Err(f->PathOf("type"), "must be one of contentsignature, contentsignaturepki; got ",
                 Shown(signer.type));
    }
    if (signer.type == "contentsignaturepki") {
      if (absl::Status s = ParsePkiSigner(*f, &signer); !s.ok()) return s;
      out->push_back(std::move(signer));
      continue;
    }
    for (absl::string_view pki_key : kPkiSignerKeys) {
      if (f->Find(pki_key) != nullptr) {
        return Err(f->PathOf(pki_key), "only a contentsignaturepki signer takes this key; this one is ",
                   signer.type);
      }
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

absl::Status Parser::ParsePkiSigner(const Fields& f, SignerConfig* signer) const {
  for (absl::string_view plain_key : {"key_label", "x5u"}) {
    if (f.Find(plain_key) != nullptr) {
      return Err(f.PathOf(plain_key),
                 "not used by a contentsignaturepki signer: its keys come from rotation and its x5u URL from "
                 "x5u_base_url");
    }
  }
  PkiSignerConfig pki;
  std::string curve;
  if (absl::Status s = Enum(f, "curve", {"P-256", "P-384", "P-521"}, &curve); !s.ok()) return s;
  if (!curve.empty()) pki.curve = *EcCurveFromName(curve);
  if (absl::Status s = String(f, "ee_name", Presence::kRequired, 1, kMaxDnsNameBytes, &pki.ee_name);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = ValidateDnsName(pki.ee_name, "ee_name", /*allow_wildcard=*/false); !s.ok()) {
    return Err(f.PathOf("ee_name"), s.message());
  }
  if (absl::Status s = String(f, "intermediate_key_label", Presence::kRequired, 1, kMaxKeyLabelBytes,
                              &pki.intermediate_key_label);
      !s.ok()) {
    return s;
  }
  for (auto [key, out] : {std::pair{"intermediate_cert_file", &pki.intermediate_cert_file},
                          std::pair{"root_cert_file", &pki.root_cert_file},
                          std::pair{"publication_dir", &pki.publication_dir}}) {
    if (absl::Status s = String(f, key, Presence::kRequired, 1, kMaxPathBytes, out); !s.ok()) return s;
  }
  if (absl::Status s = OptionalString(f, "x5u_ca_file", 1, kMaxPathBytes, &pki.x5u_ca_file); !s.ok())
    return s;

  std::string pin;
  if (absl::Status s = String(f, "root_sha256", Presence::kRequired, 1, 128, &pin); !s.ok()) return s;
  absl::StatusOr<std::vector<uint8_t>> digest = HexDecode(pin, /*allow_colons=*/true);
  if (!digest.ok() || digest->size() != 32) {
    return Err(
        f.PathOf("root_sha256"),
        "must be the SHA-256 of the root certificate: 64 hex digits, colons allowed (as `signet ceremony` "
        "prints it), got ",
        Shown(pin));
  }
  pki.root_sha256 = *std::move(digest);

  if (absl::Status s = Duration(f, "validity", absl::Hours(1), absl::Hours(24 * 3650), &pki.validity);
      !s.ok()) {
    return s;
  }
  if (absl::Status s =
          Duration(f, "rotate_before", absl::Minutes(1), absl::Hours(24 * 3650), &pki.rotate_before);
      !s.ok()) {
    return s;
  }
  if (pki.rotate_before >= pki.validity) {
    return Err(f.PathOf("rotate_before"), "must be shorter than validity (",
               absl::FormatDuration(pki.validity), "), got ", absl::FormatDuration(pki.rotate_before));
  }
  if (absl::Status s = Duration(f, "clock_skew", absl::ZeroDuration(), absl::Hours(1), &pki.clock_skew);
      !s.ok()) {
    return s;
  }
  absl::StatusOr<std::optional<std::string>> base = Scalar(f, "x5u_base_url", Presence::kRequired);
  if (!base.ok()) return base.status();
  if (absl::Status s = CheckX5u(f.PathOf("x5u_base_url"), **base); !s.ok()) return s;
  if (!absl::EndsWith(**base, "/")) {
    return Err(f.PathOf("x5u_base_url"), "must end with '/' (chain file names are appended), got ",
               Shown(**base));
  }
  pki.x5u_base_url = **base;
  signer->pki = std::move(pki);
  return absl::OkStatus();
}

absl::Status Parser::ParseRotation(const YAML::Node& node, const std::vector<SignerConfig>& signers,
                                   RotationConfig* out) const {
  absl::StatusOr<Fields> f =
      Map(node, "rotation", {"mode", "check_interval", "reload_interval"}, /*null_ok=*/true);
  if (!f.ok()) return f.status();
  if (absl::Status s = Enum(*f, "mode", {"internal", "external"}, &out->mode); !s.ok()) return s;
  if (absl::Status s =
          Duration(*f, "check_interval", absl::Seconds(1), absl::Hours(24), &out->check_interval);
      !s.ok()) {
    return s;
  }
  if (absl::Status s =
          Duration(*f, "reload_interval", absl::Milliseconds(100), absl::Hours(1), &out->reload_interval);
      !s.ok()) {
    return s;
  }
  for (size_t i = 0; i < signers.size(); ++i) {
    if (out->mode == "internal" && signers[i].pki && out->check_interval >= signers[i].pki->rotate_before) {
      return Err("rotation.check_interval", "must be shorter than signers[", i, "].rotate_before (",
                 absl::FormatDuration(signers[i].pki->rotate_before), ") or a rotation could be missed");
    }
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
  absl::StatusOr<YAML::Node> root_or = LoadDocument(yaml, kMaxConfigBytes, "configuration");
  if (!root_or.ok()) return root_or.status();
  const YAML::Node& root = *root_or;
  if (!root.IsMap()) return Err(kTopLevel, "expected a mapping, got ", Kind(root));
  absl::StatusOr<Fields> top =
      Map(root, std::string(kTopLevel),
          {"server", "hsm", "batching", "limits", "signers", "authorization", "rotation", "logging"},
          /*null_ok=*/false);
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
  if (absl::Status s = ParseRotation(section("rotation"), config.signers, &config.rotation); !s.ok())
    return s;
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
    return parser.Err(kTopLevel, "invalid YAML: ", yaml::Escaped(e.what()));
  } catch (const std::exception& e) {
    return parser.Err(kTopLevel, "could not parse: ", yaml::Escaped(e.what()));
  }
}

absl::StatusOr<Config> Config::Load(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFileBounded(path, kMaxConfigBytes);
  if (!text.ok()) return text.status();
  return Parse(*text, path);
}

}  // namespace signet::daemon
