#include "daemon/server.h"

#include <malloc.h>

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <grpcpp/server_builder.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <future>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/absl_compat.h"
#include "common/files.h"
#include "common/openssl_ptr.h"
#include "common/secret.h"
#include "common/thread_name.h"
#include "common/time_text.h"
#include "daemon/mozlog.h"
#include "daemon/rotation_setup.h"
#include "pkcs11/error.h"
#include "pkcs11/key.h"
#include "pkcs11/uri.h"
#include "signing/content_signature.h"
#include "spdlog/spdlog.h"

namespace signet::daemon {
namespace {

constexpr size_t kMaxPemBytes = 1024 * 1024;
constexpr char kServiceName[] = "signet.v1.Signer";
constexpr int kMaxConcurrentStreamsPerConnection = 256;

absl::StatusOr<BioPtr> ReadPemBio(const std::string& field, const std::string& path) {
  auto text = ReadFileBounded(path, kMaxPemBytes);
  if (!text.ok())
    return absl::Status(text.status().code(), absl::StrCat(field, ": ", text.status().message()));
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio ||
      BIO_write(bio.get(), text->data(), static_cast<int>(text->size())) != static_cast<int>(text->size())) {
    return absl::InternalError("BIO_write failed");
  }
  return bio;
}

}  // namespace

absl::Status ValidateTlsFiles(const TlsConfig& tls, bool check_crl) {
  auto cert_bio = ReadPemBio("server.tls.cert_file", tls.cert_file);
  if (!cert_bio.ok()) return cert_bio.status();
  X509Ptr cert(PEM_read_bio_X509(cert_bio->get(), nullptr, nullptr, nullptr));
  if (!cert)
    return absl::InvalidArgumentError(
        absl::StrCat("server.tls.cert_file: ", tls.cert_file, ": no PEM certificate"));
  auto key_bio = ReadPemBio("server.tls.key_file", tls.key_file);
  if (!key_bio.ok()) return key_bio.status();
  EvpPkeyPtr key(PEM_read_bio_PrivateKey(key_bio->get(), nullptr, nullptr, nullptr));
  if (!key)
    return absl::InvalidArgumentError(
        absl::StrCat("server.tls.key_file: ", tls.key_file, ": no PEM private key"));
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("server.tls.key_file: ", tls.key_file,
                                                   " does not match server.tls.cert_file ", tls.cert_file));
  }
  auto ca_bio = ReadPemBio("server.tls.client_ca_file", tls.client_ca_file);
  if (!ca_bio.ok()) return ca_bio.status();
  X509Ptr ca(PEM_read_bio_X509(ca_bio->get(), nullptr, nullptr, nullptr));
  if (!ca) {
    return absl::InvalidArgumentError(
        absl::StrCat("server.tls.client_ca_file: ", tls.client_ca_file, ": no PEM certificate"));
  }
  if (check_crl && tls.crl_file) {
    if (auto crls = LoadClientCrls(tls, absl::Now()); !crls.ok()) return crls.status();
  }
  return absl::OkStatus();
}

size_t DefaultWorkers(unsigned cores) {
  // Two per core: with the HSM's work on more threads than gRPC's, the scheduler gives the HSM the
  // larger share of a saturated machine (P-384, 1 item per call: 0.89 -> 0.96 of the ceiling on 2
  // cores), and a network HSM gets more requests in flight. docs/PERFORMANCE.md has the sweep.
  return std::max<size_t>(2, 2 * static_cast<size_t>(cores));
}

absl::StatusOr<std::unique_ptr<SignetServer>> SignetServer::Start(const Config& config,
                                                                  ServerOptions options) {
  std::unique_ptr<SignetServer> s(new SignetServer(config, std::move(options)));
  if (auto status = s->Init(); !status.ok()) {
    s->Shutdown();
    return status;
  }
  return s;
}

