#include "daemon/tls.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/files.h"
#include "common/sha256.h"
#include "common/time_text.h"
#include "spdlog/spdlog.h"

namespace signet::daemon {
namespace {

constexpr char kField[] = "server.tls.crl_file";
constexpr size_t kMaxCaFileBytes = 1024 * 1024;
// A CRL this close to its nextUpdate at start or reload gets a warning: once it passes, OpenSSL
// refuses every client certificate (CRL_HAS_EXPIRED), which is an outage.
constexpr absl::Duration kWarnCrlExpiry = absl::Hours(24);

std::string NameText(const X509_NAME* name) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253) < 0) return "(unprintable name)";
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return n > 0 ? std::string(data, static_cast<size_t>(n)) : std::string("(empty name)");
}

std::string NameDer(const X509_NAME* name) {
  unsigned char* der = nullptr;
  const int n = i2d_X509_NAME(name, &der);
  if (n <= 0) return "";
  OpenSslBytesPtr owned(der);
  return std::string(reinterpret_cast<const char*>(der), static_cast<size_t>(n));
}

std::string CrlDer(X509_CRL* crl) {
  unsigned char* der = nullptr;
  const int n = i2d_X509_CRL(crl, &der);
  if (n <= 0) return "";
  OpenSslBytesPtr owned(der);
  return std::string(reinterpret_cast<const char*>(der), static_cast<size_t>(n));
}

std::string OpenSslError() {
  const unsigned long e = ERR_peek_last_error();
  ERR_clear_error();
  if (e == 0) return "no details from OpenSSL";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof(buf));
  return buf;
}

template <typename... Args>
absl::Status Bad(const TlsConfig& tls, const Args&... args) {
  return absl::InvalidArgumentError(absl::StrCat(kField, ": ", *tls.crl_file, ": ", args...));
}

// Every certificate in server.tls.client_ca_file.
absl::StatusOr<std::vector<X509Ptr>> ReadClientCas(const TlsConfig& tls) {
  auto text = ReadFileBounded(tls.client_ca_file, kMaxCaFileBytes);
  if (!text.ok()) {
    return absl::Status(text.status().code(), absl::StrCat("server.tls.client_ca_file: ", text.status().message()));
  }
  BioPtr bio(BIO_new_mem_buf(text->data(), static_cast<int>(text->size())));
  std::vector<X509Ptr> out;
  while (X509Ptr cert{PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)}) out.push_back(std::move(cert));
  ERR_clear_error();  // the end of the file reads as "no start line"
  if (out.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("server.tls.client_ca_file: ", tls.client_ca_file, ": no PEM certificate"));
  }
  return out;
}

// The CRLs in the file's bytes: PEM blocks (only "X509 CRL" ones), or one DER CRL.
absl::StatusOr<std::vector<X509CrlPtr>> ParseCrls(const TlsConfig& tls, const std::string& bytes) {
  std::vector<X509CrlPtr> out;
  if (bytes.empty()) return Bad(tls, "the file is empty; give a CRL (PEM or DER) from each client CA");
  if (bytes.find("-----BEGIN ") == std::string::npos) {
    const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
    X509CrlPtr crl(d2i_X509_CRL(nullptr, &p, static_cast<long>(bytes.size())));
    if (!crl) return Bad(tls, "neither PEM nor a DER X.509 CRL (", OpenSslError(), ")");
    if (p != reinterpret_cast<const unsigned char*>(bytes.data()) + bytes.size()) {
      return Bad(tls, "trailing bytes after the DER CRL");
    }
    out.push_back(std::move(crl));
    return out;
  }
  BioPtr bio(BIO_new_mem_buf(bytes.data(), static_cast<int>(bytes.size())));
  for (int block = 1;; ++block) {
    char* name = nullptr;
    char* header = nullptr;
    unsigned char* data = nullptr;
    long len = 0;
    if (PEM_read_bio(bio.get(), &name, &header, &data, &len) != 1) {
      const unsigned long e = ERR_peek_last_error();
      ERR_clear_error();
      if (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE) break;  // the end
      return Bad(tls, "PEM block ", block, " cannot be read");
    }
    OpenSslCharsPtr owned_name(name);
    OpenSslCharsPtr owned_header(header);
    OpenSslBytesPtr owned_data(data);
    if (std::strcmp(name, "X509 CRL") != 0) {
      return Bad(tls, "PEM block ", block, " is a \"", std::string(name).substr(0, 40),
                 "\", not an \"X509 CRL\" (a CRL file holds CRLs only)");
    }
    const unsigned char* p = data;
    X509CrlPtr crl(d2i_X509_CRL(nullptr, &p, len));
    if (!crl || p != data + len) return Bad(tls, "PEM block ", block, " is not a well-formed X.509 CRL");
    out.push_back(std::move(crl));
  }
  if (out.empty()) return Bad(tls, "no \"X509 CRL\" PEM block");
  return out;
}

