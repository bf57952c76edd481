#include "daemon/signer_service.h"

#include <openssl/rand.h>

#include <array>
#include <atomic>
#include <cstring>
#include <mutex>
#include <type_traits>

#include "absl/strings/str_cat.h"
#include "common/absl_compat.h"
#include "common/hex.h"
#include "common/sha256.h"
#include "daemon/mozlog.h"
#include "daemon/request_validation.h"
#include "daemon/sign_response.h"
#include "pkcs11/key.h"  // kMaxSignatureBytes
#include "signing/content_signature.h"
#include "spdlog/spdlog.h"

namespace signet::daemon {
namespace {

// 128 bits, unique per process life: a random 64-bit prefix drawn once, then a counter. Unique is what
// an id needs; a CSPRNG draw per call cost 3% of the CPU at 14k calls/s.
std::string NewRequestId() {
  struct Source {
    uint8_t prefix[8];
    std::atomic<uint64_t> counter{0};
    Source() {
      if (RAND_bytes(prefix, sizeof(prefix)) != 1) std::abort();  // the CSPRNG failing is a broken invariant
    }
  };
  static Source source;
  uint8_t id[16];
  std::memcpy(id, source.prefix, sizeof(source.prefix));
  const uint64_t n = source.counter.fetch_add(1, std::memory_order_relaxed);
  for (int i = 0; i < 8; ++i) id[8 + i] = static_cast<uint8_t>(n >> (56 - 8 * i));
  char hex[2 * sizeof(id)];
  HexEncodeTo(id, hex);
  return std::string(hex, sizeof(hex));
}

// One Sign/SignHash call in flight. Workers complete items from their threads; the last completion
// (the handler holds one extra count until it has queued everything) finishes the call.
class SignCall final : public BatchCall {
 public:
  SignCall(const SignerService* service, std::string_view method, grpc::CallbackServerContext* ctx,
           grpc::ServerUnaryReactor* reactor, grpc::ByteBuffer* response,
           std::shared_ptr<const SignerState> signer, std::string identity, std::string request_id,
           bool include_public_key, size_t items)
      : service_(service),
        method_(method),
        ctx_(ctx),
        reactor_(reactor),
        response_(response),
        signer_(std::move(signer)),
        identity_(std::move(identity)),
        request_id_(std::move(request_id)),
        include_public_key_(include_public_key),
        deadline_(ctx->deadline()),
        input_sha256_(items),
        results_(items) {}

  bool Cancelled() const override { return ctx_->IsCancelled(); }
  std::chrono::system_clock::time_point deadline() const override { return deadline_; }

  void SetInputHash(size_t index, const std::array<uint8_t, SHA256_DIGEST_LENGTH>& digest) {
    input_sha256_[index] = digest;
  }
  void Expect(size_t queued) { remaining_.store(queued + 1, std::memory_order_relaxed); }

  void StoreResult(uint32_t index, absl::StatusOr<std::span<const uint8_t>> raw_rs) override {
    ItemResult& out = results_[index];
    if (!raw_rs.ok() || raw_rs->empty() || raw_rs->size() > sizeof(out.raw_rs)) {
      out.status = raw_rs.ok() ? absl::InternalError("signature empty or longer than any supported curve's")
                               : raw_rs.status();
      return;
    }
    std::memcpy(out.raw_rs, raw_rs->data(), raw_rs->size());
    out.raw_len = static_cast<uint8_t>(raw_rs->size());
  }

  // The answer's item itself is written at Finish, from results_.
  void CompleteItem(uint32_t index, const SignerState& signer) override {
    const ItemResult& result = results_[index];
    if (result.Signed()) {
      ok_items_.fetch_add(1, std::memory_order_relaxed);
      if (service_->hooks().on_signed) service_->hooks().on_signed(signer, 1);
      Audit(index, signer, "ok", "");
    } else {
      NoteFailure(index, signer, result.status);
    }
  }

  void Release() override { Done(); }

  // An item refused before it reached the batcher (bad size, wrong digest length), or one the batcher
  // refused to queue. Every item of a call is the admitted signer's.
  void FailItem(size_t index, const absl::Status& status) {
    results_[index].status = status;
    NoteFailure(index, *signer_, status);
  }

  void Done() {
    if (remaining_.fetch_sub(1, std::memory_order_acq_rel) == 1) Finish();
  }

 private:
  void NoteFailure(size_t index, const SignerState& signer, const absl::Status& status) {
    NoteError(status);
    Audit(index, signer, StatusCodeName(static_cast<grpc::StatusCode>(status.code())), Sv(status.message()));
  }

