// Scripted key ceremonies (`signet ceremony run FILE.yaml`): bring up the offline root, the online
// intermediate, or a plain signing key, from a reviewed YAML script. A ceremony
//  - checks everything it can before touching an HSM: the script (strict: unknown keys are errors),
//    that no output file exists, that the key label is unused;
//  - gets each token's PIN from officers' shares (two-person rule; see pin_shares.h), never a file;
//  - generates keys inside the HSM (sensitive, non-extractable), issues and verifies certificates;
//  - writes its outputs without overwriting anything, and a transcript of every step (time, token,
//    key label and id, certificate fingerprints, SHA-256 of every output file) that it prints and
//    saves next to the outputs. A failed ceremony saves its transcript too, under another name.
#ifndef SIGNET_KEYMGMT_CEREMONY_H_
#define SIGNET_KEYMGMT_CEREMONY_H_

#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/ec_curve.h"
#include "common/secret.h"
#include "keymgmt/issuance.h"

namespace signet::keymgmt {

inline constexpr size_t kMaxCeremonyScriptBytes = 64 * 1024;
inline constexpr size_t kMaxCeremonyLabelBytes = 64;

enum class CeremonyType { kRoot, kIntermediate, kKey };

struct CeremonyToken {
  std::string module;  // PKCS#11 module path
  std::string token;   // label, serial=..., or pkcs11: URI
};

struct CeremonyKey {
  std::string label;  // [A-Za-z0-9._-], 1..64 bytes; also names the output files
  EcCurve curve = EcCurve::kP384;
};

struct CeremonyCertificate {
  DistinguishedName subject;
  std::optional<absl::Time> not_before;  // default: the ceremony's start
  absl::Duration validity;
  std::string permitted_dns_subtree;  // intermediate only
};

struct CeremonyScript {
  CeremonyType type = CeremonyType::kKey;
  std::string name;        // [A-Za-z0-9._-]; names the transcript
  std::string output_dir;  // resolved against the script's directory
  CeremonyToken token;     // where this ceremony's key is generated
  CeremonyKey key;
  CeremonyCertificate certificate;  // root and intermediate
  // Intermediate only: the offline root that issues it.
  CeremonyToken root_token;
  std::string root_key_label;
  std::string root_certificate;  // PEM file from the root ceremony, resolved against the script's directory
  std::string script_sha256;     // hex, of the script text
};

// Parses a ceremony script. `origin` prefixes messages; relative paths resolve against `base_dir`.
absl::StatusOr<CeremonyScript> ParseCeremonyScript(std::string_view yaml, std::string_view origin,
                                                   const std::string& base_dir);

// Asks the officers of one token for its PIN; `what` says which token ("offline token 'x'").
using PinPrompt = std::function<absl::StatusOr<SecretBuffer>(const std::string& what)>;

struct CeremonyOptions {
  PinPrompt pin_prompt;
  std::function<absl::Time()> now = [] { return absl::Now(); };
  std::ostream* out = nullptr;  // transcript lines as they happen; may be null
};

struct CeremonyResult {
  std::vector<std::string> outputs;  // paths written, the transcript last
  std::string transcript;
  std::string key_id_hex;
  std::string certificate_sha256;  // colon form; empty for a plain key
};

absl::StatusOr<CeremonyResult> RunCeremony(const CeremonyScript& script, const CeremonyOptions& options);

// The file names a ceremony writes (without the directory), for documentation and preflight.
std::vector<std::string> CeremonyOutputNames(const CeremonyScript& script);

}  // namespace signet::keymgmt

#endif  // SIGNET_KEYMGMT_CEREMONY_H_
