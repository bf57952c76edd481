// signetd assembled: HSM session pool, signer registry, batcher, and the gRPC server over mTLS with
// health and reflection. Start() fails fast with a clear error; Shutdown() drains.
#ifndef SIGNET_DAEMON_SERVER_H_
#define SIGNET_DAEMON_SERVER_H_

#include <memory>
#include <atomic>
#include <condition_variable>
#include <thread>
#include <functional>
#include <mutex>

#include <grpcpp/server.h>

#include "absl/status/statusor.h"
#include "daemon/auth.h"
#include "daemon/batcher.h"
#include "daemon/config.h"
#include "daemon/http_side.h"
#include "daemon/metrics.h"
#include "daemon/signer_registry.h"
#include "daemon/signer_service.h"
#include "pkcs11/module.h"
#include "pkcs11/session_pool.h"
#include "pkcs11/token.h"

namespace signet::daemon {

// Mozilla's "intermediate" TLS 1.2 suites (ECDHE only: gRPC has no DHE parameters). TLS 1.3 suites
// are OpenSSL's defaults, all of which the profile allows.
inline constexpr char kIntermediateCipherSuites[] =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

// Checks that the server certificate, its key and the client CA bundle parse and belong together,
// so a bad file fails start-up with its name instead of failing every handshake later.
absl::Status ValidateTlsFiles(const TlsConfig& tls);

// Optional observers, for tests and embedding; the defaults log.
struct ServerOptions {
  std::function<void(const AuditRecord&)> audit;  // replaces the audit log line when set
};

class SignetServer {
 public:
  static absl::StatusOr<std::unique_ptr<SignetServer>> Start(const Config& config, ServerOptions options = {});
  ~SignetServer();

  // Stops accepting calls, lets in-flight calls finish within drain_timeout (then cancels them),
  // stops the HSM workers after they drained their queue, closes sessions. Idempotent.
  void Shutdown();

  int grpc_port() const { return grpc_port_; }
  int http_port() const { return http_ ? http_->port() : 0; }

  // /__heartbeat__: the HSM answers within hsm.health_timeout and every signer's key is present.
  HeartbeatReport Heartbeat();
  // /metrics
  std::string RenderMetrics() const { return metrics_.Render(); }
  bool hsm_up() const { return hsm_up_.load(); }
  // Calls that reached a handler (admitted or refused there); TLS failures never count.
  uint64_t handled_calls() const { return handled_calls_.load(); }
  SignerRegistry& registry() { return *registry_; }
  Batcher& batcher() { return *batcher_; }

 private:
  SignetServer(const Config& config, ServerOptions options) : config_(config), options_(std::move(options)) {}
  absl::Status Init();

  Config config_;
  ServerOptions options_;
  std::atomic<uint64_t> handled_calls_{0};
  std::atomic<bool> hsm_up_{true};
  std::atomic<bool> draining_{false};
  MetricsRegistry metrics_;
  Counter* requests_ = nullptr;
  Counter* signatures_ = nullptr;
  Histogram* batch_size_ = nullptr;
  Histogram* sign_seconds_ = nullptr;
  Gauge* hsm_up_gauge_ = nullptr;
  void SetHsmUp(bool up, const absl::Status& why);
  void RegisterMetrics();
  std::shared_ptr<pkcs11::Module> module_;
  std::shared_ptr<pkcs11::Token> token_;
  std::shared_ptr<pkcs11::SessionPool> pool_;
  std::unique_ptr<SignerRegistry> registry_;
  std::unique_ptr<Batcher> batcher_;
  std::unique_ptr<Authorizer> authorizer_;
  std::unique_ptr<SignerService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<HttpSidePort> http_;
  // Re-probes the HSM and keys every kHealthInterval so gRPC health follows reality without traffic.
  std::thread health_thread_;
  std::mutex health_mu_;
  std::condition_variable health_cv_;
  bool stopping_ = false;
  int grpc_port_ = 0;
  std::once_flag shutdown_once_;
};

}  // namespace signet::daemon

#endif  // SIGNET_DAEMON_SERVER_H_