absl::Status SignetServer::Init() {
  if (auto s = ValidateTlsFiles(config_.server.tls, /*check_crl=*/false); !s.ok()) return s;
  if (config_.server.tls.crl_file) {
    // Validated and laid out for gRPC; handshakes check revocation against the real clock.
    auto crl_dir = CrlDirectory::Create(config_.server.tls, absl::Now());
    if (!crl_dir.ok()) return crl_dir.status();
    crl_dir_ = *std::move(crl_dir);
    spdlog::info("signetd: client certificates are checked against server.tls.crl_file: {}", crl_dir_->Summary());
  }

  // HSM: module, token login, a pool with one session per worker plus one for control-plane work.
  absl::StatusOr<SecretBuffer> pin =
      config_.hsm.pin_file ? ReadSecretFile(*config_.hsm.pin_file) : ReadSecretEnv(*config_.hsm.pin_env);
  if (!pin.ok())
    return pkcs11::WithContext(pin.status(), config_.hsm.pin_file ? "hsm.pin_file" : "hsm.pin_env");
  auto module = pkcs11::Module::Load(config_.hsm.module);
  if (!module.ok()) return pkcs11::WithContext(module.status(), "hsm.module");
  module_ = *std::move(module);
  auto selector = pkcs11::ParseTokenSelector(config_.hsm.token);
  if (!selector.ok()) return pkcs11::WithContext(selector.status(), "hsm.token");
  auto token = pkcs11::Token::Login(module_, *selector, *std::move(pin));
  if (!token.ok()) return pkcs11::WithContext(token.status(), "hsm.token");
  token_ = *std::move(token);

  BatcherOptions bopts;
  bopts.workers = config_.batching.workers != 0 ? config_.batching.workers
                                                : DefaultWorkers(std::thread::hardware_concurrency());
  bopts.max_batch = config_.batching.max_batch;
  bopts.max_linger = config_.batching.max_linger;
  bopts.queue_size = config_.batching.queue_size;
  pkcs11::SessionPoolOptions popts;
  bopts.call_timeout = absl::ToChronoMilliseconds(config_.hsm.call_timeout);
  bopts.verify_every = static_cast<uint32_t>(config_.hsm.verify_every);
  // One per worker, as many again for workers replacing ones stuck in a hung HSM call, plus two for
  // control-plane work (heartbeat probe, recovery probe, key lookups on refresh).
  popts.max_sessions = 2 * bopts.workers + 2;
  auto pool = pkcs11::SessionPool::Create(token_, popts);
  if (!pool.ok()) return pool.status();
  pool_ = *std::move(pool);

  auto registry = SignerRegistry::Create(config_.signers, pool_);
  if (!registry.ok()) return registry.status();
  registry_ = *std::move(registry);
  RegisterMetrics();
  // Per-signer metric children, resolved once: the hot path indexes them by SignerState::index.
  signer_metrics_.resize(config_.signers.size());
  for (size_t i = 0; i < config_.signers.size(); ++i) {
    const std::string& id = config_.signers[i].id;
    signer_metrics_[i] = {&sign_seconds_->WithLabels({id}), &signatures_->WithLabels({id})};
  }
  const bool any_pki = std::any_of(config_.signers.begin(), config_.signers.end(),
                                   [](const SignerConfig& c) { return c.pki.has_value(); });
  if (any_pki && config_.rotation.mode == "internal") {
    pkcs11::SessionPoolOptions ropts;
    ropts.max_sessions = 2;
    ropts.read_write = true;
    auto rpool = pkcs11::SessionPool::Create(token_, ropts);
    if (!rpool.ok()) return rpool.status();
    rotation_pool_ = *std::move(rpool);
    for (const SignerConfig& c : config_.signers) {
      if (!c.pki) continue;
      auto rotator = MakeRotator(c, rotation_pool_);
      if (!rotator.ok()) return rotator.status();
      rotators_[c.id] = *std::move(rotator);
    }
  }
  // Keys activated before this start (by a previous run, `signet rotate` or another replica).
  if (auto s = RefreshSigners(); !s.ok()) return s;
  BatcherHooks bhooks;
  bhooks.on_batch = [this](size_t n) { batch_size_->WithLabels({}).Observe(static_cast<double>(n)); };
  bhooks.on_sign = [this](const SignerState& s, double seconds, bool) {
    signer_metrics_[s.index].sign_seconds->Observe(seconds);
  };
  bhooks.on_hsm_unavailable = [this](const absl::Status& why) { SetHsmUp(false, why); };
  bhooks.on_call_timeout = [this] { call_timeouts_->WithLabels({}).Inc(); };
  bhooks.on_bad_signature = [this](const SignerState& s, const absl::Status& why) {
    bad_signatures_->WithLabels({s.id}).Inc();
    MozLog::Event(spdlog::level::err, "signet.hsm",
                  {{"signer", s.id},
                   {"key_id", s.key_id_hex},
                   {"error", absl::StrCat("bad signature: ", why.message())}});
  };
  std::vector<BatcherSigner> batcher_signers;
  for (const SignerConfig& c : config_.signers) batcher_signers.push_back({c.id, c.hsm_concurrency});
  auto batcher = Batcher::Create(pool_, batcher_signers, bopts, std::move(bhooks));
  if (!batcher.ok()) return batcher.status();
  batcher_ = *std::move(batcher);
  authorizer_ = std::make_unique<Authorizer>(config_.authorization);

  ServiceHooks hooks;
  hooks.on_call = [this](std::string_view method, grpc::StatusCode code) {
    handled_calls_.fetch_add(1, std::memory_order_relaxed);
    RequestCounter(method, code).Inc();
  };
  hooks.on_signed = [this](const SignerState& s, size_t n) { signer_metrics_[s.index].signatures->Inc(n); };
  hooks.on_call_seconds = [this](std::string_view method, double seconds) {
    (method == "Sign" ? call_seconds_sign_ : call_seconds_sign_hash_)->Observe(seconds);
  };
  hooks.audit = options_.audit;
  if (!hooks.audit) {
    // One line per item: borrowed fields, formatted into the worker's batch (MozLogBatch), no allocation.
    hooks.audit = [](const AuditRecord& r) {
      const LogFieldView fields[] = {{"method", r.method},     {"request_id", r.request_id},
                                     {"identity", r.identity}, {"signer", r.signer},
                                     {"key_id", r.key_id},     {"input_sha256", r.input_sha256},
                                     {"result", r.result},     {"error", r.error}};
      MozLog::EventViews(spdlog::level::info, "signet.audit",
                         std::span<const LogFieldView>(fields, r.error.empty() ? 7 : 8));
    };
  }

  service_ = std::make_unique<SignerService>(registry_.get(), batcher_.get(), authorizer_.get(),
                                             config_.limits, std::move(hooks));

  // mTLS: the server requires a client certificate and verifies it against the client CA. Files are
  // watched, so replaced certificates apply to new connections without a restart.
  auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      config_.server.tls.key_file, config_.server.tls.cert_file, config_.server.tls.client_ca_file,
      /*refresh_interval_sec=*/1);
  grpc::experimental::TlsServerCredentialsOptions tls(provider);
  tls.watch_root_certs();
  tls.watch_identity_key_cert_pairs();
  tls.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  // Revocation: OpenSSL checks the client's chain against the CRLs (X509_V_FLAG_CRL_CHECK|CRL_CHECK_ALL)
  // during the handshake; a revoked certificate fails it like an untrusted one.
  if (crl_dir_) tls.set_crl_directory(crl_dir_->path());
  auto creds = grpc::experimental::TlsServerCredentials(tls);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(config_.server.listen, creds, &grpc_port_);
  // At most this many calls in flight per client connection (HTTP/2 streams); more wait in the client.
  // Without it a client that sends faster than it reads answers makes signetd hold every call it
  // sent (12-18 KiB each): the soak saw RSS reach 4 GiB (docs/PERFORMANCE.md, Soak).
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, kMaxConcurrentStreamsPerConnection);
  builder.SetMaxReceiveMessageSize(
      static_cast<int>(std::min<size_t>(config_.limits.max_message_bytes, INT32_MAX)));
  builder.RegisterService(service_.get());
  server_ = builder.BuildAndStart();
  if (server_ == nullptr || grpc_port_ == 0) {
    return absl::UnavailableError(absl::StrCat("server.listen: cannot listen on ", config_.server.listen));
  }
  if (!config_.server.http_listen.empty()) {
    SidePortHandlers handlers;
    handlers.heartbeat = [this] { return Heartbeat(); };
    handlers.metrics = [this] { return RenderMetrics(); };
    handlers.x5u_dir = config_.server.x5u_dir;
    handlers.version_json =
        absl::StrCat("{\"source\":\"signet\",\"version\":\"", SIGNET_VERSION, "\",\"commit\":\"",
                     SIGNET_COMMIT, "\",\"build\":\"", SIGNET_BUILD, "\"}");
    auto http = HttpSidePort::Start(config_.server.http_listen, config_.server.tls, std::move(handlers));
    if (!http.ok()) return http.status();
    http_ = *std::move(http);
  }
  health_thread_ = std::thread([this] {
    NameThisThread("health");
    std::unique_lock<std::mutex> lock(health_mu_);
    while (!health_cv_.wait_for(lock, std::chrono::seconds(10), [this] { return stopping_; })) {
      lock.unlock();
      Heartbeat();
      // glibc keeps what the request threads freed in their arenas; give the free pages back to the
      // kernel, so RSS follows what signetd holds rather than its busiest moment (ops/soak.sh judges
      // RSS growth). The free tops of the threads' arenas are trimmed as they are freed instead,
      // because main() turns glibc's fastbins off (common/malloc_tuning.h).
      malloc_trim(0);
      lock.lock();
    }
  });
  server_->GetHealthCheckService()->SetServingStatus(kServiceName, true);
  UpdateSignerHealth();
  if (any_pki) {
    lifecycle_thread_ = std::thread([this] {
      NameThisThread("lifecycle");
      LifecycleLoop();
    });
  }
  recovery_thread_ = std::thread([this] {
    NameThisThread("hsm-recovery");
    RecoveryLoop();
  });
  spdlog::info(
      "signetd: serving signet.v1.Signer on {} (port {}), HTTPS side port {}, {} HSM workers, {} signers",
      config_.server.listen, grpc_port_, http_port(), bopts.workers, registry_->Ids().size());
  return absl::OkStatus();
}

