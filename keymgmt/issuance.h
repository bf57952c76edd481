// The certificates of the Content-Signature PKI (DESIGN §2): the self-signed root, the intermediate
// the root issues in a ceremony, and the end-entity certificates the intermediate issues at each
// rotation. Issuer keys are EVP_PKEYs, normally HSM keys behind the OpenSSL bridge
// (pkcs11/openssl_bridge.h); this file never sees key material. Every certificate is verified
// against its issuer's public key before it is returned, so an HSM that signs wrongly is caught here.
#ifndef SIGNET_KEYMGMT_ISSUANCE_H_
#define SIGNET_KEYMGMT_ISSUANCE_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/openssl_ptr.h"

namespace signet::keymgmt {

inline constexpr size_t kMaxDnFieldBytes = 64;  // ub-common-name and friends (RFC 5280)

struct DistinguishedName {
  std::string common_name;          // required
  std::string organization;         // optional
  std::string organizational_unit;  // optional
  std::string country;              // optional; two upper-case letters
};

// Validates every field (printable UTF-8, 1..64 bytes, country two letters) and builds the X509_NAME.
// Errors name the field ("subject.common_name: ...").
absl::StatusOr<X509NamePtr> BuildName(const DistinguishedName& dn, const std::string& field = "subject");

// A DNS name with an optional leading '.', as a permitted nameConstraints subtree.
absl::Status ValidatePermittedSubtree(const std::string& subtree);

struct RootCertSpec {
  DistinguishedName subject;
  absl::Time not_before;
  absl::Time not_after;
};

struct IntermediateCertSpec {
  DistinguishedName subject;
  // The only DNS subtree end entities may use, e.g. ".content-signature.example.org" (a leading '.'
  // permits names below it only).
  std::string permitted_dns_subtree;
  absl::Time not_before;
  absl::Time not_after;
};

struct EndEntityCertSpec {
  std::string dns_name;  // the DNS SAN (and CN) that verifiers compare with the expected name
  absl::Time not_before;
  absl::Time not_after;
};

// Self-signed: CA:TRUE (critical), keyCertSign+cRLSign (critical), codeSigning EKU, SKI.
// `root_key` signs (an HSM bridge key); `root_public_key` is its public half, the certificate's key.
absl::StatusOr<X509Ptr> IssueRootCertificate(EVP_PKEY* root_key, const EVP_PKEY* root_public_key,
                                             const RootCertSpec& spec);

// Signed by the root: CA:TRUE pathlen:0 (critical), keyCertSign+cRLSign (critical), codeSigning EKU,
// nameConstraints permitting only spec.permitted_dns_subtree (critical), SKI, AKI. Its validity must
// lie within the root's.
absl::StatusOr<X509Ptr> IssueIntermediateCertificate(const X509* root_cert, EVP_PKEY* root_key,
                                                     const EVP_PKEY* intermediate_public_key,
                                                     const IntermediateCertSpec& spec);

// Signed by the intermediate: CA:FALSE (critical), digitalSignature (critical), codeSigning EKU, the
// DNS SAN, SKI, AKI. Its validity must lie within the intermediate's, and its name within the
// intermediate's name constraints.
absl::StatusOr<X509Ptr> IssueEndEntityCertificate(const X509* intermediate_cert, EVP_PKEY* intermediate_key,
                                                  const EVP_PKEY* ee_public_key,
                                                  const EndEntityCertSpec& spec);

}  // namespace signet::keymgmt

#endif  // SIGNET_KEYMGMT_ISSUANCE_H_
