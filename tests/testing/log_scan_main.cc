// signet_log_scan: the suite-wide check that no PIN and no private-key byte reaches a log.
//   signet_log_scan reset DIR                 (ctest fixture setup) empties DIR, starts a run
//   signet_log_scan scan DIR CTEST_TEMP_DIR   (ctest fixture cleanup, after every other test)
//   signet_log_scan register-file FILE LABEL  registers a PIN file's content (shell tests)
//   signet_log_scan register-key FILE LABEL   registers a PEM private key (shell tests)
// DIR is $SIGNET_TEST_EVIDENCE_DIR (test_evidence.h). `scan` first proves it can find a planted PIN
// and a planted key, then scans ctest's log of this run (Testing/Temporary/LastTest.log.tmp while
// ctest runs) and every captured log under DIR/logs for every registered secret, and exits 1 naming
// the file, line and secret label (never the secret) of each finding.
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/files.h"
#include "common/hex.h"
#include "common/openssl_ptr.h"
#include "tests/testing/test_evidence.h"
#include "tests/testing/test_pins.h"

namespace signet::testing {
namespace {

namespace fs = std::filesystem;

constexpr size_t kMaxLogBytes = 512u * 1024 * 1024;

int Usage() {
  std::cerr << "usage: signet_log_scan reset DIR | scan DIR CTEST_TEMP_DIR | register-file FILE LABEL | "
               "register-key FILE LABEL\n";
  return 64;
}

// The scanner must find a PIN planted mid-line, and a private key dumped as PEM or hex, and must not
// flag the key's public half, which certificates and logs may show.
bool SelfCheck() {
  auto builtins = LoadSecrets("/nonexistent");
  if (!builtins.ok()) return false;
  EvpPkeyPtr key(EVP_EC_gen("P-256"));
  if (!key) return false;
  std::vector<Secret> secrets = *builtins;
  for (const std::string& form : PrivateKeyForms(key.get())) secrets.push_back({"self-check key", form});
  const SecretScanner scanner(secrets);

  const std::string planted = absl::StrCat("line one\n{\"error\":\"C_Login failed for pin ", kTestUserPin, "\"}\n");
  const auto pin = scanner.Scan(planted);
  if (pin.size() != 1 || pin[0].line != 2 || pin[0].label.find("kTestUserPin") == std::string::npos) return false;

  BioPtr priv(BIO_new(BIO_s_mem())), pub(BIO_new(BIO_s_mem()));
  if (PEM_write_bio_PrivateKey(priv.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1 ||
      PEM_write_bio_PUBKEY(pub.get(), key.get()) != 1) {
    return false;
  }
  char* data = nullptr;
  const long n = BIO_get_mem_data(priv.get(), &data);
  if (scanner.Scan(std::string_view(data, static_cast<size_t>(n))).empty()) return false;
  const long m = BIO_get_mem_data(pub.get(), &data);
  return scanner.Scan(std::string_view(data, static_cast<size_t>(m))).empty();
}

int Reset(const std::string& dir) {
  std::error_code ec;
  fs::remove_all(fs::path(dir) / "secrets", ec);
  fs::remove_all(fs::path(dir) / "logs", ec);
  fs::create_directories(dir, ec);
  unsigned char id[8];
  if (RAND_bytes(id, sizeof(id)) != 1) return 1;
  const std::string run = HexEncode(id);
  fs::remove(fs::path(dir) / "run-id", ec);
  if (auto s = WriteNewFile((fs::path(dir) / "run-id").string(), run, 0600); !s.ok()) {
    std::cerr << "signet_log_scan: " << s.message() << "\n";
    return 1;
  }
  // This line lands in ctest's log of this run; `scan` looks for it to know the log is current.
  std::cout << "signet_log_scan: run " << run << " starts; evidence in " << dir << "\n";
  return 0;
}

int Scan(const std::string& dir, const std::string& ctest_dir) {
  if (!SelfCheck()) {
    std::cerr << "signet_log_scan: SELF-CHECK FAILED: the scanner misses a planted PIN or key, or flags a public key\n";
    return 2;
  }
  std::cout << "signet_log_scan: self-check passed (a planted PIN and a planted private key are found, a public "
               "key is not)\n";
  auto run = ReadFileBounded((fs::path(dir) / "run-id").string(), 64);
  if (!run.ok()) {
    std::cerr << "signet_log_scan: no run id in " << dir << " (the fixture setup log_scan_reset did not run)\n";
    return 1;
  }
  // While ctest runs, its log is LastTest.log.tmp; LastTest.log is the previous run's.
  std::string ctest_log = (fs::path(ctest_dir) / "LastTest.log.tmp").string();
  if (!fs::exists(ctest_log)) ctest_log = (fs::path(ctest_dir) / "LastTest.log").string();
  auto log_text = ReadFileBounded(ctest_log, kMaxLogBytes);
  if (!log_text.ok()) {
    std::cerr << "signet_log_scan: cannot read ctest's log: " << log_text.status().message() << "\n";
    return 1;
  }
  if (log_text->find(absl::StrCat("signet_log_scan: run ", *run, " starts")) == std::string::npos) {
    std::cerr << "signet_log_scan: " << ctest_log << " is not this run's log (run " << *run << " not in it)\n";
    return 1;
  }

  auto secrets = LoadSecrets(dir);
  if (!secrets.ok()) {
    std::cerr << "signet_log_scan: " << secrets.status().message() << "\n";
    return 1;
  }
  const SecretScanner scanner(*std::move(secrets));
  std::vector<std::pair<std::string, std::string>> files = {{ctest_log, *std::move(log_text)}};
  std::error_code ec;
  if (fs::exists(fs::path(dir) / "logs", ec)) {
    for (const auto& entry : fs::directory_iterator(fs::path(dir) / "logs", ec)) {
      auto text = ReadFileBounded(entry.path().string(), kMaxLogBytes);
      if (!text.ok()) {
        std::cerr << "signet_log_scan: " << text.status().message() << "\n";
        return 1;
      }
      files.emplace_back(entry.path().string(), *std::move(text));
    }
  }
  size_t bytes = 0, found = 0;
  for (const auto& [path, text] : files) {
    bytes += text.size();
    for (const Finding& f : scanner.Scan(text)) {
      std::cout << "FOUND: " << path << ":" << f.line << ": contains a secret: " << f.label << "\n";
      ++found;
    }
  }
  std::cout << absl::StrFormat(
      "signet_log_scan: scanned ctest's log and %d captured logs (%.1f MB) for %d secrets (the test PINs, and "
      "the PINs and TLS private keys the tests registered): %s\n",
      files.size() - 1, static_cast<double>(bytes) / 1e6, scanner.size(),
      found == 0 ? "none found" : absl::StrCat(found, " FOUND"));
  return found == 0 ? 0 : 1;
}

int RegisterFile(const std::string& path, const std::string& label) {
  auto text = ReadFileBounded(path, 4096);
  if (!text.ok()) {
    std::cerr << "signet_log_scan: " << text.status().message() << "\n";
    return 1;
  }
  std::string secret = *std::move(text);
  if (secret.ends_with("\n")) secret.pop_back();
  if (secret.ends_with("\r")) secret.pop_back();
  if (secret.size() < kMinSecretBytes) {
    std::cerr << "signet_log_scan: " << path << ": shorter than " << kMinSecretBytes << " bytes\n";
    return 1;
  }
  RegisterSecret(label, secret);
  return 0;
}

int RegisterKey(const std::string& path, const std::string& label) {
  BioPtr bio(BIO_new_file(path.c_str(), "r"));
  EvpPkeyPtr key(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!key) {
    std::cerr << "signet_log_scan: " << path << ": no PEM private key\n";
    return 1;
  }
  RegisterPrivateKey(label, key.get());
  return 0;
}

}  // namespace
}  // namespace signet::testing

int main(int argc, char** argv) {
  using namespace signet::testing;
  const std::vector<std::string> a(argv + 1, argv + argc);
  if (a.size() == 2 && a[0] == "reset") return Reset(a[1]);
  if (a.size() == 3 && a[0] == "scan") return Scan(a[1], a[2]);
  if (a.size() == 3 && a[0] == "register-file") return RegisterFile(a[1], a[2]);
  if (a.size() == 3 && a[0] == "register-key") return RegisterKey(a[1], a[2]);
  return Usage();
}
