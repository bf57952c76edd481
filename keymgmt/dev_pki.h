// A throwaway development PKI for signetd's mutual TLS: one CA, a server certificate and client
// certificates. These are ordinary software TLS keys written to files; the HSM is not involved and no
// signing key is ever made here. Never use this PKI in production.
#ifndef SIGNET_KEYMGMT_DEV_PKI_H_
#define SIGNET_KEYMGMT_DEV_PKI_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/openssl_ptr.h"
#include "keymgmt/x509_builder.h"  // CertPem

namespace signet::keymgmt {

// Input bounds: ub-common-name from RFC 5280, and generous caps for SANs.
inline constexpr size_t kMaxCommonNameBytes = 64;
inline constexpr size_t kMaxSansPerKind = 32;
inline constexpr size_t kMaxSanBytes = 255;

struct CertSpec {
  std::string common_name;
  std::vector<std::string> dns_sans;
  std::vector<std::string> ip_sans;  // IPv4 dotted quad or IPv6 text form
  std::vector<std::string> uri_sans;
  bool server_auth = false;
  bool client_auth = false;  // at least one of server_auth / client_auth must be set
  absl::Time not_before;
  absl::Time not_after;
};

struct KeyAndCert {
  EvpPkeyPtr key;
  X509Ptr cert;
};

// A self-signed P-256 CA: basicConstraints critical CA:TRUE pathlen:0, keyUsage critical
// keyCertSign+cRLSign, subjectKeyIdentifier.
absl::StatusOr<KeyAndCert> CreateCa(const std::string& common_name, absl::Time not_before,
                                    absl::Time not_after);

// A P-256 end-entity certificate signed by `ca`: random positive 128-bit serial, AKI/SKI, CA:FALSE,
// keyUsage digitalSignature+keyAgreement, EKU serverAuth/clientAuth per the spec, and the SANs given.
// Bad input is InvalidArgument naming the field and the bound.
absl::StatusOr<KeyAndCert> IssueCert(const KeyAndCert& ca, const CertSpec& spec);

// Unencrypted PKCS#8 ("BEGIN PRIVATE KEY").
absl::StatusOr<std::string> PrivateKeyPem(const EVP_PKEY* key);

// Writes <dir>/<stem>.pem (0644) and <dir>/<stem>.key (0600); refuses (AlreadyExists) if either exists.
absl::Status WriteKeyAndCert(const KeyAndCert& kc, const std::string& dir, const std::string& stem);

struct DevPkiOptions {
  std::string dir;
  std::vector<std::string> server_names = {"localhost"};  // DNS SANs; the first is also the CN
  std::vector<std::string> server_ips = {"127.0.0.1", "::1"};
  std::vector<std::pair<std::string, std::string>> clients;  // name, URI SAN (may be empty)
  absl::Duration validity = absl::Hours(24 * 30);
  absl::Time now = absl::Now();
};

// The file names (without the directory) that CreateDevPki writes, in the order it writes them:
// ca.pem, ca.key, server.pem, server.key, then client-<name>.pem / .key for each client.
std::vector<std::string> DevPkiFileNames(const DevPkiOptions& options);

// Creates `dir` (0700) if missing and writes the CA, the server pair (serverAuth) and one client pair
// per client (clientAuth, CN = name, the URI SAN if given). Validates everything and refuses if any
// output exists before writing anything; if a write fails part-way, removes what it wrote. Prints nothing.
absl::Status CreateDevPki(const DevPkiOptions& options);

}  // namespace signet::keymgmt

#endif  // SIGNET_KEYMGMT_DEV_PKI_H_
