#include "signing/chain.h"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <array>
#include <ctime>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/absl_compat.h"
#include "common/hex.h"
#include "common/openssl_error.h"
#include "common/time_text.h"
#include "signing/base64url.h"
#include "signing/content_signature.h"

namespace signet::signing {
namespace {

constexpr size_t kSha256Bytes = 32;
constexpr std::string_view kBeginPrefix = "-----BEGIN ";
constexpr std::string_view kBeginLine = "-----BEGIN CERTIFICATE-----";
constexpr std::string_view kEndLine = "-----END CERTIFICATE-----";

// Position in the chain, as operators and messages name it.
enum Role : size_t { kEe = 0, kIntermediate = 1, kRoot = 2 };
constexpr std::array<std::string_view, 3> kRoleNames = {"ee", "intermediate", "root"};

absl::Status RuleError(std::string_view rule, std::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat("rule ", Av(rule), ": ", Av(message)));
}

// Untrusted text safe to put in a message: escaped and bounded.
std::string Quote(std::string_view s, size_t max = 64) {
  std::string out = absl::StrCat("'", absl::CHexEscape(Av(s.substr(0, max))), "'");
  if (s.size() > max) absl::StrAppend(&out, "...");
  return out;
}

std::string ColonHex(std::span<const uint8_t> bytes) {
  std::string hex = HexEncode(bytes);
  absl::AsciiStrToUpper(&hex);
  std::string out;
  for (size_t i = 0; i < hex.size(); i += 2) {
    if (i > 0) out.push_back(':');
    out.append(hex, i, 2);
  }
  return out;
}

bool IsPemSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// 1-based line of a byte offset, so an operator can find the problem in the file.
size_t LineAt(std::string_view text, size_t offset) {
  return 1 + static_cast<size_t>(std::count(text.begin(), text.begin() + offset, '\n'));
}

// "certificate 2 (intermediate)"; blocks past the third have no role.
std::string BlockLabel(size_t index) {
  if (index < kRoleNames.size())
    return absl::StrCat("certificate ", index + 1, " (", Av(kRoleNames[index]), ")");
  return absl::StrCat("certificate ", index + 1);
}

// Standard, padded base64 with line breaks (RFC 7468 strict) -> bytes. Reuses the strict base64url decoder,
// which rejects non-canonical encodings, after mapping the alphabet.
absl::StatusOr<std::vector<uint8_t>> DecodePemBody(std::string_view pem, size_t begin, size_t end,
                                                   const std::string& label) {
  std::string url;
  url.reserve(end - begin);
  size_t padding = 0;
  for (size_t i = begin; i < end; ++i) {
    const char c = pem[i];
    if (IsPemSpace(c)) continue;
    const bool alnum = absl::ascii_isalnum(static_cast<unsigned char>(c));
    if (c == '=') {
      ++padding;
    } else if (padding > 0 || !(alnum || c == '+' || c == '/')) {
      return absl::InvalidArgumentError(absl::StrCat(
          "line ", LineAt(pem, i), ": ", label, " contains ", Quote(std::string_view(&pem[i], 1)),
          padding > 0 ? " after the base64 padding" : ", which is not base64 (PEM headers are not allowed)"));
    } else {
      url.push_back(c == '+' ? '-' : c == '/' ? '_' : c);
    }
  }
  if (url.empty()) return absl::InvalidArgumentError(absl::StrCat(label, " has an empty body"));
  if ((url.size() + padding) % 4 != 0 || padding > 2 || padding != (4 - url.size() % 4) % 4) {
    return absl::InvalidArgumentError(absl::StrCat(
        label, ": the base64 is not correctly padded to a multiple of 4 characters (truncated?)"));
  }
  absl::StatusOr<std::vector<uint8_t>> der = Base64UrlDecode(url, kMaxChainBytes);
  if (!der.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(label, ": ", der.status().message()));
  }
  return der;
}