absl::StatusOr<std::string> SignetServer::ReloadCrl() {
  if (!crl_dir_) return std::string("no server.tls.crl_file configured");
  return crl_dir_->Reload(absl::Now());
}

void SignetServer::RegisterMetrics() {
  requests_ = &metrics_.AddCounter("signet_requests_total", "gRPC calls by method and status code.",
                                   {"method", "code"});
  signatures_ = &metrics_.AddCounter("signet_signatures_total", "Items signed, by signer.", {"signer"});
  batch_size_ = &metrics_.AddHistogram("signet_batch_size", "Items an HSM worker took at once.", {},
                                       {1, 2, 4, 8, 16, 32, 64, 128, 256});
  sign_seconds_ =
      &metrics_.AddHistogram("signet_hsm_sign_seconds", "Latency of one HSM signature (C_SignInit+C_Sign).",
                             {"signer"}, ExponentialBuckets(0.00005, 2, 16));
  Histogram& call_seconds = metrics_.AddHistogram(
      "signet_call_seconds",
      "Sign and SignHash calls: seconds from the handler to the answer (queue, HSM, encoding).", {"method"},
      ExponentialBuckets(0.00005, 2, 16));
  call_seconds_sign_ = &call_seconds.WithLabels({"Sign"});
  call_seconds_sign_hash_ = &call_seconds.WithLabels({"SignHash"});
  hsm_up_gauge_ =
      &metrics_.AddGauge("signet_hsm_up", "1 while the HSM is serving; 0 while signetd is recovering it.");
  hsm_up_gauge_->WithLabels({}).Set(1);
  recoveries_ =
      &metrics_.AddCounter("signet_hsm_recoveries_total", "HSM outages signetd recovered from by itself.");
  reinitializations_ = &metrics_.AddCounter(
      "signet_hsm_reinitializations_total",
      "PKCS#11 module reinitializations (C_Finalize + C_Initialize), by result.", {"result"});
  call_timeouts_ =
      &metrics_.AddCounter("signet_hsm_call_timeouts_total",
                           "HSM calls abandoned after hsm.call_timeout (their worker was replaced).");
  bad_signatures_ = &metrics_.AddCounter(
      "signet_signature_check_failures_total",
      "Signatures from the HSM that were malformed or did not verify, and so were not returned, by signer.",
      {"signer"});
  metrics_.AddCallbackGauge("signet_queue_depth", "Items waiting for an HSM worker, by signer.", {"signer"},
                            [this] {
                              std::vector<GaugeSample> out;
                              if (!batcher_ || !registry_) return out;
                              for (const auto& id : registry_->Ids()) {
                                out.push_back({{id}, static_cast<double>(batcher_->QueueDepth(id))});
                              }
                              return out;
                            });
  metrics_.AddCallbackGauge(
      "signet_certificate_expiry_seconds",
      "Seconds until a certificate expires, by signer and tier (ee, intermediate, root).", {"signer", "tier"},
      [this] {
        std::vector<GaugeSample> out;
        if (!registry_) return out;
        const int64_t now = absl::ToUnixSeconds(Now());
        for (const auto& s : registry_->All()) {
          for (auto [tier, not_after] :
               {std::pair{"ee", s->not_after_unix}, std::pair{"intermediate", s->intermediate_not_after_unix},
                std::pair{"root", s->root_not_after_unix}}) {
            if (not_after > 0) out.push_back({{s->id, tier}, static_cast<double>(not_after - now)});
          }
        }
        return out;
      });
  // crl_dir_ is set before this (Start) and never changes. Real time: OpenSSL checks CRLs against it.
  metrics_.AddCallbackGauge(
      "signet_client_crl_expiry_seconds",
      "Seconds until the first client CRL in use passes its nextUpdate, after which every client of its CA "
      "is refused. No sample without server.tls.crl_file, or when no CRL in use has a nextUpdate.",
      {}, [this] {
        std::vector<GaugeSample> out;
        if (!crl_dir_) return out;
        if (auto next = crl_dir_->EarliestNextUpdate()) {
          const int64_t left = absl::ToUnixSeconds(*next) - absl::ToUnixSeconds(absl::Now());
          out.push_back({{}, static_cast<double>(left)});
        }
        return out;
      });
  rotations_ = &metrics_.AddCounter("signet_rotations_total",
                                    "Rotation checks by signer and result (rotated, not_due, failed).",
                                    {"signer", "result"});
  rotation_last_ok_ =
      &metrics_.AddGauge("signet_rotation_last_success_timestamp_seconds",
                         "When the last rotation check of a signer succeeded (Unix time).", {"signer"});
  key_changes_ = &metrics_.AddCounter(
      "signet_signer_key_changes_total",
      "Times a signer switched to another key (or to none) without a restart.", {"signer"});
}

