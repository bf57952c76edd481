// signetd's configuration: one YAML file, validated at start. Every error names the YAML path of the
// offending key ("signers[1].key_label: required"). Unknown keys are errors, so a typo never silently
// falls back to a default.
#ifndef SIGNET_DAEMON_CONFIG_H_
#define SIGNET_DAEMON_CONFIG_H_

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/ec_curve.h"

namespace signet::daemon {

inline constexpr size_t kMaxConfigBytes = 1024 * 1024;

struct TlsConfig {
  std::string cert_file;       // server certificate chain (PEM)
  std::string key_file;        // server private key (PEM); a file, this key is not an HSM key
  std::string client_ca_file;  // CA bundle that client certificates must chain to
  std::optional<std::string> crl_file;
};

struct ServerConfig {
  std::string listen = "127.0.0.1:8443";       // gRPC over mTLS; port 0 picks a free port
  std::string http_listen = "127.0.0.1:8080";  // HTTPS side port; "" disables it; port 0 picks
  TlsConfig tls;
  absl::Duration drain_timeout = absl::Seconds(10);  // SIGTERM: how long in-flight calls may finish
  std::optional<std::string> ready_file;  // written (JSON with the bound ports) once serving
  std::optional<std::string> x5u_dir;     // served read-only at /x5u/ on the side port
};

struct HsmConfig {
  std::string module = "/usr/lib/softhsm/libsofthsm2.so";
  std::string token;                    // label, serial=..., or pkcs11: URI (required)
  std::optional<std::string> pin_file;  // exactly one of pin_file / pin_env
  std::optional<std::string> pin_env;
  absl::Duration health_timeout = absl::Seconds(2);  // /__heartbeat__ HSM probe bound
  // An HSM call (one signature) running longer is abandoned: its callers get DEADLINE_EXCEEDED, the
  // worker is replaced and the HSM is marked down until a probe signature succeeds. 10ms..10m.
  absl::Duration call_timeout = absl::Seconds(5);
  // Every signature's length and encoding are checked; one in verify_every is also verified with the
  // public key before it is returned (1: every one; 0: none). 0..1,000,000.
  size_t verify_every = 64;
};

struct BatchingConfig {
  size_t workers = 0;  // HSM worker threads, each owning one session; 0 = two per core
  size_t max_batch = 32;                            // 1..4096
  absl::Duration max_linger = absl::ZeroDuration();  // 0..1s; waiting saves no HSM work
  size_t queue_size = 4096;                         // per signer, 1..1,000,000
  // "hsm_first": every thread but the HSM workers under SCHED_BATCH (common/thread_sched.h); "fair":
  // all SCHED_OTHER.
  std::string scheduling = "hsm_first";
};

struct LimitsConfig {
  size_t max_item_bytes = 1024 * 1024;         // 1..64 MiB
  size_t max_items_per_call = 1000;            // 1..100,000
  size_t max_message_bytes = 64 * 1024 * 1024;  // 1 KiB..1 GiB; gRPC max receive size
  size_t max_signer_id_bytes = 128;            // 1..1024
};

// A contentsignaturepki signer: its end-entity keys rotate (keymgmt/rotation.h) under an intermediate
// in the HSM, and its x5u chain is published and verified against the pinned root.
struct PkiSignerConfig {
  EcCurve curve = EcCurve::kP384;        // of the end-entity keys
  std::string ee_name;                   // DNS SAN of the end-entity certificates
  std::string intermediate_key_label;    // the intermediate's key on the token
  std::string intermediate_cert_file;    // PEM, from the intermediate ceremony
  std::string root_cert_file;            // PEM, from the root ceremony
  std::vector<uint8_t> root_sha256;      // the pin: SHA-256 of the root certificate's DER
  absl::Duration validity = absl::Hours(24 * 60);       // of each end-entity certificate
  absl::Duration rotate_before = absl::Hours(24 * 30);  // rotate this long before the active one expires
  absl::Duration clock_skew = absl::Minutes(10);        // NotBefore = now - skew; NotAfter + skew
  std::string x5u_base_url;              // https://.../ (ends with '/'); chain URL = base + file name
  std::string publication_dir;           // where chain files are written
  std::optional<std::string> x5u_ca_file;  // CA bundle for reading chains back; default: system CAs
};

struct SignerConfig {
  std::string id;    // [A-Za-z0-9._-]{1,max_signer_id_bytes}, unique
  std::string type;  // "contentsignature" | "contentsignaturepki"
  std::string key_label;  // HSM key label (contentsignature)
  std::string x5u;        // optional fixed x5u URL (contentsignature): https:// only
  std::optional<PkiSignerConfig> pki;  // contentsignaturepki only
  size_t hsm_concurrency = 0;  // workers that may sign for this signer at once; 0 = all (batching.workers)
};

struct RotationConfig {
  std::string mode = "internal";  // internal: signetd's own timer rotates; external: `signet rotate` does
  absl::Duration check_interval = absl::Minutes(10);   // internal: how often rotation checks what is due
  absl::Duration reload_interval = absl::Seconds(30);  // how often every replica looks for a new key
};

struct AuthorizationRule {
  std::string identity;              // SAN URI, DNS SAN or CN of the client certificate
  std::vector<std::string> signers;  // signer ids this identity may use; each must exist
};

struct LoggingConfig {
  std::string level = "info";     // trace|debug|info|warn|error
  std::string format = "mozlog";  // mozlog|text
  std::string logger_name = "signetd";
};

struct Config {
  ServerConfig server;
  HsmConfig hsm;
  BatchingConfig batching;
  LimitsConfig limits;
  std::vector<SignerConfig> signers;            // at least one
  std::vector<AuthorizationRule> authorization;  // identities unique
  RotationConfig rotation;
  LoggingConfig logging;

  // Parses and validates YAML text. `origin` (a file name) prefixes error messages.
  static absl::StatusOr<Config> Parse(std::string_view yaml, std::string_view origin = "config");
  // Reads (bounded by kMaxConfigBytes) and parses a file.
  static absl::StatusOr<Config> Load(const std::string& path);
};

}  // namespace signet::daemon

#endif  // SIGNET_DAEMON_CONFIG_H_
