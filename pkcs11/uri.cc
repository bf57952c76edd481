#include "pkcs11/uri.h"

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/absl_compat.h"
#include "common/hex.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace signet::pkcs11 {
namespace {

// A name or value from the URI as messages show it: quoted, C-escaped (a %-escape can decode to any
// byte, and none may reach a log line raw), at most 64 bytes of it.
std::string Quoted(std::string_view s) {
  constexpr size_t kMaxShown = 64;
  std::string out = absl::StrCat("'", absl::CHexEscape(Av(s.substr(0, kMaxShown))), "'");
  if (s.size() > kMaxShown) absl::StrAppend(&out, "...");
  return out;
}

absl::StatusOr<std::string> PercentDecode(std::string_view name, std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (size_t i = 0; i < value.size(); ++i) {
    if (value[i] != '%') {
      out.push_back(value[i]);
      continue;
    }
    if (i + 2 >= value.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("pkcs11 URI attribute ", Quoted(name), ": truncated %-escape"));
    }
    int hi = HexDigitValue(value[i + 1]);
    int lo = HexDigitValue(value[i + 2]);
    if (hi < 0 || lo < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("pkcs11 URI attribute ", Quoted(name), ": bad %-escape"));
    }
    out.push_back(static_cast<char>(hi << 4 | lo));
    i += 2;
  }
  return out;
}

absl::Status SetOnce(std::optional<std::string>& field, std::string_view name, std::string value) {
  if (field.has_value()) {
    return absl::InvalidArgumentError(absl::StrCat("pkcs11 URI attribute ", Quoted(name), " given twice"));
  }
  field = std::move(value);
  return absl::OkStatus();
}

absl::Status ApplyPathAttribute(TokenSelector& sel, std::string_view name, std::string value) {
  if (name == "token") return SetOnce(sel.token, name, std::move(value));
  if (name == "serial") return SetOnce(sel.serial, name, std::move(value));
  if (name == "manufacturer") return SetOnce(sel.manufacturer, name, std::move(value));
  if (name == "model") return SetOnce(sel.model, name, std::move(value));
  if (name == "object") return SetOnce(sel.object, name, std::move(value));
  if (name == "type") {
    if (value != "private" && value != "public" && value != "cert" && value != "secret-key" && value != "data") {
      return absl::InvalidArgumentError(
          absl::StrCat("pkcs11 URI attribute 'type': unknown type ", Quoted(value)));
    }
    return SetOnce(sel.type, name, std::move(value));
  }
  if (name == "id") {
    if (sel.id.has_value()) return absl::InvalidArgumentError("pkcs11 URI attribute 'id' given twice");
    sel.id = std::vector<uint8_t>(value.begin(), value.end());
    return absl::OkStatus();
  }
  if (name == "slot-id") {
    unsigned long slot = 0;
    if (!absl::SimpleAtoi(value, &slot)) {
      return absl::InvalidArgumentError(
          absl::StrCat("pkcs11 URI attribute 'slot-id': ", Quoted(value), " is not a number"));
    }
    if (sel.slot_id.has_value()) return absl::InvalidArgumentError("pkcs11 URI attribute 'slot-id' given twice");
    sel.slot_id = slot;
    return absl::OkStatus();
  }
  // Library and slot descriptions are accepted by RFC 7512 but do not narrow our search.
  if (name == "library-manufacturer" || name == "library-description" || name == "library-version" ||
      name == "slot-description" || name == "slot-manufacturer") {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat("pkcs11 URI: unknown path attribute ", Quoted(name)));
}

absl::Status ApplyQueryAttribute(TokenSelector& sel, std::string_view name, std::string value) {
  if (name == "pin-value") {
    return absl::InvalidArgumentError(
        "pkcs11 URI: pin-value is refused; a PIN never travels in a URI. Use pin-source=file:PATH or env:NAME");
  }
  if (name == "pin-source") return SetOnce(sel.pin_source, name, std::move(value));
  if (name == "module-path") return SetOnce(sel.module_path, name, std::move(value));
  if (name == "module-name") return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("pkcs11 URI: unknown query attribute ", Quoted(name)));
}