CounterChild& SignetServer::RequestCounter(std::string_view method, grpc::StatusCode code) {
  static constexpr std::string_view kMethods[] = {"Sign", "SignHash", "GetSigner", "ListSigners"};
  const size_t c = static_cast<size_t>(code);
  for (size_t m = 0; m < std::size(kMethods); ++m) {
    if (kMethods[m] != method || c >= kGrpcCodes) continue;
    CounterChild* child = request_counters_[m][c].load(std::memory_order_acquire);
    if (child == nullptr) {
      child = &requests_->WithLabels({method, StatusCodeName(code)});
      request_counters_[m][c].store(child, std::memory_order_release);
    }
    return *child;
  }
  return requests_->WithLabels({method, StatusCodeName(code)});
}

absl::Status SignetServer::RotateDue(bool force) {
  absl::Status first_error = RotateAll(force);
  absl::Status refreshed = RefreshSigners();
  return first_error.ok() ? refreshed : first_error;
}

absl::Status SignetServer::RotateAll(bool force) {
  std::lock_guard<std::mutex> lock(rotation_mu_);
  absl::Status first_error;
  for (const auto& [id, rotator] : rotators_) {
    auto outcome = rotator->RotateIfDue(Now(), force);
    if (!outcome.ok()) {
      rotations_->WithLabels({id, "failed"}).Inc();
      MozLog::Event(spdlog::level::err, "signet.rotation",
                    {{"signer", id}, {"result", "failed"}, {"error", Sv(outcome.status().message())}});
      if (first_error.ok()) first_error = outcome.status();
      continue;
    }
    rotations_->WithLabels({id, outcome->rotated ? "rotated" : "not_due"}).Inc();
    rotation_last_ok_->WithLabels({id}).Set(static_cast<double>(absl::ToUnixSeconds(Now())));
    LogFields fields = {{"signer", id},
                        {"result", outcome->rotated ? "rotated" : "not_due"},
                        {"reason", outcome->reason},
                        {"key_label", outcome->label},
                        {"key_id", outcome->key_id_hex},
                        {"pruned", absl::StrCat(outcome->pruned)}};
    if (outcome->rotated) fields.emplace_back("x5u", outcome->x5u);
    MozLog::Event(outcome->rotated ? spdlog::level::info : spdlog::level::debug, "signet.rotation", fields);
  }
  return first_error;
}

