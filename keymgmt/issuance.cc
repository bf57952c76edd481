#include "keymgmt/issuance.h"

#include <openssl/x509v3.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/absl_compat.h"
#include "common/ec_curve.h"
#include "common/openssl_error.h"
#include "common/utf8.h"
#include "keymgmt/x509_builder.h"

namespace signet::keymgmt {
namespace {

absl::Status CheckDnField(const std::string& field, const std::string& value, bool required) {
  if (value.empty()) {
    if (required) return absl::InvalidArgumentError(absl::StrCat(field, ": required"));
    return absl::OkStatus();
  }
  if (value.size() > kMaxDnFieldBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": ", value.size(), " bytes, more than the limit of ", kMaxDnFieldBytes));
  }
  for (unsigned char c : value) {
    if (c < 0x20 || c == 0x7f)
      return absl::InvalidArgumentError(absl::StrCat(field, ": contains a control character"));
  }
  // Certificates carry it as a UTF8String: OpenSSL refuses anything else, and AddEntry treats a refusal
  // as a broken invariant.
  const auto* p = reinterpret_cast<const unsigned char*>(value.data());
  for (size_t i = 0; i < value.size();) {
    size_t bad = 0;
    const size_t len = Utf8Sequence(p + i, value.size() - i, &bad);
    if (len == 0) {
      return absl::InvalidArgumentError(absl::StrCat(field, ": is not valid UTF-8 (at byte ", i, ")"));
    }
    i += len;
  }
  return absl::OkStatus();
}

void AddEntry(X509_NAME* name, int nid, const std::string& value) {
  if (value.empty()) return;
  CheckOpenSsl(X509_NAME_add_entry_by_NID(name, nid, MBSTRING_UTF8,
                                          reinterpret_cast<const unsigned char*>(value.data()),
                                          static_cast<int>(value.size()), -1, 0) == 1,
               "X509_NAME_add_entry_by_NID");
}

// The digest an ECDSA issuer signs certificates with: the hash that matches its curve.
absl::StatusOr<const EVP_MD*> IssuerDigest(const EVP_PKEY* issuer_public_key, std::string_view who) {
  auto curve = EcCurveOfKey(issuer_public_key);
  if (!curve.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(Av(who), " key: ", curve.status().message()));
  }
  return GetEcCurveInfo(*curve).md();
}

absl::Status CheckWithin(const X509* issuer, const Validity& v, std::string_view what,
                         std::string_view issuer_name) {
  const time_t nb = v.not_before;
  const time_t na = v.not_after;
  if (X509_cmp_time(X509_get0_notBefore(issuer), const_cast<time_t*>(&nb)) > 0 ||
      X509_cmp_time(X509_get0_notAfter(issuer), const_cast<time_t*>(&na)) < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(Av(what), " validity (", absl::FormatTime(absl::FromTimeT(nb)), " .. ",
                     absl::FormatTime(absl::FromTimeT(na)), ") must lie within the ", Av(issuer_name),
                     " certificate's validity"));
  }
  return absl::OkStatus();
}

absl::Status SignAndVerify(X509* cert, EVP_PKEY* key, const EVP_PKEY* issuer_public_key, const EVP_MD* md,
                           std::string_view what) {
  if (absl::Status s = SignCertificate(cert, key, md); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat(Av(what), ": ", s.message()));
  }
  if (X509_verify(cert, const_cast<EVP_PKEY*>(issuer_public_key)) != 1) {
    ERR_clear_error();
    return absl::InternalError(absl::StrCat(
        Av(what), ": the new certificate's signature does not verify with the issuer's public key"));
  }
  return absl::OkStatus();
}

void AddKeyIdentifiers(X509* cert, const X509* issuer) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, const_cast<X509*>(issuer), cert, nullptr, nullptr, 0);
  AddConfExtension(cert, &ctx, NID_subject_key_identifier, "hash");
  if (issuer != cert) AddConfExtension(cert, &ctx, NID_authority_key_identifier, "keyid:always");
}

// The parts every CA-issued certificate shares: the issuer is a CA, the validity lies within the
// issuer's, the issuer name is set and the digest follows the issuer key's curve. Extensions and the
// signature are the caller's.
struct Draft {
  X509Ptr cert;
  const EVP_PKEY* issuer_public = nullptr;
  const EVP_MD* md = nullptr;
};
absl::StatusOr<Draft> DraftUnder(const X509* issuer, std::string_view issuer_role, std::string_view what,
                                 const X509_NAME* subject, const EVP_PKEY* subject_key, absl::Time not_before,
                                 absl::Time not_after) {
  if (X509_check_ca(const_cast<X509*>(issuer)) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(Av(what), " certificate: the ", Av(issuer_role), " certificate is not a CA"));
  }
  auto validity = ValidateValidity(not_before, not_after);
  if (!validity.ok()) return validity.status();
  if (auto s = CheckWithin(issuer, *validity, what, issuer_role); !s.ok()) return s;
  Draft d;
  d.issuer_public = X509_get0_pubkey(issuer);
  auto md = IssuerDigest(d.issuer_public, issuer_role);
  if (!md.ok()) return md.status();
  d.md = *md;
  d.cert = NewCertificate(subject, subject_key, *validity);
  CheckOpenSsl(X509_set_issuer_name(d.cert.get(), X509_get_subject_name(issuer)) == 1,
               "X509_set_issuer_name");
  return d;
}

}  // namespace

