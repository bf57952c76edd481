// Raw TLS handshakes with OpenSSL, for tests of what a server accepts: a client that can be told to
// offer only old protocol versions or weak cipher suites (security level 0), and a permissive server
// that accepts everything OpenSSL can still do, as the control that proves such a client really
// offers what it was told to (so a refusal by the server under test is the server's doing).
#ifndef SIGNET_TESTS_TESTING_TLS_PROBE_H_
#define SIGNET_TESTS_TESTING_TLS_PROBE_H_

#include <atomic>
#include <memory>
#include <ostream>
#include <string>
#include <thread>

#include "absl/status/statusor.h"

namespace signet::testing {

struct TlsClientSpec {
  std::string name;            // for messages
  int min_version = 0;         // TLS1_VERSION .. TLS1_3_VERSION; 0 = OpenSSL's default
  int max_version = 0;
  std::string cipher_list;     // TLS 1.2 and older (OpenSSL cipher string); "" = default
  std::string ciphersuites;    // TLS 1.3; "" = default
  std::string cert_pem;        // client certificate and key, optional
  std::string key_pem;
  std::string alpn;            // one protocol, e.g. "h2"; "" = none
  // Sent once the handshake is done; the server must answer with at least one byte for the
  // connection to count as accepted (a TLS 1.3 server rejects a client certificate only after the
  // client's handshake finished, so a handshake alone proves nothing there).
  std::string request;
};

// The HTTP/2 client preface and an empty SETTINGS frame: a gRPC server answers with its SETTINGS.
std::string Http2Preface();
// A GET for an HTTP/1.1 server.
std::string HttpGet(const std::string& path);

struct TlsProbeResult {
  bool client_ready = false;  // the client context accepted the protocol/cipher settings
  bool handshake = false;     // SSL_connect succeeded
  bool answered = false;      // the server answered `request`
  std::string version;        // negotiated, e.g. "TLSv1.2"
  std::string cipher;         // negotiated, e.g. "ECDHE-ECDSA-AES128-GCM-SHA256"
  std::string error;          // OpenSSL's reason when something failed, e.g. "tlsv1 alert protocol version"
  bool accepted() const { return handshake && answered; }
};
std::ostream& operator<<(std::ostream& os, const TlsProbeResult& r);

// Connects to 127.0.0.1:port and handshakes as `spec` says (no server verification: what is tested
// is what the server accepts). Bounded: every socket operation times out after 5 seconds.
TlsProbeResult ProbeTls(int port, const TlsClientSpec& spec);

// A TLS server on 127.0.0.1 (kernel-chosen port) that accepts TLS 1.0..1.3, every cipher OpenSSL
// has at security level 0 (including eNULL) and both CCM TLS 1.3 suites, with the given certificate
// and key; it answers any request with "ok". The control for ProbeTls refusals.
class PermissiveTlsServer {
 public:
  static absl::StatusOr<std::unique_ptr<PermissiveTlsServer>> Start(const std::string& cert_pem,
                                                                    const std::string& key_pem);
  ~PermissiveTlsServer();
  int port() const { return port_; }

 private:
  PermissiveTlsServer() = default;
  void Serve();
  void* ctx_ = nullptr;  // SSL_CTX
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace signet::testing

#endif  // SIGNET_TESTS_TESTING_TLS_PROBE_H_