absl::Status SignetServer::RefreshSigners() {
  if (!registry_) return absl::OkStatus();
  auto changes = registry_->Refresh(Now());
  if (!changes.ok()) {
    MozLog::Event(spdlog::level::err, "signet.signers", {{"error", Sv(changes.status().message())}});
    return changes.status();
  }
  for (const auto& c : *changes) {
    if (c.kept) {
      MozLog::Event(spdlog::level::warn, "signet.signers",
                    {{"signer", c.signer}, {"key_id", c.to_key_id}, {"passed_over", c.detail}});
      continue;
    }
    key_changes_->WithLabels({c.signer}).Inc();
    MozLog::Event(c.to_key_id.empty() ? spdlog::level::err : spdlog::level::info, "signet.signers",
                  {{"signer", c.signer},
                   {"from_key_id", c.from_key_id},
                   {"to_key_id", c.to_key_id},
                   {"detail", c.detail}});
  }
  if (!changes->empty()) UpdateSignerHealth();
  return absl::OkStatus();
}

void SignetServer::UpdateSignerHealth() {
  if (!server_ || draining_.load()) return;
  auto* health = server_->GetHealthCheckService();
  if (health == nullptr) return;
  for (const auto& s : registry_->All()) {
    health->SetServingStatus(absl::StrCat(kServiceName, "/", s->id), s->key != nullptr && hsm_up_.load());
  }
}

