// signetd's TLS profile and client-certificate revocation (SECURITY.md, "TLS profile").
//
// gRPC 1.51 takes revocation lists only as a directory in OpenSSL's hashed form
// (TlsCredentialsOptions::set_crl_directory: files named <issuer name hash>.r<N>, read through
// X509_LOOKUP_hash_dir). The operator gives one file, server.tls.crl_file; CrlDirectory validates it
// and lays it out in a private directory of that form, and adds a newer CRL there on reload.
#ifndef SIGNET_DAEMON_TLS_H_
#define SIGNET_DAEMON_TLS_H_

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/openssl_ptr.h"
#include "daemon/config.h"

namespace signet::daemon {

// Mozilla's "intermediate" TLS 1.2 suites (ECDHE only: gRPC has no DHE parameters). TLS 1.3 suites
// are OpenSSL's defaults (AES-GCM and ChaCha20-Poly1305), all of which the profile allows.
inline constexpr char kIntermediateCipherSuites[] =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

// gRPC 1.51 has no API for its TLS 1.2 cipher list: it reads GRPC_SSL_CIPHER_SUITES once, when the
// process builds its first TLS credentials. This sets it to kIntermediateCipherSuites (replacing any
// value from the environment). Call it before anything touches gRPC: first thing in main, or in a
// test before its first server or channel.
void UseSignetGrpcCipherSuites();

// Bound on server.tls.crl_file.
inline constexpr size_t kMaxCrlFileBytes = 16 * 1024 * 1024;

struct ClientCrl {
  X509CrlPtr crl;
  std::string issuer;       // one-line form, for messages
  std::string issuer_der;   // the issuer name's DER: identifies the issuer
  unsigned long hash = 0;   // X509_NAME_hash_ex of the issuer, as X509_LOOKUP_hash_dir names files
  absl::Time this_update;
  std::optional<absl::Time> next_update;  // absent: the CRL never expires
  size_t revoked = 0;
};

// Reads server.tls.crl_file: PEM with one or more "X509 CRL" blocks, or a single DER CRL. Each CRL
// must be issued and signed by a certificate in server.tls.client_ca_file whose keyUsage allows
// cRLSign, must not be a delta CRL, and must be current at `now` (thisUpdate <= now < nextUpdate);
// there may be one CRL per issuer, and every certificate in client_ca_file must have one (an empty
// CRL when nothing is revoked), because gRPC lets a client through unchecked when its CA has no CRL.
// Every error is InvalidArgument (NotFound for a missing file) and starts with server.tls.crl_file.
absl::StatusOr<std::vector<ClientCrl>> LoadClientCrls(const TlsConfig& tls, absl::Time now);

// The private directory (mode 0700, under $RUNTIME_DIRECTORY, else $TMPDIR, else /tmp) that gRPC
// reads CRLs from, removed with this object.
class CrlDirectory {
 public:
  // Validates server.tls.crl_file (LoadClientCrls) and writes each CRL as <issuer hash>.r0.
  static absl::StatusOr<std::unique_ptr<CrlDirectory>> Create(const TlsConfig& tls, absl::Time now);
  ~CrlDirectory();
  CrlDirectory(const CrlDirectory&) = delete;
  CrlDirectory& operator=(const CrlDirectory&) = delete;

  const std::string& path() const { return dir_; }
  // What is in use, for a log line: "2 CRLs (CN=A: 1 revoked, next update ...; ...)".
  std::string Summary() const;
  // The earliest nextUpdate of the CRLs in use: past it, OpenSSL refuses every client of that CRL's CA.
  // nullopt when none of them has one (they never expire).
  std::optional<absl::Time> EarliestNextUpdate() const;

  // Re-reads server.tls.crl_file (SIGHUP). The file must pass LoadClientCrls (also when its bytes did
  // not change: a CRL may have expired, or client_ca_file gained a CA). Unchanged bytes: nothing else
  // happens. Otherwise each changed CRL must be newer (a later thisUpdate) than the one in use for its
  // issuer; then it is added as the next <hash>.r<N>, which OpenSSL picks up on the next handshake and
  // prefers, being newer. A CA whose CRL the file no longer has (it left client_ca_file) drops out of
  // Summary and EarliestNextUpdate. On any error nothing is written and the CRLs in use stay in force.
  // Returns the new Summary(), or "unchanged, still valid: " and the Summary().
  absl::StatusOr<std::string> Reload(absl::Time now);

 private:
  CrlDirectory(TlsConfig tls, std::string dir) : tls_(std::move(tls)), dir_(std::move(dir)) {}
  absl::Status Add(std::vector<ClientCrl> crls, const std::string& file_sha256);
  std::string SummaryLocked() const;

  const TlsConfig tls_;
  const std::string dir_;
  mutable std::mutex mu_;
  std::string file_sha256_;                     // of the crl_file bytes in use
  std::map<unsigned long, int> next_suffix_;     // by issuer hash
  std::map<std::string, ClientCrl> in_use_;      // by issuer_der
};

}  // namespace signet::daemon

#endif  // SIGNET_DAEMON_TLS_H_
