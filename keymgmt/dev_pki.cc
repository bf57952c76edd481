#include "keymgmt/dev_pki.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/openssl_error.h"
#include "common/files.h"
#include "keymgmt/x509_builder.h"

namespace signet::keymgmt {
namespace {


constexpr char kCurve[] = "P-256";
// Certificates are backdated a little so a peer whose clock runs slightly behind still accepts them.
constexpr absl::Duration kClockSkew = absl::Minutes(5);
constexpr absl::Duration kMaxDevValidity = absl::Hours(24 * 3650);
constexpr size_t kMaxClientNameBytes = 64;

// ---- input validation ----

absl::Status ValidateCommonName(const std::string& cn) {
  if (cn.empty()) return absl::InvalidArgumentError("common name is empty");
  if (cn.size() > kMaxCommonNameBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("common name is ", cn.size(), " bytes, more than the limit of ", kMaxCommonNameBytes));
  }
  for (unsigned char c : cn) {
    if (c < 0x20 || c == 0x7f) return absl::InvalidArgumentError("common name contains a control character");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ParseIp(const std::string& text) {
  // inet_pton is strict: no trailing junk, no zone ids, no short IPv4 forms.
  unsigned char buf[16];
  if (inet_pton(AF_INET, text.c_str(), buf) == 1) return std::string(reinterpret_cast<char*>(buf), 4);
  if (inet_pton(AF_INET6, text.c_str(), buf) == 1) return std::string(reinterpret_cast<char*>(buf), 16);
  return absl::InvalidArgumentError(absl::StrCat("IP SAN '", text, "' is not an IPv4 or IPv6 address"));
}

absl::Status ValidateUri(const std::string& uri) {
  size_t colon = uri.find(':');
  bool scheme_ok = colon != std::string::npos && colon > 0 && colon + 1 < uri.size() &&
                   ((uri[0] >= 'a' && uri[0] <= 'z') || (uri[0] >= 'A' && uri[0] <= 'Z'));
  for (size_t i = 1; scheme_ok && i < colon; ++i) {
    char c = uri[i];
    scheme_ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '+' ||
                c == '-' || c == '.';
  }
  if (!scheme_ok) {
    return absl::InvalidArgumentError(
        absl::StrCat("URI SAN '", uri, "' is not an absolute URI (scheme:rest, e.g. spiffe://domain/path)"));
  }
  for (unsigned char c : uri) {
    if (c <= 0x20 || c >= 0x7f) {
      return absl::InvalidArgumentError(
          absl::StrCat("URI SAN '", uri, "' contains a space, control or non-ASCII character"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateSanList(const char* kind, const std::vector<std::string>& sans) {
  if (sans.size() > kMaxSansPerKind) {
    return absl::InvalidArgumentError(
        absl::StrCat(sans.size(), " ", kind, " SANs, more than the limit of ", kMaxSansPerKind));
  }
  for (const std::string& s : sans) {
    if (s.empty()) return absl::InvalidArgumentError(absl::StrCat("empty ", kind, " SAN"));
    if (s.size() > kMaxSanBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat(kind, " SAN is ", s.size(), " bytes, more than the limit of ", kMaxSanBytes));
    }
  }
  return absl::OkStatus();
}

// ---- certificate building ----

EvpPkeyPtr GenerateKey() {
  EvpPkeyPtr key(EVP_EC_gen(kCurve));
  CheckOpenSsl(key != nullptr, "EVP_EC_gen(P-256)");
  return key;
}

X509Ptr NewCert(const std::string& subject_cn, const EVP_PKEY* key, const Validity& v) {
  X509NamePtr name(X509_NAME_new());
  CheckOpenSsl(name != nullptr, "X509_NAME_new");
  CheckOpenSsl(X509_NAME_add_entry_by_NID(name.get(), NID_commonName, MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>(subject_cn.data()),
                                   static_cast<int>(subject_cn.size()), -1, 0) == 1,
        "X509_NAME_add_entry_by_NID");
  return NewCertificate(name.get(), key, v);
}

void PushIpName(GENERAL_NAMES* names, const std::string& octets) {
  Asn1OctetStringPtr ip(ASN1_OCTET_STRING_new());
  CheckOpenSsl(ip != nullptr, "ASN1_OCTET_STRING_new");
  CheckOpenSsl(ASN1_OCTET_STRING_set(ip.get(), reinterpret_cast<const unsigned char*>(octets.data()),
                              static_cast<int>(octets.size())) == 1,
        "ASN1_OCTET_STRING_set");
  GeneralNamePtr gn(GENERAL_NAME_new());
  CheckOpenSsl(gn != nullptr, "GENERAL_NAME_new");
  GENERAL_NAME_set0_value(gn.get(), GEN_IPADD, ip.release());
  CheckOpenSsl(sk_GENERAL_NAME_push(names, gn.get()) > 0, "sk_GENERAL_NAME_push");
  (void)gn.release();
}

absl::Status Sign(X509* cert, const EVP_PKEY* key) {
  return SignCertificate(cert, const_cast<EVP_PKEY*>(key), EVP_sha256());
}

// ---- files ----

struct OutputFile {
  std::string path;
  std::string contents;
  int mode;
};

std::string JoinPath(const std::string& dir, const std::string& name) {
  if (dir.empty()) return name;
  return dir.back() == '/' ? dir + name : absl::StrCat(dir, "/", name);
}

bool PathExists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;  // lstat: a dangling symlink also counts as "exists"
}

// Writes every file or none: refuses up front if any exists, and removes what it wrote if one fails.
absl::Status WriteAllOrNothing(const std::vector<OutputFile>& files) {
  std::vector<std::string> existing;
  for (const OutputFile& f : files) {
    if (PathExists(f.path)) existing.push_back(f.path);
  }
  if (!existing.empty()) {
    return absl::AlreadyExistsError(absl::StrCat(
        absl::StrJoin(existing, ", "), " already exist(s); refusing to overwrite, nothing written"));
  }
  for (size_t i = 0; i < files.size(); ++i) {
    if (absl::Status s = WriteNewFile(files[i].path, files[i].contents, files[i].mode); !s.ok()) {
      for (size_t j = 0; j < i; ++j) ::unlink(files[j].path.c_str());
      return s;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<OutputFile>> PairFiles(const KeyAndCert& kc, const std::string& dir,
                                                  const std::string& stem) {
  if (stem.empty() || stem == "." || stem == ".." || stem.find('/') != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("file stem '", stem, "' must be a plain, non-empty name"));
  }
  if (kc.key == nullptr || kc.cert == nullptr)
    return absl::InvalidArgumentError("key or certificate missing");
  auto key_pem = PrivateKeyPem(kc.key.get());
  if (!key_pem.ok()) return key_pem.status();
  return std::vector<OutputFile>{
      {JoinPath(dir, stem + ".pem"), CertPem(kc.cert.get()), 0644},
      {JoinPath(dir, stem + ".key"), std::move(*key_pem), 0600},
  };
}

absl::Status ValidateClientName(const std::string& name) {
  if (name.empty() || name.size() > kMaxClientNameBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("client name '", name, "' must be 1..", kMaxClientNameBytes, " bytes"));
  }
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              (i > 0 && (c == '-' || c == '_' || c == '.'));
    if (!ok) {
      return absl::InvalidArgumentError(absl::StrCat(
          "client name '", name, "' may contain only letters, digits, '-', '_' and '.' (not first)"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<KeyAndCert> CreateCa(const std::string& common_name, absl::Time not_before,
                                    absl::Time not_after) {
  if (absl::Status s = ValidateCommonName(common_name); !s.ok()) return s;
  auto validity = ValidateValidity(not_before, not_after);
  if (!validity.ok()) return validity.status();

  KeyAndCert ca{GenerateKey(), nullptr};
  ca.cert = NewCert(common_name, ca.key.get(), *validity);
  CheckOpenSsl(X509_set_issuer_name(ca.cert.get(), X509_get_subject_name(ca.cert.get())) == 1,
        "X509_set_issuer_name");

  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, ca.cert.get(), ca.cert.get(), nullptr, nullptr, 0);
  AddConfExtension(ca.cert.get(), &ctx, NID_basic_constraints, "critical,CA:TRUE,pathlen:0");
  AddConfExtension(ca.cert.get(), &ctx, NID_key_usage, "critical,keyCertSign,cRLSign");
  AddConfExtension(ca.cert.get(), &ctx, NID_subject_key_identifier, "hash");
  if (absl::Status s = Sign(ca.cert.get(), ca.key.get()); !s.ok()) return s;
  return ca;
}

absl::StatusOr<KeyAndCert> IssueCert(const KeyAndCert& ca, const CertSpec& spec) {
  if (ca.key == nullptr || ca.cert == nullptr)
    return absl::InvalidArgumentError("CA key or certificate missing");
  if (X509_check_ca(ca.cert.get()) != 1) {
    return absl::InvalidArgumentError("the issuing certificate is not a CA (basicConstraints CA:TRUE)");
  }
  if (X509_check_private_key(ca.cert.get(), ca.key.get()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError("the CA key does not match the CA certificate");
  }
  if (absl::Status s = ValidateCommonName(spec.common_name); !s.ok()) return s;
  if (absl::Status s = ValidateSanList("DNS", spec.dns_sans); !s.ok()) return s;
  if (absl::Status s = ValidateSanList("IP", spec.ip_sans); !s.ok()) return s;
  if (absl::Status s = ValidateSanList("URI", spec.uri_sans); !s.ok()) return s;
  for (const std::string& d : spec.dns_sans) {
    if (absl::Status s = ValidateDnsName(d); !s.ok()) return s;
  }
  std::vector<std::string> ips;
  for (const std::string& ip : spec.ip_sans) {
    auto octets = ParseIp(ip);
    if (!octets.ok()) return octets.status();
    ips.push_back(std::move(*octets));
  }
  for (const std::string& u : spec.uri_sans) {
    if (absl::Status s = ValidateUri(u); !s.ok()) return s;
  }
  if (!spec.server_auth && !spec.client_auth) {
    return absl::InvalidArgumentError("a certificate needs server_auth, client_auth or both");
  }
  auto validity = ValidateValidity(spec.not_before, spec.not_after);
  if (!validity.ok()) return validity.status();

  KeyAndCert out{GenerateKey(), nullptr};
  out.cert = NewCert(spec.common_name, out.key.get(), *validity);
  CheckOpenSsl(X509_set_issuer_name(out.cert.get(), X509_get_subject_name(ca.cert.get())) == 1,
        "X509_set_issuer_name");

  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, ca.cert.get(), out.cert.get(), nullptr, nullptr, 0);
  AddConfExtension(out.cert.get(), &ctx, NID_basic_constraints, "critical,CA:FALSE");
  AddConfExtension(out.cert.get(), &ctx, NID_key_usage, "critical,digitalSignature,keyAgreement");
  const char* eku = spec.server_auth && spec.client_auth ? "serverAuth,clientAuth"
                    : spec.server_auth                   ? "serverAuth"
                                                         : "clientAuth";
  AddConfExtension(out.cert.get(), &ctx, NID_ext_key_usage, eku);
  AddConfExtension(out.cert.get(), &ctx, NID_subject_key_identifier, "hash");
  AddConfExtension(out.cert.get(), &ctx, NID_authority_key_identifier, "keyid:always");

  if (!spec.dns_sans.empty() || !ips.empty() || !spec.uri_sans.empty()) {
    GeneralNamesPtr names(GENERAL_NAMES_new());
    CheckOpenSsl(names != nullptr, "GENERAL_NAMES_new");
    for (const std::string& d : spec.dns_sans) PushIa5Name(names.get(), GEN_DNS, d);
    for (const std::string& ip : ips) PushIpName(names.get(), ip);
    for (const std::string& u : spec.uri_sans) PushIa5Name(names.get(), GEN_URI, u);
    CheckOpenSsl(X509_add1_ext_i2d(out.cert.get(), NID_subject_alt_name, names.get(), 0, X509V3_ADD_APPEND) == 1,
          "X509_add1_ext_i2d(subjectAltName)");
  }
  if (absl::Status s = Sign(out.cert.get(), ca.key.get()); !s.ok()) return s;
  return out;
}

absl::StatusOr<std::string> PrivateKeyPem(const EVP_PKEY* key) {
  if (key == nullptr) return absl::InvalidArgumentError("PrivateKeyPem: no key");
  // A secure-memory BIO is wiped when freed, so no copy of the key lingers in freed heap.
  BioPtr bio(BIO_new(BIO_s_secmem()));
  CheckOpenSsl(bio != nullptr, "BIO_new");
  if (PEM_write_bio_PKCS8PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot encode the private key: ", ConsumeOpenSslErrors()));
  }
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

absl::Status WriteKeyAndCert(const KeyAndCert& kc, const std::string& dir, const std::string& stem) {
  auto files = PairFiles(kc, dir, stem);
  if (!files.ok()) return files.status();
  return WriteAllOrNothing(*files);
}

std::vector<std::string> DevPkiFileNames(const DevPkiOptions& options) {
  std::vector<std::string> names = {"ca.pem", "ca.key", "server.pem", "server.key"};
  for (const auto& [name, uri] : options.clients) {
    names.push_back(absl::StrCat("client-", name, ".pem"));
    names.push_back(absl::StrCat("client-", name, ".key"));
  }
  return names;
}

absl::Status CreateDevPki(const DevPkiOptions& options) {
  if (options.dir.empty()) return absl::InvalidArgumentError("dir is required");
  if (options.server_names.empty()) {
    return absl::InvalidArgumentError("at least one server name is needed (the first is the server's CN)");
  }
  if (options.validity <= absl::ZeroDuration() || options.validity > kMaxDevValidity) {
    return absl::InvalidArgumentError(absl::StrCat("validity must be more than 0 and at most 3650 days, got ",
                                                   absl::FormatDuration(options.validity)));
  }
  std::set<std::string> seen;
  for (const auto& [name, uri] : options.clients) {
    if (absl::Status s = ValidateClientName(name); !s.ok()) return s;
    if (!seen.insert(name).second)
      return absl::InvalidArgumentError(absl::StrCat("client '", name, "' given twice"));
  }

  // Build everything in memory first, so bad input never leaves a half-written directory.
  const absl::Time not_before = options.now - kClockSkew;
  const absl::Time not_after = options.now + options.validity;
  auto ca = CreateCa("Signet development CA", not_before, not_after);
  if (!ca.ok()) return ca.status();

  std::vector<OutputFile> files;
  auto add_pair = [&](const KeyAndCert& kc, const std::string& stem) -> absl::Status {
    auto pair = PairFiles(kc, options.dir, stem);
    if (!pair.ok()) return pair.status();
    for (OutputFile& f : *pair) files.push_back(std::move(f));
    return absl::OkStatus();
  };
  // The order matches DevPkiFileNames.
  if (absl::Status s = add_pair(*ca, "ca"); !s.ok()) return s;

  CertSpec server{.common_name = options.server_names.front(),
                  .dns_sans = options.server_names,
                  .ip_sans = options.server_ips,
                  .server_auth = true,
                  .not_before = not_before,
                  .not_after = not_after};
  auto server_kc = IssueCert(*ca, server);
  if (!server_kc.ok())
    return absl::InvalidArgumentError(absl::StrCat("server: ", server_kc.status().message()));
  if (absl::Status s = add_pair(*server_kc, "server"); !s.ok()) return s;

  for (const auto& [name, uri] : options.clients) {
    CertSpec client{
        .common_name = name, .client_auth = true, .not_before = not_before, .not_after = not_after};
    if (!uri.empty()) client.uri_sans.push_back(uri);
    auto client_kc = IssueCert(*ca, client);
    if (!client_kc.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("client '", name, "': ", client_kc.status().message()));
    }
    if (absl::Status s = add_pair(*client_kc, "client-" + name); !s.ok()) return s;
  }

  bool created_dir = false;
  if (::mkdir(options.dir.c_str(), 0700) == 0) {
    created_dir = true;
  } else if (errno == EEXIST) {
    struct stat st;
    if (::stat(options.dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      return absl::FailedPreconditionError(absl::StrCat(options.dir, " exists and is not a directory"));
    }
  } else {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create directory ", options.dir, ": ", std::strerror(errno)));
  }
  absl::Status s = WriteAllOrNothing(files);
  if (!s.ok() && created_dir) ::rmdir(options.dir.c_str());
  return s;
}

}  // namespace signet::keymgmt