void SignetServer::LifecycleLoop() {
  const auto reload = absl::ToChronoMilliseconds(config_.rotation.reload_interval);
  const auto check = absl::ToChronoMilliseconds(config_.rotation.check_interval);
  auto next_rotation = std::chrono::steady_clock::now();  // rotate what is due right away at start
  std::unique_lock<std::mutex> lock(health_mu_);
  while (!stopping_) {
    lock.unlock();
    if (!rotators_.empty() && std::chrono::steady_clock::now() >= next_rotation) {
      (void)RotateDue();  // logged and counted; the current keys keep serving
      next_rotation = std::chrono::steady_clock::now() + check;
    } else {
      (void)RefreshSigners();
    }
    lock.lock();
    health_cv_.wait_for(lock, reload, [this] { return stopping_; });
  }
}

void SignetServer::SetHsmUp(bool up, const absl::Status& why) {
  if (hsm_up_.exchange(up) == up) return;  // only transitions are acted on
  hsm_up_gauge_->WithLabels({}).Set(up ? 1 : 0);
  if (batcher_) {
    if (up) {
      batcher_->SetUp();
    } else {
      batcher_->SetDown(why);  // fail fast while down; what is queued is answered now
    }
  }
  if (!up) {
    { std::lock_guard<std::mutex> lock(recovery_mu_); }
    recovery_cv_.notify_all();
  }
  if (server_ && !draining_.load()) {
    if (auto* health = server_->GetHealthCheckService()) health->SetServingStatus(kServiceName, up);
  }
  if (up) {
    MozLog::Event(spdlog::level::info, "signet.hsm", {{"state", "up"}});
  } else {
    MozLog::Event(spdlog::level::err, "signet.hsm", {{"state", "down"}, {"error", Sv(why.message())}});
  }
}

void SignetServer::RecoveryLoop() {
  constexpr auto kMinBackoff = std::chrono::milliseconds(50);
  constexpr auto kMaxBackoff = std::chrono::milliseconds(1000);
  auto backoff = kMinBackoff;
  std::unique_lock<std::mutex> lock(recovery_mu_);
  while (true) {
    recovery_cv_.wait(lock, [this] { return recovery_stop_ || !hsm_up_.load(); });
    if (recovery_stop_) return;
    if (recovery_cv_.wait_for(lock, backoff, [this] { return recovery_stop_; })) return;
    lock.unlock();
    const absl::Status s = TryRecover();
    if (s.ok()) {
      recoveries_->WithLabels({}).Inc();
      SetHsmUp(true, absl::OkStatus());
      UpdateSignerHealth();
      backoff = kMinBackoff;
    } else {
      spdlog::warn("signetd: HSM still unavailable ({}); next try in {} ms", Sv(s.message()),
                   std::min(backoff * 2, kMaxBackoff).count());
      backoff = std::min(backoff * 2, kMaxBackoff);
    }
    lock.lock();
  }
}

absl::Status SignetServer::TryRecover() {
  absl::Status s = Canary();
  if (s.ok()) return s;
  // The device or the module lost its state (a network HSM restarted, the library was finalized):
  // sessions and logins will not come back by themselves. Start the module afresh; sessions, logins
  // and key handles are then redone as they are next used.
  const std::optional<CK_RV> rv = pkcs11::CkrOf(s);
  if (!rv.has_value() || !pkcs11::IsDeviceError(*rv)) return s;
  absl::Status r = module_->Reinitialize(std::chrono::milliseconds(500));
  reinitializations_->WithLabels({r.ok() ? "ok" : "failed"}).Inc();
  if (!r.ok()) return pkcs11::WithContext(s, absl::StrCat("and ", r.message()));
  return Canary();
}

