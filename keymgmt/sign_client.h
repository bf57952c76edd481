// A client of signetd's Signer API over mutual TLS: one channel, one call per method, each with a
// deadline. gRPC statuses become absl::Status with the same code; a per-item error in a response
// becomes the status of that call (the client sends one item per call).
#ifndef SIGNET_KEYMGMT_SIGN_CLIENT_H_
#define SIGNET_KEYMGMT_SIGN_CLIENT_H_

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "signet/v1/signer.grpc.pb.h"

namespace signet::keymgmt {

struct SignClientOptions {
  std::string server;    // "host:port"
  std::string ca_pem;    // roots that verify the server certificate
  std::string cert_pem;  // client certificate (chain)
  std::string key_pem;   // client private key
  absl::Duration timeout = absl::Seconds(10);  // per call
};

// True when `status` came from a call that never reached the server's handler because the channel
// could not connect (TCP refused, TLS handshake failed, server certificate not trusted, ...), as
// opposed to an UNAVAILABLE the server itself answered (HSM down, shutting down).
bool IsConnectionFailure(const absl::Status& status);

class SignClient {
 public:
  // Validates the options (non-empty server, parseable PEM, key matching the certificate, positive
  // timeout) and builds the channel. Does not connect: the first call does.
  static absl::StatusOr<std::unique_ptr<SignClient>> Connect(const SignClientOptions& options);

  // Sign one input (the server prepends "Content-Signature:\0" and hashes it).
  absl::StatusOr<signet::v1::SignResult> SignData(const std::string& signer, std::string_view data,
                                                  const std::string& request_id = "");
  // Sign one digest computed by the caller; its length must match the signer's hash.
  absl::StatusOr<signet::v1::SignResult> SignHash(const std::string& signer, std::span<const uint8_t> digest,
                                                  const std::string& request_id = "");
  absl::StatusOr<signet::v1::SignerInfo> GetSigner(const std::string& signer);

 private:
  SignClient(std::shared_ptr<grpc::Channel> channel, absl::Duration timeout);
  void SetDeadline(grpc::ClientContext& ctx) const;
  absl::Status FromGrpc(const grpc::Status& status) const;
  absl::StatusOr<signet::v1::SignResult> OneResult(const grpc::Status& status,
                                                   const signet::v1::SignResponse& response) const;

  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<signet::v1::Signer::Stub> stub_;
  absl::Duration timeout_;
};

}  // namespace signet::keymgmt

#endif  // SIGNET_KEYMGMT_SIGN_CLIENT_H_
