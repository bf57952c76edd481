// signetd's config: YAML text -> validated Config (daemon/config.h). A refusal names the file and the
// YAML path; an accepted config satisfies the invariants the daemon relies on without re-checking.
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "common/strict_yaml.h"
#include "daemon/config.h"
#include "tests/fuzz/fuzz_check.h"

using signet::fuzz::CheckRefusal;
using signet::fuzz::Require;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<signet::daemon::Config> config = signet::daemon::Config::Parse(text, "fuzz.yaml");
  signet::fuzz::Note("config", config.status());
  if (!config.ok()) {
    CheckRefusal(config.status(), {"fuzz.yaml: "});
    return 0;
  }
  const signet::daemon::Config& c = *config;
  Require(!c.signers.empty(), "accepted a config without signers");
  Require(c.limits.max_signer_id_bytes >= 1 && c.limits.max_signer_id_bytes <= 1024, "max_signer_id_bytes");
  Require(c.batching.max_batch >= 1 && c.batching.queue_size >= 1, "batching bounds");
  Require(c.hsm.pin_file.has_value() != c.hsm.pin_env.has_value(), "exactly one PIN source");
  std::set<std::string> ids;
  for (const auto& s : c.signers) {
    Require(!s.id.empty() && s.id.size() <= c.limits.max_signer_id_bytes && signet::yaml::AllIdChars(s.id),
            "signer id", s.id);
    Require(ids.insert(s.id).second, "duplicate signer id accepted", s.id);
    Require(s.type == "contentsignature" || s.type == "contentsignaturepki", "signer type", s.type);
    Require((s.type == "contentsignaturepki") == s.pki.has_value(), "pki settings iff contentsignaturepki");
    for (const std::string* url : {&s.x5u, s.pki ? &s.pki->x5u_base_url : &s.x5u}) {
      Require(url->find(';') == std::string::npos && signet::fuzz::PrintableAscii(*url) &&
                  url->find(' ') == std::string::npos,
              "x5u must be safe in a Content-Signature header", *url);
    }
    if (s.pki) {
      Require(s.pki->root_sha256.size() == 32, "root_sha256 is 32 bytes");
      Require(s.pki->rotate_before < s.pki->validity, "rotate_before < validity");
    }
  }
  std::set<std::string> identities;
  for (const auto& rule : c.authorization) {
    Require(identities.insert(rule.identity).second, "duplicate identity accepted", rule.identity);
    Require(!rule.signers.empty(), "authorization rule without signers");
    for (const auto& id : rule.signers)
      Require(ids.count(id) == 1, "authorization names an unknown signer", id);
  }
  return 0;
}