  void NoteError(const absl::Status& status) {
    std::lock_guard<std::mutex> lock(mu_);
    const int code = static_cast<int>(status.code());
    if (uniform_code_ == -1) {
      uniform_code_ = code;
      first_error_ = std::string(status.message());
    } else if (uniform_code_ != code) {
      uniform_code_ = -2;
    }
  }

  void Audit(size_t index, const SignerState& signer, std::string_view result, std::string_view error) {
    if (!service_->hooks().audit) return;
    char hex[2 * SHA256_DIGEST_LENGTH];
    HexEncodeTo(input_sha256_[index], hex);
    service_->hooks().audit(AuditRecord{.method = method_,
                                        .request_id = request_id_,
                                        .identity = identity_,
                                        .signer = signer.id,
                                        .key_id = signer.key_id_hex,
                                        .input_sha256 = std::string_view(hex, sizeof(hex)),
                                        .result = result,
                                        .error = error});
  }

  void Finish() {
    grpc::Status status = grpc::Status::OK;
    {
      // A call whose every item failed for the same call-wide reason (HSM down, deadline, cancel)
      // reports that reason as its status; otherwise per-item errors ride in an OK response.
      std::lock_guard<std::mutex> lock(mu_);
      if (ok_items_.load(std::memory_order_relaxed) == 0 &&
          (uniform_code_ == static_cast<int>(absl::StatusCode::kUnavailable) ||
           uniform_code_ == static_cast<int>(absl::StatusCode::kDeadlineExceeded) ||
           uniform_code_ == static_cast<int>(absl::StatusCode::kCancelled))) {
        status = grpc::Status(static_cast<grpc::StatusCode>(uniform_code_), first_error_);
      }
    }
    if (status.ok()) WriteAnswer();  // a failed call sends its status alone
    if (service_->hooks().on_call) service_->hooks().on_call(method_, status.error_code());
    if (service_->hooks().on_call_seconds) {
      service_->hooks().on_call_seconds(
          method_, std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count());
    }
    reactor_->Finish(status);
  }

  // The SignResponse, serialized into one slice: every item in request order, then the request id.
  void WriteAnswer() {
    const SignResponseEncoder encoder(
        SignedFields{.x5u = signer_->x5u,
                     .key_id = signer_->key_id_hex,
                     .header_prefix = signer_->header_prefix,
                     .public_key = include_public_key_ ? std::span<const uint8_t>(signer_->spki_der)
                                                       : std::span<const uint8_t>()});
    size_t size = SignResponseEncoder::RequestIdSize(request_id_);
    for (const ItemResult& r : results_) {
      size += r.Signed() ? encoder.SignedItemSize(r.raw_len)
                         : SignResponseEncoder::FailedItemSize(r.Code(), r.Message());
    }
    grpc_slice slice = grpc_slice_malloc(size);
    uint8_t* const begin = GRPC_SLICE_START_PTR(slice);
    uint8_t* out = begin;
    for (const ItemResult& r : results_) {
      out = r.Signed() ? encoder.PutSignedItem(out, std::span<const uint8_t>(r.raw_rs, r.raw_len))
                       : SignResponseEncoder::PutFailedItem(out, r.Code(), r.Message());
    }
    out = SignResponseEncoder::PutRequestId(out, request_id_);
    if (static_cast<size_t>(out - begin) != size) std::abort();  // the sizes above are the writes' own
    grpc::Slice owned(slice, grpc::Slice::STEAL_REF);
    grpc::ByteBuffer answer(&owned, 1);
    response_->Swap(&answer);
  }

  const SignerService* service_;
  const std::string_view method_;
  grpc::CallbackServerContext* ctx_;
  grpc::ServerUnaryReactor* reactor_;
  grpc::ByteBuffer* response_;
  // The signer as the call was admitted: every item is signed with its key, and its answer names it.
  const std::shared_ptr<const SignerState> signer_;
  const std::string identity_;
  const std::string request_id_;
  const bool include_public_key_;
  const std::chrono::system_clock::time_point deadline_;
  const std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::vector<std::array<uint8_t, SHA256_DIGEST_LENGTH>> input_sha256_;
  // What the HSM answered for each item (or why the item was refused), kept until Finish writes it.
  struct ItemResult {
    absl::Status status;
    uint8_t raw_len = 0;
    uint8_t raw_rs[pkcs11::kMaxSignatureBytes];