void WarnIfExpiring(const ClientCrl& c) {
  if (c.next_update && *c.next_update - absl::Now() < kWarnCrlExpiry) {
    spdlog::warn("signetd: {}: the CRL from '{}' expires at {}; after that every client certificate of that CA is "
                 "refused",
                 kField, c.issuer, Rfc3339(*c.next_update));
  }
}


absl::StatusOr<std::string> ReadCrlFile(const TlsConfig& tls) {
  auto bytes = ReadFileBounded(*tls.crl_file, kMaxCrlFileBytes);
  if (!bytes.ok()) return absl::Status(bytes.status().code(), absl::StrCat(kField, ": ", bytes.status().message()));
  return bytes;
}

// LoadClientCrls on bytes already read, so that what is checked is exactly what is recorded.
absl::StatusOr<std::vector<ClientCrl>> ParseClientCrls(const TlsConfig& tls, const std::string& bytes,
                                                       absl::Time now) {
  auto parsed = ParseCrls(tls, bytes);
  if (!parsed.ok()) return parsed.status();
  auto cas = ReadClientCas(tls);
  if (!cas.ok()) return cas.status();

  std::vector<ClientCrl> out;
  std::set<std::string> issuers;
  for (size_t i = 0; i < parsed->size(); ++i) {
    X509CrlPtr& crl = (*parsed)[i];
    ClientCrl c;
    const X509_NAME* issuer = X509_CRL_get_issuer(crl.get());
    c.issuer = NameText(issuer);
    c.issuer_der = NameDer(issuer);
    const std::string which = parsed->size() == 1 ? std::string("the CRL") : absl::StrCat("CRL ", i + 1);
    if (!issuers.insert(c.issuer_der).second) {
      return Bad(tls, which, " is a second CRL from '", c.issuer, "'; give one CRL per client CA");
    }
    if (X509_CRL_get_ext_by_NID(crl.get(), NID_delta_crl, -1) >= 0) {
      return Bad(tls, which, " (from '", c.issuer, "') is a delta CRL; give complete CRLs");
    }
    // Its issuer: a client CA of that name whose key verifies the CRL's signature.
    const X509* signer = nullptr;
    bool named = false;
    for (const X509Ptr& ca : *cas) {
      if (X509_NAME_cmp(X509_get_subject_name(ca.get()), issuer) != 0) continue;
      named = true;
      EVP_PKEY* key = X509_get0_pubkey(ca.get());
      if (key != nullptr && X509_CRL_verify(crl.get(), key) == 1) {
        signer = ca.get();
        break;
      }
    }
    ERR_clear_error();
    if (!named) {
      return Bad(tls, which, " is issued by '", c.issuer,
                 "', which is not a certificate in server.tls.client_ca_file ", tls.client_ca_file);
    }
    if (signer == nullptr) {
      return Bad(tls, which, " names '", c.issuer, "' as its issuer but is not signed by that CA's key in ",
                 "server.tls.client_ca_file ", tls.client_ca_file);
    }
    if ((X509_get_extension_flags(const_cast<X509*>(signer)) & EXFLAG_KUSAGE) != 0 &&
        (X509_get_key_usage(const_cast<X509*>(signer)) & KU_CRL_SIGN) == 0) {
      return Bad(tls, "the keyUsage of client CA '", c.issuer,
                 "' does not allow cRLSign, so OpenSSL would refuse its CRL and every client it issued");
    }
    auto this_update = Asn1TimeToTime(X509_CRL_get0_lastUpdate(crl.get()));
    if (!this_update.ok()) return Bad(tls, which, " (from '", c.issuer, "'): unreadable thisUpdate");
    c.this_update = *this_update;
    if (c.this_update > now) {
      return Bad(tls, which, " (from '", c.issuer, "') is not valid before ", Rfc3339(c.this_update),
                 " (thisUpdate); OpenSSL would refuse every client certificate until then");
    }
    if (const ASN1_TIME* next = X509_CRL_get0_nextUpdate(crl.get()); next != nullptr) {
      auto next_update = Asn1TimeToTime(next);
      if (!next_update.ok()) return Bad(tls, which, " (from '", c.issuer, "'): unreadable nextUpdate");
      c.next_update = *next_update;
      if (*c.next_update <= now) {
        return Bad(tls, which, " (from '", c.issuer, "') expired at ", Rfc3339(*c.next_update),
                   " (nextUpdate); OpenSSL would refuse every client certificate with it. Publish a fresh CRL");
      }
    }
    const STACK_OF(X509_REVOKED)* revoked = X509_CRL_get_REVOKED(crl.get());
    c.revoked = revoked != nullptr ? static_cast<size_t>(sk_X509_REVOKED_num(revoked)) : 0;
    int ok = 0;
    c.hash = X509_NAME_hash_ex(issuer, nullptr, nullptr, &ok);
    if (ok != 1) return absl::InternalError(absl::StrCat(kField, ": cannot hash the issuer name '", c.issuer, "'"));
    c.crl = std::move(crl);
    out.push_back(std::move(c));
  }
  // gRPC ignores X509_V_ERR_UNABLE_TO_GET_CRL, so a client CA without a CRL would go unchecked.
  for (const X509Ptr& ca : *cas) {
    if (issuers.count(NameDer(X509_get_subject_name(ca.get()))) == 0) {
      return Bad(tls, "no CRL from client CA '", NameText(X509_get_subject_name(ca.get())),
                 "' (server.tls.client_ca_file ", tls.client_ca_file,
                 "); give one CRL per client CA, an empty one if it revoked nothing");
    }
  }
  return out;
}

}  // namespace