absl::Status ValidatePermittedSubtree(const std::string& subtree) {
  if (subtree.empty()) return absl::InvalidArgumentError("permitted_dns_subtree: required");
  std::string bare = subtree.front() == '.' ? subtree.substr(1) : subtree;
  return ValidateDnsName(bare, "permitted_dns_subtree", /*allow_wildcard=*/false);
}

absl::StatusOr<X509NamePtr> BuildName(const DistinguishedName& dn, const std::string& field) {
  if (auto s = CheckDnField(field + ".common_name", dn.common_name, true); !s.ok()) return s;
  if (auto s = CheckDnField(field + ".organization", dn.organization, false); !s.ok()) return s;
  if (auto s = CheckDnField(field + ".organizational_unit", dn.organizational_unit, false); !s.ok()) return s;
  if (!dn.country.empty() && (dn.country.size() != 2 || dn.country[0] < 'A' || dn.country[0] > 'Z' ||
                              dn.country[1] < 'A' || dn.country[1] > 'Z')) {
    return absl::InvalidArgumentError(absl::StrCat(field,
                                                   ".country: must be two upper-case letters (ISO 3166), got '",
                                                   absl::CHexEscape(dn.country.substr(0, 8)), "'"));
  }
  X509NamePtr name(X509_NAME_new());
  CheckOpenSsl(name != nullptr, "X509_NAME_new");
  AddEntry(name.get(), NID_countryName, dn.country);
  AddEntry(name.get(), NID_organizationName, dn.organization);
  AddEntry(name.get(), NID_organizationalUnitName, dn.organizational_unit);
  AddEntry(name.get(), NID_commonName, dn.common_name);
  return name;
}

absl::StatusOr<X509Ptr> IssueRootCertificate(EVP_PKEY* root_key, const EVP_PKEY* root_public_key,
                                             const RootCertSpec& spec) {
  if (root_key == nullptr || root_public_key == nullptr) {
    return absl::InvalidArgumentError("root certificate: the root key and its public key are required");
  }
  auto name = BuildName(spec.subject);
  if (!name.ok()) return name.status();
  auto validity = ValidateValidity(spec.not_before, spec.not_after);
  if (!validity.ok()) return validity.status();
  // The digest follows the public key's curve: the signing key may be an HSM bridge key that OpenSSL
  // cannot query for its parameters.
  auto md = IssuerDigest(root_public_key, "root");
  if (!md.ok()) return md.status();
  X509Ptr cert = NewCertificate(name->get(), root_public_key, *validity);
  CheckOpenSsl(X509_set_issuer_name(cert.get(), name->get()) == 1, "X509_set_issuer_name");
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, cert.get(), cert.get(), nullptr, nullptr, 0);
  AddConfExtension(cert.get(), &ctx, NID_basic_constraints, "critical,CA:TRUE");
  AddConfExtension(cert.get(), &ctx, NID_key_usage, "critical,keyCertSign,cRLSign");
  AddConfExtension(cert.get(), &ctx, NID_ext_key_usage, "codeSigning");
  AddKeyIdentifiers(cert.get(), cert.get());
  if (auto s = SignAndVerify(cert.get(), root_key, root_public_key, *md, "root certificate"); !s.ok()) {
    return s;
  }
  return cert;
}

