// signetd assembled: HSM session pool, signer registry, batcher, and the gRPC server over mTLS with
// health and reflection. Start() fails fast with a clear error; Shutdown() drains.
#ifndef SIGNET_DAEMON_SERVER_H_
#define SIGNET_DAEMON_SERVER_H_

#include <grpcpp/server.h>

#include <array>
#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "absl/status/statusor.h"
#include "daemon/auth.h"
#include "daemon/batcher.h"
#include "daemon/config.h"
#include "daemon/http_side.h"
#include "daemon/metrics.h"
#include "daemon/signer_registry.h"
#include "daemon/signer_service.h"
#include "daemon/tls.h"  // kIntermediateCipherSuites, CrlDirectory
#include "keymgmt/rotation.h"
#include "pkcs11/module.h"
#include "pkcs11/session_pool.h"
#include "pkcs11/token.h"

namespace signet::daemon {

// batching.workers when the config says 0: two per core.
size_t DefaultWorkers(unsigned cores);

// Checks that the server certificate, its key and the client CA bundle parse and belong together,
// and (with check_crl) that server.tls.crl_file passes LoadClientCrls, so a bad file fails start-up
// with its name instead of failing every handshake later.
absl::Status ValidateTlsFiles(const TlsConfig& tls, bool check_crl = true);

// Optional observers and clocks, for tests and embedding; the defaults log and read the real clock.
struct ServerOptions {
  std::function<void(const AuditRecord&)> audit;  // replaces the audit log line when set
  // Wall-clock time for certificate validity, rotation and expiry (tests move it to simulate months).
  std::function<absl::Time()> now;
};

// Expiry warnings on /__heartbeat__, per certificate tier.
inline constexpr absl::Duration kWarnEeExpiry = absl::Hours(24 * 15);                // 15 days
inline constexpr absl::Duration kWarnIntermediateExpiry = absl::Hours(24 * 7 * 15);  // 15 weeks
inline constexpr absl::Duration kWarnRootExpiry = absl::Hours(24 * 456);             // 15 months

class SignetServer {
 public:
  static absl::StatusOr<std::unique_ptr<SignetServer>> Start(const Config& config,
                                                             ServerOptions options = {});
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

  // One pass of the internal rotation timer (rotation.mode internal): every contentsignaturepki signer
  // rotates if due (or `force`), then the registry is refreshed. Failures are logged at ERROR, counted
  // and returned; the current keys keep serving. A no-op in external mode.
  absl::Status RotateDue(bool force = false);
  // SIGHUP: re-reads server.tls.crl_file; new handshakes use a newer CRL (CrlDirectory::Reload).
  // Returns what is in use now, or why the file was refused (the CRLs in use stay in force).
  absl::StatusOr<std::string> ReloadCrl();
  // One pass of the reload timer: picks up keys activated by any writer (this daemon, `signet rotate`,
  // another replica) and drops keys whose certificates expired.
  absl::Status RefreshSigners();

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
  HistogramChild* call_seconds_sign_ = nullptr;
  HistogramChild* call_seconds_sign_hash_ = nullptr;
  Gauge* hsm_up_gauge_ = nullptr;
  Counter* rotations_ = nullptr;
  struct SignerMetrics {
    HistogramChild* sign_seconds = nullptr;
    CounterChild* signatures = nullptr;
  };
  std::vector<SignerMetrics> signer_metrics_;  // by SignerState::index; fixed at start
  // signet_requests_total children by method and code, resolved on first use (the hot path takes no lock).
  static constexpr size_t kGrpcCodes = 17;
  std::array<std::array<std::atomic<CounterChild*>, kGrpcCodes>, 4> request_counters_{};
  CounterChild& RequestCounter(std::string_view method, grpc::StatusCode code);
  Gauge* rotation_last_ok_ = nullptr;
  Counter* key_changes_ = nullptr;
  absl::Time Now() const { return options_.now ? options_.now() : absl::Now(); }
  void UpdateSignerHealth();
  absl::Status RotateAll(bool force);
  void LifecycleLoop();
  void SetHsmUp(bool up, const absl::Status& why);
  // HSM recovery: while the HSM is down, probe it with backoff (50 ms doubling to 1 s) by signing a
  // fixed digest and verifying it; after a device-class failure, reinitialize the module first.
  void RecoveryLoop();
  absl::Status TryRecover();
  absl::Status Canary();
  void RegisterMetrics();
  std::shared_ptr<pkcs11::Module> module_;
  std::shared_ptr<pkcs11::Token> token_;
  std::shared_ptr<pkcs11::SessionPool> pool_;
  std::unique_ptr<SignerRegistry> registry_;
  std::shared_ptr<pkcs11::SessionPool> rotation_pool_;  // read-write sessions for key generation
  std::map<std::string, std::unique_ptr<keymgmt::Rotator>> rotators_;  // internal mode only
  std::mutex rotation_mu_;                                             // one rotation pass at a time
  std::unique_ptr<Batcher> batcher_;
  std::unique_ptr<Authorizer> authorizer_;
  std::unique_ptr<SignerService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<HttpSidePort> http_;
  std::unique_ptr<CrlDirectory> crl_dir_;  // server.tls.crl_file laid out for gRPC; null without one
  // Re-probes the HSM and keys every kHealthInterval so gRPC health follows reality without traffic.
  std::thread health_thread_;
  std::thread lifecycle_thread_;  // reload_interval: refresh signers; check_interval: rotate (internal)
  std::mutex health_mu_;
  std::condition_variable health_cv_;
  bool stopping_ = false;
  std::thread recovery_thread_;
  std::mutex recovery_mu_;
  std::condition_variable recovery_cv_;
  bool recovery_stop_ = false;  // guarded by recovery_mu_
  // One probe signature at a time (a hung one keeps it); shared with the probe's detached thread.
  std::shared_ptr<std::atomic<bool>> canary_running_ = std::make_shared<std::atomic<bool>>(false);
  Counter* recoveries_ = nullptr;         // signet_hsm_recoveries_total
  Counter* reinitializations_ = nullptr;  // signet_hsm_reinitializations_total{result}
  Counter* call_timeouts_ = nullptr;      // signet_hsm_call_timeouts_total
  Counter* bad_signatures_ = nullptr;     // signet_signature_check_failures_total{signer}
  int grpc_port_ = 0;
  std::once_flag shutdown_once_;
};

}  // namespace signet::daemon

#endif  // SIGNET_DAEMON_SERVER_H_