absl::Status SignetServer::Canary() {
  // A probe signature with a serving key, verified: the only proof that signing works again (a session
  // check passes while C_Sign still fails). Without any key, a session check.
  std::shared_ptr<pkcs11::HsmKey> key;
  for (const auto& signer : registry_->All()) {
    if (signer->key != nullptr) {
      key = signer->key;
      break;
    }
  }
  if (canary_running_->exchange(true))
    return absl::UnavailableError("the previous HSM probe has not returned");
  auto promise = std::make_shared<std::promise<absl::Status>>();
  auto future = promise->get_future();
  std::thread([promise, key, pool = pool_, running = canary_running_] {
    NameThisThread("hsm-probe");
    absl::Status s;
    if (key != nullptr) {
      const EcCurveInfo& ci = GetEcCurveInfo(key->curve());
      static constexpr char kProbe[] = "signet HSM recovery probe";
      uint8_t digest[EVP_MAX_MD_SIZE];
      unsigned int len = 0;
      if (EVP_Digest(kProbe, sizeof(kProbe) - 1, digest, &len, ci.md(), nullptr) != 1) {
        s = absl::InternalError("EVP_Digest failed");
      } else {
        auto sig = key->SignDigest(std::span<const uint8_t>(digest, len));
        s = sig.ok() ? signing::VerifyDigest(key->public_key(), key->curve(),
                                             std::span<const uint8_t>(digest, len), *sig)
                     : sig.status();
      }
    } else {
      s = pool->Run([](pkcs11::Session& session) { return session.State().status(); });
    }
    running->store(false);
    promise->set_value(std::move(s));
  }).detach();
  if (future.wait_for(absl::ToChronoMilliseconds(config_.hsm.call_timeout)) != std::future_status::ready) {
    return absl::DeadlineExceededError(absl::StrCat("the HSM probe did not answer within hsm.call_timeout (",
                                                    absl::FormatDuration(config_.hsm.call_timeout), ")"));
  }
  return future.get();
}