void UseSignetGrpcCipherSuites() { ::setenv("GRPC_SSL_CIPHER_SUITES", kIntermediateCipherSuites, 1); }

absl::StatusOr<std::vector<ClientCrl>> LoadClientCrls(const TlsConfig& tls, absl::Time now) {
  if (!tls.crl_file) return std::vector<ClientCrl>{};
  auto bytes = ReadCrlFile(tls);
  if (!bytes.ok()) return bytes.status();
  return ParseClientCrls(tls, *bytes, now);
}

absl::StatusOr<std::unique_ptr<CrlDirectory>> CrlDirectory::Create(const TlsConfig& tls, absl::Time now) {
  if (!tls.crl_file) return absl::InvalidArgumentError(absl::StrCat(kField, ": not configured"));
  auto bytes = ReadCrlFile(tls);
  if (!bytes.ok()) return bytes.status();
  auto crls = ParseClientCrls(tls, *bytes, now);
  if (!crls.ok()) return crls.status();

  std::string base;
  for (const char* env : {"RUNTIME_DIRECTORY", "TMPDIR"}) {
    const char* v = std::getenv(env);
    // RUNTIME_DIRECTORY may list several directories (colon-separated): take the first.
    if (v != nullptr && *v != '\0') {
      base = std::string(v).substr(0, std::string(v).find(':'));
      break;
    }
  }
  if (base.empty()) base = "/tmp";
  std::string tmpl = absl::StrCat(base, "/signetd-crl-XXXXXX");
  if (::mkdtemp(tmpl.data()) == nullptr) {
    return absl::UnavailableError(
        absl::StrCat(kField, ": cannot create a private CRL directory under ", base, ": ", std::strerror(errno)));
  }
  std::unique_ptr<CrlDirectory> dir(new CrlDirectory(tls, tmpl));  // mkdtemp made it 0700
  if (auto s = dir->Add(*std::move(crls), Sha256Hex(*bytes)); !s.ok()) return s;
  return dir;
}

