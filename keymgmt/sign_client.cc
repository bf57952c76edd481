#include "keymgmt/sign_client.h"

#include <openssl/pem.h>
#include <openssl/x509.h>

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/absl_compat.h"
#include "common/openssl_ptr.h"

namespace signet::keymgmt {
namespace {

// Marks a status as "the channel never connected"; see IsConnectionFailure.
constexpr char kConnectionFailurePayload[] = "type.signet.dev/signet.keymgmt.ConnectionFailure";

// PEM inputs are certificates and keys, never large; the bound keeps a wrong file from being parsed.
constexpr size_t kMaxPemBytes = 1024 * 1024;

// Never prompt for a passphrase: an encrypted key is an error, not a question on the terminal.
int NoPassphrase(char*, int, int, void*) { return 0; }

BioPtr MemBio(const std::string& pem) {
  return BioPtr(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

absl::StatusOr<X509Ptr> FirstCert(const std::string& pem, std::string_view what) {
  if (pem.empty()) return absl::InvalidArgumentError(absl::StrCat(Av(what), " is empty"));
  if (pem.size() > kMaxPemBytes) {
    return absl::InvalidArgumentError(absl::StrCat(Av(what), " is larger than the ", kMaxPemBytes, "-byte bound"));
  }
  BioPtr bio = MemBio(pem);
  if (!bio) return absl::ResourceExhaustedError("BIO_new_mem_buf failed");
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, NoPassphrase, nullptr));
  if (!cert) return absl::InvalidArgumentError(absl::StrCat(Av(what), ": no PEM certificate found"));
  return cert;
}

absl::StatusOr<EvpPkeyPtr> PrivateKey(const std::string& pem) {
  if (pem.empty()) return absl::InvalidArgumentError("client key is empty");
  if (pem.size() > kMaxPemBytes) {
    return absl::InvalidArgumentError(absl::StrCat("client key is larger than the ", kMaxPemBytes, "-byte bound"));
  }
  BioPtr bio = MemBio(pem);
  if (!bio) return absl::ResourceExhaustedError("BIO_new_mem_buf failed");
  EvpPkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassphrase, nullptr));
  if (!key) {
    return absl::InvalidArgumentError("client key: no unencrypted PEM private key found");
  }
  return key;
}

bool LooksLikeTransportFailure(std::string_view message) {
  const std::string m = absl::AsciiStrToLower(Av(message));
  for (const char* needle : {"failed to connect", "handshake", "ssl_error", "socket closed", "connection reset",
                             "connection refused", "dns resolution failed"}) {
    if (absl::StrContains(m, needle)) return true;
  }
  return false;
}

}  // namespace

bool IsConnectionFailure(const absl::Status& status) {
  return status.GetPayload(kConnectionFailurePayload).has_value();
}

SignClient::SignClient(std::shared_ptr<grpc::Channel> channel, absl::Duration timeout)
    : channel_(std::move(channel)), stub_(signet::v1::Signer::NewStub(channel_)), timeout_(timeout) {}

absl::StatusOr<std::unique_ptr<SignClient>> SignClient::Connect(const SignClientOptions& options) {
  if (options.server.empty()) return absl::InvalidArgumentError("server address is empty");
  if (options.timeout <= absl::ZeroDuration()) return absl::InvalidArgumentError("timeout must be positive");
  // Parse everything up front: gRPC would only report a bad PEM as an opaque UNAVAILABLE later.
  auto ca = FirstCert(options.ca_pem, "CA certificate");
  if (!ca.ok()) return ca.status();
  auto cert = FirstCert(options.cert_pem, "client certificate");
  if (!cert.ok()) return cert.status();
  auto key = PrivateKey(options.key_pem);
  if (!key.ok()) return key.status();
  if (X509_check_private_key(cert->get(), key->get()) != 1) {
    return absl::InvalidArgumentError("client key does not match the client certificate");
  }

  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = options.ca_pem;
  ssl.pem_private_key = options.key_pem;
  ssl.pem_cert_chain = options.cert_pem;
  grpc::ChannelArguments args;
  // The CLI sends one item of up to the input bound; the server enforces its own, smaller limit.
  args.SetMaxSendMessageSize(-1);
  auto channel = grpc::CreateCustomChannel(options.server, grpc::SslCredentials(ssl), args);
  if (!channel) return absl::InternalError("could not create a gRPC channel");
  return std::unique_ptr<SignClient>(new SignClient(std::move(channel), options.timeout));
}

void SignClient::SetDeadline(grpc::ClientContext& ctx) const {
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + timeout_));
}

absl::Status SignClient::FromGrpc(const grpc::Status& status) const {
  if (status.ok()) return absl::OkStatus();
  absl::Status out(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE &&
      (channel_->GetState(false) != GRPC_CHANNEL_READY || LooksLikeTransportFailure(status.error_message()))) {
    out.SetPayload(kConnectionFailurePayload, absl::Cord("1"));
  }
  return out;
}

absl::StatusOr<signet::v1::SignResult> SignClient::OneResult(const grpc::Status& status,
                                                             const signet::v1::SignResponse& response) const {
  if (!status.ok()) return FromGrpc(status);
  if (response.items_size() != 1) {
    return absl::InternalError(absl::StrCat("the server answered ", response.items_size(), " items for 1 input"));
  }
  const signet::v1::SignItem& item = response.items(0);
  if (item.has_error()) {
    const int code = item.error().code();
    // An error item carrying OK (or a code outside the range) is the server's bug, not success.
    const absl::StatusCode c = (code <= 0 || code > static_cast<int>(absl::StatusCode::kUnauthenticated))
                                   ? absl::StatusCode::kUnknown
                                   : static_cast<absl::StatusCode>(code);
    return absl::Status(c, item.error().message());
  }
  if (!item.has_result()) return absl::InternalError("the server answered an item with neither result nor error");
  return item.result();
}

absl::StatusOr<signet::v1::SignResult> SignClient::SignData(const std::string& signer, std::string_view data,
                                                            const std::string& request_id) {
  signet::v1::SignRequest req;
  req.set_signer_id(signer);
  req.add_inputs(data.data(), data.size());
  req.set_request_id(request_id);
  grpc::ClientContext ctx;
  SetDeadline(ctx);
  signet::v1::SignResponse resp;
  grpc::Status s = stub_->Sign(&ctx, req, &resp);
  return OneResult(s, resp);
}

absl::StatusOr<signet::v1::SignResult> SignClient::SignHash(const std::string& signer,
                                                            std::span<const uint8_t> digest,
                                                            const std::string& request_id) {
  signet::v1::SignHashRequest req;
  req.set_signer_id(signer);
  req.add_digests(reinterpret_cast<const char*>(digest.data()), digest.size());
  req.set_request_id(request_id);
  grpc::ClientContext ctx;
  SetDeadline(ctx);
  signet::v1::SignResponse resp;
  grpc::Status s = stub_->SignHash(&ctx, req, &resp);
  return OneResult(s, resp);
}

absl::StatusOr<signet::v1::SignerInfo> SignClient::GetSigner(const std::string& signer) {
  signet::v1::GetSignerRequest req;
  req.set_signer_id(signer);
  grpc::ClientContext ctx;
  SetDeadline(ctx);
  signet::v1::SignerInfo info;
  grpc::Status s = stub_->GetSigner(&ctx, req, &info);
  if (!s.ok()) return FromGrpc(s);
  return info;
}

}  // namespace signet::keymgmt
