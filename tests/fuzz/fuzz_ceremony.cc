// keymgmt/ceremony.h ParseCeremonyScript: the YAML an officer reviews before a key ceremony. A refusal
// names the script and the YAML path; an accepted script has what RunCeremony relies on.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/strict_yaml.h"
#include "keymgmt/ceremony.h"
#include "tests/fuzz/fuzz_check.h"

using signet::fuzz::CheckRefusal;
using signet::fuzz::Require;
using signet::keymgmt::CeremonyType;

namespace {

bool Label(const std::string& s) {
  return !s.empty() && s.size() <= signet::keymgmt::kMaxCeremonyLabelBytes && s.front() != '.' &&
         signet::yaml::AllIdChars(s);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<signet::keymgmt::CeremonyScript> script =
      signet::keymgmt::ParseCeremonyScript(text, "fuzz.yaml", "/ceremony");
  signet::fuzz::Note("ceremony", script.status());
  if (!script.ok()) {
    CheckRefusal(script.status(), {"fuzz.yaml: "});
    return 0;
  }
  const signet::keymgmt::CeremonyScript& s = *script;
  Require(Label(s.name), "ceremony name must be a file-safe label", s.name);
  Require(Label(s.key.label), "key label must be a file-safe label", s.key.label);
  Require(!s.output_dir.empty() && s.output_dir.front() == '/', "output_dir resolved", s.output_dir);
  Require(!s.token.token.empty() && !s.token.module.empty(), "token and module");
  Require(s.script_sha256.size() == 64, "script SHA-256");
  if (s.type == CeremonyType::kKey) {
    Require(s.certificate.subject.common_name.empty(), "a key ceremony has no certificate");
  } else {
    Require(!s.certificate.subject.common_name.empty(), "a certificate needs a common name");
    Require(s.certificate.validity >= absl::Hours(1), "validity lower bound");
  }
  if (s.type == CeremonyType::kIntermediate) {
    Require(Label(s.root_key_label), "root key label", s.root_key_label);
    Require(!s.root_certificate.empty() && !s.certificate.permitted_dns_subtree.empty(),
            "intermediate fields");
  } else {
    Require(s.root_certificate.empty() && s.certificate.permitted_dns_subtree.empty(), "root-only fields");
  }
  return 0;
}