CrlDirectory::~CrlDirectory() {
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

absl::Status CrlDirectory::Add(std::vector<ClientCrl> crls, const std::string& file_sha256) {
  std::lock_guard<std::mutex> lock(mu_);
  // Write every file first under a temporary name, then rename each into place, so a handshake
  // never reads a partial file.
  std::vector<std::pair<std::string, std::string>> renames;
  std::map<unsigned long, int> next = next_suffix_;
  for (const ClientCrl& c : crls) {
    const int suffix = next[c.hash]++;
    const std::string final_name = absl::StrFormat("%s/%08lx.r%d", dir_, c.hash, suffix);
    const std::string tmp_name = absl::StrCat(final_name, ".tmp");
    BioPtr bio(BIO_new_file(tmp_name.c_str(), "wx"));
    const bool ok = bio != nullptr && PEM_write_bio_X509_CRL(bio.get(), c.crl.get()) == 1 && BIO_flush(bio.get()) == 1;
    bio.reset();
    if (!ok) {
      for (const auto& [tmp, unused] : renames) ::unlink(tmp.c_str());
      ::unlink(tmp_name.c_str());
      return absl::InternalError(absl::StrCat(kField, ": cannot write ", tmp_name, ": ", OpenSslError()));
    }
    renames.emplace_back(tmp_name, final_name);
  }
  for (const auto& [tmp, final_name] : renames) {
    if (::rename(tmp.c_str(), final_name.c_str()) != 0) {
      return absl::InternalError(absl::StrCat(kField, ": cannot rename ", tmp, ": ", std::strerror(errno)));
    }
  }
  next_suffix_ = std::move(next);
  for (ClientCrl& c : crls) {
    WarnIfExpiring(c);
    in_use_[c.issuer_der] = std::move(c);
  }
  file_sha256_ = file_sha256;
  return absl::OkStatus();
}

std::string CrlDirectory::Summary() const {
  std::lock_guard<std::mutex> lock(mu_);
  return SummaryLocked();
}

std::optional<absl::Time> CrlDirectory::EarliestNextUpdate() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::optional<absl::Time> earliest;
  for (const auto& [unused, c] : in_use_) {
    if (c.next_update && (!earliest || *c.next_update < *earliest)) earliest = c.next_update;
  }
  return earliest;
}

std::string CrlDirectory::SummaryLocked() const {
  std::vector<std::string> parts;
  for (const auto& [unused, c] : in_use_) {
    parts.push_back(absl::StrCat("'", c.issuer, "': ", c.revoked, " revoked, issued ", Rfc3339(c.this_update),
                                 ", next update ", c.next_update ? Rfc3339(*c.next_update) : "none"));
  }
  return absl::StrCat(in_use_.size(), in_use_.size() == 1 ? " CRL (" : " CRLs (", absl::StrJoin(parts, "; "), ")");
}

absl::StatusOr<std::string> CrlDirectory::Reload(absl::Time now) {
  auto bytes = ReadCrlFile(tls_);
  if (!bytes.ok()) return bytes.status();
  const std::string sha = Sha256Hex(*bytes);
  // Validated even when unchanged: the CRL may have expired, or client_ca_file (which gRPC reloads by
  // itself) may have gained a CA without a CRL.
  auto crls = ParseClientCrls(tls_, *bytes, now);
  if (!crls.ok()) return crls.status();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (sha == file_sha256_) {
      for (const auto& [unused, c] : in_use_) WarnIfExpiring(c);
      return absl::StrCat("unchanged, still valid: ", SummaryLocked());
    }
  }
  std::set<std::string> issuers;  // the CAs the file has CRLs for: every CA clients may now chain to
  for (const ClientCrl& c : *crls) issuers.insert(c.issuer_der);
  std::vector<ClientCrl> changed;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (ClientCrl& c : *crls) {
      auto current = in_use_.find(c.issuer_der);
      if (current != in_use_.end() && CrlDer(c.crl.get()) == CrlDer(current->second.crl.get())) {
        continue;  // this issuer's CRL did not change
      }
      // OpenSSL prefers, of two CRLs from one issuer, the one with the later thisUpdate; an equal or
      // older one would be ignored (or would roll revocations back), so it is refused here.
      if (current != in_use_.end() && c.this_update <= current->second.this_update) {
        return absl::InvalidArgumentError(absl::StrCat(
            kField, ": ", *tls_.crl_file, ": the new CRL from '", c.issuer, "' was issued ", Rfc3339(c.this_update),
            ", not later than the one in use (", Rfc3339(current->second.this_update),
            "); not reloaded, the CRLs in use stay in force"));
      }
      changed.push_back(std::move(c));
    }
  }
  if (auto s = Add(std::move(changed), sha); !s.ok()) return s;
  {
    // A CA gone from client_ca_file (the file must cover every one in it) no longer counts: its last
    // CRL stays on disk, unused, but not in the summary or EarliestNextUpdate.
    std::lock_guard<std::mutex> lock(mu_);
    std::erase_if(in_use_, [&](const auto& entry) { return !issuers.contains(entry.first); });
  }
  return Summary();
}

}  // namespace signet::daemon
