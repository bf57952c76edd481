// X.509 certificate objects on the token. Storing the EE certificate with its key's CKA_ID is what
// activates a key (DESIGN §2), so every replica sharing the token sees the same state.
#ifndef SIGNET_PKCS11_CERTIFICATE_H_
#define SIGNET_PKCS11_CERTIFICATE_H_

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "pkcs11/session.h"

namespace signet::pkcs11 {

inline constexpr size_t kMaxCertificateBytes = 64 * 1024;

struct CertificateObject {
  CK_OBJECT_HANDLE handle = CK_INVALID_HANDLE;
  std::string label;
  std::vector<uint8_t> id;
  std::vector<uint8_t> der;
};

// Stores a DER certificate as a token CKO_CERTIFICATE (CKC_X_509) with CKA_ID, CKA_LABEL, CKA_SUBJECT,
// CKA_ISSUER and CKA_SERIAL_NUMBER taken from the certificate. The DER must parse, with no trailing bytes.
absl::Status StoreCertificate(const Session& rw_session, std::span<const uint8_t> der, std::span<const uint8_t> id,
                              std::string_view label);

// Certificates on the token; with an id, only those carrying it.
absl::StatusOr<std::vector<CertificateObject>> FindCertificates(const Session& session,
                                                                std::optional<std::span<const uint8_t>> id);

}  // namespace signet::pkcs11

#endif  // SIGNET_PKCS11_CERTIFICATE_H_
