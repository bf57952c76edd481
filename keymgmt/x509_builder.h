// The small set of X.509 building blocks every certificate Signet issues is made of: the throwaway
// dev PKI (dev_pki.h) and the Content-Signature PKI (issuance.h) share them, so a serial, a time or
// an extension is encoded one way only.
#ifndef SIGNET_KEYMGMT_X509_BUILDER_H_
#define SIGNET_KEYMGMT_X509_BUILDER_H_

#include <ctime>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/dns_name.h"  // ValidateDnsName, used with these blocks
#include "common/openssl_ptr.h"

namespace signet::keymgmt {

// For OpenSSL calls that fail only when memory runs out or a built-in algorithm is missing: prints
// what failed and aborts (a broken invariant, DESIGN §5.2).
void CheckOpenSsl(bool ok, const char* what);

struct Validity {
  time_t not_before;
  time_t not_after;
};

// Finite times, not_after later than not_before once truncated to X.509's one-second resolution.
absl::StatusOr<Validity> ValidateValidity(absl::Time not_before, absl::Time not_after);

// A v3 certificate with a random positive 128-bit serial, the validity, `subject` and the subject key's
// SPKI. Issuer, extensions and signature are the caller's.
X509Ptr NewCertificate(const X509_NAME* subject, const EVP_PKEY* subject_key, const Validity& validity);

// Adds an extension from OpenSSL's config syntax. Only fixed strings from Signet's code are passed,
// never input.
void AddConfExtension(X509* cert, X509V3_CTX* ctx, int nid, const char* value);

// Appends an IA5String name (GEN_DNS, GEN_URI, GEN_EMAIL) to `names`.
void PushIa5Name(GENERAL_NAMES* names, int type, const std::string& value);

// Signs with `md` (the bridge sends the digest to the HSM for an HSM key).
absl::Status SignCertificate(X509* cert, EVP_PKEY* key, const EVP_MD* md);

// The certificate as one PEM block.
std::string CertPem(const X509* cert);

// DER of the certificate.
std::string CertDer(const X509* cert);

// Parses exactly one PEM certificate (at most 128 KiB) from a file meant to hold one; `what` names it
// in messages. No certificate, or a second one, is InvalidArgument.
absl::StatusOr<X509Ptr> ParseOnePemCertificate(std::string_view pem, std::string_view what);

// notBefore/notAfter of a certificate this code made or already parsed; an unreadable time is
// InfinitePast, which never passes a validity check ("expired" as notAfter).
absl::Time CertTime(const ASN1_TIME* t);

}  // namespace signet::keymgmt

#endif  // SIGNET_KEYMGMT_X509_BUILDER_H_