    bool Signed() const { return status.ok() && raw_len != 0; }
    // An item that is neither signed nor failed is a broken invariant; it is answered INTERNAL, not
    // as an empty signature.
    int32_t Code() const {
      return status.ok() ? static_cast<int32_t>(absl::StatusCode::kInternal)
                         : static_cast<int32_t>(status.code());
    }
    std::string_view Message() const {
      return status.ok() ? "item was never answered" : Sv(status.message());
    }
  };
  std::vector<ItemResult> results_;
  std::atomic<size_t> remaining_{1};
  std::atomic<size_t> ok_items_{0};
  std::mutex mu_;
  int uniform_code_ = -1;
  std::string first_error_;
};

}  // namespace

std::string_view StatusCodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK: return "OK";
    case grpc::StatusCode::CANCELLED: return "CANCELLED";
    case grpc::StatusCode::UNKNOWN: return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND: return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS: return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED: return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED: return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE: return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED: return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL: return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE: return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS: return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED: return "UNAUTHENTICATED";
    default: return "UNKNOWN";
  }
}

grpc::Status ToGrpc(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
}

grpc::ServerUnaryReactor* SignerService::FinishNow(grpc::CallbackServerContext* ctx, std::string_view method,
                                                grpc::Status status) const {
  if (hooks_.on_call) hooks_.on_call(method, status.error_code());
  auto* reactor = ctx->DefaultReactor();
  reactor->Finish(status);
  return reactor;
}

grpc::Status SignerService::Admit(std::string_view method, grpc::CallbackServerContext* ctx,
                                  const std::string& signer_id, std::string* identity,
                                  std::shared_ptr<const SignerState>* signer) const {
  auto auth = ctx->auth_context();
  *identity = auth ? IdentityOf(*auth) : "";
  if (identity->empty()) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "no verified client certificate identity");
  }
  if (absl::Status s = CheckSignerId(limits_, signer_id); !s.ok()) return ToGrpc(s);
  *signer = registry_->Find(signer_id);
  if (*signer == nullptr) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND, absl::StrCat("signer_id: no signer '", signer_id, "'"));
  }
  if (!authorizer_->Allowed(*identity, signer_id)) {
    MozLog::Event(spdlog::level::warn, "signet.authz.denied",
                  {{"identity", *identity}, {"signer", signer_id}, {"method", method}});
    return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                        absl::StrCat("identity '", *identity, "' may not use signer '", signer_id, "'"));
  }
  if ((*signer)->key == nullptr) {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                        absl::StrCat("signer '", signer_id, "' has no active key: ", (*signer)->unavailable));
  }
  return grpc::Status::OK;
}

namespace {

// The items of a call: the data to sign, or the digests for SignHash.
const google::protobuf::RepeatedPtrField<std::string>& ItemsOf(const signet::v1::SignRequest& r) {
  return r.inputs();
}
const google::protobuf::RepeatedPtrField<std::string>& ItemsOf(const signet::v1::SignHashRequest& r) {
  return r.digests();
}

}  // namespace