absl::StatusOr<X509Ptr> IssueIntermediateCertificate(const X509* root_cert, EVP_PKEY* root_key,
                                                     const EVP_PKEY* intermediate_public_key,
                                                     const IntermediateCertSpec& spec) {
  if (root_cert == nullptr || root_key == nullptr || intermediate_public_key == nullptr) {
    return absl::InvalidArgumentError(
        "intermediate certificate: root certificate, root key and intermediate key are required");
  }
  if (auto s = ValidatePermittedSubtree(spec.permitted_dns_subtree); !s.ok()) return s;
  auto name = BuildName(spec.subject);
  if (!name.ok()) return name.status();
  auto draft = DraftUnder(root_cert, "root", "intermediate", name->get(), intermediate_public_key,
                          spec.not_before, spec.not_after);
  if (!draft.ok()) return draft.status();
  X509Ptr cert = std::move(draft->cert);
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, const_cast<X509*>(root_cert), cert.get(), nullptr, nullptr, 0);
  AddConfExtension(cert.get(), &ctx, NID_basic_constraints, "critical,CA:TRUE,pathlen:0");
  AddConfExtension(cert.get(), &ctx, NID_key_usage, "critical,keyCertSign,cRLSign");
  AddConfExtension(cert.get(), &ctx, NID_ext_key_usage, "codeSigning");

  // nameConstraints built directly (not through the config syntax) because the subtree is input.
  NameConstraintsPtr nc(NAME_CONSTRAINTS_new());
  CheckOpenSsl(nc != nullptr, "NAME_CONSTRAINTS_new");
  nc->permittedSubtrees = sk_GENERAL_SUBTREE_new_null();
  CheckOpenSsl(nc->permittedSubtrees != nullptr, "sk_GENERAL_SUBTREE_new_null");
  GeneralSubtreePtr subtree(GENERAL_SUBTREE_new());
  CheckOpenSsl(subtree != nullptr, "GENERAL_SUBTREE_new");
  {
    GeneralNamesPtr tmp(GENERAL_NAMES_new());
    CheckOpenSsl(tmp != nullptr, "GENERAL_NAMES_new");
    PushIa5Name(tmp.get(), GEN_DNS, spec.permitted_dns_subtree);
    GENERAL_NAME_free(subtree->base);
    subtree->base = sk_GENERAL_NAME_pop(tmp.get());
  }
  CheckOpenSsl(sk_GENERAL_SUBTREE_push(nc->permittedSubtrees, subtree.get()) > 0, "sk_GENERAL_SUBTREE_push");
  (void)subtree.release();
  CheckOpenSsl(X509_add1_ext_i2d(cert.get(), NID_name_constraints, nc.get(), 1, X509V3_ADD_DEFAULT) == 1,
               "X509_add1_ext_i2d(nameConstraints)");
  AddKeyIdentifiers(cert.get(), root_cert);
  if (auto s =
          SignAndVerify(cert.get(), root_key, draft->issuer_public, draft->md, "intermediate certificate");
      !s.ok())
    return s;
  return cert;
}

absl::StatusOr<X509Ptr> IssueEndEntityCertificate(const X509* intermediate_cert, EVP_PKEY* intermediate_key,
                                                  const EVP_PKEY* ee_public_key,
                                                  const EndEntityCertSpec& spec) {
  if (intermediate_cert == nullptr || intermediate_key == nullptr || ee_public_key == nullptr) {
    return absl::InvalidArgumentError(
        "end-entity certificate: intermediate certificate, intermediate key and end-entity key are required");
  }
  if (auto s = ValidateDnsName(spec.dns_name, "ee_name", /*allow_wildcard=*/false); !s.ok()) return s;
  DistinguishedName dn{.common_name = spec.dns_name};
  auto name = BuildName(dn);
  if (!name.ok()) return name.status();
  auto draft = DraftUnder(intermediate_cert, "intermediate", "end-entity", name->get(), ee_public_key,
                          spec.not_before, spec.not_after);
  if (!draft.ok()) return draft.status();
  X509Ptr cert = std::move(draft->cert);
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, const_cast<X509*>(intermediate_cert), cert.get(), nullptr, nullptr, 0);
  AddConfExtension(cert.get(), &ctx, NID_basic_constraints, "critical,CA:FALSE");
  AddConfExtension(cert.get(), &ctx, NID_key_usage, "critical,digitalSignature");
  AddConfExtension(cert.get(), &ctx, NID_ext_key_usage, "critical,codeSigning");
  GeneralNamesPtr sans(GENERAL_NAMES_new());
  CheckOpenSsl(sans != nullptr, "GENERAL_NAMES_new");
  PushIa5Name(sans.get(), GEN_DNS, spec.dns_name);
  CheckOpenSsl(X509_add1_ext_i2d(cert.get(), NID_subject_alt_name, sans.get(), 0, X509V3_ADD_DEFAULT) == 1,
               "X509_add1_ext_i2d(subjectAltName)");
  AddKeyIdentifiers(cert.get(), intermediate_cert);

  // Refuse a name the intermediate may not certify before the HSM signs anything. NAME_CONSTRAINTS_check
  // reads the certificate's cached subjectAltName, which OpenSSL fills in only when the extension cache
  // is first computed: compute it now that every extension is in place.
  (void)X509_get_extension_flags(cert.get());
  int idx = -1;
  auto* nc = static_cast<NAME_CONSTRAINTS*>(
      X509_get_ext_d2i(intermediate_cert, NID_name_constraints, nullptr, &idx));
  if (nc != nullptr) {
    NameConstraintsPtr owned(nc);
    if (NAME_CONSTRAINTS_check(cert.get(), nc) != X509_V_OK) {
      return absl::InvalidArgumentError(
          absl::StrCat("ee_name '", spec.dns_name, "' is outside the intermediate's name constraints"));
    }
  }
  if (auto s = SignAndVerify(cert.get(), intermediate_key, draft->issuer_public, draft->md,
                             "end-entity certificate");
      !s.ok()) {
    return s;
  }
  return cert;
}

}  // namespace signet::keymgmt