absl::StatusOr<X509Ptr> ParseDer(const std::vector<uint8_t>& der, const std::string& label) {
  const unsigned char* p = der.data();
  X509Ptr cert(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  if (cert == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(label, " is not a DER X.509 certificate: ", ConsumeOpenSslErrors()));
  }
  if (p != der.data() + der.size()) {
    return absl::InvalidArgumentError(absl::StrCat(label, " has ", der.data() + der.size() - p,
                                                   " bytes of trailing data after the certificate's DER"));
  }
  // Extensions OpenSSL cannot decode (or finds twice) would make the rules below read nothing.
  if ((X509_get_extension_flags(cert.get()) & EXFLAG_INVALID) != 0) {
    ERR_clear_error();
    return absl::InvalidArgumentError(
        absl::StrCat(label,
                     " has malformed or duplicated extensions (basicConstraints, keyUsage, "
                     "extendedKeyUsage, subjectAltName, nameConstraints, key identifiers)"));
  }
  return cert;
}

std::string NameText(const X509_NAME* name) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr) OpenSslInvariantFailure("BIO_new");
  // RFC 2253 form escapes control and non-ASCII bytes, so the result is safe in a log line.
  if (X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253) < 0) {
    ERR_clear_error();
    return "(unprintable name)";
  }
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  if (len <= 0) return "(empty name)";
  constexpr size_t kMaxName = 200;
  std::string text(data, std::min(static_cast<size_t>(len), kMaxName));
  if (static_cast<size_t>(len) > kMaxName) text += "...";
  return absl::StrCat("\"", text, "\"");
}

// One extension, decoded; nullptr if absent. Duplicated or undecodable is an error (ParseChainPem rejects
// those already; this keeps VerifyChain safe for chains built elsewhere).
template <typename Ptr>
absl::StatusOr<Ptr> DecodeExtension(const X509* cert, int nid) {
  int crit = -1;
  Ptr ext(static_cast<typename Ptr::pointer>(X509_get_ext_d2i(cert, nid, &crit, nullptr)));
  if (ext != nullptr || crit == -1) return ext;
  const std::string what = OBJ_nid2sn(nid);
  if (crit == -2) return absl::InvalidArgumentError(absl::StrCat("its ", what, " extension appears twice"));
  return absl::InvalidArgumentError(
      absl::StrCat("its ", what, " extension cannot be decoded: ", ConsumeOpenSslErrors()));
}

std::vector<std::string> DnsNames(const GENERAL_NAMES* names) {
  std::vector<std::string> out;
  for (int i = 0; names != nullptr && i < sk_GENERAL_NAME_num(names); ++i) {
    int type = 0;
    const auto* s =
        static_cast<const ASN1_STRING*>(GENERAL_NAME_get0_value(sk_GENERAL_NAME_value(names, i), &type));
    if (type != GEN_DNS) continue;
    out.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                     static_cast<size_t>(ASN1_STRING_length(s)));
  }
  return out;
}

// For messages: the first few names, quoted.
std::string NameList(const std::vector<std::string>& names) {
  constexpr size_t kMaxListed = 8;
  std::vector<std::string> quoted;
  for (size_t i = 0; i < names.size() && i < kMaxListed; ++i) quoted.push_back(Quote(names[i]));
  std::string out = absl::StrJoin(quoted, ", ");
  if (names.size() > kMaxListed) absl::StrAppend(&out, ", and ", names.size() - kMaxListed, " more");
  return out;
}

// ---- the rules, in order; each returns its own "rule <name>: " error ----

