#include "keymgmt/cli_args.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace signet::keymgmt {

absl::StatusOr<CliArgs> CliArgs::Parse(const std::vector<std::string>& args, const FlagSpec& spec) {
  CliArgs out;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.size() > kMaxArgBytes) {
      return absl::InvalidArgumentError(absl::StrCat("argument ", i + 1, " is longer than ", kMaxArgBytes, " bytes"));
    }
    if (a == "--pin" || a.starts_with("--pin=") || a == "--so-pin" || a.starts_with("--so-pin=")) {
      return absl::InvalidArgumentError(
          "PINs are never given on the command line (they would show in ps and shell history); "
          "use --pin-file PATH (mode 0600) or --pin-env NAME");
    }
    if (!a.starts_with("--") || a == "--") {
      out.positionals_.push_back(a);
      continue;
    }
    std::string name = a.substr(2);
    std::optional<std::string> value;
    if (size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    if (out.values_.count(name) > 0) return absl::InvalidArgumentError(absl::StrCat("--", name, " given twice"));
    if (spec.boolean.count(name) > 0) {
      if (value.has_value()) return absl::InvalidArgumentError(absl::StrCat("--", name, " takes no value"));
      out.values_[name] = "true";
      continue;
    }
    if (spec.valued.count(name) == 0) return absl::InvalidArgumentError(absl::StrCat("unknown flag --", name));
    if (!value.has_value()) {
      if (i + 1 >= args.size()) return absl::InvalidArgumentError(absl::StrCat("--", name, " needs a value"));
      value = args[++i];
      if (value->size() > kMaxArgBytes) {
        return absl::InvalidArgumentError(absl::StrCat("--", name, ": value longer than ", kMaxArgBytes, " bytes"));
      }
    }
    out.values_[name] = *value;
  }
  return out;
}

std::optional<std::string> CliArgs::Get(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

absl::StatusOr<std::string> CliArgs::Require(const std::string& name) const {
  auto v = Get(name);
  if (!v.has_value() || v->empty()) return absl::InvalidArgumentError(absl::StrCat("--", name, " is required"));
  return *v;
}

}  // namespace signet::keymgmt
