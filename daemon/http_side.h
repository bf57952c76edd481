// The HTTPS side port (cpp-httplib): health for load balancers and humans, version, Prometheus
// metrics, and the read-only x5u publication directory. No client certificate is required here:
// nothing on this port signs or reveals a secret.
#ifndef SIGNET_DAEMON_HTTP_SIDE_H_
#define SIGNET_DAEMON_HTTP_SIDE_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "daemon/config.h"

namespace httplib {
class SSLServer;
}

namespace signet::daemon {

struct HeartbeatReport {
  bool ok = false;   // false → HTTP 503
  std::string json;  // the body, an object
};

struct SidePortHandlers {
  std::function<HeartbeatReport()> heartbeat;  // /__heartbeat__: HSM reachable, each signer's key present
  std::function<std::string()> metrics;        // /metrics: Prometheus text exposition 0.0.4
  std::string version_json;                    // /__version__
  std::optional<std::string> x5u_dir;          // /x5u/<file>: regular files directly in this directory
};

class HttpSidePort {
 public:
  // Binds `listen` ("host:port", port 0 picks one) with the server certificate and key, and serves
  // on a thread of its own until Stop().
  static absl::StatusOr<std::unique_ptr<HttpSidePort>> Start(const std::string& listen, const TlsConfig& tls,
                                                             SidePortHandlers handlers);
  ~HttpSidePort();
  void Stop();
  int port() const { return port_; }

 private:
  HttpSidePort() = default;
  std::unique_ptr<httplib::SSLServer> server_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace signet::daemon

#endif  // SIGNET_DAEMON_HTTP_SIDE_H_