absl::Status CheckValidity(const std::array<X509*, 3>& certs, absl::Time at,
                           std::array<absl::Time, 3>& not_after) {
  for (size_t i = 0; i < certs.size(); ++i) {
    const std::string_view role = kRoleNames[i];
    absl::StatusOr<absl::Time> begin = Asn1TimeToTime(X509_get0_notBefore(certs[i]));
    absl::StatusOr<absl::Time> end = Asn1TimeToTime(X509_get0_notAfter(certs[i]));
    if (!begin.ok() || !end.ok()) {
      return RuleError("validity",
                       absl::StrCat("the ", Av(role), " certificate's notBefore or notAfter cannot be read"));
    }
    if (at < *begin) {
      return RuleError("validity", absl::StrCat("the ", Av(role), " certificate is not valid until ",
                                                Rfc3339(*begin), " (verification time ", Rfc3339(at), ")"));
    }
    // notAfter is inclusive (RFC 5280 4.1.2.5).
    if (at > *end) {
      return RuleError("validity", absl::StrCat("the ", Av(role), " certificate expired at ", Rfc3339(*end),
                                                " (verification time ", Rfc3339(at), ")"));
    }
    not_after[i] = *end;
  }
  return absl::OkStatus();
}

absl::Status CheckChainOrder(const std::array<X509*, 3>& certs) {
  for (size_t i = 0; i + 1 < certs.size(); ++i) {
    const X509_NAME* issuer = X509_get_issuer_name(certs[i]);
    const X509_NAME* next_subject = X509_get_subject_name(certs[i + 1]);
    if (X509_NAME_cmp(issuer, next_subject) != 0) {
      // Name positions and show the misplaced certificate's subject: a swapped file is the usual cause.
      return RuleError("chain-order",
                       absl::StrCat("certificate ", i + 1, " (", Av(kRoleNames[i]), ") ",
                                    NameText(X509_get_subject_name(certs[i])), " was issued by ",
                                    NameText(issuer), ", but certificate ", i + 2, " (",
                                    Av(kRoleNames[i + 1]), ") is ", NameText(next_subject),
                                    "; the file must hold end entity, intermediate, root, in that order"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckIssuerSignatures(const std::array<X509*, 3>& certs) {
  for (size_t i = 0; i + 1 < certs.size(); ++i) {
    EVP_PKEY* issuer_key = X509_get0_pubkey(certs[i + 1]);
    if (issuer_key == nullptr) {
      return RuleError("issuer-signature",
                       absl::StrCat("the ", Av(kRoleNames[i + 1]),
                                    "'s public key cannot be read: ", ConsumeOpenSslErrors()));
    }
    if (X509_verify(certs[i], issuer_key) != 1) {
      ERR_clear_error();  // OpenSSL's reason ("EVP lib") tells an operator nothing more
      return RuleError(
          "issuer-signature",
          absl::StrCat("the ", Av(kRoleNames[i]), " certificate's signature does not verify with the ",
                       Av(kRoleNames[i + 1]), "'s public key (signed by another key, or altered)"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckRootSelfSigned(X509* root) {
  const X509_NAME* issuer = X509_get_issuer_name(root);
  const X509_NAME* subject = X509_get_subject_name(root);
  if (X509_NAME_cmp(issuer, subject) != 0) {
    return RuleError("root-self-signed", absl::StrCat("the root's issuer ", NameText(issuer),
                                                      " is not its subject ", NameText(subject)));
  }
  EVP_PKEY* key = X509_get0_pubkey(root);
  if (key == nullptr || X509_verify(root, key) != 1) {
    ERR_clear_error();
    return RuleError("root-self-signed",
                     "the root's signature does not verify with its own public key (signed by another key, "
                     "or altered)");
  }
  return absl::OkStatus();
}

// cas_below: how many CA certificates the chain puts under this one, which its pathLen must allow.
absl::Status CheckCa(X509* cert, std::string_view role, long cas_below) {
  absl::StatusOr<BasicConstraintsPtr> bc = DecodeExtension<BasicConstraintsPtr>(cert, NID_basic_constraints);
  if (!bc.ok()) return RuleError("ca", absl::StrCat("the ", Av(role), ": ", bc.status().message()));
  if (*bc == nullptr || !(*bc)->ca) {
    return RuleError("ca", absl::StrCat("the ", Av(role), " is not a CA: it needs basicConstraints CA:TRUE"));
  }
  if ((*bc)->pathlen != nullptr && ASN1_INTEGER_get((*bc)->pathlen) < cas_below) {
    return RuleError("ca", absl::StrCat("the ", Av(role), "'s basicConstraints pathLen is ",
                                        ASN1_INTEGER_get((*bc)->pathlen), ", but the chain has ", cas_below,
                                        " CA certificate below it"));
  }
  // X509_get_key_usage is UINT32_MAX when there is no keyUsage extension, i.e. no restriction.
  if ((X509_get_key_usage(cert) & KU_KEY_CERT_SIGN) == 0) {
    return RuleError("ca", absl::StrCat("the ", Av(role), "'s keyUsage does not include keyCertSign"));
  }
  return absl::OkStatus();
}

absl::Status CheckCaFlags(const std::array<X509*, 3>& certs) {
  if (absl::Status s = CheckCa(certs[kIntermediate], "intermediate", 0); !s.ok()) return s;
  if (absl::Status s = CheckCa(certs[kRoot], "root", 1); !s.ok()) return s;
  // A CA certificate must not double as the signer: Firefox (mozilla::pkix) rejects a CA as end entity.
  absl::StatusOr<BasicConstraintsPtr> bc =
      DecodeExtension<BasicConstraintsPtr>(certs[kEe], NID_basic_constraints);
  if (!bc.ok()) return RuleError("ca", absl::StrCat("the ee: ", bc.status().message()));
  if (*bc != nullptr && (*bc)->ca) {
    return RuleError("ca",
                     "the ee is a CA certificate (basicConstraints CA:TRUE); an end entity must not be");
  }
  return absl::OkStatus();
}

absl::Status CheckRootPin(const X509* root, const std::vector<uint8_t>& pin) {
  if (pin.size() != kSha256Bytes) {
    return RuleError("root-pin", absl::StrCat("the pinned root SHA-256 is ", pin.size(),
                                              " bytes; it must be ", kSha256Bytes));
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (X509_digest(root, EVP_sha256(), md, &len) != 1 || len != kSha256Bytes) {
    OpenSslInvariantFailure("X509_digest(SHA-256)");
  }
  if (!std::equal(pin.begin(), pin.end(), md)) {
    return RuleError("root-pin", absl::StrCat("the root's SHA-256 is ", ColonHex({md, len}),
                                              " but the pinned value is ", ColonHex(pin)));
  }
  return absl::OkStatus();
}

absl::Status CheckCodeSigningEku(const std::array<X509*, 3>& certs) {
  for (size_t i = 0; i < certs.size(); ++i) {
    const std::string_view role = kRoleNames[i];
    absl::StatusOr<ExtendedKeyUsagePtr> eku =
        DecodeExtension<ExtendedKeyUsagePtr>(certs[i], NID_ext_key_usage);
    if (!eku.ok()) {
      return RuleError("code-signing-eku", absl::StrCat("the ", Av(role), ": ", eku.status().message()));
    }
    if (*eku == nullptr) {
      // Only the end entity must say codeSigning; a CA without an EKU extension does not restrict it.
      if (i != kEe) continue;
      return RuleError("code-signing-eku",
                       "the ee has no extendedKeyUsage extension; it must include codeSigning");
    }
    bool code_signing = false;
    for (int j = 0; j < sk_ASN1_OBJECT_num(eku->get()); ++j) {
      code_signing |= OBJ_obj2nid(sk_ASN1_OBJECT_value(eku->get(), j)) == NID_code_sign;
    }
    if (!code_signing) {
      return RuleError("code-signing-eku",
                       absl::StrCat("the ", Av(role), "'s extendedKeyUsage does not include codeSigning"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckEeName(const X509* ee, const std::string& expected) {
  if (expected.empty()) return RuleError("ee-name", "no expected end-entity name is configured");
  absl::StatusOr<GeneralNamesPtr> sans = DecodeExtension<GeneralNamesPtr>(ee, NID_subject_alt_name);
  if (!sans.ok()) return RuleError("ee-name", absl::StrCat("the ee: ", sans.status().message()));
  const std::vector<std::string> dns = DnsNames(sans->get());
  for (const std::string& name : dns) {
    if (absl::EqualsIgnoreCase(name, expected)) return absl::OkStatus();
  }
  if (dns.empty()) {
    return RuleError("ee-name", absl::StrCat("the ee has no DNS subjectAltName; expected ", Quote(expected)));
  }
  return RuleError("ee-name",
                   absl::StrCat("the ee's DNS names are ", NameList(dns), "; none is ", Quote(expected)));
}

absl::Status CheckOneNameConstraint(X509* cert, std::string_view role, NAME_CONSTRAINTS* nc,
                                    std::string_view nc_owner) {
  // NAME_CONSTRAINTS_check reads the cached subjectAltName; make sure the cache exists (a certificate
  // built in memory rather than parsed has none yet, and would pass unchecked).
  (void)X509_get_extension_flags(cert);
  const int rc = NAME_CONSTRAINTS_check(cert, nc);
  if (rc == X509_V_OK) return absl::OkStatus();
  ERR_clear_error();
  std::string names;
  if (absl::StatusOr<GeneralNamesPtr> sans = DecodeExtension<GeneralNamesPtr>(cert, NID_subject_alt_name);
      sans.ok() && *sans != nullptr) {
    names = absl::StrCat(" (its DNS names: ", NameList(DnsNames(sans->get())), ")");
  }
  return RuleError("name-constraints",
                   absl::StrCat("the ", Av(role), " violates the ", Av(nc_owner),
                                "'s nameConstraints: ", X509_verify_cert_error_string(rc), names));
}

absl::Status CheckNameConstraints(const std::array<X509*, 3>& certs) {
  for (size_t owner : {size_t{kIntermediate}, size_t{kRoot}}) {
    absl::StatusOr<NameConstraintsPtr> nc =
        DecodeExtension<NameConstraintsPtr>(certs[owner], NID_name_constraints);
    if (!nc.ok()) {
      return RuleError("name-constraints",
                       absl::StrCat("the ", Av(kRoleNames[owner]), ": ", nc.status().message()));
    }
    if (*nc == nullptr) continue;
    // A CA's constraints bind every certificate below it.
    for (size_t below = 0; below < owner; ++below) {
      if (absl::Status s =
              CheckOneNameConstraint(certs[below], kRoleNames[below], nc->get(), kRoleNames[owner]);
          !s.ok()) {
        return s;
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::pair<EvpPkeyPtr, EcCurve>> CheckEeKey(X509* ee) {
  EvpPkeyPtr key(X509_get_pubkey(ee));
  if (key == nullptr) {
    return RuleError("ee-key", absl::StrCat("the ee's public key cannot be read: ", ConsumeOpenSslErrors()));
  }
  absl::StatusOr<EcCurve> curve = EcCurveOfKey(key.get());
  if (!curve.ok()) {
    const char* type = EVP_PKEY_get0_type_name(key.get());
    return RuleError("ee-key", absl::StrCat("the ee's public key (", type != nullptr ? type : "unknown type",
                                            ") is not usable: ", curve.status().message(),
                                            "; Content-Signature needs ECDSA on P-256, P-384 or P-521"));
  }
  return std::pair{std::move(key), *curve};
}

}  // namespace

absl::StatusOr<std::vector<uint8_t>> ParseSha256Fingerprint(std::string_view text) {
  auto problem = [text](std::string_view what) {
    return absl::InvalidArgumentError(
        absl::StrCat("SHA-256 fingerprint ", Quote(text, 100), ": ", Av(what),
                     "; expected 64 hex digits, optionally as 32 colon-separated pairs (AB:CD:...)"));
  };
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != ':' && HexDigitValue(text[i]) < 0) {
      return problem(absl::StrCat("invalid character ", Quote(text.substr(i, 1)), " at offset ", i));
    }
  }
  if (text.find(':') != std::string_view::npos) {
    // Colons only between pairs: "AB:CD", never "ABC:D", "AB::CD" or "AB:CD:".
    for (size_t i = 0; i < text.size(); ++i) {
      if ((text[i] == ':') != (i % 3 == 2)) {
        return problem(absl::StrCat(text[i] == ':' ? "misplaced ':'" : "expected ':'", " at offset ", i));
      }
    }
    if (text.size() % 3 != 2)
      return problem(text.size() % 3 == 0 ? "trailing ':'" : "a lone digit at the end");
    if (const size_t pairs = (text.size() + 1) / 3; pairs != kSha256Bytes) {
      return problem(absl::StrCat(pairs, " colon-separated pairs, not ", kSha256Bytes));
    }
  } else if (text.size() != 2 * kSha256Bytes) {
    return problem(absl::StrCat(text.size(), " hex digits, not ", 2 * kSha256Bytes));
  }
  return HexDecode(text, /*allow_colons=*/true);
}

std::string CertSha256Fingerprint(const X509* cert) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (cert == nullptr || X509_digest(cert, EVP_sha256(), md, &len) != 1) {
    OpenSslInvariantFailure("X509_digest(SHA-256)");
  }
  return ColonHex({md, len});
}

absl::StatusOr<CertChain> ParseChainPem(std::string_view pem) {
  if (pem.size() > kMaxChainBytes) {
    return RuleError(
        "size", absl::StrCat("the chain is ", pem.size(), " bytes, more than the limit of ", kMaxChainBytes));
  }
  std::vector<X509Ptr> certs;
  size_t pos = 0;
  while (true) {
    while (pos < pem.size() && IsPemSpace(pem[pos])) ++pos;
    if (pos == pem.size()) break;
    const size_t line = LineAt(pem, pos);
    const std::string label = BlockLabel(certs.size());
    std::string_view rest = pem.substr(pos);
    const size_t eol = rest.find('\n');
    std::string_view first_line = rest.substr(0, eol);
    if (first_line.ends_with('\r')) first_line.remove_suffix(1);
    if (!first_line.starts_with(kBeginPrefix)) {
      return RuleError("format",
                       absl::StrCat("line ", line, ": unexpected ", Quote(first_line),
                                    certs.empty() ? " before the first certificate"
                                                  : absl::StrCat(" after certificate ", certs.size()),
                                    "; only whitespace may surround the PEM CERTIFICATE blocks"));
    }
    if (first_line != kBeginLine) {
      return RuleError("format", absl::StrCat("line ", line, ": ", Quote(first_line),
                                              " begins a block that is not a CERTIFICATE; only "
                                              "\"-----BEGIN CERTIFICATE-----\" blocks are allowed"));
    }
    if (eol == std::string_view::npos) {
      return RuleError("format", absl::StrCat("line ", line, ": ", label, " has no body and no END line"));
    }
    const size_t body = pos + eol + 1;
    const size_t end = pem.find(kEndLine, body);
    if (end == std::string_view::npos) {
      return RuleError("format", absl::StrCat(label, " (BEGIN at line ", line,
                                              ") has no \"-----END CERTIFICATE-----\" line"));
    }
    const size_t after = end + kEndLine.size();
    if (pem[end - 1] != '\n' || (after < pem.size() && !IsPemSpace(pem[after]))) {
      return RuleError("format", absl::StrCat("line ", LineAt(pem, end), ": the END line of ", label,
                                              " must be a line of its own"));
    }
    absl::StatusOr<std::vector<uint8_t>> der = DecodePemBody(pem, body, end, label);
    if (!der.ok()) return RuleError("format", Sv(der.status().message()));
    absl::StatusOr<X509Ptr> cert = ParseDer(*der, label);
    if (!cert.ok()) return RuleError("format", Sv(cert.status().message()));
    certs.push_back(std::move(*cert));
    pos = after;
  }
  if (certs.size() != 3) {
    return RuleError("count",
                     absl::StrCat("found ", certs.size(),
                                  " certificates; a chain is exactly 3 (end entity, intermediate, root)"));
  }
  return CertChain{std::move(certs[kEe]), std::move(certs[kIntermediate]), std::move(certs[kRoot])};
}

absl::StatusOr<VerifiedChain> VerifyChain(const CertChain& chain, const ChainPolicy& policy) {
  const std::array<X509*, 3> certs = {chain.ee.get(), chain.intermediate.get(), chain.root.get()};
  for (size_t i = 0; i < certs.size(); ++i) {
    if (certs[i] == nullptr) {
      return RuleError("count", absl::StrCat("the chain has no ", Av(kRoleNames[i]), " certificate"));
    }
  }
  std::array<absl::Time, 3> not_after;
  if (absl::Status s = CheckValidity(certs, policy.at, not_after); !s.ok()) return s;
  if (absl::Status s = CheckChainOrder(certs); !s.ok()) return s;
  if (absl::Status s = CheckIssuerSignatures(certs); !s.ok()) return s;
  if (absl::Status s = CheckRootSelfSigned(certs[kRoot]); !s.ok()) return s;
  if (absl::Status s = CheckCaFlags(certs); !s.ok()) return s;
  if (absl::Status s = CheckRootPin(certs[kRoot], policy.root_sha256); !s.ok()) return s;
  if (absl::Status s = CheckCodeSigningEku(certs); !s.ok()) return s;
  if (absl::Status s = CheckEeName(certs[kEe], policy.ee_name); !s.ok()) return s;
  if (absl::Status s = CheckNameConstraints(certs); !s.ok()) return s;
  absl::StatusOr<std::pair<EvpPkeyPtr, EcCurve>> key = CheckEeKey(certs[kEe]);
  if (!key.ok()) return key.status();
  return VerifiedChain{std::move(key->first), key->second, not_after[kEe], not_after[kIntermediate],
                       not_after[kRoot]};
}

absl::StatusOr<VerifiedChain> VerifyChainPem(std::string_view pem, const ChainPolicy& policy) {
  absl::StatusOr<CertChain> chain = ParseChainPem(pem);
  if (!chain.ok()) return chain.status();
  return VerifyChain(*chain, policy);
}

absl::Status VerifyContentSignatureWithChain(std::string_view chain_pem, const ChainPolicy& policy,
                                             std::span<const uint8_t> data, std::string_view signature) {
  absl::StatusOr<VerifiedChain> chain = VerifyChainPem(chain_pem, policy);
  if (!chain.ok()) return chain.status();
  const EcCurveInfo& info = GetEcCurveInfo(chain->curve);
  std::string b64(signature);
  if (signature.find('=') != std::string_view::npos) {
    absl::StatusOr<ContentSignatureHeader> header = ParseHeader(signature);
    if (!header.ok()) return RuleError("signature", Sv(header.status().message()));
    if (header->curve != chain->curve) {
      const EcCurveInfo& sig_info = GetEcCurveInfo(header->curve);
      return RuleError("signature",
                       absl::StrCat("the header carries ", Av(sig_info.cs_param), " (", Av(sig_info.name),
                                    ") but the ee key is on ", Av(info.name), " (", Av(info.cs_param), ")"));
    }
    b64 = std::move(header->signature);
  }
  if (absl::Status s = VerifyData(chain->ee_public_key.get(), chain->curve, data, b64); !s.ok()) {
    return RuleError("signature", absl::StrCat(s.message(), " (ee key on ", Av(info.name), ")"));
  }
  return absl::OkStatus();
}

}  // namespace signet::signing
