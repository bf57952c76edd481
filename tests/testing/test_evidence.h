// Evidence for the suite-wide log scan (the ctest test no_secrets_in_logs, which runs after every
// other test): tests register the secrets they use (token PINs, TLS private keys) and keep the logs
// they capture from child processes (signetd's mozlog stderr, CLI output), under
// $SIGNET_TEST_EVIDENCE_DIR, which ctest sets for every test. Without that variable (a test binary
// run by hand) registering and keeping are no-ops.
//
// Layout: <dir>/secrets/<pid>.txt  one "<hex of the secret>\t<label>" line per secret (the secret
//                                  itself is never written in clear, so the registry cannot match)
//         <dir>/logs/<pid>-<n>-<label>.log   captured output, verbatim
#ifndef SIGNET_TESTS_TESTING_TEST_EVIDENCE_H_
#define SIGNET_TESTS_TESTING_TEST_EVIDENCE_H_

#include <openssl/evp.h>

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"

namespace signet::testing {

inline constexpr char kEvidenceDirEnv[] = "SIGNET_TEST_EVIDENCE_DIR";
// Shorter strings are refused as secrets: they would match by chance.
inline constexpr size_t kMinSecretBytes = 8;

// Registers `secret` (at least kMinSecretBytes) under `label` ("signet_cli_test user PIN").
void RegisterSecret(std::string_view label, std::string_view secret);

// The forms in which a private key's bytes would show up in a log: each base64 line of its PKCS#8 PEM
// that carries private bytes (lines holding only public data, which certificates share, are left
// out), and each private number (EC scalar; RSA d, p, q, dP, dQ, qInv) in hex, upper and lower case.
std::vector<std::string> PrivateKeyForms(const EVP_PKEY* key);
// Registers PrivateKeyForms(key) under `label`.
void RegisterPrivateKey(std::string_view label, const EVP_PKEY* key);

// Keeps `text` (a child's captured output) for the scan.
void KeepLog(std::string_view label, std::string_view text);

struct Secret {
  std::string label;
  std::string value;
};
// Every registered secret under `evidence_dir` (deduplicated), plus kTestUserPin and kTestSoPin.
absl::StatusOr<std::vector<Secret>> LoadSecrets(const std::string& evidence_dir);

struct Finding {
  std::string label;  // of the secret; never the secret
  size_t line = 0;    // 1-based
};
// Every line of `text` that contains a secret (one finding per secret and line).
class SecretScanner {
 public:
  explicit SecretScanner(std::vector<Secret> secrets);
  std::vector<Finding> Scan(std::string_view text) const;
  size_t size() const { return secrets_.size(); }

 private:
  std::vector<Secret> secrets_;
  // Secrets by their first kMinSecretBytes bytes: one hash lookup per position of the text.
  std::unordered_multimap<std::string_view, size_t> by_prefix_;
};

}  // namespace signet::testing

#endif  // SIGNET_TESTS_TESTING_TEST_EVIDENCE_H_
