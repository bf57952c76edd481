#include "tests/testing/test_evidence.h"

#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/pem.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/hex.h"
#include "common/openssl_ptr.h"
#include "tests/testing/test_pins.h"

namespace signet::testing {
namespace {

std::string EvidenceDir() {
  const char* dir = std::getenv(kEvidenceDirEnv);
  return dir != nullptr ? dir : "";
}

// Appends `text` to `path` in one write (O_APPEND: concurrent test processes never interleave a line).
void Append(const std::string& path, const std::string& text) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return;
  (void)!::write(fd, text.data(), text.size());
  ::close(fd);
}

std::string Subdir(const std::string& root, const char* name) {
  const std::string dir = absl::StrCat(root, "/", name);
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  return dir;
}

std::string SafeLabel(std::string_view label) {
  std::string out;
  for (char c : label.substr(0, 60)) out += (absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.') ? c : '_';
  return out;
}

std::string Bin(const BIGNUM* bn) {
  std::string out(static_cast<size_t>(BN_num_bytes(bn)), '\0');
  BN_bn2bin(bn, reinterpret_cast<unsigned char*>(out.data()));
  return out;
}

}  // namespace

void RegisterSecret(std::string_view label, std::string_view secret) {
  const std::string root = EvidenceDir();
  if (root.empty() || secret.size() < kMinSecretBytes) return;
  const std::string hex = HexEncode({reinterpret_cast<const uint8_t*>(secret.data()), secret.size()});
  std::string clean_label(label);
  std::replace_if(clean_label.begin(), clean_label.end(), [](char c) { return c == '\t' || c == '\n'; }, ' ');
  Append(absl::StrCat(Subdir(root, "secrets"), "/", ::getpid(), ".txt"), absl::StrCat(hex, "\t", clean_label, "\n"));
}

std::vector<std::string> PrivateKeyForms(const EVP_PKEY* key) {
  std::vector<std::string> forms;
  std::vector<std::string> numbers;  // big-endian bytes of each private number
  for (const char* name : {OSSL_PKEY_PARAM_PRIV_KEY, OSSL_PKEY_PARAM_RSA_D, OSSL_PKEY_PARAM_RSA_FACTOR1,
                           OSSL_PKEY_PARAM_RSA_FACTOR2, OSSL_PKEY_PARAM_RSA_EXPONENT1, OSSL_PKEY_PARAM_RSA_EXPONENT2,
                           OSSL_PKEY_PARAM_RSA_COEFFICIENT1}) {
    BIGNUM* raw = nullptr;
    if (EVP_PKEY_get_bn_param(key, name, &raw) != 1 || raw == nullptr) continue;
    BignumPtr bn(raw);
    if (BN_num_bytes(bn.get()) < static_cast<int>(kMinSecretBytes)) continue;
    numbers.push_back(Bin(bn.get()));
    if (char* hex = BN_bn2hex(bn.get())) {
      forms.emplace_back(hex);
      forms.push_back(absl::AsciiStrToLower(hex));
      OPENSSL_free(hex);
    }
  }
  // PKCS#8 PEM, as keymgmt::PrivateKeyPem writes it: the lines whose 48 bytes overlap a private number.
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio && PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) == 1) {
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio.get(), &data);
    std::vector<std::string> lines;
    std::string_view pem(data, static_cast<size_t>(n));
    while (!pem.empty()) {
      const size_t end = std::min(pem.find('\n'), pem.size());
      const std::string_view line = pem.substr(0, end);
      if (!line.empty() && !line.starts_with("-----")) lines.emplace_back(line);
      pem.remove_prefix(std::min(end + 1, pem.size()));
    }
    std::string der;
    std::vector<std::pair<size_t, size_t>> spans;  // DER bytes each line decodes to
    for (const std::string& line : lines) {
      std::string out(line.size() / 4 * 3 + 3, '\0');
      const int got = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                      reinterpret_cast<const unsigned char*>(line.data()), static_cast<int>(line.size()));
      if (got < 0) return forms;
      size_t len = static_cast<size_t>(got);
      len -= static_cast<size_t>(std::count(line.begin(), line.end(), '='));
      spans.emplace_back(der.size(), der.size() + len);
      der.append(out.data(), len);
    }
    for (const std::string& number : numbers) {
      const size_t at = der.find(number);
      if (at == std::string::npos) continue;
      for (size_t i = 0; i < lines.size(); ++i) {
        const bool overlaps = spans[i].first < at + number.size() && at < spans[i].second;
        if (overlaps && lines[i].size() >= 2 * kMinSecretBytes) forms.push_back(lines[i]);
      }
    }
  }
  std::sort(forms.begin(), forms.end());
  forms.erase(std::unique(forms.begin(), forms.end()), forms.end());
  return forms;
}

void RegisterPrivateKey(std::string_view label, const EVP_PKEY* key) {
  if (EvidenceDir().empty() || key == nullptr) return;
  for (const std::string& form : PrivateKeyForms(key)) RegisterSecret(label, form);
}

void KeepLog(std::string_view label, std::string_view text) {
  const std::string root = EvidenceDir();
  if (root.empty()) return;
  static std::atomic<int> counter{0};
  Append(absl::StrCat(Subdir(root, "logs"), "/", ::getpid(), "-", ++counter, "-", SafeLabel(label), ".log"),
         std::string(text));
}

absl::StatusOr<std::vector<Secret>> LoadSecrets(const std::string& evidence_dir) {
  std::vector<Secret> out = {{"kTestUserPin (tests/testing/test_pins.h)", kTestUserPin},
                             {"kTestSoPin (tests/testing/test_pins.h)", kTestSoPin}};
  std::set<std::string> seen = {kTestUserPin, kTestSoPin};
  const std::filesystem::path dir = std::filesystem::path(evidence_dir) / "secrets";
  std::error_code ec;
  if (!std::filesystem::exists(dir, ec)) return out;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    std::ifstream in(entry.path());
    size_t line_no = 0;
    for (std::string line; std::getline(in, line);) {
      ++line_no;
      const size_t tab = line.find('\t');
      auto value = HexDecode(std::string_view(line).substr(0, tab));
      if (tab == std::string::npos || !value.ok() || value->size() < kMinSecretBytes) {
        return absl::DataLossError(absl::StrCat(entry.path().string(), ":", line_no, ": not \"<hex>\\t<label>\""));
      }
      std::string secret(value->begin(), value->end());
      if (!seen.insert(secret).second) continue;
      out.push_back({line.substr(tab + 1), std::move(secret)});
    }
  }
  return out;
}

SecretScanner::SecretScanner(std::vector<Secret> secrets) : secrets_(std::move(secrets)) {
  for (size_t i = 0; i < secrets_.size(); ++i) {
    if (secrets_[i].value.size() < kMinSecretBytes) continue;
    by_prefix_.emplace(std::string_view(secrets_[i].value).substr(0, kMinSecretBytes), i);
  }
}

std::vector<Finding> SecretScanner::Scan(std::string_view text) const {
  std::vector<Finding> out;
  std::set<std::pair<size_t, size_t>> reported;  // (line, secret)
  size_t line = 1;
  for (size_t i = 0; i + kMinSecretBytes <= text.size(); ++i) {
    if (text[i] == '\n') ++line;
    auto [begin, end] = by_prefix_.equal_range(text.substr(i, kMinSecretBytes));
    for (auto it = begin; it != end; ++it) {
      const Secret& s = secrets_[it->second];
      if (text.substr(i, s.value.size()) == s.value && reported.emplace(line, it->second).second) {
        out.push_back({s.label, line});
      }
    }
  }
  return out;
}

}  // namespace signet::testing
