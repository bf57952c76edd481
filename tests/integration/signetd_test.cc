// signetd end to end, in-process: real SoftHSM token, real TLS on a loopback port, real gRPC clients.
#include <grpcpp/generic/generic_stub.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <future>
#include <thread>

#include "common/ec_curve.h"
#include "common/thread_name.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "signing/content_signature.h"
#include "signing/keys.h"
#include "tests/testing/daemon_harness.h"

namespace signet {
namespace {

using ::signet::testing::DaemonHarness;
using ::testing::HasSubstr;
using v1::SignHashRequest;
using v1::SignRequest;
using v1::SignResponse;

std::span<const uint8_t> Bytes(const std::string& s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }

class SignetdTest : public ::testing::Test {
 protected:
  void SetUp() override { Start(); }
  void Start(std::function<void(daemon::Config&)> tweak = nullptr) {
    harness_.reset();
    auto h = DaemonHarness::Start(std::move(tweak));
    ASSERT_TRUE(h.ok()) << h.status();
    harness_ = *std::move(h);
  }
  EvpPkeyPtr PublicKey(v1::Signer::Stub& stub, const std::string& signer) {
    grpc::ClientContext ctx;
    v1::GetSignerRequest req;
    req.set_signer_id(signer);
    v1::SignerInfo info;
    grpc::Status s = stub.GetSigner(&ctx, req, &info);
    EXPECT_TRUE(s.ok()) << s.error_message();
    auto key = signing::PublicKeyFromSpkiDer(Bytes(info.public_key()));
    EXPECT_TRUE(key.ok());
    return key.ok() ? *std::move(key) : nullptr;
  }
  std::unique_ptr<DaemonHarness> harness_;
};

struct CurveCase {
  const char* signer;
  EcCurve curve;
};

class SignetdCurveTest : public SignetdTest, public ::testing::WithParamInterface<CurveCase> {};

TEST_P(SignetdCurveTest, SignAndSignHashRoundTripVerifies) {
  const auto [signer, curve] = GetParam();
  auto stub = harness_->Stub(harness_->allowed());
  EvpPkeyPtr pub = PublicKey(*stub, signer);
  ASSERT_NE(pub, nullptr);

  SignRequest req;
  req.set_signer_id(signer);
  req.set_include_public_key(true);
  const std::vector<std::string> inputs = {"first", std::string(10000, 'x'), std::string("\0bin\xff", 5)};
  for (const auto& in : inputs) req.add_inputs(in);
  grpc::ClientContext ctx;
  SignResponse resp;
  grpc::Status s = stub->Sign(&ctx, req, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(resp.items_size(), 3);
  EXPECT_EQ(resp.request_id().size(), 32u);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(resp.items(i).has_result()) << resp.items(i).error().message();
    const auto& r = resp.items(i).result();
    EXPECT_TRUE(signing::VerifyData(pub.get(), curve, Bytes(inputs[i]), r.signature()).ok()) << i;
    EXPECT_FALSE(signing::VerifyData(pub.get(), curve, Bytes(inputs[i] + "!"), r.signature()).ok());
    auto header = signing::ParseHeader(r.content_signature());
    ASSERT_TRUE(header.ok()) << header.status();
    EXPECT_EQ(header->signature, r.signature());
    EXPECT_EQ(header->curve, curve);
    EXPECT_EQ(header->x5u, r.x5u());
    EXPECT_EQ(r.key_id().size(), 32u);
    EXPECT_FALSE(r.public_key().empty());
  }

  SignHashRequest hreq;
  hreq.set_signer_id(signer);
  auto digest = signing::ContentSignatureDigest(curve, Bytes("hashed by the client"));
  hreq.add_digests(std::string(digest.begin(), digest.end()));
  grpc::ClientContext hctx;
  SignResponse hresp;
  s = stub->SignHash(&hctx, hreq, &hresp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_TRUE(hresp.items(0).has_result());
  EXPECT_TRUE(signing::VerifyData(pub.get(), curve, Bytes("hashed by the client"), hresp.items(0).result().signature()).ok());
}

INSTANTIATE_TEST_SUITE_P(Curves, SignetdCurveTest,
                         ::testing::Values(CurveCase{"p256", EcCurve::kP256}, CurveCase{"p384", EcCurve::kP384},
                                           CurveCase{"p521", EcCurve::kP521}),
                         [](const auto& info) { return std::string(info.param.signer); });

TEST_F(SignetdTest, X5uSignerHeaderCarriesUrl) {
  auto stub = harness_->Stub(harness_->allowed());
  SignRequest req;
  req.set_signer_id("p384");
  req.add_inputs("data");
  grpc::ClientContext ctx;
  SignResponse resp;
  ASSERT_TRUE(stub->Sign(&ctx, req, &resp).ok());
  EXPECT_THAT(resp.items(0).result().content_signature(),
              ::testing::StartsWith("x5u=https://x5u.signet.test/p384.pem;p384ecdsa="));
}

// Operators tell signetd's threads apart in `top -H`, gdb and perf by name: a hung HSM call shows as
// an hsm-worker, a busy answer path as the completer.
TEST_F(SignetdTest, ItsOwnThreadsAreNamed) {
  auto stub = harness_->Stub(harness_->allowed());
  SignRequest req;
  req.set_signer_id("p256");
  req.add_inputs("named threads");
  grpc::ClientContext ctx;
  SignResponse resp;
  ASSERT_TRUE(stub->Sign(&ctx, req, &resp).ok());
  const std::vector<std::string> names = ThreadNamesOfThisProcess();
  const auto count = [&names](const char* name) { return std::count(names.begin(), names.end(), name); };
  EXPECT_EQ(count("hsm-worker"), static_cast<long>(harness_->config().batching.workers))
      << ::testing::PrintToString(names);
  EXPECT_EQ(count("completer"), 1);
  EXPECT_EQ(count("hsm-watchdog"), harness_->config().hsm.call_timeout > absl::ZeroDuration() ? 1 : 0);
  EXPECT_EQ(count("health"), 1);
  EXPECT_EQ(count("hsm-recovery"), 1);
}

TEST_F(SignetdTest, BadItemsGetTheirOwnErrorsInOrder) {
  auto stub = harness_->Stub(harness_->allowed());
  SignRequest req;
  req.set_signer_id("p256");
  req.add_inputs("good-0");
  req.add_inputs("");
  req.add_inputs("good-2");
  req.add_inputs(std::string(harness_->config().limits.max_item_bytes + 1, 'a'));
  req.set_request_id("client-chosen-id");
  grpc::ClientContext ctx;
  SignResponse resp;
  ASSERT_TRUE(stub->Sign(&ctx, req, &resp).ok());
  ASSERT_EQ(resp.items_size(), 4);
  EXPECT_EQ(resp.request_id(), "client-chosen-id");
  EXPECT_TRUE(resp.items(0).has_result());
  ASSERT_TRUE(resp.items(1).has_error());
  EXPECT_EQ(resp.items(1).error().code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(resp.items(1).error().message(), HasSubstr("inputs[1]: 0 bytes; an item must be 1..1048576 bytes"));
  EXPECT_TRUE(resp.items(2).has_result());
  ASSERT_TRUE(resp.items(3).has_error());
  EXPECT_THAT(resp.items(3).error().message(), HasSubstr("inputs[3]: 1048577 bytes"));

  // One audit line per item, in the client's request id, never the data itself.
  auto audits = harness_->audits();
  ASSERT_EQ(audits.size(), 4u);
  int ok = 0;
  for (const auto& a : audits) {
    EXPECT_EQ(a.request_id, "client-chosen-id");
    EXPECT_EQ(a.identity, testing::kAllowedIdentity);
    EXPECT_EQ(a.signer, "p256");
    EXPECT_EQ(a.input_sha256.size(), 64u);
    ok += a.result == "ok";
  }
  EXPECT_EQ(ok, 2);
}

// Sign and SignHash parse their own requests (daemon/signer_service.cc): bytes that are not the
// message are refused with INVALID_ARGUMENT naming it, before anything is queued, and the daemon
// goes on serving.
TEST_F(SignetdTest, BytesThatAreNotTheRequestMessageAreRefusedNamingIt) {
  auto channel = grpc::CreateChannel(harness_->target(), harness_->Credentials(&harness_->allowed()));
  grpc::GenericStub generic(channel);
  // Field 1 (signer_id) says 100 bytes follow, and 3 do.
  const std::string truncated = "\x0a\x64p25";
  for (const char* method : {"/signet.v1.Signer/Sign", "/signet.v1.Signer/SignHash"}) {
    SCOPED_TRACE(method);
    grpc::Slice slice(truncated);
    grpc::ByteBuffer request(&slice, 1);
    grpc::ByteBuffer response;
    grpc::ClientContext ctx;
    std::promise<grpc::Status> done;
    generic.UnaryCall(&ctx, method, grpc::StubOptions(), &request, &response,
                      [&done](grpc::Status s) { done.set_value(std::move(s)); });
    grpc::Status s = done.get_future().get();
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
    EXPECT_THAT(s.error_message(),
                HasSubstr(std::string(method).ends_with("Hash") ? "not a signet.v1.SignHashRequest"
                                                                : "not a signet.v1.SignRequest"));
  }
  EXPECT_TRUE(harness_->audits().empty());
  auto stub = harness_->Stub(harness_->allowed());
  // An all-default request is zero bytes on the wire: a valid message, so validation names the field.
  {
    grpc::ClientContext ctx;
    SignResponse resp;
    grpc::Status s = stub->Sign(&ctx, SignRequest(), &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(s.error_message(), HasSubstr("signer_id: 0 bytes"));
  }
  SignRequest req;
  req.set_signer_id("p256");
  req.add_inputs("still serving");
  grpc::ClientContext ctx;
  SignResponse resp;
  ASSERT_TRUE(stub->Sign(&ctx, req, &resp).ok());
  ASSERT_EQ(resp.items_size(), 1);
  EXPECT_TRUE(resp.items(0).has_result());
}

TEST_F(SignetdTest, SignHashDigestLengthMustMatchTheCurve) {
  auto stub = harness_->Stub(harness_->allowed());
  SignHashRequest req;
  req.set_signer_id("p384");
  req.add_digests(std::string(32, 'a'));
  grpc::ClientContext ctx;
  SignResponse resp;
  ASSERT_TRUE(stub->SignHash(&ctx, req, &resp).ok());
  ASSERT_TRUE(resp.items(0).has_error());
  EXPECT_EQ(resp.items(0).error().code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(resp.items(0).error().message(), HasSubstr("digests[0]: 32 bytes; signer 'p384' (P-384) signs a 48-byte SHA-384 digest"));
}

TEST_F(SignetdTest, CallLevelLimits) {
  auto stub = harness_->Stub(harness_->allowed());
  auto call = [&](SignRequest req) {
    grpc::ClientContext ctx;
    SignResponse resp;
    return stub->Sign(&ctx, req, &resp);
  };
  SignRequest none;
  none.set_signer_id("p256");
  grpc::Status s = call(none);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("inputs: 0 items; a call carries 1..1000"));

  SignRequest many;
  many.set_signer_id("p256");
  for (int i = 0; i < 1001; ++i) many.add_inputs("x");
  s = call(many);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("inputs: 1001 items"));

  SignRequest unknown;
  unknown.set_signer_id("nope");
  unknown.add_inputs("x");
  s = call(unknown);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(s.error_message(), HasSubstr("no signer 'nope'"));

  SignRequest long_id;
  long_id.set_signer_id(std::string(129, 'a'));
  long_id.add_inputs("x");
  s = call(long_id);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("signer_id: 129 bytes; must be 1..128"));

  SignRequest bad_rid;
  bad_rid.set_signer_id("p256");
  bad_rid.add_inputs("x");
  bad_rid.set_request_id("has space");
  s = call(bad_rid);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("request_id"));
}

TEST_F(SignetdTest, ClientWithoutGrantIsDenied) {
  auto stub = harness_->Stub(harness_->denied());
  SignRequest req;
  req.set_signer_id("p256");
  req.add_inputs("x");
  grpc::ClientContext ctx;
  SignResponse resp;
  grpc::Status s = stub->Sign(&ctx, req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(s.error_message(), HasSubstr(testing::kDeniedIdentity));
  grpc::ClientContext lctx;
  v1::ListSignersResponse list;
  ASSERT_TRUE(stub->ListSigners(&lctx, v1::ListSignersRequest(), &list).ok());
  EXPECT_EQ(list.signers_size(), 0);
  EXPECT_TRUE(harness_->audits().empty());
}

TEST_F(SignetdTest, ListSignersShowsOnlyGrantedSigners) {
  auto stub = harness_->Stub(harness_->allowed());
  grpc::ClientContext ctx;
  v1::ListSignersResponse list;
  ASSERT_TRUE(stub->ListSigners(&ctx, v1::ListSignersRequest(), &list).ok());
  ASSERT_EQ(list.signers_size(), 3);
  EXPECT_EQ(list.signers(1).signer_id(), "p384");
  EXPECT_EQ(list.signers(1).curve(), "P-384");
  EXPECT_EQ(list.signers(1).signature_param(), "p384ecdsa");
  EXPECT_EQ(list.signers(1).type(), "contentsignature");
}

TEST_F(SignetdTest, BadClientsNeverReachAHandler) {
  const uint64_t before = harness_->server().handled_calls();
  struct Case {
    const char* name;
    std::shared_ptr<grpc::ChannelCredentials> creds;
  } cases[] = {
      {"no client certificate", harness_->Credentials(nullptr)},
      {"certificate from another CA", harness_->Credentials(&harness_->foreign())},
      {"expired certificate", harness_->Credentials(&harness_->expired())},
      {"plaintext", grpc::InsecureChannelCredentials()},
  };
  for (auto& c : cases) {
    auto stub = harness_->Stub(c.creds);
    SignRequest req;
    req.set_signer_id("p256");
    req.add_inputs("x");
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    SignResponse resp;
    grpc::Status s = stub->Sign(&ctx, req, &resp);
    EXPECT_FALSE(s.ok()) << c.name;
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << c.name << ": " << s.error_message();
  }
  EXPECT_EQ(harness_->server().handled_calls(), before);
  EXPECT_TRUE(harness_->audits().empty());
}

TEST_F(SignetdTest, FloodOnATinyQueueIsRefusedAndTheDaemonStaysHealthy) {
  Start([](daemon::Config& c) {
    c.batching.workers = 1;
    c.batching.queue_size = 4;
    c.batching.max_batch = 1;
  });
  std::atomic<int> ok{0}, exhausted{0}, other{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      auto stub = harness_->Stub(harness_->allowed());
      for (int i = 0; i < 10; ++i) {
        SignRequest req;
        req.set_signer_id("p521");
        for (int k = 0; k < 3; ++k) req.add_inputs("flood");
        grpc::ClientContext ctx;
        SignResponse resp;
        grpc::Status s = stub->Sign(&ctx, req, &resp);
        if (s.ok()) {
          ++ok;
        } else if (s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
          ++exhausted;
        } else {
          ++other;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_GT(exhausted.load(), 0);
  EXPECT_GT(ok.load(), 0);
  EXPECT_EQ(other.load(), 0);
  // Every item is accounted for in the audit log, refused ones included.
  auto audits = harness_->audits();
  EXPECT_EQ(audits.size(), 8u * 10u * 3u);
  size_t refused = 0;
  for (const auto& a : audits) refused += a.result == "RESOURCE_EXHAUSTED";
  EXPECT_EQ(refused, static_cast<size_t>(exhausted.load()) * 3);
  // Still serving afterwards.
  auto stub = harness_->Stub(harness_->allowed());
  SignRequest req;
  req.set_signer_id("p256");
  req.add_inputs("after the flood");
  grpc::ClientContext ctx;
  SignResponse resp;
  EXPECT_TRUE(stub->Sign(&ctx, req, &resp).ok());
}

TEST_F(SignetdTest, ItemsWhoseDeadlinePassedAreNeverSigned) {
  Start([](daemon::Config& c) {
    c.batching.workers = 1;
    c.batching.max_batch = 1;
    c.batching.queue_size = 100000;
  });
  // Occupy the single worker with a long batch, then send a call with a short deadline behind it.
  auto stub = harness_->Stub(harness_->allowed());
  const uint64_t handled_before = harness_->server().handled_calls();
  std::thread busy([&] {
    SignRequest req;
    req.set_signer_id("p521");
    for (int k = 0; k < 400; ++k) req.add_inputs("busy");
    grpc::ClientContext ctx;
    SignResponse resp;
    stub->Sign(&ctx, req, &resp);
  });
  // Wait (bounded) until the busy items are queued: a fixed sleep is not enough under sanitizers, and a
  // late call that overtook them would be signed in time and prove nothing.
  for (int i = 0; i < 1000 && harness_->server().batcher().QueueDepth("p521") < 100; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (harness_->server().batcher().QueueDepth("p521") < 100) {
    busy.join();
    FAIL() << "the busy call's 400 items never stood in the queue";
  }
  SignRequest req;
  req.set_signer_id("p521");  // the same signer's queue: behind the busy items (signers take turns)
  req.add_inputs("late");
  req.set_request_id("late-call");
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(20));
  SignResponse resp;
  grpc::Status s = stub->Sign(&ctx, req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  busy.join();
  // The late item is processed after the busy batch; wait (bounded) for its audit line.
  bool seen = false;
  for (int i = 0; i < 500 && !seen; ++i) {
    for (const auto& a : harness_->audits()) {
      if (a.request_id != "late-call") continue;
      seen = true;
      EXPECT_EQ(a.result, "DEADLINE_EXCEEDED") << "a late item must never be signed";
    }
    if (!seen) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  // On a slow machine (sanitizers, a loaded CI host) gRPC can cancel the late call before any handler
  // sees it; then nothing reached the batcher and there is nothing to account for. A call that did
  // reach the handler (two handled calls: the busy one and the late one) must have its audit line.
  if (harness_->server().handled_calls() - handled_before == 2) {
    EXPECT_TRUE(seen) << "the late item reached the handler but was not accounted for";
  }
}

}  // namespace
}  // namespace signet

namespace signet {
namespace {

TEST(SignetdStartTest, DefaultWorkersAreTwoPerCore) {
  EXPECT_EQ(daemon::DefaultWorkers(0), 2u);  // the core count was not available
  EXPECT_EQ(daemon::DefaultWorkers(1), 2u);
  EXPECT_EQ(daemon::DefaultWorkers(2), 4u);
  EXPECT_EQ(daemon::DefaultWorkers(64), 128u);
}

TEST(SignetdStartTest, AMissingCrlFileFailsStartRatherThanBeingIgnored) {
  // An operator who configured revocation must never get a daemon that does not check it.
  auto h = testing::DaemonHarness::Start([](daemon::Config& c) { c.server.tls.crl_file = "/nonexistent/clients.crl"; });
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(h.status().message()), ::testing::HasSubstr("server.tls.crl_file: /nonexistent/clients.crl"));
}

TEST(SignetdStartTest, PinFilesOthersMayReadAndSymlinksFailStartNamingTheField) {
  auto h = testing::DaemonHarness::Prepare();
  ASSERT_TRUE(h.ok()) << h.status();
  const std::string pin = *(*h)->config().hsm.pin_file;
  for (const mode_t mode : {0644, 0640, 0604, 0660, 0606}) {
    ASSERT_EQ(::chmod(pin.c_str(), mode), 0);
    const absl::Status s = (*h)->StartServer();
    const std::string msg(s.message());
    EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << std::oct << mode << ": " << s;
    EXPECT_THAT(msg, ::testing::HasSubstr("hsm.pin_file: secret file " + pin)) << std::oct << mode;
    EXPECT_THAT(msg, ::testing::HasSubstr("lets group or others access it; use chmod 600")) << std::oct << mode;
    EXPECT_THAT(msg, ::testing::Not(::testing::HasSubstr(testing::kTestUserPin)));
  }
  ASSERT_EQ(::chmod(pin.c_str(), 0600), 0);
  const std::string link = (*h)->dir() + "/link.pin";
  ASSERT_EQ(::symlink(pin.c_str(), link.c_str()), 0);
  (*h)->mutable_config().hsm.pin_file = link;
  const absl::Status s = (*h)->StartServer();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("hsm.pin_file: secret file " + link +
                                                             ": is a symbolic link; give the real path"));
  // The control: the same harness starts with the real file at 0600 (and 0400).
  (*h)->mutable_config().hsm.pin_file = pin;
  ASSERT_EQ(::chmod(pin.c_str(), 0400), 0);
  EXPECT_TRUE((*h)->StartServer().ok());
}

TEST(SignetdStartTest, MissingSignerKeyFailsStartWithTheSignerNamed) {
  auto h = testing::DaemonHarness::Start([](daemon::Config& c) { c.signers[1].key_label = "no-such-key"; });
  ASSERT_FALSE(h.ok());
  EXPECT_THAT(std::string(h.status().message()), ::testing::HasSubstr("signer 'p384'"));
  EXPECT_THAT(std::string(h.status().message()), ::testing::HasSubstr("no-such-key"));
}

}  // namespace
}  // namespace signet

#include "grpc/health/v1/health.grpc.pb.h"
#include "pkcs11/key.h"
#include "pkcs11/token.h"

namespace signet {
namespace {

grpc::health::v1::HealthCheckResponse::ServingStatus HealthOf(testing::DaemonHarness& h, const std::string& service) {
  auto channel = grpc::CreateChannel(h.target(), h.Credentials(&h.allowed()));
  auto stub = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext ctx;
  grpc::health::v1::HealthCheckRequest req;
  req.set_service(service);
  grpc::health::v1::HealthCheckResponse resp;
  grpc::Status s = stub->Check(&ctx, req, &resp);
  if (!s.ok()) return grpc::health::v1::HealthCheckResponse::UNKNOWN;
  return resp.status();
}

TEST(SignetdHealthTest, HealthHeartbeatAndMetricsReflectTheKeys) {
  auto h = testing::DaemonHarness::Start();
  ASSERT_TRUE(h.ok()) << h.status();
  auto& server = (*h)->server();
  EXPECT_EQ(HealthOf(**h, "signet.v1.Signer"), grpc::health::v1::HealthCheckResponse::SERVING);
  EXPECT_EQ(HealthOf(**h, "signet.v1.Signer/p384"), grpc::health::v1::HealthCheckResponse::SERVING);
  auto report = server.Heartbeat();
  EXPECT_TRUE(report.ok) << report.json;
  EXPECT_THAT(report.json, ::testing::HasSubstr("\"p521\":{\"key_present\":true}"));

  // Sign once so the counters have something to show.
  auto stub = (*h)->Stub((*h)->allowed());
  v1::SignRequest req;
  req.set_signer_id("p256");
  req.add_inputs("metrics");
  grpc::ClientContext ctx;
  v1::SignResponse resp;
  ASSERT_TRUE(stub->Sign(&ctx, req, &resp).ok());
  const std::string metrics = server.RenderMetrics();
  EXPECT_THAT(metrics, ::testing::HasSubstr("signet_requests_total{method=\"Sign\",code=\"OK\"} 1"));
  EXPECT_THAT(metrics, ::testing::HasSubstr("signet_signatures_total{signer=\"p256\"} 1"));
  EXPECT_THAT(metrics, ::testing::HasSubstr("signet_queue_depth{signer=\"p256\"} 0"));
  EXPECT_THAT(metrics, ::testing::HasSubstr("signet_hsm_sign_seconds_count{signer=\"p256\"} "));
  EXPECT_THAT(metrics, ::testing::HasSubstr("signet_hsm_up 1"));
  EXPECT_THAT(metrics, ::testing::HasSubstr("signet_call_seconds_count{method=\"Sign\"} 1"));

  // Remove p521's key from the token behind the daemon's back: the heartbeat must say so.
  auto module = pkcs11::Module::Load(SIGNET_SOFTHSM_MODULE);  // the daemon's own, shared
  ASSERT_TRUE(module.ok());
  pkcs11::TokenSelector sel;
  sel.token = "signetd-test";
  auto token = pkcs11::Token::Login(*module, sel, SecretBuffer(testing::kTestUserPin));
  ASSERT_TRUE(token.ok()) << token.status();
  auto session = (*token)->OpenSession(/*read_write=*/true);
  ASSERT_TRUE(session.ok());
  auto key = pkcs11::FindEcKey(*session, pkcs11::KeyQuery{.label = "key-p521"});
  ASSERT_TRUE(key.ok());
  ASSERT_TRUE(pkcs11::DestroyKeyObjects(*session, key->id).ok());
  report = server.Heartbeat();
  EXPECT_FALSE(report.ok);
  EXPECT_THAT(report.json, ::testing::HasSubstr("\"status\":\"error\""));
  EXPECT_THAT(report.json, ::testing::HasSubstr("\"p521\":{\"key_present\":false}"));
  EXPECT_THAT(report.json, ::testing::HasSubstr("\"p256\":{\"key_present\":true}"));
  EXPECT_EQ(HealthOf(**h, "signet.v1.Signer/p521"), grpc::health::v1::HealthCheckResponse::NOT_SERVING);
  EXPECT_EQ(HealthOf(**h, "signet.v1.Signer/p256"), grpc::health::v1::HealthCheckResponse::SERVING);
  EXPECT_EQ(HealthOf(**h, "signet.v1.Signer"), grpc::health::v1::HealthCheckResponse::SERVING);
}

}  // namespace
}  // namespace signet

namespace signet {
namespace {

TEST(SignetdLimitsTest, MessageOverTheTotalBoundIsRefusedBeforeAnyHandler) {
  auto h = testing::DaemonHarness::Start([](daemon::Config& c) { c.limits.max_message_bytes = 64 * 1024; });
  ASSERT_TRUE(h.ok()) << h.status();
  const uint64_t before = (*h)->server().handled_calls();
  auto stub = (*h)->Stub((*h)->allowed());
  v1::SignRequest req;
  req.set_signer_id("p256");
  req.add_inputs(std::string(100 * 1024, 'a'));
  grpc::ClientContext ctx;
  v1::SignResponse resp;
  grpc::Status s = stub->Sign(&ctx, req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
  EXPECT_EQ((*h)->server().handled_calls(), before);
  // Under the bound it works.
  v1::SignRequest small;
  small.set_signer_id("p256");
  small.add_inputs(std::string(1024, 'a'));
  grpc::ClientContext ctx2;
  EXPECT_TRUE(stub->Sign(&ctx2, small, &resp).ok());
}

}  // namespace
}  // namespace signet
