// signet.v1.Signer on gRPC's callback API: no thread blocks per request. The handler authenticates,
// authorizes and validates, hashes (Sign), puts the items on the batcher and returns; the HSM workers
// complete the items and the last one finishes the call.
#ifndef SIGNET_DAEMON_SIGNER_SERVICE_H_
#define SIGNET_DAEMON_SIGNER_SERVICE_H_

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "daemon/auth.h"
#include "daemon/batcher.h"
#include "daemon/config.h"
#include "daemon/signer_registry.h"
#include "signet/v1/signer.grpc.pb.h"

namespace signet::daemon {

// One line per signed (or refused) item. Never the input itself: its SHA-256.
struct AuditRecord {
  std::string_view method;
  std::string_view request_id;
  std::string_view identity;
  std::string_view signer;
  std::string_view key_id;
  std::string_view input_sha256;  // hex
  std::string_view result;        // "ok" or the status code name
  std::string_view error;         // message when result != "ok"
};

struct ServiceHooks {
  std::function<void(const AuditRecord&)> audit;
  std::function<void(std::string_view method, grpc::StatusCode code)> on_call;
  // Sign/SignHash calls that were queued: seconds from the handler to the answer.
  std::function<void(std::string_view method, double seconds)> on_call_seconds;
  std::function<void(const SignerState& signer, size_t items)> on_signed;
};

// Sign and SignHash take and give raw bytes: the handler parses the request itself, and the answer is
// written straight to wire format (daemon/sign_response.h). GetSigner and ListSigners are typed.
using SignerServiceBase = signet::v1::Signer::WithRawCallbackMethod_Sign<
    signet::v1::Signer::WithRawCallbackMethod_SignHash<signet::v1::Signer::WithCallbackMethod_GetSigner<
        signet::v1::Signer::WithCallbackMethod_ListSigners<signet::v1::Signer::Service>>>>;

class SignerService final : public SignerServiceBase {
 public:
  SignerService(const SignerRegistry* registry, Batcher* batcher, const Authorizer* authorizer,
                LimitsConfig limits, ServiceHooks hooks)
      : registry_(registry), batcher_(batcher), authorizer_(authorizer), limits_(limits), hooks_(std::move(hooks)) {}

  grpc::ServerUnaryReactor* Sign(grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* request,
                                 grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* SignHash(grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* request,
                                     grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* GetSigner(grpc::CallbackServerContext* ctx, const signet::v1::GetSignerRequest* request,
                                      signet::v1::SignerInfo* response) override;
  grpc::ServerUnaryReactor* ListSigners(grpc::CallbackServerContext* ctx,
                                        const signet::v1::ListSignersRequest* request,
                                        signet::v1::ListSignersResponse* response) override;

  const ServiceHooks& hooks() const { return hooks_; }

 private:
  // Sign and SignHash: parses the request (refusing bytes that are not a Request, naming it), admits
  // the caller, checks and hashes the items, and queues them; the last item to complete answers.
  template <typename Request>
  grpc::ServerUnaryReactor* HandleSign(std::string_view method, grpc::CallbackServerContext* ctx,
                                       const grpc::ByteBuffer& bytes, grpc::ByteBuffer* response);
  // Common gate: identity, signer id bound, existence, authorization. Fills *signer on success.
  grpc::Status Admit(std::string_view method, grpc::CallbackServerContext* ctx, const std::string& signer_id,
                     std::string* identity, std::shared_ptr<const SignerState>* signer) const;
  grpc::ServerUnaryReactor* FinishNow(grpc::CallbackServerContext* ctx, std::string_view method, grpc::Status status) const;
  void FillInfo(const SignerState& s, signet::v1::SignerInfo* info) const;

  const SignerRegistry* registry_;
  Batcher* batcher_;
  const Authorizer* authorizer_;
  const LimitsConfig limits_;
  const ServiceHooks hooks_;
};

// "INVALID_ARGUMENT" etc.
std::string_view StatusCodeName(grpc::StatusCode code);
grpc::Status ToGrpc(const absl::Status& s);

}  // namespace signet::daemon

#endif  // SIGNET_DAEMON_SIGNER_SERVICE_H_