HeartbeatReport SignetServer::Heartbeat() {
  // The probe runs on its own thread so that a hung HSM cannot hang the heartbeat: after
  // health_timeout we answer 503 and leave the probe to finish (or not) by itself.
  struct Probe {
    bool hsm_ok = false;
    std::string hsm_error;
    std::vector<std::pair<std::string, bool>> keys;
  };
  auto promise = std::make_shared<std::promise<Probe>>();
  auto future = promise->get_future();
  std::shared_ptr<pkcs11::SessionPool> pool = pool_;
  std::vector<std::shared_ptr<const SignerState>> signers =
      registry_ ? registry_->All() : std::vector<std::shared_ptr<const SignerState>>{};
  std::thread([promise, pool, signers] {
    NameThisThread("heartbeat");
    Probe p;
    absl::Status s = pool ? pool->Run([&](pkcs11::Session& session) -> absl::Status {
      auto state = session.State();
      if (!state.ok()) return state.status();
      p.keys.clear();
      for (const auto& signer : signers) {
        p.keys.emplace_back(
            signer->id,
            signer->key != nullptr && pkcs11::FindPrivateKeyHandle(session, signer->key->info().id).ok());
      }
      return absl::OkStatus();
    })
                          : absl::UnavailableError("no HSM session pool");
    p.hsm_ok = s.ok();
    if (!s.ok()) p.hsm_error = std::string(s.message());
    promise->set_value(std::move(p));
  }).detach();

  HeartbeatReport report;
  std::string hsm_json;
  std::string keys_json;
  bool all_keys = true;
  if (future.wait_for(absl::ToChronoMilliseconds(config_.hsm.health_timeout)) != std::future_status::ready) {
    hsm_json = absl::StrCat("{\"ok\":false,\"error\":\"no answer within ",
                            absl::FormatDuration(config_.hsm.health_timeout), "\"}");
    all_keys = false;
    SetHsmUp(false, absl::DeadlineExceededError("HSM probe timed out"));
  } else {
    Probe p = future.get();
    // gRPC health follows the probe: per signer by key presence, overall by the HSM answering. A
    // failed probe marks the HSM down; only the recovery loop's probe signature brings it back up (a
    // session check passes while C_Sign may still fail).
    if (!p.hsm_ok) SetHsmUp(false, absl::UnavailableError(p.hsm_error));
    p.hsm_ok = p.hsm_ok && hsm_up_.load();
    if (!p.hsm_ok && p.hsm_error.empty()) p.hsm_error = "signetd is recovering the HSM";
    if (server_ && !draining_.load()) {
      if (auto* health = server_->GetHealthCheckService()) {
        for (const auto& [id, present] : p.keys) {
          health->SetServingStatus(absl::StrCat(kServiceName, "/", id), present && p.hsm_ok);
        }
        health->SetServingStatus(kServiceName, p.hsm_ok);
      }
    }
    std::string err;
    AppendJsonString(p.hsm_error, &err);
    hsm_json = p.hsm_ok ? "{\"ok\":true}" : absl::StrCat("{\"ok\":false,\"error\":", err, "}");
    for (size_t i = 0; i < p.keys.size(); ++i) {
      const auto& [id, present] = p.keys[i];
      std::string name;
      AppendJsonString(id, &name);
      absl::StrAppend(&keys_json, keys_json.empty() ? "" : ",", name,
                      ":{\"key_present\":", present ? "true" : "false");
      if (signers[i]->key == nullptr && !signers[i]->unavailable.empty()) {
        std::string why;
        AppendJsonString(signers[i]->unavailable, &why);
        absl::StrAppend(&keys_json, ",\"error\":", why);
      }
      absl::StrAppend(&keys_json, "}");
      all_keys = all_keys && present;
    }
    all_keys = all_keys && p.hsm_ok;
  }
  // Certificates close to expiry: a warning, not an outage (the load balancer keeps routing here).
  std::string warnings;
  const absl::Time now = Now();
  for (const auto& signer : signers) {
    for (auto [tier, not_after, threshold] :
         {std::tuple{"end-entity", signer->not_after_unix, kWarnEeExpiry},
          std::tuple{"intermediate", signer->intermediate_not_after_unix, kWarnIntermediateExpiry},
          std::tuple{"root", signer->root_not_after_unix, kWarnRootExpiry}}) {
      if (not_after == 0 || absl::FromUnixSeconds(not_after) - now >= threshold) continue;
      std::string text;
      AppendJsonString(absl::StrCat("signer '", signer->id, "': the ", tier, " certificate expires ",
                                    Rfc3339(absl::FromUnixSeconds(not_after)), ", within ",
                                    absl::FormatDuration(threshold)),
                       &text);
      absl::StrAppend(&warnings, warnings.empty() ? "" : ",", text);
    }
  }
  report.ok = all_keys && !draining_.load();
  const char* status = !report.ok ? "error" : warnings.empty() ? "ok" : "warning";
  report.json = absl::StrCat("{\"status\":\"", status, "\",\"hsm\":", hsm_json, ",\"signers\":{", keys_json,
                             "},\"warnings\":[", warnings, "]}");
  return report;
}

void SignetServer::Shutdown() {
  std::call_once(shutdown_once_, [this] {
    {
      std::lock_guard<std::mutex> lock(health_mu_);
      stopping_ = true;
    }
    health_cv_.notify_all();
    if (health_thread_.joinable()) health_thread_.join();
    {
      std::lock_guard<std::mutex> lock(recovery_mu_);
      recovery_stop_ = true;
    }
    recovery_cv_.notify_all();
    if (recovery_thread_.joinable()) recovery_thread_.join();
    if (lifecycle_thread_.joinable()) lifecycle_thread_.join();
    if (server_) {
      draining_.store(true);
      // Shutdown() sets every service NOT_SERVING and ignores later updates while we drain.
      if (auto* health = server_->GetHealthCheckService()) health->Shutdown();
      spdlog::info("signetd: draining (up to {})", absl::FormatDuration(config_.server.drain_timeout));
      server_->Shutdown(std::chrono::system_clock::now() +
                        absl::ToChronoMilliseconds(config_.server.drain_timeout));
    }
    if (batcher_) batcher_->Stop();
    if (http_) http_->Stop();
    http_.reset();
    server_.reset();
    service_.reset();
    batcher_.reset();
    rotators_.clear();
    rotation_pool_.reset();
    registry_.reset();
    pool_.reset();
    token_.reset();
    module_.reset();
  });
}

SignetServer::~SignetServer() { Shutdown(); }

}  // namespace signet::daemon