absl::Status ParseAttributes(TokenSelector& sel, std::string_view part, char sep, bool query) {
  if (part.empty()) return absl::OkStatus();
  for (absl::string_view a : absl::StrSplit(Av(part), sep)) {
    std::string_view attr = Sv(a);
    if (attr.empty()) continue;
    size_t eq = attr.find('=');
    if (eq == std::string_view::npos || eq == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("pkcs11 URI: attribute ", Quoted(attr), " is not name=value"));
    }
    std::string_view name = attr.substr(0, eq);
    auto value = PercentDecode(name, attr.substr(eq + 1));
    if (!value.ok()) return value.status();
    absl::Status s = query ? ApplyQueryAttribute(sel, name, *std::move(value))
                           : ApplyPathAttribute(sel, name, *std::move(value));
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace

bool TokenSelector::Matches(const TokenInfo& info) const {
  if (token && *token != info.label) return false;
  if (serial && *serial != info.serial) return false;
  if (manufacturer && *manufacturer != info.manufacturer) return false;
  if (model && *model != info.model) return false;
  if (slot_id && *slot_id != info.slot) return false;
  return true;
}

std::string TokenSelector::Describe() const {
  std::vector<std::string> parts;
  if (token) parts.push_back(absl::StrCat("token=", *token));
  if (serial) parts.push_back(absl::StrCat("serial=", *serial));
  if (manufacturer) parts.push_back(absl::StrCat("manufacturer=", *manufacturer));
  if (model) parts.push_back(absl::StrCat("model=", *model));
  if (slot_id) parts.push_back(absl::StrCat("slot-id=", *slot_id));
  if (parts.empty()) return "any token";
  return absl::StrJoin(parts, ";");
}

absl::StatusOr<TokenSelector> ParseTokenSelector(std::string_view text) {
  if (text.empty()) return absl::InvalidArgumentError("token selector is empty");
  if (text.size() > kMaxUriBytes) {
    return absl::InvalidArgumentError(absl::StrCat("token selector longer than ", kMaxUriBytes, " bytes"));
  }
  TokenSelector sel;
  if (text.starts_with("pkcs11:")) {
    std::string_view rest = text.substr(7);
    size_t q = rest.find('?');
    std::string_view path = rest.substr(0, q);
    std::string_view query = q == std::string_view::npos ? std::string_view() : rest.substr(q + 1);
    if (auto s = ParseAttributes(sel, path, ';', false); !s.ok()) return s;
    if (auto s = ParseAttributes(sel, query, '&', true); !s.ok()) return s;
    return sel;
  }
  if (text.starts_with("serial=")) {
    sel.serial = std::string(text.substr(7));
  } else if (text.starts_with("label=")) {
    sel.token = std::string(text.substr(6));
  } else {
    sel.token = std::string(text);
  }
  if ((sel.serial && sel.serial->empty()) || (sel.token && sel.token->empty())) {
    return absl::InvalidArgumentError("token selector: empty label or serial");
  }
  if (sel.token && sel.token->size() > 32) {
    return absl::InvalidArgumentError(
        absl::StrCat("token label ", Quoted(*sel.token), " is longer than 32 bytes"));
  }
  return sel;
}

absl::StatusOr<TokenInfo> SelectToken(const std::vector<TokenInfo>& tokens, const TokenSelector& selector) {
  std::vector<const TokenInfo*> matches;
  std::vector<std::string> present;
  for (const auto& t : tokens) {
    if (!t.initialized()) continue;
    present.push_back(absl::StrCat("'", t.label, "' (serial ", t.serial, ")"));
    if (selector.Matches(t)) matches.push_back(&t);
  }
  std::string listing = present.empty() ? "no initialized tokens" : absl::StrJoin(present, ", ");
  if (matches.empty()) {
    return absl::NotFoundError(absl::StrCat("no token matches ", selector.Describe(), "; present: ", listing));
  }
  if (matches.size() > 1) {
    return absl::FailedPreconditionError(
        absl::StrCat(selector.Describe(), " matches ", matches.size(), " tokens (", listing,
                     "); add serial= to choose one"));
  }
  return *matches.front();
}

}  // namespace signet::pkcs11