template <typename Request>
grpc::ServerUnaryReactor* SignerService::HandleSign(std::string_view method, grpc::CallbackServerContext* ctx,
                                                    const grpc::ByteBuffer& bytes,
                                                    grpc::ByteBuffer* response) {
  constexpr bool prehashed = std::is_same_v<Request, signet::v1::SignHashRequest>;
  // Parsed as gRPC's generated handler would have. The copy shares gRPC's slices; the parsed request
  // lives on this stack, and nothing refers to it once this returns.
  Request request;
  grpc::ByteBuffer copy(bytes);
  if (!grpc::SerializationTraits<Request>::Deserialize(&copy, &request).ok()) {
    return FinishNow(ctx, method,
                     grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                  absl::StrCat("request: not a ", Request::descriptor()->full_name())));
  }
  const google::protobuf::RepeatedPtrField<std::string>& items = ItemsOf(request);
  std::string identity;
  std::shared_ptr<const SignerState> signer;
  if (grpc::Status gate = Admit(method, ctx, request.signer_id(), &identity, &signer); !gate.ok()) {
    return FinishNow(ctx, method, gate);
  }
  const char* field = prehashed ? "digests" : "inputs";
  const size_t n = static_cast<size_t>(items.size());
  if (absl::Status s = CheckItemCount(limits_, field, n); !s.ok()) return FinishNow(ctx, method, ToGrpc(s));
  if (absl::Status s = CheckRequestId(request.request_id()); !s.ok()) return FinishNow(ctx, method, ToGrpc(s));
  std::string request_id = request.request_id().empty() ? NewRequestId() : request.request_id();

  auto* reactor = ctx->DefaultReactor();
  auto call = std::make_shared<SignCall>(this, method, ctx, reactor, response, signer, std::move(identity),
                                         std::move(request_id), request.include_public_key(), n);

  std::vector<WorkItem> work;
  work.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const std::string& data = items[static_cast<int>(i)];
    call->SetInputHash(i, Sha256(data));  // every audit line carries it, refused items included
    if (absl::Status s = CheckItem(limits_, field, i, data, prehashed, signer->id, signer->curve); !s.ok()) {
      call->FailItem(i, s);
      continue;
    }
    WorkItem w;
    w.call = call;
    w.signer = signer;
    w.index = static_cast<uint32_t>(i);
    if (prehashed) {
      std::memcpy(w.digest, data.data(), data.size());
      w.digest_len = static_cast<uint8_t>(data.size());
    } else {
      auto digest = signing::ContentSignatureDigest(
          signer->curve, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(data.data()), data.size()));
      std::memcpy(w.digest, digest.data(), digest.size());
      w.digest_len = static_cast<uint8_t>(digest.size());
    }
    work.push_back(std::move(w));
  }
  call->Expect(work.size());
  if (absl::Status s = batcher_->Submit(work); !s.ok()) {
    // Nothing was queued: every item gets the refusal (and its audit line), then the handler finishes
    // the call itself; the call object is never completed by a worker.
    for (const WorkItem& w : work) call->FailItem(w.index, s);
    if (hooks_.on_call) hooks_.on_call(method, static_cast<grpc::StatusCode>(s.code()));
    reactor->Finish(ToGrpc(s));
    return reactor;
  }
  call->Done();  // releases the handler's count; may finish the call right here
  return reactor;
}

grpc::ServerUnaryReactor* SignerService::Sign(grpc::CallbackServerContext* ctx,
                                              const grpc::ByteBuffer* request, grpc::ByteBuffer* response) {
  return HandleSign<signet::v1::SignRequest>("Sign", ctx, *request, response);
}

grpc::ServerUnaryReactor* SignerService::SignHash(grpc::CallbackServerContext* ctx,
                                                  const grpc::ByteBuffer* request,
                                                  grpc::ByteBuffer* response) {
  return HandleSign<signet::v1::SignHashRequest>("SignHash", ctx, *request, response);
}

void SignerService::FillInfo(const SignerState& s, signet::v1::SignerInfo* info) const {
  info->set_signer_id(s.id);
  info->set_type(s.type);
  info->set_curve(std::string(GetEcCurveInfo(s.curve).name));
  info->set_public_key(s.spki_der.data(), s.spki_der.size());
  info->set_key_id(s.key_id_hex);
  info->set_x5u(s.x5u);
  info->set_chain_pem(s.chain_pem);
  info->set_not_after_unix(s.not_after_unix);
  info->set_signature_param(std::string(GetEcCurveInfo(s.curve).cs_param));
}

grpc::ServerUnaryReactor* SignerService::GetSigner(grpc::CallbackServerContext* ctx,
                                                   const signet::v1::GetSignerRequest* request,
                                                   signet::v1::SignerInfo* response) {
  std::string identity;
  std::shared_ptr<const SignerState> signer;
  if (grpc::Status gate = Admit("GetSigner", ctx, request->signer_id(), &identity, &signer); !gate.ok()) {
    return FinishNow(ctx, "GetSigner", gate);
  }
  FillInfo(*signer, response);
  return FinishNow(ctx, "GetSigner", grpc::Status::OK);
}

grpc::ServerUnaryReactor* SignerService::ListSigners(grpc::CallbackServerContext* ctx,
                                                     const signet::v1::ListSignersRequest* /*request*/,
                                                     signet::v1::ListSignersResponse* response) {
  auto auth = ctx->auth_context();
  std::string identity = auth ? IdentityOf(*auth) : "";
  if (identity.empty()) {
    return FinishNow(ctx, "ListSigners",
                  grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "no verified client certificate identity"));
  }
  for (const auto& id : authorizer_->SignersFor(identity)) {
    if (auto s = registry_->Find(id)) FillInfo(*s, response->add_signers());
  }
  return FinishNow(ctx, "ListSigners", grpc::Status::OK);
}

}  // namespace signet::daemon
