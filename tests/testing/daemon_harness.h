// A real signetd in-process: a SoftHSM token with one key per curve, a throwaway mTLS PKI, the server
// on a loopback port chosen by the kernel, and gRPC clients holding real client certificates.
#ifndef SIGNET_TESTS_TESTING_DAEMON_HARNESS_H_
#define SIGNET_TESTS_TESTING_DAEMON_HARNESS_H_

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "daemon/config.h"
#include "daemon/server.h"
#include "keymgmt/dev_pki.h"
#include "signet/v1/signer.grpc.pb.h"
#include "tests/testing/softhsm_token.h"

namespace signet::testing {

// Client identities the harness issues certificates for.
inline constexpr char kAllowedIdentity[] = "spiffe://signet.test/allowed";
inline constexpr char kDeniedIdentity[] = "spiffe://signet.test/denied";

struct ClientCert {
  std::string cert_pem;
  std::string key_pem;
};

class DaemonHarness {
 public:
  // Creates the token (keys "key-p256", "key-p384", "key-p521"), the PKI and a config with signers
  // "p256", "p384" (x5u https://x5u.signet.test/p384.pem) and "p521", all granted to kAllowedIdentity;
  // kDeniedIdentity is granted nothing. `tweak` may edit the config before the server starts.
  static absl::StatusOr<std::unique_ptr<DaemonHarness>> Start(
      std::function<void(daemon::Config&)> tweak = nullptr);
  // Everything but the server: for tests that run the signetd binary (see WriteConfigYaml, set_port).
  static absl::StatusOr<std::unique_ptr<DaemonHarness>> Prepare(
      std::function<void(daemon::Config&)> tweak = nullptr);
  // Starts the in-process server of a Prepare()d harness, with mutable_config() as it is now.
  absl::Status StartServer();
  // Writes config() as YAML to <dir>/signetd.yaml and returns the path.
  absl::StatusOr<std::string> WriteConfigYaml() const;
  void set_port(int port) { port_ = port; }
  daemon::Config& mutable_config() { return config_; }
  ~DaemonHarness();

  daemon::SignetServer& server() { return *server_; }
  const daemon::Config& config() const { return config_; }
  const std::string& dir() const { return token_->dir(); }
  std::string target() const;  // "localhost:<port>"

  // A stub over mTLS with the given client certificate (CA-verified server certificate).
  std::unique_ptr<signet::v1::Signer::Stub> Stub(const ClientCert& client) const;
  std::unique_ptr<signet::v1::Signer::Stub> Stub(const std::shared_ptr<grpc::ChannelCredentials>& creds) const;
  std::shared_ptr<grpc::ChannelCredentials> Credentials(const ClientCert* client) const;

  const ClientCert& allowed() const { return allowed_; }
  const ClientCert& denied() const { return denied_; }
  const ClientCert& expired() const { return expired_; }
  const ClientCert& foreign() const { return foreign_; }
  // Like allowed(): kAllowedIdentity, from the client CA; for tests that revoke it.
  const ClientCert& revoked() const { return revoked_; }
  const std::string& ca_pem() const { return ca_pem_; }
  // The client CA (which also issued the server certificate) and the other CA, with their keys: to
  // issue CRLs and certificates in tests.
  const keymgmt::KeyAndCert& ca() const { return ca_; }
  const keymgmt::KeyAndCert& other_ca() const { return other_ca_; }

  struct OwnedAudit {
    std::string method, request_id, identity, signer, key_id, input_sha256, result, error;
  };
  std::vector<OwnedAudit> audits() const;

  void Stop();

 private:
  DaemonHarness() = default;
  std::unique_ptr<SoftHsmToken> token_;
  daemon::Config config_;
  std::unique_ptr<daemon::SignetServer> server_;
  int port_ = 0;
  std::string ca_pem_;
  keymgmt::KeyAndCert ca_, other_ca_;
  ClientCert allowed_, denied_, expired_, foreign_, revoked_;
  mutable std::mutex mu_;
  std::vector<OwnedAudit> audits_;
};

}  // namespace signet::testing

#endif  // SIGNET_TESTS_TESTING_DAEMON_HARNESS_H_
